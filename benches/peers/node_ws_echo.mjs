// Peer: an echo server on Node's `ws` package (single-threaded by nature).
// `node benches/peers/node_ws_echo.mjs PORT` (uses .ci/interop/node_modules).
import { WebSocketServer } from '../../.ci/interop/node_modules/ws/wrapper.mjs';

const port = Number(process.argv[2] || 9705);
const wss = new WebSocketServer({ host: '127.0.0.1', port, maxPayload: 64 << 20, perMessageDeflate: false });
wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
});
