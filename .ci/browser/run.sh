#!/usr/bin/env bash
# The chat page in headless Chromium (Debian's `chromium`, installed here if missing) driven by
# playwright-core: two pages, a message from one appears in the other; the status page's plots
# move under a load another page makes; the chat page again over https and wss://.
set -euo pipefail
cd "$(dirname "$0")/../.."
port=${BROWSER_PORT:-9013}
if [ ! -x /usr/bin/chromium ]; then
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  $sudo_cmd apt-get install -y -qq chromium >/dev/null
fi
(cd .ci/browser && npm ci --silent --no-audit --no-fund >/dev/null)
. .ci/lib.sh
start_server "$port" target/browser-server.log
trap 'kill $SERVER_PID 2>/dev/null || true' EXIT
node .ci/browser/chat.test.mjs "http://127.0.0.1:$port/"
node .ci/browser/status.test.mjs "http://127.0.0.1:$port/"
kill "$SERVER_PID"; wait "$SERVER_PID" || true
# The chat page over https, its socket over wss:// (a self-signed certificate, errors ignored in
# this test's browser context only).
tls=target/browser-tls && mkdir -p "$tls"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
  -addext subjectAltName=DNS:localhost -keyout "$tls/key.pem" -out "$tls/cert.pem" 2>/dev/null
start_server "$port" target/browser-tls-server.log --tls-cert "$tls/cert.pem" --tls-key "$tls/key.pem"
node .ci/browser/chat.test.mjs "https://localhost:$port/"
