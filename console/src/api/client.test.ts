import { json, problem, sampleMe, setSession, stubFetch } from '@/test/utils';
import { useSession } from '@/store/session';
import { api, ApiError, unwrap } from './client';

const tokens = (access: string) => ({ access_token: access, token_type: 'Bearer', expires_in: 900, refresh_token: 'r'.repeat(20) });

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
