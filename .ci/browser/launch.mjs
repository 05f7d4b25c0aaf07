// Headless Chromium (Debian's package, or $CHROMIUM) as every browser test starts it, and the
// way each reports a failure: a line naming the test, the browser closed, exit status 1.
import { chromium } from 'playwright-core';

export async function launch(test) {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
           '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const fail = async (msg) => {
    console.error(`browser ${test}: ${msg}`);
    await browser.close();
    process.exit(1);
  };
  return { browser, fail };
}
