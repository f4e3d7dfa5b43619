//! Both deployment modes over an emulated ExpressRoute circuit, with real
//! routers (three BIRDs) and a real gateway (charon kernel-libipsec); see
//! `netns::circuit` for the picture.
//!
//! - `encrypt`: pings and iperf3 both ways between a LAN host and a VNet
//!   host while tcpdump watches both circuit links: no clear packet
//!   between the hosts, only ESP to the gateway. vwand passes Azure's
//!   prefix to the core router (LOCAL_PREF 200, so it wins over the
//!   circuit's) and the LAN prefix it learned to Azure (more specific than
//!   ExpressRoute's aggregate, so Azure prefers the tunnel). A prefix the
//!   core router sends both ways is held back by the guard. When the
//!   tunnel dies, the core router loses vwand's route at once.
//! - `failover`: the same traffic crosses the circuit in clear; cutting
//!   the circuit moves it to the tunnel (the gap is measured), and
//!   restoring the circuit moves it back.

use netns::capture::{pcap_count, Capture};
use netns::circuit::{
    CircuitBed, RoutingMode, BOTH_WAYS_PREFIX, CONVERGE, EDGE_LAN, GATEWAY, LAN_HOST, LAN_PREFIX,
    MSEE_LINKS, VNET_HOST, VNET_PREFIX,
};
use netns::iperf::{iperf3_run, Iperf3Opts, Iperf3Server, IPERF3_PORT};
use netns::seqstream::{summary, SeqStream, SeqStreamOptions};
use netns::{link_stats, ping_from, poll_until, wait_until};
use serde_json::Value;
use std::time::{Duration, Instant};

/// Waits until vwand's tunnel, both of its BGP sessions and the routes
/// both ways are in place; panics with the bed's diagnostics otherwise.
fn converge(bed: &CircuitBed) {
    let ok = poll_until(CONVERGE, || {
        let s = bed.status();
        let tunnel_bgp = s["tunnels"]["hub0"]["bgp"]["state"] == "Established";
        let lan_bgp = s["bgp_lan"]["192.168.20.1"]["state"] == "Established";
        let learned = s["routing"]["azure_prefixes"][VNET_PREFIX].is_string();
        (tunnel_bgp && lan_bgp && learned).then_some(())
    });
    if ok.is_none() {
        panic!(
            "the bed did not converge within {CONVERGE:?}; status:\n{:#}\n{}",
            bed.status(),
            bed.diagnostics()
        );
    }
}

/// Waits until `ns` routes `dst` out of `dev`.
fn wait_route(what: &str, ns: &netns::Netns, dst: &str, dev: &str, bed: &CircuitBed) -> Duration {
    let t0 = Instant::now();
    if poll_until(CONVERGE, || {
        (CircuitBed::route_dev(ns, dst) == dev).then_some(())
    })
    .is_none()
    {
        panic!(
            "{what}: {dst} is not routed via {dev} (now {:?})\n{}",
            CircuitBed::route_dev(ns, dst),
            bed.diagnostics()
        );
    }
    t0.elapsed()
}

fn ping_both_ways(bed: &CircuitBed) {
    assert!(
        ping_from(&bed.lan, LAN_HOST, VNET_HOST, 5),
        "LAN -> VNet ping\n{}",
        bed.diagnostics()
    );
    assert!(
        ping_from(&bed.vnet, VNET_HOST, LAN_HOST, 5),
        "VNet -> LAN ping\n{}",
        bed.diagnostics()
    );
}

/// Bounded iperf3 both ways, LAN host to VNet host.
fn iperf_both_ways(bed: &CircuitBed) -> (f64, f64) {
    let mut server = Iperf3Server::start(
        &bed.vnet,
        VNET_HOST,
        IPERF3_PORT,
        bed.scratch.join("iperf3.log"),
    );
    let mut rates = [0.0; 2];
    for (i, reverse) in [false, true].into_iter().enumerate() {
        let mut o = Iperf3Opts::new(VNET_HOST, 3);
        o.reverse = reverse;
        rates[i] = iperf3_run(&bed.lan, &o).bits_per_second / 1e6;
    }
    server.guard().terminate_and_wait(Duration::from_secs(5));
    (rates[0], rates[1])
}

