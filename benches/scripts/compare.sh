#!/usr/bin/env bash
# Side-by-side: ringws against peers, one core each. Every server runs pinned to CPU 0
# (taskset), the load generator (ringws-load) on CPU 1. Runs are interleaved (A B C ... A B C ...),
# RUNS times each, and summarised as medians with ratios against ringws and the server's CPU time
# per message (from /proc/PID/stat). Run from the repository root. Takes about 10 minutes.
set -euo pipefail
cargo build --release -q -p ringws-server -p ringws-loadtest -p ringws-benches --bins
RUNS=${RUNS:-3}
SECS=${SECS:-4}
OUT=target/compare
rm -rf "$OUT" && mkdir -p "$OUT"
B=target/release
# name|command (PORT is replaced)|echo path
SERVERS=(
  "ringws|$B/ringws --workers 1 --addr 127.0.0.1:PORT|/echo"
  "tokio-tungstenite|$B/peer-tokio-tungstenite PORT|/"
  "fastwebsockets|$B/peer-fastwebsockets PORT|/"
  "tokio-websockets|$B/peer-tokio-websockets PORT|/"
)
if command -v node >/dev/null && [ -d .ci/interop/node_modules/ws ]; then
  SERVERS+=("node-ws|node benches/peers/node_ws_echo.mjs PORT|/")
fi
port=9800
run() { # name cmd scenario-tag ringws-load-args...
  local name=$1 cmd=$2 tag=$3
  shift 3
  port=$((port + 1))
  taskset -c 0 ${cmd//PORT/$port} >/dev/null 2>&1 &
  local pid=$!
  for _ in $(seq 50); do (echo > "/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
  local args=("${@//PORT/$port}")
  "$B/ringws-load" "${args[@]}" --duration "$SECS" --cpus 1 --server-pid "$pid" --quiet \
    --json "$OUT/$tag-$name-$r.json" > "$OUT/$tag-$name-$r.txt" 2>&1 || true
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
for r in $(seq "$RUNS"); do
  for spec in "${SERVERS[@]}"; do
    IFS='|' read -r name cmd path <<< "$spec"
    echo "run $r: $name" >&2
    run "$name" "$cmd" echo-100x20 echo "ws://127.0.0.1:PORT$path" --connections 100 --size 20
    run "$name" "$cmd" echo-10x1k echo "ws://127.0.0.1:PORT$path" --connections 10 --size 1024
    run "$name" "$cmd" echo-200x16k echo "ws://127.0.0.1:PORT$path" --connections 200 --size 16384
  done
  # Fan-out: ringws /pubsub (JSON topics) against a tokio-tungstenite broadcast server; both
  # deliver 44-byte messages.
  run ringws "$B/ringws --workers 1 --addr 127.0.0.1:PORT" fanout-1x10000 fanout ws://127.0.0.1:PORT/pubsub \
    --subscribers 10000 --rate 100
  run tokio-tungstenite-broadcast "$B/peer-broadcast PORT" fanout-1x10000 fanout ws://127.0.0.1:PORT/ \
    --subscribers 10000 --rate 100 --subscribe '' --publish '{"topic":"bench","data":"$TS"}'
done
python3 - "$OUT" <<'PY'
import json, statistics, sys, glob, os, collections
out = sys.argv[1]
runs = collections.defaultdict(list)
for path in glob.glob(f"{out}/*.json"):
    tag, rest = os.path.basename(path)[:-5].split("-", 1) if False else (None, None)
    base = os.path.basename(path)[:-5]
    scenario = "-".join(base.split("-")[:2])
    name = "-".join(base.split("-")[2:-1])
    runs[(scenario, name)].append(json.load(open(path)))
scenarios = sorted({s for s, _ in runs}, key=["echo-100x20", "echo-10x1k", "echo-200x16k", "fanout-1x10000"].index)
for scenario in scenarios:
    rows = []
    for (s, name), rs in runs.items():
        if s != scenario:
            continue
        rate = statistics.median(r["rate_per_s"] for r in rs)
        cpu = statistics.median((r["server"] or {}).get("cpu_us_per_event", 0) for r in rs)
        p99 = statistics.median((r["latency_us"] or {}).get("p99", 0) for r in rs)
        tool = max(r["tool_cpu_percent"] for r in rs)
        errors = sum(r["errors"] for r in rs)
        rows.append((name, rate, cpu, p99, tool, errors, [round(r["rate_per_s"]) for r in rs]))
    base = next((r[1] for r in rows if r[0] == "ringws"), None)
    unit = "deliveries/s" if scenario.startswith("fanout") else "messages/s"
    print(f"\n### {scenario}\n")
    print(f"| server | median {unit} | runs | vs ringws | server CPU per message | p99 latency | tool CPU (max) | errors |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, rate, cpu, p99, tool, errors, each in sorted(rows, key=lambda r: -r[1]):
        ratio = f"{rate / base:.2f}x" if base else "-"
        print(f"| {name} | {rate:,.0f} | {', '.join(f'{x:,}' for x in each)} | {ratio} | {cpu:.2f} us | {p99:,.0f} us | {tool:.0f} % | {errors} |")
PY
