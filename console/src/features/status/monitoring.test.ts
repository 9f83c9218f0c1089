import { describe, expect, it, vi } from 'vitest';
import {
  backupAges,
  describeMonitoringError,
  firingAlerts,
  formatAge,
  MonitoringError,
  parseAlerts,
  parseVector,
  promQuery,
  serviceHealth,
  type Sample,
} from './monitoring';

const vector = (result: unknown[]) => ({ status: 'success', data: { resultType: 'vector', result } });
const s = (labels: Record<string, string>, value: number, at = 1000): Sample => ({ labels, value, at });

describe('parseVector', () => {
  it('reads labels, value and evaluation time', () => {
    const body = vector([
      { metric: { __name__: 'up', service: 'postgres', host: 'h1' }, value: [1700000000.5, '1'] },
      { metric: { service: 'redis' }, value: [1700000000.5, 'NaN'] },
      { metric: { service: 'bad' } }, // no value: skipped
    ]);
    const out = parseVector(body);
    expect(out).toHaveLength(2);
    expect(out[0]).toEqual({ labels: { __name__: 'up', service: 'postgres', host: 'h1' }, value: 1, at: 1700000000.5 });
    expect(Number.isNaN(out[1]!.value)).toBe(true);
  });

  it('refuses an error answer, naming the error', () => {
    expect(() => parseVector({ status: 'error', errorType: 'bad_data', error: 'parse error at 3' })).toThrow(
      'the query failed: parse error at 3',
    );
    expect(() => parseVector({ status: 'success', data: { resultType: 'matrix', result: [] } })).toThrow(
      MonitoringError,
    );
    expect(() => parseVector('<html>')).toThrow(MonitoringError);
  });
});

describe('parseAlerts', () => {
  const body = {
    status: 'success',
    data: {
      alerts: [
        {
          name: 'ServiceRestarting',
          state: 'firing',
          labels: { alertname: 'ServiceRestarting', severity: 'warning', service: 'app' },
          annotations: { summary: 'restarts' },
          activeAt: '2025-01-01T00:00:00Z',
        },
        { name: 'Pending', state: 'pending', labels: { severity: 'critical' }, annotations: {} },
        {
          name: 'BackupTooOld',
          state: 'firing',
          labels: { severity: 'critical', store: 'postgres' },
          annotations: { summary: 'old' },
        },
      ],
    },
  };

  it('keeps firing alerts, critical first', () => {
    const out = parseAlerts(body);
    expect(out.map((a) => a.name)).toEqual(['BackupTooOld', 'ServiceRestarting']);
    expect(out[1]).toMatchObject({ severity: 'warning', summary: 'restarts', service: 'app', since: '2025-01-01T00:00:00Z' });
    expect(out[0]).toMatchObject({ service: null, since: null });
  });

  it('refuses something that is not vmalert’s answer', () => {
    expect(() => parseAlerts({ status: 'success', data: {} })).toThrow(MonitoringError);
  });
});

describe('serviceHealth', () => {
  it('joins scrapes and probes, unhealthy first', () => {
    const rows = serviceHealth(
      [s({ service: 'postgres', host: 'h' }, 1), s({ service: 'app', host: 'h' }, 0)],
      [s({ service: 'probe-s3', host: 'h' }, 1)],
    );
    expect(rows).toEqual([
      { service: 'app', host: 'h', healthy: false, source: 'scrape' },
      { service: 'postgres', host: 'h', healthy: true, source: 'scrape' },
      { service: 'probe-s3', host: 'h', healthy: true, source: 'probe' },
    ]);
  });

  it('is unhealthy when any series of a service is down', () => {
    const rows = serviceHealth([s({ service: 'app', host: 'h', instance: 'a' }, 1), s({ service: 'app', host: 'h', instance: 'b' }, 0)], []);
    expect(rows).toEqual([{ service: 'app', host: 'h', healthy: false, source: 'scrape' }]);
  });
});

