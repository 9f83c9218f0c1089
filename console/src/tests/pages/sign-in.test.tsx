import { screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import SignIn from '@/pages/sign-in';
import { useSession } from '@/store/session';
import { json, makeRouter, problem, renderWithQuery, sampleMe, setSession, stubFetch } from '@/test/utils';

let router = makeRouter();
vi.mock('next/router', () => ({ useRouter: () => router }));

const tokens = { access_token: 'a1', token_type: 'Bearer', expires_in: 900, refresh_token: 'r'.repeat(20) };

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

  it('says the credentials are wrong next to the form on a 401', async () => {
    stubFetch({
      'GET /api/v1/auth/options': () => json({ registration_enabled: false, oidc_providers: [] }),
      'POST /api/v1/auth/login': () => problem(401, 'Unauthorized', 'email or password is wrong'),
    });
    renderWithQuery(<SignIn />);
    await fillAndSubmit('ada@example.com', 'wrong password');
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

  it('ignores an off-site ?next', async () => {
    router = makeRouter({ pathname: '/sign-in', query: { next: '//evil.example/' } });
    setSession({ status: 'signed-in', accessToken: 'a', me: sampleMe() });
    stubFetch({ 'GET /api/v1/auth/options': () => json({ registration_enabled: false, oidc_providers: [] }) });
    renderWithQuery(<SignIn />);
    await waitFor(() => expect(router.replace).toHaveBeenCalledWith('/projects/'));
  });
});
