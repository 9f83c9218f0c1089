import { useQuery } from '@tanstack/react-query';
import { refreshAccessToken } from '@/api/client';
import { keys } from '@/api/keys';
import { Button } from '@/components/Button';
import { Progress } from '@/components/Progress';
import { RequireAuth } from '@/components/RequireAuth';
import { Table } from '@/components/Table';
import { Title } from '@/components/Title';
import { selectCan, useSession } from '@/store/session';
import {
  backupAges,
  describeMonitoringError,
  firingAlerts,
  formatAge,
  MonitoringError,
  promQuery,
  QUERIES,
  serviceHealth,
  type BackupAge,
  type FiringAlert,
  type ServiceHealth,
} from './monitoring';
import styles from './status.module.css';

const REFRESH_MS = 30_000;

/**
 * The edge reads the session from the HttpOnly access cookie, which lives as long as the access
 * token: once it has expired, one refresh sets a new one and the request is tried again.
 */
export async function withFreshCookie<T>(load: () => Promise<T>): Promise<T> {
  try {
    return await load();
  } catch (err) {
    if (!(err instanceof MonitoringError) || err.failure !== 'unauthorized') throw err;
    if (!(await refreshAccessToken())) throw err;
    return load();
  }
}

export interface Metrics {
  services: ServiceHealth[];
  backups: BackupAge[];
}

export async function loadMetrics(): Promise<Metrics> {
  const [up, probes, last, interval] = await Promise.all([
    promQuery(QUERIES.up),
    promQuery(QUERIES.probes),
    promQuery(QUERIES.lastBackup),
    promQuery(QUERIES.backupInterval),
  ]);
  return { services: serviceHealth(up, probes), backups: backupAges(last, interval) };
}

/** Keep polling unless the answer was "not allowed": every denial is a row in the audit log. */
function interval(error: unknown): number | false {
  return error instanceof MonitoringError && error.failure === 'forbidden' ? false : REFRESH_MS;
}

function Unavailable({ error }: { error: unknown }) {
  return (
    <p className="problem" role="alert">
      {describeMonitoringError(error)}
    </p>
  );
}

function Services({ rows }: { rows: ServiceHealth[] }) {
  if (rows.length === 0) return <p className="muted">Monitoring knows no services yet.</p>;
  const hosts = new Set(rows.map((r) => r.host));
  const down = rows.filter((r) => !r.healthy).length;
  return (
    <>
      <p className={down ? styles.bad : styles.good}>
        {down ? `${down} of ${rows.length} not answering` : `All ${rows.length} answering`}
      </p>
      <Table<ServiceHealth>
        caption="Service health"
        hideCaption
        columns={[
          { header: 'Service', cell: (r) => r.service },
          ...(hosts.size > 1 ? [{ header: 'Host', cell: (r: ServiceHealth) => r.host }] : []),
          {
            header: 'State',
            cell: (r) => <span className={r.healthy ? styles.good : styles.bad}>{r.healthy ? 'Up' : 'Down'}</span>,
          },
          { header: 'Checked by', cell: (r) => (r.source === 'probe' ? 'probe' : 'metrics scrape') },
        ]}
        rows={rows}
        rowKey={(r) => `${r.service}/${r.host}`}
      />
    </>
  );
}

function Backups({ rows }: { rows: BackupAge[] }) {
  if (rows.length === 0) return <p className="muted">No backup agent reports to monitoring.</p>;
  return (
    <Table<BackupAge>
      caption="Last backup per store"
      hideCaption
      columns={[
        { header: 'Store', cell: (r) => r.store },
        { header: 'Agent', cell: (r) => r.service },
        { header: 'Last backup', cell: (r) => (r.age === null ? 'Never' : `${formatAge(r.age)} ago`) },
        { header: 'Schedule', cell: (r) => (r.interval === null ? 'Unknown' : `every ${formatAge(r.interval)}`) },
        {
          header: 'State',
          cell: (r) => <span className={r.overdue ? styles.bad : styles.good}>{r.overdue ? 'Overdue' : 'On time'}</span>,
        },
      ]}
      rows={rows}
      rowKey={(r) => `${r.service}/${r.store}`}
    />
  );
}

