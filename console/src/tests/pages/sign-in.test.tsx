import { screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import SignIn from '@/pages/sign-in';
import { useSession } from '@/store/session';
import {
  json,
  makeRouter,
  passwordFormMethods,
  problem,
  recordSubmits,
  renderWithQuery,
  sampleMe,
  setSession,
  stubFetch,
} from '@/test/utils';

let router = makeRouter();
vi.mock('next/router', () => ({ useRouter: () => router }));

const tokens = { access_token: 'a1', token_type: 'Bearer', expires_in: 900, refresh_token: null };

beforeEach(() => {
  router = makeRouter({ pathname: '/sign-in', asPath: '/sign-in/', query: {} });
  setSession({ status: 'signed-out' });
});

async function fillAndSubmit(email: string, password: string) {
  await userEvent.type(screen.getByLabelText('Email'), email);
  await userEvent.type(screen.getByLabelText('Password'), password);
  await userEvent.click(screen.getByRole('button', { name: 'Sign in' }));
}

describe('sign-in page', () => {
  it('offers a button per OIDC provider and the register link when registration is open', async () => {
    stubFetch({ 'GET /api/v1/auth/options': () => json({ registration_enabled: true, oidc_providers: ['keycloak', 'git hub'] }) });
    renderWithQuery(<SignIn />);
    expect(screen.getByRole('heading', { level: 1, name: 'Sign in to Hearth' })).toBeTruthy();
    const kc = await screen.findByRole('link', { name: 'Sign in with keycloak' });
    expect(kc.getAttribute('href')).toBe('/api/v1/auth/oidc/keycloak/start');
    expect(screen.getByRole('link', { name: 'Sign in with git hub' }).getAttribute('href')).toBe('/api/v1/auth/oidc/git%20hub/start');
    expect(screen.getByRole('link', { name: 'Create an account' })).toBeTruthy();
  });

  it('shows no register link when registration is closed', async () => {
    stubFetch({ 'GET /api/v1/auth/options': () => json({ registration_enabled: false, oidc_providers: ['keycloak'] }) });
    renderWithQuery(<SignIn />);
    await screen.findByRole('link', { name: 'Sign in with keycloak' }); // the options have arrived
    expect(screen.queryByRole('link', { name: 'Create an account' })).toBeNull();
  });

  it('says the credentials are wrong next to the form on a 401 (the form posts, and only by script)', async () => {
    stubFetch({
      'GET /api/v1/auth/options': () => json({ registration_enabled: false, oidc_providers: [] }),
      'POST /api/v1/auth/login': () => problem(401, 'Unauthorized', 'email or password is wrong'),
    });
    renderWithQuery(<SignIn />);
    expect(passwordFormMethods()).toEqual(['post']);
    const submits = recordSubmits();
    await fillAndSubmit('ada@example.com', 'wrong password');
    expect(submits.map((e) => e.defaultPrevented)).toEqual([true]);
    const alert = await screen.findByRole('alert');
    expect(alert.textContent).toBe('The email or password is wrong.');
    expect(alert.closest('form')).not.toBeNull();
    expect((screen.getByLabelText('Password') as HTMLInputElement).value).toBe('');
    expect(router.replace).not.toHaveBeenCalled();
  });

  it('puts a 422 on the field it is about', async () => {
    stubFetch({
      'GET /api/v1/auth/options': () => json({ registration_enabled: false, oidc_providers: [] }),
      'POST /api/v1/auth/login': () =>
        json(
          {
            type: 'https://hearth.dev/problems/validation',
            title: 'Unprocessable Content',
            status: 422,
            errors: [{ loc: ['body', 'email'], msg: 'the email address must have the form name@domain', type: 'value_error' }],
          },
          422,
        ),
    });
    renderWithQuery(<SignIn />);
    await fillAndSubmit('ada', 'whatever');
    const alert = await screen.findByRole('alert');
    expect(alert.textContent).toBe('the email address must have the form name@domain');
    expect(screen.getByLabelText('Email').getAttribute('aria-invalid')).toBe('true');
    expect(screen.getAllByRole('alert')).toHaveLength(1);
  });

  it('signs in and goes to the page asked for in ?next (same site only)', async () => {
    router = makeRouter({ pathname: '/sign-in', asPath: '/sign-in/?next=/admin/users/', query: { next: '/admin/users/' } });
    stubFetch({
      'GET /api/v1/auth/options': () => json({ registration_enabled: false, oidc_providers: [] }),
      'POST /api/v1/auth/login': () => json(tokens),
      'GET /api/v1/me': () => json(sampleMe()),
    });
    renderWithQuery(<SignIn />);
    await fillAndSubmit('ada@example.com', 'correct horse battery');
    await waitFor(() => expect(router.replace).toHaveBeenCalledWith('/admin/users/'));
    expect(useSession.getState().status).toBe('signed-in');
  });

  it('says why a provider sign-in failed (?error=) and takes it out of the address, keeping ?next', async () => {
    router = makeRouter({
      pathname: '/sign-in',
      asPath: '/sign-in/?error=oidc-failed&next=%2Faccount%2F',
      query: { error: 'oidc-failed', next: '/account/' },
    });
    stubFetch({ 'GET /api/v1/auth/options': () => json({ registration_enabled: false, oidc_providers: ['keycloak'] }) });
    renderWithQuery(<SignIn />);
    expect((await screen.findByRole('alert')).textContent).toBe('Signing in with the provider did not complete; try again.');
    await waitFor(() => expect(router.replace).toHaveBeenCalledWith({ pathname: '/sign-in/', query: { next: '/account/' } }));
  });

  it.each([
    ['account-disabled', 'This account is disabled; ask an administrator to enable it.'],
    ['registration-closed', 'There is no account here for that login, and registration is closed; ask an administrator for one.'],
    ['not-found', 'That way to sign in is not set up here; choose another.'],
  ])('has its own words for ?error=%s', async (kind, message) => {
    router = makeRouter({ pathname: '/sign-in', asPath: `/sign-in/?error=${kind}`, query: { error: kind } });
    stubFetch({ 'GET /api/v1/auth/options': () => json({ registration_enabled: false, oidc_providers: [] }) });
    renderWithQuery(<SignIn />);
    expect((await screen.findByRole('alert')).textContent).toBe(message);
  });

  it.each([['Your account is locked: call +1 555 0100'], [['oidc-failed', 'x']]])(
    'never repeats what else ?error says (%j)',
    async (error) => {
      router = makeRouter({ pathname: '/sign-in', query: { error } });
      stubFetch({ 'GET /api/v1/auth/options': () => json({ registration_enabled: false, oidc_providers: [] }) });
      renderWithQuery(<SignIn />);
      expect((await screen.findByRole('alert')).textContent).toBe('Signing in did not complete; try again.');
      await waitFor(() => expect(router.replace).toHaveBeenCalledWith({ pathname: '/sign-in/', query: {} }));
    },
  );

  it.each([['//evil.example/'], ['/\t/evil.example/'], ['/.//evil.example/']])('ignores an off-site ?next (%j)', async (next) => {
    router = makeRouter({ pathname: '/sign-in', query: { next } });
    setSession({ status: 'signed-in', accessToken: 'a', me: sampleMe() });
    stubFetch({ 'GET /api/v1/auth/options': () => json({ registration_enabled: false, oidc_providers: [] }) });
    renderWithQuery(<SignIn />);
    await waitFor(() => expect(router.replace).toHaveBeenCalledWith('/projects/'));
  });
});
