//! The two-instance bed, for what the data plane reports back and what
//! IKE negotiated: Child SAs rekeyed on volume (a small byte lifetime)
//! under load with zero loss, selectors narrowed by strongSwan enforced
//! (and shown), and the status document's failover view.

use netns::dual_hub::{DualHubBed, DualHubOptions, BGP_ONPREM, TUNNELS, VNET_HOST, VNET_PREFIX};
use netns::iperf::{iperf3_run, Iperf3Opts, Iperf3Server, IPERF3_PORT};
use netns::{ping_from, wait_until};
use std::time::Duration;

/// A VNet address outside the selectors the hubs narrow to.
const OUTSIDE_TS: &str = "10.51.231.200";

fn start(o: DualHubOptions) -> DualHubBed {
    let bed = DualHubBed::start(o);
    bed.wait_ready(Duration::from_secs(60));
    bed
}

#[test]
fn a_small_byte_lifetime_rekeys_on_volume_under_load_without_loss() {
    // 4 MB per Child SA, in either direction: a 20 Mbit/s stream for 10 s
    // (25 MB) crosses it several times on the tunnel that carries it.
    let o = DualHubOptions::default().each_ike("child_rekey_bytes = 4000000");
    let bed = start(o);
    let _server = Iperf3Server::start(
        &bed.vnet,
        VNET_HOST,
        IPERF3_PORT,
        bed.scratch.join("iperf3.log"),
    );
    let mut opts = Iperf3Opts::new(VNET_HOST, 10);
    opts.udp_bitrate = Some("20M".into());
    opts.length = Some("1200".into());
    let r = iperf3_run(bed.edge(), &opts);
    let s = bed.vwand.status();
    let rekeys: Vec<u64> = TUNNELS
        .iter()
        .map(|n| {
            s["tunnels"][n]["ike"]["lifetime_rekeys"]
                .as_u64()
                .unwrap_or(0)
        })
        .collect();
    let children: Vec<u64> = TUNNELS
        .iter()
        .map(|n| s["tunnels"][n]["ike"]["child_sas"].as_u64().unwrap_or(0))
        .collect();
    println!(
        "20 Mbit/s UDP for 10 s with child_rekey_bytes = 4 MB: {:?} of {:?} datagrams lost; volume rekeys per tunnel {rekeys:?}, Child SAs installed {children:?}",
        r.lost_packets, r.packets
    );
    assert_eq!(r.lost_packets, Some(0), "{:?}", r.raw["end"]);
    assert!(rekeys.iter().sum::<u64>() >= 4, "{rekeys:?}");
    // strongSwan saw the rekeys: its Child SA is not the first one.
    let vwand_log = bed.vwand.daemon.log();
    assert!(
        vwand_log.contains("ESP lifetime reached: rekeying the Child SA"),
        "{vwand_log}"
    );
    for (i, h) in bed.hubs.iter().enumerate() {
        if rekeys[i] == 0 {
            continue;
        }
        let sas = h.strongswan.sas();
        let uniqueid = sas
            .iter()
            .flat_map(|sa| sa.children.iter())
            .filter(|c| c.installed)
            .map(|c| c.uniqueid)
            .max()
            .unwrap_or(0);
        assert!(uniqueid > 1, "hub{i}: still its first Child SA: {sas:?}");
    }
}

