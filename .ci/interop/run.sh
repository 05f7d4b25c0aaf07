#!/usr/bin/env bash
# Interop with WebSocket clients nobody here wrote: Python `websockets` and Node `ws`, against the
# release server's /echo. Installs both into the build tree (a venv and node_modules).
set -euo pipefail
cd "$(dirname "$0")/../.."
port=${INTEROP_PORT:-9012}
(cd .ci/interop && npm ci --silent --no-audit --no-fund >/dev/null)
. .ci/lib.sh
python_venv 'websockets>=13,<16'
start_server "$port" target/interop-server.log
trap 'kill $SERVER_PID 2>/dev/null || true' EXIT
"$VENV/bin/python" .ci/interop/python_client.py "ws://127.0.0.1:$port/echo"
node .ci/interop/node_client.mjs "ws://127.0.0.1:$port/echo"
kill "$SERVER_PID"; wait "$SERVER_PID" || true
# The same clients against permessage-deflate's dedicated mode (context takeover both ways).
start_server "$port" target/interop-dedicated-server.log --echo-compression dedicated:12
"$VENV/bin/python" .ci/interop/python_client.py "ws://127.0.0.1:$port/echo" dedicated
node .ci/interop/node_client.mjs "ws://127.0.0.1:$port/echo"
kill "$SERVER_PID"; wait "$SERVER_PID" || true
# wss:// with a self-signed certificate (the command README.md shows), trusted by the clients.
tls=target/interop-tls && mkdir -p "$tls"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
  -addext subjectAltName=DNS:localhost -keyout "$tls/key.pem" -out "$tls/cert.pem" 2>/dev/null
start_server "$port" target/interop-tls-server.log --tls-cert "$tls/cert.pem" --tls-key "$tls/key.pem"
RINGWS_CA="$tls/cert.pem" "$VENV/bin/python" .ci/interop/python_client.py "wss://localhost:$port/echo"
RINGWS_CA="$tls/cert.pem" node .ci/interop/node_client.mjs "wss://localhost:$port/echo"
echo "interop: python websockets and node ws passed (shared and dedicated compression, wss://)"
