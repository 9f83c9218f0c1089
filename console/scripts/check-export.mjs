// Fails when the exported HTML would break the console's CSP (script-src 'self'; style-src 'self'):
// an inline <script> (other than Next's JSON data block) or a style= attribute.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

function* htmlFiles(dir) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) yield* htmlFiles(p);
    else if (p.endsWith('.html')) yield p;
  }
}

const problems = [];
let count = 0;
for (const file of htmlFiles(process.argv[2] ?? 'out')) {
  count += 1;
  const html = readFileSync(file, 'utf8');
  for (const m of html.matchAll(/<script\b([^>]*)>/gi)) {
    const attrs = m[1] ?? '';
    if (!/\ssrc=/i.test(attrs) && !/type="application\/json"/i.test(attrs)) problems.push(`${file}: inline script ${m[0]}`);
  }
  if (/<[^>]+\sstyle=/i.test(html)) problems.push(`${file}: style attribute`);
  // Page CSS (data-n-p) is re-injected as <style> on client navigation, which the CSP blocks.
  if (/\sdata-n-p\b/i.test(html)) problems.push(`${file}: page-level CSS; import its CSS module in src/styles/modules.ts`);
  if (/https?:\/\//i.test(html.replace(/xmlns="[^"]*"/g, ''))) problems.push(`${file}: external URL`);
}
if (count === 0) problems.push('no HTML exported');
if (problems.length) {
  console.error(problems.join('\n'));
  process.exit(1);
}
console.log(`CSP check: ${count} HTML files, no inline script, no style attribute, no page-level CSS, no external URL`);
