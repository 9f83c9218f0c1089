import { useQuery, useQueryClient, type QueryClient } from '@tanstack/react-query';
import { act, render, screen, waitFor } from '@testing-library/react';
import type { AppProps } from 'next/app';
import App from '@/pages/_app';
import Register from '@/pages/register';
import { useSession } from '@/store/session';
import { json, makeRouter, problem, sampleMe, setSession, signedInAs, stubFetch } from '@/test/utils';

const router = makeRouter({ pathname: '/register', asPath: '/register/' });
vi.mock('next/router', () => ({ useRouter: () => router }));

function renderApp(Component: AppProps['Component']) {
  return render(<App Component={Component} pageProps={{}} router={router as unknown as AppProps['router']} />);
}

/** Resolves once the session store reaches `status` (the listener runs after _app's, in the same set()). */
function sessionBecomes(status: string): Promise<void> {
  return new Promise((resolve) => {
    const stop = useSession.subscribe((s) => {
      if (s.status === status) {
        stop();
        resolve();
      }
    });
  });
}

describe('_app', () => {
  it('shows the register form when the session check ends signed out before the sign-in options answer', async () => {
    setSession({ status: 'unknown' });
    const signedOut = sessionBecomes('signed-out');
    stubFetch({
      'POST /api/v1/auth/refresh': () => problem(401, 'Unauthorized', 'no refresh cookie'),
      // Held back until the visitor is known to be signed out, as on a slow link.
      'GET /api/v1/auth/options': async () => {
        await signedOut;
        return json({ registration_enabled: true, oidc_providers: [] });
      },
    });
    renderApp(Register);
    expect(await screen.findByRole('button', { name: 'Create the account' })).toBeTruthy();
    expect(useSession.getState().status).toBe('signed-out');
  });

  it('forgets cached server data when a signed-in user signs out', async () => {
    signedInAs(['users:read']);
    let client: QueryClient | undefined;
    function Page() {
      client = useQueryClient();
      const me = useQuery({ queryKey: ['me'], queryFn: () => sampleMe() });
      return <p>{me.data?.email ?? 'nobody'}</p>;
    }
    stubFetch({});
    renderApp(Page);
    await screen.findByText('ada@example.com');
    act(() => setSession({ status: 'signed-out' }));
    await waitFor(() => expect(client?.getQueryCache().getAll()).toEqual([]));
  });
});
