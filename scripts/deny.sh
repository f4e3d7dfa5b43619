#!/usr/bin/env bash
# cargo deny (deny.toml): licenses, bans (duplicate versions reported,
# wildcards refused) and sources, always. Advisories too with
#   scripts/deny.sh --advisories PATH
# where PATH is a clone of https://github.com/rustsec/advisory-db (CI cannot
# reach GitHub, so CI runs without it).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo-deny >/dev/null || cargo install --quiet --locked cargo-deny
cargo deny check licenses bans sources
if [ "${1:-}" = --advisories ]; then
  src=${2:?usage: scripts/deny.sh --advisories PATH-TO-ADVISORY-DB-CLONE}
  db=$(mktemp -d)
  trap 'rm -rf "$db"' EXIT
  # cargo deny looks for the default database under this name.
  git clone -q "$src" "$db/advisory-db-3157b0e258782691"
  echo "deny: advisories from $(git -C "$db/advisory-db-3157b0e258782691" log -1 --format='%h of %cs')"
  sed "s|^yanked = \"deny\"$|&\ndb-path = \"$db\"|" deny.toml >"$db/deny.toml"
  cargo deny --offline --config "$db/deny.toml" check advisories
fi
