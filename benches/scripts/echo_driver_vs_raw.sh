#!/usr/bin/env bash
# Raw TCP echo (no WebSocket): the ringws-uring driver against a minimal hand-written io_uring
# echo, interleaved (A B A B A B), server pinned to CPU 0, client to CPU 1, 100 connections x
# 64-byte messages, 5 s each after 1 s of warm-up. Run from the repository root.
set -euo pipefail
cargo build --release -q -p ringws-uring --examples
T=target/release/examples
CONNS=${CONNS:-100} SIZE=${SIZE:-64} SECS=${SECS:-5}
port=9200
for run in 1 2 3; do
  for kind in echo raw_echo; do
    port=$((port + 1))
    "$T/$kind" "$port" 0 2>/dev/null &
    pid=$!
    sleep 0.5
    echo "$kind run$run $("$T/echo_client" "$port" "$CONNS" "$SIZE" "$SECS" 1 "$pid")"
    kill "$pid"
    wait "$pid" 2>/dev/null || true
  done
done
