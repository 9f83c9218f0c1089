// A person without the permission opens the admin pages by their address: the API refuses
// (403) and the console says so in words, next to the page's heading, never a blank page.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { assertClean, createUser, launch, newContext, open, signInByApi } from './lib.mjs';

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

const ADMIN_PAGES = [
  { path: '/admin/users/', heading: 'Users', api: '/api/v1/admin/users', action: 'list users' },
  { path: '/admin/roles/', heading: 'Roles', api: '/api/v1/admin/roles', action: 'list the roles' },
  { path: '/admin/audit/', heading: 'Audit log', api: '/api/v1/admin/audit', action: 'read the audit log' },
];

test('a viewer is refused the admin pages with a readable message', async () => {
  const viewer = await createUser('viewer', ['viewer']);
  const context = await signInByApi(await newContext(browser), viewer);
  const page = await context.newPage();

  for (const p of ADMIN_PAGES) {
    const refused = page.waitForResponse((r) => new URL(r.url()).pathname === p.api && r.request().method() === 'GET');
    await open(page, p.path, p.heading);
    assert.equal((await refused).status(), 403, `${p.api} did not refuse the viewer`);
    const alert = page.getByRole('main').getByRole('alert');
    await alert.waitFor();
    const text = await alert.innerText();
    assert.match(text, new RegExp(`^You do not have permission to ${p.action}\\.`), `${p.path} says: ${text}`);
    assert.equal(await page.getByRole('table').count(), 0, `${p.path} shows a table to a viewer`);
  }

  // The status page asks monitoring only with dashboards:view; without it, it says why.
  await open(page, '/status/', 'Platform status');
  const why = page.getByRole('main').getByRole('alert');
  assert.match(await why.innerText(), /dashboards:view/);

  // The nav offers none of the admin pages (cosmetic; the API above is what decides).
  const nav = page.getByRole('navigation', { name: 'Main' });
  await nav.getByRole('link', { name: 'Projects' }).waitFor();
  for (const name of ['Users', 'Roles', 'Audit']) {
    assert.equal(await nav.getByRole('link', { name }).count(), 0, `a viewer sees the ${name} link`);
  }
  assertClean(context);
  await context.close();
});
