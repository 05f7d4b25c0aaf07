#!/usr/bin/env bash
# The chat page in headless Chromium (Debian's `chromium`, installed here if missing) driven by
# playwright-core: two pages, a message from one appears in the other; the status page's plots
# move under a load another page makes.
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
