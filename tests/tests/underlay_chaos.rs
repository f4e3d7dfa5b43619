//! Chaos on the underlay while rekeys fall due (issue 12): on hub0's link,
//! nftables drops 5% of the packets both ways (`numgen random`) and
//! duplicates 5% of those towards vwand (`dup`), HTB/u32 reorders them
//! (this kernel has no netem), and for 10 s in the middle nothing passes
//! at all. vwand rekeys its Child SAs every 12 s and its IKE SA every
//! 25 s. The SAs must survive or come back, the rekeys complete,
//! anti-replay accept the reordering and refuse the duplicates, and
//! traffic flow afterwards with no restart.
//!
//! ```text
//!  edge: vwand ── ul0 ══ 5% loss, 5% dup, reorder, 10 s blackout ══ ul0 hub0 ── vnet
//!              └─ ul1 ══ clean ═════════════════════════════════════ ul0 hub1 ──┘
//! ```
//! The VNet host's traffic to on-premises returns over hub0 only, so
//! everything vwand receives on hub0's SAs has crossed the chaos.

use netns::dual_hub::{
    DualHubBed, DualHubOptions, ReturnPath, BGP_ONPREM, EDGE_UNDERLAY, HUB_LINK, TUNNELS, VNET_HOST,
};
use netns::seqstream::{summary, SeqStream, SeqStreamOptions};
use netns::{poll_until, ChildGuard};
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const CHAOS_SECS: u64 = 60;
const BLACKOUT_AT: Duration = Duration::from_secs(25);
const BLACKOUT: Duration = Duration::from_secs(10);

/// nftables table that duplicates packets towards vwand.
const DUP_TABLE: &str = "vwbed_dup";

fn bed() -> DualHubBed {
    let o = DualHubOptions {
        return_path: ReturnPath::Hub0,
        ..DualHubOptions::default()
    }
    .each_ike("child_rekey_seconds = 12")
    .each_ike("ike_rekey_seconds = 25");
    let bed = DualHubBed::start(o);
    bed.wait_ready(Duration::from_secs(60));
    bed
}

/// Duplicates `percent` % of what hub0 sends to vwand (nftables `dup` in
/// the hub's postrouting; the copy leaves by the same link).
fn duplicate(bed: &DualHubBed, percent: u32) {
    let script = format!(
        "table ip {DUP_TABLE} {{\n  chain post {{ type filter hook postrouting priority 0; \
         policy accept;\n    oifname \"{HUB_LINK}\" ip daddr {edge} numgen random mod 100 < {percent} \
         dup to {edge} device \"{HUB_LINK}\"\n  }}\n}}\n",
        edge = EDGE_UNDERLAY[0]
    );
    let path = bed.scratch.join("dup.nft");
    std::fs::write(&path, script).expect("write dup.nft");
    bed.hubs[0]
        .ns
        .run_ok(&["nft", "-f", path.to_str().expect("UTF-8 scratch path")]);
}

/// Reorders ESP-in-UDP from hub0 to vwand: packets whose ESP sequence
/// number is odd (byte 35 of the IPv4 packet: 20 IP + 8 UDP + 4 SPI + the
/// low byte of the sequence number) queue in a 400 kbit/s HTB class, the
/// others pass at line rate and overtake them.
fn reorder(bed: &DualHubBed, on: bool) {
    let ns = &bed.hubs[0].ns;
    if !on {
        ns.run_ok(&["tc", "qdisc", "del", "dev", HUB_LINK, "root"]);
        return;
    }
    for cmd in [
        "qdisc add dev DEV root handle 1: htb default 10",
        "class add dev DEV parent 1: classid 1:10 htb rate 10gbit",
        "class add dev DEV parent 1: classid 1:20 htb rate 400kbit ceil 400kbit burst 1600 cburst 1600",
        "filter add dev DEV parent 1: protocol ip u32 match ip protocol 17 0xff \
         match ip sport 4500 0xffff match u8 0x01 0x01 at 35 flowid 1:20",
    ] {
        let mut argv = vec!["tc"];
        argv.extend(cmd.split_whitespace().map(|w| if w == "DEV" { HUB_LINK } else { w }));
        ns.run_ok(&argv);
    }
}