#[test]
fn encrypt_mode_keeps_the_circuit_free_of_clear_packets() {
    netns::require_netns_env();
    let mut bed = CircuitBed::start(RoutingMode::Encrypt);
    converge(&bed);
    // The core router prefers vwand for Azure's prefix, and the hub
    // prefers the tunnel for the LAN prefix (more specific than the
    // circuit's aggregate).
    wait_route("core -> VNet", &bed.core, VNET_HOST, "edge0", &bed);
    wait_route("hub -> LAN", &bed.hub, LAN_HOST, "ipsec0", &bed);
    let s = bed.status();
    assert_eq!(s["routing"]["mode"], "encrypt");
    assert_eq!(s["routing"]["azure_prefixes"][VNET_PREFIX], "vpn", "{s:#}");
    let advertised = &s["tunnels"]["hub0"]["bgp"]["advertised"];
    assert_eq!(advertised, &serde_json::json!([LAN_PREFIX]), "{s:#}");

    let caps: Vec<Capture> = MSEE_LINKS
        .iter()
        .map(|l| {
            Capture::start(
                &bed.msee,
                l,
                bed.scratch.join(format!("circuit-{l}.pcap")),
                &[],
            )
        })
        .collect();
    ping_both_ways(&bed);
    let (up, down) = iperf_both_ways(&bed);
    let pcaps: Vec<_> = caps.into_iter().map(Capture::stop).collect();
    let hosts = ["host", LAN_HOST, "and", "host", VNET_HOST];
    // libipsec always encapsulates: ESP in UDP 4500, edge <-> gateway.
    let esp = [
        "host", EDGE_LAN, "and", "host", GATEWAY, "and", "(esp", "or", "udp", "port", "4500)",
    ];
    let mut total_esp = 0;
    for p in &pcaps {
        let clear = pcap_count(p, &hosts);
        assert_eq!(
            clear,
            0,
            "clear packets between the hosts on {}",
            p.display()
        );
        total_esp += pcap_count(p, &esp);
    }
    eprintln!(
        "encrypt: iperf3 LAN->VNet {up:.0} Mbit/s, VNet->LAN {down:.0} Mbit/s; \
         {total_esp} ESP packets and 0 clear ones on the circuit links"
    );
    assert!(total_esp > 1000, "only {total_esp} ESP packets seen");

    // The guard: the core router sends one more prefix both ways.
    bed.advertise_both_ways();
    let refused = poll_until(Duration::from_secs(20), || {
        let s = bed.status();
        let r = s["routing"]["refused"].as_array()?.first()?.clone();
        Some(r)
    })
    .unwrap_or_else(|| panic!("no refusal in status:\n{:#}", bed.status()));
    assert_eq!(refused["prefix"], BOTH_WAYS_PREFIX);
    assert!(
        refused["reason"]
            .as_str()
            .is_some_and(|r| r.contains("would cross the circuit unencrypted")),
        "{refused}"
    );
    let log = std::fs::read_to_string(bed.scratch.join("vwand.log")).unwrap_or_default();
    assert!(
        log.contains("encryption guard: a prefix learned on-premises is not advertised to Azure"),
        "{log}"
    );
    // The hub has it from the circuit only; the LAN prefix still from vwand.
    let from_vwand = bed.hub_bird.birdc(&["show", "route", "protocol", "vwand"]);
    assert!(!from_vwand.contains(BOTH_WAYS_PREFIX), "{from_vwand}");
    assert!(from_vwand.contains(LAN_PREFIX), "{from_vwand}");
    assert_eq!(
        bed.status()["tunnels"]["hub0"]["bgp"]["advertised"],
        serde_json::json!([LAN_PREFIX])
    );

    // A reload changes the preference the core router gets, live.
    let text = netns::circuit::vwand_config(RoutingMode::Encrypt).replace(
        "remote_as = 65010\n",
        "remote_as = 65010\nlocal_pref = 150\n",
    );
    bed.vwand.reload(&text);
    wait_until(
        "the core router has LOCAL_PREF 150 from vwand",
        Duration::from_secs(10),
        || {
            bed.core_bird
                .birdc(&["show", "route", "protocol", "vwand", "all"])
                .contains("BGP.local_pref: 150")
        },
    );
    assert_eq!(
        bed.status()["bgp_lan"]["192.168.20.1"]["established_count"],
        1
    );

    // No tunnel, no route: the core router falls back to the circuit as
    // soon as vwand's tunnel dies.
    let t0 = Instant::now();
    bed.charon.kill();
    wait_route(
        "core -> VNet after the tunnel died",
        &bed.core,
        VNET_HOST,
        "er0",
        &bed,
    );
    let withdrawn = t0.elapsed();
    eprintln!("encrypt: core router off vwand's route {withdrawn:?} after charon was killed");
    wait_until(
        "status shows nothing sent to the LAN",
        Duration::from_secs(5),
        || {
            let s = bed.status();
            s["routing"]["azure_prefixes_count"] == 0
                && s["bgp_lan"]["192.168.20.1"]["advertised_count"] == 0
        },
    );
}

