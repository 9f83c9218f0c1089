import { screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import Register from '@/pages/register';
import { json, makeRouter, passwordFormMethods, recordSubmits, renderWithQuery, sampleMe, setSession, stubFetch } from '@/test/utils';

let router = makeRouter();
vi.mock('next/router', () => ({ useRouter: () => router }));

const open = () => json({ registration_enabled: true, oidc_providers: [] });
const tokens = { access_token: 'a1', token_type: 'Bearer', expires_in: 900, refresh_token: null };

beforeEach(() => {
  router = makeRouter({ pathname: '/register', asPath: '/register/' });
  setSession({ status: 'signed-out' });
});

async function fill(password: string, confirm = password) {
  await userEvent.type(await screen.findByLabelText('Email'), 'grace@example.com');
  await userEvent.type(screen.getByLabelText('Password'), password);
  await userEvent.type(screen.getByLabelText('Repeat the password'), confirm);
  await userEvent.click(screen.getByRole('button', { name: 'Create the account' }));
}

describe('register page', () => {
  it('says so when registration is closed', async () => {
    stubFetch({ 'GET /api/v1/auth/options': () => json({ registration_enabled: false, oidc_providers: [] }) });
    renderWithQuery(<Register />);
    expect(await screen.findByText(/Registration is closed/)).toBeTruthy();
    expect(screen.queryByLabelText('Email')).toBeNull();
  });

  it('checks the password length and the repetition before sending', async () => {
    const calls = stubFetch({ 'GET /api/v1/auth/options': open });
    renderWithQuery(<Register />);
    await fill('short', 'other');
    expect(screen.getByLabelText('Password').getAttribute('aria-invalid')).toBe('true');
    expect(screen.getByText('use at least 12 characters')).toBeTruthy();
    expect(screen.getByText('does not match the password')).toBeTruthy();
    expect(calls.map((c) => c.path)).toEqual(['/api/v1/auth/options']);
  });

  it('registers, signs in and goes to the projects (the form posts, and only by script)', async () => {
    const calls = stubFetch({
      'GET /api/v1/auth/options': open,
      'POST /api/v1/auth/register': () => json({ ...sampleMe(), email: 'grace@example.com' }, 201),
      'POST /api/v1/auth/login': () => json(tokens),
      'GET /api/v1/me': () => json(sampleMe()),
    });
    renderWithQuery(<Register />);
    await screen.findByLabelText('Email');
    expect(passwordFormMethods()).toEqual(['post']);
    const submits = recordSubmits();
    await fill('a long enough password');
    await waitFor(() => expect(router.replace).toHaveBeenCalledWith('/projects/'));
    expect(submits.map((e) => e.defaultPrevented)).toEqual([true]);
    const reg = calls.find((c) => c.path === '/api/v1/auth/register')!;
    expect(JSON.parse(reg.body)).toEqual({ email: 'grace@example.com', password: 'a long enough password', display_name: '' });
  });
});
