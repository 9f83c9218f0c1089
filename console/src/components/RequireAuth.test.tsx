import { render, screen } from '@testing-library/react';
import { makeRouter, setSession, signedInAs } from '@/test/utils';
import { RequireAuth } from './RequireAuth';

const router = makeRouter({ pathname: '/admin/users', asPath: '/admin/users/?q=ada' });
vi.mock('next/router', () => ({ useRouter: () => router }));

describe('RequireAuth', () => {
  it('shows progress while the session is unknown', () => {
    setSession({ status: 'unknown' });
    render(<RequireAuth>secret</RequireAuth>);
    expect(screen.getByRole('progressbar', { name: 'Checking your session…' })).toBeTruthy();
    expect(screen.queryByText('secret')).toBeNull();
    expect(router.replace).not.toHaveBeenCalled();
  });

  it('sends a signed-out visitor to sign in, to come back afterwards', () => {
    setSession({ status: 'signed-out' });
    render(<RequireAuth>secret</RequireAuth>);
    expect(screen.queryByText('secret')).toBeNull();
    expect(router.replace).toHaveBeenCalledWith({ pathname: '/sign-in/', query: { next: '/admin/users/?q=ada' } });
  });

  it('renders the page when signed in', () => {
    signedInAs([]);
    render(<RequireAuth>secret</RequireAuth>);
    expect(screen.getByText('secret')).toBeTruthy();
  });
});
