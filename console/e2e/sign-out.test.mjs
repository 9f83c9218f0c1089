// Signing out ends the session for real: nothing of the account shows after Back or a reload,
// the old refresh cookie is refused, and "sign out everywhere" ends the other browsers' sessions.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  BASE,
  assertClean,
  createProject,
  createUser,
  http,
  launch,
  login,
  newContext,
  open,
  refreshCookie,
  signInByApi,
  waitHeading,
  watchForLeaks,
} from './lib.mjs';

const SIGN_IN = 'Sign in to Hearth';
const REFRESH = '/api/v1/auth/refresh';

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

test('sign out: Back and reload show no data, and the old refresh cookie is refused', async () => {
  const user = await createUser('signout');
  const project = await createProject(await login(user.email, user.password), `Signout ${Date.now()}`);
  const context = await newContext(browser);
  await signInByApi(context, user);
  const page = await context.newPage();

  await open(page, '/projects/', 'Projects');
  await page.getByRole('link', { name: project.name }).waitFor();
  await open(page, '/account/', 'Your account');
  await page.getByText(user.email).first().waitFor();
  await page.getByRole('table', { name: 'Your active sessions' }).waitFor();
  // Loaded, so no refresh is under way: this cookie holds the session's current refresh token.
  const old = await refreshCookie(context);
  assert.ok(old, 'no hearth_refresh cookie while signed in');
  const access = (await context.cookies()).find((c) => c.name === 'hearth_access');
  assert.ok(access, 'no hearth_access cookie (the edge\'s forward auth reads it) while signed in');

  await page.getByRole('main').getByRole('button', { name: 'Sign out', exact: true }).click();
  await page.waitForURL(/\/console\/sign-in\//);
  await waitHeading(page, SIGN_IN);
  assert.deepEqual(
    (await context.cookies()).map((c) => c.name).filter((n) => n.startsWith('hearth_')),
    [],
    'session cookies outlived the sign-out',
  );
  // The session's access token is dead at once, not when it expires.
  assert.equal((await http('GET', '/api/v1/me', { token: access.value })).status, 401, 'the access token outlived the sign-out');

  const leaks = await watchForLeaks(page, [user.email, project.name]);
  await page.goBack();
  // Back opens the account page again, which finds no session and sends the visitor to sign-in.
  await page.waitForURL(/\/console\/sign-in\/\?next=/);
  await waitHeading(page, SIGN_IN);
  assert.deepEqual(await leaks(), [], 'Back after signing out showed the account\'s data');

  const refreshed = page.waitForResponse((r) => r.url() === `${BASE}${REFRESH}`);
  await page.reload();
  assert.equal((await refreshed).status(), 401, 'the reload after signing out was given a session');
  await waitHeading(page, SIGN_IN);

  // The session's last refresh token, put back by hand, must not open it again.
  await context.addCookies([old]);
  const replay = page.waitForResponse((r) => r.url() === `${BASE}${REFRESH}`);
  await page.goto(`${BASE}/console/projects/`);
  assert.equal((await replay).status(), 401, 'the refresh cookie of a signed-out session still works');
  await page.waitForURL(/\/console\/sign-in\//);
  await waitHeading(page, SIGN_IN);
  assert.equal(await page.getByText(project.name).count(), 0);

  assertClean(context);
  await context.close();
});

test('sign out everywhere ends the session of another browser', async () => {
  const user = await createUser('everywhere');
  const project = await createProject(await login(user.email, user.password), `Everywhere ${Date.now()}`);
  const other = await signInByApi(await newContext(browser), user);
  const here = await signInByApi(await newContext(browser), user);

  const elsewhere = await other.newPage();
  await open(elsewhere, '/projects/', 'Projects');
  await elsewhere.getByRole('link', { name: project.name }).waitFor();

  const page = await here.newPage();
  await open(page, '/account/', 'Your account');
  const sessions = page.getByRole('table', { name: 'Your active sessions' });
  await sessions.waitFor();
  assert.ok((await sessions.getByRole('row').count()) >= 3, 'the account page does not list both sessions');
  await page.getByRole('button', { name: 'Sign out everywhere' }).click();
  await page.getByRole('button', { name: 'Yes, sign out everywhere' }).click();
  await page.waitForURL(/\/console\/sign-in\//);
  await waitHeading(page, SIGN_IN);

  // The other browser, without a reload: its next API call is refused and it goes to sign-in.
  await elsewhere.getByRole('button', { name: /Account menu/ }).click();
  await elsewhere.getByRole('link', { name: 'Account', exact: true }).click();
  await elsewhere.waitForURL(/\/console\/sign-in\//);
  await waitHeading(elsewhere, SIGN_IN);
  // And after a reload it stays out (its refresh cookie is dead too).
  await elsewhere.reload();
  await waitHeading(elsewhere, SIGN_IN);
  await elsewhere.goto(`${BASE}/console/projects/`);
  await elsewhere.waitForURL(/\/console\/sign-in\//);
  assert.equal(await elsewhere.getByText(project.name).count(), 0, 'the other browser still shows the projects');

  assertClean(here);
  assertClean(other);
  await here.close();
  await other.close();
});
