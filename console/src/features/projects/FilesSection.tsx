import { useMutation, useQueries, useQuery, useQueryClient, type Query } from '@tanstack/react-query';
import { useId, useRef, useState, type FormEvent } from 'react';
import { api, unwrap, type Schemas } from '@/api/client';
import { keys } from '@/api/keys';
import { Button } from '@/components/Button';
import { EmptyState } from '@/components/EmptyState';
import { ProblemMessage } from '@/components/ProblemMessage';
import { Progress } from '@/components/Progress';
import { Table } from '@/components/Table';
import { ConfirmButton } from '../common/ConfirmButton';
import { Pager } from '../common/Pager';
import { goTo } from './navigate';
import { formatBytes, percentOf, uploadFile, type UploadApi, type UploadPhase } from './upload';
import styles from './projects.module.css';

type StoredFile = Schemas['FileOut'];

const LIMIT = 50;

/** Where a file is in its life: pending (declared) → uploaded (the worker checks it) → ready | rejected. */
const STAGE: Record<string, number> = { pending: 0, uploaded: 1, ready: 2, rejected: 2 };

export function isProcessing(status: string): boolean {
  return status === 'uploaded';
}

/** While the worker checks a file: every second at first, slowing to every 5 s. */
export function pollInterval(status: string | undefined, polls: number): number | false {
  if (status !== undefined && !isProcessing(status)) return false;
  return Math.min(5000, 1000 + 250 * polls);
}

/** The newer of the list's copy and the polled one (the list may lag behind the poll). */
export function latest(listed: StoredFile, polled: StoredFile | undefined): StoredFile {
  if (!polled) return listed;
  return (STAGE[polled.status] ?? 0) >= (STAGE[listed.status] ?? 0) ? polled : listed;
}

export function statusText(f: StoredFile): string {
  switch (f.status) {
    case 'pending':
      return 'Waiting for the upload';
    case 'uploaded':
      return 'Checking…';
    case 'ready':
      return 'Ready';
    case 'rejected':
      return f.reason ? `Rejected: ${f.reason}` : 'Rejected';
    default:
      return f.status;
  }
}

function uploadApi(projectId: string): UploadApi<StoredFile> {
  const project_id = projectId;
  return {
    declare: (body) => unwrap(api.POST('/api/v1/projects/{project_id}/files', { params: { path: { project_id } }, body })),
    complete: (file_id) =>
      unwrap(api.POST('/api/v1/projects/{project_id}/files/{file_id}/complete', { params: { path: { project_id, file_id } } })),
    discard: async (file_id) => {
      await unwrap(api.DELETE('/api/v1/projects/{project_id}/files/{file_id}', { params: { path: { project_id, file_id } } }));
    },
  };
}

const PHASE_TEXT: Record<Exclude<UploadPhase, 'uploading'>, string> = {
  hashing: 'Computing the checksum of',
  declaring: 'Preparing',
  completing: 'Finishing',
  done: 'Uploaded',
};

interface UploadState {
  phase: UploadPhase;
  name: string;
  loaded: number;
  total: number;
}

function UploadForm({ projectId }: { projectId: string }) {
  const client = useQueryClient();
  const inputId = useId();
  const input = useRef<HTMLInputElement>(null);
  const abort = useRef<AbortController | null>(null);
  const [chosen, setChosen] = useState<File | null>(null);
  const [state, setState] = useState<UploadState | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [finished, setFinished] = useState<string | null>(null);
  const busy = state !== null && state.phase !== 'done';

  async function submit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const file = chosen;
    if (!file) return;
    setError(null);
    setFinished(null);
    if (file.size === 0) {
      setError(new Error(`${file.name} is empty; choose a file with something in it`));
      return;
    }
    const ctl = new AbortController();
    abort.current = ctl;
    setState({ phase: 'hashing', name: file.name, loaded: 0, total: file.size });
    try {
      const done = await uploadFile(file, uploadApi(projectId), {
        signal: ctl.signal,
        onPhase: (phase) => setState((s) => (s ? { ...s, phase } : s)),
        onProgress: (loaded, total) => setState((s) => (s ? { ...s, loaded, total } : s)),
      });
      client.setQueryData(keys.file(projectId, done.id), done);
      setFinished(`${file.name} is uploaded; it is being checked.`);
      setChosen(null);
      if (input.current) input.current.value = '';
    } catch (err) {
      setError(err);
    } finally {
      abort.current = null;
      setState(null);
      await client.invalidateQueries({ queryKey: keys.files(projectId) });
    }
  }

  const percent = state ? percentOf(state.loaded, state.total) : 0;
  return (
    <form className={styles.upload} onSubmit={submit} aria-labelledby="upload-title" noValidate>
      <h3 id="upload-title">Upload a file</h3>
      <div className="field">
        <label htmlFor={inputId}>File</label>
        <input
          ref={input}
          id={inputId}
          name="file"
          type="file"
          disabled={busy}
          onChange={(e) => {
            setChosen(e.target.files?.[0] ?? null);
            setError(null);
            setFinished(null);
          }}
        />
      </div>
      {state && state.phase === 'uploading' && (
        <Progress
          label={`Uploading ${state.name}: ${percent} % (${formatBytes(state.loaded)} of ${formatBytes(state.total)})`}
          value={percent}
        />
      )}
      {state && state.phase !== 'uploading' && <Progress label={`${PHASE_TEXT[state.phase]} ${state.name}…`} />}
      {finished && (
        <p className="notice" role="status">
          {finished}
        </p>
      )}
      <ProblemMessage error={error} action="upload files to this project" />
      <div className={styles.actions}>
        <Button type="submit" disabled={!chosen} busy={busy}>
          Upload
        </Button>
        {busy && (
          <Button variant="secondary" onClick={() => abort.current?.abort()}>
            Cancel upload
          </Button>
        )}
      </div>
    </form>
  );
}

