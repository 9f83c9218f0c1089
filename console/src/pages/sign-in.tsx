import Link from 'next/link';
import { useRouter } from 'next/router';
import { useEffect, useState, type FormEvent } from 'react';
import { Button } from '@/components/Button';
import { ProblemMessage } from '@/components/ProblemMessage';
import { TextField } from '@/components/TextField';
import { Title } from '@/components/Title';
import { oidcStartPath, useAuthOptions } from '@/lib/authOptions';
import { safeNext } from '@/lib/next';
import { fieldError } from '@/lib/problem';
import { useSession } from '@/store/session';
import styles from '@/styles/auth.module.css';

const SIGN_IN_FIELDS = ['email', 'password'] as const;

/**
 * The API sends a browser whose provider sign-in failed back here with ?error=<problem kind>.
 * Anyone can write that into a link, so it only picks one of these sentences; its text is never shown.
 */
const PROVIDER_FAILURES = new Map([
  ['oidc-failed', 'Signing in with the provider did not complete; try again.'],
  ['account-disabled', 'This account is disabled; ask an administrator to enable it.'],
  ['registration-closed', 'There is no account here for that login, and registration is closed; ask an administrator for one.'],
  ['not-found', 'That way to sign in is not set up here; choose another.'],
]);
const PROVIDER_FAILED = 'Signing in did not complete; try again.';

function providerFailure(kind: string | string[]): string {
  return (typeof kind === 'string' && PROVIDER_FAILURES.get(kind)) || PROVIDER_FAILED;
}

/** Password sign-in, a button per OpenID Connect provider, and the way to register when open. */
export default function SignIn() {
  const router = useRouter();
  const status = useSession((s) => s.status);
  const signIn = useSession((s) => s.signIn);
  const options = useAuthOptions();
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const [providerError, setProviderError] = useState<string | null>(null);

  const next = safeNext(router.query.next);
  useEffect(() => {
    if (status === 'signed-in') void router.replace(next);
  }, [status, next, router]);

  // Say it once, then take ?error out of the address (a reload or a shared link would repeat it).
  const failedKind = router.query.error;
  useEffect(() => {
    if (failedKind === undefined) return;
    setProviderError(providerFailure(failedKind));
    const { error: _, ...rest } = router.query;
    void router.replace({ pathname: '/sign-in/', query: rest });
  }, [failedKind, router]);

  async function submit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    setProviderError(null);
    try {
      await signIn(email.trim(), password);
    } catch (err) {
      setError(err);
      setPassword('');
    } finally {
      setBusy(false);
    }
  }

  const providers = options.data?.oidc_providers ?? [];
  return (
    <div className={styles.panel}>
      <Title>Sign in</Title>
      <h1>Sign in to Hearth</h1>
      {providerError && (
        <p className="problem" role="alert">
          {providerError}
        </p>
      )}
      <form
        className={styles.form}
        method="post"
        onSubmit={submit}
        aria-describedby={error ? 'sign-in-problem' : undefined}
        noValidate
      >
        <TextField
          label="Email"
          name="email"
          type="email"
          autoComplete="username"
          required
          value={email}
          onChange={(e) => setEmail(e.target.value)}
          error={fieldError(error, 'email')}
        />
        <TextField
          label="Password"
          name="password"
          type="password"
          autoComplete="current-password"
          required
          value={password}
          onChange={(e) => setPassword(e.target.value)}
          error={fieldError(error, 'password')}
        />
        <ProblemMessage
          id="sign-in-problem"
          error={error}
          action="sign in"
          shownFields={SIGN_IN_FIELDS}
          overrides={{ 401: 'The email or password is wrong.' }}
        />
        <Button type="submit" busy={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </Button>
      </form>

      {providers.length > 0 && (
        <>
          <p className={styles.divider}>or</p>
          <ul className={styles.providers} aria-label="Other ways to sign in">
            {providers.map((p) => (
              <li key={p}>
                <a className="btn btn-secondary" href={oidcStartPath(p)}>
                  Sign in with {p}
                </a>
              </li>
            ))}
          </ul>
        </>
      )}

      {options.data?.registration_enabled && (
        <p className={styles.foot}>
          New here? <Link href="/register/">Create an account</Link>
        </p>
      )}
    </div>
  );
}
