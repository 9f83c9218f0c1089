/**
 * The one typed API client. Same origin (baseUrl ''), bearer token from the session store,
 * and one cookie refresh on a 401 before giving up (see the console design).
 */
import createClient, { type Middleware } from 'openapi-fetch';
import type { components, paths } from './schema';

export type Schemas = components['schemas'];
export type Me = Schemas['MeOut'];
export type TokenOut = Schemas['TokenOut'];

/** One field's complaint from a 422 problem document. */
export interface FieldError {
  /** Dotted location without the body/query/path prefix, e.g. "email"; "" for the whole request. */
  field: string;
  message: string;
}

/** An RFC 9457 problem (or a network failure, status 0) as an exception. */
export class ApiError extends Error {
  readonly status: number;
  readonly title: string;
  readonly detail: string;
  readonly errors: FieldError[];
  /** The last segment of the problem's type URI (e.g. "validation"), "network" when nothing answered. */
  readonly kind: string;

  constructor(init: { status: number; title: string; detail?: string; errors?: FieldError[]; kind?: string }) {
    super(init.detail ? `${init.title}: ${init.detail}` : init.title);
    this.name = 'ApiError';
    this.status = init.status;
    this.title = init.title;
    this.detail = init.detail ?? '';
    this.errors = init.errors ?? [];
    this.kind = init.kind ?? '';
  }

  /** Builds one from whatever an error response carried (a problem document, or anything else). */
  static from(status: number, body: unknown, statusText = ''): ApiError {
    const b = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>;
    const type = typeof b.type === 'string' ? b.type : '';
    const kind = type && type !== 'about:blank' ? (type.split('/').pop() ?? '') : '';
    const raw = Array.isArray(b.errors) ? (b.errors as unknown[]) : [];
    const errors = raw.map(toFieldError);
    return new ApiError({
      status,
      title: typeof b.title === 'string' ? b.title : statusText || `HTTP ${status}`,
      detail: typeof b.detail === 'string' ? b.detail : typeof body === 'string' ? body : '',
      errors,
      kind,
    });
  }

  static network(cause: unknown): ApiError {
    const e = new ApiError({
      status: 0,
      title: 'No answer',
      detail: cause instanceof Error ? cause.message : String(cause),
      kind: 'network',
    });
    return e;
  }
}

const LOCATION_PREFIXES = new Set(['body', 'query', 'path', 'header', 'cookie']);

function toFieldError(e: unknown): FieldError {
  const o = (typeof e === 'object' && e !== null ? e : {}) as Record<string, unknown>;
  const loc = Array.isArray(o.loc) ? o.loc.map(String) : [];
  const parts = loc.length && LOCATION_PREFIXES.has(loc[0] ?? '') ? loc.slice(1) : loc;
  const message = typeof o.msg === 'string' ? o.msg : typeof o.message === 'string' ? o.message : 'is not valid';
  return { field: parts.join('.'), message };
}

/** What the client needs from the session store; wired by the store (avoids an import cycle). */
export interface TokenSource {
  getToken(): string | null;
  /** A refresh gave a new access token, or (null) the session is over. */
  setToken(token: string | null): void;
}

let tokens: TokenSource = { getToken: () => null, setToken: () => {} };

export function setTokenSource(source: TokenSource): void {
  tokens = source;
}

export const REFRESH_PATH = '/api/v1/auth/refresh';
/**
 * Sent on login and refresh. Another site's page cannot make a browser send a custom header (CORS),
 * so with it the API takes the refresh token from the HttpOnly cookie and sets it only there,
 * never in the JSON body (the console never needs TokenOut.refresh_token).
 */
export const CSRF_HEADERS = { 'X-Hearth-CSRF': '1' } as const;
/** Requests where a 401 means "wrong credentials", not "token expired": never refreshed. */
const NO_REFRESH = [REFRESH_PATH, '/api/v1/auth/login', '/api/v1/auth/register'];

/** The Web Lock every tab of this origin takes around a refresh. */
export const REFRESH_LOCK = 'hearth-refresh';

/**
 * Runs `fn` holding the refresh lock of all this browser's tabs, where Web Locks exist. Tabs share
 * the refresh cookie and each refresh token works once (a reused one ends the session), so a
 * second tab must send the cookie only after the first one's refresh has rotated it.
 */
async function acrossTabs<T>(fn: () => Promise<T>): Promise<T> {
  const locks = globalThis.navigator?.locks as LockManager | undefined;
  return locks ? await locks.request(REFRESH_LOCK, fn) : fn();
}

async function postRefresh(): Promise<TokenOut | null> {
  const res = await globalThis.fetch(REFRESH_PATH, {
    method: 'POST',
    headers: CSRF_HEADERS,
    credentials: 'same-origin',
  });
  return res.ok ? ((await res.json()) as TokenOut) : null;
}

let refreshing: Promise<TokenOut | null> | null = null;

/**
 * Trades the HttpOnly refresh cookie for a new access token and gives it to the session store
 * (null: the session is over, the store is signed out). Concurrent callers in this tab share one
 * call, and tabs take turns (acrossTabs).
 */
export function refreshAccessToken(): Promise<TokenOut | null> {
  refreshing ??= (async () => {
    let fresh: TokenOut | null;
    try {
      fresh = await acrossTabs(postRefresh);
    } catch {
      fresh = null;
    }
    tokens.setToken(fresh?.access_token ?? null);
    return fresh;
  })().finally(() => {
    refreshing = null;
  });
  return refreshing;
}

const bearer: Middleware = {
  onRequest({ request }) {
    const token = tokens.getToken();
    if (token && !request.headers.has('Authorization')) request.headers.set('Authorization', `Bearer ${token}`);
    return request;
  },
};

/** fetch for the client: a 401 gets one refresh and one retry; looks up global fetch per call (tests stub it). */
async function fetchWithRefresh(request: Request): Promise<Response> {
  const path = new URL(request.url, 'http://x').pathname;
  const refreshable = !NO_REFRESH.includes(path);
  const spare = refreshable ? request.clone() : null;
  const response = await globalThis.fetch(request);
  if (response.status !== 401 || !spare) return response;
  const fresh = await refreshAccessToken();
  if (!fresh) return response;
  spare.headers.set('Authorization', `Bearer ${fresh.access_token}`);
  return globalThis.fetch(spare);
}

export const api = createClient<paths>({
  baseUrl: '',
  credentials: 'same-origin',
  fetch: fetchWithRefresh,
});
api.use(bearer);

/** The shape openapi-fetch answers with. */
export interface FetchResult {
  data?: unknown;
  error?: unknown;
  response: Response;
}

/** What unwrap gives back: the success body (undefined for an empty 204). */
export type Data<R extends FetchResult> = Exclude<R['data'], undefined>;

/**
 * The data of a result, or an ApiError from its problem document. Pass the call's promise
 * (`await unwrap(api.GET(...))`) so that a network failure becomes an ApiError too.
 */
export async function unwrap<R extends FetchResult>(result: Promise<R> | R): Promise<Data<R>> {
  let r: R;
  try {
    r = await result;
  } catch (e) {
    if (e instanceof ApiError) throw e;
    throw ApiError.network(e);
  }
  if (r.error !== undefined || !r.response.ok) {
    throw ApiError.from(r.response.status, r.error, r.response.statusText);
  }
  return r.data as Data<R>;
}
