import { useRouter } from 'next/router';
import { useEffect, type ReactNode } from 'react';
import { useSession } from '@/store/session';
import { Progress } from './Progress';

/**
 * Renders children only when signed in; sends a signed-out visitor to /console/sign-in/
 * (with ?next= to come back) and shows progress while the session is being restored.
 */
export function RequireAuth({ children }: { children: ReactNode }) {
  const status = useSession((s) => s.status);
  const router = useRouter();
  useEffect(() => {
    if (status === 'signed-out') {
      const next = router.asPath;
      void router.replace({ pathname: '/sign-in/', query: next && next !== '/' ? { next } : {} });
    }
  }, [status, router]);
  if (status !== 'signed-in') {
    return <Progress label={status === 'unknown' ? 'Checking your session…' : 'Going to sign in…'} />;
  }
  return <>{children}</>;
}
