#!/usr/bin/env bash
# Runs each cargo-fuzz target for N seconds (default 60).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
command -v cargo-fuzz >/dev/null || cargo install --quiet --locked cargo-fuzz
for target in $(cd esp/fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz list); do
  echo "fuzz: esp/$target for ${secs}s"
  (cd esp/fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run "$target" -- -max_total_time="$secs" -print_final_stats=1 2>&1 | tail -n 12)
done
