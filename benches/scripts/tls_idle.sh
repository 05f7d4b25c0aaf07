#!/usr/bin/env bash
# Server memory per idle connection at N connections (default 100,000), ws:// against wss://,
# measured by `ringws-load idle` (the server's RSS before connecting and while holding, over N).
# A fresh `ringws` (2 workers) per run with a self-signed P-256 certificate for wss://; RUNS (2)
# alternations; a pause of PAUSE (65) seconds between runs lets the previous run's TIME_WAIT
# sockets expire (the tool closes first: a source port still in TIME_WAIT makes binds crawl).
# BEFORE=/path/to/an/older/ringws adds its wss:// run to each alternation. Run from the
# repository root.
set -euo pipefail
N=${N:-100000}
RUNS=${RUNS:-2}
PAUSE=${PAUSE:-65}
cargo build --release -q -p ringws-server -p ringws-loadtest
B=target/release
OUT=target/tls-idle
rm -rf "$OUT" && mkdir -p "$OUT"
. "$(dirname "$0")/self_signed.sh"
self_signed "$OUT"
SCHEMES="ws wss${BEFORE:+ wss-before}"
port=9460
first=1
for run in $(seq "$RUNS"); do
  for scheme in $SCHEMES; do
    [ $first = 1 ] || sleep "$PAUSE"
    first=0
    port=$((port + 1))
    server=$B/ringws tls=() trust=() url=ws://localhost:$port/echo
    if [ "$scheme" != ws ]; then
      tls=(--tls-cert "$OUT/cert.pem" --tls-key "$OUT/key.pem") trust=(--ca "$OUT/cert.pem")
      url=wss://localhost:$port/echo
    fi
    [ "$scheme" != wss-before ] || server=$BEFORE
    "$server" --addr "127.0.0.1:$port" --max-connections "$((N + 1000))" "${tls[@]}" \
      > "$OUT/$scheme-$run.log" 2>&1 &
    pid=$!
    for _ in $(seq 100); do (echo > "/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
    "$B/ringws-load" idle "$url" "${trust[@]}" --connections "$N" --connect-rate 20000 \
      --duration 5 --warmup 0 --server-pid "$pid" --quiet > "$OUT/$scheme-$run.txt" 2>&1 || true
    kill "$pid"; wait "$pid" 2>/dev/null || true
    echo "run $run $scheme: $(grep -o 'holding [0-9]* connections: [0-9]* bytes per connection' "$OUT/$scheme-$run.txt" || echo 'no figure, see the .txt')"
  done
done
