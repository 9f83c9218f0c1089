/**
 * The platform's state from its monitoring, read through the edge with the browser's session
 * cookie: VictoriaMetrics' Prometheus API under /dashboards and vmalert's under /alerts. The edge
 * asks the app (forward auth) and answers 401 without a session, 403 without dashboards:view.
 */

export const QUERY_URL = '/dashboards/prometheus/api/v1/query';
export const ALERTS_URL = '/alerts/api/v1/alerts';

export interface Sample {
  labels: Record<string, string>;
  value: number;
  /** Evaluation time on the server, seconds since the epoch. */
  at: number;
}

export interface FiringAlert {
  name: string;
  severity: string;
  summary: string;
  service: string | null;
  since: string | null;
  labels: Record<string, string>;
}

export type MonitoringFailure = 'forbidden' | 'unauthorized' | 'unavailable';

/** Why a monitoring source gave no answer. */
export class MonitoringError extends Error {
  constructor(
    readonly failure: MonitoringFailure,
    message: string,
    readonly status: number | null = null,
  ) {
    super(message);
    this.name = 'MonitoringError';
  }
}

/** The sentence a person sees when a source does not answer. */
export function describeMonitoringError(err: unknown): string {
  if (err instanceof MonitoringError) {
    if (err.failure === 'forbidden') return 'You need the dashboards:view permission to see the platform’s state.';
    if (err.failure === 'unauthorized') return 'Monitoring is not answering: your session was not accepted; sign in again.';
    return `Monitoring is not answering (${err.message}).`;
  }
  return 'Monitoring is not answering.';
}

type Fetch = (input: string, init?: RequestInit) => Promise<Response>;

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * A response as a MonitoringError, or null when it is fine. A 403 is the app's refusal only when
 * it is a problem document; the edge's own 403 (a path it does not pass on) is plain text.
 */
export function failureOf(res: Response): MonitoringError | null {
  if (res.ok) return null;
  const type = res.headers.get('content-type') ?? '';
  if (res.status === 403 && type.includes('problem+json')) {
    return new MonitoringError('forbidden', 'permission denied', 403);
  }
  if (res.status === 401) return new MonitoringError('unauthorized', 'session not accepted', 401);
  return new MonitoringError('unavailable', `HTTP ${res.status}`, res.status);
}

async function getJson(url: string, fetchImpl: Fetch): Promise<unknown> {
  let res: Response;
  try {
    res = await fetchImpl(url, { credentials: 'same-origin', cache: 'no-store', headers: { Accept: 'application/json' } });
  } catch {
    throw new MonitoringError('unavailable', 'no answer from the edge');
  }
  const failure = failureOf(res);
  if (failure) throw failure;
  try {
    return await res.json();
  } catch {
    throw new MonitoringError('unavailable', 'the answer was not JSON', res.status);
  }
}

/** The samples of a Prometheus instant-query answer (resultType vector). */
export function parseVector(body: unknown): Sample[] {
  if (!isRecord(body) || body.status !== 'success' || !isRecord(body.data)) {
    const why = isRecord(body) && typeof body.error === 'string' ? body.error : 'unexpected answer';
    throw new MonitoringError('unavailable', `the query failed: ${why}`);
  }
  const { resultType, result } = body.data;
  if (resultType !== 'vector' || !Array.isArray(result)) {
    throw new MonitoringError('unavailable', 'the query answered no vector');
  }
  const out: Sample[] = [];
  for (const r of result) {
    if (!isRecord(r) || !isRecord(r.metric) || !Array.isArray(r.value) || r.value.length !== 2) continue;
    const labels: Record<string, string> = {};
    for (const [k, v] of Object.entries(r.metric)) if (typeof v === 'string') labels[k] = v;
    out.push({ labels, at: Number(r.value[0]), value: Number(r.value[1]) });
  }
  return out;
}

