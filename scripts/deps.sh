#!/usr/bin/env bash
# Installs every system package and Python module the tests and the demo
# use. Idempotent: skips apt when everything is already there.
set -euo pipefail

PACKAGES=(
  iproute2 iputils-ping iperf3 tcpdump tshark python3 python3-pip
  # The hub side for the IKE and BGP suites, and the throughput race.
  strongswan-swanctl charon-systemd libcharon-extra-plugins
  libstrongswan-standard-plugins libstrongswan-extra-plugins bird2
  # Underlay faults (drop, loss) for the failover suites.
  nftables
  # The systemd unit's checks (systemd-analyze) and its syscall filter
  # against what vwand really calls (strace); setpriv is in util-linux.
  systemd strace util-linux
  # Checksum offloads off on the last hop, so the offload test's receiver
  # verifies every TCP checksum vwand's GRO left to the kernel.
  ethtool
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# charon-systemd's package starts a system-wide charon; the tests run their
# own per namespace, so keep the system one from binding ports or sockets.
if command -v systemctl >/dev/null && systemctl is-active --quiet strongswan 2>/dev/null; then
  systemctl stop strongswan || true
fi

if ! python3 -c 'import scapy.layers.ipsec, cryptography, prometheus_client' 2>/dev/null; then
  echo "deps: installing scapy, cryptography and prometheus_client for $(command -v python3)"
  python3 -m pip install --quiet --disable-pip-version-check scapy cryptography prometheus_client \
    || python3 -m pip install --quiet --disable-pip-version-check --break-system-packages scapy cryptography prometheus_client
fi

# cargo deny (scripts/deny.sh), from crates.io with its locked dependencies.
if ! command -v cargo-deny >/dev/null; then
  echo "deps: installing cargo-deny"
  cargo install --quiet --locked cargo-deny
fi
