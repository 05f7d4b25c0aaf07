#!/usr/bin/env bash
# One ringws process holds N idle WebSocket connections (default 1,000,000) opened by one
# ringws-load process: every one upgraded, held through one idle period of the server (it pings
# each connection at half its idle timeout; the tool answers), then closed. Reports the connect
# phase, handshake latency, the server's user-space memory per connection (RSS), the kernel's
# (slab and TCP memory from /proc), the idle server's CPU, and what was left after. Run from the
# repository root. Needs about 10 GiB of free memory for a million (both ends of every socket
# live in this machine's kernel) and fs.file-max above 2 N.
set -euo pipefail
N=${N:-1000000}
IDLE=${IDLE:-40}            # the server's --idle-timeout: it pings each connection at IDLE/2
HOLD=${HOLD:-$((IDLE / 2 + 10))}
RATE=${RATE:-20000}
PORT=${PORT:-9700}
OUT=${OUT:-target/million}
cargo build --release -q -p ringws-server -p ringws-loadtest
B=target/release
mkdir -p "$OUT"
kib() { awk -v k="$1" '$1 == k":" { print $2 }' /proc/meminfo; }
tcp_pages() { awk '/^TCP:/ { for (i = 1; i <= NF; i++) if ($i == "mem") print $(i + 1) }' /proc/net/sockstat; }
sockets() { awk '/^sockets:/ { print $3 }' /proc/net/sockstat; }
echo "limits: fs.file-max $(cat /proc/sys/fs/file-max), nofile $(ulimit -Sn)/$(ulimit -Hn), somaxconn $(cat /proc/sys/net/core/somaxconn)"
slab0=$(kib Slab); tcp0=$(tcp_pages); sock0=$(sockets)
"$B/ringws" --addr "127.0.0.1:$PORT" --max-connections "$((N + 1000))" --idle-timeout "$IDLE" \
  > "$OUT/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 100); do (echo > "/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.1; done
echo "server pid $server: fds $(ls /proc/$server/fd | wc -l), $(grep VmRSS /proc/$server/status | tr -s ' \t' ' ')"
# The tool reports while holding; the kernel figures are read while it holds (after HOLD/2).
( sleep $((N / RATE + HOLD / 2 + 5))
  echo "holding: server fds $(ls /proc/$server/fd | wc -l), $(grep VmRSS /proc/$server/status | tr -s ' \t' ' ')"
  echo "kernel while holding: slab +$(( ($(kib Slab) - slab0) / 1024 )) MiB, TCP memory +$(( ($(tcp_pages) - tcp0) * 4 / 1024 )) MiB, sockets +$(( $(sockets) - sock0 ))"
  echo "per connection (both ends in this kernel): slab $(( ($(kib Slab) - slab0) * 1024 / N )) B"
) &
watcher=$!
"$B/ringws-load" idle "ws://127.0.0.1:$PORT/echo" --connections "$N" --connect-rate "$RATE" \
  --duration "$HOLD" --warmup 0 --connect-timeout 600 --server-pid "$server" --quiet \
  --json "$OUT/idle.json" | tee "$OUT/idle.txt"
wait $watcher || true
sleep 3
echo "after the tool left: server fds $(ls /proc/$server/fd | wc -l), $(grep VmRSS /proc/$server/status | tr -s ' \t' ' '), sockets +$(( $(sockets) - sock0 ))"
grep -c "panicked" "$OUT/server.log" && echo "the server log has panics" || true
