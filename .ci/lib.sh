# Shared by the CI stages: build the release server, start it on a port, wait until it listens.
# Sets SERVER_PID; the caller's EXIT trap should kill it.

# start_server PORT LOGFILE [FLAGS...]
start_server() {
  local port=$1 log=$2
  shift 2
  cargo build --release -q -p ringws-server
  target/release/ringws --addr "127.0.0.1:$port" "$@" > "$log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 100); do
    (echo > "/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "the server did not listen on port $port (log: $log)" >&2
  return 1
}

# python_venv PACKAGE...: the Python stages' venv in the build tree, with these packages; sets VENV.
python_venv() {
  VENV=target/interop-venv
  if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
  fi
  "$VENV/bin/pip" install -q "$@"
}
