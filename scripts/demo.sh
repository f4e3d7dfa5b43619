#!/usr/bin/env bash
# The vwand demo: vwand against an emulated Azure Virtual WAN hub.
#
#   on-prem netns                                        hub netns ("Instance0")
#   vwand, TUN vw0 10.1.0.1 ── er0 172.24.127.211 ══ 10.51.230.4 er0 ── charon (strongSwan)
#                              (veth "ExpressRoute")           BIRD (BGP AS 65515) on lo 10.51.230.12
#                                                              lo 10.51.230.10, 10.51.231.10
#
# vwand initiates an IKEv2 PSK tunnel with Azure's custom policy (IKE
# aes256gcm16-prfsha384-ecp384, ESP aes256gcm16) to a strongSwan charon that
# plays the hub gateway. Addresses follow an Azure VPN configuration export
# (hub VNet 10.51.230.0/24 with connected 10.51.231.0/24 and 10.51.232.0/24,
# Instance0 at 10.51.230.4 with BGP address 10.51.230.12, site at
# 172.24.127.211, site ASN 65010). The demo shows the IKE and Child SA coming
# up on both sides, the BGP session inside the tunnel (BIRD as the hub's
# BGP learns exactly the on-prem prefix; vwand learns the connected VNets and
# refuses the hub space, which covers the tunnel's own endpoint), the
# ExpressRoute encryption guard refusing a bad configuration, pings and a
# 5-second iperf3 through the tunnel, what the underlay sees, and vwand's
# status.
#
#   sudo scripts/demo.sh            # run, show, tear down
#   sudo scripts/demo.sh --keep     # leave it running until Enter
#
# Everything lives in two network namespaces created here; on any exit the
# processes started here are stopped by PID and the namespaces deleted.
#
# strongSwan runs with kernel-libipsec (this kernel has no ESP), which
# always pretends a NAT is present: IKE floats to UDP 4500 and ESP is
# UDP-encapsulated there, so vwand (transport "raw") follows it.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "run as root: sudo $0" >&2; exit 1; }
KEEP=false
case "${1:-}" in
  --keep) KEEP=true ;;
  "") ;;
  *) echo "usage: $0 [--keep]" >&2; exit 2 ;;
esac

scripts/deps.sh
cargo build --release -q -p vwand
BIN="$PWD/target/release/vwand"

# Shaped like an Azure VPN configuration export (vpnSiteConfiguration /
# gatewayConfiguration); the PSK is a demo value, not a secret.
ONPREM_OUTER=172.24.127.211      # vpnSiteConfiguration.IPAddress
ONPREM_INNER=10.1.0.1            # inside the on-prem prefix 10.1.0.0/24
HUB_OUTER=10.51.230.4            # gatewayConfiguration.IpAddresses.Instance0
HUB_BGP=10.51.230.12             # gatewayConfiguration.BgpSetting.BgpPeeringAddresses.Instance0
ONPREM_PREFIX=10.1.0.0/24        # advertised over the VPN
ER_PREFIX=10.1.0.0/16            # advertised over ExpressRoute by the circuit's routers
HUB_VNET=10.51.230.10            # a host in the hub AddressSpace 10.51.230.0/24
SPOKE_VM=10.51.231.10            # a host in ConnectedSubnets 10.51.231.0/24
HUB_PREFIXES=(10.51.230.0/24 10.51.231.0/24 10.51.232.0/24)
PSK="example-psk-not-a-secret-0123456789"
IKE_PROPOSAL=aes256gcm16-prfsha384-ecp384
ESP_PROPOSAL=aes256gcm16

# The PID keeps concurrent runs (and leftovers of a killed one) apart.
ONPREM="vwdemo-onprem-$$"
HUB="vwdemo-hub-$$"
DIR=$(mktemp -d /tmp/vwand-demo.XXXXXX)   # short: the vici socket path must fit sun_path
NETNS_MADE=()
VWAND_PID=
CHARON_PID=
BIRD_PID=
PIDS=()   # helpers (iperf3 server, tcpdump)

say() { printf '\n== %s\n' "$*"; }

alive() { # pid: still running as a child of this script (every process
  # recorded here is one; checking the parent guards against a PID that bash
  # already reaped and the system reused). A zombie counts as gone.
  local ppid stat
  read -r ppid stat < <(ps -o ppid=,stat= -p "$1" 2>/dev/null) || return 1
  [ "$ppid" = "$$" ] && [[ $stat != Z* ]]
}

stop_pid() { # pid: SIGTERM, up to 5 s, then SIGKILL; reaps it
  local pid=$1 i
  [ -n "$pid" ] || return 0
  if alive "$pid"; then
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 50); do alive "$pid" || break; sleep 0.1; done
    if alive "$pid"; then
      echo "demo: pid $pid ignored SIGTERM, killing it" >&2
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  wait "$pid" 2>/dev/null || true
}

