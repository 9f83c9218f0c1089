import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useEffect, useRef, useState, type FormEvent } from 'react';
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
import { fieldError } from '@/lib/problem';
import { selectCan, useSession } from '@/store/session';
import { ConfirmButton } from '../common/ConfirmButton';
import { Pager } from '../common/Pager';
import { RoleChecklist } from './RoleChecklist';
import styles from './admin.module.css';

type User = Schemas['MeOut'];

const LIMIT = 20;

const sortedRoles = (u: User): string[] => [...(u.roles ?? [])].sort();

function useRoles(enabled = true) {
  return useQuery({
    queryKey: keys.roles(),
    queryFn: () => unwrap(api.GET('/api/v1/admin/roles')),
    enabled,
    staleTime: 60_000,
  });
}

function CreateUser() {
  const client = useQueryClient();
  const roles = useRoles();
  const [email, setEmail] = useState('');
  const [displayName, setDisplayName] = useState('');
  const [password, setPassword] = useState('');
  const [chosen, setChosen] = useState<string[]>([]);
  const [created, setCreated] = useState<string | null>(null);
  const create = useMutation({
    mutationFn: () =>
      unwrap(
        api.POST('/api/v1/admin/users', {
          body: { email: email.trim(), display_name: displayName.trim(), password, roles: chosen.length ? chosen : undefined },
        }),
      ),
    onSuccess: async (user) => {
      setCreated(`${user.email} can now sign in with the password you chose.`);
      setEmail('');
      setDisplayName('');
      setPassword('');
      setChosen([]);
      await client.invalidateQueries({ queryKey: keys.users() });
    },
  });
  function submit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    setCreated(null);
    create.mutate();
  }
  return (
    <section aria-labelledby="create-user" className="card">
      <h2 id="create-user">New user</h2>
      <form className={styles.form} method="post" onSubmit={submit} noValidate>
        <TextField
          label="Email"
          name="email"
          type="email"
          autoComplete="off"
          required
          value={email}
          onChange={(e) => setEmail(e.target.value)}
          error={fieldError(create.error, 'email')}
        />
        <TextField
          label="Name"
          name="display_name"
          autoComplete="off"
          maxLength={200}
          value={displayName}
          onChange={(e) => setDisplayName(e.target.value)}
          error={fieldError(create.error, 'display_name')}
        />
        <TextField
          label="Password"
          name="password"
          type="password"
          autoComplete="new-password"
          hint="12 to 128 characters. Tell the person; they can change it later."
          required
          value={password}
          onChange={(e) => setPassword(e.target.value)}
          error={fieldError(create.error, 'password')}
        />
        {roles.data && (
          <RoleChecklist
            legend="Roles"
            hint="None chosen: the role self-registration gives."
            roles={roles.data}
            checked={chosen}
            onChange={setChosen}
          />
        )}
        <ProblemMessage error={roles.error} action="list the roles" />
        <ProblemMessage error={create.error} action="create users" shownFields={['email', 'display_name', 'password']} />
        {created && (
          <p className="notice" role="status">
            {created}
          </p>
        )}
        <div>
          <Button type="submit" busy={create.isPending} disabled={!email.trim() || !password}>
            Create user
          </Button>
        </div>
      </form>
    </section>
  );
}

function ResetPassword({ user }: { user: User }) {
  const [password, setPassword] = useState('');
  const [done, setDone] = useState(false);
  const reset = useMutation({
    mutationFn: () =>
      unwrap(api.POST('/api/v1/admin/users/{user_id}/password', { params: { path: { user_id: user.id } }, body: { password } })),
    onSuccess: () => {
      setPassword('');
      setDone(true);
    },
  });
  return (
    <form
      className={styles.form}
      method="post"
      aria-labelledby="reset-password"
      onSubmit={(e) => {
        e.preventDefault();
        setDone(false);
        reset.mutate();
      }}
      noValidate
    >
      <h3 id="reset-password">Reset the password</h3>
      <TextField
        label="New password"
        name="password"
        type="password"
        autoComplete="new-password"
        hint="12 to 128 characters. Every session of this user ends at once."
        value={password}
        onChange={(e) => setPassword(e.target.value)}
        error={fieldError(reset.error, 'password')}
      />
      <ProblemMessage error={reset.error} action="reset passwords" shownFields={['password']} />
      {done && (
        <p className="notice" role="status">
          The password is changed and {user.email} is signed out everywhere.
        </p>
      )}
      <div>
        <Button type="submit" variant="secondary" busy={reset.isPending} disabled={!password}>
          Set password
        </Button>
      </div>
    </form>
  );
}

function EditRoles({ user, onSaved }: { user: User; onSaved: (u: User) => void }) {
  const roles = useRoles();
  const [chosen, setChosen] = useState<string[]>(sortedRoles(user));
  useEffect(() => setChosen(sortedRoles(user)), [user]);
  const save = useMutation({
    mutationFn: () =>
      unwrap(api.PUT('/api/v1/admin/users/{user_id}/roles', { params: { path: { user_id: user.id } }, body: { roles: chosen } })),
    onSuccess: onSaved,
  });
  const unchanged = chosen.join() === sortedRoles(user).join();
  return (
    <form
      className={styles.form}
      aria-labelledby="edit-roles"
      onSubmit={(e) => {
        e.preventDefault();
        save.mutate();
      }}
    >
      <h3 id="edit-roles">Roles</h3>
      {roles.isPending && <Progress label="Loading roles…" />}
      <ProblemMessage error={roles.error} action="list the roles" />
      {roles.data && <RoleChecklist legend={`Roles of ${user.email}`} roles={roles.data} checked={chosen} onChange={setChosen} />}
      <ProblemMessage error={save.error} action="change these roles" />
      <div>
        <Button type="submit" variant="secondary" busy={save.isPending} disabled={unchanged || !roles.data}>
          Save roles
        </Button>
      </div>
    </form>
  );
}

