import { useMutation, useQueries, useQueryClient, type UseQueryResult } from '@tanstack/react-query';
import { useId, useState, type FormEvent } from 'react';
import { api, unwrap, type Schemas } from '@/api/client';
import { keys } from '@/api/keys';
import { Button } from '@/components/Button';
import { ProblemMessage } from '@/components/ProblemMessage';
import { Progress } from '@/components/Progress';
import { Table } from '@/components/Table';
import { TextField } from '@/components/TextField';
import { selectCan, useSession } from '@/store/session';
import { ConfirmButton } from '../common/ConfirmButton';
import { resolveUserId } from '../common/users';
import { PROJECT_ROLES, type ProjectRole } from './access';
import styles from './projects.module.css';

type Project = Schemas['ProjectOut'];
type Member = Schemas['MemberOut'];

function RoleSelect({
  value,
  onChange,
  label,
  hideLabel = false,
}: {
  value: ProjectRole;
  onChange: (r: ProjectRole) => void;
  label: string;
  hideLabel?: boolean;
}) {
  const id = useId();
  return (
    <div className="field">
      <label htmlFor={id} className={hideLabel ? 'visually-hidden' : undefined}>
        {label}
      </label>
      <select id={id} value={value} onChange={(e) => onChange(e.target.value as ProjectRole)}>
        {PROJECT_ROLES.map((r) => (
          <option key={r} value={r}>
            {r}
          </option>
        ))}
      </select>
    </div>
  );
}

function AddMember({ projectId }: { projectId: string }) {
  const client = useQueryClient();
  const canLookUp = useSession(selectCan('users:read'));
  const [who, setWho] = useState('');
  const [role, setRole] = useState<ProjectRole>('viewer');
  const add = useMutation({
    mutationFn: async () => {
      const userId = await resolveUserId(who, canLookUp);
      return unwrap(
        api.PUT('/api/v1/projects/{project_id}/members/{user_id}', {
          params: { path: { project_id: projectId, user_id: userId } },
          body: { role },
        }),
      );
    },
    onSuccess: async () => {
      setWho('');
      await client.invalidateQueries({ queryKey: keys.members(projectId) });
    },
  });
  function submit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    add.mutate();
  }
  return (
    <form onSubmit={submit} className="stack" aria-labelledby="add-member" noValidate>
      <h3 id="add-member">Add a member</h3>
      <div className={styles.inline}>
        <TextField
          label="User"
          name="user"
          hint={canLookUp ? 'Their email address or user ID.' : 'Their user ID (they find it on their account page).'}
          autoComplete="off"
          value={who}
          onChange={(e) => setWho(e.target.value)}
        />
        <RoleSelect label="Role" value={role} onChange={setRole} />
        <div>
          <Button type="submit" busy={add.isPending} disabled={!who.trim()}>
            Add member
          </Button>
        </div>
      </div>
      <ProblemMessage error={add.error} action="add members to this project" />
    </form>
  );
}

function MemberActions({ project, member, label }: { project: Project; member: Member; label: string }) {
  const client = useQueryClient();
  const [role, setRole] = useState<ProjectRole>(member.role);
  const path = { project_id: project.id, user_id: member.user_id };
  const change = useMutation({
    mutationFn: () => unwrap(api.PUT('/api/v1/projects/{project_id}/members/{user_id}', { params: { path }, body: { role } })),
    onSuccess: () => client.invalidateQueries({ queryKey: keys.members(project.id) }),
  });
  const remove = useMutation({
    mutationFn: () => unwrap(api.DELETE('/api/v1/projects/{project_id}/members/{user_id}', { params: { path } })),
    onSuccess: () => client.invalidateQueries({ queryKey: keys.members(project.id) }),
  });
  return (
    <div className="stack">
      <div className={styles.actions}>
        <RoleSelect label={`Role of ${label}`} hideLabel value={role} onChange={setRole} />
        <Button
          variant="secondary"
          aria-label={`Change role of ${label}`}
          disabled={role === member.role}
          busy={change.isPending}
          onClick={() => change.mutate()}
        >
          Change role
        </Button>
        {member.user_id !== project.owner_id && (
          <ConfirmButton
            label="Remove"
            ariaLabel={`Remove ${label}`}
            question={`Remove ${label} from the project?`}
            confirmLabel="Yes, remove"
            busy={remove.isPending}
            onConfirm={() => remove.mutate()}
          />
        )}
      </div>
      <ProblemMessage error={change.error} action="change members’ roles" />
      <ProblemMessage error={remove.error} action="remove members" />
    </div>
  );
}

export interface MembersSectionProps {
  project: Project;
  members: UseQueryResult<Member[]>;
  canManage: boolean;
}

/** Who is in the project with which role; owners add, change and remove members. */
export function MembersSection({ project, members, canManage }: MembersSectionProps) {
  const me = useSession((s) => s.me);
  const canLookUp = useSession(selectCan('users:read'));
  const list = members.data ?? [];
  // Emails for holders of users:read; everyone else sees ids (the API shows members by id).
  const accounts = useQueries({
    queries: list.map((m) => ({
      queryKey: keys.user(m.user_id),
      queryFn: () => unwrap(api.GET('/api/v1/admin/users/{user_id}', { params: { path: { user_id: m.user_id } } })),
      enabled: canLookUp,
      staleTime: 60_000,
    })),
  });
  const labelOf = (m: Member, i: number): string => {
    if (m.user_id === me?.id) return `${me.email} (you)`;
    return accounts[i]?.data?.email ?? m.user_id;
  };
  const indexed = list.map((m, i) => ({ m, label: labelOf(m, i) }));
  return (
    <section aria-labelledby="members" className="stack">
      <h2 id="members">Members</h2>
      {members.isPending ? (
        <Progress label="Loading members…" />
      ) : members.isError ? (
        <ProblemMessage error={members.error} action="see this project’s members" />
      ) : (
        <Table
          caption="Member list"
          hideCaption
          columns={[
            { header: 'Member', cell: (r) => (r.label === r.m.user_id ? <span className={styles.hash}>{r.label}</span> : r.label) },
            {
              header: 'Role',
              cell: (r) => (
                <>
                  {r.m.role}
                  {r.m.user_id === project.owner_id && <span className="muted"> (creator)</span>}
                </>
              ),
            },
            ...(canManage
              ? [{ header: 'Actions', cell: (r: (typeof indexed)[number]) => <MemberActions project={project} member={r.m} label={r.label} /> }]
              : []),
          ]}
          rows={indexed}
          rowKey={(r) => r.m.user_id}
        />
      )}
      {canManage && <AddMember projectId={project.id} />}
    </section>
  );
}
