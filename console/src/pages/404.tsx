import Link from 'next/link';
import { Title } from '@/components/Title';

/** Our own 404: Next's default page carries style attributes, which the CSP refuses. */
export default function NotFound() {
  return (
    <>
      <Title>Not found</Title>
      <h1>Page not found</h1>
      <p>
        There is no console page at this address. <Link href="/">Go to the start page</Link>.
      </p>
    </>
  );
}
