#!/usr/bin/env python3
"""Captures a real BGP session between two BIRD 2 daemons and splits it into
one raw BGP message per file, as codec fixtures for the `bgp` crate.

Usage (as root; needs bird2, tcpdump, tshark, python3-scapy):

    python3 tests/oracle/capture_bird.py [OUT_DIR]

OUT_DIR defaults to bgp/tests/fixtures/bird. It receives the *.bin messages
(marker included), session.pcap, the two BIRD configs and README.md.

Two namespaces joined by a veth with fixed MAC addresses (so the IPv6
link-local next hops, and hence every message, come out the same on every
run):

    hub  (AS 65515, router id 192.0.2.1, active)  ul0 192.0.2.1 fd00:2::1
    site (AS 65010, router id 192.0.2.2, passive) ul0 192.0.2.2 fd00:2::2

The script drives BIRD through a scenario, then reassembles each TCP
direction with scapy, splits it on the BGP header, classifies each message
and writes the first message of every class. tshark's own count of BGP
messages per type must match the split, so a reassembly bug cannot go
unnoticed. Everything started here is stopped by PID and the namespaces are
deleted, also on failure. Every wait has a deadline.
"""
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
from collections import Counter

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUT = os.path.join(HERE, "..", "..", "bgp", "tests", "fixtures", "bird")

HUB, SITE = "192.0.2.1", "192.0.2.2"
HUB6, SITE6 = "fd00:2::1", "fd00:2::2"
HUB_MAC, SITE_MAC = "02:00:00:00:00:01", "02:00:00:00:00:02"
MARKER = b"\xff" * 16
TYPES = {1: "OPEN", 2: "UPDATE", 3: "NOTIFICATION", 4: "KEEPALIVE", 5: "ROUTE-REFRESH"}

# The hub announces capabilities beyond BIRD's defaults; its IPv4 export
# filter prepends its AS twice. The site runs BIRD's defaults.
HUB_CONF = """\
router id 192.0.2.1;
hostname "bird-hub";
log "{dir}/hub.log" all;
debug protocols {{ states, events, packets }};
protocol device {{ }}
protocol static static4 {{
  ipv4;
  route 10.51.0.0/16 blackhole;
  route 10.52.0.0/16 blackhole;
  route 10.53.0.0/16 blackhole;
}}
protocol static static6 {{
  ipv6;
  route fd51::/48 blackhole;
{extra6}}}
protocol bgp site {{
  local 192.0.2.1 as 65515;
  neighbor 192.0.2.2 as 65010;
  direct;
  hold time 180;
  keepalive time 60;
  connect delay time 1;
  connect retry time 2;
  error wait time 1,5;
  enable route refresh on;
  enable extended messages on;
  graceful restart on;
  long lived graceful restart on;
  advertise hostname on;
  ipv4 {{
    import all;
    add paths rx;
    export filter {{
      if proto = "static4" then {{ bgp_path.prepend(65515); bgp_path.prepend(65515); accept; }}
      reject;
    }};
  }};
  ipv6 {{ import all; add paths rx; export where proto = "static6"; }};
}}
"""

SITE_CONF = """\
router id 192.0.2.2;
hostname "bird-site";
log "{dir}/site.log" all;
debug protocols {{ states, events, packets }};
protocol device {{ }}
protocol static static4 {{ ipv4; route 10.1.0.0/16 blackhole; }}
protocol static static6 {{ ipv6; route fd01::/48 blackhole; }}
protocol bgp hub {{
  local 192.0.2.2 as 65010;
  neighbor 192.0.2.1 as 65515;
  direct;
  passive on;
  hold time 90;
  keepalive time 30;
  error wait time 1,5;
  ipv4 {{ import all; export where proto = "static4"; }};
  ipv6 {{ import all; export where proto = "static6"; }};
}}
"""

