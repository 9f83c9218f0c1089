import { ApiError } from '@/api/client';
import { json, problem, sampleMe, setSession, stubFetch } from '@/test/utils';
import { initialSession, selectCan, selectIsSignedIn, useSession } from './session';

// With X-Hearth-CSRF the refresh token travels in the HttpOnly cookie only, not in the body.
const tokens = (access: string) => ({ access_token: access, token_type: 'Bearer', expires_in: 900, refresh_token: null });

beforeEach(() => setSession());

describe('signIn', () => {
  it('logs in (X-Hearth-CSRF: the refresh token goes into the cookie only), then loads /me with the new bearer token', async () => {
    const calls = stubFetch({
      'POST /api/v1/auth/login': () => json(tokens('access-1')),
      'GET /api/v1/me': () => json(sampleMe(['users:read'])),
    });
    await useSession.getState().signIn('ada@example.com', 'correct horse battery');
    const s = useSession.getState();
    expect(s.status).toBe('signed-in');
    expect(s.accessToken).toBe('access-1');
    expect(s.me?.email).toBe('ada@example.com');
    expect(calls.map((c) => `${c.method} ${c.path}`)).toEqual(['POST /api/v1/auth/login', 'GET /api/v1/me']);
    expect(JSON.parse(calls[0]!.body)).toEqual({ email: 'ada@example.com', password: 'correct horse battery' });
    expect(calls[0]!.headers.get('X-Hearth-CSRF')).toBe('1');
    expect(calls[1]!.headers.get('Authorization')).toBe('Bearer access-1');
  });

  it('throws the problem and does not sign in when the password is wrong (no refresh attempt)', async () => {
    const calls = stubFetch({
      'POST /api/v1/auth/login': () => problem(401, 'Unauthorized', 'email or password is wrong'),
    });
    const err = await useSession.getState().signIn('ada@example.com', 'nope').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).status).toBe(401);
    expect((err as ApiError).detail).toBe('email or password is wrong');
    expect(useSession.getState().status).not.toBe('signed-in');
    expect(useSession.getState().accessToken).toBeNull();
    expect(calls).toHaveLength(1);
  });
});

describe('restore', () => {
  it('trades the refresh cookie (X-Hearth-CSRF, no body) for a token and loads /me', async () => {
    const calls = stubFetch({
      'POST /api/v1/auth/refresh': () => json(tokens('access-2')),
      'GET /api/v1/me': () => json(sampleMe()),
    });
    await useSession.getState().restore();
    expect(useSession.getState().status).toBe('signed-in');
    expect(useSession.getState().accessToken).toBe('access-2');
    const refresh = calls[0]!;
    expect(refresh.path).toBe('/api/v1/auth/refresh');
    expect(refresh.headers.get('X-Hearth-CSRF')).toBe('1');
    expect(refresh.body).toBe('');
    expect(calls[1]!.headers.get('Authorization')).toBe('Bearer access-2');
  });

  it('is signed out when there is no session to restore', async () => {
    const calls = stubFetch({ 'POST /api/v1/auth/refresh': () => problem(401, 'Unauthorized', 'no refresh token') });
    await useSession.getState().restore();
    expect(useSession.getState()).toMatchObject({ status: 'signed-out', accessToken: null, me: null });
    expect(calls).toHaveLength(1);
  });

  it('is signed out when the platform does not answer', async () => {
    vi.stubGlobal('fetch', vi.fn(async () => Promise.reject(new TypeError('Failed to fetch'))));
    await useSession.getState().restore();
    expect(useSession.getState().status).toBe('signed-out');
  });

  it('shares one refresh between concurrent callers', async () => {
    const calls = stubFetch({
      'POST /api/v1/auth/refresh': () => json(tokens('access-3')),
      'GET /api/v1/me': () => json(sampleMe()),
    });
    await Promise.all([useSession.getState().restore(), useSession.getState().restore()]);
    expect(calls.filter((c) => c.path === '/api/v1/auth/refresh')).toHaveLength(1);
  });
});

describe('signOut', () => {
  it('ends the session on the server and forgets it here', async () => {
    setSession({ status: 'signed-in', accessToken: 'access-1', me: sampleMe() });
    const calls = stubFetch({ 'POST /api/v1/auth/logout': () => new Response(null, { status: 204 }) });
    await useSession.getState().signOut();
    expect(calls.map((c) => c.path)).toEqual(['/api/v1/auth/logout']);
    expect(calls[0]!.headers.get('Authorization')).toBe('Bearer access-1');
    expect(useSession.getState()).toMatchObject({ status: 'signed-out', accessToken: null, me: null });
  });

  it('forgets the session even when the platform does not answer', async () => {
    setSession({ status: 'signed-in', accessToken: 'access-1', me: sampleMe() });
    vi.stubGlobal('fetch', vi.fn(async () => Promise.reject(new TypeError('Failed to fetch'))));
    await useSession.getState().signOut();
    expect(useSession.getState().status).toBe('signed-out');
  });

  it('signOutEverywhere calls logout-all; a refusal keeps the session and throws', async () => {
    setSession({ status: 'signed-in', accessToken: 'access-1', me: sampleMe() });
    stubFetch({ 'POST /api/v1/auth/logout-all': () => problem(429, 'Too Many Requests', 'slow down') });
    await expect(useSession.getState().signOutEverywhere()).rejects.toBeInstanceOf(ApiError);
    expect(useSession.getState().status).toBe('signed-in');

    const calls = stubFetch({ 'POST /api/v1/auth/logout-all': () => new Response(null, { status: 204 }) });
    await useSession.getState().signOutEverywhere();
    expect(calls.map((c) => c.path)).toEqual(['/api/v1/auth/logout-all']);
    expect(useSession.getState().status).toBe('signed-out');
  });
});

describe('selectors', () => {
  it('selectCan answers from the signed-in user permissions', () => {
    const s = { ...initialSession, status: 'signed-in' as const, accessToken: 'a', me: sampleMe(['users:read']) };
    expect(selectCan('users:read')(s)).toBe(true);
    expect(selectCan('users:manage')(s)).toBe(false);
    expect(selectCan('users:read')(initialSession)).toBe(false);
    expect(selectCan('users:read')({ ...s, me: sampleMe([], { permissions: undefined }) })).toBe(false);
  });

  it('selectIsSignedIn is true only when signed in', () => {
    expect(selectIsSignedIn(initialSession)).toBe(false);
    expect(selectIsSignedIn({ ...initialSession, status: 'signed-out' })).toBe(false);
    expect(selectIsSignedIn({ ...initialSession, status: 'signed-in' })).toBe(true);
  });
});
