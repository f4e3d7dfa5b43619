//! BGP backpressure with a hostile peer: a fake eBGP speaker
//! (`tests/oracle/bgp_flood.py`) floods vwand with UPDATEs, up to 10^6
//! /32s for at most 20 s, while a real session to BIRD with a 3-second
//! hold time runs next to it. The flood is slowed by TCP (vwand reads what
//! it can decode), vwand's memory stays bounded (its peak is reported),
//! max-prefix ends the flood with Cease/1, and BIRD's session never drops:
//! the timers keep priority over the input.
//!
//! ```text
//!  edge: vwand 192.168.20.2 ══ lan: BIRD 192.168.20.1 (iBGP, hold 3 s)
//!                                   flood 192.168.20.3 (eBGP AS 65001)
//! ```

use netns::bird::{BgpNeighbor, Bird, BirdOptions};
use netns::stats::vm_rss_kib;
use netns::vwand::start_daemon;
use netns::{scratch_dir, veth_pair, wait_until, workspace_root, Netns};
use serde_json::Value;
use std::time::{Duration, Instant};

const MAX_PREFIXES: usize = 100_000;

fn config() -> String {
    format!(
        "[daemon]\nstatus_socket = \"{{status_socket}}\"\n\n[tun]\nname = \"vw0\"\naddresses = [\"172.24.255.1/32\"]\n\n\
         [bgp]\nasn = 65010\nadvertise = [\"192.168.10.0/24\"]\nexpressroute_prefixes = [\"192.168.0.0/16\"]\n\n\
         [[bgp.lan]]\npeer = \"192.168.20.1\"\nremote_as = 65010\nlocal_address = \"192.168.20.2\"\nhold_time = 3\n\
         import = [\"192.168.0.0/16\"]\n\n\
         [[bgp.lan]]\npeer = \"192.168.20.3\"\nremote_as = 65001\nlocal_address = \"192.168.20.2\"\npassive = true\n\
         communities = [\"65010:1\"]\nimport = [\"30.0.0.0/8\"]\nmax_prefixes = {MAX_PREFIXES}\n\n\
         [[tunnel]]\nname = \"hub0\"\nlocal = \"192.168.20.2\"\npeer = \"10.51.230.4\"\ntransport = \"raw\"\nroutes = [\"10.52.0.0/16\"]\n\n\
         [tunnel.ike]\npsk = \"not-a-secret-0123456789abcdef\"\ninitiate = false\n"
    )
}

#[test]
fn a_flood_of_updates_is_bounded_and_the_timers_keep_running() {
    netns::require_netns_env();
    let scratch = scratch_dir();
    let edge = Netns::new("edge");
    let lan = Netns::new("lan");
    veth_pair(
        &edge,
        "lan0",
        "192.168.20.2/24",
        &lan,
        "eth0",
        "192.168.20.1/24",
    );
    lan.add_addr("eth0", "192.168.20.3/24");
    let mut b = BirdOptions::new("192.168.20.1");
    b.local_as = 65010;
    let mut n = BgpNeighbor::new("vwand", "192.168.20.2", 65010).with_local("192.168.20.1");
    n.hold_time = 3;
    n.keepalive_time = 1;
    n.ipv6 = false;
    b.neighbors.push(n);
    b.static4 = vec!["192.168.10.0/24".into()];
    let bird = Bird::start(&lan, b, &scratch.join("bird"));
    let mut vwand = start_daemon(&scratch, edge, "vwand", &config());
    let lan_bgp = |s: &Value, peer: &str| s["bgp_lan"][peer].clone();
    wait_until("the session to BIRD", Duration::from_secs(20), || {
        lan_bgp(&vwand.status(), "192.168.20.1")["state"] == "Established"
    });

    let script = workspace_root().join("tests/oracle/bgp_flood.py");
    let args = [
        script.to_str().unwrap_or_default(),
        "--src",
        "192.168.20.3",
        "--dst",
        "192.168.20.2",
        "--count",
        "1000000",
        "--seconds",
        "20",
    ];
    let out = scratch.join("flood.log");
    let mut flood = lan.spawn("python3", &args, &out);
    let pid = vwand.daemon.pid();
    let started = Instant::now();
    let mut peak = 0;
    while flood.is_running() && started.elapsed() < Duration::from_secs(40) {
        peak = peak.max(vm_rss_kib(pid));
        // Sampling RSS, not waiting for a state: the flood ends itself.
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        flood.wait_timeout(Duration::from_secs(5)).is_some(),
        "the flood ends within its bound"
    );
    let text = std::fs::read_to_string(&out).unwrap_or_default();
    let report: Value = serde_json::from_str(text.lines().last().unwrap_or(""))
        .unwrap_or_else(|e| panic!("{e}: {text}"));
    let s = vwand.status();
    let fl = lan_bgp(&s, "192.168.20.3");
    eprintln!(
        "BGP flood: {report}; vwand peak VmRSS {peak} KiB; flood session {} after {} UPDATEs, {} learned",
        fl["state"], fl["updates_received"], fl["learned_count"]
    );
    assert_eq!(
        report["notification"],
        serde_json::json!([6, 1]),
        "Cease/maximum-prefix"
    );
    assert!(report["sent"].as_u64().unwrap_or(0) > MAX_PREFIXES as u64);
    wait_until(
        "status names maximum-prefix",
        Duration::from_secs(5),
        || {
            lan_bgp(&vwand.status(), "192.168.20.3")["last_error"]
                .as_str()
                .is_some_and(|w| w.contains("maximum-prefix"))
        },
    );
    let s = vwand.status();
    assert!(peak < 128 * 1024, "peak VmRSS {peak} KiB");
    // The real session never went down, on either side.
    let bird_now = bird.protocol("vwand").expect("BIRD's session");
    assert!(bird_now.established(), "BIRD: {bird_now:?}");
    let log = bird.log();
    assert_eq!(
        log.matches("vwand: State changed to up").count(),
        1,
        "BIRD's session restarted:\n{log}"
    );
    assert!(!log.contains("Hold timer expired"), "{log}");
    assert_eq!(lan_bgp(&s, "192.168.20.1")["established_count"], 1, "{s:#}");
    assert_eq!(lan_bgp(&s, "192.168.20.1")["state"], "Established");
    vwand.daemon.assert_running();
}
