import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useRouter } from 'next/router';
import { useState } from 'react';
import { api, unwrap, type Schemas } from '@/api/client';
import { keys } from '@/api/keys';
import { Button } from '@/components/Button';
import { EmptyState } from '@/components/EmptyState';
import { ProblemMessage } from '@/components/ProblemMessage';
import { Progress } from '@/components/Progress';
import { RequireAuth } from '@/components/RequireAuth';
import { Table } from '@/components/Table';
import { Title } from '@/components/Title';
import { formatDateTime } from '@/lib/format';
import { useSession } from '@/store/session';
import styles from '@/styles/account.module.css';

type Session = Schemas['SessionOut'];

function Profile() {
  const me = useSession((s) => s.me);
  if (!me) return null;
  return (
    <section aria-labelledby="profile-heading" className="card">
      <h2 id="profile-heading">Profile</h2>
      <dl className={styles.profile}>
        <dt>Name</dt>
        <dd>{me.display_name || <span className="muted">not set</span>}</dd>
        <dt>Email</dt>
        <dd>{me.email}</dd>
        <dt>Roles</dt>
        <dd>{me.roles?.length ? me.roles.join(', ') : <span className="muted">none</span>}</dd>
        <dt>Member since</dt>
        <dd>{formatDateTime(me.created_at)}</dd>
      </dl>
    </section>
  );
}

function Sessions() {
  const router = useRouter();
  const queryClient = useQueryClient();
  const setToken = useSession((s) => s.setToken);
  const sessions = useQuery({
    queryKey: keys.sessions(),
    queryFn: () => unwrap(api.GET('/api/v1/auth/sessions')),
  });
  const end = useMutation({
    mutationFn: (s: Session) =>
      unwrap(api.DELETE('/api/v1/auth/sessions/{session_id}', { params: { path: { session_id: s.id } } })),
    onSuccess: async (_data, s) => {
      if (s.current) {
        setToken(null); // this browser's session is over: the server already dropped its cookies
        await router.push('/sign-in/');
        return;
      }
      await queryClient.invalidateQueries({ queryKey: keys.sessions() });
    },
  });

  return (
    <section aria-labelledby="sessions-heading">
      <h2 id="sessions-heading">Sessions</h2>
      <p className="muted">Each sign-in is a session. End the ones you do not recognise or no longer use.</p>
      {sessions.isPending && <Progress label="Loading your sessions…" />}
      <ProblemMessage error={sessions.error} action="list your sessions" />
      {sessions.data && sessions.data.length === 0 && <EmptyState title="No active sessions" />}
      {sessions.data && sessions.data.length > 0 && (
        <Table<Session>
          caption="Your active sessions"
          hideCaption
          rows={sessions.data}
          rowKey={(s) => s.id}
          columns={[
            {
              header: 'Session',
              cell: (s) => (s.current ? <strong>This session</strong> : <span className="muted">Other</span>),
            },
            { header: 'Started', cell: (s) => formatDateTime(s.started_at) },
            { header: 'Last used', cell: (s) => formatDateTime(s.last_used_at) },
            { header: 'Expires', cell: (s) => formatDateTime(s.expires_at) },
            {
              header: 'Action',
              cell: (s) => (
                <Button
                  variant="secondary"
                  busy={end.isPending && end.variables?.id === s.id}
                  onClick={() => end.mutate(s)}
                  aria-label={
                    s.current
                      ? 'End this session (signs you out here)'
                      : `End the session started ${formatDateTime(s.started_at)}`
                  }
                >
                  End
                </Button>
              ),
            },
          ]}
        />
      )}
      <ProblemMessage error={end.error} action="end the session" />
    </section>
  );
}

function SignOutButtons() {
  const router = useRouter();
  const signOut = useSession((s) => s.signOut);
  const signOutEverywhere = useSession((s) => s.signOutEverywhere);
  const [confirming, setConfirming] = useState(false);
  const [busy, setBusy] = useState<'one' | 'all' | null>(null);
  const [error, setError] = useState<unknown>(null);

  async function one() {
    setBusy('one');
    await signOut();
    await router.push('/sign-in/');
  }

  async function all() {
    setBusy('all');
    setError(null);
    try {
      await signOutEverywhere();
      await router.push('/sign-in/');
    } catch (err) {
      setError(err);
      setBusy(null);
    }
  }

  return (
    <section aria-labelledby="signout-heading">
      <h2 id="signout-heading">Sign out</h2>
      {confirming ? (
        <div className={styles.confirm}>
          <p id="everywhere-warning">
            This ends every session of your account, on every device, this one included.
          </p>
          <div className="row">
            <Button variant="danger" busy={busy === 'all'} onClick={all} aria-describedby="everywhere-warning">
              Yes, sign out everywhere
            </Button>
            <Button variant="secondary" onClick={() => setConfirming(false)} disabled={busy !== null}>
              Cancel
            </Button>
          </div>
        </div>
      ) : (
        <div className="row">
          <Button busy={busy === 'one'} onClick={one}>
            Sign out
          </Button>
          <Button variant="secondary" onClick={() => setConfirming(true)} disabled={busy !== null}>
            Sign out everywhere
          </Button>
        </div>
      )}
      <ProblemMessage error={error} action="sign out everywhere" />
    </section>
  );
}

/** The signed-in person's own account: profile, sessions, signing out. */
export default function Account() {
  return (
    <>
      <Title>Your account</Title>
      <h1>Your account</h1>
      <RequireAuth>
        <div className="stack">
          <Profile />
          <Sessions />
          <SignOutButtons />
        </div>
      </RequireAuth>
    </>
  );
}
