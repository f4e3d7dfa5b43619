//! A garbage-ESP flood at the highest rate one sender thread gives
//! (`espflood`): unknown SPIs, the real SPI with wrong ICVs, truncated
//! packets and replays of a captured packet, from a third namespace, to
//! raw ESP and to UDP 4500, while a numbered stream and iperf3 cross the
//! tunnel. Every kind is counted, the log stays rate-limited, memory stays
//! flat, and the good traffic keeps flowing: its loss and throughput are
//! reported next to a run without the flood.
//!
//! ```text
//!  onprem: vwand A ══ ul0 ══ hub: vwand B ── att0 ══ attacker: espflood
//! ```

use netns::capture::Capture;
use netns::iperf::{iperf3_run, Iperf3Opts, Iperf3Server, IPERF3_PORT};
use netns::seqstream::{SeqStream, SeqStreamOptions};
use netns::stats::vm_rss_kib;
use netns::vwand::{TunnelSpec, VwandPair, A_INNER, A_OUTER, B_INNER, B_OUTER};
use netns::{ping, veth_pair, wait_until, workspace_bin, Netns};
use serde_json::Value;
use std::time::Duration;

/// The ESP bytes of the first packet from A in `pcap` (raw or in UDP).
fn first_esp(pcap: &std::path::Path) -> String {
    let code = format!(
        "from scapy.all import IP, UDP, rdpcap\n\
         for p in rdpcap('{}'):\n\
         \x20   if IP in p and p[IP].src == '{A_OUTER}':\n\
         \x20       ip = p[IP]\n\
         \x20       data = bytes(ip[UDP].payload) if UDP in ip else bytes(ip.payload)\n\
         \x20       if len(data) > 16:\n\
         \x20           print(data.hex()); break\n",
        pcap.display()
    );
    let out = std::process::Command::new("python3")
        .args(["-c", &code])
        .output()
        .expect("python3");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Loss (of the numbered stream) and throughput (iperf3 TCP) A -> B.
fn good_traffic(pair: &VwandPair, port: u16) -> (u64, u64, f64) {
    let mut o = SeqStreamOptions::new(A_INNER, B_INNER);
    o.port = port;
    o.pps = 2000;
    o.secs = 4;
    let s = SeqStream::start(&pair.b.ns, &pair.a.ns, &o, pair.scratch.path());
    let r = s.finish();
    let mut server = Iperf3Server::start(
        &pair.b.ns,
        B_INNER,
        IPERF3_PORT,
        pair.scratch.join(format!("iperf3-{port}.log")),
    );
    let rate = iperf3_run(&pair.a.ns, &Iperf3Opts::new(B_INNER, 3)).bits_per_second / 1e6;
    server.guard().terminate_and_wait(Duration::from_secs(5));
    (r.total.received, r.total.lost_all(), rate)
}

fn run(transport: &'static str) {
    let pair = VwandPair::start(TunnelSpec::new(transport, "aes256gcm16", true));
    let attacker = Netns::new("attacker");
    veth_pair(
        &pair.b.ns,
        "att0",
        "198.18.0.1/30",
        &attacker,
        "att0",
        "198.18.0.2/30",
    );
    attacker.add_route(&format!("{B_OUTER}/32"), "198.18.0.1");
    // A packet to replay, captured as it crosses.
    let cap = Capture::start(&pair.b.ns, "ul0", pair.scratch.join("replay.pcap"), &[]);
    assert!(ping(&pair.a.ns, B_INNER, 2), "the tunnel works");
    let replay = first_esp(&cap.stop());
    assert!(!replay.is_empty(), "no ESP packet captured");

    let (got0, lost0, rate0) = good_traffic(&pair, 6001);
    let pid = pair.b.daemon.pid();
    let (rss0, log0) = (vm_rss_kib(pid), pair.b.daemon.log().lines().count());

    let bin = workspace_bin("espflood");
    let spi = format!("{:#x}", pair.ab.spi);
    let mut args = vec![
        "--dst",
        B_OUTER,
        "--spi",
        &spi,
        "--seconds",
        "14",
        "--replay",
        &replay,
    ];
    if transport == "udp" {
        args.extend(["--udp", "4500"]);
    }
    let out = pair.scratch.join(format!("espflood-{transport}.log"));
    let mut flood = attacker.spawn(bin.to_str().unwrap_or_default(), &args, &out);
    wait_until("the flood reaches vwand", Duration::from_secs(5), || {
        pair.b.inbound("icv_failure") > 1000
    });
    let (got1, lost1, rate1) = good_traffic(&pair, 6002);
    assert!(
        flood.wait_timeout(Duration::from_secs(20)).is_some(),
        "the flood ends"
    );
    let text = std::fs::read_to_string(&out).unwrap_or_default();
    let sent: Value = serde_json::from_str(text.lines().last().unwrap_or(""))
        .unwrap_or_else(|e| panic!("{e}: {text}"));
    let (rss1, log1) = (vm_rss_kib(pid), pair.b.daemon.log().lines().count());
    let s = pair.b.status();
    let t = &s["tunnels"]["hub0"];
    let transports = &s["transports"];
    eprintln!(
        "ESP flood over {transport}: {sent}\n  without: {got0} received, {lost0} lost, {rate0:.0} Mbit/s; \
         with: {got1} received, {lost1} lost, {rate1:.0} Mbit/s\n  vwand B: inbound {}, transports {}, \
         VmRSS {rss0} -> {rss1} KiB, {} log lines during the flood",
        t["inbound"],
        transports,
        log1 - log0
    );
    let total = |key: &str| -> u64 {
        transports
            .as_object()
            .map(|m| m.values().filter_map(|v| v[key].as_u64()).sum())
            .unwrap_or(0)
    };
    // Every kind is counted where it belongs.
    assert!(total("unknown_spi") > 0, "unknown SPIs counted");
    assert!(t["inbound"]["icv_failure"].as_u64() > Some(1000));
    assert!(
        total("malformed") + t["inbound"]["malformed"].as_u64().unwrap_or(0) > 0,
        "truncated packets counted"
    );
    assert!(
        t["inbound"]["replay"].as_u64().unwrap_or(0)
            + t["inbound"]["too_old"].as_u64().unwrap_or(0)
            > 1000,
        "replays counted"
    );
    // Rate-limited logs, flat memory, and the good traffic flows.
    assert!(log1 - log0 < 200, "{} log lines", log1 - log0);
    assert!(rss1 < rss0 + 8 * 1024, "VmRSS {rss0} -> {rss1} KiB");
    assert!(
        got1 > 0 && lost1 * 100 <= got1 + lost1,
        "loss {lost1} of {}",
        got1 + lost1
    );
    assert!(rate1 > 0.0);
}

#[test]
fn raw_esp_garbage_is_counted_and_the_tunnel_keeps_flowing() {
    netns::require_netns_env();
    run("raw");
}

#[test]
fn esp_in_udp_garbage_is_counted_and_the_tunnel_keeps_flowing() {
    netns::require_netns_env();
    run("udp");
}
