import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import Link from 'next/link';
import { useRouter } from 'next/router';
import { useState, type FormEvent } from 'react';
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
import { Pager } from '../common/Pager';
import styles from './projects.module.css';

type Project = Schemas['ProjectOut'];

const LIMIT = 20;

export function projectHref(id: string): string {
  return `/projects/view/?id=${encodeURIComponent(id)}`;
}

export function formatDate(iso: string): string {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString();
}

function CreateProject() {
  const client = useQueryClient();
  const router = useRouter();
  const [name, setName] = useState('');
  const [description, setDescription] = useState('');
  const create = useMutation({
    mutationFn: () => unwrap(api.POST('/api/v1/projects', { body: { name: name.trim(), description } })),
    onSuccess: async (project) => {
      await client.invalidateQueries({ queryKey: keys.projects() });
      await router.push(projectHref(project.id));
    },
  });
  function submit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    create.mutate();
  }
  return (
    <section aria-labelledby="create-project" className="card">
      <h2 id="create-project">New project</h2>
      <form className={styles.form} onSubmit={submit} noValidate>
        <TextField
          label="Name"
          name="name"
          required
          maxLength={200}
          value={name}
          onChange={(e) => setName(e.target.value)}
          error={fieldError(create.error, 'name')}
        />
        <TextField
          label="Description"
          name="description"
          hint="Optional."
          maxLength={2000}
          value={description}
          onChange={(e) => setDescription(e.target.value)}
          error={fieldError(create.error, 'description')}
        />
        <ProblemMessage error={create.error} action="create projects" shownFields={['name', 'description']} />
        <div>
          <Button type="submit" busy={create.isPending} disabled={!name.trim()}>
            {create.isPending ? 'Creating…' : 'Create project'}
          </Button>
        </div>
      </form>
    </section>
  );
}

function ProjectsList() {
  const [offset, setOffset] = useState(0);
  const projects = useQuery({
    queryKey: [...keys.projects(), { offset }],
    queryFn: () => unwrap(api.GET('/api/v1/projects', { params: { query: { limit: LIMIT, offset } } })),
  });
  if (projects.isPending) return <Progress label="Loading projects…" />;
  if (projects.isError) return <ProblemMessage error={projects.error} action="list projects" />;
  const page = projects.data;
  if (page.total === 0) {
    return <EmptyState title="No projects yet">Projects you create or are added to appear here.</EmptyState>;
  }
  return (
    <>
      <Table<Project>
        caption="Your projects"
        columns={[
          { header: 'Name', cell: (p) => <Link href={projectHref(p.id)}>{p.name}</Link> },
          { header: 'Description', cell: (p) => p.description || <span className="muted">None</span> },
          { header: 'Created', cell: (p) => formatDate(p.created_at) },
        ]}
        rows={page.items}
        rowKey={(p) => p.id}
      />
      <Pager label="Projects" total={page.total} limit={page.limit} offset={page.offset} onChange={setOffset} />
    </>
  );
}

/** /projects: the caller's projects, and a form to make one (with projects:create). */
export default function ProjectsPage() {
  const canCreate = useSession(selectCan('projects:create'));
  return (
    <div className="stack">
      <Title>Projects</Title>
      <h1>Projects</h1>
      <RequireAuth>
        <ProjectsList />
        {canCreate && <CreateProject />}
      </RequireAuth>
    </div>
  );
}