/** The firing alerts of vmalert's /api/v1/alerts answer (pending ones are not firing yet). */
export function parseAlerts(body: unknown): FiringAlert[] {
  if (!isRecord(body) || body.status !== 'success' || !isRecord(body.data) || !Array.isArray(body.data.alerts)) {
    throw new MonitoringError('unavailable', 'vmalert answered something unexpected');
  }
  const out: FiringAlert[] = [];
  for (const a of body.data.alerts) {
    if (!isRecord(a) || a.state !== 'firing') continue;
    const labels: Record<string, string> = {};
    if (isRecord(a.labels)) for (const [k, v] of Object.entries(a.labels)) if (typeof v === 'string') labels[k] = v;
    const annotations = isRecord(a.annotations) ? a.annotations : {};
    out.push({
      name: typeof a.name === 'string' ? a.name : (labels.alertname ?? 'unnamed alert'),
      severity: labels.severity ?? 'none',
      summary: typeof annotations.summary === 'string' ? annotations.summary : '',
      service: labels.service ?? null,
      since: typeof a.activeAt === 'string' ? a.activeAt : null,
      labels,
    });
  }
  const rank = (s: string) => (s === 'critical' ? 0 : s === 'warning' ? 1 : 2);
  return out.sort((x, y) => rank(x.severity) - rank(y.severity) || x.name.localeCompare(y.name));
}

export async function promQuery(query: string, fetchImpl: Fetch = fetch): Promise<Sample[]> {
  return parseVector(await getJson(`${QUERY_URL}?query=${encodeURIComponent(query)}`, fetchImpl));
}

export async function firingAlerts(fetchImpl: Fetch = fetch): Promise<FiringAlert[]> {
  return parseAlerts(await getJson(ALERTS_URL, fetchImpl));
}

export interface ServiceHealth {
  service: string;
  host: string;
  healthy: boolean;
  /** 'scrape': `up` (its metrics answer); 'probe': a blackbox probe's `probe_success`. */
  source: 'scrape' | 'probe';
}

/** One row per service and host: healthy when every series says 1. */
export function serviceHealth(up: Sample[], probes: Sample[]): ServiceHealth[] {
  const rows = new Map<string, ServiceHealth>();
  const add = (s: Sample, source: ServiceHealth['source']) => {
    const service = s.labels.service ?? s.labels.job ?? 'unknown';
    const host = s.labels.host ?? s.labels.instance ?? '';
    const key = `${service}\u0000${host}`;
    const healthy = s.value === 1;
    const prev = rows.get(key);
    rows.set(key, { service, host, source, healthy: prev ? prev.healthy && healthy : healthy });
  };
  up.forEach((s) => add(s, 'scrape'));
  probes.forEach((s) => add(s, 'probe'));
  return [...rows.values()].sort(
    (a, b) => Number(a.healthy) - Number(b.healthy) || a.service.localeCompare(b.service) || a.host.localeCompare(b.host),
  );
}

export interface BackupAge {
  store: string;
  service: string;
  /** Seconds since the newest successful backup; null when there never was one. */
  age: number | null;
  /** The schedule's interval in seconds, when known. */
  interval: number | null;
  /** Older than the BackupTooOld alert allows (1.5 intervals + 10 minutes). */
  overdue: boolean;
}

/** Last backup age per store from hearth_backup_last_success_timestamp_seconds (0: never). */
export function backupAges(last: Sample[], intervals: Sample[]): BackupAge[] {
  const key = (s: Sample) => `${s.labels.service ?? ''}\u0000${s.labels.store ?? ''}`;
  const interval = new Map(intervals.map((s) => [key(s), s.value]));
  return last
    .map((s) => {
      const iv = interval.get(key(s));
      const known = iv !== undefined && Number.isFinite(iv) && iv > 0 ? iv : null;
      const age = s.value > 0 ? Math.max(0, s.at - s.value) : null;
      const overdue = known !== null && (age === null || age > known * 1.5 + 600);
      return { store: s.labels.store ?? 'unknown', service: s.labels.service ?? '', age, interval: known, overdue };
    })
    .sort((a, b) => a.store.localeCompare(b.store) || a.service.localeCompare(b.service));
}

/** "45 s", "12 min", "3 h 5 min", "2 d 4 h". */
export function formatAge(seconds: number): string {
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min`;
  const h = Math.floor(m / 60);
  if (h < 48) return m % 60 ? `${h} h ${m % 60} min` : `${h} h`;
  const d = Math.floor(h / 24);
  return h % 24 ? `${d} d ${h % 24} h` : `${d} d`;
}

export const QUERIES = {
  up: 'up',
  probes: 'probe_success',
  lastBackup: 'max by (service, store) (hearth_backup_last_success_timestamp_seconds)',
  backupInterval: 'max by (service, store) (hearth_backup_interval_seconds)',
} as const;