# name -> one-line description; the order is the README's.
FIXTURES = {
    "open_hub.bin": "OPEN from the hub (AS 65515, hold 180, id 192.0.2.1): multiprotocol "
    "IPv4+IPv6 unicast, route refresh, extended message, graceful restart (flags 0, "
    "restart time 120, IPv4+IPv6 with F bit clear), 4-octet AS 65515, ADD-PATH receive IPv4+IPv6, "
    "enhanced route refresh, long-lived GR (IPv4+IPv6, stale time 3600), FQDN "
    "hostname \"bird-hub\".",
    "open_site.bin": "OPEN from the site (AS 65010, hold 90, id 192.0.2.2) with BIRD's "
    "default capabilities: multiprotocol IPv4+IPv6, route refresh, graceful restart "
    "(aware, no AFs), 4-octet AS, enhanced route refresh, long-lived GR (aware).",
    "keepalive.bin": "KEEPALIVE (19 bytes).",
    "update_ipv4_prepend.bin": "UPDATE from the hub: ORIGIN IGP, AS_PATH "
    "AS_SEQUENCE [65515 65515 65515] (4-octet ASNs), NEXT_HOP 192.0.2.1, NLRI "
    "10.52.0.0/16 10.53.0.0/16 10.51.0.0/16 (BIRD's order) sharing these attributes.",
    "update_ipv4_single.bin": "UPDATE from the site: ORIGIN IGP, AS_PATH "
    "[65010], NEXT_HOP 192.0.2.2, NLRI 10.1.0.0/16.",
    "update_mp_reach_ipv6.bin": "UPDATE from the hub: MP_REACH_NLRI (first attribute, extended-length flag) "
    "AFI 2 SAFI 1, 32-byte next hop fd00:2::1 + fe80::ff:fe00:1, NLRI fd51::/48 fd52::/48; "
    "ORIGIN IGP, AS_PATH [65515].",
    "update_mp_reach_ipv6_site.bin": "UPDATE from the site: MP_REACH_NLRI IPv6, "
    "next hop fd00:2::2 + fe80::ff:fe00:2, NLRI fd01::/48; AS_PATH [65010].",
    "eor_ipv4.bin": "End-of-RIB IPv4 unicast: empty UPDATE (23 bytes).",
    "eor_ipv6.bin": "End-of-RIB IPv6 unicast: UPDATE with only an MP_UNREACH_NLRI "
    "(flags 0x80, length 3) holding AFI 2 SAFI 1 and no prefixes.",
    "update_withdraw_ipv4.bin": "UPDATE from the hub withdrawing 10.52.0.0/16 and "
    "10.53.0.0/16 (withdrawn routes field, no attributes), after a reconfigure "
    "removed them.",
    "update_mp_unreach_ipv6.bin": "UPDATE from the hub: MP_UNREACH_NLRI IPv6 "
    "(extended-length flag) withdrawing fd52::/48.",
    "route_refresh_ipv4.bin": "ROUTE-REFRESH from the site (`birdc reload in hub`), "
    "AFI 1 SAFI 1, subtype 0 (normal request).",
    "route_refresh_ipv6.bin": "ROUTE-REFRESH from the site, AFI 2 SAFI 1, subtype 0.",
    "route_refresh_borr_ipv4.bin": "Enhanced ROUTE-REFRESH (RFC 7313) from the hub: "
    "Beginning of Route Refresh (subtype 1), IPv4 unicast.",
    "route_refresh_eorr_ipv4.bin": "Enhanced ROUTE-REFRESH from the hub: End of "
    "Route Refresh (subtype 2), IPv4 unicast.",
    "route_refresh_borr_ipv6.bin": "BoRR (subtype 1), IPv6 unicast.",
    "route_refresh_eorr_ipv6.bin": "EoRR (subtype 2), IPv6 unicast.",
    "notification_cease_admin_shutdown.bin": "NOTIFICATION from the site (`birdc "
    "disable hub`): Cease (6), Administrative Shutdown (2), no data.",
    "notification_cease_admin_shutdown_msg.bin": "NOTIFICATION from the site "
    "(`birdc disable hub \"maintenance window\"`): Cease/Administrative Shutdown "
    "with an RFC 8203 shutdown communication (length byte + UTF-8 text).",
}


