import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import Link from 'next/link';
import { useRouter } from 'next/router';
import { useState, type FormEvent } from 'react';
import { api, unwrap, type Schemas } from '@/api/client';
import { keys } from '@/api/keys';
import { Button } from '@/components/Button';
import { ProblemMessage } from '@/components/ProblemMessage';
import { Progress } from '@/components/Progress';
import { RequireAuth } from '@/components/RequireAuth';
import { TextField } from '@/components/TextField';
import { Title } from '@/components/Title';
import { fieldError } from '@/lib/problem';
import { useSession } from '@/store/session';
import { ConfirmButton } from '../common/ConfirmButton';
import { useReturnFocus } from '../common/useReturnFocus';
import { abilitiesOf, type ProjectAbilities } from './access';
import { FilesSection } from './FilesSection';
import { MembersSection } from './MembersSection';
import { formatDate } from './ProjectsPage';
import styles from './projects.module.css';

type Project = Schemas['ProjectOut'];

function RenameForm({ project, onDone }: { project: Project; onDone: () => void }) {
  const client = useQueryClient();
  const [name, setName] = useState(project.name);
  const [description, setDescription] = useState(project.description);
  const save = useMutation({
    mutationFn: () =>
      unwrap(
        api.PATCH('/api/v1/projects/{project_id}', {
          params: { path: { project_id: project.id } },
          body: { name: name.trim(), description },
        }),
      ),
    onSuccess: async (saved) => {
      client.setQueryData(keys.project(project.id), saved);
      await client.invalidateQueries({ queryKey: keys.projects(), exact: false, refetchType: 'none' });
      onDone();
    },
  });
  function submit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    save.mutate();
  }
  return (
    <form className={styles.form} onSubmit={submit} aria-label="Rename the project" noValidate>
      <TextField
        label="Name"
        name="name"
        required
        maxLength={200}
        value={name}
        onChange={(e) => setName(e.target.value)}
        error={fieldError(save.error, 'name')}
        autoFocus
      />
      <TextField
        label="Description"
        name="description"
        maxLength={2000}
        value={description}
        onChange={(e) => setDescription(e.target.value)}
        error={fieldError(save.error, 'description')}
      />
      <ProblemMessage error={save.error} action="change this project" shownFields={['name', 'description']} />
      <div className={styles.actions}>
        <Button type="submit" busy={save.isPending} disabled={!name.trim()}>
          Save
        </Button>
        <Button variant="quiet" onClick={onDone}>
          Cancel
        </Button>
      </div>
    </form>
  );
}

function Details({ project, can }: { project: Project; can: ProjectAbilities }) {
  const client = useQueryClient();
  const router = useRouter();
  const [editing, setEditing] = useState(false);
  const renameButton = useReturnFocus<HTMLButtonElement>(editing);
  const remove = useMutation({
    mutationFn: () =>
      unwrap(api.DELETE('/api/v1/projects/{project_id}', { params: { path: { project_id: project.id } } })),
    onSuccess: async () => {
      client.removeQueries({ queryKey: keys.project(project.id) });
      await client.invalidateQueries({ queryKey: keys.projects() });
      await router.push('/projects/');
    },
  });
  return (
    <section aria-label="About the project" className={`stack ${styles.details}`}>
      {editing ? (
        <RenameForm project={project} onDone={() => setEditing(false)} />
      ) : (
        <>
          {project.description ? (
            <p className={styles.description}>{project.description}</p>
          ) : (
            <p className="muted">No description.</p>
          )}
          <p className="muted">Created {formatDate(project.created_at)}</p>
          {(can.edit || can.own) && (
            <div className={styles.actions}>
              {can.edit && (
                <Button ref={renameButton} variant="secondary" onClick={() => setEditing(true)}>
                  Rename
                </Button>
              )}
              {can.own && (
                <ConfirmButton
                  label="Delete project"
                  question={`Delete ${project.name} and all its files?`}
                  confirmLabel="Yes, delete the project"
                  busy={remove.isPending}
                  onConfirm={() => remove.mutate()}
                />
              )}
            </div>
          )}
          <ProblemMessage error={remove.error} action="delete this project" />
        </>
      )}
    </section>
  );
}

function ProjectView({ id }: { id: string }) {
  const me = useSession((s) => s.me);
  const project = useQuery({
    queryKey: keys.project(id),
    queryFn: () => unwrap(api.GET('/api/v1/projects/{project_id}', { params: { path: { project_id: id } } })),
  });
  const members = useQuery({
    queryKey: keys.members(id),
    queryFn: () =>
      unwrap(api.GET('/api/v1/projects/{project_id}/members', { params: { path: { project_id: id } } })),
    enabled: project.isSuccess,
  });
  if (project.isPending) {
    return (
      <>
        <h1>Project</h1>
        <Progress label="Loading the project…" />
      </>
    );
  }
  if (project.isError) {
    return (
      <>
        <h1>Project</h1>
        <ProblemMessage error={project.error} action="open this project" />
        <p>
          <Link href="/projects/">Back to your projects</Link>
        </p>
      </>
    );
  }
  const p = project.data;
  const role = members.data?.find((m) => m.user_id === me?.id)?.role ?? null;
  const can = abilitiesOf(role, me?.permissions ?? []);
  return (
    <>
      <Title>{p.name}</Title>
      <div className={styles.header}>
        <h1>{p.name}</h1>
        {role && <span className="badge">Your role: {role}</span>}
      </div>
      <Details project={p} can={can} />
      <FilesSection projectId={p.id} canEdit={can.edit} />
      <MembersSection project={p} members={members} canManage={can.own} />
    </>
  );
}

/** /projects/view/?id=…: one project, its files and its members. */
export default function ProjectPage() {
  const router = useRouter();
  const id = typeof router.query.id === 'string' && router.query.id ? router.query.id : null;
  return (
    <div className="stack">
      <Title>Project</Title>
      <RequireAuth>
        {!router.isReady ? (
          <Progress label="Opening the project…" />
        ) : id ? (
          <ProjectView id={id} />
        ) : (
          <>
            <h1>Project</h1>
            <p className="problem" role="alert">
              This address names no project. <Link href="/projects/">Choose one from your projects</Link>.
            </p>
          </>
        )}
      </RequireAuth>
    </div>
  );
}
