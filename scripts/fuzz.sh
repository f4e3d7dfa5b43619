#!/usr/bin/env bash
# Runs every target of every cargo-fuzz crate (*/fuzz) for N seconds each
# (default 60), one after the other. A crash, timeout or leak fails the
# target; the others still run, and the script exits non-zero at the end.
# The failing input is left in <crate>/fuzz/artifacts/<target>/.
# Inputs found go to <crate>/fuzz/corpus/<target>; <crate>/fuzz/seeds/<target>
# (checked in) seeds the run when present.
#
# FUZZ_SANITIZER=none skips AddressSanitizer (cargo-fuzz's default): several
# times faster, and neither esp nor ike has unsafe code.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
command -v cargo-fuzz >/dev/null || cargo install --quiet --locked cargo-fuzz
export RUSTC_BOOTSTRAP=1
sanitizer=()
[ -n "${FUZZ_SANITIZER:-}" ] && sanitizer=(--sanitizer "$FUZZ_SANITIZER")
log=$(mktemp)
trap 'rm -f "$log"' EXIT
failed=()
for dir in */fuzz; do
  [ -f "$dir/Cargo.toml" ] || continue
  crate=${dir%/fuzz}
  for target in $(cd "$dir" && cargo fuzz list); do
    echo "fuzz: $crate/$target for ${secs}s"
    mkdir -p "$dir/corpus/$target"
    corpus=("corpus/$target")
    [ -d "$dir/seeds/$target" ] && corpus+=("seeds/$target")
    # -timeout: no single input may take more than 30 s (a hang fails too).
    if (cd "$dir" && cargo fuzz run "${sanitizer[@]}" "$target" "${corpus[@]}" -- \
      -max_total_time="$secs" -timeout=30 -print_final_stats=1) >"$log" 2>&1; then
      tail -n 12 "$log"
    else
      # The panic (location and message), the kind of failure, the input;
      # the end of the log if it failed before fuzzing (a build error).
      grep -E -A 1 "panicked at" "$log" | head -n 4 || true
      grep -E "ERROR: (libFuzzer|AddressSanitizer|LeakSanitizer)|^SUMMARY" "$log" | head -n 4 ||
        tail -n 40 "$log"
      grep -E -o "Test unit written to .*" "$log" || true
      echo "fuzz: $crate/$target FAILED; replay with" \
        "(cd $dir && RUSTC_BOOTSTRAP=1 cargo fuzz run $target artifacts/$target/<file>)"
      failed+=("$crate/$target")
    fi
  done
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: FAILED: ${failed[*]}"
  exit 1
fi