def run(argv, timeout=30, check=True):
    p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise RuntimeError(f"{argv} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
    return p.stdout


def wait_until(what, timeout, f):
    deadline = time.monotonic() + timeout
    while True:
        v = f()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise RuntimeError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


class Lab:
    """Namespaces and processes, all torn down by close()."""

    def __init__(self, dirpath):
        self.dir = dirpath
        self.procs = []  # (name, Popen)
        tag = os.getpid()
        self.hub_ns, self.site_ns = f"bcap_hub-{tag}", f"bcap_site-{tag}"
        self.namespaces = []

    def setup(self):
        for ns in (self.hub_ns, self.site_ns):
            run(["ip", "netns", "add", ns])
            self.namespaces.append(ns)
            run(["ip", "-n", ns, "link", "set", "lo", "up"])
        run(["ip", "-n", self.hub_ns, "link", "add", "ul0", "address", HUB_MAC, "type", "veth",
             "peer", "name", "ul0", "address", SITE_MAC, "netns", self.site_ns])
        for ns, a4, a6 in ((self.hub_ns, HUB, HUB6), (self.site_ns, SITE, SITE6)):
            run(["ip", "-n", ns, "addr", "add", f"{a4}/24", "dev", "ul0"])
            run(["ip", "-n", ns, "-6", "addr", "add", f"{a6}/64", "dev", "ul0", "nodad"])
            run(["ip", "-n", ns, "link", "set", "ul0", "up"])
        for ns in (self.hub_ns, self.site_ns):
            # The link-local address (next hop of the IPv6 routes) must be
            # usable before BIRD starts.
            wait_until(f"link-local on ul0 in {ns}", 10, lambda ns=ns: "fe80::" in run(
                ["ip", "-n", ns, "-6", "addr", "show", "dev", "ul0", "scope", "link"])
                and "tentative" not in run(["ip", "-n", ns, "-6", "addr", "show", "dev", "ul0"]))

    def spawn(self, name, ns, argv):
        log = open(os.path.join(self.dir, f"{name}.stdout.log"), "w")
        p = subprocess.Popen(["ip", "netns", "exec", ns] + argv, stdout=log,
                             stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.procs.append((name, p))
        return p

    def stop(self, p, timeout=5):
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)

    def close(self):
        for _, p in reversed(self.procs):
            try:
                self.stop(p)
            except Exception as e:  # keep tearing down
                print(f"stopping pid {p.pid}: {e}", file=sys.stderr)
        for ns in self.namespaces:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=30)


class Bird:
    def __init__(self, lab, name, ns, conf_template, **fmt):
        self.lab, self.name, self.ns = lab, name, ns
        self.conf = os.path.join(lab.dir, f"{name}.conf")
        self.ctl = os.path.join(lab.dir, f"{name}.ctl")
        self.template, self.fmt = conf_template, fmt
        self.write_conf(**fmt)
        run(["bird", "-p", "-c", self.conf])  # parse check, clear error message
        self.proc = lab.spawn(name, ns, ["bird", "-f", "-c", self.conf, "-s", self.ctl,
                                         "-P", os.path.join(lab.dir, f"{name}.pid")])
        wait_until(f"{name} control socket", 20,
                   lambda: self.alive() and "Daemon is up" in self.birdc("show", "status",
                                                                          check=False))

    def write_conf(self, **fmt):
        self.fmt.update(fmt)
        with open(self.conf, "w") as f:
            f.write(self.template.format(dir=self.lab.dir, **self.fmt))

    def alive(self):
        if self.proc.poll() is not None:
            raise RuntimeError(f"bird {self.name} exited ({self.proc.returncode})")
        return True

    def birdc(self, *args, check=True):
        return run(["birdc", "-s", self.ctl] + list(args), check=check)

    def established(self, proto):
        return "Established" in self.birdc("show", "protocols", proto)

    def down(self, proto):
        return not self.established(proto)

    def count(self, proto):
        total = 0
        for line in self.birdc("show", "route", "count", "protocol", proto).splitlines():
            if " routes for " in line and not line.startswith("Total"):
                total += int(line.split()[0])
        return total