show_logs() {
  local f
  for f in "$DIR/onprem.log" "$DIR/hub/charon.log" "$DIR/hub/charon.stdout.log" "$DIR/bird.log" \
    "$DIR/tcpdump.err" "$DIR/iperf3-server.log"; do
    [ -s "$f" ] || continue
    echo "--- last lines of ${f#"$DIR"/}" >&2
    tail -n 25 "$f" >&2
  done
}

cleanup() {
  local rc=$? ns pid
  set +e
  trap - EXIT INT TERM HUP
  case $rc in
    0) ;;
    130 | 143) echo "demo: interrupted, tearing down" >&2 ;;
    *) echo "demo: failed (exit $rc)" >&2; show_logs ;;
  esac
  # vwand first, so its DELETE reaches a charon that is still there.
  stop_pid "$VWAND_PID"
  stop_pid "$BIRD_PID"
  stop_pid "$CHARON_PID"
  for pid in "${PIDS[@]}"; do stop_pid "$pid"; done
  # Anything still inside the namespaces was started by this script too.
  for ns in "${NETNS_MADE[@]}"; do
    for pid in $(ip netns pids "$ns" 2>/dev/null); do
      echo "demo: leftover pid $pid in $ns, killing it" >&2
      kill -KILL "$pid" 2>/dev/null || true
    done
  done
  for ns in "${NETNS_MADE[@]}"; do ip netns del "$ns" 2>/dev/null; done
  rm -rf "$DIR"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

wait_for() { # seconds description command...: poll until the command
  local secs=$1 what=$2 i rc  # succeeds; exit status 3 from it means give up
  shift 2
  for i in $(seq $((secs * 10))); do
    if "$@"; then return 0; else rc=$?; fi
    [ "$rc" != 3 ] || return 1
    sleep 0.1
  done
  echo "demo: timed out after ${secs}s waiting for $what" >&2
  return 1
}

# --- the underlay: two namespaces and a veth "ExpressRoute" link ----------
ip netns add "$ONPREM"; NETNS_MADE+=("$ONPREM")
ip netns add "$HUB"; NETNS_MADE+=("$HUB")
ip -n "$ONPREM" link set lo up
ip -n "$HUB" link set lo up
ip -n "$ONPREM" link add er0 type veth peer name er0 netns "$HUB"
# Point-to-point /32s: the on-prem host route to the hub's outer address is
# more specific than vwand's 10.51.230.0/24 into the tunnel, so IKE and ESP
# to Instance0 still leave through er0.
ip -n "$ONPREM" addr add "$ONPREM_OUTER/32" peer "$HUB_OUTER/32" dev er0
ip -n "$HUB" addr add "$HUB_OUTER/32" peer "$ONPREM_OUTER/32" dev er0
ip -n "$ONPREM" link set er0 up
ip -n "$HUB" link set er0 up
# The hub VNet and a spoke host; kernel-libipsec also needs a local address
# inside its local traffic selector.
ip -n "$HUB" addr add "$HUB_VNET/32" dev lo
ip -n "$HUB" addr add "$SPOKE_VM/32" dev lo
ip -n "$HUB" addr add "$HUB_BGP/32" dev lo

# --- the hub: strongSwan charon as Azure's Instance0 -----------------------
HUBDIR="$DIR/hub"
mkdir -p "$HUBDIR"
VICI="unix://$HUBDIR/charon.vici"
# Only this file is read (nothing from /etc/strongswan.d). kernel-libipsec
# must be loaded before kernel-netlink to be the IPsec backend.
cat > "$HUBDIR/strongswan.conf" <<CONF
# strongswan.conf of the demo hub's charon-systemd (via STRONGSWAN_CONF).
charon {
  load = random nonce openssl aes sha1 sha2 hmac gcm curve25519 gmp pem pkcs1 x509 pubkey kdf kernel-libipsec kernel-netlink socket-default vici
  install_virtual_ip = no
  filelog {
    main {
      path = $HUBDIR/charon.log
      time_format = %b %e %T
      time_add_ms = yes
      ike_name = yes
      default = 1
      ike = 2
      cfg = 2
      chd = 2
      knl = 2
      flush_line = yes
      append = no
    }
  }
  plugins {
    vici {
      socket = $VICI
    }
  }
}
# charon-systemd reads its own section first, then falls back to charon.
charon-systemd {
  journal {
    default = -1
  }
}
CONF
# Azure's custom IPsec policy; Azure's SA lifetime is 3600 s (Child) and
# 28800 s (IKE). Route-based: 0.0.0.0/0 selectors both ways, as Azure uses.
PSK_HEX=$(printf '%s' "$PSK" | od -An -tx1 | tr -d ' \n')
cat > "$HUBDIR/swanctl.conf" <<CONF
# swanctl.conf of the demo hub: Azure VPN gateway Instance0.
connections {
  instance0 {
    version = 2
    local_addrs = $HUB_OUTER
    remote_addrs = $ONPREM_OUTER
    proposals = $IKE_PROPOSAL
    mobike = no
    rekey_time = 28800s
    dpd_delay = 10s
    local {
      auth = psk
      id = $HUB_OUTER
    }
    remote {
      auth = psk
      id = $ONPREM_OUTER
    }
    children {
      vnet {
        mode = tunnel
        local_ts = 0.0.0.0/0
        remote_ts = 0.0.0.0/0
        esp_proposals = $ESP_PROPOSAL
        rekey_time = 3600s
        start_action = none
        dpd_action = clear
      }
    }
  }
}
secrets {
  ike-instance0 {
    id-local = $HUB_OUTER
    id-remote = $ONPREM_OUTER
    secret = 0x$PSK_HEX
  }
}
CONF
chmod 600 "$HUBDIR/swanctl.conf"

