import { describe, expect, it, vi } from 'vitest';
import {
  formatBytes,
  percentOf,
  putWithProgress,
  s3ErrorOf,
  uploadFile,
  UploadError,
  type UploadApi,
} from './upload';

/** Just enough of XMLHttpRequest for putWithProgress; the test drives its events. */
class FakeXhr {
  method = '';
  url = '';
  headers: Record<string, string> = {};
  body: unknown = null;
  status = 0;
  responseText = '';
  aborted = false;
  upload: { onprogress: ((e: ProgressEvent) => void) | null } = { onprogress: null };
  onload: (() => void) | null = null;
  onerror: (() => void) | null = null;
  onabort: (() => void) | null = null;

  open(method: string, url: string) {
    this.method = method;
    this.url = url;
  }
  setRequestHeader(name: string, value: string) {
    this.headers[name] = value;
  }
  send(body: unknown) {
    this.body = body;
  }
  abort() {
    this.aborted = true;
    this.onabort?.();
  }
  progress(loaded: number, total: number, lengthComputable = true) {
    this.upload.onprogress?.({ loaded, total, lengthComputable } as ProgressEvent);
  }
  answer(status: number, text = '') {
    this.status = status;
    this.responseText = text;
    this.onload?.();
  }
}

function fake(): { xhr: FakeXhr; factory: () => XMLHttpRequest } {
  const xhr = new FakeXhr();
  return { xhr, factory: () => xhr as unknown as XMLHttpRequest };
}

describe('percentOf', () => {
  it('rounds down to whole percent and clamps', () => {
    expect(percentOf(0, 100)).toBe(0);
    expect(percentOf(1, 3)).toBe(33);
    expect(percentOf(999, 1000)).toBe(99);
    expect(percentOf(1000, 1000)).toBe(100);
    expect(percentOf(2000, 1000)).toBe(100);
  });
  it('is 0 while the total is unknown', () => {
    expect(percentOf(50, 0)).toBe(0);
    expect(percentOf(50, Number.NaN)).toBe(0);
    expect(percentOf(-5, 10)).toBe(0);
  });
});

describe('formatBytes', () => {
  it('uses decimal units', () => {
    expect(formatBytes(12)).toBe('12 B');
    expect(formatBytes(1500)).toBe('1.5 kB');
    expect(formatBytes(2_500_000)).toBe('2.5 MB');
    expect(formatBytes(320_000)).toBe('320 kB');
  });
});

describe('s3ErrorOf', () => {
  it('reads the code and message of an S3 error document', () => {
    const body =
      '<?xml version="1.0"?><Error><Code>BadDigest</Code><Message>The checksum did not match</Message></Error>';
    expect(s3ErrorOf(body)).toEqual({ code: 'BadDigest', message: 'The checksum did not match' });
    expect(s3ErrorOf('gateway timeout')).toEqual({ code: null, message: null });
  });
});

