import { useRouter } from 'next/router';
import { useEffect } from 'react';
import { Progress } from '@/components/Progress';
import { Title } from '@/components/Title';
import { useSession } from '@/store/session';

/** The console's front door: to the projects when signed in, to sign-in otherwise. */
export default function Home() {
  const status = useSession((s) => s.status);
  const router = useRouter();
  useEffect(() => {
    if (status === 'signed-in') void router.replace('/projects/');
    else if (status === 'signed-out') void router.replace('/sign-in/');
  }, [status, router]);
  return (
    <>
      <Title>Console</Title>
      <h1>Hearth console</h1>
      <Progress label="Opening the console…" />
    </>
  );
}
