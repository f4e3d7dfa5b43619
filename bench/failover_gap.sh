#!/usr/bin/env bash
# Failover gap per event: the end-to-end failover tests (tests/tests/
# active_active.rs: two strongSwan + BIRD hub instances, a numbered UDP
# stream at 1,000 packets/s in 16 flows, one failure of instance 0 per
# test) run FAILOVER_RUNS times (default 3) with a release build of vwand;
# prints the median, minimum and maximum gap per event and writes them as
# JSON to target/failover_gap.json. Runs as root in namespaces it creates.
#
#   sudo bench/failover_gap.sh
#   sudo FAILOVER_RUNS=5 bench/failover_gap.sh
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${FAILOVER_RUNS:-3}
cargo build --release -p vwand
cargo build -p vwand-tests --bins
target_dir="${CARGO_TARGET_DIR:-$(cargo metadata --format-version 1 --no-deps \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')}"
export VWAND_BIN="$target_dir/release/vwand"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
for i in $(seq 1 "$runs"); do
  echo "failover_gap: run $i of $runs"
  cargo test -q -p vwand-tests --test active_active -- --test-threads=1 --nocapture failover_ 2>&1 \
    | tee -a "$log" | grep -E "failover gap" || true
done
python3 - "$log" "$target_dir/failover_gap.json" "$runs" <<'PY'
import json, re, statistics, sys
log, out, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
gaps = {}
for line in open(log, encoding="utf-8", errors="replace"):
    m = re.match(r"(?:test \S+ \.\.\. )?(.+?): failover gap (\d+) ms", line.strip())
    if m:
        gaps.setdefault(m.group(1), []).append(int(m.group(2)))
rows = {e: {"median_ms": statistics.median(g), "min_ms": min(g), "max_ms": max(g), "runs": len(g)}
        for e, g in gaps.items()}
print(f"\n| event | median gap (ms) | min | max | runs |\n|---|---:|---:|---:|---:|")
for e, r in sorted(rows.items(), key=lambda x: x[1]["median_ms"]):
    print(f"| {e} | {r['median_ms']:.0f} | {r['min_ms']} | {r['max_ms']} | {r['runs']} |")
json.dump(rows, open(out, "w"), indent=2)
print(f"\nwritten to {out}")
if not rows or any(r["runs"] < runs for r in rows.values()):
    sys.exit("failover_gap: some runs failed; see the test output above")
PY