function Alerts({ alerts }: { alerts: FiringAlert[] }) {
  if (alerts.length === 0) return <p className={styles.good}>No alerts are firing.</p>;
  return (
    <ul className={styles.alerts}>
      {alerts.map((a, i) => (
        <li key={`${a.name}-${i}`} className={a.severity === 'critical' ? styles.critical : styles.warning}>
          <p className={styles.alertName}>
            {a.name} <span className="badge">{a.severity}</span>
          </p>
          {a.summary && <p>{a.summary}</p>}
          <p className="muted">
            {[
              a.service && `service ${a.service}`,
              a.labels.store && `store ${a.labels.store}`,
              a.since && `since ${new Date(a.since).toLocaleString()}`,
            ]
              .filter(Boolean)
              .join(' · ')}
          </p>
        </li>
      ))}
    </ul>
  );
}

function Status() {
  const metrics = useQuery({
    queryKey: [...keys.status(), 'metrics'],
    queryFn: () => withFreshCookie(loadMetrics),
    refetchInterval: (q) => interval(q.state.error),
    retry: false,
    staleTime: 0,
  });
  const alerts = useQuery({
    queryKey: [...keys.status(), 'alerts'],
    queryFn: () => withFreshCookie(() => firingAlerts()),
    refetchInterval: (q) => interval(q.state.error),
    retry: false,
    staleTime: 0,
  });
  const updated = Math.max(metrics.dataUpdatedAt, alerts.dataUpdatedAt);
  return (
    <>
      <div className={styles.bar}>
        <p className="muted">
          {updated ? `Updated ${new Date(updated).toLocaleTimeString()}; refreshes every 30 s.` : 'Asking monitoring…'}
        </p>
        <Button
          variant="secondary"
          busy={metrics.isFetching || alerts.isFetching}
          onClick={() => {
            void metrics.refetch();
            void alerts.refetch();
          }}
        >
          Refresh
        </Button>
      </div>
      <section aria-labelledby="alerts" className="stack">
        <h2 id="alerts">Firing alerts</h2>
        {alerts.isPending ? (
          <Progress label="Asking vmalert…" />
        ) : alerts.isError ? (
          <Unavailable error={alerts.error} />
        ) : (
          <Alerts alerts={alerts.data} />
        )}
      </section>
      <section aria-labelledby="services" className="stack">
        <h2 id="services">Services</h2>
        {metrics.isPending ? (
          <Progress label="Asking the metrics store…" />
        ) : metrics.isError ? (
          <Unavailable error={metrics.error} />
        ) : (
          <Services rows={metrics.data.services} />
        )}
      </section>
      <section aria-labelledby="backups" className="stack">
        <h2 id="backups">Backups</h2>
        {metrics.isPending ? (
          <Progress label="Asking the metrics store…" />
        ) : metrics.isError ? (
          <Unavailable error={metrics.error} />
        ) : (
          <Backups rows={metrics.data.backups} />
        )}
      </section>
      <section aria-labelledby="more" className="stack">
        <h2 id="more">More detail</h2>
        <ul className={styles.links}>
          <li>
            <a href="/dashboards/">Dashboards</a> <span className="muted">metrics over time</span>
          </li>
          <li>
            <a href="/logs/">Logs</a> <span className="muted">every service’s log lines</span>
          </li>
          <li>
            <a href="/alerts/">Alerts</a> <span className="muted">alerting rules and their state</span>
          </li>
        </ul>
      </section>
    </>
  );
}

/** /status: service health, firing alerts and backup ages from the platform's monitoring (dashboards:view). */
export default function StatusPage() {
  const canView = useSession(selectCan('dashboards:view'));
  return (
    <div className="stack">
      <Title>Status</Title>
      <h1>Platform status</h1>
      <RequireAuth>
        {canView ? (
          <Status />
        ) : (
          <p className="problem" role="alert">
            {describeMonitoringError(new MonitoringError('forbidden', 'permission denied', 403))}
          </p>
        )}
      </RequireAuth>
    </div>
  );
}
