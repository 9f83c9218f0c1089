import '@/styles/globals.css';
import '@/styles/modules';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import type { AppProps } from 'next/app';
import Head from 'next/head';
import { useEffect, useState } from 'react';
import { ApiError } from '@/api/client';
import { Layout } from '@/components/Layout';
import { useSession } from '@/store/session';
import { useApplyTheme } from '@/store/theme';

/** Retry only what may pass on a second try: no answer, or the server's own trouble. */
export function shouldRetry(failureCount: number, error: unknown): boolean {
  if (failureCount >= 2) return false;
  return !(error instanceof ApiError) || error.status === 0 || error.status >= 500;
}

export function makeQueryClient(): QueryClient {
  return new QueryClient({
    defaultOptions: {
      queries: { retry: shouldRetry, staleTime: 10_000, refetchOnWindowFocus: false },
      mutations: { retry: false },
    },
  });
}

export default function App({ Component, pageProps }: AppProps) {
  const [queryClient] = useState(makeQueryClient);
  useApplyTheme();
  useEffect(() => {
    if (useSession.getState().status === 'unknown') void useSession.getState().restore();
    // Nothing cached for one user may show to the next. Only a real sign-out clears: clearing when
    // the first check ends signed out would cancel public requests in flight (the sign-in options).
    return useSession.subscribe((s, prev) => {
      if (s.status === 'signed-out' && prev.status === 'signed-in') queryClient.clear();
    });
  }, [queryClient]);
  return (
    <QueryClientProvider client={queryClient}>
      <Head>
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>Hearth</title>
      </Head>
      <Layout>
        <Component {...pageProps} />
      </Layout>
    </QueryClientProvider>
  );
}
