#!/usr/bin/env bash
# The kernel's own cost of one packet per skb, without a tunnel: udpblast
# sends datagrams of one size from one namespace to another across a veth
# pair (sendmmsg, 64 per call) and counts them at the far end (recvmmsg),
# as raw IP protocol 50 (what vwand's raw ESP path hands the kernel, minus
# the TUN and the crypto) and as UDP without GSO. It prints packets per
# second at the receiver and the whole machine's busy CPU-seconds per GB
# received (/proc/stat). This is the floor under the race's raw ESP figures:
# vwand's raw ESP can't cost less per GB than this, nor forward more small
# packets per second. Runs as root in two namespaces it creates and removes;
# about 4 × SECONDS.
#
#   sudo bench/raw_floor.sh            # 10 s per leg
#   sudo bench/raw_floor.sh 3
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-10}"
cargo build --release -p vwand-tests --bin udpblast
target_dir="${CARGO_TARGET_DIR:-$(cargo metadata --format-version 1 --no-deps \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')}"
blast="$target_dir/release/udpblast"

a="rfa$$" b="rfb$$"
recv_pid=""
cleanup() {
    [[ -n "$recv_pid" ]] && kill "$recv_pid" 2>/dev/null || true
    ip netns del "$a" 2>/dev/null || true
    ip netns del "$b" 2>/dev/null || true
}
trap cleanup EXIT
ip netns add "$a"
ip netns add "$b"
ip link add va netns "$a" type veth peer name vb netns "$b"
ip -n "$a" addr add 10.77.0.1/24 dev va
ip -n "$b" addr add 10.77.0.2/24 dev vb
for ns in "$a" "$b"; do
    ip -n "$ns" link set lo up
done
ip -n "$a" link set va up
ip -n "$b" link set vb up

# Busy jiffies of the whole machine (all but idle and iowait).
busy() { awk '/^cpu /{print $2+$3+$4+$7+$8+$9}' /proc/stat; }

printf '| packets | bytes | pps at the receiver | Gbit/s | machine CPU s/GB |\n|---|---:|---:|---:|---:|\n'
for proto in esp udp; do
    for len in 1400 64; do
        out=$(mktemp)
        ip netns exec "$b" "$blast" recv --proto "$proto" --bind 10.77.0.2:5301 \
            --seconds $((secs + 3)) >"$out" &
        recv_pid=$!
        # The receiver is bound once its socket shows up in the namespace.
        for _ in $(seq 100); do
            if ip netns exec "$b" ss -Hauw | grep -q .; then break; fi
            sleep 0.05
        done
        t0=$(busy)
        ip netns exec "$a" "$blast" send --proto "$proto" --dst 10.77.0.2:5301 \
            --seconds "$secs" --len "$len" --flows 1 >/dev/null
        t1=$(busy)
        wait "$recv_pid"
        recv_pid=""
        python3 - "$proto" "$len" "$t0" "$t1" "$(cat "$out")" <<'PY'
import json, os, sys
proto, n, t0, t1, r = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), json.loads(sys.argv[5])
hz = os.sysconf("SC_CLK_TCK")
span = r["first_to_last_s"] or 1.0
gb = r["received"] * n / 1e9
name = {"esp": "raw IP protocol 50", "udp": "UDP, no GSO"}[proto]
print(f"| {name} | {n} | {r['received'] / span:,.0f} | {gb * 8 / span:.2f} | {(t1 - t0) / hz / gb:.2f} |")
PY
        rm -f "$out"
    done
done
