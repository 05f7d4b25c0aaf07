#!/usr/bin/env bash
# Fan-out: the `ringws` server with one worker on CPU 0, ringws-load on CPU 1: 1 publisher,
# 10,000 subscribers on /pubsub, 64-byte messages ({"topic":"bench","data":"<20-digit stamp>"}),
# at several publish rates; deliveries/s and publish-to-receive latency. Run from the repo root.
set -euo pipefail
cargo build --release -q -p ringws-server -p ringws-loadtest
SUBS=${SUBS:-10000}
RATES=${RATES:-"10 50 100 200"}
target/release/ringws --workers 1 --addr 127.0.0.1:9600 >/dev/null 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
sleep 0.5
for rate in $RATES; do
  echo "== rate $rate publishes/s"
  target/release/ringws-load fanout ws://127.0.0.1:9600/pubsub --subscribers "$SUBS" --rate "$rate" \
    --duration "${SECS:-5}" --cpus 1 --server-pid "$pid" --quiet --json "target/fanout-$rate.json" \
    --plot "target/fanout-$rate.svg"
done