describe('backupAges', () => {
  it('computes the age at the evaluation time and flags overdue stores', () => {
    const at = 100_000;
    const rows = backupAges(
      [
        s({ service: 'backup-postgres', store: 'postgres' }, at - 3600, at),
        s({ service: 'backup-s3', store: 's3' }, at - 90_000, at),
        s({ service: 'backup-nats', store: 'nats' }, 0, at),
      ],
      [
        s({ service: 'backup-postgres', store: 'postgres' }, 86_400),
        s({ service: 'backup-s3', store: 's3' }, 3600),
        s({ service: 'backup-nats', store: 'nats' }, 3600),
      ],
    );
    expect(rows).toEqual([
      { store: 'nats', service: 'backup-nats', age: null, interval: 3600, overdue: true },
      { store: 'postgres', service: 'backup-postgres', age: 3600, interval: 86_400, overdue: false },
      { store: 's3', service: 'backup-s3', age: 90_000, interval: 3600, overdue: true },
    ]);
  });

  it('does not call a store overdue without its interval', () => {
    expect(backupAges([s({ store: 'x' }, 0)], [])).toEqual([
      { store: 'x', service: '', age: null, interval: null, overdue: false },
    ]);
  });
});

describe('formatAge', () => {
  it('reads as people say it', () => {
    expect(formatAge(45)).toBe('45 s');
    expect(formatAge(720)).toBe('12 min');
    expect(formatAge(3 * 3600 + 300)).toBe('3 h 5 min');
    expect(formatAge(7200)).toBe('2 h');
    expect(formatAge(52 * 3600)).toBe('2 d 4 h');
  });
});

function answer(status: number, body: unknown, type = 'application/json'): Response {
  return new Response(typeof body === 'string' ? body : JSON.stringify(body), {
    status,
    headers: { 'content-type': type },
  });
}

describe('fetching through the edge', () => {
  it('queries the Prometheus API with the session cookie', async () => {
    const fetchImpl = vi.fn(async () => answer(200, vector([{ metric: { service: 'a' }, value: [1, '1'] }])));
    await expect(promQuery('max by (store) (x)', fetchImpl)).resolves.toHaveLength(1);
    expect(fetchImpl).toHaveBeenCalledWith(
      '/dashboards/prometheus/api/v1/query?query=max%20by%20(store)%20(x)',
      expect.objectContaining({ credentials: 'same-origin', cache: 'no-store' }),
    );
  });

  it('says the permission is missing on the app’s 403', async () => {
    const fetchImpl = async () =>
      answer(403, { title: 'forbidden', status: 403 }, 'application/problem+json');
    const err = await firingAlerts(fetchImpl).catch((e: unknown) => e);
    expect(err).toMatchObject({ failure: 'forbidden', status: 403 });
    expect(describeMonitoringError(err)).toBe(
      'You need the dashboards:view permission to see the platform’s state.',
    );
  });

  it('says monitoring is not answering on the edge’s own refusal, a 502 or no answer', async () => {
    const plain403 = await promQuery('up', async () => answer(403, 'not through the edge', 'text/plain')).catch(
      (e: unknown) => e,
    );
    expect(describeMonitoringError(plain403)).toBe('Monitoring is not answering (HTTP 403).');
    const bad = await promQuery('up', async () => answer(502, '')).catch((e: unknown) => e);
    expect(describeMonitoringError(bad)).toBe('Monitoring is not answering (HTTP 502).');
    const down = await promQuery('up', async () => {
      throw new TypeError('Failed to fetch');
    }).catch((e: unknown) => e);
    expect(describeMonitoringError(down)).toBe('Monitoring is not answering (no answer from the edge).');
    const html = await promQuery('up', async () => answer(200, '<html>', 'text/html')).catch((e: unknown) => e);
    expect(describeMonitoringError(html)).toBe('Monitoring is not answering (the answer was not JSON).');
  });

  it('tells a 401 apart', async () => {
    const err = await promQuery('up', async () => answer(401, '')).catch((e: unknown) => e);
    expect(err).toMatchObject({ failure: 'unauthorized' });
  });
});
