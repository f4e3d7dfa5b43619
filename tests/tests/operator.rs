//! The operator's product against real peers (two strongSwan + BIRD hub
//! instances): reload that touches only what changed, the human status,
//! Prometheus metrics read by the reference parser, TCP MSS clamping,
//! "packet too big", and IKE message lines at debug level.

use netns::dual_hub::{
    DualHubBed, DualHubOptions, ReturnPath, BGP_ONPREM, PSK, TUNNELS, VNET_HOST, VNET_PREFIX,
};
use netns::iperf::{iperf3_run, Iperf3Opts, Iperf3Server, IPERF3_PORT};
use netns::{pcap_text, ping_from, wait_until, workspace_bin, workspace_root, Capture};
use serde_json::Value;
use std::time::Duration;

fn start(o: DualHubOptions) -> DualHubBed {
    let bed = DualHubBed::start(o);
    bed.wait_ready(Duration::from_secs(60));
    bed
}

/// (inbound SPI, outbound SPI) of a tunnel.
fn spis(bed: &DualHubBed, name: &str) -> (String, String) {
    let t = bed.tunnel_status(name);
    (
        t["inbound"]["spi"].as_str().unwrap_or("").into(),
        t["outbound"]["spi"].as_str().unwrap_or("").into(),
    )
}

fn wait_log(bed: &DualHubBed, needle: &str, occurrences: usize) {
    wait_until(
        &format!("vwand logs {needle:?}"),
        Duration::from_secs(15),
        || bed.vwand.daemon.log().matches(needle).count() >= occurrences,
    );
}

#[test]
fn reload_adds_and_removes_tunnels_and_keys_the_next_sa_leaving_the_rest_alone() {
    // The VNet host answers over hub0 only: with its default multipath
    // route, which hub a flow takes depends on the kernel's per-boot hash
    // key, and pings while hub1 is removed fail on half of all machines.
    let o = DualHubOptions {
        return_path: ReturnPath::Hub0,
        ..DualHubOptions::default()
    };
    let full = o.vwand_config();
    let bed = start(o);
    // The data plane's SPIs reach status a moment after the IKE SAs.
    wait_until(
        "both tunnels' SPIs in status",
        Duration::from_secs(10),
        || {
            TUNNELS.iter().all(|t| {
                let (i, o) = spis(&bed, t);
                !i.is_empty() && !o.is_empty()
            })
        },
    );
    let hub0 = spis(&bed, TUNNELS[0]);
    let hub1 = spis(&bed, TUNNELS[1]);

    // Without hub1's tunnel: its IKE SA is deleted, hub0 untouched.
    let second = full.find("[[tunnel]]\nname = \"hub1\"").unwrap();
    bed.vwand.reload(&full[..second]);
    wait_log(&bed, "reload: tunnels added:", 0);
    bed.hubs[1].strongswan.wait_no_sas(Duration::from_secs(10));
    wait_until("hub1 gone from status", Duration::from_secs(10), || {
        bed.vwand.status()["tunnels"].get("hub1").is_none()
    });
    let log = bed.vwand.daemon.log();
    assert!(log.contains("reload: removed: hub1"), "{log}");
    assert_eq!(spis(&bed, TUNNELS[0]), hub0, "hub0 was not touched");
    assert!(bed.ping_vnet(2));

    // hub1 back: a new tunnel (new index, sockets reused), hub0 untouched.
    bed.vwand.reload(&full);
    wait_until("hub1 up again", Duration::from_secs(20), || {
        bed.tunnel_status(TUNNELS[1])["health"] == "up"
            && bed.bgp_state(TUNNELS[1]) == "Established"
    });
    assert!(bed
        .vwand
        .daemon
        .log()
        .contains("reload: tunnels added: hub1"));
    assert_eq!(spis(&bed, TUNNELS[0]), hub0, "hub0 still untouched");
    assert_ne!(spis(&bed, TUNNELS[1]), hub1, "hub1 has new SAs");

    // A new PSK for hub0 is for its next IKE SA: the running one stays.
    let hub1 = spis(&bed, TUNNELS[1]);
    let wrong = full.replacen(
        &format!("psk = \"{PSK}\""),
        "psk = \"a-new-psk-the-hub-does-not-know\"",
        1,
    );
    bed.vwand.reload(&wrong);
    wait_log(
        &bed,
        "IKE settings changed (used at the next IKE SA): hub0",
        1,
    );
    assert_eq!(spis(&bed, TUNNELS[0]), hub0);
    assert!(bed.ping_vnet(2));
    // The hub deletes the SA; vwand's next IKE SA uses the new key, which
    // the hub refuses.
    bed.terminate_ike(0);
    wait_log(&bed, "authentication failed", 1);
    assert_eq!(spis(&bed, TUNNELS[1]), hub1, "hub1 untouched by hub0's key");
    // Back to the right key: hub0 comes back.
    bed.vwand.reload(&full);
    wait_until(
        "hub0 up with the right key",
        Duration::from_secs(40),
        || bed.tunnel_status(TUNNELS[0])["health"] == "up",
    );
    println!("reload log:");
    for line in bed
        .vwand
        .daemon
        .log()
        .lines()
        .filter(|l| l.contains("reload"))
    {
        println!("  {line}");
    }
}

