#!/usr/bin/env bash
# /metrics after a scripted workload, parsed by prometheus_client (the Prometheus project's
# Python parser), every figure checked against what the workload did.
set -euo pipefail
cd "$(dirname "$0")/../.."
port=${METRICS_PORT:-9014}
. .ci/lib.sh
python_venv 'websockets>=13,<16' 'prometheus_client>=0.20,<1'
start_server "$port" target/metrics-server.log
trap 'kill $SERVER_PID 2>/dev/null || true' EXIT
"$VENV/bin/python" .ci/metrics/check.py "$port"
