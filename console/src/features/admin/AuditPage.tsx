import { useQuery } from '@tanstack/react-query';
import { useId, useState, type FormEvent } from 'react';
import { api, unwrap, type Schemas } from '@/api/client';
import { keys } from '@/api/keys';
import { Button } from '@/components/Button';
import { EmptyState } from '@/components/EmptyState';
import { ProblemMessage } from '@/components/ProblemMessage';
import { Progress } from '@/components/Progress';
import { RequireAuth } from '@/components/RequireAuth';
import { Table } from '@/components/Table';
import { TextField } from '@/components/TextField';
import { Title } from '@/components/Title';
import { describeError, fieldError } from '@/lib/problem';
import { selectCan, useSession } from '@/store/session';
import { Pager } from '../common/Pager';
import { resolveUserId } from '../common/users';
import styles from './admin.module.css';

type Entry = Schemas['AuditOut'];

/** The outcomes the app records (the API filters on any string; these are the ones it writes). */
export const OUTCOMES = ['ok', 'denied', 'failed', 'disabled', 'exists', 'created', 'role-granted', 'reuse-revoked-family'] as const;

/**
 * The actions the app writes (a refused permission check also writes "METHOD /path"; find those
 * with the outcome "denied"). The API takes one of them, or a prefix ending in "." for a family.
 */
export const ACTIONS = [
  'admin.bootstrap',
  'auth.login',
  'auth.oidc',
  'auth.refresh',
  'auth.register',
  'forward-auth',
  'keys.rotate',
  'project.editor',
  'project.owner',
  'project.viewer',
  'role.create',
  'role.delete',
  'role.update',
  'user.create',
  'user.disable',
  'user.enable',
  'user.password_reset',
  'user.roles',
  'user.update',
] as const;

/** ACTIONS by family ("user"), each with the family's prefix option when it has more than one. */
const ACTION_GROUPS = Object.entries(
  ACTIONS.reduce<Record<string, string[]>>((groups, a) => {
    const family = a.includes('.') ? a.slice(0, a.indexOf('.')) : 'other';
    (groups[family] ??= []).push(a);
    return groups;
  }, {}),
);

const LIMITS = [20, 50, 100] as const;

export function formatDetail(detail: Record<string, unknown>): string {
  const keysOf = Object.keys(detail);
  if (keysOf.length === 0) return '';
  return keysOf.map((k) => `${k}: ${typeof detail[k] === 'string' ? detail[k] : JSON.stringify(detail[k])}`).join('\n');
}

const pad = (n: number, width = 2) => String(n).padStart(width, '0');

/**
 * A datetime-local value ("2026-01-02T10:30") as ISO 8601 with the browser's offset for that
 * date ("2026-01-02T10:30:00+01:00"): the API wants an instant, and a bare local time names none.
 */