#[test]
fn failover_mode_moves_to_the_tunnel_when_the_circuit_fails_and_back() {
    netns::require_netns_env();
    let bed = CircuitBed::start(RoutingMode::Failover);
    converge(&bed);
    // ExpressRoute is primary both ways.
    wait_route("core -> VNet", &bed.core, VNET_HOST, "er0", &bed);
    wait_route("hub -> LAN", &bed.hub, LAN_HOST, "er0", &bed);
    let s = bed.status();
    assert_eq!(s["routing"]["mode"], "failover");
    assert_eq!(
        s["routing"]["azure_prefixes"][VNET_PREFIX], "expressroute",
        "{s:#}"
    );
    let cap = Capture::start(
        &bed.msee,
        MSEE_LINKS[1],
        bed.scratch.join("circuit-up.pcap"),
        &[],
    );
    ping_both_ways(&bed);
    let pcap = cap.stop();
    let clear = pcap_count(
        &pcap,
        &["icmp", "and", "host", LAN_HOST, "and", "host", VNET_HOST],
    );
    assert!(
        clear >= 10,
        "expected the pings in clear on the circuit, saw {clear}"
    );

    // A numbered stream LAN -> VNet across the cut and the return.
    let mut o = SeqStreamOptions::new(LAN_HOST, VNET_HOST);
    o.pps = 200;
    o.secs = 40;
    let mut stream = SeqStream::start(&bed.vnet, &bed.lan, &o, bed.scratch.path());
    wait_until("the stream is flowing", Duration::from_secs(10), || {
        stream.sending()
    });
    // 400 datagrams through the VNet host's link before the cut.
    let base = link_stats(&bed.vnet, "eth0").rx_packets;
    wait_until(
        "the stream reaches the VNet host",
        Duration::from_secs(10),
        || link_stats(&bed.vnet, "eth0").rx_packets > base + 400,
    );
    let esp_before = esp_out(&bed.status());
    bed.cut_circuit();
    let to_tunnel = wait_route(
        "core -> VNet after the cut",
        &bed.core,
        VNET_HOST,
        "edge0",
        &bed,
    );
    wait_route(
        "hub -> LAN after the cut",
        &bed.hub,
        LAN_HOST,
        "ipsec0",
        &bed,
    );
    wait_until("ESP carries the stream", Duration::from_secs(10), || {
        esp_out(&bed.status()) > esp_before + 100
    });
    bed.restore_circuit();
    let back = wait_route(
        "core -> VNet after the repair",
        &bed.core,
        VNET_HOST,
        "er0",
        &bed,
    );
    wait_route(
        "hub -> LAN after the repair",
        &bed.hub,
        LAN_HOST,
        "er0",
        &bed,
    );
    let r = stream.finish();
    eprintln!(
        "failover: routes moved to the tunnel {to_tunnel:?} after the cut and back {back:?} after the repair; {}",
        summary(&r)
    );
    let gap = r.max_gap_ms();
    assert!(
        gap < 1000.0,
        "the stream stopped for {gap} ms at a link cut"
    );
    assert!(r.total.received > 0);
    let s = bed.status();
    assert_eq!(
        s["routing"]["azure_prefixes"][VNET_PREFIX], "expressroute",
        "{s:#}"
    );

    // A circuit that fails silently: only the hold timers (9 s here,
    // 180 s on Azure) notice, and they bound the gap.
    let mut o2 = o.clone();
    o2.port += 1;
    o2.secs = 25;
    let mut stream = SeqStream::start(&bed.vnet, &bed.lan, &o2, bed.scratch.path());
    wait_until(
        "the second stream is flowing",
        Duration::from_secs(10),
        || stream.sending(),
    );
    let base = link_stats(&bed.vnet, "eth0").rx_packets;
    wait_until(
        "the stream reaches the VNet host",
        Duration::from_secs(10),
        || link_stats(&bed.vnet, "eth0").rx_packets > base + 400,
    );
    bed.silence_circuit();
    let to_tunnel = wait_route(
        "core -> VNet, silent circuit",
        &bed.core,
        VNET_HOST,
        "edge0",
        &bed,
    );
    wait_route(
        "hub -> LAN, silent circuit",
        &bed.hub,
        LAN_HOST,
        "ipsec0",
        &bed,
    );
    let r = stream.finish();
    bed.unsilence_circuit();
    eprintln!("failover, silent circuit: core router on the tunnel {to_tunnel:?} after the drop began; {}", summary(&r));
    let gap = r.max_gap_ms();
    assert!(
        (5_000.0..15_000.0).contains(&gap),
        "a silent circuit should stop the stream for about the hold time (9 s), not {gap} ms"
    );
}

fn esp_out(s: &Value) -> u64 {
    s["tunnels"]["hub0"]["esp_packets_out"]
        .as_u64()
        .unwrap_or(0)
}