# Foreground commands get `timeout --foreground`: plain timeout moves itself
# into its own process group, where Ctrl-C would not reach the command.
swanctl_hub() { # command option first, then its arguments
  ip netns exec "$HUB" timeout --foreground 20 swanctl "$@" --uri "$VICI"
}

# Never talk to a systemd that may supervise whoever runs this script.
env -u NOTIFY_SOCKET -u WATCHDOG_PID -u WATCHDOG_USEC STRONGSWAN_CONF="$HUBDIR/strongswan.conf" \
  ip netns exec "$HUB" charon-systemd >"$HUBDIR/charon.stdout.log" 2>&1 &
CHARON_PID=$!
charon_ready() {
  alive "$CHARON_PID" || { echo "demo: charon-systemd exited" >&2; return 3; }
  swanctl_hub --stats >/dev/null 2>&1
}
wait_for 20 "charon's vici socket" charon_ready
# On success only the summary: swanctl also complains about the missing
# x509/private/... directories next to the file, which PSK does not need.
if ! loaded=$(swanctl_hub --load-all --file "$HUBDIR/swanctl.conf" 2>&1); then
  echo "$loaded" >&2
  exit 1
fi
grep -E "^loaded|successfully" <<<"$loaded" | sed 's/^/  hub: /'

# --- on-prem: vwand --------------------------------------------------------
# --- the hub's BGP: BIRD as Azure's route server side (AS 65515) ---------
hub_statics=$(printf '  route %s blackhole;\n' "${HUB_PREFIXES[@]}")
cat > "$DIR/bird.conf" <<CONF
# bird.conf of the demo hub: AS 65515 at Instance0's BGP address.
router id $HUB_BGP;
log "$DIR/bird.log" all;
protocol device { scan time 10; }
protocol static hub { ipv4;
$(printf '%b' "$hub_statics")
}
protocol bgp vwand {
  local $HUB_BGP as 65515;
  neighbor $ONPREM_INNER as 65010;
  multihop 8;
  hold time 180; keepalive time 60;
  connect delay time 1; connect retry time 5; error wait time 1, 10;
  ipv4 { import all; export where proto = "hub"; };
}
CONF
ip netns exec "$HUB" bird -f -c "$DIR/bird.conf" -s "$DIR/bird.ctl" -P "$DIR/bird.pid" \
  >"$DIR/bird.stdout.log" 2>&1 &
BIRD_PID=$!
birdc_hub() { ip netns exec "$HUB" timeout --foreground 10 birdc -s "$DIR/bird.ctl" "$@"; }
bird_ready() {
  alive "$BIRD_PID" || { echo "demo: bird exited" >&2; return 3; }
  birdc_hub show status 2>/dev/null | grep -q "up and running"
}
wait_for 20 "BIRD" bird_ready

routes=$(printf '"%s"' "${HUB_PREFIXES[0]}")
cat > "$DIR/onprem.toml" <<CONF
[daemon]
status_socket = "$DIR/onprem.sock"

[tun]
name = "vw0"
mtu = 1400
addresses = ["$ONPREM_INNER/32"]

[[tunnel]]
name = "azure-hub-instance0"
local = "$ONPREM_OUTER"
peer = "$HUB_OUTER"
transport = "raw"
routes = [${routes%, }]

[tunnel.ike]
psk = "$PSK"
proposals = ["$IKE_PROPOSAL"]
esp_proposals = ["$ESP_PROPOSAL"]
initiate = true
dpd_seconds = 10

# The session to Instance0's BGP address rides Instance0's tunnel.
[tunnel.bgp]
peer = "$HUB_BGP"
import = ["10.51.0.0/16"]

[bgp]
asn = 65010
advertise = ["$ONPREM_PREFIX"]
expressroute_prefixes = ["$ER_PREFIX"]
CONF
chmod 600 "$DIR/onprem.toml"

