#!/usr/bin/env bash
# One server process (one worker) holds COUNT idle TCP connections through ringws-uring; six
# client processes connect from 127.0.0.10-15. Prints the server's regular descriptor count and
# RSS before, while holding, and after. Run from the repository root.
set -euo pipefail
cargo build --release -q -p ringws-uring --examples
T=target/release/examples
PORT=${PORT:-9300}
PER_CLIENT=${PER_CLIENT:-17000}
HOLD=${HOLD:-25}
"$T/echo" "$PORT" 0 $((PER_CLIENT * 6 + 8000)) 2>/dev/null &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
sleep 0.5
state() { echo "fds=$(ls /proc/$server/fd | wc -l) $(grep VmRSS /proc/$server/status | tr -s ' \t' ' ') established=$(ss -Htn state established "( sport = :$PORT )" | wc -l)"; }
echo "idle server: $(state)"
clients=()
for k in 0 1 2 3 4 5; do
  "$T/idle_client" "$PORT" "$PER_CLIENT" "127.0.0.$((10 + k))" "$HOLD" &
  clients+=($!)
done
sleep $((HOLD - 3))
echo "holding: $(state)"
wait "${clients[@]}"
sleep 1
echo "after the clients left: $(state)"
