import { json, problem, sampleMe, setSession, stubFetch } from '@/test/utils';
import { useSession } from '@/store/session';
import { api, ApiError, refreshAccessToken, unwrap } from './client';

// With X-Hearth-CSRF the refresh token travels in the HttpOnly cookie only, not in the body.
const tokens = (access: string) => ({ access_token: access, token_type: 'Bearer', expires_in: 900, refresh_token: null });

beforeEach(() => setSession({ status: 'signed-in', accessToken: 'old', me: sampleMe() }));

describe('refresh on 401', () => {
  it('refreshes once, stores the new token and retries with it', async () => {
    const calls = stubFetch({
      'GET /api/v1/me': (c) =>
        c.headers.get('Authorization') === 'Bearer new' ? json(sampleMe()) : problem(401, 'Unauthorized', 'token expired'),
      'POST /api/v1/auth/refresh': () => json(tokens('new')),
    });
    const me = await unwrap(api.GET('/api/v1/me'));
    expect(me.email).toBe('ada@example.com');
    expect(calls.map((c) => `${c.method} ${c.path} ${c.headers.get('Authorization') ?? '-'}`)).toEqual([
      'GET /api/v1/me Bearer old',
      'POST /api/v1/auth/refresh -',
      'GET /api/v1/me Bearer new',
    ]);
    expect(calls[1]!.headers.get('X-Hearth-CSRF')).toBe('1');
    expect(useSession.getState().accessToken).toBe('new');
  });

  it('retries a POST with its body', async () => {
    const calls = stubFetch({
      'POST /api/v1/projects': (c) =>
        c.headers.get('Authorization') === 'Bearer new'
          ? json({ id: 'p1', name: 'Apollo' }, 201)
          : problem(401, 'Unauthorized'),
      'POST /api/v1/auth/refresh': () => json(tokens('new')),
    });
    await unwrap(api.POST('/api/v1/projects', { body: { name: 'Apollo' } }));
    const posts = calls.filter((c) => c.path === '/api/v1/projects');
    expect(posts).toHaveLength(2);
    expect(posts.map((c) => JSON.parse(c.body))).toEqual([{ name: 'Apollo' }, { name: 'Apollo' }]);
  });

  it('does not refresh twice when the retry is refused too', async () => {
    const calls = stubFetch({
      'GET /api/v1/me': () => problem(401, 'Unauthorized'),
      'POST /api/v1/auth/refresh': () => json(tokens('new')),
    });
    const err = await unwrap(api.GET('/api/v1/me')).catch((e: unknown) => e);
    expect((err as ApiError).status).toBe(401);
    expect(calls.map((c) => c.path)).toEqual(['/api/v1/me', '/api/v1/auth/refresh', '/api/v1/me']);
  });

  it('signs out when the refresh fails', async () => {
    const calls = stubFetch({
      'GET /api/v1/me': () => problem(401, 'Unauthorized'),
      'POST /api/v1/auth/refresh': () => problem(401, 'Unauthorized', 'refresh token has expired'),
    });
    const err = await unwrap(api.GET('/api/v1/me')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).status).toBe(401);
    expect(calls).toHaveLength(2);
    expect(useSession.getState()).toMatchObject({ status: 'signed-out', accessToken: null, me: null });
  });

  it('shares one refresh among requests failing together', async () => {
    const calls = stubFetch({
      'GET /api/v1/me': (c) => (c.headers.get('Authorization') === 'Bearer new' ? json(sampleMe()) : problem(401, 'Unauthorized')),
      'POST /api/v1/auth/refresh': () => json(tokens('new')),
    });
    await Promise.all([unwrap(api.GET('/api/v1/me')), unwrap(api.GET('/api/v1/me'))]);
    expect(calls.filter((c) => c.path === '/api/v1/auth/refresh')).toHaveLength(1);
  });

  it('leaves a 403 alone', async () => {
    const calls = stubFetch({ 'GET /api/v1/me': () => problem(403, 'Forbidden', 'missing permission users:read') });
    const err = (await unwrap(api.GET('/api/v1/me')).catch((e: unknown) => e)) as ApiError;
    expect(err.status).toBe(403);
    expect(calls).toHaveLength(1);
    expect(useSession.getState().status).toBe('signed-in');
  });
});

