#!/usr/bin/env bash
# The long fuzzing run (issue 12): a fixed number of executions per target
# instead of a fixed time, so that the figure is comparable between machines.
#   decoders (ike/message_decode, bgp/message_decode, esp/decapsulate,
#   config/config_parse, config/azure_import):            10,000,000 each
#   state machines (ike/responder, ike/initiator, ike/endpoint,
#   bgp/session), with ike's insecure test crypto:          1,000,000 each
# Usage: scripts/fuzz_long.sh [crate/target ...]   (default: all of them)
# FUZZ_RUNS_SCALE=0.01 gives a short version. Each target's line of final
# statistics goes to bench/results/fuzz_long.txt. Inputs found stay in
# <crate>/fuzz/corpus/<target>; a crash fails the run and leaves its input in
# <crate>/fuzz/artifacts/<target>/ (make it a regression test).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo-fuzz >/dev/null || cargo install --quiet --locked cargo-fuzz
export RUSTC_BOOTSTRAP=1
scale=${FUZZ_RUNS_SCALE:-1}
decoders="ike/message_decode bgp/message_decode esp/decapsulate config/config_parse config/azure_import"
machines="ike/responder ike/initiator ike/endpoint bgp/session"
targets=("$@")
[ ${#targets[@]} -gt 0 ] || read -r -a targets <<<"$decoders $machines"
out=bench/results/fuzz_long.txt
mkdir -p bench/results
failed=()
for t in "${targets[@]}"; do
  crate=${t%/*} target=${t#*/}
  case " $decoders " in *" $t "*) runs=10000000 ;; *) runs=1000000 ;; esac
  runs=$(awk -v r="$runs" -v s="$scale" 'BEGIN { printf "%d", r * s }')
  dir=$crate/fuzz
  mkdir -p "$dir/corpus/$target"
  corpus=("corpus/$target")
  [ -d "$dir/seeds/$target" ] && corpus+=("seeds/$target")
  log=$(mktemp)
  start=$(date +%s)
  echo "fuzz_long: $t for $runs runs"
  if (cd "$dir" && cargo fuzz run --sanitizer none "$target" "${corpus[@]}" -- \
    -runs="$runs" -timeout=30 -print_final_stats=1) >"$log" 2>&1; then
    secs=$(($(date +%s) - start))
    done_runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 || true)
    line="$(date -u +%F) $(git rev-parse --short HEAD) $t: $done_runs runs in ${secs}s, $cov, no crash"
  else
    line="$(date -u +%F) $(git rev-parse --short HEAD) $t: FAILED ($(grep -E -o 'Test unit written to .*' "$log" || tail -n 5 "$log"))"
    failed+=("$t")
  fi
  echo "$line" | tee -a "$out"
  rm -f "$log"
done
[ ${#failed[@]} -eq 0 ] || { echo "fuzz_long: FAILED: ${failed[*]}"; exit 1; }
