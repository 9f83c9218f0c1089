import { render } from '@testing-library/react';
import { act } from 'react';
import { applyTheme, readStoredTheme, THEME_KEY, useApplyTheme, useTheme } from './theme';

function Probe() {
  useApplyTheme();
  return null;
}

beforeEach(() => {
  useTheme.setState({ preference: 'system' });
  delete document.documentElement.dataset.theme;
});

describe('theme store', () => {
  it('keeps the preference in localStorage', () => {
    useTheme.getState().setPreference('dark');
    expect(localStorage.getItem(THEME_KEY)).toBe('dark');
    expect(useTheme.getState().preference).toBe('dark');
  });

  it('reads a stored preference and falls back to system for anything else', () => {
    expect(readStoredTheme()).toBe('system');
    localStorage.setItem(THEME_KEY, 'light');
    expect(readStoredTheme()).toBe('light');
    localStorage.setItem(THEME_KEY, 'purple');
    expect(readStoredTheme()).toBe('system');
  });

  it('applyTheme puts the preference on <html data-theme>', () => {
    applyTheme('dark');
    expect(document.documentElement.getAttribute('data-theme')).toBe('dark');
  });

  it('useApplyTheme loads the stored choice at start and follows changes', () => {
    localStorage.setItem(THEME_KEY, 'light');
    render(<Probe />);
    expect(document.documentElement.dataset.theme).toBe('light');
    act(() => useTheme.getState().setPreference('dark'));
    expect(document.documentElement.dataset.theme).toBe('dark');
  });
});
