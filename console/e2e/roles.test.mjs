// An administrator grants a role in the console, and the other person's console changes:
// after a reload (a fresh /api/v1/me) the admin pages are theirs, and the API agrees.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { assertClean, createUser, launch, newContext, open, signInByApi, waitHeading } from './lib.mjs';

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

test('an admin grants a role on the Users page and that user\'s console changes', async () => {
  const granter = await createUser('granter', ['admin']);
  const grantee = await createUser('grantee', ['member']);
  const adminCtx = await signInByApi(await newContext(browser), granter);
  const userCtx = await signInByApi(await newContext(browser), grantee);

  // Before: the grantee sees no admin links.
  const theirs = await userCtx.newPage();
  await open(theirs, '/projects/', 'Projects');
  const theirNav = theirs.getByRole('navigation', { name: 'Main' });
  await theirNav.getByRole('link', { name: 'Projects' }).waitFor();
  assert.equal(await theirNav.getByRole('link', { name: 'Users' }).count(), 0, 'a member sees the Users link');

  // The admin finds the grantee and gives them the admin role.
  const page = await adminCtx.newPage();
  await open(page, '/admin/users/', 'Users');
  await page.getByRole('searchbox', { name: 'Email contains' }).fill(grantee.email);
  await page.getByRole('button', { name: 'Search', exact: true }).click();
  const table = page.getByRole('table', { name: `Users whose email contains “${grantee.email}”` });
  const row = table.getByRole('row').filter({ hasText: grantee.email });
  await row.getByRole('cell', { name: 'member', exact: true }).waitFor();
  await row.getByRole('button', { name: `Manage ${grantee.email}` }).click();
  const roles = page.getByRole('group', { name: `Roles of ${grantee.email}` });
  await roles.getByRole('checkbox', { name: /^admin\b/ }).check();
  await page.getByRole('button', { name: 'Save roles' }).click();
  await row.getByRole('cell', { name: 'admin, member', exact: true }).waitFor();

  // After: a reload loads /me again; the grantee now has the admin pages, and they work.
  const me = theirs.waitForResponse((r) => r.url().endsWith('/api/v1/me'));
  await theirs.reload();
  assert.ok((await me).ok());
  await theirNav.getByRole('link', { name: 'Users' }).click();
  await theirs.waitForURL(/\/console\/admin\/users\/$/);
  await waitHeading(theirs, 'Users');
  await theirs.getByRole('searchbox', { name: 'Email contains' }).fill(grantee.email);
  await theirs.getByRole('button', { name: 'Search', exact: true }).click();
  await theirs
    .getByRole('table', { name: `Users whose email contains “${grantee.email}”` })
    .getByRole('row')
    .filter({ hasText: grantee.email })
    .getByRole('cell', { name: 'admin, member', exact: true })
    .waitFor();
  await theirNav.getByRole('link', { name: 'Audit' }).waitFor();

  assertClean(adminCtx);
  assertClean(userCtx);
  await adminCtx.close();
  await userCtx.close();
});

test('the Users search never shows other accounts under its caption while it loads', async () => {
  const admin = await createUser('searcher', ['admin']);
  const context = await signInByApi(await newContext(browser), admin);
  const page = await context.newPage();
  await open(page, '/admin/users/', 'Users');
  await page.getByRole('table', { name: 'Users' }).waitFor();
  // Each state of the table, recorded as it changes: the wrong one lasts only one request.
  await page.evaluate(() => {
    window.__e2eMislabelled = [];
    new MutationObserver(() => {
      const caption = document.querySelector('main table caption')?.textContent ?? '';
      const wanted = /contains “(.+)”/.exec(caption)?.[1];
      if (!wanted) return;
      for (const row of document.querySelectorAll('main table tbody tr')) {
        const email = row.querySelector('td')?.textContent ?? '';
        if (!email.includes(wanted)) window.__e2eMislabelled.push(`${email} under “${caption}”`);
      }
    }).observe(document.body, { subtree: true, childList: true, characterData: true });
  });
  await page.getByRole('searchbox', { name: 'Email contains' }).fill(admin.email);
  await page.getByRole('button', { name: 'Search', exact: true }).click();
  await page
    .getByRole('table', { name: `Users whose email contains “${admin.email}”` })
    .getByRole('row')
    .filter({ hasText: admin.email })
    .waitFor();
  const wrong = await page.evaluate(() => [...new Set(window.__e2eMislabelled)]);
  assert.equal(wrong.length, 0, `${wrong.length} rows not matching the search were shown as its results, e.g.:\n${wrong.slice(0, 3).join('\n')}`);
  assertClean(context);
  await context.close();
});
