import { render, screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { makeRouter, setSession, signedInAs } from '@/test/utils';
import { Layout } from './Layout';

const router = makeRouter({ pathname: '/projects', asPath: '/projects/' });
vi.mock('next/router', () => ({ useRouter: () => router }));

/**
 * Layout.module.css's rules that apply on a phone (390 px: the `max-width: 40rem` block and the
 * unconditional rules), in source order. A sheet not adopted by the document: it styles nothing
 * here. Class names are not hashed in tests (vitest.config.mts).
 */
function phoneRules(): CSSStyleRule[] {
  const sheet = new CSSStyleSheet();
  sheet.replaceSync(readFileSync(path.join(import.meta.dirname, 'Layout.module.css'), 'utf8'));
  const rules: CSSStyleRule[] = [];
  for (const rule of Array.from(sheet.cssRules)) {
    if ('selectorText' in rule) rules.push(rule as CSSStyleRule);
    else if ('media' in rule && /max-width:\s*40rem/.test((rule as CSSMediaRule).media.mediaText)) {
      rules.push(...(Array.from((rule as CSSMediaRule).cssRules) as CSSStyleRule[]));
    }
  }
  return rules;
}

/** Whether Layout.module.css hides `el` (or an ancestor) on a phone: the last `display` declared wins. */
function hiddenOnPhone(el: Element | null): boolean {
  const rules = phoneRules();
  for (let node = el; node; node = node.parentElement) {
    const display = rules.filter((r) => r.style.display && node!.matches(r.selectorText)).at(-1)?.style.display;
    if (display === 'none') return true;
  }
  return false;
}

function navNames(): string[] {
  const nav = screen.queryByRole('navigation', { name: 'Main' });
  return nav ? within(nav).getAllByRole('link').map((a) => a.textContent ?? '') : [];
}

describe('Layout', () => {
  it('hides admin links from a user without the permissions', () => {
    signedInAs([]);
    render(<Layout>content</Layout>);
    expect(navNames()).toEqual(['Projects', 'Status']);
    expect(screen.queryByRole('link', { name: 'Users' })).toBeNull();
  });

  it('shows each admin link to holders of its permission', () => {
    signedInAs(['users:read', 'audit:read']);
    render(<Layout>content</Layout>);
    // Roles are listed with users:read (the API's rule); changing them needs roles:manage.
    expect(navNames()).toEqual(['Projects', 'Users', 'Roles', 'Audit', 'Status']);
    expect(screen.getByRole('link', { name: 'Users' }).getAttribute('href')).toMatch(/^\/admin\/users\/?$/);
  });

  it('shows no nav and no account menu when signed out', () => {
    setSession({ status: 'signed-out' });
    render(<Layout>content</Layout>);
    expect(navNames()).toEqual([]);
    expect(screen.queryByRole('button', { name: /account menu/i })).toBeNull();
  });

  it('has a skip link to <main>, marks the current page, and folds the nav behind a Menu button', async () => {
    signedInAs([]);
    render(<Layout>content</Layout>);
    expect(screen.getByRole('link', { name: 'Skip to content' }).getAttribute('href')).toBe('#main');
    expect(screen.getByRole('main').id).toBe('main');
    expect(screen.getByRole('link', { name: 'Projects' }).getAttribute('aria-current')).toBe('page');
    const menu = screen.getByRole('button', { name: 'Menu' });
    expect(menu.getAttribute('aria-expanded')).toBe('false');
    await userEvent.click(menu);
    expect(menu.getAttribute('aria-expanded')).toBe('true');
  });

  it('account menu offers the account page and signing out', async () => {
    signedInAs([]);
    render(<Layout>content</Layout>);
    const button = screen.getByRole('button', { name: /account menu/i });
    await userEvent.click(button);
    expect(button.getAttribute('aria-expanded')).toBe('true');
    expect(screen.getByRole('link', { name: 'Account' }).getAttribute('href')).toMatch(/^\/account\/?$/);
    expect(screen.getByRole('button', { name: 'Sign out' })).toBeTruthy();
  });

  it.each([
    ['while the session is checked', () => setSession({ status: 'unknown' })],
    ['signed out', () => setSession({ status: 'signed-out' })],
    ['signed in without admin permissions', () => signedInAs([])],
    ['signed in as an admin', () => signedInAs(['users:read', 'roles:manage', 'audit:read'])],
  ])('keeps the Theme select reachable at phone width %s', async (_state, arrange) => {
    arrange();
    render(<Layout>content</Layout>);
    const select = screen.getByRole('combobox', { name: 'Theme' });
    if (!hiddenOnPhone(select)) return;
    const menu = screen.queryByRole('button', { name: 'Menu' });
    expect(menu, 'the Theme select is folded away at phone width with no Menu button to unfold it').not.toBeNull();
    expect(hiddenOnPhone(menu)).toBe(false);
    await userEvent.click(menu!);
    expect(hiddenOnPhone(select)).toBe(false);
  });
});
