/**
 * Shared helpers of the console's browser journeys (console/e2e/*.test.mjs): the environment,
 * API calls made as the admin to set a test up, one headless Chromium, a CSP guard on every
 * page, axe-core and screenshots.
 *
 * Environment (tests/e2e/test_console.py sets it): HEARTH_URL (the edge, e.g.
 * https://localhost:8443), HEARTH_ADMIN_EMAIL, HEARTH_ADMIN_PASSWORD, HEARTH_SCREENSHOTS (a
 * directory for the PNGs). The edge's certificate comes from the platform's own CA: the browser
 * contexts ignore HTTPS errors and the API helper below skips verification on its own agent
 * only (no process-wide NODE_TLS_REJECT_UNAUTHORIZED).
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import https from 'node:https';
import { createRequire } from 'node:module';
import path from 'node:path';
import { chromium } from 'playwright-core';

function required(name) {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: the console's e2e suite needs HEARTH_URL, HEARTH_ADMIN_EMAIL, HEARTH_ADMIN_PASSWORD and HEARTH_SCREENSHOTS`);
  return v;
}

export const BASE = required('HEARTH_URL').replace(/\/+$/, '');
export const ADMIN = { email: required('HEARTH_ADMIN_EMAIL'), password: required('HEARTH_ADMIN_PASSWORD') };
export const SHOTS = required('HEARTH_SCREENSHOTS');
/** Long enough for a cold page on a busy 2-core machine, short enough to fail fast. */
export const TIMEOUT = 15_000;
export const DESKTOP = { width: 1280, height: 800 };
export const PHONE = { width: 390, height: 844 };
export const THEMES = ['light', 'dark'];

/** The console's URL of a page path such as '/projects/'. */
export const consoleUrl = (p = '/') => `${BASE}/console${p}`;

// ---------------------------------------------------------------- API, as the admin

// Verification off for this agent only: the edge's certificate is from the stack's own CA.
const agent = new https.Agent({ rejectUnauthorized: false, keepAlive: false });

/**
 * One HTTP request to the platform; answers { status, headers, body } (body parsed when JSON).
 * `url` is a path on BASE or an absolute URL (a presigned S3 URL through the edge).
 */
export function http(method, url, { token, json, body, headers = {} } = {}) {
  const target = new URL(url, BASE);
  const h = { ...headers };
  if (token) h.authorization = `Bearer ${token}`;
  let payload = body;
  if (json !== undefined) {
    payload = Buffer.from(JSON.stringify(json));
    h['content-type'] = 'application/json';
  }
  if (payload !== undefined) h['content-length'] = String(payload.length);
  return new Promise((resolve, reject) => {
    const req = https.request(target, { method, headers: h, agent }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        const type = res.headers['content-type'] ?? '';
        resolve({ status: res.statusCode, headers: res.headers, body: /json/.test(type) && text ? JSON.parse(text) : text });
      });
    });
    req.on('error', reject);
    req.setTimeout(TIMEOUT, () => req.destroy(new Error(`${method} ${target} took longer than ${TIMEOUT} ms`)));
    if (payload !== undefined) req.write(payload);
    req.end();
  });
}

/** The data of a 2xx answer, or an error naming the request and what the API said. */
export async function call(method, url, opts = {}) {
  const r = await http(method, url, opts);
  if (r.status < 200 || r.status > 299) {
    throw new Error(`${method} ${url} answered ${r.status}: ${typeof r.body === 'string' ? r.body : JSON.stringify(r.body)}`);
  }
  return r.body;
}

/** An access token for a password login (a new session of that user). */
export async function login(email, password) {
  return (await call('POST', '/api/v1/auth/login', { json: { email, password } })).access_token;
}

let adminToken = null;
/** The admin's token, one login per test file (access tokens last minutes; a file takes seconds). */
export async function admin() {
  adminToken ??= await login(ADMIN.email, ADMIN.password);
  return adminToken;
}

/** An address no other run uses: the suite runs against live stacks, again and again. */
export function uniqueEmail(label) {
  return `e2e-${label}-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}@example.com`;
}

/**
 * A new account made by the admin, with exactly `roles`.
 * Answers { id, email, password, displayName }.
 */
export async function createUser(label, roles = ['member'], displayName = `E2E ${label}`) {
  const email = uniqueEmail(label);
  const password = `pw-${randomBytes(12).toString('base64url')}`;
  const user = await call('POST', '/api/v1/admin/users', {
    token: await admin(),
    json: { email, password, display_name: displayName, roles },
  });
  assert.deepEqual([...user.roles].sort(), [...roles].sort(), `${email} got roles ${user.roles}`);
  return { id: user.id, email, password, displayName };
}

/** A project owned by `token`'s user. */
export async function createProject(token, name, description = '') {
  return call('POST', '/api/v1/projects', { token, json: { name, description } });
}

