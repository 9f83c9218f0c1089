import Link from 'next/link';
import { useRouter } from 'next/router';
import { useEffect, useState, type ReactNode } from 'react';
import { selectIsSignedIn, useSession, type SessionData } from '@/store/session';
import { THEMES, useTheme, type ThemePreference } from '@/store/theme';
import styles from './Layout.module.css';

export interface NavItem {
  href: string;
  label: string;
  /** Shown only to holders of this permission (cosmetic: the API decides). */
  permission?: string;
}

export const NAV: readonly NavItem[] = [
  { href: '/projects/', label: 'Projects' },
  { href: '/admin/users/', label: 'Users', permission: 'users:read' },
  { href: '/admin/roles/', label: 'Roles', permission: 'users:read' },
  { href: '/admin/audit/', label: 'Audit', permission: 'audit:read' },
  { href: '/status/', label: 'Status' },
];

/** The nav items this session may see. */
export function visibleNav(s: SessionData): NavItem[] {
  if (s.status !== 'signed-in') return [];
  const perms = s.me?.permissions ?? [];
  return NAV.filter((n) => !n.permission || perms.includes(n.permission));
}

const THEME_LABEL: Record<ThemePreference, string> = { system: 'System', light: 'Light', dark: 'Dark' };

function ThemeSelect() {
  const preference = useTheme((s) => s.preference);
  const setPreference = useTheme((s) => s.setPreference);
  return (
    <label className={styles.theme}>
      <span>Theme</span>
      <select value={preference} onChange={(e) => setPreference(e.target.value as ThemePreference)}>
        {THEMES.map((t) => (
          <option key={t} value={t}>
            {THEME_LABEL[t]}
          </option>
        ))}
      </select>
    </label>
  );
}

function AccountMenu({ onNavigate }: { onNavigate: () => void }) {
  const me = useSession((s) => s.me);
  const signOut = useSession((s) => s.signOut);
  const router = useRouter();
  const [open, setOpen] = useState(false);
  useEffect(() => {
    if (!open) return;
    const close = (e: KeyboardEvent) => {
      if (e.key === 'Escape') setOpen(false);
    };
    document.addEventListener('keydown', close);
    return () => document.removeEventListener('keydown', close);
  }, [open]);
  return (
    <div className={styles.account}>
      <button
        type="button"
        className="btn btn-quiet"
        aria-expanded={open}
        aria-controls="account-menu"
        onClick={() => setOpen((o) => !o)}
      >
        <span className="visually-hidden">Account menu for </span>
        {me?.display_name || me?.email || 'Account'}
      </button>
      <ul id="account-menu" className={open ? styles.menuOpen : styles.menu}>
        <li>
          <Link
            href="/account/"
            onClick={() => {
              setOpen(false);
              onNavigate();
            }}
          >
            Account
          </Link>
        </li>
        <li>
          <button
            type="button"
            className="btn btn-quiet"
            onClick={async () => {
              setOpen(false);
              await signOut();
              await router.push('/sign-in/');
            }}
          >
            Sign out
          </button>
        </li>
      </ul>
    </div>
  );
}

/** The page frame: skip link, header (product, permitted nav, theme, account), and <main>. */
export function Layout({ children }: { children: ReactNode }) {
  const session = useSession();
  const signedIn = selectIsSignedIn(session);
  const items = visibleNav(session);
  // Only nav links fold behind the Menu button: without them the tools (theme) stay in the bar.
  const folds = items.length > 0;
  const router = useRouter();
  const [menuOpen, setMenuOpen] = useState(false);
  useEffect(() => {
    const close = () => setMenuOpen(false);
    router.events?.on('routeChangeStart', close);
    return () => router.events?.off('routeChangeStart', close);
  }, [router]);

  return (
    <>
      <a href="#main" className="skip-link">
        Skip to content
      </a>
      <header className={styles.header}>
        <div className={styles.bar}>
          <Link href={signedIn ? '/projects/' : '/'} className={styles.brand}>
            Hearth
          </Link>
          {folds && (
            <button
              type="button"
              className={`btn btn-quiet ${styles.menuButton}`}
              aria-expanded={menuOpen}
              aria-controls="site-nav"
              onClick={() => setMenuOpen((o) => !o)}
            >
              Menu
            </button>
          )}
          <div id="site-nav" className={!folds ? styles.unfolded : menuOpen ? styles.navOpen : styles.nav}>
            {folds && (
              <nav aria-label="Main">
                <ul className={styles.links}>
                  {items.map((n) => {
                    const current = router.pathname === n.href.replace(/\/$/, '') || router.pathname.startsWith(n.href);
                    return (
                      <li key={n.href}>
                        <Link href={n.href} aria-current={current ? 'page' : undefined}>
                          {n.label}
                        </Link>
                      </li>
                    );
                  })}
                </ul>
              </nav>
            )}
            <div className={styles.tools}>
              <ThemeSelect />
              {signedIn && <AccountMenu onNavigate={() => setMenuOpen(false)} />}
            </div>
          </div>
        </div>
      </header>
      <main id="main" tabIndex={-1} className={styles.main}>
        {children}
      </main>
    </>
  );
}