def scenario(lab, pcap):
    tcpdump = lab.spawn("tcpdump", lab.site_ns, ["tcpdump", "-i", "ul0", "-w", pcap, "-U",
                                                 "--immediate-mode", "-s", "0", "-n", "-Z",
                                                 "root", "tcp", "port", "179"])
    wait_until("tcpdump listening", 10, lambda: "listening on" in open(
        os.path.join(lab.dir, "tcpdump.stdout.log")).read())
    site = Bird(lab, "site", lab.site_ns, SITE_CONF)
    hub = Bird(lab, "hub", lab.hub_ns, HUB_CONF, extra6="  route fd52::/48 blackhole;\n")

    # 1. Session, initial UPDATEs, End-of-RIB.
    wait_until("session", 30, lambda: site.established("hub") and hub.established("site"))
    wait_until("hub's 5 routes at the site", 30, lambda: site.count("hub") == 5)
    wait_until("site's 2 routes at the hub", 30, lambda: hub.count("site") == 2)

    # 2. Withdrawals: drop 10.52/16, 10.53/16 and fd52::/48 at the hub.
    hub.template = hub.template.replace("  route 10.52.0.0/16 blackhole;\n", "").replace(
        "  route 10.53.0.0/16 blackhole;\n", "")
    hub.write_conf(extra6="")
    out = hub.birdc("configure")
    if "Reconfigured" not in out:
        raise RuntimeError(f"configure: {out}")
    wait_until("withdrawals at the site", 30, lambda: site.count("hub") == 2)

    # 3. ROUTE-REFRESH from the site; the hub answers with BoRR ... EoRR.
    site.birdc("reload", "in", "hub")
    wait_until("EoRR for both families at the site", 30,
               lambda: open(os.path.join(lab.dir, "site.log")).read().count("Got END-OF-RR") >= 2)

    # 4. Cease / Administrative Shutdown, then again with a shutdown message.
    site.birdc("disable", "hub")
    wait_until("hub to see the Cease", 30, lambda: hub.down("site"))
    site.birdc("enable", "hub")
    wait_until("session again", 30, lambda: site.established("hub") and hub.established("site"))
    site.birdc("disable", "hub", '"maintenance window"')
    wait_until("hub to see the second Cease", 30, lambda: hub.down("site"))
    wait_until("hub to log the shutdown message", 30,
               lambda: "maintenance window" in open(os.path.join(lab.dir, "hub.log")).read())
    lab.stop(tcpdump)
    for b in (hub, site):
        lab.stop(b.proc)


def tcp_streams(pcap):
    """{(src, sport, dst, dport): [(time, bytes)]}: each direction's payload,
    reassembled by sequence number (retransmissions dropped)."""
    from scapy.all import IP, TCP, rdpcap  # noqa: imported late: slow

    segs = {}
    for pkt in rdpcap(pcap):
        if IP not in pkt or TCP not in pkt:
            continue
        ip, tcp = pkt[IP], pkt[TCP]
        payload = bytes(tcp.payload)
        # Trailing Ethernet padding is not TCP payload.
        payload = payload[:max(0, ip.len - ip.ihl * 4 - tcp.dataofs * 4)]
        if payload:
            key = (ip.src, tcp.sport, ip.dst, tcp.dport)
            segs.setdefault(key, {}).setdefault(tcp.seq, (float(pkt.time), payload))
    streams = {}
    for key, by_seq in segs.items():
        data, times, expect = b"", [], None
        for seq in sorted(by_seq):
            t, payload = by_seq[seq]
            if expect is not None and seq != expect:
                raise RuntimeError(f"gap or overlap in {key} at seq {seq} (expected {expect})")
            data += payload
            times.append((len(data), t))
            expect = seq + len(payload)
        streams[key] = (data, times)
    return streams


def split(data):
    msgs, off = [], 0
    while off < len(data):
        if data[off:off + 16] != MARKER:
            raise RuntimeError(f"no BGP marker at offset {off}")
        (length,) = struct.unpack("!H", data[off + 16:off + 18])
        if length < 19 or off + length > len(data):
            raise RuntimeError(f"bad BGP length {length} at offset {off}")
        msgs.append((off, data[off:off + length]))
        off += length
    return msgs


