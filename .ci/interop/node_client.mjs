// Interop with the Node `ws` package: text, binary, fragmented, 1 MiB, ping, close with code and
// reason. Exits non-zero on the first difference.
import WebSocket from 'ws';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';

const url = process.argv[2];
// permessage-deflate on, with no threshold: every message is compressed both ways.
// wss://: the server's self-signed certificate is trusted through RINGWS_CA.
const ca = process.env.RINGWS_CA ? { ca: readFileSync(process.env.RINGWS_CA) } : {};
const ws = new WebSocket(url, { maxPayload: 32 << 20, perMessageDeflate: { threshold: 0 }, ...ca });
const fail = (msg) => { console.error(`node ws: ${msg}`); process.exit(1); };
setTimeout(() => fail('timed out'), 20000).unref();

const inbox = [];
let waiting = null;
ws.on('message', (data, isBinary) => {
  const item = { data, isBinary };
  if (waiting) { const w = waiting; waiting = null; w(item); } else inbox.push(item);
});
const next = () => new Promise((resolve) => inbox.length ? resolve(inbox.shift()) : (waiting = resolve));
const check = (what, ok) => { if (!ok) fail(what); console.log(`node ws: ${what}: ok`); };

ws.on('open', async () => {
  check('permessage-deflate negotiated', ws.extensions.startsWith('permessage-deflate'));
  const json = '{"player": 7, "x": 12.5, "y": -3.25}'.repeat(40);
  ws.send(json);
  let z = await next();
  check('compressed text', !z.isBinary && z.data.toString() === json);
  ws.send('hello, κόσμε');
  let m = await next();
  check('text', !m.isBinary && m.data.toString() === 'hello, κόσμε');

  ws.send(Buffer.from([0, 1, 255]));
  m = await next();
  check('binary', m.isBinary && Buffer.compare(m.data, Buffer.from([0, 1, 255])) === 0);

  ws.send('frag', { fin: false });
  ws.send('men', { fin: false });
  ws.send('ted', { fin: true });
  m = await next();
  check('fragmented', !m.isBinary && m.data.toString() === 'fragmented');

  const big = randomBytes(1 << 20);
  ws.send(big);
  m = await next();
  check('1 MiB binary', m.isBinary && Buffer.compare(m.data, big) === 0);

  const pong = new Promise((resolve) => ws.once('pong', resolve));
  ws.ping('are you there');
  check('ping answered', (await pong).toString() === 'are you there');

  ws.on('close', (code, reason) => {
    check('close code echoed', code === 4000);
    process.exit(0);
  });
  ws.close(4000, 'bye');
});
ws.on('error', (e) => fail(e.message));
