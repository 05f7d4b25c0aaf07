// The status page in a real browser: its plots move under a scripted load, and it loads nothing
// from anywhere but the server. Exits non-zero on failure.
import { launch } from './launch.mjs';

const base = process.argv[2].replace(/\/$/, '');
const { browser, fail } = await launch('status');
try {
  const context = await browser.newContext();
  const page = await context.newPage();
  const foreign = [];
  page.on('request', (r) => { if (!r.url().startsWith(base)) foreign.push(r.url()); });
  await page.goto(`${base}/status`);
  await page.waitForFunction(() => Number(document.body.dataset.samples) >= 3, null, { timeout: 15000 });
  const quiet = await page.evaluate(() => document.getElementById('messages').toDataURL());
  const before = await page.evaluate(() => Math.max(0, ...(window.ringwsStatus.series.messages.in || [0])));

  // The load: another page opens echo connections and keeps them busy for a few seconds.
  const load = await context.newPage();
  await load.goto(`${base}/healthz`);
  const sent = load.evaluate(async (url) => {
    const sockets = await Promise.all([...Array(8)].map(() => new Promise((ok, ko) => {
      const ws = new WebSocket(url);
      ws.onopen = () => ok(ws); ws.onerror = ko;
    })));
    let n = 0;
    const until = Date.now() + 5000;
    while (Date.now() < until) {
      for (const ws of sockets) { ws.send('tick ' + n++); }
      await new Promise((r) => setTimeout(r, 5));
    }
    await new Promise((r) => setTimeout(r, 1500));
    for (const ws of sockets) ws.close(1000);
    return n;
  }, base.replace(/^http/, 'ws') + '/echo');

  await page.waitForFunction(() => {
    const s = window.ringwsStatus.series;
    const last = (a) => (a && a.length ? a[a.length - 1] : 0);
    return last(s.messages.in) > 50 && last(s.messages.out) > 50 && last(s.connections.open) >= 8;
  }, null, { timeout: 15000 });
  const n = await sent;
  const busy = await page.evaluate(() => Object.values(window.ringwsStatus.series.busy)
    .some((pts) => pts.some((v) => v > 0)));
  const loaded = await page.evaluate(() => document.getElementById('messages').toDataURL());
  if (loaded === quiet) await fail('the messages plot did not change under load');
  if (before > 0) await fail(`messages were counted before any load: ${before}/s`);
  if (!busy) await fail('no worker loop busy time was plotted');
  // The closes show up once the load page lets go.
  await page.waitForFunction(() => {
    const c = window.ringwsStatus.series.closes['1000'];
    return c && c.some((v) => v > 0);
  }, null, { timeout: 15000 });
  if (foreign.length) await fail(`requests outside the server: ${foreign.join(', ')}`);
  console.log(`browser status: ${n} messages sent; the plots moved (messages, connections, closes, busy): ok`);
  await browser.close();
} catch (e) {
  await fail(e.message);
}
