/**
 * File uploads: the bytes go straight to S3 with the presigned PUT the API hands out (they never
 * pass through the app), with XMLHttpRequest because fetch() reports no upload progress.
 */

/** Whole percent of `loaded` out of `total`, 0–100; 0 while the total is unknown. */
export function percentOf(loaded: number, total: number): number {
  if (!(total > 0) || !(loaded > 0)) return 0;
  return Math.min(100, Math.floor((loaded / total) * 100));
}

/** A byte count people read: 1.5 MB, 320 kB, 12 B (decimal units, as browsers show). */
export function formatBytes(bytes: number): string {
  if (bytes < 1000) return `${bytes} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let v = bytes;
  let i = -1;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i += 1;
  }
  return `${v >= 100 ? Math.round(v) : v.toFixed(1)} ${units[i] ?? ''}`;
}

export type UploadFailure = 'network' | 'http' | 'aborted';

/** The PUT to storage failed; `message` is readable, `code` is S3's error code when it sent one. */
export class UploadError extends Error {
  constructor(
    readonly failure: UploadFailure,
    message: string,
    readonly status = 0,
    readonly code: string | null = null,
  ) {
    super(message);
    this.name = 'UploadError';
  }
}

/** S3 answers errors as XML: <Error><Code>…</Code><Message>…</Message></Error>. */
export function s3ErrorOf(body: string): { code: string | null; message: string | null } {
  const pick = (tag: string) => {
    const m = new RegExp(`<${tag}>([^<]*)</${tag}>`).exec(body);
    return m?.[1]?.trim() || null;
  };
  return { code: pick('Code'), message: pick('Message') };
}

// The browser sets these itself and refuses to let scripts set them.
const FORBIDDEN = new Set(['content-length', 'host', 'connection']);

export interface PutOptions {
  url: string;
  headers: Record<string, string>;
  body: Blob;
  onProgress?: (loaded: number, total: number) => void;
  signal?: AbortSignal;
  /** Tests pass a fake. */
  xhr?: () => XMLHttpRequest;
}

/** PUT `body` to a presigned URL, reporting upload progress; resolves on a 2xx answer. */
export function putWithProgress(opts: PutOptions): Promise<void> {
  return new Promise((resolve, reject) => {
    if (opts.signal?.aborted) {
      reject(new UploadError('aborted', 'The upload was cancelled.'));
      return;
    }
    const xhr = opts.xhr ? opts.xhr() : new XMLHttpRequest();
    const onAbortSignal = () => xhr.abort();
    const done = () => opts.signal?.removeEventListener('abort', onAbortSignal);
    xhr.open('PUT', opts.url);
    for (const [name, value] of Object.entries(opts.headers)) {
      if (!FORBIDDEN.has(name.toLowerCase())) xhr.setRequestHeader(name, value);
    }
    xhr.upload.onprogress = (e: ProgressEvent) => {
      opts.onProgress?.(e.loaded, e.lengthComputable ? e.total : opts.body.size);
    };
    xhr.onload = () => {
      done();
      if (xhr.status >= 200 && xhr.status < 300) {
        opts.onProgress?.(opts.body.size, opts.body.size);
        resolve();
        return;
      }
      const { code, message } = s3ErrorOf(typeof xhr.responseText === 'string' ? xhr.responseText : '');
      const what = message ?? code ?? `HTTP ${xhr.status}`;
      reject(new UploadError('http', `Storage refused the upload: ${what}.`, xhr.status, code));
    };
    xhr.onerror = () => {
      done();
      reject(new UploadError('network', 'Storage did not answer; check your connection and try again.'));
    };
    xhr.onabort = () => {
      done();
      reject(new UploadError('aborted', 'The upload was cancelled.'));
    };
    opts.signal?.addEventListener('abort', onAbortSignal);
    xhr.send(opts.body);
  });
}

/** Lower-case hex SHA-256 of the file: the API signs it into the upload URL. */
export async function sha256Hex(blob: Blob): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', new Uint8Array(await blob.arrayBuffer()));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
}

export type UploadPhase = 'hashing' | 'declaring' | 'uploading' | 'completing' | 'done';

export interface Declared<F> {
  file: F & { id: string };
  upload_url: string;
  upload_method?: string;
  upload_headers: Record<string, string>;
}

/** What uploadFile needs from the API (the component wires these to the client). */
export interface UploadApi<F> {
  declare(body: { name: string; content_type: string; size: number; sha256: string }): Promise<Declared<F>>;
  complete(fileId: string): Promise<F>;
  /** Best effort: remove a declared file whose bytes never arrived. */
  discard(fileId: string): Promise<void>;
}

export interface UploadHooks {
  onPhase?: (phase: UploadPhase) => void;
  onProgress?: (loaded: number, total: number) => void;
  signal?: AbortSignal;
  xhr?: () => XMLHttpRequest;
  hash?: (blob: Blob) => Promise<string>;
}

/**
 * Declare the file (name, type, size, checksum), PUT the bytes to the presigned URL, then tell
 * the API the upload finished; the worker checks it afterwards. A failed or cancelled PUT
 * discards the declared file so no half-made row stays behind.
 */
export async function uploadFile<F>(file: File, api: UploadApi<F>, hooks: UploadHooks = {}): Promise<F> {
  hooks.onPhase?.('hashing');
  const sha256 = await (hooks.hash ?? sha256Hex)(file);
  if (hooks.signal?.aborted) throw new UploadError('aborted', 'The upload was cancelled.');
  hooks.onPhase?.('declaring');
  const declared = await api.declare({
    name: file.name,
    content_type: file.type || 'application/octet-stream',
    size: file.size,
    sha256,
  });
  hooks.onPhase?.('uploading');
  try {
    await putWithProgress({
      url: declared.upload_url,
      headers: declared.upload_headers,
      body: file,
      onProgress: hooks.onProgress,
      signal: hooks.signal,
      xhr: hooks.xhr,
    });
  } catch (err) {
    await api.discard(declared.file.id).catch(() => undefined);
    throw err;
  }
  hooks.onPhase?.('completing');
  const completed = await api.complete(declared.file.id);
  hooks.onPhase?.('done');
  return completed;
}
