// The chat page in a real browser: two pages of headless Chromium (Debian's package) on the
// server's `/`; a message sent from one appears in the other. Exits non-zero on failure.
import { launch } from './launch.mjs';

const url = process.argv[2];
const { browser, fail } = await launch('chat');
try {
  // A self-signed certificate when the page is served over https (this test only).
  const context = await browser.newContext({ ignoreHTTPSErrors: url.startsWith('https:') });
  const alice = await context.newPage();
  const bob = await context.newPage();
  for (const page of [alice, bob]) {
    await page.goto(url);
    await page.waitForSelector('body[data-state="connected"]', { timeout: 10000 });
  }
  await alice.fill('#name', 'alice');
  // Bob's subscription may land on the other worker a moment after alice's first send: retry.
  let seen = false;
  for (let i = 0; i < 20 && !seen; i++) {
    const text = `hello bob ${i}`;
    await alice.fill('#text', text);
    await alice.click('#send');
    try {
      await bob.waitForFunction((t) => [...document.querySelectorAll('#messages li')]
        .some((li) => li.textContent === `alice: ${t}`), text, { timeout: 500 });
      seen = true;
    } catch { /* not yet */ }
  }
  if (!seen) await fail("bob's page never showed alice's message");
  const own = await alice.locator('#messages li.me').count();
  if (own < 1) await fail("alice's page does not show her own message");
  // Chromium offers permessage-deflate; the server's /pubsub takes it (shared mode), and a long
  // message reaches the other page compressed and is inflated by the browser.
  const extensions = await bob.evaluate(() => document.body.dataset.extensions);
  if (!/permessage-deflate/.test(extensions) || !/server_no_context_takeover/.test(extensions)) {
    await fail(`the page's socket did not negotiate permessage-deflate: ${JSON.stringify(extensions)}`);
  }
  const long = 'compress me, compress me, '.repeat(20);
  await alice.fill('#text', long);
  await alice.click('#send');
  await bob.waitForFunction((t) => [...document.querySelectorAll('#messages li')]
    .some((li) => li.textContent === `alice: ${t.trim()}`), long, { timeout: 5000 })
    .catch(() => fail("bob's page never showed alice's long (compressed) message"));
  console.log(`browser chat: a message sent in one page appeared in the other, ${extensions}: ok`);
  await browser.close();
} catch (e) {
  await fail(e.message);
}
