import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import Account from '@/pages/account';
import { useSession } from '@/store/session';
import { json, makeRouter, problem, renderWithQuery, signedInAs, stubFetch } from '@/test/utils';

let router = makeRouter();
vi.mock('next/router', () => ({ useRouter: () => router }));

const sessions = [
  {
    id: '11111111-1111-4111-8111-111111111111',
    started_at: '2026-03-01T10:00:00Z',
    last_used_at: '2026-03-02T10:00:00Z',
    expires_at: '2026-04-01T10:00:00Z',
    current: true,
  },
  {
    id: '22222222-2222-4222-8222-222222222222',
    started_at: '2026-02-01T10:00:00Z',
    last_used_at: '2026-02-02T10:00:00Z',
    expires_at: '2026-03-15T10:00:00Z',
    current: false,
  },
];
const noContent = () => new Response(null, { status: 204 });

beforeEach(() => {
  router = makeRouter({ pathname: '/account', asPath: '/account/' });
  signedInAs([]);
});

describe('account page', () => {
  it('shows the profile and the sessions with the current one marked', async () => {
    stubFetch({ 'GET /api/v1/auth/sessions': () => json(sessions) });
    renderWithQuery(<Account />);
    expect(screen.getByRole('heading', { level: 1, name: 'Your account' })).toBeTruthy();
    expect(screen.getByText('ada@example.com')).toBeTruthy();
    const table = await screen.findByRole('table', { name: 'Your active sessions' });
    const rows = within(table).getAllByRole('row').slice(1);
    expect(rows).toHaveLength(2);
    expect(within(rows[0]!).getByText('This session')).toBeTruthy();
    expect(within(rows[1]!).queryByText('This session')).toBeNull();
    expect(within(table).getAllByRole('columnheader').map((h) => h.getAttribute('scope'))).toEqual(Array(5).fill('col'));
  });

  it('ends another session and reloads the list', async () => {
    let list = sessions;
    const calls = stubFetch({
      'GET /api/v1/auth/sessions': () => json(list),
      [`DELETE /api/v1/auth/sessions/${sessions[1]!.id}`]: () => {
        list = [sessions[0]!];
        return noContent();
      },
    });
    renderWithQuery(<Account />);
    const end = await screen.findByRole('button', { name: /End the session started/ });
    await userEvent.click(end);
    await waitFor(() => expect(screen.getAllByRole('row')).toHaveLength(2));
    expect(calls.filter((c) => c.method === 'DELETE')).toHaveLength(1);
    expect(useSession.getState().status).toBe('signed-in');
  });

  it('ending the current session signs out here', async () => {
    stubFetch({
      'GET /api/v1/auth/sessions': () => json(sessions),
      [`DELETE /api/v1/auth/sessions/${sessions[0]!.id}`]: noContent,
    });
    renderWithQuery(<Account />);
    await userEvent.click(await screen.findByRole('button', { name: /End this session/ }));
    await waitFor(() => expect(router.push).toHaveBeenCalledWith('/sign-in/'));
    expect(useSession.getState().status).toBe('signed-out');
  });

  it('shows a refusal to end a session next to the list', async () => {
    stubFetch({
      'GET /api/v1/auth/sessions': () => json(sessions),
      [`DELETE /api/v1/auth/sessions/${sessions[1]!.id}`]: () => problem(404, 'Not Found', 'you have no active session'),
    });
    renderWithQuery(<Account />);
    await userEvent.click(await screen.findByRole('button', { name: /End the session started/ }));
    const alert = await screen.findByRole('alert');
    expect(alert.textContent).toBe('Not Found. You have no active session.');
    expect(alert.closest('section')?.querySelector('h2')?.textContent).toBe('Sessions');
  });

  it('signs out everywhere after a confirmation', async () => {
    const calls = stubFetch({
      'GET /api/v1/auth/sessions': () => json(sessions),
      'POST /api/v1/auth/logout-all': noContent,
    });
    renderWithQuery(<Account />);
    await userEvent.click(screen.getByRole('button', { name: 'Sign out everywhere' }));
    expect(calls.some((c) => c.path === '/api/v1/auth/logout-all')).toBe(false);
    await userEvent.click(screen.getByRole('button', { name: 'Yes, sign out everywhere' }));
    await waitFor(() => expect(router.push).toHaveBeenCalledWith('/sign-in/'));
    expect(calls.filter((c) => c.path === '/api/v1/auth/logout-all')).toHaveLength(1);
    expect(useSession.getState().status).toBe('signed-out');
  });

  it('signs out this session', async () => {
    const calls = stubFetch({ 'GET /api/v1/auth/sessions': () => json(sessions), 'POST /api/v1/auth/logout': noContent });
    renderWithQuery(<Account />);
    await userEvent.click(screen.getByRole('button', { name: 'Sign out' }));
    await waitFor(() => expect(router.push).toHaveBeenCalledWith('/sign-in/'));
    expect(calls.some((c) => c.path === '/api/v1/auth/logout')).toBe(true);
  });
});
