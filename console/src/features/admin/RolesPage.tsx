import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { api, unwrap, type Schemas } from '@/api/client';
import { keys } from '@/api/keys';
import { Button } from '@/components/Button';
import { ProblemMessage } from '@/components/ProblemMessage';
import { Progress } from '@/components/Progress';
import { RequireAuth } from '@/components/RequireAuth';
import { Table } from '@/components/Table';
import { TextField } from '@/components/TextField';
import { Title } from '@/components/Title';
import { fieldError } from '@/lib/problem';
import { selectCan, useSession } from '@/store/session';
import { ConfirmButton } from '../common/ConfirmButton';
import { useReturnFocus } from '../common/useReturnFocus';
import styles from './admin.module.css';

type Role = Schemas['RoleOut'];

/** Every permission there is: the built-in admin role holds them all, so the union of the roles' is the catalogue. */
export function permissionCatalogue(roles: readonly Role[]): string[] {
  return [...new Set(roles.flatMap((r) => r.permissions))].sort();
}

function PermissionChecklist({
  legend,
  all,
  checked,
  onChange,
}: {
  legend: string;
  all: readonly string[];
  checked: readonly string[];
  onChange: (p: string[]) => void;
}) {
  return (
    <fieldset className={styles.checklist}>
      <legend>{legend}</legend>
      {all.map((p) => (
        <label key={p} className={styles.check}>
          <input
            type="checkbox"
            name="permissions"
            value={p}
            checked={checked.includes(p)}
            onChange={(e) => onChange(e.target.checked ? [...checked, p].sort() : checked.filter((x) => x !== p))}
          />
          <span className={styles.code}>{p}</span>
        </label>
      ))}
    </fieldset>
  );
}

function RoleForm({
  role,
  all,
  onDone,
}: {
  /** Absent: a new role. */
  role?: Role;
  all: readonly string[];
  onDone: () => void;
}) {
  const client = useQueryClient();
  const [name, setName] = useState('');
  const [description, setDescription] = useState(role?.description ?? '');
  const [perms, setPerms] = useState<string[]>(role ? [...role.permissions].sort() : []);
  const save = useMutation({
    mutationFn: () =>
      role
        ? unwrap(api.PATCH('/api/v1/admin/roles/{name}', { params: { path: { name: role.name } }, body: { description, permissions: perms } }))
        : unwrap(api.POST('/api/v1/admin/roles', { body: { name: name.trim(), description, permissions: perms } })),
    onSuccess: async () => {
      await client.invalidateQueries({ queryKey: keys.roles() });
      // A role's permissions reach its holders: their listed permissions change too.
      await client.invalidateQueries({ queryKey: keys.users() });
      if (!role) {
        setName('');
        setDescription('');
        setPerms([]);
      }
      onDone();
    },
  });
  function submit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    save.mutate();
  }
  const what = role ? `Change the role ${role.name}` : 'New role';
  return (
    <form className={styles.form} onSubmit={submit} aria-label={what} noValidate>
      {!role && (
        <TextField
          label="Name"
          name="name"
          hint="Lower-case letters, digits, - and _; starts with a letter; 2 to 64 characters."
          required
          value={name}
          onChange={(e) => setName(e.target.value)}
          error={fieldError(save.error, 'name')}
        />
      )}
      <TextField
        label="Description"
        name="description"
        maxLength={255}
        value={description}
        onChange={(e) => setDescription(e.target.value)}
        error={fieldError(save.error, 'description')}
        autoFocus={Boolean(role)}
      />
      <PermissionChecklist legend="Permissions" all={all} checked={perms} onChange={setPerms} />
      <ProblemMessage
        error={save.error}
        action={role ? 'change roles' : 'create roles'}
        shownFields={['name', 'description']}
      />
      <div className={styles.actions}>
        <Button type="submit" busy={save.isPending} disabled={!role && !name.trim()}>
          {role ? 'Save role' : 'Create role'}
        </Button>
        {role && (
          <Button variant="quiet" onClick={onDone}>
            Cancel
          </Button>
        )}
      </div>
    </form>
  );
}

function RoleActions({ role, all }: { role: Role; all: readonly string[] }) {
  const client = useQueryClient();
  const [editing, setEditing] = useState(false);
  const editButton = useReturnFocus<HTMLButtonElement>(editing);
  const remove = useMutation({
    mutationFn: () => unwrap(api.DELETE('/api/v1/admin/roles/{name}', { params: { path: { name: role.name } } })),
    onSuccess: async () => {
      await client.invalidateQueries({ queryKey: keys.roles() });
      await client.invalidateQueries({ queryKey: keys.users() });
    },
  });
  if (role.builtin) return <span className="muted">Built in: cannot change</span>;
  if (editing) return <RoleForm role={role} all={all} onDone={() => setEditing(false)} />;
  return (
    <div className="stack">
      <div className={styles.actions}>
        <Button ref={editButton} variant="secondary" aria-label={`Edit ${role.name}`} onClick={() => setEditing(true)}>
          Edit
        </Button>
        <ConfirmButton
          label="Delete"
          ariaLabel={`Delete ${role.name}`}
          question={`Delete the role ${role.name}? Its holders lose its permissions.`}
          confirmLabel="Yes, delete"
          busy={remove.isPending}
          onConfirm={() => remove.mutate()}
        />
      </div>
      <ProblemMessage error={remove.error} action="delete roles" />
    </div>
  );
}

function Roles() {
  const canManage = useSession(selectCan('roles:manage'));
  const roles = useQuery({ queryKey: keys.roles(), queryFn: () => unwrap(api.GET('/api/v1/admin/roles')) });
  if (roles.isPending) return <Progress label="Loading roles…" />;
  if (roles.isError) return <ProblemMessage error={roles.error} action="list the roles" />;
  const all = permissionCatalogue(roles.data);
  return (
    <>
      <Table<Role>
        caption="Roles and their permissions"
        hideCaption
        columns={[
          {
            header: 'Role',
            cell: (r) => (
              <>
                <strong>{r.name}</strong> {r.builtin && <span className="badge">built in</span>}
                {r.description && <div className="muted">{r.description}</div>}
              </>
            ),
          },
          {
            header: 'Permissions',
            cell: (r) =>
              r.permissions.length ? (
                <ul className={styles.perms} aria-label={`Permissions of ${r.name}`}>
                  {[...r.permissions].sort().map((p) => (
                    <li key={p} className={`badge ${styles.code}`}>
                      {p}
                    </li>
                  ))}
                </ul>
              ) : (
                <span className="muted">None</span>
              ),
          },
          ...(canManage ? [{ header: 'Actions', cell: (r: Role) => <RoleActions role={r} all={all} /> }] : []),
        ]}
        rows={roles.data}
        rowKey={(r) => r.name}
      />
      {canManage && (
        <section aria-labelledby="new-role" className="card">
          <h2 id="new-role">New role</h2>
          <RoleForm all={all} onDone={() => undefined} />
        </section>
      )}
    </>
  );
}

/** /admin/roles: roles and their permissions (users:read); custom roles with roles:manage. Grants are on /admin/users. */
export default function RolesPage() {
  return (
    <div className="stack">
      <Title>Roles</Title>
      <h1>Roles</h1>
      <RequireAuth>
        <p className="muted">Give people roles on the Users page. Built-in roles cannot change.</p>
        <Roles />
      </RequireAuth>
    </div>
  );
}
