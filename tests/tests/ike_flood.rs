//! An IKE_SA_INIT flood from many spoofed sources (issue 12): for 20 s,
//! `ikeflood` sends as fast as one thread can, from hub1's namespace to
//! vwand's UDP 500 on hub1's link; half of the requests claim hub1's own
//! address (a configured peer: they reach the half-open limit and the
//! cookies), half come from random addresses (unconfigured: counted and
//! dropped). Meanwhile a numbered stream crosses hub0's established
//! tunnel, and hub1 deletes its IKE SA so that vwand must set up a new one
//! through the flood.
//!
//! ```text
//!  edge: vwand ── ul0 ═════════════════════ hub0 ── vnet: stream to the edge
//!              └─ ul1 ═════ ikeflood ══════ hub1 (deletes its IKE SA)
//! ```

use netns::dual_hub::{
    DualHubBed, DualHubOptions, ReturnPath, BGP_ONPREM, EDGE_UNDERLAY, HUB_UNDERLAY, TUNNELS,
    VNET_HOST,
};
use netns::seqstream::{summary, SeqStream, SeqStreamOptions};
use netns::stats::{vm_hwm_kib, vm_rss_kib};
use netns::workspace_bin;
use serde_json::Value;
use std::time::{Duration, Instant};

const FLOOD_SECS: u64 = 20;

fn ike(s: &Value, k: &str) -> u64 {
    s["ike"][k].as_u64().unwrap_or(0)
}

/// Receive-buffer drops of vwand's UDP 500 sockets on `local`, from the
/// namespace's /proc/net/udp: (the shared socket's, the one connected to a
/// peer's port 500).
fn udp500_drops(bed: &DualHubBed, local: &str) -> (u64, u64) {
    let table = bed.edge().run_ok(&["cat", "/proc/net/udp"]);
    let ip: std::net::Ipv4Addr = local.parse().expect("IPv4");
    // Little-endian hex address, then the port: 0100A8C0:01F4.
    let want = format!("{:08X}:01F4", u32::from_le_bytes(ip.octets()));
    let (mut shared, mut connected) = (0, 0);
    for line in table.lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 13 || f[1] != want {
            continue;
        }
        let drops: u64 = f[12].parse().unwrap_or(0);
        if f[2].ends_with(":01F4") {
            connected += drops;
        } else {
            shared += drops;
        }
    }
    (shared, connected)
}

fn hub1(s: &Value, k: &str) -> u64 {
    s["tunnels"][TUNNELS[1]]["ike"][k].as_u64().unwrap_or(0)
}

