import { screen, waitFor, within } from '@testing-library/react';
import { useSession } from '@/store/session';
import { json, makeRouter, problem, renderWithQuery, signedInAs, stubFetch } from '@/test/utils';
import StatusPage from './StatusPage';

const router = makeRouter({ pathname: '/status', asPath: '/status/' });
vi.mock('next/router', () => ({ useRouter: () => router }));

const AT = 1_700_000_000;
const vector = (result: { metric: Record<string, string>; value: number }[]) =>
  json({
    status: 'success',
    data: { resultType: 'vector', result: result.map((r) => ({ metric: r.metric, value: [AT, String(r.value)] })) },
  });

function metricsAnswer(query: string): Response {
  if (query === 'up') {
    return vector([
      { metric: { service: 'postgres', host: 'h' }, value: 1 },
      { metric: { service: 'app', host: 'h' }, value: 0 },
    ]);
  }
  if (query === 'probe_success') return vector([{ metric: { service: 'probe-s3', host: 'h' }, value: 1 }]);
  if (query.includes('last_success')) {
    return vector([
      { metric: { service: 'backup-postgres', store: 'postgres' }, value: AT - 7200 },
      { metric: { service: 'backup-nats', store: 'nats' }, value: 0 },
    ]);
  }
  return vector([
    { metric: { service: 'backup-postgres', store: 'postgres' }, value: 86_400 },
    { metric: { service: 'backup-nats', store: 'nats' }, value: 3600 },
  ]);
}

const alertsAnswer = () =>
  json({
    status: 'success',
    data: {
      alerts: [
        {
          name: 'ServiceDown',
          state: 'firing',
          labels: { severity: 'critical', service: 'app' },
          annotations: { summary: 'A service does not answer its metrics scrape.' },
          activeAt: '2026-01-01T00:00:00Z',
        },
      ],
    },
  });

const queryOf = (path: string) => new URL(path, 'http://x').searchParams.get('query') ?? '';

describe('StatusPage', () => {
  it('shows health, firing alerts, backup ages and the monitoring links', async () => {
    signedInAs(['dashboards:view']);
    stubFetch({
      'GET /dashboards/prometheus/api/v1/query': (c) => metricsAnswer(queryOf(c.path)),
      'GET /alerts/api/v1/alerts': alertsAnswer,
    });
    renderWithQuery(<StatusPage />);
    expect(await screen.findByText('1 of 3 not answering')).toBeTruthy();
    const services = within(screen.getByRole('region', { name: 'Services' }));
    const appRow = services.getByRole('row', { name: /^app/ });
    expect(within(appRow).getByText('Down')).toBeTruthy();
    expect(services.getByRole('row', { name: /probe-s3 Up probe/ })).toBeTruthy();

    const alerts = within(screen.getByRole('region', { name: 'Firing alerts' }));
    expect(await alerts.findByText('A service does not answer its metrics scrape.')).toBeTruthy();

    const backups = within(screen.getByRole('region', { name: 'Backups' }));
    expect(backups.getByRole('row', { name: /postgres backup-postgres 2 h ago every 24 h On time/ })).toBeTruthy();
    expect(backups.getByRole('row', { name: /nats backup-nats Never every 1 h Overdue/ })).toBeTruthy();

    for (const [name, href] of [
      ['Dashboards', '/dashboards/'],
      ['Logs', '/logs/'],
      ['Alerts', '/alerts/'],
    ]) {
      expect(screen.getByRole('link', { name }).getAttribute('href')).toBe(href);
    }
  });

  it('asks nothing without dashboards:view and says why', async () => {
    signedInAs([]);
    const calls = stubFetch({});
    renderWithQuery(<StatusPage />);
    expect(screen.getByRole('alert').textContent).toBe('You need the dashboards:view permission to see the platform’s state.');
    expect(calls).toEqual([]);
  });

  it('says the permission is missing when the edge refuses with the app’s 403', async () => {
    signedInAs(['dashboards:view']);
    stubFetch({
      'GET /dashboards/prometheus/api/v1/query': () => problem(403, 'Forbidden', 'missing permission dashboards:view'),
      'GET /alerts/api/v1/alerts': () => problem(403, 'Forbidden', 'missing permission dashboards:view'),
    });
    renderWithQuery(<StatusPage />);
    await waitFor(() => expect(screen.getAllByRole('alert')).toHaveLength(3));
    for (const a of screen.getAllByRole('alert')) {
      expect(a.textContent).toBe('You need the dashboards:view permission to see the platform’s state.');
    }
  });

  it('says monitoring is not answering, per source, and keeps the rest', async () => {
    signedInAs(['dashboards:view']);
    stubFetch({
      'GET /dashboards/prometheus/api/v1/query': () => new Response('bad gateway', { status: 502 }),
      'GET /alerts/api/v1/alerts': alertsAnswer,
    });
    renderWithQuery(<StatusPage />);
    const services = within(screen.getByRole('region', { name: 'Services' }));
    expect((await services.findByRole('alert')).textContent).toBe('Monitoring is not answering (HTTP 502).');
    expect(await screen.findByText('ServiceDown')).toBeTruthy();
  });

  it('refreshes the session cookie once when the edge answers 401', async () => {
    signedInAs(['dashboards:view']);
    let refreshed = false;
    const calls = stubFetch({
      'POST /api/v1/auth/refresh': () => {
        refreshed = true;
        return json({ access_token: 'access-2', refresh_token: null, expires_in: 300, token_type: 'Bearer' });
      },
      'GET /dashboards/prometheus/api/v1/query': (c) => (refreshed ? metricsAnswer(queryOf(c.path)) : new Response(null, { status: 401 })),
      'GET /alerts/api/v1/alerts': () => (refreshed ? alertsAnswer() : new Response(null, { status: 401 })),
    });
    renderWithQuery(<StatusPage />);
    expect(await screen.findByText('1 of 3 not answering')).toBeTruthy();
    expect(await screen.findByText('ServiceDown')).toBeTruthy();
    expect(calls.filter((c) => c.path === '/api/v1/auth/refresh')).toHaveLength(1);
    expect(useSession.getState().accessToken).toBe('access-2');
  });

  it('ends the session, as every other request does, when the edge answers 401 and the refresh is refused', async () => {
    signedInAs(['dashboards:view']);
    const calls = stubFetch({
      'POST /api/v1/auth/refresh': () => problem(401, 'Unauthorized', 'refresh token has expired'),
      'GET /dashboards/prometheus/api/v1/query': () => new Response(null, { status: 401 }),
      'GET /alerts/api/v1/alerts': () => new Response(null, { status: 401 }),
    });
    renderWithQuery(<StatusPage />);
    await waitFor(() => expect(router.replace).toHaveBeenCalledWith({ pathname: '/sign-in/', query: { next: '/status/' } }));
    expect(useSession.getState()).toMatchObject({ status: 'signed-out', accessToken: null });
    expect(calls.filter((c) => c.path === '/api/v1/auth/refresh')).toHaveLength(1);
  });
});

