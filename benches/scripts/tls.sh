#!/usr/bin/env bash
# wss:// against ws://, and against a tokio-rustls peer (fastwebsockets behind tokio-rustls), in
# one run, alternated: echo of 100 x 20 B and of 200 x 16 KiB messages (closed loop), full TLS
# handshakes per second (churn at a rate asked above what either side holds), and (ringws only)
# fan-out of RATE publishes/s to SUBS subscribers of /pubsub. `ringws --workers 1`
# on CPU 0 twice (plain, and with a self-signed P-256 certificate), the peer on CPU 0 too (one
# thread), `ringws-load` on CPU 1; RUNS (3) runs of SECS (4) seconds; medians of messages per second and
# of server CPU per message, as ringws-load reads them from /proc. Run from the repository root.
# BEFORE=/path/to/an/older/ringws adds it as a fourth server, "wss-before" (a before/after run).
set -euo pipefail
cargo build --release -q -p ringws-server -p ringws-loadtest
cargo build --release -q -p ringws-benches --bin peer-fastwebsockets-tls
RUNS=${RUNS:-3}
SUBS=${SUBS:-5000}   # fan-out: subscribers, and publishes per second (RATE x SUBS deliveries/s)
RATE=${RATE:-20}
SECS=${SECS:-4}
B=target/release
OUT=target/tls-bench
rm -rf "$OUT" && mkdir -p "$OUT"
. "$(dirname "$0")/self_signed.sh"
self_signed "$OUT"
taskset -c 0 "$B/ringws" --addr 127.0.0.1:9331 --workers 1 --echo-compression off \
  --max-connections 20000 > "$OUT/ws.log" 2>&1 &
ws=$!
taskset -c 0 "$B/ringws" --addr 127.0.0.1:9332 --workers 1 --echo-compression off \
  --max-connections 20000 --tls-cert "$OUT/cert.pem" --tls-key "$OUT/key.pem" > "$OUT/wss.log" 2>&1 &
wss=$!
taskset -c 0 "$B/peer-fastwebsockets-tls" 9333 "$OUT/cert.pem" "$OUT/key.pem" > "$OUT/peer.log" 2>&1 &
peer=$!
SCHEMES="ws wss fastwebsockets-tls"
before=
if [ -n "${BEFORE:-}" ]; then
  taskset -c 0 "$BEFORE" --addr 127.0.0.1:9334 --workers 1 --echo-compression off \
    --max-connections 20000 --tls-cert "$OUT/cert.pem" --tls-key "$OUT/key.pem" > "$OUT/before.log" 2>&1 &
  before=$!
  SCHEMES="ws wss wss-before fastwebsockets-tls"
fi
trap 'kill $ws $wss $peer $before 2>/dev/null || true' EXIT
sleep 0.5
for run in $(seq "$RUNS"); do
  for scheme in $SCHEMES; do
    case $scheme in
      ws) url=ws://localhost:9331/echo pid=$ws tls=() ;;
      wss) url=wss://localhost:9332/echo pid=$wss tls=(--ca "$OUT/cert.pem") ;;
      wss-before) url=wss://localhost:9334/echo pid=$before tls=(--ca "$OUT/cert.pem") ;;
      *) url=wss://localhost:9333/echo pid=$peer tls=(--ca "$OUT/cert.pem") ;;
    esac
    taskset -c 1 "$B/ringws-load" echo "$url" --connections 100 --size 20 --duration "$SECS" \
      --warmup 1 --cpus 1 --server-pid "$pid" --quiet "${tls[@]}" > "$OUT/echo20-$scheme-$run.txt" 2>&1
    taskset -c 1 "$B/ringws-load" echo "$url" --connections 200 --size 16384 --duration "$SECS" \
      --warmup 1 --cpus 1 --server-pid "$pid" --quiet "${tls[@]}" > "$OUT/echo16k-$scheme-$run.txt" 2>&1
    taskset -c 1 "$B/ringws-load" churn "$url" --rate 3000 --duration "$SECS" --warmup 1 --cpus 1 \
      --server-pid "$pid" --quiet "${tls[@]}" > "$OUT/churn-$scheme-$run.txt" 2>&1
    # Fan-out to more subscribers than the worker's cache of expanded keys holds (1,024).
    if [ "$scheme" != fastwebsockets-tls ]; then
      taskset -c 1 "$B/ringws-load" fanout "${url%/echo}/pubsub" --subscribers "$SUBS" --rate "$RATE" \
        --duration "$SECS" --warmup 1 --cpus 1 --server-pid "$pid" --quiet "${tls[@]}" \
        > "$OUT/fanout-$scheme-$run.txt" 2>&1
    fi
    echo "run $run: $scheme"
  done
done
python3 - "$OUT" <<'PY'
import re, statistics, sys
from pathlib import Path
out = Path(sys.argv[1])
print("| case | scheme | median per second | server CPU per message (median) | generator CPU per message (median) | runs (per second) | errors |")
print("| --- | --- | --- | --- | --- | --- | --- |")
for case, unit in (("echo20", "messages"), ("echo16k", "messages"), ("churn", "handshakes"),
                   ("fanout", "deliveries")):
    for scheme in ("ws", "wss", "wss-before", "fastwebsockets-tls"):
        rates, cpus, tool, errors = [], [], [], 0
        for f in sorted(out.glob(f"{case}-{scheme}-*.txt")):
            if not re.fullmatch(rf"{case}-{scheme}-\d+\.txt", f.name):
                continue  # wss-before's files for wss
            t = f.read_text()
            m = re.search(rf"{unit}\s+\d+ in [\d.]+ s = (\d+)/s", t)
            c = re.search(r"server.*?cpu \d+%\s+([\d.]+) us per", t)
            g = re.search(r"load tool cpu\s+(\d+)%", t)
            e = re.search(r"errors\s+(\d+)", t)
            if m: rates.append(int(m.group(1)))
            if c: cpus.append(float(c.group(1)))
            if g and m: tool.append(int(g.group(1)) / 100 * 1e6 / int(m.group(1)))
            if e: errors += int(e.group(1))
        med = lambda v: f"{statistics.median(v):.2f} us" if v else "-"
        if rates:
            print(f"| {case} | {scheme} | {statistics.median(rates):,.0f} | {med(cpus)} | {med(tool)} | "
                  f"{', '.join(f'{r:,}' for r in rates)} | {errors} |")
PY
