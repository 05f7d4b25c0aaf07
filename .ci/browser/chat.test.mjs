// The chat page in a real browser: two pages of headless Chromium (Debian's package) on the
// server's `/`; a message sent from one appears in the other. Exits non-zero on failure.
import { launch } from './launch.mjs';

const url = process.argv[2];
const { browser, fail } = await launch('chat');
try {
  const context = await browser.newContext();
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
  console.log('browser chat: a message sent in one page appeared in the other: ok');
  await browser.close();
} catch (e) {
  await fail(e.message);
}
