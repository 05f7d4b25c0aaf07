#!/usr/bin/env bash
# Interop with WebSocket clients nobody here wrote: Python `websockets` and Node `ws`, against the
# release server's /echo. Installs both into the build tree (a venv and node_modules).
set -euo pipefail
cd "$(dirname "$0")/../.."
port=${INTEROP_PORT:-9012}
venv=target/interop-venv
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/pip" install -q 'websockets>=13,<16'
(cd .ci/interop && npm ci --silent --no-audit --no-fund >/dev/null)
. .ci/lib.sh
start_server "$port" target/interop-server.log
trap 'kill $SERVER_PID 2>/dev/null || true' EXIT
"$venv/bin/python" .ci/interop/python_client.py "ws://127.0.0.1:$port/echo"
node .ci/interop/node_client.mjs "ws://127.0.0.1:$port/echo"
echo "interop: python websockets and node ws passed"
