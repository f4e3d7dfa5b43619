//! Self-test of the BIRD 2 harness: two BIRDs in two namespaces joined by a
//! veth, "hub" in AS 65515 (Azure's) and "site" in AS 65010.
//!
//! ```text
//!  site (AS 65010) ul0 192.0.2.2 fd00:2::2 ══ veth ══ 192.0.2.1 fd00:2::1 ul0 (AS 65515) hub
//! ```
//!
//! Timings are printed to stderr (`-- --nocapture` to see them).

use std::net::IpAddr;
use std::time::{Duration, Instant};

use netns::bird::{ipv4_prefixes, ipv6_prefixes, Route};
use netns::{
    list_namespaces, require_netns_env, require_tools, scratch_dir, veth_pair, BgpNeighbor, Bird,
    BirdOptions, Netns,
};

const HUB: &str = "192.0.2.1";
const SITE: &str = "192.0.2.2";
const HUB6: &str = "fd00:2::1";
const SITE6: &str = "fd00:2::2";
const SITE_AS: u32 = 65010;
const TIMEOUT: Duration = Duration::from_secs(30);

fn require_bird() {
    require_netns_env();
    require_tools(&["bird", "birdc"]);
}

/// Hub and site namespaces joined by `ul0` <-> `ul0`, dual-stack.
fn underlay() -> (Netns, Netns) {
    let hub = Netns::new("bird_hub");
    let site = Netns::new("bird_site");
    veth_pair(
        &hub,
        "ul0",
        &format!("{HUB}/24"),
        &site,
        "ul0",
        &format!("{SITE}/24"),
    );
    hub.add_addr("ul0", &format!("{HUB6}/64"));
    site.add_addr("ul0", &format!("{SITE6}/64"));
    (hub, site)
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn prefixes(routes: &[Route]) -> Vec<&str> {
    let mut p: Vec<&str> = routes.iter().map(|r| r.prefix.as_str()).collect();
    p.sort_unstable();
    p
}

/// Drops the BIRDs and namespaces and checks nothing is left.
fn teardown(birds: Vec<Bird>, namespaces: Vec<Netns>) {
    let pids: Vec<u32> = birds.iter().map(Bird::pid).collect();
    let names: Vec<String> = namespaces.iter().map(|n| n.name().to_string()).collect();
    drop(birds);
    drop(namespaces);
    for pid in pids {
        assert!(!pid_alive(pid), "bird pid {pid} survived Drop");
    }
    let listed = list_namespaces();
    for name in names {
        assert!(!listed.contains(&name), "netns {name} survived: {listed:?}");
    }
}

#[test]
fn session_routes_reconfigure_disable_and_stop() {
    require_bird();
    let dir = scratch_dir();
    let (hub_ns, site_ns) = underlay();

    let mut h = BirdOptions::new(HUB);
    h.neighbors
        .push(BgpNeighbor::new("site", SITE, SITE_AS).with_local(HUB));
    h.static4 = vec!["10.51.0.0/16".into(), "10.52.0.0/16".into()];
    h.static6 = vec!["fd51::/48".into()];
    let mut s = BirdOptions::new(SITE);
    s.local_as = SITE_AS;
    let mut n = BgpNeighbor::new("hub", HUB, 65515).with_local(SITE);
    n.passive = true;
    s.neighbors.push(n);
    s.static4 = vec!["10.1.0.0/16".into()];
    s.static6 = vec!["fd01::/48".into()];

    let t0 = Instant::now();
    let site = Bird::start(&site_ns, s, &dir.join("site"));
    let mut hub = Bird::start(&hub_ns, h, &dir.join("hub"));
    let started = t0.elapsed();
    let hp = hub.wait_established("site", TIMEOUT);
    let sp = site.wait_established("hub", TIMEOUT);
    eprintln!(
        "both started in {started:?} (control socket after {:?} / {:?}); \
         established after {:?}",
        site.startup_time(),
        hub.startup_time(),
        t0.elapsed()
    );
    assert_eq!(hp.neighbor_as, Some(SITE_AS));
    assert_eq!(sp.neighbor_as, Some(65515));
    assert_eq!(sp.neighbor_id.as_deref(), Some(HUB));
    assert_eq!((hp.hold_time, hp.keepalive_time), (Some(180), Some(60)));
    for cap in [
        "Multiprotocol",
        "Route refresh",
        "4-octet AS numbers",
        "Graceful restart",
    ] {
        assert!(sp.neighbor_caps.iter().any(|c| c == cap), "{cap}: {sp:#?}");
    }

    // The site learns the hub's prefixes with AS path 65515, both tables.
    let routes = site.wait_routes("hub", "3 hub prefixes", TIMEOUT, |r| r.len() == 3);
    assert_eq!(
        prefixes(&routes),
        ["10.51.0.0/16", "10.52.0.0/16", "fd51::/48"]
    );
    for r in &routes {
        assert_eq!(r.as_path, [65515], "{r:#?}");
        assert_eq!(r.origin.as_deref(), Some("IGP"));
        assert!(r.primary && r.kind == "unicast", "{r:#?}");
        if r.is_ipv6() {
            assert_eq!(r.table, "master6");
            assert_eq!(r.next_hop[0], ip(HUB6), "{r:#?}");
            assert_eq!(r.via, Some(ip(HUB6)));
        } else {
            assert_eq!(r.table, "master4");
            assert_eq!(r.next_hop, [ip(HUB)]);
            assert_eq!(r.iface.as_deref(), Some("ul0"));
        }
    }
    let routes = hub.wait_routes("site", "2 site prefixes", TIMEOUT, |r| r.len() == 2);
    assert_eq!(prefixes(&routes), ["10.1.0.0/16", "fd01::/48"]);
    assert!(routes.iter().all(|r| r.as_path == [SITE_AS]));
    assert_eq!(site.route_count("hub"), 3);

    // Reconfigure: add one prefix, remove another, without a session reset.
    let mut h = hub.options().clone();
    h.static4 = vec!["10.51.0.0/16".into(), "10.53.0.0/16".into()];
    h.static6.push("fd52::/48".into());
    let t = Instant::now();
    hub.reconfigure(h);
    site.wait_routes("hub", "10.52 withdrawn, 10.53 added", TIMEOUT, |r| {
        prefixes(r) == ["10.51.0.0/16", "10.53.0.0/16", "fd51::/48", "fd52::/48"]
    });
    eprintln!("reconfigure seen by the peer after {:?}", t.elapsed());
    let sp2 = site.wait_established("hub", TIMEOUT);
    assert_eq!(
        sp2.raw.lines().nth(2),
        sp.raw.lines().nth(2),
        "session was reset by a static-only reconfigure"
    );

    // disable / enable: Cease, routes gone, then back.
    let t = Instant::now();
    site.disable("hub");
    let hp = hub.wait_protocol("site", "to see the Cease", TIMEOUT, |p| {
        !p.established()
            && p.last_error
                .as_deref()
                .is_some_and(|e| e.contains("Administrative shutdown"))
    });
    eprintln!(
        "disable: hub saw {:?} after {:?}",
        hp.last_error,
        t.elapsed()
    );
    hub.wait_routes("site", "none after disable", TIMEOUT, <[Route]>::is_empty);
    assert_eq!(site.route_count("hub"), 0);
    let t = Instant::now();
    site.enable("hub");
    hub.wait_established("site", TIMEOUT);
    site.wait_routes("hub", "4 prefixes again", TIMEOUT, |r| r.len() == 4);
    eprintln!("enable: re-established with routes after {:?}", t.elapsed());

    // Route refresh does not disturb anything.
    site.reload_in("hub");
    assert!(site.wait_established("hub", TIMEOUT).established());

    // Stopping the hub by PID withdraws its routes at the site.
    let t = Instant::now();
    let pid = hub.pid();
    let took = hub.stop().expect("bird exits on SIGTERM");
    assert!(!hub.is_running());
    assert!(!pid_alive(pid));
    site.wait_routes(
        "hub",
        "none after the hub stopped",
        TIMEOUT,
        <[Route]>::is_empty,
    );
    let sp = site.wait_protocol("hub", "down", TIMEOUT, |p| !p.established());
    eprintln!(
        "hub SIGTERM exit took {took:?}; site withdrew after {:?} ({:?})",
        t.elapsed(),
        sp.last_error
    );
    assert!(
        hub.log().contains("site: State changed to"),
        "{}",
        hub.log()
    );

    teardown(vec![site, hub], vec![hub_ns, site_ns]);
}

fn pid_alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        s.rsplit_once(')')
            .and_then(|(_, r)| r.split_whitespace().next())
            .is_some_and(|st| st != "Z" && st != "X")
    })
}

