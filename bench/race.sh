#!/usr/bin/env bash
# The throughput race: plain veth, strongSwan libipsec ⇄ libipsec, vwand ⇄
# vwand over raw ESP and over ESP-in-UDP, and vwand → strongSwan, on one
# namespace topology (lan ── edge ══ hub ── vnet), round-robin in one run
# (tests/src/race/). Each round runs iperf3 TCP with 1 and 4 streams and
# 64-byte UDP per path; the table gives medians and the median of the
# per-round ratios against libipsec, CPU-seconds per GB (daemons, machine)
# and peak RSS (VmHWM), also after the 64-byte flood. Writes
# bench/results/race.json and race.svg. Release build; runs as root in
# namespaces it creates and removes; about 2.5 min per round.
#
#   sudo bench/race.sh                              # 3 rounds of 10 s
#   sudo bench/race.sh --rounds 7 --seconds 10
#   sudo bench/race.sh --paths libipsec,vwand-raw --out /tmp/race
#   sudo bench/race.sh --rounds 1 --profile /tmp/prof   # + perf record per path
#   perf report -i /tmp/prof/vwand-raw-round1.perf.data --no-children --sort dso,sym
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p vwand -p vwand-tests --bin vwand --bin race --bin udpblast
target_dir="${CARGO_TARGET_DIR:-$(cargo metadata --format-version 1 --no-deps \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')}"
export VWAND_BIN="$target_dir/release/vwand"
exec "$target_dir/release/race" "$@"