say "the encryption guard: advertising the ExpressRoute prefix itself over the VPN is refused"
sed "s|^advertise = .*|advertise = [\"$ER_PREFIX\"]|" "$DIR/onprem.toml" >"$DIR/bad.toml"
chmod 600 "$DIR/bad.toml"
if "$BIN" -c "$DIR/bad.toml" check; then
  echo "demo: the guard accepted an identical prefix" >&2
  exit 1
fi
say "the real configuration: $ONPREM_PREFIX over the VPN, more specific than $ER_PREFIX over ExpressRoute"
"$BIN" -c "$DIR/onprem.toml" check

ip netns exec "$ONPREM" "$BIN" -c "$DIR/onprem.toml" run 2>"$DIR/onprem.log" &
VWAND_PID=$!
child_up() {
  alive "$VWAND_PID" || { echo "demo: vwand exited" >&2; return 3; }
  grep -q "Child SA up" "$DIR/onprem.log"
}
wait_for 30 "vwand's Child SA" child_up

say "vwand (on-prem $ONPREM_OUTER) initiates IKEv2 to Azure Instance0 $HUB_OUTER"
grep -E "initiating IKE SA|IKE SA established|Child SA up" "$DIR/onprem.log"

say "the hub's view: swanctl --list-sas"
wait_for 10 "the hub's CHILD_SA" \
  bash -c 'ip netns exec "$0" timeout --foreground 10 swanctl --list-sas --uri "$1" 2>/dev/null | grep -q INSTALLED' "$HUB" "$VICI"
swanctl_hub --list-sas

say "BGP inside the tunnel: BIRD (hub, AS 65515) learned exactly the on-prem prefix"
bgp_up() { birdc_hub show protocols vwand 2>/dev/null | grep -q Established; }
wait_for 30 "the BGP session" bgp_up
learned_routes() { ip netns exec "$ONPREM" ip -4 route show dev vw0 | grep -q 10.51.232.0/24; }
wait_for 10 "vwand's learned routes" learned_routes
birdc_hub show route protocol vwand all
say "vwand learned the connected VNets as kernel routes (the hub space covers Instance0's own address, so it is refused)"
ip netns exec "$ONPREM" ip -4 route show dev vw0
grep -E "BGP session established|BGP advertisements sent" "$DIR/onprem.log" || true

say "ping from on-prem $ONPREM_INNER to the hub VNet $HUB_VNET and the spoke $SPOKE_VM"
ip netns exec "$ONPREM" ping -c 3 -i 0.2 -W 2 "$HUB_VNET"
ip netns exec "$ONPREM" ping -c 3 -i 0.2 -W 2 -q "$SPOKE_VM" | tail -2
say "and back, from the spoke $SPOKE_VM to on-prem $ONPREM_INNER"
ip netns exec "$HUB" ping -c 3 -i 0.2 -W 2 -q -I "$SPOKE_VM" "$ONPREM_INNER" | tail -2

say "iperf3, 5 seconds, on-prem -> hub VNet $HUB_VNET"
ip netns exec "$HUB" timeout 60 iperf3 -s -1 -B "$HUB_VNET" >"$DIR/iperf3-server.log" 2>&1 &
PIDS+=($!)
iperf_listening() { ip netns exec "$HUB" ss -Htln "sport = :5201" | grep -q .; }
wait_for 10 "the iperf3 server" iperf_listening
ip netns exec "$ONPREM" timeout --foreground 30 iperf3 -c "$HUB_VNET" -t 5 -f m | grep -E "sender|receiver"

say "what the ExpressRoute underlay sees (tcpdump -c 3 on the hub's er0)"
: >"$DIR/tcpdump.err"
ip netns exec "$HUB" timeout 15 tcpdump -l -nn -c 3 -i er0 'esp or udp port 4500' \
  >"$DIR/tcpdump.out" 2>"$DIR/tcpdump.err" &
TCPDUMP_PID=$!
PIDS+=("$TCPDUMP_PID")
wait_for 10 "tcpdump" grep -q "listening on" "$DIR/tcpdump.err"
ip netns exec "$ONPREM" ping -c 3 -i 0.2 -W 2 -q "$HUB_VNET" >/dev/null
wait "$TCPDUMP_PID" 2>/dev/null || true
cat "$DIR/tcpdump.out"

say "vwand status (JSON)"
"$BIN" status --socket "$DIR/onprem.sock"

if $KEEP; then
  say "running. Explore with e.g.:"
  echo "  ip netns exec $ONPREM bash"
  echo "  ip netns exec $HUB swanctl --list-sas --uri $VICI"
  echo "  $BIN status --socket $DIR/onprem.sock"
  echo "press Enter to tear down"
  read -r _ || true
fi
say "tearing down"
