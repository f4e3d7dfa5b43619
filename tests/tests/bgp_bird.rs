//! vwand's BGP speaker against BIRD 2 (the hub's BGP, AS 65515), over the
//! IPsec tunnel to strongSwan (the hub's VPN gateway), as on Azure: the
//! tunnel to the instance carries the session to the instance's BGP
//! address.
//!
//! ```text
//!  onprem: vwand, TUN 172.24.255.1 ── ul0 192.0.2.1 ══ 192.0.2.2 ul0 ── strongSwan + BIRD, lo 10.51.230.12 :hub
//! ```

use netns::bird::{Bird, BirdOptions};
use netns::hub_bed::{self, HubBed, HubBedOptions, BGP_ONPREM};
use netns::vwand::Side;
use netns::wait_until;
use std::collections::BTreeSet;
use std::time::Duration;

/// A host in a "connected VNet", on the hub's loopback.
const VNET_HOST: &str = "10.51.231.1";
const HOLD: u16 = 9;
/// Longer than vwand's IKE liveness bound (about 9.5 s), to show that a
/// dead tunnel withdraws the routes without waiting for the hold timer.
const LONG_HOLD: u16 = 30;

type Bed = HubBed;

fn options(hold: u16) -> HubBedOptions {
    HubBedOptions {
        hold,
        // The hub address space, two connected VNets, and a prefix
        // covering the tunnel's outer addresses, which vwand must not
        // route into the tunnel (on Azure over ExpressRoute, the hub
        // space holds the gateway instances themselves).
        hub_prefixes: vec![
            "10.51.230.0/24".into(),
            "10.51.231.0/24".into(),
            "10.51.232.0/24".into(),
            "192.0.0.0/16".into(),
        ],
        ..HubBedOptions::default()
    }
}

fn bird_options(hold: u16) -> BirdOptions {
    hub_bed::bird_options(&options(hold))
}

fn bed(hold: u16) -> Bed {
    let bed = HubBed::start(options(hold));
    bed.hub_ns.add_addr("lo", &format!("{VNET_HOST}/32"));
    bed
}

/// Prefixes BIRD learned from vwand, with their AS paths.
fn bird_learned(bird: &Bird) -> BTreeSet<(String, Vec<u32>)> {
    bird.routes("vwand")
        .into_iter()
        .map(|r| (r.prefix, r.as_path))
        .collect()
}

fn expect(list: &[&str]) -> BTreeSet<(String, Vec<u32>)> {
    list.iter().map(|p| (p.to_string(), vec![65010])).collect()
}

fn vwand_bgp(side: &Side) -> serde_json::Value {
    side.status()["tunnels"]["hub0"]["bgp"].clone()
}

fn kernel_routes(side: &Side) -> String {
    side.ns.ip(&["-4", "route", "show", "dev", "vw0"])
}

fn learned_in_kernel(side: &Side) -> bool {
    let r = kernel_routes(side);
    r.contains("10.51.231.0/24") && r.contains("10.51.232.0/24")
}

fn no_learned_in_kernel(side: &Side) -> bool {
    let r = kernel_routes(side);
    !r.contains("10.51.231.0/24") && !r.contains("10.51.232.0/24") && !r.contains("10.51.230.0/24")
}

fn wait_established(bed: &Bed) {
    bed.bird.wait_established("vwand", Duration::from_secs(40));
    let up = netns::poll_until(Duration::from_secs(10), || {
        let b = vwand_bgp(&bed.vwand);
        (b["state"] == "Established" && b["learned_count"] == 3).then_some(())
    });
    assert!(up.is_some(), "vwand's session: {}", bed.vwand.status());
}

