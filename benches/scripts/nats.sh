#!/usr/bin/env bash
# Topics across nodes through NATS: 10,000 subscribers on one topic, publishes at RATE/s (50),
# once all on one node (subscribers and publisher on node A) and once across nodes (subscribers on
# node B, the publisher on node A, every publish crossing nats-server), alternated RUNS (3) times
# for SECS (4) s. Nodes A and B (`ringws --workers 1 --nats`) and nats-server share CPU 0,
# `ringws-load fanout` runs on CPU 1. Reports deliveries/s and publish-to-receive latency as
# ringws-load measures them, and the CPU of the two bridge threads (`ringws-nats`, read from
# /proc) per message bridged. Needs nats-server (Debian: apt-get install nats-server).
set -euo pipefail
cargo build --release -q -p ringws-server -p ringws-loadtest
RUNS=${RUNS:-3} SECS=${SECS:-4} RATE=${RATE:-50} SUBS=${SUBS:-10000}
B=target/release OUT=target/nats-bench
rm -rf "$OUT" && mkdir -p "$OUT"
nats=$(command -v nats-server || echo /usr/sbin/nats-server)
taskset -c 0 "$nats" -a 127.0.0.1 -p 4322 > "$OUT/nats.log" 2>&1 &
broker=$!
sleep 0.3
for node in a:9341 b:9342; do
  taskset -c 0 "$B/ringws" --addr "127.0.0.1:${node#*:}" --workers 1 --max-connections 30000 \
    --nats nats://127.0.0.1:4322 > "$OUT/node-${node%%:*}.log" 2>&1 &
  eval "pid_${node%%:*}=$!"
done
trap 'kill $pid_a $pid_b $broker 2>/dev/null || true' EXIT
sleep 0.5
# CPU ticks (utime + stime) of a process's bridge thread.
bridge_ticks() {
  for t in /proc/"$1"/task/*; do
    if [ "$(cat "$t/comm")" = ringws-nats ]; then awk '{print $14 + $15}' "$t/stat"; return; fi
  done
  echo 0
}
metric() { curl -s "http://127.0.0.1:$1/metrics" | awk -v n="$2" '$1 == n {print $2}'; }
hz=$(getconf CLK_TCK)
for run in $(seq "$RUNS"); do
  for mode in one cross; do
    if [ "$mode" = one ]; then args=(ws://127.0.0.1:9341/pubsub); else
      args=(ws://127.0.0.1:9342/pubsub --publish-url ws://127.0.0.1:9341/pubsub); fi
    ta=$(bridge_ticks "$pid_a") tb=$(bridge_ticks "$pid_b") sent=$(metric 9341 ringws_bridge_published_total)
    taskset -c 1 "$B/ringws-load" fanout "${args[@]}" --subscribers "$SUBS" --rate "$RATE" \
      --duration "$SECS" --warmup 1 --cpus 1 --quiet > "$OUT/$mode-$run.txt" 2>&1
    ta2=$(bridge_ticks "$pid_a") tb2=$(bridge_ticks "$pid_b") sent2=$(metric 9341 ringws_bridge_published_total)
    echo "bridge $(( ta2 - ta + tb2 - tb )) ticks $(( sent2 - sent )) bridged" >> "$OUT/$mode-$run.txt"
    echo "run $run: $mode"
  done
done
python3 - "$OUT" "$hz" <<'PY'
import re, statistics, sys
from pathlib import Path
out, hz = Path(sys.argv[1]), int(sys.argv[2])
print("| topology | median deliveries/s | p50 | p99 | bridge CPU per bridged publish | runs | errors |")
print("| --- | --- | --- | --- | --- | --- | --- |")
for mode, name in (("one", "one node"), ("cross", "across two nodes")):
    rates, p50, p99, cpu, errors = [], [], [], [], 0
    for f in sorted(out.glob(f"{mode}-*.txt")):
        t = f.read_text()
        m = re.search(r"deliveries\s+\d+ in [\d.]+ s = (\d+)/s", t)
        l = re.search(r"latency \(us\)\s+p50 (\d+)\s+p90 \d+\s+p99 (\d+)", t)
        e = re.search(r"errors\s+(\d+)", t)
        b = re.search(r"bridge (\d+) ticks (\d+) bridged", t)
        if m: rates.append(int(m.group(1)))
        if l: p50.append(int(l.group(1))); p99.append(int(l.group(2)))
        if e: errors += int(e.group(1))
        if b and int(b.group(2)) > 0: cpu.append(int(b.group(1)) / hz * 1e6 / int(b.group(2)))
    if rates:
        c = f"{statistics.median(cpu):.0f} us" if cpu else "- (nothing bridged)"
        print(f"| {name} | {statistics.median(rates):,.0f} | {statistics.median(p50)} us | "
              f"{statistics.median(p99)} us | {c} | {', '.join(f'{r:,}' for r in rates)} | {errors} |")
PY
