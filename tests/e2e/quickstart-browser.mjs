// quickstart-browser.mjs - the browser part of docs/quickstart.md, steps 5
// and 6, in headless Chromium. Run by tests/e2e/quickstart.sh from a
// directory where playwright-core is installed.
//   node quickstart-browser.mjs signin    sign in with a magic link, keep the cookies
//   node quickstart-browser.mjs signout   reuse the cookies, click Sign out
// Environment: QS_BASE (app URL), QS_APP_LOG (npm start's output, where the
// link is printed), QS_STATE (cookie file), QS_EMAIL, CHROMIUM.
import { existsSync, readFileSync } from 'node:fs';
import { chromium } from 'playwright-core';

const phase = process.argv[2];
const base = process.env.QS_BASE;
const appLog = process.env.QS_APP_LOG;
const state = process.env.QS_STATE;
const email = process.env.QS_EMAIL ?? 'you@example.com';
if (!['signin', 'signout'].includes(phase) || !base || !appLog || !state) {
  console.error('usage: QS_BASE=... QS_APP_LOG=... QS_STATE=... node quickstart-browser.mjs signin|signout');
  process.exit(2);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
function check(ok, what) {
  if (!ok) throw new Error('quickstart-browser: ' + what);
  console.log('  ok: ' + what);
}
const links = () =>
  [...readFileSync(appLog, 'utf8').matchAll(/^magic link for (\S+): (\S+)$/gm)].filter((m) => m[1] === email);

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
    '--disable-sync', '--no-first-run'],
});
try {
  const context = await browser.newContext(phase === 'signout' ? { storageState: state } : {});
  const page = await context.newPage();
  const main = () => page.locator('main').innerText();
  await page.goto(base + '/');

  if (phase === 'signin') {
    // Step 5.1-5.2: the home page, then Auth.js's sign-in page.
    check((await main()).includes('Not signed in.'), 'the home page says "Not signed in."');
    await page.getByRole('link', { name: 'Sign in' }).click();
    await page.waitForURL('**/api/auth/signin**');
    const before = links().length;
    await page.locator('input[type="email"]').fill(email);
    await page.getByRole('button', { name: 'Sign in with Email' }).click();
    await page.waitForURL('**/api/auth/verify-request**');
    check(true, 'submitting the email shows the verify-request page');
    // Step 5.3: the link appears in the app's log.
    let link;
    for (let t = 0; t < 100 && !link; t++) {
      const all = links();
      if (all.length > before) link = all.at(-1)[2];
      else await sleep(100);
    }
    check(!!link, `the app's log has the magic link for ${email}`);
    check(link.startsWith(base + '/api/auth/callback/email?'), 'the link points at this app: ' + link.split('?')[0]);
    // Step 5.4: open it.
    await page.goto(link);
    await page.waitForURL(base + '/');
    const text = await main();
    check(text.includes(`Signed in as ${email}`), `the page says "Signed in as ${email}"`);
    const cookies = await context.cookies();
    check(cookies.some((c) => c.name === 'authjs.session-token' && c.httpOnly), 'the session cookie authjs.session-token is set');
    await context.storageState({ path: state });
  } else {
    check(existsSync(state), 'cookies from the signin phase');
    check((await main()).includes(`Signed in as ${email}`), 'still signed in on a fresh page load');
    await page.getByRole('button', { name: 'Sign out' }).click();
    for (let t = 0; t < 100 && !(await main()).includes('Not signed in.'); t++) await sleep(100);
    check((await main()).includes('Not signed in.'), 'after Sign out the page says "Not signed in."');
    const cookies = await context.cookies();
    check(!cookies.some((c) => c.name === 'authjs.session-token'), 'the session cookie is gone');
  }
} finally {
  await browser.close();
}
