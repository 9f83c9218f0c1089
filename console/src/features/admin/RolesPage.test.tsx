import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { json, makeRouter, problem, renderWithQuery, signedInAs, stubFetch } from '@/test/utils';
import RolesPage, { permissionCatalogue } from './RolesPage';

const router = makeRouter({ pathname: '/admin/roles', asPath: '/admin/roles/' });
vi.mock('next/router', () => ({ useRouter: () => router }));

const roles = [
  { id: 'r1', name: 'admin', description: 'Everything', builtin: true, permissions: ['audit:read', 'users:manage', 'users:read'] },
  { id: 'r2', name: 'auditor', description: 'Reads the log', builtin: false, permissions: ['audit:read'] },
];

describe('RolesPage', () => {
  it('takes the permission catalogue from the roles', () => {
    expect(permissionCatalogue(roles)).toEqual(['audit:read', 'users:manage', 'users:read']);
  });

  it('lists roles read-only without roles:manage', async () => {
    signedInAs(['users:read']);
    stubFetch({ 'GET /api/v1/admin/roles': () => json(roles) });
    renderWithQuery(<RolesPage />);
    const list = await screen.findByRole('list', { name: 'Permissions of auditor' });
    expect(within(list).getByText('audit:read')).toBeTruthy();
    expect(screen.queryByRole('button', { name: /Edit|Delete/ })).toBeNull();
    expect(screen.queryByRole('heading', { name: 'New role' })).toBeNull();
  });

  it('creates, edits and deletes custom roles with roles:manage; built-ins stay as they are', async () => {
    signedInAs(['users:read', 'roles:manage']);
    const calls = stubFetch({
      'GET /api/v1/admin/roles': () => json(roles),
      'POST /api/v1/admin/roles': () => json({ ...roles[1], name: 'support' }, 201),
      'PATCH /api/v1/admin/roles/auditor': () => json(roles[1]),
      'DELETE /api/v1/admin/roles/auditor': () => new Response(null, { status: 204 }),
    });
    renderWithQuery(<RolesPage />);
    await screen.findByText('Built in: cannot change');
    expect(screen.queryByRole('button', { name: 'Edit admin' })).toBeNull();

    const form = within(screen.getByRole('form', { name: 'New role' }));
    await userEvent.type(form.getByLabelText('Name', { exact: false }), 'support');
    await userEvent.click(form.getByRole('checkbox', { name: 'users:read' }));
    await userEvent.click(form.getByRole('checkbox', { name: 'audit:read' }));
    await userEvent.click(form.getByRole('button', { name: 'Create role' }));
    await waitFor(() => expect(calls.some((c) => c.method === 'POST')).toBe(true));
    expect(JSON.parse(calls.find((c) => c.method === 'POST')!.body)).toEqual({
      name: 'support',
      description: '',
      permissions: ['audit:read', 'users:read'],
    });

    await userEvent.click(screen.getByRole('button', { name: 'Edit auditor' }));
    const edit = within(screen.getByRole('form', { name: 'Change the role auditor' }));
    await userEvent.click(edit.getByRole('checkbox', { name: 'users:read' }));
    await userEvent.click(edit.getByRole('button', { name: 'Save role' }));
    await waitFor(() => expect(calls.some((c) => c.method === 'PATCH')).toBe(true));
    expect(JSON.parse(calls.find((c) => c.method === 'PATCH')!.body)).toEqual({
      description: 'Reads the log',
      permissions: ['audit:read', 'users:read'],
    });

    await userEvent.click(await screen.findByRole('button', { name: 'Delete auditor' }));
    await userEvent.click(screen.getByRole('button', { name: 'Yes, delete' }));
    await waitFor(() => expect(calls.some((c) => c.method === 'DELETE')).toBe(true));
  });

  it('explains a refusal next to the form', async () => {
    signedInAs(['users:read', 'roles:manage']);
    stubFetch({
      'GET /api/v1/admin/roles': () => json(roles),
      'POST /api/v1/admin/roles': () => problem(403, 'Forbidden', 'you cannot grant users:manage'),
    });
    renderWithQuery(<RolesPage />);
    const form = within(await screen.findByRole('form', { name: 'New role' }));
    await userEvent.type(form.getByLabelText('Name', { exact: false }), 'boss');
    await userEvent.click(form.getByRole('button', { name: 'Create role' }));
    expect((await form.findByRole('alert')).textContent).toBe(
      'You do not have permission to create roles. You cannot grant users:manage.',
    );
  });
});