#[test]
fn narrowed_selectors_are_enforced_and_shown() {
    // Each hub allows only its BGP address and the lower half of the VNet.
    let mut o = DualHubOptions::default();
    for (i, h) in o.hubs.iter_mut().enumerate() {
        h.local_ts = vec![
            format!("{}/32", netns::dual_hub::HUB_BGP[i]),
            "10.51.231.0/25".into(),
        ];
        // kernel-libipsec wants an address of its own in each.
        o.hub_lo[i] = vec![format!("10.51.231.{}/32", 120 + i)];
    }
    let bed = start(o);
    bed.vnet.add_addr("lo", &format!("{OUTSIDE_TS}/32"));
    let s = bed.vwand.status();
    for (i, n) in TUNNELS.iter().enumerate() {
        let sel = s["tunnels"][n]["selectors"].as_str().unwrap_or("");
        let want = format!(
            "0.0.0.0/0 === {}/32, 10.51.231.0/25",
            netns::dual_hub::HUB_BGP[i]
        );
        assert_eq!(sel, want, "{}", s["tunnels"][n]);
    }
    let log = bed.vwand.daemon.log();
    assert!(log.contains("10.51.231.0/25"), "selectors at info level");
    // Inside: answered. Outside: the route says "into the tunnels", the
    // SAs say no, and the refusals are counted.
    assert!(ping_from(bed.edge(), BGP_ONPREM, VNET_HOST, 2));
    let before = s["tun"]["selectors"].as_u64().unwrap_or(0);
    assert!(!ping_from(bed.edge(), BGP_ONPREM, OUTSIDE_TS, 3));
    wait_until("refusals counted", Duration::from_secs(5), || {
        bed.vwand.status()["tun"]["selectors"].as_u64().unwrap_or(0) >= before + 3
    });
    let s = bed.vwand.status();
    println!(
        "narrowed selectors: {} refused outbound (tun.selectors); inbound refusals {:?}",
        s["tun"]["selectors"],
        TUNNELS.map(|n| s["tunnels"][n]["inbound"]["selectors"].clone())
    );
}

#[test]
fn status_shows_health_liveness_and_the_tunnels_of_each_prefix() {
    let bed = start(DualHubOptions::default());
    // Some traffic for the interval figures.
    assert!(ping_from(bed.edge(), BGP_ONPREM, VNET_HOST, 3));
    wait_until("interval figures", Duration::from_secs(3), || {
        let s = bed.vwand.status();
        TUNNELS
            .iter()
            .any(|n| s["tunnels"][n]["interval_packets"].as_u64().unwrap_or(0) > 0)
    });
    let s = bed.vwand.status();
    for n in TUNNELS {
        let t = &s["tunnels"][n];
        assert_eq!(t["health"], "up", "{t}");
        assert!(
            t["health_since_ms"].as_u64().unwrap_or(0) > 1_600_000_000_000,
            "{t}"
        );
        assert!(t["health_age_s"].as_f64().is_some(), "{t}");
        assert!(t["esp_packets_out"].as_u64().unwrap_or(0) > 0, "{t}");
        assert!(t["esp_packets_in"].as_u64().unwrap_or(0) > 0, "{t}");
    }
    let route = &s["routes"][VNET_PREFIX];
    assert_eq!(route["carried_by"], serde_json::json!(TUNNELS), "{route}");
    assert_eq!(route["paths"][0]["tier"], 0, "{route}");
    // The BGP peers' host routes are pinned to their tunnel.
    assert_eq!(
        s["routes"]["10.51.230.13/32"]["carried_by"],
        serde_json::json!(["hub1"]),
        "{}",
        s["routes"]
    );
    assert!(
        s["routes_count"].as_u64().unwrap_or(0) >= 3,
        "{}",
        s["routes"]
    );
    // A one-way stream makes vwand check liveness; the check's round trip
    // shows.
    let mut o = netns::seqstream::SeqStreamOptions::new(BGP_ONPREM, VNET_HOST);
    o.secs = 2;
    o.flows = 8;
    netns::seqstream::SeqStream::start(&bed.vnet, bed.edge(), &o, bed.scratch.path()).finish();
    let s = bed.vwand.status();
    assert!(
        s["ike"]["liveness_checks"].as_u64().unwrap_or(0) > 0,
        "{}",
        s["ike"]
    );
    assert_eq!(s["ike"]["suspects"], 0, "{}", s["ike"]);
    let rtt = TUNNELS.map(|n| s["tunnels"][n]["liveness_rtt_ms"].as_f64());
    println!(
        "liveness round trips: {rtt:?}; checks {}",
        s["ike"]["liveness_checks"]
    );
    assert!(rtt.iter().any(Option::is_some), "{s:#}");
}
