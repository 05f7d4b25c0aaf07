#!/usr/bin/env bash
# Echo at a fixed offered rate (open loop, `ringws-load echo --rate`), below saturation: the
# server's CPU per message, ringws beside fastwebsockets (and any COMPARE_EXTRA-style outside
# server: PACED_EXTRA='name=/path/to/server {port}', echoing at /). Server pinned to CPU 0, the
# tool to CPU 1, servers interleaved, RUNS rounds, medians. Cases: CONNSxSIZE@RATE.
# Run from the repository root.
set -euo pipefail
cargo build --release -q -p ringws-server -p ringws-loadtest -p ringws-benches --bins
RUNS=${RUNS:-5} SECS=${SECS:-4}
CASES=${PACED_CASES:-100x20@50000 10x1024@30000 200x16384@15000}
B=target/release
OUT=target/echo_paced
rm -rf "$OUT" && mkdir -p "$OUT"
SERVERS=("ringws=$B/ringws --workers 1 --echo-path / --addr 127.0.0.1:{port}"
         "fastwebsockets=$B/peer-fastwebsockets {port}")
IFS=';' read -ra extra <<< "${PACED_EXTRA:-}"
for e in "${extra[@]}"; do [ -n "$e" ] && SERVERS+=("$e"); done
port=9500
for case in $CASES; do
  shape=${case%@*} rate=${case#*@}
  conns=${shape%x*} size=${shape#*x}
  for run in $(seq "$RUNS"); do
    for spec in "${SERVERS[@]}"; do
      name=${spec%%=*} cmd=${spec#*=}
      port=$((port + 1))
      taskset -c 0 ${cmd//\{port\}/$port} >/dev/null 2>&1 &
      pid=$!
      for _ in $(seq 50); do (echo > "/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
      "$B/ringws-load" echo "ws://127.0.0.1:$port/" --connections "$conns" --size "$size" \
        --rate "$rate" --duration "$SECS" --warmup 1 --cpus 1 --server-pid "$pid" --quiet \
        --json "$OUT/$case-$name-$run.json" > /dev/null || true
      kill "$pid"; wait "$pid" 2>/dev/null || true
      echo "done $case $name $run"
    done
  done
done
python3 - "$OUT" <<'PY'
import glob, json, os, statistics, sys
rows = {}
for path in sorted(glob.glob(os.path.join(sys.argv[1], '*.json'))):
    case, name, _ = os.path.basename(path)[:-5].rsplit('-', 2)
    d = json.load(open(path))
    rows.setdefault(case, {}).setdefault(name, []).append(
        (d['server']['cpu_us_per_event'], d['achieved_ratio'], d['latency_us']['p99'], d['tool_cpu_percent']))
print("| case (connections x bytes @ messages/s) | server | server CPU per message (runs) | median | vs ringws | achieved | p99 | tool CPU |")
print("| --- | --- | --- | --- | --- | --- | --- | --- |")
for case, by in rows.items():
    base = statistics.median(r[0] for r in by['ringws'])
    for name, r in by.items():
        m = statistics.median(x[0] for x in r)
        runs = ", ".join(f"{x[0]:.2f}" for x in r)
        print(f"| {case} | {name} | {runs} | {m:.2f} us | {m / base:.2f}x | "
              f"{min(x[1] for x in r):.3f} | {statistics.median(x[2] for x in r):,.0f} us | "
              f"{max(x[3] for x in r):.0f} % |")
PY
