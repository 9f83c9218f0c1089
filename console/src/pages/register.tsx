import Link from 'next/link';
import { useRouter } from 'next/router';
import { useState, type FormEvent } from 'react';
import { api, ApiError, unwrap } from '@/api/client';
import { Button } from '@/components/Button';
import { ProblemMessage } from '@/components/ProblemMessage';
import { Progress } from '@/components/Progress';
import { TextField } from '@/components/TextField';
import { Title } from '@/components/Title';
import { useAuthOptions } from '@/lib/authOptions';
import { fieldError } from '@/lib/problem';
import { useSession } from '@/store/session';
import styles from '@/styles/auth.module.css';

/** The API's bounds (RegisterIn): checked here too so the person hears before sending. */
const PASSWORD_MIN = 12;
const PASSWORD_MAX = 128;
const FIELDS = ['email', 'password', 'display_name', 'confirm'] as const;

type Step = 'form' | 'signing-in';

/** Self-registration, when the deployment allows it; signs the new account in right after. */
export default function Register() {
  const router = useRouter();
  const options = useAuthOptions();
  const signIn = useSession((s) => s.signIn);
  const [displayName, setDisplayName] = useState('');
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [confirm, setConfirm] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [signInError, setSignInError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const [step, setStep] = useState<Step>('form');

  function localCheck(): ApiError | null {
    const errors = [];
    if (password.length < PASSWORD_MIN) errors.push({ field: 'password', message: `use at least ${PASSWORD_MIN} characters` });
    if (password.length > PASSWORD_MAX) errors.push({ field: 'password', message: `use at most ${PASSWORD_MAX} characters` });
    if (confirm !== password) errors.push({ field: 'confirm', message: 'does not match the password' });
    if (!email.includes('@')) errors.push({ field: 'email', message: 'must have the form name@domain' });
    return errors.length ? new ApiError({ status: 422, title: 'Check the form', errors, kind: 'validation' }) : null;
  }

  async function submit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const local = localCheck();
    setError(local);
    setSignInError(null);
    if (local) return;
    setBusy(true);
    try {
      await unwrap(
        api.POST('/api/v1/auth/register', {
          body: { email: email.trim(), password, display_name: displayName.trim() },
        }),
      );
    } catch (err) {
      setError(err);
      setBusy(false);
      return;
    }
    setStep('signing-in');
    try {
      await signIn(email.trim(), password);
      await router.replace('/projects/');
    } catch (err) {
      setSignInError(err);
      setStep('form');
    } finally {
      setBusy(false);
    }
  }

  if (options.isPending) {
    return <Progress label="Loading…" />;
  }
  const closed = options.data?.registration_enabled === false;

  return (
    <div className={styles.panel}>
      <Title>Create an account</Title>
      <h1>Create an account</h1>
      {closed ? (
        <p>
          Registration is closed on this deployment: ask an administrator for an account.{' '}
          <Link href="/sign-in/">Sign in</Link>
        </p>
      ) : (
        <form className={styles.form} method="post" onSubmit={submit} noValidate>
          <TextField
            label="Name"
            name="display_name"
            hint="Optional; how others see you"
            autoComplete="name"
            maxLength={200}
            value={displayName}
            onChange={(e) => setDisplayName(e.target.value)}
            error={fieldError(error, 'display_name')}
          />
          <TextField
            label="Email"
            name="email"
            type="email"
            autoComplete="email"
            required
            value={email}
            onChange={(e) => setEmail(e.target.value)}
            error={fieldError(error, 'email')}
          />
          <TextField
            label="Password"
            name="password"
            type="password"
            autoComplete="new-password"
            hint={`${PASSWORD_MIN} to ${PASSWORD_MAX} characters`}
            required
            value={password}
            onChange={(e) => setPassword(e.target.value)}
            error={fieldError(error, 'password')}
          />
          <TextField
            label="Repeat the password"
            name="confirm"
            type="password"
            autoComplete="new-password"
            required
            value={confirm}
            onChange={(e) => setConfirm(e.target.value)}
            error={fieldError(error, 'confirm')}
          />
          <ProblemMessage error={error} action="create an account" shownFields={FIELDS} />
          {signInError !== null && (
            <p className="problem" role="alert">
              The account was registered, but signing in failed. If this address already had an account, sign in
              with its password. <Link href="/sign-in/">Go to sign in</Link>
            </p>
          )}
          <Button type="submit" busy={busy}>
            {step === 'signing-in' ? 'Signing in…' : busy ? 'Creating the account…' : 'Create the account'}
          </Button>
        </form>
      )}
      <p className={styles.foot}>
        Already have an account? <Link href="/sign-in/">Sign in</Link>
      </p>
    </div>
  );
}
