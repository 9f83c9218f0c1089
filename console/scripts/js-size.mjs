// First-load JavaScript of an exported page, gzipped: the sum over the <script src> files its HTML
// loads (the nomodule polyfills, which modern browsers skip, are counted apart).
// Usage: node scripts/js-size.mjs [page-dir-in-out, default sign-in] [budget KB, default 150]
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

const page = process.argv[2] ?? 'sign-in';
const budget = Number(process.argv[3] ?? 150) * 1024;
const html = readFileSync(join('out', page, 'index.html'), 'utf8');
let modern = 0;
let legacy = 0;
for (const m of html.matchAll(/<script\b([^>]*)\bsrc="([^"]+)"[^>]*>/g)) {
  const src = m[2] ?? '';
  const file = join('out', src.replace(/^\/console\//, ''));
  const size = gzipSync(readFileSync(file), { level: 9 }).length;
  if (/nomodule/i.test(m[0])) legacy += size;
  else modern += size;
  console.log(`${(size / 1024).toFixed(1).padStart(7)} KB  ${src}${/nomodule/i.test(m[0]) ? '  (nomodule)' : ''}`);
}
console.log(`${page}: ${(modern / 1024).toFixed(1)} KB gzipped first-load JS (+ ${(legacy / 1024).toFixed(1)} KB nomodule polyfills for old browsers); budget ${budget / 1024} KB`);
if (modern > budget) process.exit(1);
