#!/usr/bin/env bash
# Memory per learned BGP prefix: the hub's BIRD sends N /24s (default
# 200,000) over the IPsec tunnel to vwand and over a plain link to a second
# BIRD; prints each one's VmRSS per prefix (from a 1-prefix and an
# N-prefix bed) and the ratio. Runs as root in namespaces it creates, with
# a release build of vwand.
#
#   sudo bench/bgp_memory.sh
#   sudo BGP_MEMORY_PREFIXES=50000 bench/bgp_memory.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p vwand
target_dir="${CARGO_TARGET_DIR:-$(cargo metadata --format-version 1 --no-deps \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')}"
export VWAND_BIN="$target_dir/release/vwand"
cargo bench -p vwand-tests --bench bgp_memory