/// Bursts of 64 datagrams every 250 ms from the VNet host to on-premises
/// for `secs` s: deep enough for the shaper to reorder (a steady stream
/// below its rate never queues), short enough to drain between bursts.
fn bursts(bed: &DualHubBed, secs: u64) -> ChildGuard {
    let code = format!(
        "import socket, time\n\
         s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n\
         s.bind(('{VNET_HOST}', 0))\n\
         end = time.time() + {secs}\n\
         while time.time() < end:\n\
         \x20   for i in range(64):\n\
         \x20       try: s.sendto(i.to_bytes(2, 'big') * 32, ('{BGP_ONPREM}', 9))\n\
         \x20       except OSError: pass\n\
         \x20   time.sleep(0.25)\n"
    );
    bed.vnet
        .spawn("python3", &["-c", &code], bed.scratch.join("bursts.log"))
}

/// What hub0's inbound SAs counted, each sampled until it was replaced
/// (status shows the current SA's counters only).
#[derive(Default, Debug)]
struct Inbound {
    by_spi: BTreeMap<String, [u64; 3]>,
}

impl Inbound {
    fn sample(&mut self, tunnel: &Value) {
        let i = &tunnel["inbound"];
        let Some(spi) = i["spi"].as_str().filter(|s| !s.is_empty()) else {
            return;
        };
        let now = ["packets", "replay", "too_old"].map(|k| i[k].as_u64().unwrap_or(0));
        let e = self.by_spi.entry(spi.to_string()).or_default();
        for (seen, n) in e.iter_mut().zip(now) {
            *seen = (*seen).max(n);
        }
    }

    fn total(&self, k: usize) -> u64 {
        self.by_spi.values().map(|v| v[k]).sum()
    }
}

fn ike(s: &Value, k: &str) -> u64 {
    s["tunnels"][TUNNELS[0]]["ike"][k].as_u64().unwrap_or(0)
}

