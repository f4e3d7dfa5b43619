//! The two-instance hub bed against the current vwand: it comes up (two
//! IKE SAs, two BGP sessions, the VNet prefix learned from both), carries
//! a numbered stream without loss, shows a link failure as a gap in that
//! stream, and each event method does what it says.
//! (The topology is drawn in `netns::dual_hub`.)
//!
//! Run (as root, after `cargo build -p vwand`):
//! `cargo test -p vwand-tests --test dual_hub_selftest -- --test-threads=1 --nocapture`

use netns::dual_hub::{
    DualHubBed, DualHubOptions, ReturnPath, BGP_ONPREM, HUB_UNDERLAY, HUB_VNET, ONPREM, TUNNELS,
    VNET_HOST, VNET_PREFIX,
};
use netns::seqstream::{summary, SeqStream, SeqStreamOptions, StreamReport};
use netns::{ping, ping_all, wait_ping, wait_until, Netns};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// One bed at a time: each runs two charons, two BIRDs and vwand on 2 cores.
static ONE_BED: Mutex<()> = Mutex::new(());

const READY: Duration = Duration::from_secs(60);
/// Long enough for vwand to notice the dead instance and for hub
/// re-establishment.
const RECOVER: Duration = Duration::from_secs(40);

fn start_bed(o: DualHubOptions) -> DualHubBed {
    let t = Instant::now();
    let bed = DualHubBed::start(o);
    let spawned = t.elapsed();
    let waited = bed.wait_ready(READY);
    eprintln!(
        "bed up in {:?} (namespaces and daemons {spawned:?}, then IKE + BGP + ping {waited:?})",
        t.elapsed()
    );
    bed
}

fn stream(bed: &DualHubBed, secs: u32) -> SeqStream {
    let mut o = SeqStreamOptions::new(BGP_ONPREM, VNET_HOST);
    o.secs = secs;
    o.pps = 1000;
    SeqStream::start(&bed.vnet, bed.edge(), &o, bed.scratch.path())
}

fn delta(after: [u64; 2], before: [u64; 2]) -> [u64; 2] {
    [0, 1].map(|i| after[i].saturating_sub(before[i]))
}

