#!/usr/bin/env bash
# Creates (once) a venv with the official `scale-gp-beta` client and runs
# compat.py against the collector at SGP_CLIENT_BASE_URL.
# Needs python3 with venv and pip, and access to PyPI for the first run.
# Usage: run_compat.sh VENV_DIR   (SGP_CLIENT_BASE_URL, SGP_API_KEY, SGP_ACCOUNT_ID set)
set -euo pipefail
venv="${1:?usage: run_compat.sh VENV_DIR}"
here="$(cd "$(dirname "$0")" && pwd)"
python="${PYTHON:-python3}"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import scale_gp_beta" 2>/dev/null; then
    rm -rf "$venv"
    "$python" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "scale-gp-beta==${SGP_CLIENT_VERSION:-0.7.0}"
fi
exec "$venv/bin/python" "$here/compat.py"
