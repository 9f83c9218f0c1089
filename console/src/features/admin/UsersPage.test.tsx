import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import {
  json,
  makeRouter,
  passwordFormMethods,
  problem,
  recordSubmits,
  renderWithQuery,
  sampleMe,
  signedInAs,
  stubFetch,
} from '@/test/utils';
import UsersPage from './UsersPage';

const router = makeRouter({ pathname: '/admin/users', asPath: '/admin/users/' });
vi.mock('next/router', () => ({ useRouter: () => router }));

const bob = sampleMe([], { id: '00000000-0000-4000-8000-000000000002', email: 'bob@example.com', display_name: 'Bob', roles: ['member'] });
const page = (items = [bob], total = items.length, offset = 0) => json({ items, total, limit: 20, offset });
const roles = [
  { id: 'r1', name: 'admin', description: 'Everything', builtin: true, permissions: ['users:read'] },
  { id: 'r2', name: 'member', description: 'Creates projects', builtin: false, permissions: ['projects:create'] },
];

describe('UsersPage', () => {
  it('lists users without any manage action for a users:read holder', async () => {
    signedInAs(['users:read']);
    stubFetch({ 'GET /api/v1/admin/users': () => page() });
    renderWithQuery(<UsersPage />);
    expect(await screen.findByRole('cell', { name: 'bob@example.com' })).toBeTruthy();
    expect(screen.getByRole('heading', { level: 1, name: 'Users' })).toBeTruthy();
    expect(screen.queryByRole('button', { name: /manage/i })).toBeNull();
    expect(screen.queryByRole('heading', { name: 'New user' })).toBeNull();
    expect(screen.queryByRole('columnheader', { name: 'Actions' })).toBeNull();
  });

  it('searches by email and pages', async () => {
    signedInAs(['users:read']);
    const calls = stubFetch({
      'GET /api/v1/admin/users': (c) => (c.path.includes('offset=20') ? page([bob], 25, 20) : page([bob], 25, 0)),
    });
    renderWithQuery(<UsersPage />);
    await screen.findByText('Showing 1–20 of 25');
    await userEvent.type(screen.getByLabelText('Email contains'), 'BOB');
    await userEvent.click(screen.getByRole('button', { name: 'Search' }));
    await userEvent.click(screen.getByRole('button', { name: 'Next' }));
    await screen.findByText('Showing 21–25 of 25');
    const paths = calls.map((c) => c.path);
    expect(paths).toContain('/api/v1/admin/users?limit=20&offset=0');
    expect(paths).toContain('/api/v1/admin/users?email=BOB&limit=20&offset=0');
    expect(paths).toContain('/api/v1/admin/users?email=BOB&limit=20&offset=20');
  });

  it('keeps the caption of the rows it shows while a search loads, and marks the table busy', async () => {
    signedInAs(['users:read']);
    const carol = { ...bob, id: '00000000-0000-4000-8000-000000000003', email: 'carol@example.com', display_name: 'Carol' };
    let answer: () => void = () => {};
    const searched = new Promise<void>((resolve) => {
      answer = resolve;
    });
    stubFetch({
      'GET /api/v1/admin/users': async (c) => {
        if (!c.path.includes('email=carol')) return page([bob, carol]);
        await searched;
        return page([carol]);
      },
    });
    renderWithQuery(<UsersPage />);
    await screen.findByRole('cell', { name: 'bob@example.com' });
    await userEvent.type(screen.getByLabelText('Email contains'), 'carol');
    await userEvent.click(screen.getByRole('button', { name: 'Search' }));

    // The unfiltered rows are still shown: under their own caption, with the table busy.
    expect(screen.queryByRole('table', { name: /contains/ })).toBeNull();
    const loading = screen.getByRole('table', { busy: true });
    expect(loading.querySelector('caption')?.textContent).toBe('Users');
    expect(within(loading).getByRole('cell', { name: 'bob@example.com' })).toBeTruthy();

    answer();
    const results = await screen.findByRole('table', { name: 'Users whose email contains “carol”' });
    expect(results.getAttribute('aria-busy')).toBeNull();
    expect(within(results).queryByRole('cell', { name: 'bob@example.com' })).toBeNull();
    expect(within(results).getByRole('cell', { name: 'carol@example.com' })).toBeTruthy();
  });

  it('says the permission is missing when the API refuses', async () => {
    signedInAs([]);
    stubFetch({ 'GET /api/v1/admin/users': () => problem(403, 'Forbidden', 'missing permission users:read') });
    renderWithQuery(<UsersPage />);
    expect((await screen.findByRole('alert')).textContent).toBe(
      'You do not have permission to list users. Missing permission users:read.',
    );
  });

  it('disables, resets the password (posting, and only by script) and sets roles with users:manage', async () => {
    signedInAs(['users:read', 'users:manage']);
    const calls = stubFetch({
      'GET /api/v1/admin/users': () => page(),
      'GET /api/v1/admin/roles': () => json(roles),
      [`PATCH /api/v1/admin/users/${bob.id}`]: () => json({ ...bob, is_disabled: true }),
      [`POST /api/v1/admin/users/${bob.id}/password`]: () => new Response(null, { status: 204 }),
      [`PUT /api/v1/admin/users/${bob.id}/roles`]: () => json({ ...bob, is_disabled: true, roles: ['admin', 'member'] }),
    });
    renderWithQuery(<UsersPage />);
    await userEvent.click(await screen.findByRole('button', { name: 'Manage bob@example.com' }));
    const panel = screen.getByRole('region', { name: 'Manage bob@example.com' });
    expect(document.activeElement).toBe(within(panel).getByRole('heading', { name: 'Manage bob@example.com' }));

    await userEvent.click(within(panel).getByRole('button', { name: 'Disable account' }));
    await userEvent.click(within(panel).getByRole('button', { name: 'Yes, disable' }));
    await within(panel).findByRole('button', { name: 'Enable account' });
    expect(calls.find((c) => c.method === 'PATCH')?.body).toBe('{"is_disabled":true}');

    expect(passwordFormMethods()).toEqual(['post', 'post']); // new user, reset
    const submits = recordSubmits();
    await userEvent.type(within(panel).getByLabelText('New password'), 'correct horse battery');
    await userEvent.click(within(panel).getByRole('button', { name: 'Set password' }));
    await within(panel).findByText(/signed out everywhere/);
    expect(submits.map((e) => e.defaultPrevented)).toEqual([true]);
    expect(calls.find((c) => c.path.endsWith('/password'))?.body).toBe('{"password":"correct horse battery"}');

    await userEvent.click(await within(panel).findByRole('checkbox', { name: /admin/ }));
    await userEvent.click(within(panel).getByRole('button', { name: 'Save roles' }));
    await waitFor(() => expect(calls.find((c) => c.method === 'PUT')?.body).toBe('{"roles":["admin","member"]}'));
  });

  it('does not offer to disable one’s own account', async () => {
    signedInAs(['users:read', 'users:manage']);
    const me = sampleMe(['users:read', 'users:manage']);
    stubFetch({ 'GET /api/v1/admin/users': () => page([me]), 'GET /api/v1/admin/roles': () => json(roles) });
    renderWithQuery(<UsersPage />);
    await userEvent.click(await screen.findByRole('button', { name: `Manage ${me.email}` }));
    expect(screen.queryByRole('button', { name: 'Disable account' })).toBeNull();
  });

  it('creates a user (posting, and only by script), showing field errors next to the fields', async () => {
    signedInAs(['users:read', 'users:manage']);
    let attempt = 0;
    const calls = stubFetch({
      'GET /api/v1/admin/users': () => page(),
      'GET /api/v1/admin/roles': () => json(roles),
      'POST /api/v1/admin/users': () =>
        ++attempt === 1
          ? problem(422, 'Unprocessable Entity', undefined, {
              errors: [{ loc: ['body', 'password'], msg: 'String should have at least 12 characters' }],
            })
          : json({ ...bob, email: 'new@example.com' }, 201),
    });
    renderWithQuery(<UsersPage />);
    const form = within(await screen.findByRole('region', { name: 'New user' }));
    expect(passwordFormMethods()).toEqual(['post']);
    const submits = recordSubmits();
    await userEvent.type(form.getByLabelText('Email'), 'new@example.com');
    await userEvent.type(form.getByLabelText('Password', { exact: false }), 'short');
    await userEvent.click(form.getByRole('button', { name: 'Create user' }));
    expect((await form.findByRole('alert')).textContent).toBe('String should have at least 12 characters');
    await userEvent.type(form.getByLabelText('Password', { exact: false }), ' but longer now');
    await userEvent.click(form.getByRole('checkbox', { name: /member/ }));
    await userEvent.click(form.getByRole('button', { name: 'Create user' }));
    await form.findByText('new@example.com can now sign in with the password you chose.');
    expect(submits.map((e) => e.defaultPrevented)).toEqual([true, true]);
    expect(JSON.parse(calls.filter((c) => c.method === 'POST').at(-1)!.body)).toEqual({
      email: 'new@example.com',
      display_name: '',
      password: 'short but longer now',
      roles: ['member'],
    });
  });
});
