#!/usr/bin/env bash
# The OTLP exporter against a real OTLP backend, Arize Phoenix: installs Phoenix into a venv
# cached under the target directory (first run about 80 s and 850 MB, from PyPI), starts it on
# free loopback ports, runs the instrumented example `phoenix_demo` with the OTLP exporter,
# checks what Phoenix stored (tests/phoenix_check.py), and stops Phoenix by its PID.
#
# Three runs, each into its own Phoenix project: OTLP/HTTP; OTLP/gRPC with the guide's
# metadata headers; and OTLP/gRPC gzipped, started before Phoenix is up (the backend is down,
# then up: the exporter retries until every span is delivered).
#
#   bash sgp-trace-otel/tests/phoenix.sh
#
# PHOENIX_VENV overrides where the venv lives; PHOENIX_KEEP_LOG=1 prints Phoenix's log.
set -euo pipefail
cd "$(dirname "$0")/../.."

target="${CARGO_TARGET_DIR:-target}"
venv="${PHOENIX_VENV:-$target/phoenix-venv}"
if [ ! -x "$venv/bin/phoenix" ]; then
    echo "phoenix.sh: installing arize-phoenix into $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check arize-phoenix
fi

free_port() {
    "$venv/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
port=$(free_port)
grpc_port=$(free_port)
while [ "$grpc_port" = "$port" ]; do grpc_port=$(free_port); done
workdir=$(mktemp -d)
project="sgp-trace-otel-test"
late_demo_pid=""
phoenix_pid=""
stop_phoenix() {
    for pid in $late_demo_pid $phoenix_pid; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    if [ "${PHOENIX_KEEP_LOG:-}" = 1 ]; then cat "$workdir/phoenix.log"; fi
    rm -rf "$workdir"
}
trap stop_phoenix EXIT

cargo build -q -p sgp-trace-otel --features opentelemetry --example phoenix_demo
demo="$target/debug/examples/phoenix_demo"
guide_headers="ifuser=ci,iflicensekey=lk-ci,ifproject=sgp-trace,ifsystem=phoenix-test"

# gRPC, gzipped, while nothing listens yet: the demo retries until Phoenix is up.
OTEL_EXPORTER_OTLP_PROTOCOL=grpc OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$grpc_port" \
    OTEL_EXPORTER_OTLP_HEADERS="$guide_headers" OTEL_EXPORTER_OTLP_COMPRESSION=gzip \
    OTEL_RESOURCE_ATTRIBUTES="openinference.project.name=$project-grpc-late" \
    PHOENIX_DEMO_WAIT_SECS=240 "$demo" >"$workdir/expected-grpc-late.json" &
late_demo_pid=$!
sleep 2

PHOENIX_WORKING_DIR="$workdir" PHOENIX_HOST=127.0.0.1 PHOENIX_PORT="$port" \
    PHOENIX_GRPC_PORT="$grpc_port" "$venv/bin/phoenix" serve >"$workdir/phoenix.log" 2>&1 &
phoenix_pid=$!

base="http://127.0.0.1:$port"
for _ in $(seq 1 180); do
    if ! kill -0 "$phoenix_pid" 2>/dev/null; then
        echo "phoenix.sh: Phoenix exited during startup:" >&2
        cat "$workdir/phoenix.log" >&2
        exit 1
    fi
    if curl -sf "$base/v1/projects" >/dev/null 2>&1; then break; fi
    sleep 1
done

OTEL_EXPORTER_OTLP_ENDPOINT="$base" \
    OTEL_RESOURCE_ATTRIBUTES="openinference.project.name=$project" \
    "$demo" >"$workdir/expected.json"
"$venv/bin/python" sgp-trace-otel/tests/phoenix_check.py "$base" "$project" "$workdir/expected.json"

OTEL_EXPORTER_OTLP_PROTOCOL=grpc OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$grpc_port" \
    OTEL_EXPORTER_OTLP_HEADERS="$guide_headers" \
    OTEL_RESOURCE_ATTRIBUTES="openinference.project.name=$project-grpc" \
    "$demo" >"$workdir/expected-grpc.json"
"$venv/bin/python" sgp-trace-otel/tests/phoenix_check.py "$base" "$project-grpc" \
    "$workdir/expected-grpc.json"

if ! wait "$late_demo_pid"; then
    echo "phoenix.sh: the gRPC run started before Phoenix failed" >&2
    exit 1
fi
"$venv/bin/python" sgp-trace-otel/tests/phoenix_check.py "$base" "$project-grpc-late" \
    "$workdir/expected-grpc-late.json"