#[test]
fn human_status_and_prometheus_metrics() {
    let o = DualHubOptions {
        daemon_extra: vec!["metrics_listen = \"127.0.0.1:9713\"".into()],
        ..DualHubOptions::default()
    };
    let bed = start(o);
    wait_until("both up", Duration::from_secs(10), || {
        TUNNELS
            .iter()
            .all(|n| bed.tunnel_status(n)["health"] == "up")
    });
    let out = bed.vwand.ns.exec(&[
        workspace_bin("vwand").to_str().unwrap(),
        "status",
        "--socket",
        bed.vwand.status_socket.to_str().unwrap(),
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    println!("{text}");
    assert!(
        text.contains("2/2 tunnels up, 2/2 BGP sessions established"),
        "{text}"
    );
    for n in TUNNELS {
        assert!(text.contains(&format!("{n}: up for")), "{text}");
    }
    assert!(text.contains("aes256gcm16-prfsha384-ecp384"), "{text}");
    assert!(text.contains("BGP  Established"), "{text}");
    assert!(
        text.contains(&format!("{VNET_PREFIX:<20} hub0 hub1")),
        "{text}"
    );

    let script = workspace_root().join("tests/oracle/scrape_metrics.py");
    let out = bed.vwand.ns.exec(&[
        "python3",
        script.to_str().unwrap(),
        "http://127.0.0.1:9713/metrics",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let samples: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    let get = |name: &str, labels: &[(&str, &str)]| {
        samples
            .iter()
            .find(|s| s["name"] == name && labels.iter().all(|(k, v)| s["labels"][*k] == *v))
            .and_then(|s| s["value"].as_f64())
    };
    for n in TUNNELS {
        assert_eq!(
            get("vwand_tunnel_up", &[("tunnel", n), ("health", "up")]),
            Some(1.0)
        );
        assert_eq!(get("vwand_bgp_established", &[("tunnel", n)]), Some(1.0));
        assert!(
            get(
                "vwand_esp_packets_total",
                &[("tunnel", n), ("direction", "out")]
            )
            .unwrap()
                > 0.0
        );
    }
    assert!(get("vwand_routes", &[]).unwrap() >= 3.0);
    println!("{} samples parsed by prometheus_client", samples.len());
}

#[test]
fn mss_is_clamped_and_too_big_packets_are_answered() {
    let o = DualHubOptions {
        // A TUN larger than the tunnel can carry, so vwand must answer.
        tun_extra: vec!["mtu = 1500".into()],
        ..DualHubOptions::default()
    };
    let bed = start(o);
    // The SYN arrives at the VNet host with MSS at most 1350.
    let pcaps = [0, 1].map(|i| bed.scratch.join(format!("syn{i}.pcap")));
    let caps: Vec<Capture> = (0..2)
        .map(|i| {
            Capture::start(
                &bed.vnet,
                netns::dual_hub::VNET_LINKS[i],
                &pcaps[i],
                &[
                    "src",
                    "host",
                    BGP_ONPREM,
                    "and",
                    "tcp[tcpflags] & tcp-syn != 0",
                ],
            )
        })
        .collect();
    let _server = Iperf3Server::start(
        &bed.vnet,
        VNET_HOST,
        IPERF3_PORT,
        bed.scratch.join("iperf3.log"),
    );
    iperf3_run(bed.edge(), &Iperf3Opts::new(VNET_HOST, 1));
    let text: String = caps
        .into_iter()
        .map(|c| pcap_text(&c.stop(), &[]))
        .collect();
    println!("SYNs at the VNet host:\n{text}");
    let mss: Vec<u32> = text
        .split("mss ")
        .skip(1)
        .filter_map(|s| s.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok())
        .collect();
    assert!(!mss.is_empty(), "{text}");
    assert!(mss.iter().all(|&m| m <= 1350), "{mss:?}");
    let s = bed.vwand.status();
    assert!(
        s["tun"]["mss_clamped"].as_u64().unwrap_or(0) >= 1,
        "{}",
        s["tun"]
    );

    // 1500 bytes with DF: too big for ESP over a 1500-byte underlay.
    let out = bed.edge().exec(&[
        "ping", "-c", "2", "-M", "do", "-s", "1472", "-I", BGP_ONPREM, VNET_HOST,
    ]);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{text}");
    assert!(
        text.contains("mtu = 1438") || text.contains("mtu=1438"),
        "{text}"
    );
    wait_until("too-big counted", Duration::from_secs(3), || {
        bed.vwand.status()["tun"]["too_big"].as_u64().unwrap_or(0) >= 1
    });
    // What fits goes through.
    assert!(ping_from(bed.edge(), BGP_ONPREM, VNET_HOST, 1));
}