#[test]
fn loss_duplication_reordering_and_a_blackout_during_rekeys() {
    let bed = bed();
    let s0 = bed.vwand.status();
    let pid = bed.vwand.daemon.pid();
    bed.lossy(0, 5);
    duplicate(&bed, 5);
    reorder(&bed, true);

    let mut o = SeqStreamOptions::new(VNET_HOST, BGP_ONPREM);
    o.pps = 200;
    o.flows = 4;
    o.secs = CHAOS_SECS as u32;
    let mut stream = SeqStream::start(bed.edge(), &bed.vnet, &o, bed.scratch.path());
    let mut burst = bursts(&bed, CHAOS_SECS);

    let mut inbound = Inbound::default();
    let start = Instant::now();
    let mut blackout: Option<Instant> = None;
    let mut unblacked: Option<Instant> = None;
    // From the end of the blackout until hub0's IKE SA and BGP session are
    // up again (the loss, duplication and reordering still on).
    let mut recovered: Option<Duration> = None;
    let mut states = BTreeMap::<String, u32>::new();
    while stream.sending() {
        let s = bed.vwand.status();
        let t = &s["tunnels"][TUNNELS[0]];
        inbound.sample(t);
        *states
            .entry(format!("{}/{}", t["ike"]["state"], t["bgp"]["state"]))
            .or_default() += 1;
        if blackout.is_none() && start.elapsed() >= BLACKOUT_AT {
            bed.blackhole(0);
            blackout = Some(Instant::now());
        }
        if let (Some(u), None) = (unblacked, recovered) {
            if t["ike"]["state"] == "established" && t["bgp"]["state"] == "Established" {
                recovered = Some(u.elapsed());
            }
        }
        if let (Some(b), None) = (blackout, unblacked) {
            if b.elapsed() >= BLACKOUT {
                bed.unblackhole(0);
                unblacked = Some(Instant::now());
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let chaos = stream.finish();
    burst.wait_timeout(Duration::from_secs(10));
    assert!(
        unblacked.is_some(),
        "the blackout ended while the stream ran"
    );
    bed.unlossy(0);
    duplicate(&bed, 0);
    reorder(&bed, false);

    // Back without a restart: hub0's IKE SA, its BGP session, and hub0 on
    // the path again.
    let back = poll_until(Duration::from_secs(60), || {
        let s = bed.vwand.status();
        inbound.sample(&s["tunnels"][TUNNELS[0]]);
        let t = &s["tunnels"][TUNNELS[0]];
        (t["ike"]["state"] == "established"
            && t["bgp"]["state"] == "Established"
            && t["health"] == "up")
            .then_some(())
    });
    assert!(
        back.is_some(),
        "hub0 did not come back within 60 s of the chaos; status {:#}",
        bed.vwand.status()
    );
    let s1 = bed.vwand.status();
    inbound.sample(&s1["tunnels"][TUNNELS[0]]);
    assert_eq!(bed.vwand.daemon.pid(), pid, "vwand was not restarted");

    // A clean stream afterwards: nothing lost.
    let mut o = SeqStreamOptions::new(VNET_HOST, BGP_ONPREM);
    o.pps = 500;
    o.secs = 4;
    let after = SeqStream::start(bed.edge(), &bed.vnet, &o, bed.scratch.path()).finish();
    assert!(bed.ping_vnet(3), "the edge reaches the VNet host");

    let hub_sas = bed.hubs[0].strongswan.sas();
    let child_sas = ike(&s1, "child_sas") - ike(&s0, "child_sas");
    let ike_rekeys = ike(&s1, "ike_rekeys") - ike(&s0, "ike_rekeys");
    let established = ike(&s1, "established_count") - ike(&s0, "established_count");
    println!(
        "chaos {CHAOS_SECS} s on hub0 (5% loss both ways, 5% duplicated, reordered, 10 s blackout at {} s): \
         Child SAs installed {child_sas}, IKE rekeys {ike_rekeys}, IKE SAs re-established {established}; \
         hub0's IKE SA and BGP session back {:.1} s after the blackout; inbound over {} SAs: {} accepted, {} replays refused, \
         {} too old; stream during the chaos {}; states seen {states:?}; after: {}; hub0's charon holds {} IKE SA(s)",
        BLACKOUT_AT.as_secs(),
        recovered.map_or(f64::NAN, |d| d.as_secs_f64()),
        inbound.by_spi.len(),
        inbound.total(0),
        inbound.total(1),
        inbound.total(2),
        summary(&chaos),
        summary(&after),
        hub_sas.len(),
    );
    assert!(
        recovered.is_some(),
        "hub0 did not come back while the loss, duplication and reordering went on"
    );
    // Rekeys completed under loss: a Child SA every 12 s for a minute,
    // the IKE SA's rekey at 25 s, unless the blackout took it first.
    assert!(child_sas >= 3, "only {child_sas} Child SAs installed");
    assert!(
        ike_rekeys + established >= 1,
        "neither an IKE rekey nor a new IKE SA"
    );
    // The receiver saw the underlay's work: reordered and duplicated
    // datagrams reached vwand, which passed the reordered ones and
    // refused the copies.
    assert!(
        chaos.total.reordered > 0,
        "nothing reordered: {}",
        summary(&chaos)
    );
    assert!(inbound.total(1) > 0, "no duplicate refused: {inbound:?}");
    assert_eq!(inbound.total(2), 0, "reordering refused as too old");
    assert_eq!(chaos.total.duplicates, 0, "a duplicate reached the host");
    // Afterwards: nothing lost, and one IKE SA on the hub (no leftovers).
    assert_eq!(after.total.lost_all(), 0, "{}", summary(&after));
    assert!(after.total.received >= 1900, "{}", summary(&after));
    assert_eq!(hub_sas.len(), 1, "hub0's SAs: {hub_sas:?}");
}
