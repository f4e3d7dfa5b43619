//! Two in-memory sessions with virtual time: establishment, exchange of
//! routes both ways, incremental export, prepend, hold timer, collisions,
//! maximum-prefix, route refresh and administrative stop.

mod pair;

use bgp::wire::{cease, NotificationCode};
use bgp::{DownReason, Event, State};
use ipnet::IpNet;
use pair::{config, Pair};
use std::time::Duration;

fn nets(s: &[&str]) -> Vec<IpNet> {
    s.iter().map(|x| x.parse().unwrap()).collect()
}

fn learned(p: &Pair, a_side: bool) -> Vec<IpNet> {
    let s = if a_side { &p.a } else { &p.b };
    s.rib().iter().map(|(n, _)| *n).collect()
}

/// vwand (AS 65010, active) against an Azure-like hub (AS 65515, passive).
fn azure_pair() -> Pair {
    let mut p = Pair::new(
        config("vwand", 65010, 65515, [172, 24, 255, 1], false),
        config("hub", 65515, 65010, [10, 51, 230, 12], true),
    );
    p.a.set_export(nets(&["172.24.0.0/17", "fd00:24::/48"]), 0);
    p.b.set_export(nets(&["10.51.231.0/24", "10.51.232.0/24"]), 0);
    let now = p.now;
    p.b.start(now);
    p.a.start(now);
    p.settle();
    p
}

#[test]
fn establishes_and_exchanges_routes_both_ways() {
    let p = azure_pair();
    assert_eq!(p.a.state(), State::Established);
    assert_eq!(p.b.state(), State::Established);
    assert_eq!(p.a.hold_time(), Some(180));
    assert_eq!(
        learned(&p, true),
        nets(&["10.51.231.0/24", "10.51.232.0/24"])
    );
    assert_eq!(learned(&p, false), nets(&["172.24.0.0/17", "fd00:24::/48"]));
    let r = p.b.rib().get(&"172.24.0.0/17".parse().unwrap()).unwrap();
    assert_eq!(r.as_path.first(), Some(65010));
    assert_eq!(r.as_path.path_len(), 1);
    assert!(matches!(
        p.events_a[0],
        Event::Established { peer_as: 65515, .. }
    ));
}

#[test]
fn export_changes_are_incremental_and_prepend_lengthens_the_path() {
    let mut p = azure_pair();
    let sent = p.a.stats().updates_sent;
    p.a.set_export(
        nets(&["172.24.0.0/17", "172.24.128.0/17", "fd00:24::/48"]),
        0,
    );
    p.settle();
    assert_eq!(
        p.a.stats().updates_sent,
        sent + 1,
        "one UPDATE for one new prefix"
    );
    assert_eq!(learned(&p, false).len(), 3);
    p.a.set_export(nets(&["172.24.128.0/17"]), 0);
    p.settle();
    assert_eq!(learned(&p, false), nets(&["172.24.128.0/17"]));
    p.a.set_export(nets(&["172.24.128.0/17"]), 2);
    p.settle();
    let r = p.b.rib().get(&"172.24.128.0/17".parse().unwrap()).unwrap();
    assert_eq!(r.as_path.path_len(), 3);
}

#[test]
fn keepalives_hold_the_session_and_a_dead_link_expires_the_hold_timer() {
    let mut p = azure_pair();
    p.run_for(Duration::from_secs(600));
    assert_eq!(
        p.a.state(),
        State::Established,
        "keepalives every 60 s keep it up"
    );
    p.cut = true;
    let cut_at = p.now;
    p.run_for(Duration::from_secs(181));
    assert!(
        p.a.rib().is_empty(),
        "routes withdrawn when the hold timer expires"
    );
    let down = p.events_a.iter().find_map(|e| match e {
        Event::Down(r) => Some(r.clone()),
        _ => None,
    });
    assert_eq!(down, Some(DownReason::HoldTimerExpired));
    assert!(p.now - cut_at <= Duration::from_secs(181));
    // The link comes back: the sessions find each other again.
    p.cut = false;
    p.run_for(Duration::from_secs(300));
    assert_eq!(p.a.state(), State::Established);
    assert_eq!(learned(&p, true).len(), 2);
}

