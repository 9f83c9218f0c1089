// Every page, in the light and the dark theme: axe-core finds nothing serious or critical, the
// page is painted in the theme it says, and a picture of it goes to HEARTH_SCREENSHOTS
// (console-<page>-<theme>.png at 1280x800; console-<page>-phone.png: sign-in and projects at
// 390x844 in the light theme).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  PHONE,
  PNG_1PX,
  THEMES,
  assertClean,
  backgroundLuminance,
  chooseTheme,
  consoleUrl,
  createProject,
  createUser,
  formatViolations,
  launch,
  login,
  newContext,
  runAxe,
  screenshot,
  settle,
  signInByApi,
  uploadFile,
  waitHeading,
} from './lib.mjs';

let browser;
let user;
let project;
const FILE = 'logo.png';

before(async () => {
  browser = await launch();
  // An administrator sees every page with something on it: a project with a checked file.
  user = await createUser('pages', ['admin'], 'Alex Admin');
  const token = await login(user.email, user.password);
  project = await createProject(token, 'Harbour survey', 'Photos and notes from the spring survey');
  await uploadFile(token, project.id, FILE, 'image/png', PNG_1PX);
});
after(async () => {
  await browser?.close();
});

/** The pages: where, their <h1>, and what shows once their data is in. */
const SIGNED_OUT = [
  { name: 'sign-in', path: '/sign-in/', heading: 'Sign in to Hearth', ready: (p) => p.getByRole('button', { name: 'Sign in', exact: true }) },
  { name: 'register', path: '/register/', heading: 'Create an account', ready: (p) => p.getByRole('main').getByRole('link', { name: 'Sign in' }).last() },
];
const SIGNED_IN = [
  { name: 'account', path: '/account/', heading: 'Your account', ready: (p) => p.getByRole('table', { name: 'Your active sessions' }) },
  { name: 'projects', path: '/projects/', heading: 'Projects', ready: (p) => p.getByRole('table', { name: 'Your projects' }) },
  {
    name: 'project',
    path: () => `/projects/view/?id=${project.id}`,
    heading: () => project.name,
    ready: (p) => p.getByRole('row').filter({ hasText: FILE }).getByRole('cell', { name: 'Ready', exact: true }),
  },
  { name: 'admin-users', path: '/admin/users/', heading: 'Users', ready: (p) => p.getByRole('table', { name: 'Users' }) },
  { name: 'admin-roles', path: '/admin/roles/', heading: 'Roles', ready: (p) => p.getByRole('table', { name: 'Roles and their permissions' }) },
  { name: 'admin-audit', path: '/admin/audit/', heading: 'Audit log', ready: (p) => p.getByRole('table', { name: /^Audit log/ }) },
  { name: 'status', path: '/status/', heading: 'Platform status', ready: (p) => p.getByRole('heading', { name: 'Services' }) },
];

const value = (v) => (typeof v === 'function' ? v() : v);

/** Opens a page and waits until its data is in and nothing is loading any more. */
async function show(page, spec) {
  await page.goto(consoleUrl(value(spec.path)));
  await waitHeading(page, value(spec.heading));
  await spec.ready(page).waitFor({ timeout: 30_000 });
  await page.waitForFunction(() => !document.querySelector('main progress'), null, { timeout: 30_000 });
  await settle(page);
}

async function check(page, spec, theme, shot) {
  try {
    await show(page, spec);
  } catch (e) {
    await screenshot(page, shot); // what it shows instead: the failure's evidence
    throw e;
  }
  const painted = await page.evaluate(() => document.documentElement.dataset.theme);
  assert.ok(painted === theme || painted === 'system', `<html data-theme> is ${painted} in the ${theme} theme`);
  const lum = await backgroundLuminance(page);
  assert.ok(theme === 'dark' ? lum < 0.2 : lum > 0.5, `the ${theme} ${spec.name} page has a background of luminance ${lum.toFixed(2)}`);
  await screenshot(page, shot);
  assert.equal(await page.getByRole('heading', { level: 1 }).count(), 1, `${spec.name} has not exactly one <h1>`);
  assert.equal(await page.getByRole('main').count(), 1, `${spec.name} has not exactly one <main>`);
  const violations = await runAxe(page);
  assert.equal(violations.length, 0, `axe-core on ${spec.name} (${theme}):\n${formatViolations(violations)}`);
}

