#!/usr/bin/env bash
# Side by side: ringws against peers, one core each. Every server runs pinned to CPU 0
# (taskset), the load generator on CPU 1. Runs are interleaved (A B C ... A B C ...), RUNS times
# each, and summarised as medians, with the server's CPU per message and the generator's (from
# /proc/PID/stat over the measured window) and their ratio, which cancels this host's speed drift.
# Run from the repository root. About 10 minutes with the defaults.
#
# Outside servers and generators, built elsewhere (nothing of them enters this repository), are
# added by path; `{port}` in a command is replaced by the port to listen on:
#   COMPARE_EXTRA='uws=/path/to/uws_echo {port}'        echo servers (path /; `name=cmd @/path`
#                                                       for another path; several: separate by ;)
#   COMPARE_EXTRA_PUBSUB='name=/path/to/server {port}'  servers speaking ringws' /pubsub JSON
#                                                       protocol at /pubsub, for the fan-out case
#   COMPARE_LOAD_TEST=/path/to/load_test                a second echo generator with the command
#                                                       line and output of uWebSockets'
#                                                       benchmarks/load_test; it dials path /
#   COMPARE_LOAD_TEST_ARGS='{connections} 127.0.0.1 {port} 0 0 {size}'   its arguments
#   COMPARE_LOAD_TEST_PATTERN='Msg/sec: *([0-9.]+)'     its rate lines
# Other settings: RUNS (3), SECS (4), COMPARE_CASES (all: echo-100x20 echo-10x1k echo-200x16k
# fanout-1x10000), COMPARE_PEERS (all built-in peers; e.g. 'ringws fastwebsockets').
set -euo pipefail
cargo build --release -q -p ringws-server -p ringws-loadtest -p ringws-benches --bins
RUNS=${RUNS:-3}
SECS=${SECS:-4}
CASES=${COMPARE_CASES:-echo-100x20 echo-10x1k echo-200x16k fanout-1x10000}
OUT=target/compare
rm -rf "$OUT" && mkdir -p "$OUT"
B=target/release
# name|command ({port} is replaced)|echo path. Every echo is at / so that a generator that only
# knows / (uWebSockets' load_test) drives every server the same way.
SERVERS=(
  "ringws|$B/ringws --workers 1 --echo-path / --addr 127.0.0.1:{port}|/"
  "tokio-tungstenite|$B/peer-tokio-tungstenite {port}|/"
  "fastwebsockets|$B/peer-fastwebsockets {port}|/"
  "tokio-websockets|$B/peer-tokio-websockets {port}|/"
)
if command -v node >/dev/null && [ -d .ci/interop/node_modules/ws ]; then
  SERVERS+=("node-ws|node benches/peers/node_ws_echo.mjs {port}|/")
fi
if [ -n "${COMPARE_PEERS:-}" ]; then
  kept=()
  for spec in "${SERVERS[@]}"; do
    [[ " $COMPARE_PEERS " == *" ${spec%%|*} "* ]] && kept+=("$spec")
  done
  SERVERS=("${kept[@]}")
fi
PUBSUB=(
  "ringws|$B/ringws --workers 1 --addr 127.0.0.1:{port}|/pubsub"
)
# `name=command [@/path]` entries separated by ';' -> name|command|path
add_extra() { # array-name default-path spec
  local -n into=$1
  local default=$2 entry name cmd path
  IFS=';' read -ra entries <<< "$3"
  for entry in "${entries[@]}"; do
    entry=$(echo "$entry" | sed 's/^ *//; s/ *$//')
    [ -z "$entry" ] && continue
    name=${entry%%=*}
    cmd=${entry#*=}
    path=$default
    if [[ "$cmd" == *" @/"* ]]; then path=${cmd##* @}; cmd=${cmd% @*}; fi
    into+=("$name|$cmd|$path")
  done
}
add_extra SERVERS / "${COMPARE_EXTRA:-}"
add_extra PUBSUB /pubsub "${COMPARE_EXTRA_PUBSUB:-}"
LOAD_TEST=${COMPARE_LOAD_TEST:-}
LOAD_TEST_ARGS=${COMPARE_LOAD_TEST_ARGS:-'{connections} 127.0.0.1 {port} 0 0 {size}'}
LOAD_TEST_PATTERN=${COMPARE_LOAD_TEST_PATTERN:-'Msg/sec: *([0-9.]+)'}

port=9800
start_server() { # command -> sets $pid
  port=$((port + 1))
  taskset -c 0 ${1//\{port\}/$port} >/dev/null 2>&1 &
  pid=$!
  for _ in $(seq 100); do (echo > "/dev/tcp/127.0.0.1/$port") 2>/dev/null && return; sleep 0.1; done
  echo "compare: $1 did not listen on $port" >&2
}
stop_server() { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; }
run_case() { # case name cmd path
  local case=$1 name=$2 cmd=$3 path=$4 conns size
  case $case in
    echo-100x20) conns=100; size=20 ;;
    echo-10x1k) conns=10; size=1024 ;;
    echo-200x16k) conns=200; size=16384 ;;
  esac
  start_server "$cmd"
  local url="ws://127.0.0.1:$port$path" json="$OUT/${case}__${name}__ringws-load__$r.json"
  if [[ $case == fanout-* ]]; then
    local extra=()
    # A broadcast server needs no subscribe message.
    [[ $name == *broadcast* ]] && extra=(--subscribe '' --publish '{"topic":"bench","data":"$TS"}')
    "$B/ringws-load" fanout "$url" --subscribers 10000 --rate 100 "${extra[@]}" --duration "$SECS" \
      --cpus 1 --server-pid "$pid" --quiet --json "$json" > "${json%.json}.txt" 2>&1 || true
  else
    "$B/ringws-load" echo "$url" --connections "$conns" --size "$size" --duration "$SECS" \
      --cpus 1 --server-pid "$pid" --quiet --json "$json" > "${json%.json}.txt" 2>&1 || true
  fi
  stop_server
  if [ -n "$LOAD_TEST" ] && [[ $case == echo-* ]] && [ "$path" = / ]; then
    start_server "$cmd"
    local args=${LOAD_TEST_ARGS//\{connections\}/$conns}
    args=${args//\{port\}/$port}
    args=${args//\{size\}/$size}
    json="$OUT/${case}__${name}__$(basename "$LOAD_TEST")__$r.json"
    # Rate lines come every 4 s from load_test: measure the two after the first.
    python3 benches/scripts/outside_load.py --server-pid "$pid" --cpu 1 --case "$case" \
      --lines "$(( (SECS + 3) / 4 > 1 ? (SECS + 3) / 4 : 2 ))" --pattern "$LOAD_TEST_PATTERN" \
      --out "$json" -- "$LOAD_TEST" $args > "${json%.json}.txt" 2>&1 || true
    stop_server
  fi
}
for r in $(seq "$RUNS"); do
  for case in $CASES; do
    if [[ $case == fanout-* ]]; then
      specs=("${PUBSUB[@]}" "tokio-tungstenite-broadcast|$B/peer-broadcast {port}|/")
    else
      specs=("${SERVERS[@]}")
    fi
    for spec in "${specs[@]}"; do
      IFS='|' read -r name cmd path <<< "$spec"
      echo "run $r: $case $name" >&2
      run_case "$case" "$name" "$cmd" "$path"
    done
  done
done
python3 benches/scripts/compare_summary.py "$OUT"
