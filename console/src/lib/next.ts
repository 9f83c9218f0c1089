/** Where to go after signing in, from a ?next= that anyone can write into a link. */

export const DEFAULT_NEXT = '/projects/';
/** next.config.ts's basePath: the router puts it in front of every path itself. */
const BASE_PATH = '/console';

// Control characters, space, DEL and "\": the URL parser drops tabs and newlines and reads "\"
// as "/", so "/\t/evil.example/" would become "//evil.example/", another site.
const UNSAFE = /[\u0000-\u0020\u007f\\]/;

/**
 * A path on this origin (pathname, query and fragment, without the basePath) or `fallback`:
 * checked as text first, then as the URL the browser would resolve it to.
 */
export function safeNext(next: unknown, fallback: string = DEFAULT_NEXT): string {
  if (typeof next !== 'string' || UNSAFE.test(next) || !next.startsWith('/') || next.startsWith('//')) return fallback;
  let url: URL;
  try {
    url = new URL(next, window.location.origin);
  } catch {
    return fallback;
  }
  if (url.origin !== window.location.origin) return fallback;
  let path = url.pathname;
  if (path === BASE_PATH || path.startsWith(`${BASE_PATH}/`)) path = path.slice(BASE_PATH.length) || '/';
  // Dot segments ("/.//x") and the basePath ("/console//x") can leave "//" in front: another site.
  if (!path.startsWith('/') || path.startsWith('//')) return fallback;
  return path + url.search + url.hash;
}
