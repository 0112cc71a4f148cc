#!/usr/bin/env bash
# Builds the `parse_batch` fuzz target and fuzzes the collector's write-body
# parser and validator for a bounded time: `fuzz/run.sh [seconds]` (default 60).
#
# Runs on stable Rust: `--sanitizer none` needs no nightly flag, and libFuzzer
# still gets its coverage counters (rustc's `-Cpasses=sancov-module`), as the
# "INFO: Loaded 1 modules (N inline 8-bit counters)" line shows. Built with debug
# assertions and overflow checks (cargo fuzz's default profile).
#
# New inputs go to a scratch corpus under the target dir; the committed seeds in
# `corpus/parse_batch/` are only read. Exits non-zero on a crash, leaving the
# input in `artifacts/parse_batch/`. FUZZ_TARGET_DIR overrides the build dir
# (default `fuzz/target`, its own, as the fuzz build has its own flags).
set -euo pipefail

secs="${1:-60}"
target=parse_batch
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"
export CARGO_TARGET_DIR="${FUZZ_TARGET_DIR:-$here/target}"

command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --version 0.13.2 --locked

cargo fuzz build --sanitizer none "$target"

work="$CARGO_TARGET_DIR/fuzz-corpus/$target"
mkdir -p "$work" "artifacts/$target"
log="$CARGO_TARGET_DIR/fuzz-$target.log"
set +e
cargo fuzz run --sanitizer none "$target" "$work" "corpus/$target" -- \
    -dict="$here/$target.dict" \
    -max_total_time="$secs" \
    -max_len=16384 \
    -timeout=10 \
    -rss_limit_mb=2048 \
    -print_final_stats=1 \
    >"$log" 2>&1
rc=$?
set -e

grep -E "^INFO: Loaded [0-9]+ modules|^#[0-9]+[[:space:]]+DONE" "$log" || true
if [ "$rc" -ne 0 ]; then
    tail -n 60 "$log"
    echo "fuzz: $target FAILED (exit $rc); the input is in $here/artifacts/$target/" >&2
    exit "$rc"
fi
execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)"
rate="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)"
echo "fuzz: $target ran ${secs}s without a crash: ${execs:-?} executions (${rate:-?} exec/s)"
