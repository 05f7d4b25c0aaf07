#!/usr/bin/env bash
# Two ringws nodes sharing topics through NATS (Debian's nats-server, installed here if missing):
# every message reaches every subscriber once and in order, a topic on one node costs the other
# nothing, and delivery survives the broker being killed and restarted (.ci/nats/two_nodes.py).
set -euo pipefail
cd "$(dirname "$0")/../.."
if ! command -v nats-server >/dev/null 2>&1 && [ ! -x /usr/sbin/nats-server ]; then
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  $sudo_cmd apt-get install -y -qq nats-server >/dev/null
fi
nats=$(command -v nats-server || echo /usr/sbin/nats-server)
. .ci/lib.sh
python_venv 'websockets>=13,<16'
cargo build --release -q -p ringws-server
"$VENV/bin/python" .ci/nats/two_nodes.py target/release/ringws "$nats"
