#!/usr/bin/env bash
# The vwand demo: an on-prem edge and a hub, each in its own network
# namespace, joined by a veth "ExpressRoute" underlay, with vwand on both
# ends carrying raw ESP (AES-256-GCM). Pings and a 5-second iperf3 run go
# through the tunnel, then the status of both daemons is printed.
#
#   sudo scripts/demo.sh            # run, show, tear down
#   sudo scripts/demo.sh --keep     # leave it running until Enter
#
# Until the IKE issue lands, the SAs are keyed by hand (RFC 4301 §4.5).
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "run as root: sudo $0" >&2; exit 1; }
scripts/deps.sh
cargo build --release -q -p vwand
BIN="$PWD/target/release/vwand"

ONPREM=vwand-demo-onprem
HUB=vwand-demo-hub
DIR=$(mktemp -d /tmp/vwand-demo.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  ip netns del "$ONPREM" 2>/dev/null || true
  ip netns del "$HUB" 2>/dev/null || true
  rm -rf "$DIR"
}
trap cleanup EXIT

ip netns add "$ONPREM"
ip netns add "$HUB"
ip -n "$ONPREM" link set lo up
ip -n "$HUB" link set lo up
ip -n "$ONPREM" link add er0 type veth peer name er0 netns "$HUB"
ip -n "$ONPREM" addr add 192.0.2.10/24 dev er0
ip -n "$HUB" addr add 192.0.2.4/24 dev er0
ip -n "$ONPREM" link set er0 up
ip -n "$HUB" link set er0 up

key() { head -c "$1" /dev/urandom | od -An -tx1 | tr -d ' \n'; }
K1=$(key 36)
K2=$(key 36)
write_config() { # file status local peer inner routes out_spi out_key in_spi in_key
  cat > "$1" <<CONF
[daemon]
status_socket = "$2"

[tun]
name = "vwand0"
mtu = 1400
addresses = ["$5/32"]

[[tunnel]]
name = "hub-instance0"
local = "$3"
peer = "$4"
transport = "raw"
routes = ["$6"]

[tunnel.manual]
transform = "aes256gcm16"
esn = true
outbound = { spi = $7, key = "$8" }
inbound = { spi = $9, key = "${10}" }
CONF
  chmod 600 "$1"
}
write_config "$DIR/onprem.toml" "$DIR/onprem.sock" 192.0.2.10 192.0.2.4 10.1.0.1 10.51.0.0/16 0x1001 "$K1" 0x2001 "$K2"
write_config "$DIR/hub.toml" "$DIR/hub.sock" 192.0.2.4 192.0.2.10 10.51.0.1 10.1.0.0/16 0x2001 "$K2" 0x1001 "$K1"

ip netns exec "$ONPREM" "$BIN" -c "$DIR/onprem.toml" run 2>"$DIR/onprem.log" & PIDS+=($!)
ip netns exec "$HUB" "$BIN" -c "$DIR/hub.toml" run 2>"$DIR/hub.log" & PIDS+=($!)
for _ in $(seq 100); do
  [ -S "$DIR/onprem.sock" ] && [ -S "$DIR/hub.sock" ] && break
  sleep 0.1
done

echo "== ping from on-prem 10.1.0.1 to the hub VNet 10.51.0.1 through raw ESP"
ip netns exec "$ONPREM" ping -c 3 -i 0.2 10.51.0.1
echo "== iperf3, 5 seconds, on-prem -> hub"
ip netns exec "$HUB" iperf3 -s -1 -B 10.51.0.1 >/dev/null & PIDS+=($!)
sleep 0.5
ip netns exec "$ONPREM" timeout 30 iperf3 -c 10.51.0.1 -t 5 | tail -4
echo "== what the underlay sees (tcpdump, 3 packets)"
ip netns exec "$HUB" timeout 5 tcpdump -nn -c 3 -i er0 esp 2>/dev/null &
sleep 0.5
ip netns exec "$ONPREM" ping -c 3 -i 0.2 -q 10.51.0.1 >/dev/null
wait $! 2>/dev/null || true
echo "== status of the hub's vwand"
"$BIN" status --socket "$DIR/hub.sock"
if [ "${1:-}" = "--keep" ]; then
  echo "running: ip netns exec $ONPREM bash   to explore; press Enter to tear down"
  read -r _
fi
