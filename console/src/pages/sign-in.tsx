import Link from 'next/link';
import { useRouter } from 'next/router';
import { useEffect, useState, type FormEvent } from 'react';
import { Button } from '@/components/Button';
import { ProblemMessage } from '@/components/ProblemMessage';
import { safeNext } from '@/components/RequireAuth';
import { TextField } from '@/components/TextField';
import { Title } from '@/components/Title';
import { oidcStartPath, useAuthOptions } from '@/lib/authOptions';
import { fieldError } from '@/lib/problem';
import { useSession } from '@/store/session';
import styles from '@/styles/auth.module.css';

const SIGN_IN_FIELDS = ['email', 'password'] as const;

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

  const next = safeNext(router.query.next) ?? '/projects/';
  useEffect(() => {
    if (status === 'signed-in') void router.replace(next);
  }, [status, next, router]);

  async function submit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    setBusy(true);
    setError(null);
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
      <form className={styles.form} onSubmit={submit} aria-describedby={error ? 'sign-in-problem' : undefined} noValidate>
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
