import { screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { json, makeRouter, renderWithQuery, signedInAs, stubFetch } from '@/test/utils';
import ProjectsPage from './ProjectsPage';

const router = makeRouter({ pathname: '/projects', asPath: '/projects/' });
vi.mock('next/router', () => ({ useRouter: () => router }));

const apollo = {
  id: '10000000-0000-4000-8000-000000000001',
  name: 'Apollo',
  description: '',
  owner_id: '00000000-0000-4000-8000-000000000001',
  created_at: '2026-01-01T00:00:00Z',
  updated_at: '2026-01-01T00:00:00Z',
};

describe('ProjectsPage', () => {
  it('lists projects with links to each, and no create form without projects:create', async () => {
    signedInAs([]);
    stubFetch({ 'GET /api/v1/projects': () => json({ items: [apollo], total: 1, limit: 20, offset: 0 }) });
    renderWithQuery(<ProjectsPage />);
    const link = await screen.findByRole('link', { name: 'Apollo' });
    // next/link drops the trailing slash in tests; the build (trailingSlash: true) keeps it.
    expect(link.getAttribute('href')).toMatch(new RegExp(`^/projects/view/?\\?id=${apollo.id}$`));
    expect(screen.queryByRole('heading', { name: 'New project' })).toBeNull();
  });

  it('creates a project and opens it', async () => {
    signedInAs(['projects:create']);
    const calls = stubFetch({
      'GET /api/v1/projects': () => json({ items: [], total: 0, limit: 20, offset: 0 }),
      'POST /api/v1/projects': () => json(apollo, 201),
    });
    renderWithQuery(<ProjectsPage />);
    expect(await screen.findByText('No projects yet')).toBeTruthy();
    await userEvent.type(screen.getByLabelText('Name'), '  Apollo ');
    await userEvent.click(screen.getByRole('button', { name: 'Create project' }));
    await waitFor(() => expect(router.push).toHaveBeenCalledWith(`/projects/view/?id=${apollo.id}`));
    expect(calls.find((c) => c.method === 'POST')?.body).toBe('{"name":"Apollo","description":""}');
  });
});