#[test]
fn both_sides_active_resolve_the_collision() {
    let mut p = Pair::new(
        config("a", 65010, 65515, [172, 24, 255, 1], false),
        config("b", 65515, 65010, [10, 51, 230, 12], false),
    );
    p.a.set_export(nets(&["172.24.0.0/17"]), 0);
    p.b.set_export(nets(&["10.51.231.0/24"]), 0);
    let now = p.now;
    p.a.start(now);
    p.b.start(now);
    p.settle();
    p.run_for(Duration::from_secs(30));
    assert_eq!(p.a.state(), State::Established);
    assert_eq!(p.b.state(), State::Established);
    assert!(
        p.a.stats().collisions + p.b.stats().collisions > 0,
        "a collision happened"
    );
    assert_eq!(p.a.stats().established_transitions, 1);
    assert_eq!(learned(&p, true), nets(&["10.51.231.0/24"]));
    assert_eq!(learned(&p, false), nets(&["172.24.0.0/17"]));
}

#[test]
fn max_prefix_limit_closes_the_session_with_cease_1() {
    let mut a = config("vwand", 65010, 65515, [172, 24, 255, 1], false);
    a.import.max_prefixes = 10;
    let mut p = Pair::new(a, config("hub", 65515, 65010, [10, 51, 230, 12], true));
    let many: Vec<IpNet> = (0..11u32)
        .map(|i| format!("10.60.{i}.0/24").parse().unwrap())
        .collect();
    p.b.set_export(many, 0);
    let now = p.now;
    p.b.start(now);
    p.a.start(now);
    p.settle();
    assert!(p
        .events_a
        .contains(&Event::Down(DownReason::MaxPrefixes { limit: 10 })));
    assert!(p.a.rib().is_empty());
    let got = p.events_b.iter().find_map(|e| match e {
        Event::Down(DownReason::NotificationReceived(n)) => Some(n.clone()),
        _ => None,
    });
    let n = got.expect("hub saw a NOTIFICATION");
    assert_eq!(
        (n.code, n.subcode),
        (NotificationCode::Cease, cease::MAX_PREFIXES)
    );
    assert_eq!(n.data, vec![0, 1, 1, 0, 0, 0, 10]);
}

#[test]
fn import_policy_filters_and_counts() {
    let mut a = config("vwand", 65010, 65515, [172, 24, 255, 1], false);
    a.import.allow = nets(&["10.51.0.0/16"]);
    a.import.protect = vec!["10.51.230.4".parse().unwrap()];
    let mut p = Pair::new(a, config("hub", 65515, 65010, [10, 51, 230, 12], true));
    p.b.set_export(
        nets(&["10.51.230.0/24", "10.51.231.0/24", "192.168.0.0/16"]),
        0,
    );
    let now = p.now;
    p.b.start(now);
    p.a.start(now);
    p.settle();
    assert_eq!(learned(&p, true), nets(&["10.51.231.0/24"]));
    assert_eq!(p.a.stats().prefixes_filtered, 2);
}

#[test]
fn stop_sends_cease_and_withdraws_everything() {
    let mut p = azure_pair();
    let now = p.now;
    p.a.stop(now);
    p.settle();
    assert_eq!(p.a.state(), State::Idle);
    assert!(p.b.rib().is_empty());
    assert!(p.events_a.contains(&Event::Down(DownReason::AdminStop)));
    let n = p.events_b.iter().find_map(|e| match e {
        Event::Down(DownReason::NotificationReceived(n)) => Some(n.clone()),
        _ => None,
    });
    assert_eq!(n.map(|n| n.subcode), Some(cease::ADMIN_SHUTDOWN));
    // Stopped stays stopped.
    p.run_for(Duration::from_secs(600));
    assert_eq!(p.a.state(), State::Idle);
}

#[test]
fn route_refresh_resends_the_table() {
    let mut p = azure_pair();
    let before = p.b.stats().updates_sent;
    assert!(p.a.route_refresh());
    p.settle();
    assert!(p.b.stats().updates_sent > before);
    assert_eq!(learned(&p, true).len(), 2);
}

#[test]
fn wrong_peer_as_is_refused_with_bad_peer_as() {
    let mut p = Pair::new(
        config("vwand", 65010, 65515, [172, 24, 255, 1], false),
        config("hub", 65001, 65010, [10, 51, 230, 12], true),
    );
    let now = p.now;
    p.b.start(now);
    p.a.start(now);
    p.settle();
    assert_ne!(p.a.state(), State::Established);
    let n = p.events_b.len();
    assert_eq!(n, 0, "the hub never got to Established");
    assert_eq!(p.a.stats().notifications_sent, 1);
}