function FileActions({ projectId, file, canEdit }: { projectId: string; file: StoredFile; canEdit: boolean }) {
  const client = useQueryClient();
  const path = { project_id: projectId, file_id: file.id };
  const download = useMutation({
    mutationFn: () => unwrap(api.GET('/api/v1/projects/{project_id}/files/{file_id}/download', { params: { path } })),
    onSuccess: (d) => goTo(d.url),
  });
  const remove = useMutation({
    mutationFn: () => unwrap(api.DELETE('/api/v1/projects/{project_id}/files/{file_id}', { params: { path } })),
    onSuccess: async () => {
      client.removeQueries({ queryKey: keys.file(projectId, file.id) });
      await client.invalidateQueries({ queryKey: keys.files(projectId) });
    },
  });
  return (
    <div className="stack">
      <div className={styles.actions}>
        {file.status === 'ready' && (
          <Button variant="secondary" aria-label={`Download ${file.name}`} busy={download.isPending} onClick={() => download.mutate()}>
            Download
          </Button>
        )}
        {canEdit && (
          <ConfirmButton
            label="Delete"
            ariaLabel={`Delete ${file.name}`}
            question={`Delete ${file.name}?`}
            confirmLabel="Yes, delete"
            busy={remove.isPending}
            onConfirm={() => remove.mutate()}
          />
        )}
      </div>
      <ProblemMessage error={download.error} action="download this file" />
      <ProblemMessage error={remove.error} action="delete files in this project" />
    </div>
  );
}

/** The project's files, their check results (polled while the worker works), and uploads for editors. */
export function FilesSection({ projectId, canEdit }: { projectId: string; canEdit: boolean }) {
  const [offset, setOffset] = useState(0);
  const files = useQuery({
    queryKey: [...keys.files(projectId), { offset }],
    queryFn: () =>
      unwrap(api.GET('/api/v1/projects/{project_id}/files', { params: { path: { project_id: projectId }, query: { limit: LIMIT, offset } } })),
  });
  const processing = (files.data?.items ?? []).filter((f) => isProcessing(f.status));
  const polled = useQueries({
    queries: processing.map((f) => ({
      queryKey: keys.file(projectId, f.id),
      queryFn: () =>
        unwrap(api.GET('/api/v1/projects/{project_id}/files/{file_id}', { params: { path: { project_id: projectId, file_id: f.id } } })),
      refetchInterval: (q: Query<StoredFile>) => pollInterval(q.state.data?.status, q.state.dataUpdateCount),
      staleTime: 0,
    })),
  });
  const fresh = new Map<string, StoredFile>();
  polled.forEach((q) => q.data && fresh.set(q.data.id, q.data));
  const rows = (files.data?.items ?? []).map((f) => latest(f, fresh.get(f.id)));

  return (
    <section aria-labelledby="files" className="stack">
      <h2 id="files">Files</h2>
      {canEdit && <UploadForm projectId={projectId} />}
      {files.isPending ? (
        <Progress label="Loading files…" />
      ) : files.isError ? (
        <ProblemMessage error={files.error} action="see this project’s files" />
      ) : files.data.total === 0 ? (
        <EmptyState title="No files yet">{canEdit ? 'Upload one above.' : 'Editors of the project can upload files.'}</EmptyState>
      ) : (
        <>
          <Table<StoredFile>
            caption="File list"
            hideCaption
            columns={[
              { header: 'Name', cell: (f) => f.name },
              { header: 'Size', numeric: true, cell: (f) => <span className={styles.nowrap}>{formatBytes(f.size)}</span> },
              {
                header: 'Check',
                cell: (f) => (
                  <span
                    aria-live="polite"
                    className={[styles.status, f.status === 'ready' ? styles.ready : f.status === 'rejected' ? styles.rejected : '']
                      .filter(Boolean)
                      .join(' ')}
                  >
                    {statusText(f)}
                  </span>
                ),
              },
              {
                header: 'Type',
                cell: (f) =>
                  f.detected_type ? (
                    <>
                      {f.detected_type}
                      {f.detected_type !== f.content_type && <span className="muted"> (sent as {f.content_type})</span>}
                    </>
                  ) : (
                    <span className="muted">{f.content_type} (declared)</span>
                  ),
              },
              { header: 'SHA-256', cell: (f) => <span className={styles.hash}>{f.sha256}</span> },
              { header: 'Actions', cell: (f) => <FileActions projectId={projectId} file={f} canEdit={canEdit} /> },
            ]}
            rows={rows}
            rowKey={(f) => f.id}
          />
          <Pager label="Files" total={files.data.total} limit={files.data.limit} offset={files.data.offset} onChange={setOffset} />
        </>
      )}
    </section>
  );
}