#[test]
fn bird_learns_exactly_our_prefixes_and_we_learn_and_route_its() {
    let mut bed = bed(HOLD);
    wait_established(&bed);
    let bird = &bed.bird;
    wait_until("BIRD has our two prefixes", Duration::from_secs(10), || {
        bird_learned(bird) == expect(&["172.24.0.0/17", "172.24.128.0/17"])
    });

    // vwand's view: BIRD's prefixes with AS path 65515, except the one
    // covering the tunnel's own endpoint.
    let b = vwand_bgp(&bed.vwand);
    assert_eq!(b["peer_as"], 65515);
    assert_eq!(b["hold_time"], HOLD);
    assert_eq!(b["learned"]["10.51.231.0/24"], "65515");
    assert_eq!(b["learned"]["10.51.232.0/24"], "65515");
    assert!(b["learned"].get("192.0.0.0/16").is_none(), "{b}");
    assert_eq!(b["filtered"], 1);
    wait_until(
        "learned prefixes are kernel routes via the TUN",
        Duration::from_secs(5),
        || learned_in_kernel(&bed.vwand),
    );
    let routes = kernel_routes(&bed.vwand);
    assert!(
        routes.contains("10.51.231.0/24 proto bgp metric 100"),
        "{routes}"
    );
    assert!(
        routes.contains(&format!("{} proto static", hub_bed::BGP_HUB)),
        "pinned peer: {routes}"
    );
    assert!(!routes.contains("192.0.0.0/16"), "{routes}");

    // Traffic to a learned prefix crosses the tunnel, both ways.
    let ok = bed.vwand.ns.exec(&[
        "ping", "-c", "3", "-i", "0.2", "-W", "2", "-I", BGP_ONPREM, VNET_HOST,
    ]);
    assert!(
        ok.status.success(),
        "ping {VNET_HOST}: {}",
        String::from_utf8_lossy(&ok.stdout)
    );

    // Reload: one more prefix, then one fewer; BIRD sees each change.
    let reload = |adv: &[&str]| {
        let text = std::fs::read_to_string(&bed.vwand.config).unwrap();
        let start = text.find("advertise = [").unwrap();
        let end = start + text[start..].find(']').unwrap() + 1;
        let adv: Vec<String> = adv.iter().map(|p| format!("\"{p}\"")).collect();
        let new = format!(
            "{}advertise = [{}]{}",
            &text[..start],
            adv.join(", "),
            &text[end..]
        );
        std::fs::write(&bed.vwand.config, new).unwrap();
    };
    reload(&["172.24.0.0/17", "172.24.128.0/17", "192.168.77.0/24"]);
    bed.vwand.daemon.signal(libc::SIGHUP);
    wait_until(
        "BIRD sees the added prefix",
        Duration::from_secs(10),
        || {
            bird_learned(&bed.bird)
                == expect(&["172.24.0.0/17", "172.24.128.0/17", "192.168.77.0/24"])
        },
    );
    reload(&["172.24.128.0/17", "192.168.77.0/24"]);
    bed.vwand.daemon.signal(libc::SIGHUP);
    wait_until("BIRD sees the withdrawal", Duration::from_secs(10), || {
        bird_learned(&bed.bird) == expect(&["172.24.128.0/17", "192.168.77.0/24"])
    });
    // A reload the guard refuses changes nothing.
    reload(&["172.24.0.0/16"]);
    bed.vwand.daemon.signal(libc::SIGHUP);
    bed.vwand
        .daemon
        .wait_for_log("reload refused", Duration::from_secs(5));
    assert_eq!(
        bird_learned(&bed.bird),
        expect(&["172.24.128.0/17", "192.168.77.0/24"])
    );
    assert_eq!(
        vwand_bgp(&bed.vwand)["established_count"],
        1,
        "no session reset"
    );
    wait_until(
        "status shows the two prefixes",
        Duration::from_secs(5),
        || {
            bed.vwand.status()["tunnels"]["hub0"]["bgp"]["advertised"]
                .as_array()
                .map(Vec::len)
                == Some(2)
        },
    );

    // BIRD freezes (SIGSTOP): no FIN, no keepalives. vwand's hold timer
    // expires and the routes go within the hold time.
    let frozen = std::time::Instant::now();
    netns::process::signal_pid(bed.bird.pid(), libc::SIGSTOP);
    wait_until(
        "hold timer expiry withdraws the routes",
        Duration::from_secs(u64::from(HOLD) + 3),
        || no_learned_in_kernel(&bed.vwand) && vwand_bgp(&bed.vwand)["learned_count"] == 0,
    );
    let took = frozen.elapsed();
    assert_eq!(vwand_bgp(&bed.vwand)["last_error"], "hold timer expired");
    eprintln!("hold timer: routes withdrawn {took:?} after BIRD froze (hold {HOLD} s)");
    netns::process::signal_pid(bed.bird.pid(), libc::SIGCONT);
    wait_established(&bed);
    bed.bird.wait_established("vwand", Duration::from_secs(30));

    // SIGTERM: BIRD hears Cease/administrative shutdown, not a dead peer.
    let status = bed.vwand.daemon.terminate_and_wait(Duration::from_secs(8));
    assert!(
        status.is_some_and(|s| s.success()),
        "clean exit: {status:?}"
    );
    let info = bed
        .bird
        .wait_protocol("vwand", "Cease from vwand", Duration::from_secs(5), |p| {
            p.raw.contains("Administrative shutdown")
        });
    assert!(!info.established());
    let _ = (&bed.scratch, &bed.hub, &bed.hub_ns);
}