export function localToIso(value: string): string | undefined {
  if (!value) return undefined;
  const d = new Date(value); // a date-time without an offset is local time
  if (Number.isNaN(d.getTime())) return undefined;
  const offset = -d.getTimezoneOffset();
  const sign = offset >= 0 ? '+' : '-';
  const abs = Math.abs(offset);
  const date = `${pad(d.getFullYear(), 4)}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
  const time = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  return `${date}T${time}${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
}

/** What the form asked for; `actor` is what was typed, `actor_id` what it names. */
export interface Filters {
  outcome: string;
  action: string;
  actor: string;
  actor_id?: string;
  since?: string;
  until?: string;
}

const NO_FILTERS: Filters = { outcome: '', action: '', actor: '' };

/** The filters in words, for the table's caption and the empty state. */
export function describeFilters(f: Filters): string {
  const parts = [
    f.outcome && `with the outcome “${f.outcome}”`,
    f.action && (f.action.endsWith('.') ? `with actions starting “${f.action}”` : `with the action “${f.action}”`),
    f.actor_id && `by ${f.actor}`,
    f.since && `since ${new Date(f.since).toLocaleString()}`,
    f.until && `until ${new Date(f.until).toLocaleString()}`,
  ].filter(Boolean);
  return parts.join(', ');
}

function Audit() {
  const outcomeId = useId();
  const actionId = useId();
  const limitId = useId();
  const canLookUp = useSession(selectCan('users:read'));
  const [filters, setFilters] = useState<Filters>(NO_FILTERS);
  // Typed fields apply with the form's submit (Enter or Apply); the selects apply at once.
  const [draft, setDraft] = useState({ actor: '', since: '', until: '' });
  const [actorError, setActorError] = useState<string>();
  const [resolving, setResolving] = useState(false);
  const [limit, setLimit] = useState<number>(20);
  const [offset, setOffset] = useState(0);
  const entries = useQuery({
    queryKey: keys.audit({ ...filters, limit, offset }),
    // The filters travel with their rows: while the next page loads, the previous rows stay on
    // screen (placeholderData), and their caption must still name the filters they answer.
    queryFn: async () => {
      const { outcome, action, actor_id, since, until } = filters;
      const query = { outcome: outcome || undefined, action: action || undefined, actor_id, since, until, limit, offset };
      return { filters, page: await unwrap(api.GET('/api/v1/admin/audit', { params: { query } })) };
    },
    placeholderData: (prev) => prev,
  });
  const choose = (change: Partial<Filters>) => {
    setFilters((f) => ({ ...f, ...change }));
    setOffset(0);
  };
  async function apply(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    setActorError(undefined);
    let actorId: string | undefined;
    if (draft.actor.trim()) {
      setResolving(true);
      try {
        actorId = await resolveUserId(draft.actor, canLookUp);
      } catch (err) {
        setActorError(describeError(err, 'look accounts up by email'));
        return;
      } finally {
        setResolving(false);
      }
    }
    choose({ actor: draft.actor.trim(), actor_id: actorId, since: localToIso(draft.since), until: localToIso(draft.until) });
  }
  function clear() {
    setDraft({ actor: '', since: '', until: '' });
    setActorError(undefined);
    setFilters(NO_FILTERS);
    setOffset(0);
  }
  const shown = entries.data?.filters ?? filters;
  const described = describeFilters(shown);
  const filtered = describeFilters(filters) !== '';
  return (
    <>
      <form className={styles.search} aria-label="Filter the audit log" onSubmit={apply} noValidate>
        <div className="field">
          <label htmlFor={outcomeId}>Outcome</label>
          <select id={outcomeId} value={filters.outcome} onChange={(e) => choose({ outcome: e.target.value })}>
            <option value="">Any outcome</option>
            {OUTCOMES.map((o) => (
              <option key={o} value={o}>
                {o}
              </option>
            ))}
          </select>
        </div>
        <div className="field">
          <label htmlFor={actionId}>Action</label>
          <select id={actionId} value={filters.action} onChange={(e) => choose({ action: e.target.value })}>
            <option value="">Any action</option>
            {ACTION_GROUPS.map(([family, actions]) => (
              <optgroup key={family} label={family}>
                {actions.length > 1 && family !== 'other' && <option value={`${family}.`}>Every {family}. action</option>}
                {actions.map((a) => (
                  <option key={a} value={a}>
                    {a}
                  </option>
                ))}
              </optgroup>
            ))}
          </select>
        </div>
        <TextField
          label={canLookUp ? 'Actor' : 'Actor ID'}
          name="actor"
          hint={canLookUp ? 'Their email address or user ID.' : 'Their user ID.'}
          autoComplete="off"
          value={draft.actor}
          onChange={(e) => setDraft((d) => ({ ...d, actor: e.target.value }))}
          error={actorError ?? fieldError(entries.error, 'actor_id')}
        />
        <TextField
          label="Since"
          name="since"
          type="datetime-local"
          hint="In your time zone; this moment included."
          value={draft.since}
          onChange={(e) => setDraft((d) => ({ ...d, since: e.target.value }))}
          error={fieldError(entries.error, 'since')}
        />
        <TextField
          label="Until"
          name="until"
          type="datetime-local"
          hint="In your time zone; this moment included."
          value={draft.until}
          onChange={(e) => setDraft((d) => ({ ...d, until: e.target.value }))}
          error={fieldError(entries.error, 'until')}
        />
        <div className="field">
          <label htmlFor={limitId}>Rows per page</label>
          <select
            id={limitId}
            value={limit}
            onChange={(e) => {
              setLimit(Number(e.target.value));
              setOffset(0);
            }}
          >
            {LIMITS.map((n) => (
              <option key={n} value={n}>
                {n}
              </option>
            ))}
          </select>
        </div>
        <div className={styles.actions}>
          <Button type="submit" variant="secondary" busy={resolving}>
            Apply
          </Button>
          {filtered && (
            <Button variant="quiet" onClick={clear}>
              Clear filters
            </Button>
          )}
        </div>
      </form>
      {entries.isPending ? (
        <Progress label="Loading the audit log…" />
      ) : entries.isError ? (
        <ProblemMessage error={entries.error} action="read the audit log" shownFields={['actor_id', 'since', 'until']} />
      ) : entries.data.page.total === 0 ? (
        <EmptyState title={described ? `No entries ${described}` : 'The audit log is empty'} />
      ) : (
        <>
          <Table<Entry>
            caption={described ? `Audit log entries ${described}, newest first` : 'Audit log, newest first'}
            busy={entries.isPlaceholderData}
            columns={[
              { header: 'When', cell: (e) => new Date(e.at).toLocaleString() },
              { header: 'Action', cell: (e) => <span className={styles.code}>{e.action}</span> },
              { header: 'Outcome', cell: (e) => (e.outcome === 'ok' ? e.outcome : <strong>{e.outcome}</strong>) },
              { header: 'Actor', cell: (e) => (e.actor_id ? <span className={styles.code}>{e.actor_id}</span> : <span className="muted">None</span>) },
              { header: 'Resource', cell: (e) => <span className={styles.code}>{e.resource}</span> },
              { header: 'IP', cell: (e) => e.ip ?? '' },
              { header: 'Request', cell: (e) => <span className={styles.code}>{e.request_id ?? ''}</span> },
              { header: 'Detail', cell: (e) => <pre className={styles.detail}>{formatDetail(e.detail)}</pre> },
            ]}
            rows={entries.data.page.items}
            rowKey={(e) => e.id}
          />
          <Pager
            label="Audit log"
            total={entries.data.page.total}
            limit={entries.data.page.limit}
            offset={entries.data.page.offset}
            onChange={setOffset}
          />
        </>
      )}
    </>
  );
}

/** /admin/audit: the audit log (audit:read), newest first, filtered (outcome, action, actor, time), paged. */
export default function AuditPage() {
  return (
    <div className="stack">
      <Title>Audit log</Title>
      <h1>Audit log</h1>
      <RequireAuth>
        <Audit />
      </RequireAuth>
    </div>
  );
}
