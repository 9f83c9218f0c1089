import Head from 'next/head';

/** The document title: "<page> · Hearth". */
export function Title({ children }: { children: string }) {
  return (
    <Head>
      <title>{`${children} · Hearth`}</title>
    </Head>
  );
}