#[test]
fn a_spoofed_ike_sa_init_flood_spares_the_tunnels_and_a_new_ike_sa() {
    let bed = DualHubBed::start(DualHubOptions {
        return_path: ReturnPath::Hub0,
        ..DualHubOptions::default()
    });
    bed.wait_ready(Duration::from_secs(60));
    let pid = bed.vwand.daemon.pid();
    let s0 = bed.vwand.status();
    let rss0 = vm_rss_kib(pid);

    let mut o = SeqStreamOptions::new(VNET_HOST, BGP_ONPREM);
    o.pps = 500;
    o.flows = 4;
    o.secs = FLOOD_SECS as u32 + 4;
    let stream = SeqStream::start(bed.edge(), &bed.vnet, &o, bed.scratch.path());
    let bin = workspace_bin("ikeflood");
    let secs = FLOOD_SECS.to_string();
    let args = [
        "--dst",
        EDGE_UNDERLAY[1],
        "--peer",
        HUB_UNDERLAY[1],
        "--peer-percent",
        "50",
        "--seconds",
        &secs,
    ];
    let log = bed.scratch.join("ikeflood.log");
    let mut flood = bed.hubs[1]
        .ns
        .spawn(bin.to_str().expect("UTF-8 path"), &args, &log);
    let flood_start = Instant::now();

    // 3 s into the flood, hub1 deletes its IKE SA: vwand starts a new one.
    let mut deleted: Option<Instant> = None;
    let mut new_sa: Option<Duration> = None;
    let (mut half_open, mut rss_peak) = (0u64, 0u64);
    let established0 = hub1(&s0, "established_count");
    while flood.is_running() {
        let s = bed.vwand.status();
        half_open = half_open.max(ike(&s, "half_open"));
        rss_peak = rss_peak.max(vm_rss_kib(pid));
        if deleted.is_none() && flood_start.elapsed() >= Duration::from_secs(3) {
            bed.terminate_ike(1);
            deleted = Some(Instant::now());
        }
        if let (Some(d), None) = (deleted, new_sa) {
            if hub1(&s, "established_count") > established0
                && s["tunnels"][TUNNELS[1]]["ike"]["state"] == "established"
            {
                new_sa = Some(d.elapsed());
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let flood_secs = flood_start.elapsed();
    let text = flood.log();
    let sent: Value = text
        .lines()
        .last()
        .and_then(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| panic!("ikeflood printed no result: {text}"));
    let r = stream.finish();
    let s1 = bed.vwand.status();
    let hwm = vm_hwm_kib(pid);
    let hub_sas = bed.hubs[1].strongswan.sas();
    let nstat = netns::netns_nstat(bed.edge());
    let (shared_drops, peer_drops) = udp500_drops(&bed, EDGE_UNDERLAY[1]);
    println!(
        "vwand's ike counters: {}; UDP 500 drops: shared socket {shared_drops}, hub1's own \
         {peer_drops}; edge UDP: {:?}",
        s1["ike"],
        ["UdpInDatagrams", "UdpRcvbufErrors", "UdpInErrors"].map(|k| nstat.get(k).copied())
    );
    println!(
        "IKE_SA_INIT flood {:.1} s: {sent}; vwand counted {} from unconfigured sources, \
         {} cookies sent, {} refused at the half-open cap, {} refused with a notify, \
         at most {half_open} half-open; \
         VmRSS {rss0} -> peak {rss_peak} KiB (VmHWM {hwm} KiB); new IKE SA with hub1 {:.2} s \
         after its DELETE; stream over hub0: {}",
        flood_secs.as_secs_f64(),
        ike(&s1, "unconfigured") - ike(&s0, "unconfigured"),
        ike(&s1, "cookies_sent") - ike(&s0, "cookies_sent"),
        ike(&s1, "half_open_refused") - ike(&s0, "half_open_refused"),
        ike(&s1, "refused") - ike(&s0, "refused"),
        new_sa.map_or(f64::NAN, |d| d.as_secs_f64()),
        summary(&r),
    );
    assert!(
        flood_secs >= Duration::from_secs(FLOOD_SECS),
        "the flood ran its time: {text}"
    );
    let pps = sent["pps"].as_f64().unwrap_or(0.0);
    assert!(pps > 20_000.0, "a flood: {sent}");
    // Both kinds of source were seen and handled.
    assert!(ike(&s1, "unconfigured") - ike(&s0, "unconfigured") > 10_000);
    assert!(ike(&s1, "cookies_sent") - ike(&s0, "cookies_sent") > 1_000);
    assert!(s1["ike"]["cookies_required"] == true || half_open <= 64);
    // Half-open state stays bounded (the default cap), and so does memory.
    assert!(half_open <= 64, "{half_open} half-open SAs");
    assert!(
        rss_peak < rss0 + 16 * 1024,
        "VmRSS {rss0} -> {rss_peak} KiB"
    );
    // The flood filled the shared socket, never the one hub1's port 500
    // reaches.
    assert!(shared_drops > 10_000, "{shared_drops}");
    assert_eq!(peer_drops, 0, "hub1's own UDP 500 socket dropped");
    // A legitimate new IKE SA completed during the flood...
    let new_sa = new_sa.expect("vwand's new IKE SA with hub1 during the flood");
    assert!(hub_sas.iter().any(|sa| sa.established), "{hub_sas:?}");
    // ... and the established tunnel lost nothing.
    assert_eq!(r.total.lost_all(), 0, "{}", summary(&r));
    assert!(new_sa < Duration::from_secs(FLOOD_SECS - 3));
    assert_eq!(bed.vwand.daemon.pid(), pid);
}
