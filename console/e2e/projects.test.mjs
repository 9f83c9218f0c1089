// The main journey: sign in with a password, make a project, upload a file through the file
// input, watch the progress bar, then see the worker's result arrive without a reload.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { PNG_1PX, assertClean, createUser, launch, newContext, sha256Hex, signInByUi, waitHeading } from './lib.mjs';

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

test('sign in, create a project, upload a file and see it checked without a reload', async () => {
  const user = await createUser('journey', ['member']);
  const context = await newContext(browser);
  const page = await context.newPage();

  await signInByUi(page, user);

  // Signed in, and nothing a script could steal: no token in Web Storage, and the session's
  // cookies are HttpOnly (invisible to document.cookie).
  const stored = await page.evaluate(() => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }));
  assert.doesNotMatch(stored, /eyJ|token|refresh/i, `Web Storage holds ${stored}`);
  assert.doesNotMatch(await page.evaluate(() => document.cookie), /hearth_/, 'a session cookie is readable by scripts');
  const cookies = await context.cookies();
  for (const name of ['hearth_access', 'hearth_refresh']) {
    const c = cookies.find((k) => k.name === name);
    assert.ok(c?.httpOnly && c.secure, `${name} is missing or not HttpOnly and Secure: ${JSON.stringify(c)}`);
  }

  const name = `Journey ${Date.now()}`;
  await page.getByRole('textbox', { name: 'Name' }).fill(name);
  await page.getByRole('textbox', { name: 'Description' }).fill('Made by the console e2e suite');
  await page.getByRole('button', { name: 'Create project' }).click();
  await page.waitForURL(/\/console\/projects\/view\/\?id=[0-9a-f-]{36}$/);
  await waitHeading(page, name);

  // A PNG: its magic bytes are what the worker sniffs.
  const bytes = Buffer.concat([PNG_1PX, Buffer.alloc(160 * 1024)]);
  const sha = sha256Hex(bytes);
  const file = 'pixel.png';
  const loads = [];
  page.on('load', () => loads.push(page.url()));
  // Every state of the progress bars, recorded as it changes: a small upload can be over
  // between two looks of a poll.
  await page.evaluate(() => {
    window.__e2eSameDocument = true;
    window.__e2eProgress = [];
    const record = () => {
      for (const p of document.querySelectorAll('main progress')) {
        const shown = p.getBoundingClientRect().height > 0 && getComputedStyle(p).visibility !== 'hidden';
        const entry = `${p.labels?.[0]?.textContent ?? ''}${shown ? '' : ' (not visible)'}`;
        if (window.__e2eProgress.at(-1) !== entry) window.__e2eProgress.push(entry);
      }
    };
    new MutationObserver(record).observe(document.body, { subtree: true, childList: true, attributes: true, characterData: true });
  });

  await page.getByLabel('File', { exact: true }).setInputFiles({ name: file, mimeType: 'image/png', buffer: bytes });
  await page.getByRole('button', { name: 'Upload', exact: true }).click();
  await page.getByRole('status').filter({ hasText: `${file} is uploaded` }).waitFor();
  const progress = await page.evaluate(() => window.__e2eProgress);
  const uploading = progress.findIndex((p) => /^Uploading pixel\.png: \d+ % \(.+ of 164 kB\)$/.test(p));
  assert.ok(uploading >= 0, `no visible upload progress bar was shown: ${JSON.stringify(progress)}`);
  assert.ok(
    progress.slice(uploading + 1).some((p) => p.startsWith('Finishing pixel.png')),
    `the upload was not finished after its progress bar: ${JSON.stringify(progress)}`,
  );

  // The worker's verdict reaches the table by polling: Ready, and the type it sniffed.
  const row = page.getByRole('row').filter({ hasText: file });
  await row.getByRole('cell', { name: 'Ready', exact: true }).waitFor({ timeout: 30_000 });
  await row.getByRole('cell', { name: 'image/png', exact: true }).waitFor();
  await row.getByRole('cell', { name: sha, exact: true }).waitFor();
  await row.getByRole('button', { name: `Download ${file}` }).waitFor();

  assert.ok(await page.evaluate(() => window.__e2eSameDocument === true), 'the page was reloaded during the upload');
  assert.deepEqual(loads, [], 'the page loaded a new document during the upload');
  assert.equal(await page.getByRole('progressbar').count(), 0, 'a progress bar is left on the page');
  assertClean(context);
  await context.close();
});
