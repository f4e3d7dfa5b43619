#!/usr/bin/env bash
# Installs vwand as a systemd service (run as root):
#   - the release binary at $PREFIX/bin/vwand (PREFIX=/usr/local),
#   - the unit at /etc/systemd/system/vwand.service,
#   - the system user and group `vwand` (the service runs as it, with
#     CAP_NET_ADMIN, CAP_NET_RAW and CAP_NET_BIND_SERVICE only),
#   - /etc/vwand/vwand.toml, owned by vwand and mode 0600, from the example
#     unless one is there (it is never overwritten).
# Then: edit the file (or `vwand import-azure`), `vwand -c /etc/vwand/vwand.toml
# check`, and `systemctl enable --now vwand`.
#
#   sudo scripts/install.sh            # build and install
#   sudo scripts/install.sh uninstall  # remove binary, unit (keeps /etc/vwand)
set -euo pipefail
cd "$(dirname "$0")/.."
PREFIX=${PREFIX:-/usr/local}
unit=/etc/systemd/system/vwand.service
if [ "$(id -u)" != 0 ]; then
  echo "install.sh: run as root" >&2
  exit 1
fi
have_systemd() { [ -d /run/systemd/system ]; }

if [ "${1:-}" = uninstall ]; then
  have_systemd && systemctl disable --now vwand 2>/dev/null || true
  rm -f "$PREFIX/bin/vwand" "$unit"
  have_systemd && systemctl daemon-reload || true
  echo "install.sh: removed $PREFIX/bin/vwand and $unit (kept /etc/vwand and the vwand user)"
  exit 0
fi

cargo build --release -p vwand
target_dir="${CARGO_TARGET_DIR:-$(cargo metadata --format-version 1 --no-deps \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')}"
install -D -m 0755 "$target_dir/release/vwand" "$PREFIX/bin/vwand"
sed "s#/usr/local/bin/vwand#$PREFIX/bin/vwand#g" dist/vwand.service > "$unit.tmp"
chmod 0644 "$unit.tmp"
mv "$unit.tmp" "$unit"
if ! getent passwd vwand >/dev/null; then
  useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin \
    --user-group vwand
fi
install -d -m 0750 -o root -g vwand /etc/vwand
if [ ! -e /etc/vwand/vwand.toml ]; then
  install -m 0600 -o vwand -g vwand dist/vwand.toml.example /etc/vwand/vwand.toml
  echo "install.sh: wrote /etc/vwand/vwand.toml from the example: edit it, or replace it with"
  echo "  vwand import-azure vpnconfig.json -o /etc/vwand/vwand.toml && chown vwand: /etc/vwand/vwand.toml"
fi
if have_systemd; then
  systemctl daemon-reload
  systemd-analyze security vwand.service --no-pager | tail -n 1 || true
fi
echo "install.sh: installed $PREFIX/bin/vwand and $unit; then: systemctl enable --now vwand"
