import { act, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { json, makeRouter, problem, renderWithQuery, sampleMe, signedInAs, stubFetch, type Call } from '@/test/utils';
import { abilitiesOf } from './access';
import { latest, pollInterval } from './FilesSection';
import { goTo } from './navigate';
import ProjectPage from './ProjectPage';

const PID = '10000000-0000-4000-8000-000000000001';
const ME = sampleMe().id;
const OTHER = '00000000-0000-4000-8000-000000000009';

const router = makeRouter({ pathname: '/projects/view', asPath: `/projects/view/?id=${PID}`, query: { id: PID } });
vi.mock('next/router', () => ({ useRouter: () => router }));
vi.mock('./navigate', () => ({ goTo: vi.fn() }));

const project = {
  id: PID,
  name: 'Apollo',
  description: 'Moon shots',
  owner_id: ME,
  created_at: '2026-01-01T00:00:00Z',
  updated_at: '2026-01-01T00:00:00Z',
};

function file(id: string, over: Record<string, unknown> = {}) {
  return {
    id,
    project_id: PID,
    name: `${id}.txt`,
    content_type: 'text/plain',
    size: 3,
    sha256: 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
    status: 'ready',
    detected_type: 'text/plain',
    reason: null,
    created_at: '2026-01-01T00:00:00Z',
    ...over,
  };
}

const filesPage = (items: unknown[]) => json({ items, total: items.length, limit: 50, offset: 0 });

/** XMLHttpRequest as the uploader uses it; the test answers it. */
class FakeXhr {
  static last: FakeXhr | null = null;
  method = '';
  url = '';
  headers: Record<string, string> = {};
  status = 0;
  responseText = '';
  upload: { onprogress: ((e: ProgressEvent) => void) | null } = { onprogress: null };
  onload: (() => void) | null = null;
  onerror: (() => void) | null = null;
  onabort: (() => void) | null = null;
  constructor() {
    FakeXhr.last = this;
  }
  open(method: string, url: string) {
    this.method = method;
    this.url = url;
  }
  setRequestHeader(name: string, value: string) {
    this.headers[name] = value;
  }
  send() {}
  abort() {
    this.onabort?.();
  }
}

function routes(role: string, extra: Record<string, (c: Call) => Response> = {}) {
  return {
    [`GET /api/v1/projects/${PID}`]: () => json(project),
    [`GET /api/v1/projects/${PID}/members`]: () =>
      json([
        { user_id: ME, role },
        { user_id: OTHER, role: 'viewer' },
      ]),
    [`GET /api/v1/projects/${PID}/files`]: () => filesPage([file('a')]),
    ...extra,
  };
}

describe('abilities and polling', () => {
  it('follows the API’s rules', () => {
    expect(abilitiesOf('viewer', [])).toEqual({ edit: false, own: false });
    expect(abilitiesOf('editor', [])).toEqual({ edit: true, own: false });
    expect(abilitiesOf('owner', [])).toEqual({ edit: true, own: true });
    expect(abilitiesOf(null, ['projects:read_all'])).toEqual({ edit: false, own: false });
    expect(abilitiesOf(null, ['projects:manage_all'])).toEqual({ edit: true, own: true });
  });

  it('polls only while the worker checks, slowing down', () => {
    expect(pollInterval(undefined, 0)).toBe(1000);
    expect(pollInterval('uploaded', 4)).toBe(2000);
    expect(pollInterval('uploaded', 1000)).toBe(5000);
    expect(pollInterval('ready', 1)).toBe(false);
    expect(pollInterval('rejected', 1)).toBe(false);
  });

  it('keeps the furthest-along copy of a file', () => {
    const listed = file('x', { status: 'uploaded' });
    expect(latest(listed, file('x', { status: 'ready' })).status).toBe('ready');
    expect(latest(file('x', { status: 'ready' }), file('x', { status: 'uploaded' })).status).toBe('ready');
    expect(latest(listed, undefined)).toBe(listed);
  });
});

describe('ProjectPage', () => {
  it('shows a viewer the project and its files without any change action', async () => {
    signedInAs([]);
    stubFetch({
      ...routes('viewer'),
      [`GET /api/v1/projects/${PID}/files/a/download`]: () => json({ url: '/hearth/projects/a?X-Amz-Signature=s', expires_in: 300 }),
    });
    renderWithQuery(<ProjectPage />);
    expect(await screen.findByRole('heading', { level: 1, name: 'Apollo' })).toBeTruthy();
    await screen.findByText('a.txt');
    expect(screen.getByText('Your role: viewer')).toBeTruthy();
    for (const name of ['Rename', 'Delete project', 'Upload', 'Delete a.txt', 'Add member']) {
      expect(screen.queryByRole('button', { name })).toBeNull();
    }
    expect(screen.queryByLabelText('File')).toBeNull();
    await userEvent.click(screen.getByRole('button', { name: 'Download a.txt' }));
    await waitFor(() => expect(goTo).toHaveBeenCalledWith('/hearth/projects/a?X-Amz-Signature=s'));
  });

  it('says so when the project cannot be opened', async () => {
    signedInAs([]);
    stubFetch({ [`GET /api/v1/projects/${PID}`]: () => problem(403, 'Forbidden', 'needs the viewer role on this project') });
    renderWithQuery(<ProjectPage />);
    expect((await screen.findByRole('alert')).textContent).toBe(
      'You do not have permission to open this project. Needs the viewer role on this project.',
    );
  });

  it('uploads with progress, then shows the worker’s result without a reload', async () => {
    signedInAs([]);
    vi.stubGlobal('XMLHttpRequest', FakeXhr);
    let uploaded = false;
    let polls = 0;
    const calls = stubFetch(
      routes('editor', {
        [`GET /api/v1/projects/${PID}/files`]: () =>
          filesPage(uploaded ? [file('a'), file('new', { name: 'notes.txt', status: 'uploaded', detected_type: null })] : [file('a')]),
        [`POST /api/v1/projects/${PID}/files`]: (c) =>
          json(
            {
              file: file('new', { ...JSON.parse(c.body), status: 'pending', detected_type: null }),
              upload_url: '/hearth/projects/new?X-Amz-Signature=s',
              upload_method: 'PUT',
              upload_headers: { 'Content-Type': 'text/plain', 'x-amz-checksum-sha256': 'q83v' },
            },
            201,
          ),
        [`POST /api/v1/projects/${PID}/files/new/complete`]: () => {
          uploaded = true;
          return json(file('new', { name: 'notes.txt', status: 'uploaded', detected_type: null }), 202);
        },
        [`GET /api/v1/projects/${PID}/files/new`]: () => {
          polls += 1;
          return json(file('new', { name: 'notes.txt', status: polls < 2 ? 'uploaded' : 'ready', detected_type: 'text/plain' }));
        },
      }),
    );
    renderWithQuery(<ProjectPage />);
    const input = await screen.findByLabelText('File');
    await userEvent.upload(input, new File(['abc'], 'notes.txt', { type: 'text/plain' }));
    await userEvent.click(screen.getByRole('button', { name: 'Upload' }));

    await waitFor(() => expect(FakeXhr.last?.method).toBe('PUT'));
    const xhr = FakeXhr.last!;
    expect(xhr.url).toBe('/hearth/projects/new?X-Amz-Signature=s');
    expect(xhr.headers).toEqual({ 'Content-Type': 'text/plain', 'x-amz-checksum-sha256': 'q83v' });
    const declared = JSON.parse(calls.find((c) => c.path === `/api/v1/projects/${PID}/files` && c.method === 'POST')!.body);
    expect(declared).toEqual({
      name: 'notes.txt',
      content_type: 'text/plain',
      size: 3,
      sha256: 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
    });

    act(() => xhr.upload.onprogress?.({ loaded: 2, total: 4, lengthComputable: true } as ProgressEvent));
    const bar = await screen.findByRole('progressbar', { name: 'Uploading notes.txt: 50 % (2 B of 4 B)' });
    expect(bar.getAttribute('value')).toBe('50');
    expect(screen.getByRole('button', { name: 'Cancel upload' })).toBeTruthy();

    xhr.status = 200;
    act(() => xhr.onload?.());
    expect((await screen.findByRole('status')).textContent).toBe('notes.txt is uploaded; it is being checked.');
    const row = () => screen.getByRole('row', { name: /^notes\.txt/ });
    await waitFor(() => expect(within(row()).getByText('Checking…')).toBeTruthy());
    const listLoads = calls.filter((c) => c.method === 'GET' && c.path.startsWith(`/api/v1/projects/${PID}/files?`)).length;
    await waitFor(() => expect(within(row()).getByText('Ready')).toBeTruthy(), { timeout: 5000 });
    expect(polls).toBeGreaterThanOrEqual(2);
    // The result came from polling the file, not from loading the list again.
    expect(calls.filter((c) => c.method === 'GET' && c.path.startsWith(`/api/v1/projects/${PID}/files?`)).length).toBe(listLoads);
    expect(within(row()).getByRole('button', { name: 'Download notes.txt' })).toBeTruthy();
  });

  it('discards the declared file when storage refuses the bytes', async () => {
    signedInAs([]);
    vi.stubGlobal('XMLHttpRequest', FakeXhr);
    const calls = stubFetch(
      routes('editor', {
        [`POST /api/v1/projects/${PID}/files`]: () =>
          json({ file: file('bad', { status: 'pending' }), upload_url: '/u?X-Amz-Signature=s', upload_headers: {} }, 201),
        [`DELETE /api/v1/projects/${PID}/files/bad`]: () => new Response(null, { status: 204 }),
      }),
    );
    renderWithQuery(<ProjectPage />);
    await userEvent.upload(await screen.findByLabelText('File'), new File(['abc'], 'x.txt'));
    await userEvent.click(screen.getByRole('button', { name: 'Upload' }));
    await waitFor(() => expect(FakeXhr.last?.method).toBe('PUT'));
    FakeXhr.last!.status = 400;
    FakeXhr.last!.responseText = '<Error><Code>BadDigest</Code><Message>checksum mismatch</Message></Error>';
    act(() => FakeXhr.last!.onload?.());
    const files = within(screen.getByRole('region', { name: 'Files' }));
    expect((await files.findByRole('alert')).textContent).toBe('Storage refused the upload: checksum mismatch.');
    expect(calls.some((c) => c.method === 'DELETE' && c.path.endsWith('/files/bad'))).toBe(true);
    expect(calls.some((c) => c.path.endsWith('/complete'))).toBe(false);
  });

  it('lets an owner add a member by email (with users:read), change a role and remove one', async () => {
    signedInAs(['users:read']);
    const newcomer = '00000000-0000-4000-8000-000000000007';
    const calls = stubFetch(
      routes('owner', {
        'GET /api/v1/admin/users': () =>
          json({ items: [sampleMe([], { id: newcomer, email: 'cara@example.com' })], total: 1, limit: 100, offset: 0 }),
        [`GET /api/v1/admin/users/${OTHER}`]: () => json(sampleMe([], { id: OTHER, email: 'dan@example.com' })),
        [`PUT /api/v1/projects/${PID}/members/${newcomer}`]: () => json({ user_id: newcomer, role: 'editor' }),
        [`PUT /api/v1/projects/${PID}/members/${OTHER}`]: () => json({ user_id: OTHER, role: 'editor' }),
        [`DELETE /api/v1/projects/${PID}/members/${OTHER}`]: () => new Response(null, { status: 204 }),
      }),
    );
    renderWithQuery(<ProjectPage />);
    const members = within(await screen.findByRole('region', { name: 'Members' }));
    await members.findByText('dan@example.com');
    // The creator cannot be removed.
    expect(members.queryByRole('button', { name: /Remove ada@example.com/ })).toBeNull();

    await userEvent.type(members.getByLabelText('User', { exact: false }), 'Cara@Example.com');
    await userEvent.selectOptions(members.getByLabelText('Role'), 'editor');
    await userEvent.click(members.getByRole('button', { name: 'Add member' }));
    await waitFor(() => expect(calls.some((c) => c.method === 'PUT' && c.path.endsWith(newcomer))).toBe(true));
    expect(calls.find((c) => c.path.startsWith('/api/v1/admin/users?'))?.path).toBe(
      '/api/v1/admin/users?email=cara%40example.com&limit=100',
    );
    expect(calls.find((c) => c.method === 'PUT' && c.path.endsWith(newcomer))?.body).toBe('{"role":"editor"}');

    await userEvent.selectOptions(members.getByLabelText('Role of dan@example.com'), 'editor');
    await userEvent.click(members.getByRole('button', { name: 'Change role of dan@example.com' }));
    await waitFor(() => expect(calls.some((c) => c.method === 'PUT' && c.path.endsWith(OTHER))).toBe(true));

    await userEvent.click(members.getByRole('button', { name: 'Remove dan@example.com' }));
    await userEvent.click(members.getByRole('button', { name: 'Yes, remove' }));
    await waitFor(() => expect(calls.some((c) => c.method === 'DELETE' && c.path.endsWith(OTHER))).toBe(true));
  });

  it('lets an owner rename the project (focus comes back to Rename) and delete it', async () => {
    signedInAs([]);
    const calls = stubFetch(
      routes('owner', {
        [`PATCH /api/v1/projects/${PID}`]: (c) => json({ ...project, ...JSON.parse(c.body) }),
        [`DELETE /api/v1/projects/${PID}`]: () => new Response(null, { status: 204 }),
      }),
    );
    renderWithQuery(<ProjectPage />);
    await userEvent.click(await screen.findByRole('button', { name: 'Rename' }));
    const name = screen.getByRole('textbox', { name: 'Name' });
    expect(document.activeElement).toBe(name);
    await userEvent.clear(name);
    await userEvent.type(name, 'Artemis');
    await userEvent.click(screen.getByRole('button', { name: 'Save' }));
    expect(await screen.findByRole('heading', { level: 1, name: 'Artemis' })).toBeTruthy();
    expect(document.activeElement).toBe(screen.getByRole('button', { name: 'Rename' }));
    expect(calls.find((c) => c.method === 'PATCH')?.body).toBe('{"name":"Artemis","description":"Moon shots"}');

    await userEvent.click(screen.getByRole('button', { name: 'Delete project' }));
    await userEvent.click(screen.getByRole('button', { name: 'Yes, delete the project' }));
    await waitFor(() => expect(router.push).toHaveBeenCalledWith('/projects/'));
  });

  it('asks for an id when the owner may not look people up by email', async () => {
    signedInAs([]);
    stubFetch(routes('owner'));
    renderWithQuery(<ProjectPage />);
    const members = within(await screen.findByRole('region', { name: 'Members' }));
    await userEvent.type(await members.findByLabelText('User', { exact: false }), 'cara@example.com');
    await userEvent.click(members.getByRole('button', { name: 'Add member' }));
    expect((await members.findByRole('alert')).textContent).toBe(
      'Enter the person’s user ID: finding an account by email needs the users:read permission.',
    );
  });
});
