#!/usr/bin/env bash
# permessage-deflate against plain, in one run, alternated: an echo of 1 KiB JSON messages
# (100 connections, closed loop) and a 1 KiB JSON publish to 10,000 subscribers, each case
# with and without `ringws-load --deflate`. The server (`ringws --workers 1`, shared mode: its
# default) on CPU 0, the generator on CPU 1; RUNS (3) runs of SECS (4) seconds each; medians of
# messages (deliveries) per second and of server CPU per message, as ringws-load reports them
# from /proc. Run from the repository root.
set -euo pipefail
cargo build --release -q -p ringws-server -p ringws-loadtest
RUNS=${RUNS:-3}
SECS=${SECS:-4}
PORT=${PORT:-9321}
B=target/release
OUT=target/deflate
rm -rf "$OUT" && mkdir -p "$OUT"
pad=$(printf '{"id":4711,"name":"player","x":12.5,"y":-3.25,"hp":100,"team":"red"},%.0s' $(seq 14))
publish="{\"op\":\"pub\",\"topic\":\"bench\",\"data\":{\"ts\":\"\$TS\",\"rows\":[${pad%,}]}}"
taskset -c 0 "$B/ringws" --addr "127.0.0.1:$PORT" --workers 1 --max-connections 20000 > "$OUT/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
sleep 0.5
for run in $(seq "$RUNS"); do
  for mode in plain deflate; do
    flag=(); [ "$mode" = deflate ] && flag=(--deflate)
    taskset -c 1 "$B/ringws-load" echo "ws://127.0.0.1:$PORT/echo" --connections 100 --size 1024 \
      --duration "$SECS" --warmup 1 --cpus 1 --server-pid "$server" --quiet "${flag[@]}" \
      > "$OUT/echo-$mode-$run.txt" 2>&1
    taskset -c 1 "$B/ringws-load" fanout "ws://127.0.0.1:$PORT/pubsub" --subscribers 10000 \
      --rate 100 --publish "$publish" --duration "$SECS" --warmup 1 --cpus 1 \
      --server-pid "$server" --quiet "${flag[@]}" > "$OUT/fanout-$mode-$run.txt" 2>&1
    echo "run $run: $mode"
  done
done
python3 - "$OUT" <<'PY'
import re, statistics, sys
from pathlib import Path
out = Path(sys.argv[1])
print("| case | mode | median per second | server CPU per message (median) | runs (per second) | errors |")
print("| --- | --- | --- | --- | --- | --- |")
for case, unit in (("echo", "messages"), ("fanout", "deliveries")):
    for mode in ("plain", "deflate"):
        rates, cpus, errors = [], [], 0
        for f in sorted(out.glob(f"{case}-{mode}-*.txt")):
            t = f.read_text()
            m = re.search(rf"{unit}\s+\d+ in [\d.]+ s = (\d+)/s", t)
            c = re.search(r"cpu \d+%\s+([\d.]+) us per", t)
            e = re.search(r"errors\s+(\d+)", t)
            if m: rates.append(int(m.group(1)))
            if c: cpus.append(float(c.group(1)))
            if e: errors += int(e.group(1))
        if rates:
            print(f"| {case} | {mode} | {statistics.median(rates):,.0f} | "
                  f"{statistics.median(cpus):.2f} us | {', '.join(f'{r:,}' for r in rates)} | {errors} |")
PY
