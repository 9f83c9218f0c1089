import { DEFAULT_NEXT, safeNext } from './next';

describe('safeNext', () => {
  it('keeps a path on this site with its query and fragment', () => {
    expect(safeNext('/projects/view/?id=1')).toBe('/projects/view/?id=1');
    expect(safeNext('/admin/users/?q=ada#list')).toBe('/admin/users/?q=ada#list');
    expect(safeNext('/')).toBe('/');
  });

  it('drops the basePath, which the router adds itself', () => {
    expect(safeNext('/console/admin/audit/?kind=x')).toBe('/admin/audit/?kind=x');
    expect(safeNext('/console')).toBe('/');
    expect(safeNext('/consoles/')).toBe('/consoles/');
  });

  it.each([
    ['a tab the URL parser strips', '/\t/evil.example/'],
    ['a newline the URL parser strips', '/\n/evil.example/'],
    ['a space', '/ /evil.example/'],
    ['a NUL', '/\u0000/evil.example/'],
    ['DEL', '/\u007f/evil.example/'],
    ['protocol-relative', '//evil.example/'],
    ['a backslash', '/\\evil.example'],
    ['a backslash later on', '/a\\b'],
    ['an absolute URL', 'https://evil.example/'],
    ['a javascript: URL', 'javascript:alert(1)'],
    ['a relative path', 'projects/'],
    ['a dot segment that leaves "//" behind', '/.//evil.example/'],
    ['a dot-dot segment that leaves "//" behind', '/a/..//evil.example/'],
    ['the basePath in front of "//"', '/console//evil.example/'],
    ['empty', ''],
  ])('refuses %s', (_why, next) => {
    expect(safeNext(next)).toBe(DEFAULT_NEXT);
  });

  it('refuses what is not one string', () => {
    expect(safeNext(['/a'])).toBe(DEFAULT_NEXT);
    expect(safeNext(undefined)).toBe(DEFAULT_NEXT);
    expect(safeNext(undefined, '/account/')).toBe('/account/');
  });

  it('keeps a percent-encoded control character as part of a path on this site', () => {
    const next = safeNext('/%09/evil.example/');
    expect(next).toBe('/%09/evil.example/');
    const url = new URL(next, window.location.origin);
    expect(url.origin).toBe(window.location.origin);
  });
});
