/**
 * Colour theme preference, kept in localStorage (a preference, never a secret) and applied as
 * data-theme on <html> by useApplyTheme (an effect: the CSP forbids an inline script).
 */
import { useEffect } from 'react';
import { create } from 'zustand';

export type ThemePreference = 'light' | 'dark' | 'system';
export const THEME_KEY = 'hearth.theme';
export const THEMES: readonly ThemePreference[] = ['system', 'light', 'dark'];

function isTheme(v: unknown): v is ThemePreference {
  return v === 'light' || v === 'dark' || v === 'system';
}

/** The stored preference, 'system' when none or unreadable (private mode, tests). */
export function readStoredTheme(): ThemePreference {
  try {
    const v = globalThis.localStorage?.getItem(THEME_KEY);
    return isTheme(v) ? v : 'system';
  } catch {
    return 'system';
  }
}

export interface ThemeState {
  preference: ThemePreference;
  setPreference(p: ThemePreference): void;
  /** Reads localStorage; called once in the browser (not at build time, where there is none). */
  load(): void;
}

export const useTheme = create<ThemeState>()((set) => ({
  preference: 'system',
  setPreference(p) {
    try {
      globalThis.localStorage?.setItem(THEME_KEY, p);
    } catch {
      // Storage refused: the choice still holds for this page.
    }
    set({ preference: p });
  },
  load() {
    set({ preference: readStoredTheme() });
  },
}));

/** Puts the preference on <html data-theme>; 'system' lets the CSS follow prefers-color-scheme. */
export function applyTheme(p: ThemePreference, root: HTMLElement = document.documentElement): void {
  root.dataset.theme = p;
}

export function useApplyTheme(): void {
  const preference = useTheme((s) => s.preference);
  useEffect(() => {
    useTheme.getState().load();
  }, []);
  useEffect(() => {
    applyTheme(preference);
  }, [preference]);
}