/** Uploads bytes as the console does (declare, presigned PUT through the edge, complete). */
export async function uploadFile(token, projectId, name, contentType, bytes) {
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  const up = await call('POST', `/api/v1/projects/${projectId}/files`, {
    token,
    json: { name, content_type: contentType, size: bytes.length, sha256 },
  });
  await call(up.upload_method ?? 'PUT', up.upload_url, { body: bytes, headers: up.upload_headers });
  await call('POST', `/api/v1/projects/${projectId}/files/${up.file.id}/complete`, { token });
  return { ...up.file, sha256 };
}

/** A small, valid PNG (1x1, transparent): what the worker must sniff as image/png. */
export const PNG_1PX = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==',
  'base64',
);

export const sha256Hex = (bytes) => createHash('sha256').update(bytes).digest('hex');

// ---------------------------------------------------------------- the browser

/** Headless Chromium from the distribution: Playwright's own download does not work here. */
export function launch() {
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/**
 * A browser context (one user's cookies) whose pages are watched for what the console must never
 * do: break its Content-Security-Policy, throw an uncaught error, or talk to another origin.
 * `context.problems` lists what happened; `assertClean(context)` fails on any.
 * The CSP stays on: axe-core is evaluated over DevTools (see runAxe), not injected as a script.
 */
export async function newContext(browser, { viewport = DESKTOP, theme = 'light' } = {}) {
  const context = await browser.newContext({
    ignoreHTTPSErrors: true,
    viewport,
    colorScheme: theme,
    reducedMotion: 'reduce',
    locale: 'en-GB',
  });
  context.setDefaultTimeout(TIMEOUT);
  context.problems = [];
  const origin = new URL(BASE).origin;
  // Runs over DevTools before the page's own scripts; reports through the console.
  await context.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI || 'inline'} at ${e.sourceFile}:${e.lineNumber}`);
    });
  });
  context.on('page', (page) => watch(context, page, origin));
  return context;
}

function watch(context, page, origin) {
  page.on('console', (m) => {
    const text = m.text();
    if (/Content.Security.Policy|CSP violation/i.test(text)) context.problems.push(`${page.url()}: ${text}`);
  });
  page.on('pageerror', (e) => context.problems.push(`${page.url()}: uncaught ${e.name}: ${e.message}`));
  // Chromium aborts what is in flight when the host's interfaces change (other suites starting
  // containers): said at once, whatever the test then fails on, so the e2e (tests/e2e/
  // test_console.py) can tell the machine's doing from the console's.
  page.on('requestfailed', (r) => {
    if (r.failure()?.errorText === 'net::ERR_NETWORK_CHANGED') console.error(`${r.url()}: net::ERR_NETWORK_CHANGED`);
  });
  page.on('request', (r) => {
    const u = r.url();
    if (!u.startsWith(origin) && !u.startsWith('data:') && !u.startsWith('blob:')) {
      context.problems.push(`${page.url()}: a request to another origin: ${r.method()} ${u}`);
    }
  });
  // Every console document must carry the CSP (the journey proves it holds, so it must be on).
  page.on('response', (r) => {
    if (r.request().resourceType() === 'document' && new URL(r.url()).pathname.startsWith('/console/')) {
      const csp = r.headers()['content-security-policy'] ?? '';
      if (!/script-src 'self'/.test(csp)) context.problems.push(`${r.url()}: no script-src 'self' CSP (got ${JSON.stringify(csp)})`);
    }
  });
}

export function assertClean(context) {
  assert.deepEqual(context.problems, [], `the console broke its CSP or threw:\n${context.problems.join('\n')}`);
}

/**
 * Signs `context` in as a user without the sign-in page, for journeys about something else:
 * a password login through the context's own request API, which keeps the session's
 * HttpOnly refresh cookie in the context, where the console's restore() finds it on load.
 * Each context gets a session of its own (refresh tokens work once: never share them).
 */
export async function signInByApi(context, user) {
  const r = await context.request.post(`${BASE}/api/v1/auth/login`, { data: { email: user.email, password: user.password } });
  assert.equal(r.status(), 200, `login of ${user.email} answered ${r.status()}: ${await r.text()}`);
  const cookies = await context.cookies();
  assert.ok(
    cookies.some((c) => c.name === 'hearth_refresh' && c.httpOnly),
    `the login set no HttpOnly hearth_refresh cookie (cookies: ${cookies.map((c) => c.name).join(', ') || 'none'}); the console cannot restore its session on load`,
  );
  return context;
}

/** Opens a console page and waits for its one <h1>; answers the page. */
export async function open(page, p, heading) {
  await page.goto(consoleUrl(p));
  await waitHeading(page, heading);
  return page;
}

/** Waits until the page's level-1 heading has this name (a string: exact, or a RegExp). */
export async function waitHeading(page, name) {
  const h1 = page.getByRole('heading', { level: 1, name, exact: typeof name === 'string' ? true : undefined });
  await h1.waitFor();
  return h1;
}

/** The session's refresh cookie in `context` (path /api/v1/auth), or undefined. */
export async function refreshCookie(context) {
  return (await context.cookies()).find((c) => c.name === 'hearth_refresh');
}

/** The password sign-in page, filled in and sent; waits for the projects page. */
export async function signInByUi(page, user) {
  await open(page, '/sign-in/', 'Sign in to Hearth');
  await page.getByLabel('Email', { exact: true }).fill(user.email);
  await page.getByLabel('Password', { exact: true }).fill(user.password);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.waitForURL(/\/console\/projects\/$/);
  await waitHeading(page, 'Projects');
}

// ---------------------------------------------------------------- themes

/**
 * Chooses `theme` in the header's Theme select (kept in localStorage, so later pages of the
 * context keep it) and waits until <html data-theme> says so and the page is painted in it.
 */
export async function chooseTheme(page, theme) {
  await page.getByRole('combobox', { name: 'Theme' }).selectOption(theme);
  await page.waitForFunction((t) => document.documentElement.dataset.theme === t, theme);
  await settle(page);
}

/** The relative luminance (0 black … 1 white) of the page's background. */
export function backgroundLuminance(page) {
  return page.evaluate(() => {
    const pick = (el) => getComputedStyle(el).backgroundColor;
    let bg = pick(document.body);
    if (/rgba\(0, 0, 0, 0\)|transparent/.test(bg)) bg = pick(document.documentElement);
    const [r, g, b] = (bg.match(/[\d.]+/g) ?? ['255', '255', '255']).slice(0, 3).map(Number);
    const lin = (c) => {
      const s = c / 255;
      return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
    };
    return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b);
  });
}

/** No animation running and the fonts in: what axe's contrast check and a picture need. */
export async function settle(page) {
  await page.evaluate(async () => {
    await document.fonts.ready;
    await Promise.all(document.getAnimations().map((a) => a.finished.catch(() => {})));
  });
}

// ---------------------------------------------------------------- axe-core and pictures

const require = createRequire(import.meta.url);
const AXE_SOURCE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

/**
 * axe-core's serious and critical violations on the page as it is now. axe is evaluated over
 * DevTools, which the page's CSP does not govern (an injected <script> would be refused).
 */
export async function runAxe(page) {
  if (!(await page.evaluate(() => typeof window.axe === 'object'))) await page.evaluate(AXE_SOURCE);
  const violations = await page.evaluate(async () => {
    const r = await window.axe.run(document, { resultTypes: ['violations'] });
    return r.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      helpUrl: v.helpUrl,
      targets: v.nodes.map((n) => `${n.target.join(' ')}${n.failureSummary ? ` (${n.failureSummary.replace(/\s+/g, ' ')})` : ''}`),
    }));
  });
  return violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
}

export function formatViolations(violations) {
  return violations
    .map((v) => `- ${v.id} [${v.impact}]: ${v.help} (${v.helpUrl})\n${v.targets.map((t) => `    ${t}`).join('\n')}`)
    .join('\n');
}

/** A PNG of the viewport into HEARTH_SCREENSHOTS as console-<name>.png. */
export async function screenshot(page, name) {
  mkdirSync(SHOTS, { recursive: true });
  const file = path.join(SHOTS, `console-${name}.png`);
  await page.screenshot({ path: file, animations: 'disabled', caret: 'hide' });
  return file;
}

// ---------------------------------------------------------------- focus

/**
 * What has the keyboard focus: tag, type, accessible-ish name, and whether a person can see it
 * (:focus-visible with an outline or a box-shadow drawn).
 */
export function focused(page) {
  return page.evaluate(() => {
    const el = document.activeElement;
    if (!el || el === document.body) return { tag: 'body', name: '', visible: false };
    const style = getComputedStyle(el);
    const drawn = (style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0) || style.boxShadow !== 'none';
    const label = el.labels?.[0]?.textContent ?? '';
    return {
      tag: el.tagName.toLowerCase(),
      type: el.getAttribute('type') ?? '',
      name: (el.getAttribute('aria-label') ?? (label || el.textContent) ?? '').trim(),
      inMain: !!el.closest('main'),
      visible: el.matches(':focus-visible') && drawn,
    };
  });
}

/**
 * Watches the current document for `secrets` (strings that are data of a signed-in user)
 * appearing in it from now on; `await leaks()` lists the ones seen, or the ones on screen now.
 */
export async function watchForLeaks(page, secrets) {
  await page.evaluate((words) => {
    window.__e2eSeen = [];
    const look = () => {
      const text = document.body.innerText;
      for (const w of words) if (text.includes(w) && !window.__e2eSeen.includes(w)) window.__e2eSeen.push(w);
    };
    new MutationObserver(look).observe(document, { subtree: true, childList: true, characterData: true });
  }, secrets);
  return async () =>
    page.evaluate((words) => {
      const now = words.filter((w) => document.body.innerText.includes(w));
      return [...new Set([...(window.__e2eSeen ?? []), ...now])];
    }, secrets);
}