#[test]
fn bird_or_tunnel_death_withdraws_the_routes() {
    let mut bed = bed(LONG_HOLD);
    wait_established(&bed);
    wait_until(
        "learned routes in the kernel",
        Duration::from_secs(5),
        || learned_in_kernel(&bed.vwand),
    );

    // BIRD stops (by PID): its routes leave the kernel and vwand's table
    // within the hold time (here at once: BIRD's kernel closes the TCP
    // connection).
    bed.bird.kill();
    let gone = netns::poll_until(Duration::from_secs(u64::from(LONG_HOLD) + 2), || {
        (no_learned_in_kernel(&bed.vwand) && vwand_bgp(&bed.vwand)["learned_count"] == 0)
            .then_some(())
    });
    assert!(
        gone.is_some(),
        "routes withdrawn after BIRD died: {}\n{}",
        kernel_routes(&bed.vwand),
        vwand_bgp(&bed.vwand)
    );

    // BIRD comes back: the session and the routes return.
    bed.bird = Bird::start(
        &bed.hub_ns,
        bird_options(LONG_HOLD),
        &bed.scratch.join("bird2"),
    );
    wait_established(&bed);
    wait_until("routes back in the kernel", Duration::from_secs(5), || {
        learned_in_kernel(&bed.vwand)
    });

    // The tunnel dies (charon killed by PID): vwand's IKE liveness check
    // declares it dead and the routes go at once, with that reason.
    bed.hub.kill();
    let killed = std::time::Instant::now();
    wait_until(
        "routes withdrawn when the tunnel died",
        Duration::from_secs(20),
        || no_learned_in_kernel(&bed.vwand) && vwand_bgp(&bed.vwand)["learned_count"] == 0,
    );
    let b = vwand_bgp(&bed.vwand);
    assert_eq!(b["learned_count"], 0);
    let why = b["last_error"].as_str().unwrap_or_default().to_string();
    assert_eq!(why, "the tunnel carrying the session went down", "{b}");
    let took = killed.elapsed();
    eprintln!("routes withdrawn {took:?} after the hub's charon died (hold time {LONG_HOLD} s)");
    assert!(took < Duration::from_secs(u64::from(LONG_HOLD)), "{took:?}");
}

/// Azure dials us when our BGP address is routable: vwand passive, BIRD
/// active, with TCP-MD5 on both sides and a prepend (the "VPN as backup"
/// shape: BIRD sees the longer path). IPv6 unicast rides the same IPv4
/// session (MP-BGP).
#[test]
fn passive_session_with_tcp_md5_prepend_and_ipv6() {
    let mut o = options(HOLD);
    o.session_extra = "import = [\"10.51.0.0/16\", \"fd51::/16\"]\npassive = true\nprepend = 2\nmd5_password = \"bgp-md5-not-a-secret\"".into();
    o.bird_password = Some("bgp-md5-not-a-secret".into());
    o.advertise.push("fd00:24:1::/48".into());
    o.hub_prefixes6 = vec!["fd51:231::/48".into(), "fd99::/32".into()];
    let bed = HubBed::start(o);
    bed.bird.wait_established("vwand", Duration::from_secs(40));
    let bird = &bed.bird;
    let want: BTreeSet<(String, Vec<u32>)> = ["172.24.0.0/17", "172.24.128.0/17", "fd00:24:1::/48"]
        .iter()
        .map(|p| (p.to_string(), vec![65010, 65010, 65010]))
        .collect();
    wait_until(
        "BIRD has our IPv4 and IPv6 prefixes with the prepended path",
        Duration::from_secs(10),
        || bird_learned(bird) == want,
    );
    // BIRD's IPv4 and IPv6 prefixes, minus those outside the import policy
    // (192.0.0.0/16 and fd99::/32): counted, not installed.
    let learned = netns::poll_until(Duration::from_secs(10), || {
        let b = vwand_bgp(&bed.vwand);
        (b["learned_count"] == 4 && b["filtered"] == 2).then_some(())
    });
    assert!(
        learned.is_some(),
        "vwand learned IPv4 and IPv6: {}\n{}",
        vwand_bgp(&bed.vwand),
        bird.birdc(&["show", "route", "all"])
    );
    let b = vwand_bgp(&bed.vwand);
    assert_eq!(b["learned"]["fd51:231::/48"], "65515", "{b}");
    let v6 = bed.vwand.ns.ip(&["-6", "route", "show", "dev", "vw0"]);
    assert!(v6.contains("fd51:231::/48 proto bgp metric 100"), "{v6}");
    // The session really is signed: vwand's socket carries the MD5 key.
    let ss = bed.vwand.ns.run_ok(&[
        "ss",
        "-tnie",
        "state",
        "established",
        "( sport = :179 or dport = :179 )",
    ]);
    assert!(ss.contains("md5"), "TCP-MD5 on the session: {ss}");
}

/// More prefixes than `max_prefixes`: vwand closes the session with
/// Cease/maximum number of prefixes reached, says so in its log, and
/// installs nothing.
#[test]
fn max_prefix_limit_closes_the_session() {
    let mut o = options(HOLD);
    o.session_extra = "import = [\"0.0.0.0/0\"]\nmax_prefixes = 2".into();
    let mut bed = HubBed::start(o);
    bed.bird.wait_protocol(
        "vwand",
        "Cease/maximum prefixes from vwand",
        Duration::from_secs(40),
        |p| p.raw.contains("Maximum number of prefixes reached"),
    );
    bed.vwand.daemon.wait_for_log(
        "more than the maximum number of prefixes",
        Duration::from_secs(5),
    );
    wait_until("vwand reports why", Duration::from_secs(5), || {
        vwand_bgp(&bed.vwand)["last_error"] == "more than 2 prefixes received (maximum-prefix)"
    });
    assert!(
        no_learned_in_kernel(&bed.vwand),
        "{}",
        kernel_routes(&bed.vwand)
    );
}