describe('refreshAccessToken', () => {
  it('stores the new token in the session itself', async () => {
    stubFetch({ 'POST /api/v1/auth/refresh': () => json(tokens('new')) });
    expect((await refreshAccessToken())?.access_token).toBe('new');
    expect(useSession.getState().accessToken).toBe('new');
  });

  it('ends the session when the cookie is refused', async () => {
    stubFetch({ 'POST /api/v1/auth/refresh': () => problem(401, 'Unauthorized', 'refresh token has expired') });
    expect(await refreshAccessToken()).toBeNull();
    expect(useSession.getState()).toMatchObject({ status: 'signed-out', accessToken: null, me: null });
  });
});

/** A LockManager that runs the callbacks for one name one after another, as a browser does across its tabs. */
function fakeLocks() {
  const tails = new Map<string, Promise<unknown>>();
  const requested: string[] = [];
  return {
    requested,
    request<T>(name: string, callback: (lock: { name: string }) => Promise<T>): Promise<T> {
      requested.push(name);
      const run = (tails.get(name) ?? Promise.resolve()).then(() => callback({ name }));
      tails.set(
        name,
        run.catch(() => undefined),
      );
      return run;
    },
  };
}

/**
 * The server's side of the refresh cookie, shared by the tabs of one browser: each refresh token
 * works once, and a reused one ends the session (reuse detection).
 */
function refreshServer() {
  let cookie = 'c0';
  let n = 0;
  const sent: string[] = [];
  let ended = false;
  const fetch = vi.fn(async () => {
    const presented = cookie; // what the browser attaches when the request leaves
    sent.push(presented);
    await Promise.resolve(); // the answer comes later: another tab's request may leave meanwhile
    if (ended || presented !== `c${n}`) {
      ended = true;
      return problem(401, 'Unauthorized', 'refresh token reused; every session of this sign-in has ended');
    }
    n += 1;
    cookie = `c${n}`;
    return json(tokens(`access-${n}`));
  });
  return { fetch, sent, ended: () => ended };
}

describe('refresh across tabs', () => {
  /** Each tab loads its own copy of the client (its own single-flight). */
  async function openTab(): Promise<typeof import('./client')> {
    vi.resetModules();
    return import('./client');
  }

  it('lets a second tab refresh after the first, with the cookie the first one rotated', async () => {
    const locks = fakeLocks();
    vi.stubGlobal('navigator', { locks });
    const server = refreshServer();
    vi.stubGlobal('fetch', server.fetch);
    const [tabA, tabB] = [await openTab(), await openTab()];
    const [a, b] = await Promise.all([tabA.refreshAccessToken(), tabB.refreshAccessToken()]);
    expect(server.ended()).toBe(false);
    expect(server.sent).toEqual(['c0', 'c1']);
    expect([a?.access_token, b?.access_token]).toEqual(['access-1', 'access-2']);
    expect(locks.requested).toEqual(['hearth-refresh', 'hearth-refresh']);
  });

  it('still shares one refresh among the requests of one tab', async () => {
    const locks = fakeLocks();
    vi.stubGlobal('navigator', { locks });
    const server = refreshServer();
    vi.stubGlobal('fetch', server.fetch);
    const [a, b] = await Promise.all([refreshAccessToken(), refreshAccessToken()]);
    expect(a).toEqual(b);
    expect(server.sent).toEqual(['c0']);
    expect(locks.requested).toEqual(['hearth-refresh']);
  });
});

describe('unwrap', () => {
  it('turns a problem document into an ApiError with kind and field errors', async () => {
    stubFetch({
      'POST /api/v1/auth/register': () =>
        json(
          {
            type: 'https://hearth.dev/problems/validation',
            title: 'Unprocessable Content',
            status: 422,
            detail: 'the request does not match the schema',
            errors: [{ loc: ['body', 'password'], msg: 'String should have at least 12 characters', type: 'string_too_short' }],
          },
          422,
        ),
    });
    const err = (await unwrap(api.POST('/api/v1/auth/register', { body: { email: 'a@b.c', password: 'x' } })).catch(
      (e: unknown) => e,
    )) as ApiError;
    expect(err).toBeInstanceOf(ApiError);
    expect(err.kind).toBe('validation');
    expect(err.errors).toEqual([{ field: 'password', message: 'String should have at least 12 characters' }]);
  });

  it('turns a network failure into an ApiError of status 0', async () => {
    vi.stubGlobal('fetch', vi.fn(async () => Promise.reject(new TypeError('Failed to fetch'))));
    const err = (await unwrap(api.GET('/api/v1/me')).catch((e: unknown) => e)) as ApiError;
    expect(err).toBeInstanceOf(ApiError);
    expect(err.status).toBe(0);
    expect(err.kind).toBe('network');
  });
});