def path_attrs(body):
    """[(type, value)] of an UPDATE body's path attributes."""
    (wlen,) = struct.unpack("!H", body[0:2])
    (alen,) = struct.unpack("!H", body[2 + wlen:4 + wlen])
    attrs, a, end = [], 4 + wlen, 4 + wlen + alen
    while a < end:
        flags, typ = body[a], body[a + 1]
        if flags & 0x10:
            (ln,) = struct.unpack("!H", body[a + 2:a + 4])
            hdr = 4
        else:
            ln, hdr = body[a + 2], 3
        attrs.append((typ, body[a + hdr:a + hdr + ln]))
        a += hdr + ln
    return wlen, attrs, body[end:]


def classify(msg, from_hub):
    typ, body = msg[18], msg[19:]
    side = "hub" if from_hub else "site"
    if typ == 1:
        return f"open_{side}.bin"
    if typ == 4:
        return "keepalive.bin"
    if typ == 3:
        if body[0:2] == b"\x06\x02":
            return ("notification_cease_admin_shutdown_msg.bin" if len(body) > 2
                    else "notification_cease_admin_shutdown.bin")
        return f"notification_{body[0]}_{body[1]}.bin"
    if typ == 5:
        afi, sub, safi = struct.unpack("!HBB", body)
        af = {1: "ipv4", 2: "ipv6"}.get(afi, f"afi{afi}")
        kind = {0: "", 1: "borr_", 2: "eorr_"}.get(sub, f"sub{sub}_")
        return f"route_refresh_{kind}{af}.bin"
    if typ == 2:
        wlen, attrs, nlri = path_attrs(body)
        types = [t for t, _ in attrs]
        if len(msg) == 23:
            return "eor_ipv4.bin"
        if types == [15] and len(attrs[0][1]) == 3:
            return "eor_ipv6.bin"
        if wlen:
            return "update_withdraw_ipv4.bin"
        if 15 in types:
            return "update_mp_unreach_ipv6.bin"
        if 14 in types:
            return "update_mp_reach_ipv6.bin" if from_hub else "update_mp_reach_ipv6_site.bin"
        if nlri:
            return "update_ipv4_prepend.bin" if from_hub else "update_ipv4_single.bin"
    return f"other_type{typ}.bin"


def tshark_counts(pcap):
    out = run(["tshark", "-r", pcap, "-o", "tcp.desegment_tcp_streams:TRUE", "-Y", "bgp",
               "-T", "fields", "-e", "bgp.type"], timeout=120)
    c = Counter()
    for line in out.split():
        for t in line.split(","):
            c[int(t)] += 1
    return c


def bird_version():
    p = subprocess.run(["bird", "--version"], capture_output=True, text=True, timeout=10)
    return (p.stdout + p.stderr).strip()