/// How many of `count` pings (every 50 ms) `dst` answered.
fn pings_answered(ns: &Netns, dst: &str, count: u32) -> u32 {
    let c = count.to_string();
    let out = ns.exec(&[
        "ping", "-4", "-n", "-q", "-c", &c, "-i", "0.05", "-W", "1", dst,
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    text.split(',')
        .find_map(|part| part.trim().strip_suffix(" received"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no received count in ping's output:\n{text}"))
}

fn wait_reestablished(bed: &DualHubBed, i: usize, count_before: u64) {
    let name = TUNNELS[i];
    wait_until(
        &format!("vwand's {name} IKE SA established anew"),
        RECOVER,
        || bed.ike_established_count(name) > count_before && bed.ike_state(name) == "established",
    );
    bed.hubs[i].strongswan.wait_established(RECOVER);
    bed.hubs[i].bird.wait_established("vwand", RECOVER);
    wait_until(
        &format!("vwand's {name} session Established"),
        RECOVER,
        || bed.bgp_state(name) == "Established",
    );
}

#[test]
fn comes_up_streams_cleanly_and_shows_an_outage_as_a_gap() {
    let _one = ONE_BED.lock().unwrap_or_else(|p| p.into_inner());
    let bed = start_bed(DualHubOptions::default());

    // Both sessions taught vwand the VNet, and both hubs learned ours.
    for (i, name) in TUNNELS.iter().enumerate() {
        assert!(
            bed.learned(name).iter().any(|p| p == VNET_PREFIX),
            "{name}: {}",
            bed.tunnel_status(name)
        );
        let bird = &bed.hubs[i].bird;
        bird.wait_routes("vwand", "our two prefixes", Duration::from_secs(10), |r| {
            ["172.24.0.0/17", "172.24.128.0/17"]
                .iter()
                .all(|p| r.iter().any(|r| r.prefix == *p && r.as_path == [65010]))
        });
    }
    let routes = bed.edge().ip(&["-4", "route", "show", VNET_PREFIX]);
    assert!(routes.contains("dev vw0"), "{routes}");
    let back = bed.vnet.ip(&["-4", "route", "show", ONPREM]);
    for hub in HUB_VNET {
        assert!(back.contains(&format!("nexthop via {hub} ")), "{back}");
    }
    assert!(bed.ping_vnet(3), "ping edge -> {VNET_HOST}");

    // A clean 5 s stream: nothing lost, duplicated or reordered.
    let before = bed.outbound_both();
    let r = stream(&bed, 5).finish();
    eprintln!("clean stream: {}", summary(&r));
    assert_clean(&r, 5000);
    let moved = delta(bed.outbound_both(), before);
    eprintln!(
        "outbound packets during it: hub0 {}, hub1 {}",
        moved[0], moved[1]
    );
    let carrier = usize::from(moved[1] > moved[0]);
    assert!(
        moved[carrier] >= 5000,
        "the stream went out through vwand: {moved:?}"
    );

    // Four flows: four source ports, each its own clean sequence.
    let mut o = SeqStreamOptions::new(BGP_ONPREM, VNET_HOST);
    (o.secs, o.flows) = (2, 4);
    let r = SeqStream::start(&bed.vnet, bed.edge(), &o, bed.scratch.path()).finish();
    eprintln!("four flows: {}", summary(&r));
    assert_clean(&r, 2000);
    let mut ports: Vec<_> = r.flows.iter().map(|f| (f.received, f.sport)).collect();
    ports.sort_unstable();
    ports.dedup_by_key(|(_, p)| *p);
    assert_eq!(ports.len(), 4, "{ports:?}");
    assert!(ports.iter().all(|&(n, _)| n == 500), "{ports:?}");

    // Both instances go silent during a 10 s stream (no tunnel to fail
    // over to): the tool must show the outage as a gap with losses. vwand
    // marks both tunnels suspect within a second; then the underlay heals.
    let mut s = stream(&bed, 10);
    // Its flow (a new source port) may hash to either tunnel.
    let at_start: u64 = bed.outbound_both().iter().sum();
    wait_until("the stream flows", Duration::from_secs(10), || {
        bed.outbound_both().iter().sum::<u64>() >= at_start + 500
    });
    bed.blackhole(0);
    bed.blackhole(1);
    wait_until(
        "vwand marks both tunnels suspect",
        Duration::from_secs(5),
        || {
            let st = bed.vwand.status();
            TUNNELS
                .iter()
                .all(|n| st["tunnels"][n]["health"] == "suspect")
        },
    );
    bed.unblackhole(0);
    bed.unblackhole(1);
    assert!(s.sending(), "the outage ended within the stream");
    let r = s.finish();
    eprintln!("outage stream: {}", summary(&r));
    eprintln!(
        "measured interruption: max gap {:.0} ms, {} datagrams lost = {:.0} ms of traffic",
        r.max_gap_ms(),
        r.total.lost_all(),
        r.loss_time_ms()
    );
    assert!(
        r.max_gap_ms() > 500.0 && r.total.lost_all() > 0,
        "an outage must show as a gap with losses: {r:?}"
    );
    assert_eq!(r.total.sent, Some(10_000), "{r:?}");

    // The carrying tunnel's link goes down and comes back: so does that
    // instance's tunnel.
    let count_before = bed.ike_established_count(TUNNELS[carrier]);
    bed.edge_link_down(carrier);
    wait_until(
        "the link's tunnel gives up its flows",
        Duration::from_secs(5),
        || bed.tunnel_status(TUNNELS[carrier])["health"] != "up",
    );
    // The link comes back, and so does that instance's tunnel (the same
    // IKE SA, after a liveness check, or a new one).
    bed.edge_link_up(carrier);
    wait_until("the tunnel carries flows again", RECOVER, || {
        bed.tunnel_status(TUNNELS[carrier])["health"] == "up"
    });
    assert!(bed.ike_established_count(TUNNELS[carrier]) >= count_before);
    wait_ping(bed.edge(), HUB_UNDERLAY[carrier], Duration::from_secs(10));
    bed.wait_ready(READY);
}

fn assert_clean(r: &StreamReport, expect: u64) {
    let t = &r.total;
    assert_eq!(t.sent, Some(expect), "{r:?}");
    assert_eq!(
        (t.received, t.lost_all(), t.duplicates, t.reordered),
        (expect, 0, 0, 0),
        "{r:?}"
    );
    assert_eq!(r.malformed, 0);
}

#[test]
fn each_event_does_what_it_says() {
    let _one = ONE_BED.lock().unwrap_or_else(|p| p.into_inner());
    let mut bed = start_bed(DualHubOptions {
        return_path: ReturnPath::Hub0,
        ..DualHubOptions::default()
    });
    // The vnet host returns through hub0 alone (wait_ready's ping used it).
    let back = bed.vnet.ip(&["-4", "route", "show", ONPREM]);
    assert!(
        back.contains(&format!("via {}", HUB_VNET[0])) && !back.contains("nexthop"),
        "{back}"
    );
    let edge = bed.edge();

    // Blackhole: nothing crosses hub1's underlay, hub0's is untouched.
    bed.blackhole(1);
    assert!(!ping(edge, HUB_UNDERLAY[1], 2), "blackholed hub1 answered");
    assert!(
        ping_all(edge, HUB_UNDERLAY[0], 2),
        "hub0 must be unaffected"
    );
    bed.unblackhole(1);
    wait_ping(edge, HUB_UNDERLAY[1], Duration::from_secs(5));
    bed.unblackhole(1); // idempotent

    // 30 % loss each way: about half of 40 pings come back, never all.
    bed.lossy(1, 30);
    let answered = pings_answered(edge, HUB_UNDERLAY[1], 40);
    eprintln!("30 % loss each way: {answered} of 40 pings answered");
    assert!((1..40).contains(&answered), "{answered} of 40 answered");
    bed.unlossy(1);
    assert!(ping_all(edge, HUB_UNDERLAY[1], 5), "loss removed");

    // SIGKILL charon, start a fresh one: vwand notices and re-establishes.
    let count = bed.ike_established_count(TUNNELS[1]);
    let old_pid = bed.hubs[1].strongswan.pid();
    bed.kill_charon(1);
    assert!(!bed.hubs[1].strongswan.is_running());
    let t = Instant::now();
    bed.restart_charon(1);
    assert_ne!(bed.hubs[1].strongswan.pid(), old_pid);
    wait_reestablished(&bed, 1, count);
    eprintln!(
        "charon killed and restarted: hub1 back in {:?}",
        t.elapsed()
    );

    // A graceful DELETE from the hub: vwand initiates again at once.
    let count = bed.ike_established_count(TUNNELS[0]);
    let t = Instant::now();
    bed.terminate_ike(0);
    wait_reestablished(&bed, 0, count);
    eprintln!("IKE SA terminated by hub0: back in {:?}", t.elapsed());

    // SIGKILL BIRD: vwand's session drops; a fresh BIRD brings it back.
    bed.kill_bird(0);
    wait_until("vwand's hub0 session to leave Established", RECOVER, || {
        bed.bgp_state(TUNNELS[0]) != "Established"
    });
    let t = Instant::now();
    bed.restart_bird(0);
    bed.hubs[0].bird.wait_established("vwand", RECOVER);
    wait_until("vwand's hub0 session Established", RECOVER, || {
        bed.bgp_state(TUNNELS[0]) == "Established"
    });
    eprintln!(
        "BIRD killed and restarted: session back in {:?}",
        t.elapsed()
    );

    bed.wait_ready(READY);
}
