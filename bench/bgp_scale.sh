#!/usr/bin/env bash
# BGP scale: BIRD (the hub, AS 65515) sends 10,000 IPv4 prefixes over the
# IPsec tunnel; how long until vwand has them all as kernel routes, and how
# long until they are gone when BIRD dies. Runs as root in namespaces it
# creates, with a release build of vwand.
#
#   sudo bench/bgp_scale.sh                        # 10,000 prefixes, 3 runs
#   sudo BGP_SCALE_PREFIXES=4000 BGP_SCALE_RUNS=5 bench/bgp_scale.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p vwand
target_dir="${CARGO_TARGET_DIR:-$(cargo metadata --format-version 1 --no-deps \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')}"
export VWAND_BIN="$target_dir/release/vwand"
cargo bench -p vwand-tests --bench bgp_scale