describe('putWithProgress', () => {
  const body = new Blob(['hello world']);

  it('PUTs the body with the signed headers and reports progress', async () => {
    const { xhr, factory } = fake();
    const seen: number[] = [];
    const done = putWithProgress({
      url: '/hearth/projects/p/f?X-Amz-Signature=abc',
      headers: { 'Content-Type': 'text/plain', 'x-amz-checksum-sha256': 'q83v', 'Content-Length': '11' },
      body,
      onProgress: (loaded, total) => seen.push(percentOf(loaded, total)),
      xhr: factory,
    });
    expect(xhr.method).toBe('PUT');
    expect(xhr.url).toBe('/hearth/projects/p/f?X-Amz-Signature=abc');
    // Content-Length is the browser's to set.
    expect(xhr.headers).toEqual({ 'Content-Type': 'text/plain', 'x-amz-checksum-sha256': 'q83v' });
    expect(xhr.body).toBe(body);
    xhr.progress(4, 11);
    xhr.progress(0, 0, false); // no length: the body's size stands in
    xhr.progress(11, 11);
    xhr.answer(200);
    await expect(done).resolves.toBeUndefined();
    expect(seen).toEqual([36, 0, 100, 100]);
  });

  it('rejects with S3’s message when storage refuses', async () => {
    const { xhr, factory } = fake();
    const done = putWithProgress({ url: '/u', headers: {}, body, xhr: factory });
    xhr.answer(403, '<Error><Code>SignatureDoesNotMatch</Code><Message>bad signature</Message></Error>');
    const err = await done.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UploadError);
    expect(err).toMatchObject({ failure: 'http', status: 403, code: 'SignatureDoesNotMatch' });
    expect((err as Error).message).toBe('Storage refused the upload: bad signature.');
  });

  it('rejects on a network error', async () => {
    const { xhr, factory } = fake();
    const done = putWithProgress({ url: '/u', headers: {}, body, xhr: factory });
    xhr.onerror?.();
    await expect(done).rejects.toMatchObject({ failure: 'network' });
  });

  it('aborts the request when the signal fires', async () => {
    const { xhr, factory } = fake();
    const ctl = new AbortController();
    const done = putWithProgress({ url: '/u', headers: {}, body, signal: ctl.signal, xhr: factory });
    ctl.abort();
    expect(xhr.aborted).toBe(true);
    await expect(done).rejects.toMatchObject({ failure: 'aborted' });
  });

  it('does not start when already aborted', async () => {
    const ctl = new AbortController();
    ctl.abort();
    const factory = vi.fn();
    await expect(
      putWithProgress({ url: '/u', headers: {}, body, signal: ctl.signal, xhr: factory }),
    ).rejects.toMatchObject({ failure: 'aborted' });
    expect(factory).not.toHaveBeenCalled();
  });
});

interface F {
  id: string;
  status: string;
}

function apiStub(): UploadApi<F> & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    declare: vi.fn(async (body) => {
      calls.push(`declare ${body.name} ${body.content_type} ${body.size} ${body.sha256}`);
      return {
        file: { id: 'f1', status: 'pending' },
        upload_url: '/hearth/x?X-Amz-Signature=s',
        upload_headers: { 'Content-Type': body.content_type },
      };
    }),
    complete: vi.fn(async (id) => {
      calls.push(`complete ${id}`);
      return { id, status: 'uploaded' };
    }),
    discard: vi.fn(async (id) => {
      calls.push(`discard ${id}`);
    }),
  };
}

describe('uploadFile', () => {
  it('declares with the file’s SHA-256, uploads, then completes', async () => {
    const { xhr, factory } = fake();
    const api = apiStub();
    const phases: string[] = [];
    const file = new File(['abc'], 'notes.txt', { type: 'text/plain' });
    const done = uploadFile(file, api, { xhr: factory, onPhase: (p) => phases.push(p) });
    await vi.waitFor(() => expect(xhr.method).toBe('PUT'));
    xhr.answer(200);
    await expect(done).resolves.toEqual({ id: 'f1', status: 'uploaded' });
    expect(api.calls).toEqual([
      // sha256("abc")
      'declare notes.txt text/plain 3 ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
      'complete f1',
    ]);
    expect(phases).toEqual(['hashing', 'declaring', 'uploading', 'completing', 'done']);
  });

  it('sends files without a type as application/octet-stream', async () => {
    const { xhr, factory } = fake();
    const api = apiStub();
    const done = uploadFile(new File(['x'], 'blob.bin'), api, { xhr: factory, hash: async () => 'h' });
    await vi.waitFor(() => expect(xhr.method).toBe('PUT'));
    xhr.answer(204);
    await done;
    expect(api.calls[0]).toBe('declare blob.bin application/octet-stream 1 h');
  });

  it('discards the declared file when the PUT fails, and does not complete it', async () => {
    const { xhr, factory } = fake();
    const api = apiStub();
    const done = uploadFile(new File(['x'], 'a.txt'), api, { xhr: factory, hash: async () => 'h' });
    await vi.waitFor(() => expect(xhr.method).toBe('PUT'));
    xhr.answer(400, '<Error><Code>BadDigest</Code></Error>');
    await expect(done).rejects.toMatchObject({ failure: 'http', code: 'BadDigest' });
    expect(api.calls).toEqual(['declare a.txt application/octet-stream 1 h', 'discard f1']);
  });
});
