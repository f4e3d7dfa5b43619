#!/usr/bin/env bash
# The vwand demo: an on-premises edge running vwand against an emulated
# Azure Virtual WAN hub with two gateway instances (strongSwan + BIRD each)
# behind an emulated ExpressRoute circuit, all in network namespaces:
#
#   lan ── edge: vwand ══ er (circuit router) ══╦═ hub instance 0 ─┐
#                                               ╚═ hub instance 1 ─┴─ VNet
#
# It writes an Azure-style "Download VPN Config" file, imports it with
# `vwand import-azure`, starts vwand, shows `vwand status`, streams from
# the LAN over both tunnels, kills instance 0's gateway, shows the flows
# moving and the measured gap, brings it back, shows that the circuit
# carries only ESP, and tears everything down (tests/src/bin/demo.rs).
#
#   sudo scripts/demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "run as root: sudo $0" >&2; exit 1; }
scripts/deps.sh
cargo build --release -q -p vwand
cargo build --release -q -p vwand-tests --bin demo --bin seqstream
target_dir="${CARGO_TARGET_DIR:-$(cargo metadata --format-version 1 --no-deps \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')}"
export VWAND_BIN="$target_dir/release/vwand" SEQSTREAM_BIN="$target_dir/release/seqstream"
exec "$target_dir/release/demo"
