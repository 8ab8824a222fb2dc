#!/usr/bin/env bash
# Runs every fuzz target for SECONDS (default 20) from its checked-in seed corpus, and prints
# the executions, the corpus it reached and what libFuzzer found. A crash, a leak or a timeout
# fails the run; libFuzzer writes the input that did it to fuzz/artifacts/TARGET/.
#
#     fuzz/run.sh [SECONDS] [TARGET…]      # e.g. fuzz/run.sh 3600 kql odata
#
# Installs cargo-fuzz when missing. Builds on the stable toolchain without a sanitizer
# (`-s none`): Rust's own checks (bounds, overflow in debug builds, `unwrap`) are what the
# targets catch; `FUZZ_DEV=1` builds without optimisations (faster to compile, as CI does).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
seconds=${1:-20}
shift || true
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked --version 0.13.2
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(cargo fuzz list)
fi
profile=(-a)
[ "${FUZZ_DEV:-0}" = 1 ] && profile=(--dev)
cargo fuzz build -s none "${profile[@]}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
printf '%-18s %12s %10s %8s  %s\n' target executions exec/s corpus outcome
status=0
for target in "${targets[@]}"; do
  # New inputs go to a copy: the checked-in seeds stay as they are.
  mkdir -p "$work/$target"
  cp -r "fuzz/corpus/$target/." "$work/$target/"
  log="$work/$target.log"
  outcome=ok
  cargo fuzz run -s none "${profile[@]}" "$target" "$work/$target" -- \
    -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 >"$log" 2>&1 || {
    outcome="FAILED (see below)"
    status=1
  }
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  corpus=$(find "$work/$target" -type f | wc -l)
  printf '%-18s %12s %10s %8s  %s\n' "$target" "${runs:-?}" "${rate:-?}" "$corpus" "$outcome"
  if [ "$outcome" != ok ]; then
    grep -E 'panicked|ERROR|SUMMARY|Test unit written|artifact' "$log" | head -20 >&2 || tail -40 "$log" >&2
  fi
done
exit $status
