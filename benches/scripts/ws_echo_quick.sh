#!/usr/bin/env bash
# Quick WebSocket echo figure: the `ringws` server with one worker pinned to CPU 0, the io_uring
# echo client on CPU 1, 100 connections x 20-byte binary messages, one in flight per connection,
# 5 s after 1 s of warm-up, 3 runs. Run from the repository root.
set -euo pipefail
cargo build --release -q -p ringws-server -p ringws-uring --examples
for run in 1 2 3; do
  target/release/ringws --workers 1 --addr 127.0.0.1:9400 >/dev/null 2>&1 &
  pid=$!
  sleep 0.4
  echo "ws run$run $(target/release/examples/echo_client 9400 "${CONNS:-100}" "${SIZE:-20}" 5 1 "$pid" /echo)"
  kill "$pid"
  wait "$pid" || true
done
