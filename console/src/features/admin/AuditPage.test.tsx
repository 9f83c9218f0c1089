import { fireEvent, screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { json, makeRouter, problem, renderWithQuery, sampleMe, signedInAs, stubFetch, type Call } from '@/test/utils';
import AuditPage, { formatDetail, localToIso } from './AuditPage';

const router = makeRouter({ pathname: '/admin/audit', asPath: '/admin/audit/' });
vi.mock('next/router', () => ({ useRouter: () => router }));

const entry = (id: number, outcome = 'ok') => ({
  id,
  at: '2026-01-01T00:00:00Z',
  actor_id: null,
  action: 'auth.login',
  resource: '',
  outcome,
  ip: '203.0.113.9',
  request_id: `req-${id}`,
  detail: { email: 'ada@example.com' },
});

const BOB = '00000000-0000-4000-8000-0000000000b0';

const page = (c: Call) => {
  const q = new URL(c.path, 'http://x').searchParams;
  return json({ items: [entry(1)], total: 1, limit: Number(q.get('limit')), offset: Number(q.get('offset')) });
};

/** The audit queries' parameters, one object per call. */
const auditQueries = (calls: Call[]) =>
  calls.filter((c) => c.path.startsWith('/api/v1/admin/audit')).map((c) => Object.fromEntries(new URL(c.path, 'http://x').searchParams));

describe('AuditPage', () => {
  it('filters by outcome and pages', async () => {
    signedInAs(['audit:read']);
    const calls = stubFetch({
      'GET /api/v1/admin/audit': (c) => {
        const q = new URL(c.path, 'http://x').searchParams;
        const offset = Number(q.get('offset'));
        const limit = Number(q.get('limit'));
        return json({ items: [entry(offset + 1, q.get('outcome') ?? 'ok')], total: 45, limit, offset });
      },
    });
    renderWithQuery(<AuditPage />);
    await screen.findByText('req-1');
    await userEvent.selectOptions(screen.getByLabelText('Outcome'), 'denied');
    await screen.findByRole('table', { name: 'Audit log entries with the outcome “denied”, newest first' });
    await userEvent.click(screen.getByRole('button', { name: 'Next' }));
    await screen.findByText('req-21');
    await userEvent.selectOptions(screen.getByLabelText('Rows per page'), '50');
    await waitFor(() => expect(calls.at(-1)?.path).toBe('/api/v1/admin/audit?outcome=denied&limit=50&offset=0'));
    expect(calls.map((c) => c.path)).toEqual([
      '/api/v1/admin/audit?limit=20&offset=0',
      '/api/v1/admin/audit?outcome=denied&limit=20&offset=0',
      '/api/v1/admin/audit?outcome=denied&limit=20&offset=20',
      '/api/v1/admin/audit?outcome=denied&limit=50&offset=0',
    ]);
  });

  it('says the permission is missing', async () => {
    signedInAs([]);
    stubFetch({ 'GET /api/v1/admin/audit': () => problem(403, 'Forbidden') });
    renderWithQuery(<AuditPage />);
    expect((await screen.findByRole('alert')).textContent).toBe('You do not have permission to read the audit log.');
  });

  describe('in a browser in Berlin', () => {
    const tz = process.env.TZ;
    beforeEach(() => {
      process.env.TZ = 'Europe/Berlin';
    });
    afterEach(() => {
      if (tz === undefined) delete process.env.TZ;
      else process.env.TZ = tz;
    });

    it('sends the action, the actor found by email, and since/until with the offset of each date', async () => {
      signedInAs(['audit:read', 'users:read']);
      const calls = stubFetch({
        'GET /api/v1/admin/audit': page,
        'GET /api/v1/admin/users': () => json({ items: [sampleMe([], { id: BOB, email: 'bob@example.com' })], total: 1, limit: 100, offset: 0 }),
      });
      renderWithQuery(<AuditPage />);
      await screen.findByText('req-1');
      await userEvent.selectOptions(screen.getByLabelText('Action'), 'user.');
      await waitFor(() => expect(auditQueries(calls).at(-1)).toEqual({ action: 'user.', limit: '20', offset: '0' }));
      await userEvent.type(screen.getByLabelText('Actor'), 'Bob@Example.com');
      fireEvent.change(screen.getByLabelText('Since'), { target: { value: '2026-01-02T10:30' } });
      fireEvent.change(screen.getByLabelText('Until'), { target: { value: '2026-07-01T09:00' } });
      await userEvent.click(screen.getByRole('button', { name: 'Apply' }));
      await waitFor(() =>
        expect(auditQueries(calls).at(-1)).toEqual({
          action: 'user.',
          actor_id: BOB,
          since: '2026-01-02T10:30:00+01:00',
          until: '2026-07-01T09:00:00+02:00',
          limit: '20',
          offset: '0',
        }),
      );
      expect(calls.find((c) => c.path.startsWith('/api/v1/admin/users'))?.path).toBe('/api/v1/admin/users?email=bob%40example.com&limit=100');
      await screen.findByRole('table', { name: /^Audit log entries with actions starting “user\.”, by Bob@Example\.com, since .+, until .+, newest first$/ });
      // Clearing drops every filter; paging goes back to the first page.
      await userEvent.click(screen.getByRole('button', { name: 'Clear filters' }));
      await waitFor(() => expect(auditQueries(calls).at(-1)).toEqual({ limit: '20', offset: '0' }));
      expect(screen.getByLabelText('Actor')).toHaveProperty('value', '');
    });

    it('converts local times with the browser’s offset', () => {
      expect(localToIso('')).toBeUndefined();
      expect(localToIso('2026-01-02T10:30')).toBe('2026-01-02T10:30:00+01:00');
      expect(localToIso('2026-07-01T09:00:05')).toBe('2026-07-01T09:00:05+02:00');
    });
  });

  it('asks for an id when the user may not look accounts up, and sends it as typed', async () => {
    signedInAs(['audit:read']);
    const calls = stubFetch({ 'GET /api/v1/admin/audit': page });
    renderWithQuery(<AuditPage />);
    await screen.findByText('req-1');
    const actor = screen.getByLabelText('Actor ID');
    await userEvent.type(actor, 'bob@example.com{Enter}');
    expect((await screen.findByRole('alert')).textContent).toMatch(/needs the users:read permission/);
    expect(actor.getAttribute('aria-invalid')).toBe('true');
    await userEvent.clear(actor);
    await userEvent.type(actor, `${BOB}{Enter}`);
    await waitFor(() => expect(auditQueries(calls).at(-1)).toEqual({ actor_id: BOB, limit: '20', offset: '0' }));
    expect(calls.some((c) => c.path.startsWith('/api/v1/admin/users'))).toBe(false);
    expect(screen.queryByRole('alert')).toBeNull();
  });

  it('shows the API’s refusal of a window that ends before it starts at the Since field', async () => {
    signedInAs(['audit:read']);
    const msg = 'since (2026-01-02T10:30:00+01:00) is after until (2026-01-01T10:30:00+01:00); swap them or drop one';
    stubFetch({
      'GET /api/v1/admin/audit': (c) =>
        c.path.includes('since=')
          ? problem(422, 'Unprocessable Content', msg, { errors: [{ loc: ['query', 'since'], msg, type: 'value_error' }] })
          : page(c),
    });
    renderWithQuery(<AuditPage />);
    await screen.findByText('req-1');
    fireEvent.change(screen.getByLabelText('Since'), { target: { value: '2026-01-02T10:30' } });
    fireEvent.change(screen.getByLabelText('Until'), { target: { value: '2026-01-01T10:30' } });
    await userEvent.click(screen.getByRole('button', { name: 'Apply' }));
    // One alert, tied to the field (the page does not repeat it).
    expect((await screen.findByRole('alert')).textContent).toBe(msg);
    expect(screen.getByLabelText('Since').getAttribute('aria-invalid')).toBe('true');
  });

  it('shows details as lines', () => {
    expect(formatDetail({})).toBe('');
    expect(formatDetail({ email: 'a@b', roles: ['x'] })).toBe('email: a@b\nroles: ["x"]');
  });
});