function ManageUser({ user, onChanged, onClose }: { user: User; onChanged: (u: User) => void; onClose: () => void }) {
  const me = useSession((s) => s.me);
  const heading = useRef<HTMLHeadingElement>(null);
  useEffect(() => heading.current?.focus(), [user.id]);
  const toggle = useMutation({
    mutationFn: (disable: boolean) =>
      unwrap(api.PATCH('/api/v1/admin/users/{user_id}', { params: { path: { user_id: user.id } }, body: { is_disabled: disable } })),
    onSuccess: onChanged,
  });
  return (
    <section className={`card ${styles.panel}`} aria-labelledby="manage-user">
      <h2 id="manage-user" ref={heading} tabIndex={-1}>
        Manage {user.email}
      </h2>
      <div className="stack">
        <p>
          This account is{' '}
          {user.is_disabled ? <span className={styles.disabled}>disabled</span> : <strong>active</strong>}.
        </p>
        <div className={styles.actions}>
          {user.is_disabled ? (
            <Button variant="secondary" busy={toggle.isPending} onClick={() => toggle.mutate(false)}>
              Enable account
            </Button>
          ) : user.id !== me?.id ? (
            <ConfirmButton
              label="Disable account"
              question={`Disable ${user.email}? Their sessions end at once.`}
              confirmLabel="Yes, disable"
              busy={toggle.isPending}
              onConfirm={() => toggle.mutate(true)}
            />
          ) : null}
        </div>
        <ProblemMessage error={toggle.error} action={user.is_disabled ? 'enable accounts' : 'disable accounts'} />
      </div>
      <ResetPassword user={user} />
      <EditRoles user={user} onSaved={onChanged} />
      <div>
        <Button variant="quiet" onClick={onClose}>
          Close
        </Button>
      </div>
    </section>
  );
}

function UsersList() {
  const client = useQueryClient();
  const canManage = useSession(selectCan('users:manage'));
  const [draft, setDraft] = useState('');
  const [email, setEmail] = useState('');
  const [offset, setOffset] = useState(0);
  const [selected, setSelected] = useState<User | null>(null);
  const query = { email: email || undefined, limit: LIMIT, offset };
  const users = useQuery({
    queryKey: keys.users({ email, offset }),
    // The filter travels with its rows: while the next search loads, the previous rows stay on
    // screen (placeholderData), and their caption must still name the filter they answer.
    queryFn: async () => ({ email, page: await unwrap(api.GET('/api/v1/admin/users', { params: { query } })) }),
    placeholderData: (prev) => prev,
  });
  function search(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    setEmail(draft.trim());
    setOffset(0);
  }
  async function changed(u: User) {
    setSelected(u);
    client.setQueryData(keys.user(u.id), u);
    await client.invalidateQueries({ queryKey: keys.users() });
  }
  return (
    <>
      <form className={styles.search} role="search" aria-label="Users" onSubmit={search}>
        <TextField label="Email contains" name="email" type="search" value={draft} onChange={(e) => setDraft(e.target.value)} />
        <div className={styles.actions}>
          <Button type="submit" variant="secondary">
            Search
          </Button>
          {email && (
            <Button
              variant="quiet"
              onClick={() => {
                setDraft('');
                setEmail('');
                setOffset(0);
              }}
            >
              Show all
            </Button>
          )}
        </div>
      </form>
      {users.isPending ? (
        <Progress label="Loading users…" />
      ) : users.isError ? (
        <ProblemMessage error={users.error} action="list users" />
      ) : users.data.page.total === 0 ? (
        <EmptyState title={users.data.email ? `No user’s email contains “${users.data.email}”` : 'No users'} />
      ) : (
        <>
          <Table<User>
            caption={users.data.email ? `Users whose email contains “${users.data.email}”` : 'Users'}
            hideCaption={!users.data.email}
            busy={users.isPlaceholderData}
            columns={[
              { header: 'Email', cell: (u) => u.email },
              { header: 'Name', cell: (u) => u.display_name || <span className="muted">None</span> },
              { header: 'Roles', cell: (u) => (u.roles?.length ? u.roles.join(', ') : <span className="muted">None</span>) },
              {
                header: 'State',
                cell: (u) => (u.is_disabled ? <span className={styles.disabled}>Disabled</span> : 'Active'),
              },
              ...(canManage
                ? [
                    {
                      header: 'Actions',
                      cell: (u: User) => (
                        <Button variant="secondary" aria-label={`Manage ${u.email}`} onClick={() => setSelected(u)}>
                          Manage
                        </Button>
                      ),
                    },
                  ]
                : []),
            ]}
            rows={users.data.page.items}
            rowKey={(u) => u.id}
          />
          <Pager
            label="Users"
            total={users.data.page.total}
            limit={users.data.page.limit}
            offset={users.data.page.offset}
            onChange={setOffset}
          />
        </>
      )}
      {canManage && selected && <ManageUser user={selected} onChanged={changed} onClose={() => setSelected(null)} />}
    </>
  );
}

/** /admin/users: accounts (users:read); create, disable, passwords and roles with users:manage. */
export default function UsersPage() {
  const canManage = useSession(selectCan('users:manage'));
  return (
    <div className="stack">
      <Title>Users</Title>
      <h1>Users</h1>
      <RequireAuth>
        <UsersList />
        {canManage && <CreateUser />}
      </RequireAuth>
    </div>
  );
}
