// Signing in with the keyboard alone: Tab moves through the page in order, the skip link
// skips the header, every focused control shows its focus, Enter sends the form.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { assertClean, createUser, focused, launch, newContext, open, waitHeading } from './lib.mjs';

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

/** Presses Tab until `want(focus)` holds, at most `max` times; answers the focus. */
async function tabTo(page, want, what, max = 12) {
  const seen = [];
  for (let i = 0; i < max; i++) {
    await page.keyboard.press('Tab');
    const f = await focused(page);
    seen.push(`${f.tag}${f.type ? `[${f.type}]` : ''} "${f.name}"`);
    if (want(f)) return f;
  }
  assert.fail(`${max} presses of Tab never reached ${what}; focus went through: ${seen.join(' → ')}`);
}

test('sign in with only the keyboard and reach the projects page', async () => {
  const user = await createUser('keyboard');
  const context = await newContext(browser);
  const page = await context.newPage();
  await open(page, '/sign-in/', 'Sign in to Hearth');

  // The first Tab of the page lands on the skip link; Enter on it puts the next Tab in <main>.
  await page.keyboard.press('Tab');
  const skip = await focused(page);
  assert.equal(skip.name, 'Skip to content', `the first Tab focused ${JSON.stringify(skip)}, not the skip link`);
  assert.ok(skip.visible, 'the focused skip link is not visibly focused');
  await page.keyboard.press('Enter');

  await page.keyboard.press('Tab');
  const email = await focused(page);
  assert.deepEqual(
    [email.tag, email.name],
    ['input', 'Email'],
    `the Tab after the skip link focused ${JSON.stringify(email)}, not the Email field: the skip link does not skip the header`,
  );
  assert.ok(email.visible, 'the focused Email field shows no focus indicator');
  await page.keyboard.type(user.email);

  await page.keyboard.press('Tab');
  const password = await focused(page);
  assert.deepEqual([password.tag, password.type, password.name], ['input', 'password', 'Password']);
  assert.ok(password.visible, 'the focused Password field shows no focus indicator');
  await page.keyboard.type(user.password);

  const button = await tabTo(page, (f) => f.tag === 'button', 'the Sign in button', 3);
  assert.equal(button.name, 'Sign in');
  assert.ok(button.visible, 'the focused Sign in button shows no focus indicator');
  await page.keyboard.press('Enter');

  await page.waitForURL(/\/console\/projects\/$/);
  await waitHeading(page, 'Projects');
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Projects' }).waitFor();
  assertClean(context);
  await context.close();
});
