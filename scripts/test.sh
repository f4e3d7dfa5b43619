#!/usr/bin/env bash
# Runs every test: unit, known-answer, property, end-to-end in network
# namespaces (as root), a short fuzz run, and the lints.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
  echo "the end-to-end tests create network namespaces: run as root (sudo $0)" >&2
  exit 1
fi
scripts/deps.sh

cargo fmt --all -- --check
# clippy's incompatible_msrv holds the code to rust-version; msrv.sh holds
# the dependencies to it; cargo deny checks licenses, bans and sources.
cargo clippy --workspace --all-targets -- -D warnings
scripts/msrv.sh
scripts/deny.sh
cargo build -p vwand
export VWAND_BIN="$PWD/target/debug/vwand"

log=$(mktemp)
trap 'rm -f "$log"' EXIT
# Unit, known-answer and property tests, in parallel.
cargo test --workspace --exclude vwand-tests --no-fail-fast 2>&1 | tee -a "$log"
# End-to-end tests one at a time: they measure throughput on 2 cores.
cargo test -p vwand-tests --no-fail-fast -- --test-threads=1 2>&1 | tee -a "$log"

# Fuzz ESP decapsulation for a bounded time (a crash fails the run).
scripts/fuzz.sh 60

# One closing line for the whole run.
awk '/^test result:/ { p += $4; f += $6 } END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