for (const theme of THEMES) {
  describe(`every page in the ${theme} theme`, () => {
    let context;
    let page;
    before(async () => {
      context = await newContext(browser, { theme });
      page = await context.newPage();
      await page.goto(consoleUrl('/sign-in/'));
      await chooseTheme(page, theme);
    });
    after(async () => {
      assertClean(context);
      await context.close();
    });

    for (const spec of SIGNED_OUT) {
      test(`${spec.name}: axe-core and a screenshot`, () => check(page, spec, theme, `${spec.name}-${theme}`));
    }
    test('sign in (by the API, into this context)', async () => {
      await signInByApi(context, user);
    });
    for (const spec of SIGNED_IN) {
      test(`${spec.name}: axe-core and a screenshot`, () => check(page, spec, theme, `${spec.name}-${theme}`));
    }
  });
}

describe('phone width (390x844)', () => {
  test('sign-in and projects: axe-core, no sideways scrolling, the folded nav, a screenshot', async () => {
    // The system's colour scheme (light): a phone visitor has chosen nothing.
    const context = await newContext(browser, { viewport: PHONE });
    const page = await context.newPage();
    const fits = () => page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth);

    await check(page, SIGNED_OUT[0], 'light', 'sign-in-phone');
    assert.ok(await fits(), 'the sign-in page scrolls sideways at phone width');

    await signInByApi(context, user);
    await check(page, SIGNED_IN[1], 'light', 'projects-phone');
    assert.ok(await fits(), 'the projects page scrolls sideways at phone width');
    // The nav folds behind the Menu button and unfolds on it.
    const nav = page.getByRole('navigation', { name: 'Main' });
    assert.equal(await nav.isVisible(), false, 'the nav is not folded at phone width');
    await page.getByRole('button', { name: 'Menu' }).click();
    await nav.getByRole('link', { name: 'Users' }).waitFor();
    assertClean(context);
    await context.close();
  });

  test('a signed-out visitor can still choose a theme at phone width', async () => {
    const context = await newContext(browser, { viewport: PHONE });
    const page = await context.newPage();
    await show(page, SIGNED_OUT[0]);
    const select = page.getByRole('combobox', { name: 'Theme' });
    const menu = page.getByRole('button', { name: 'Menu' });
    assert.ok(
      (await select.isVisible()) || (await menu.isVisible()),
      'at phone width the signed-out header hides the Theme select and offers no Menu button to reach it',
    );
    await context.close();
  });
});

test('the theme follows the system until one is chosen, and the choice outlives a reload', async () => {
  const context = await newContext(browser, { theme: 'dark' });
  const page = await context.newPage();
  await show(page, SIGNED_OUT[0]);
  assert.equal(await page.evaluate(() => document.documentElement.dataset.theme), 'system');
  assert.ok((await backgroundLuminance(page)) < 0.2, 'a dark system preference does not give a dark page');
  await chooseTheme(page, 'light');
  assert.ok((await backgroundLuminance(page)) > 0.5, 'choosing Light over a dark system does not give a light page');
  await page.reload();
  await page.waitForFunction(() => document.documentElement.dataset.theme === 'light');
  await settle(page);
  assert.ok((await backgroundLuminance(page)) > 0.5, 'the Light choice is lost on reload');
  assertClean(context);
  await context.close();
});

test('the register page loads for a signed-out visitor whichever of its two requests answers first', async () => {
  // On load the console asks for a session (refresh: 401 for a visitor) and for the sign-in
  // options. Here the options answer last, as on a slow link; they are real, only held back.
  const context = await newContext(browser);
  const page = await context.newPage();
  let refreshed;
  const refreshAnswered = new Promise((resolve) => {
    refreshed = resolve;
  });
  page.on('response', (r) => {
    if (new URL(r.url()).pathname === '/api/v1/auth/refresh') refreshed();
  });
  await page.route('**/api/v1/auth/options', async (route) => {
    await refreshAnswered;
    await route.continue();
  });
  await show(page, SIGNED_OUT[1]);
  await page.getByRole('button', { name: 'Create the account' }).waitFor();
  assertClean(context);
  await context.close();
});