/// 10,000 IPv4 + 1,000 IPv6 hub prefixes with two prepends, over a multihop
/// session between loopback addresses with TCP-MD5 and short timers; a
/// SIGKILLed hub is noticed at once (the kernel closes the connection).
#[test]
fn scale_10k_prefixes_multihop_md5_prepend_and_kill() {
    require_bird();
    let dir = scratch_dir();
    let (hub_ns, site_ns) = underlay();
    // Loopback session addresses, routed over the veth inside the namespaces.
    hub_ns.add_addr("lo", "10.51.255.254/32");
    site_ns.add_addr("lo", "10.1.255.254/32");
    hub_ns.add_route("10.1.255.254/32", SITE);
    site_ns.add_route("10.51.255.254/32", HUB);

    const N4: usize = 10_000;
    const N6: usize = 1_000;
    let mut h = BirdOptions::new(HUB);
    let mut n = BgpNeighbor::new("site", "10.1.255.254", SITE_AS).with_local("10.51.255.254");
    n.multihop = Some(2);
    n.password = Some("not-secret-md5".into());
    n.hold_time = 9;
    n.keepalive_time = 3;
    n.export_prepend = 2;
    n.ipv6_next_hop = Some(HUB6.into());
    h.neighbors.push(n);
    h.static4 = ipv4_prefixes("10.128.0.0", 24, N4);
    h.static6 = ipv6_prefixes("fd51::", 64, N6);
    let mut s = BirdOptions::new(SITE);
    s.local_as = SITE_AS;
    let mut n = BgpNeighbor::new("hub", "10.51.255.254", 65515).with_local("10.1.255.254");
    n.multihop = Some(2);
    n.password = Some("not-secret-md5".into());
    n.hold_time = 9;
    n.keepalive_time = 3;
    n.ipv6_next_hop = Some(SITE6.into());
    s.neighbors.push(n);

    let t0 = Instant::now();
    let mut hub = Bird::start(&hub_ns, h, &dir.join("hub"));
    let site = Bird::start(&site_ns, s, &dir.join("site"));
    let sp = site.wait_established("hub", TIMEOUT);
    eprintln!(
        "scale: hub started in {:?}, established after {:?}",
        hub.startup_time(),
        t0.elapsed()
    );
    assert_eq!((sp.hold_time, sp.keepalive_time), (Some(9), Some(3)));
    let t = Instant::now();
    site.wait_route_count("hub", N4 + N6, Duration::from_secs(120));
    eprintln!(
        "scale: {} routes at the site {:?} after establishment",
        N4 + N6,
        t.elapsed()
    );
    let t = Instant::now();
    let routes = site.routes("hub");
    eprintln!(
        "scale: show route all + parse of {} routes took {:?}",
        routes.len(),
        t.elapsed()
    );
    assert_eq!(routes.len(), N4 + N6);
    let last4 = routes
        .iter()
        .find(|r| r.prefix == "10.167.15.0/24")
        .expect("the 10,000th prefix");
    assert_eq!(last4.as_path, [65515, 65515, 65515]);
    assert_eq!(last4.next_hop, [ip("10.51.255.254")]);
    // Multihop means `gateway recursive`, and no protocol puts the kernel's
    // route to 10.51.255.254 into BIRD's table: imported but unreachable.
    assert_eq!(last4.kind, "unreachable");
    let v6 = routes.iter().filter(|r| r.is_ipv6()).count();
    assert_eq!(v6, N6);
    let any6 = routes.iter().find(|r| r.is_ipv6()).unwrap();
    assert_eq!(any6.next_hop[0], ip(HUB6), "{any6:#?}");
    eprintln!("scale: a multihop route as the site sees it: {last4:#?}");

    let t = Instant::now();
    hub.kill();
    site.wait_route_count("hub", 0, Duration::from_secs(60));
    let sp = site.wait_protocol("hub", "down", TIMEOUT, |p| !p.established());
    eprintln!(
        "scale: hub SIGKILLed, site dropped {} routes after {:?} ({:?})",
        N4 + N6,
        t.elapsed(),
        sp.last_error
    );

    teardown(vec![site, hub], vec![hub_ns, site_ns]);
}