def write_readme(out, version, sizes):
    hub_conf = HUB_CONF.format(dir="<scratch>", extra6="  route fd52::/48 blackhole;\n")
    site_conf = SITE_CONF.format(dir="<scratch>")
    lines = [
        "# Real BIRD 2 BGP messages",
        "",
        "Generated by `tests/oracle/capture_bird.py` (run it as root to regenerate;",
        "the `*.bin` files come out byte-identical on every run, `session.pcap` differs",
        "in timestamps and TCP sequence numbers). Do not edit by hand.",
        "",
        f"* BIRD: `{version}` (Debian 12 package `bird2`).",
        "* Two namespaces joined by a veth with fixed MACs (hub 02:00:00:00:00:01,",
        "  site 02:00:00:00:00:02): **hub** AS 65515 (Azure's), router id 192.0.2.1,",
        "  192.0.2.1 / fd00:2::1, active; **site** AS 65010, router id 192.0.2.2,",
        "  192.0.2.2 / fd00:2::2, passive. IPv4 and IPv6 unicast over one IPv4 TCP session.",
        "* tcpdump on the site's veth (`tcp port 179`) wrote `session.pcap`; scapy",
        "  reassembled each direction of each TCP connection and split it on the BGP",
        "  header. tshark's count of messages per type matched the split.",
        "* Scenario: both start (OPEN, KEEPALIVE, UPDATEs, End-of-RIB per family);",
        "  `birdc configure` on the hub after removing 10.52.0.0/16, 10.53.0.0/16 and",
        "  fd52::/48 (withdrawals); `birdc reload in hub` on the site (ROUTE-REFRESH, and",
        "  the hub's enhanced refresh BoRR/EoRR around its re-sent UPDATEs);",
        "  `birdc disable hub` (Cease), `enable`, then",
        "  `birdc disable hub \"maintenance window\"` (Cease with a shutdown message).",
        "* Each `*.bin` is one complete BGP message: 16-byte marker, length, type, body.",
        "  The first message of each kind in the capture was kept.",
        "",
        "| file | bytes | content |",
        "|---|---|---|",
    ]
    for name, desc in FIXTURES.items():
        lines.append(f"| `{name}` | {sizes[name]} | {desc} |")
    lines += [
        "",
        "Also here: `session.pcap` (the whole capture), `hub.conf` and `site.conf`",
        "(the configs, with the log path replaced by `<scratch>`).",
        "",
        "Quirks seen: BIRD 2.0.12 always announces enhanced route refresh and long-lived",
        "GR (aware); it has no `enable enhanced route refresh` option. The hub's ADD-PATH",
        "capability is receive-only, so ADD-PATH is not negotiated and every NLRI is",
        "plain. End-of-RIB comes for both families (both sides announced graceful",
        "restart). After `reload in`, the answer is BoRR, the full table as UPDATEs,",
        "then EoRR, per family (here the IPv6 round came ~3 s after the IPv4 one).",
        "BIRD puts MP_REACH_NLRI first among the attributes and sets the extended-length",
        "flag on MP_REACH/MP_UNREACH with prefixes (not on the IPv6 End-of-RIB).",
        "The shutdown communication is `disable <proto> \"text\"` in birdc.",
        "",
    ]
    with open(os.path.join(out, "README.md"), "w") as f:
        f.write("\n".join(lines))
    with open(os.path.join(out, "hub.conf"), "w") as f:
        f.write(hub_conf)
    with open(os.path.join(out, "site.conf"), "w") as f:
        f.write(site_conf)


def main():
    if os.geteuid() != 0:
        sys.exit("run as root (creates network namespaces)")
    for tool in ("bird", "birdc", "tcpdump", "tshark", "ip"):
        if not shutil.which(tool):
            sys.exit(f"{tool} not found (scripts/deps.sh installs it)")
    out = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else DEFAULT_OUT)
    os.makedirs(out, exist_ok=True)
    scratch = tempfile.mkdtemp(prefix="capture_bird-")
    pcap = os.path.join(scratch, "session.pcap")
    lab = Lab(scratch)
    ok = False
    try:
        lab.setup()
        scenario(lab, pcap)
        ok = True
    finally:
        lab.close()
        if not ok:
            print(f"failed; logs kept in {scratch}", file=sys.stderr)

    streams = tcp_streams(pcap)
    msgs = []  # (time, from_hub, msg)
    for (src, _sport, _dst, _dport), (data, times) in streams.items():
        for off, m in split(data):
            t = next(t for end, t in times if end > off)
            msgs.append((t, src == HUB, m))
    msgs.sort(key=lambda x: x[0])
    ours = Counter(m[18] for _, _, m in msgs)
    theirs = tshark_counts(pcap)
    if ours != theirs:
        raise SystemExit(f"split {dict(ours)} != tshark {dict(theirs)}")

    found = {}
    for _, from_hub, m in msgs:
        found.setdefault(classify(m, from_hub), m)
    missing = [n for n in FIXTURES if n not in found]
    extra = [n for n in found if n not in FIXTURES]
    if missing or extra:
        raise SystemExit(f"missing {missing}, unexpected {extra}; logs in {scratch}")
    for old in os.listdir(out):
        if old.endswith(".bin"):
            os.remove(os.path.join(out, old))
    sizes = {}
    for name in FIXTURES:
        with open(os.path.join(out, name), "wb") as f:
            f.write(found[name])
        sizes[name] = len(found[name])
    shutil.copy(pcap, os.path.join(out, "session.pcap"))
    write_readme(out, bird_version(), sizes)
    print(f"{len(msgs)} messages ({', '.join(f'{TYPES[t]} {n}' for t, n in sorted(ours.items()))})"
          f"; wrote {len(FIXTURES)} fixtures to {out}")
    shutil.rmtree(scratch)


if __name__ == "__main__":
    main()
