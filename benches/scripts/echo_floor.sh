#!/usr/bin/env bash
# The echo floor: the ringws-uring driver's raw TCP echo (examples/echo.rs, no WebSocket) beside
# the ringws server and fastwebsockets, driven by the same io_uring client (examples/echo_client:
# raw bytes for the floor, masked binary frames for the WebSocket servers), one message in flight
# per connection. Server pinned to CPU 0, client to CPU 1; kinds interleaved, RUNS rounds, medians
# of the server's CPU per round trip divided by the client's (which cancels this host's drift).
# Cases as in compare.sh: 100 x 20 B, 10 x 1 KiB, 200 x 16 KiB. Run from the repository root.
set -euo pipefail
cargo build --release -q -p ringws-server -p ringws-uring --examples -p ringws-benches --bins
RUNS=${RUNS:-5} SECS=${SECS:-4}
B=target/release
OUT=target/echo_floor.txt
: > "$OUT"
port=9300
for case in 100x20 10x1024 200x16384; do
  conns=${case%x*} size=${case#*x}
  for run in $(seq "$RUNS"); do
    for kind in floor ringws fastwebsockets; do
      port=$((port + 1))
      case $kind in
        floor) taskset -c 0 "$B/examples/echo" "$port" 0 >/dev/null 2>&1 & path="" ;;
        ringws) taskset -c 0 "$B/ringws" --workers 1 --echo-path / --addr "127.0.0.1:$port" >/dev/null 2>&1 & path=/ ;;
        fastwebsockets) taskset -c 0 "$B/peer-fastwebsockets" "$port" >/dev/null 2>&1 & path=/ ;;
      esac
      pid=$!
      sleep 0.5
      line=$("$B/examples/echo_client" "$port" "$conns" "$size" "$SECS" 1 "$pid" $path)
      echo "$case $kind $run $line" | tee -a "$OUT"
      kill "$pid"; wait "$pid" 2>/dev/null || true
    done
  done
done
python3 - "$OUT" <<'PY'
import re, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    case, kind, run, rest = line.split(maxsplit=3)
    f = dict(re.findall(r'(\w+)=([0-9.]+)', rest))
    rate, client = float(f['round_trips_per_s']), float(f['client_cpu']) / 100
    server = float(f['server_us_per_rt'])
    rows.setdefault((case, kind), []).append((server, server / (client / rate * 1e6), rate))
print("| case | server | median round trips/s | server CPU per round trip | server / client CPU | vs floor |")
print("| --- | --- | --- | --- | --- | --- |")
for case in dict.fromkeys(c for c, _ in rows):
    floor = statistics.median(r[1] for r in rows[(case, 'floor')])
    for kind in ('floor', 'ringws', 'fastwebsockets'):
        r = rows[(case, kind)]
        ratio = statistics.median(x[1] for x in r)
        print(f"| {case} | {kind} | {statistics.median(x[2] for x in r):,.0f} | "
              f"{statistics.median(x[0] for x in r):.2f} us | {ratio:.3f} | {ratio / floor:.3f} |")
PY
