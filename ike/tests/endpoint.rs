//! The IKE endpoint in virtual time: routing by SPI, simultaneous starts,
//! retries, liveness and failover timing, recovery, lifetimes and the
//! drops it counts.

mod endpoint_net;

use endpoint_net::{tunnel, World, T};
use ike::endpoint::{DatagramEvent, Dropped, EndpointConfig, Health, Suspicion, TunnelEvent};
use ike::sa::{DownReason, Event};
use std::net::SocketAddr;
use std::time::Duration;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn up_world(seed: u64) -> World {
    let mut w = World::new(seed, EndpointConfig::default(), [true, false]);
    w.establish(ms(500));
    w
}

#[test]
fn a_tunnel_comes_up_and_messages_route_by_spi() {
    let mut w = up_world(1);
    for n in &w.nodes {
        assert!(n.established());
        assert_eq!(n.children.len(), 1);
        assert_eq!(n.health(), Health::Up);
    }
    // A's inbound SPI is B's outbound.
    assert_eq!(w.nodes[0].children[0].0, w.nodes[1].children[0].1);
    assert!(w.nodes[1].handled.contains(&DatagramEvent::NewSa(T)));
    assert!(w.nodes[1].handled.contains(&DatagramEvent::Routed(T)));
    // An idle tunnel is never checked for liveness by traffic.
    w.run_for(Duration::from_secs(5));
    assert_eq!(w.nodes[0].ep.stats().liveness_checks, 0);
}

#[test]
fn simultaneous_starts_end_in_one_sa() {
    for seed in 1..=6 {
        let mut w = World::new(seed, EndpointConfig::default(), [true, true]);
        w.establish(Duration::from_secs(5));
        w.run_for(Duration::from_secs(2));
        let (a, b) = (&w.nodes[0], &w.nodes[1]);
        assert_eq!(a.children.len(), 1, "seed {seed}: {:?}", a.children);
        assert_eq!(b.children.len(), 1, "seed {seed}");
        assert_eq!(a.children[0].0, b.children[0].1, "seed {seed}");
        assert_eq!(a.children[0].1, b.children[0].0, "seed {seed}");
        // The lower address (A) kept its own and ignored B's request.
        assert!(w.nodes[0].ep.stats().simultaneous_start >= 1, "seed {seed}");
    }
}

#[test]
fn a_dead_peer_is_suspect_within_a_second_then_dead_then_retried() {
    let mut w = up_world(2);
    w.traffic = Some(endpoint_net::Traffic {
        from: 0,
        every: ms(1),
        two_way: true,
    });
    w.run_for(Duration::from_secs(2));
    assert_eq!(w.nodes[0].health(), Health::Up);
    assert_eq!(w.nodes[0].ep.stats().liveness_checks, 0, "two-way traffic");
    let failed = w.now;
    w.blackhole = true;
    let suspect = w.wait_health(0, "suspect", Duration::from_secs(2));
    let gap = suspect - failed;
    // quiet (250) + suspect_after (500) + one observation (25) at most.
    assert!(gap <= ms(800), "suspect after {gap:?}");
    assert!(gap >= ms(700), "suspect too early: {gap:?}");
    assert_eq!(w.nodes[0].health(), Health::Suspect(Suspicion::NoAnswer));
    // The check's schedule runs out in about 3.6 s: the SA is dead.
    let down = w.wait_health(0, "down", Duration::from_secs(5));
    let dead_after = down - failed;
    assert!(
        dead_after > Duration::from_secs(3) && dead_after < Duration::from_secs(5),
        "{dead_after:?}"
    );
    assert!(w.nodes[0]
        .events
        .iter()
        .any(|(_, e)| matches!(e, TunnelEvent::Sa(Event::Down(DownReason::Dead)))));
    assert!(w.nodes[0].children.is_empty());
    // Retries: after 0.5 s, then (each attempt failing after its own
    // retransmissions) 1 s, 2 s later.
    let attempts_before = w.nodes[0].count(|e| matches!(e, TunnelEvent::Connecting { .. }));
    w.run_for(ms(600));
    assert_eq!(
        w.nodes[0].count(|e| matches!(e, TunnelEvent::Connecting { .. })),
        attempts_before + 1,
        "first retry within 0.6 s"
    );
    // The peer comes back: the next retransmission of IKE_SA_INIT gets
    // through; the tunnel rejoins after the hold-down.
    w.blackhole = false;
    let rejoining = w.wait_health(0, "rejoining", Duration::from_secs(10));
    let up = w.wait_health(0, "up", Duration::from_secs(3));
    assert!(
        up - rejoining >= ms(1990),
        "hold-down: {:?}",
        up - rejoining
    );
}

#[test]
fn a_one_way_stream_is_checked_and_never_suspect_on_a_lossy_link() {
    for seed in 1..=4 {
        let mut w = up_world(10 + seed);
        w.traffic = Some(endpoint_net::Traffic {
            from: 0,
            every: ms(1),
            two_way: false,
        });
        w.loss_percent = 2;
        w.run_for(Duration::from_secs(60));
        let s = w.nodes[0].ep.stats();
        assert_eq!(s.suspects, 0, "seed {seed}: {:?}", w.nodes[0].health_log());
        assert_eq!(w.nodes[0].health(), Health::Up);
        // One check every quiet interval or so.
        assert!(
            s.liveness_checks > 100 && s.liveness_checks < 260,
            "seed {seed}: {} checks",
            s.liveness_checks
        );
        assert!(w.nodes[0].ep.tunnel(T).unwrap().rtt.is_some());
    }
}

#[test]
fn sparse_traffic_is_never_suspect() {
    let mut w = up_world(3);
    w.traffic = Some(endpoint_net::Traffic {
        from: 0,
        every: Duration::from_secs(5),
        two_way: true,
    });
    w.run_for(Duration::from_secs(60));
    assert_eq!(w.nodes[0].ep.stats().suspects, 0);
    assert_eq!(w.nodes[0].ep.stats().liveness_checks, 0);
}

#[test]
fn a_blackout_shorter_than_the_dead_bound_recovers_after_the_hold_down() {
    let mut w = up_world(4);
    w.traffic = Some(endpoint_net::Traffic {
        from: 0,
        every: ms(1),
        two_way: true,
    });
    w.run_for(Duration::from_secs(1));
    w.blackhole = true;
    w.wait_health(0, "suspect", Duration::from_secs(1));
    w.run_for(ms(500));
    w.blackhole = false;
    let back = w.now;
    let rejoin = w.wait_health(0, "rejoining", Duration::from_secs(2));
    assert!(
        rejoin - back < Duration::from_secs(1),
        "{:?}",
        rejoin - back
    );
    let up = w.wait_health(0, "up", Duration::from_secs(3));
    assert!(up - rejoin >= ms(1990));
    // The same IKE SA and Child SA all along.
    assert_eq!(
        w.nodes[0].count(|e| matches!(e, TunnelEvent::Sa(Event::Established { .. }))),
        1
    );
    assert_eq!(w.nodes[0].children.len(), 1);
}

#[test]
fn a_path_failure_takes_flows_off_at_once_and_a_check_brings_them_back() {
    let mut w = up_world(5);
    let t0 = w.now;
    w.nodes[0].ep.path_down(t0, T);
    assert_eq!(w.nodes[0].health(), Health::Suspect(Suspicion::PathDown));
    // The check is answered (the path was fine after all): back.
    w.wait_health(0, "rejoining", ms(100));
    w.wait_health(0, "up", Duration::from_secs(3));
    // With the path really down, the tunnel stays suspect until it is
    // back, then rejoins.
    w.blackhole = true;
    let t1 = w.now;
    w.nodes[0].ep.path_down(t1, T);
    w.run_for(Duration::from_secs(1));
    assert_eq!(w.nodes[0].health(), Health::Suspect(Suspicion::PathDown));
    w.blackhole = false;
    let t2 = w.now;
    w.nodes[0].ep.path_up(t2, T);
    let r = w.wait_health(0, "rejoining", ms(100));
    assert!(r - t2 < ms(10), "checked at once: {:?}", r - t2);
}

#[test]
fn a_delete_from_the_peer_takes_the_tunnel_down_and_the_initiator_reconnects() {
    let mut w = up_world(6);
    let now = w.now;
    w.nodes[1].ep.close_all(now);
    let down = w.wait_health(0, "down", ms(100));
    assert!(w.nodes[0]
        .events
        .iter()
        .any(|(_, e)| matches!(e, TunnelEvent::Sa(Event::Down(DownReason::PeerDeleted)))));
    // B is closing and refuses nothing but starts nothing either; make a
    // fresh B that answers.
    let fresh = World::new(60, EndpointConfig::default(), [false, false]);
    let [_, b] = fresh.nodes;
    w.nodes[1] = b;
    let rejoin = w.wait_health(0, "rejoining", Duration::from_secs(2));
    assert!(rejoin - down < ms(700), "retried after {:?}", rejoin - down);
}

#[test]
fn a_restarted_peer_replaces_the_sa_and_the_tunnel_keeps_carrying() {
    let mut w = up_world(7);
    // B loses all state and initiates afresh.
    let fresh = World::new(70, EndpointConfig::default(), [false, true]);
    let [_, b] = fresh.nodes;
    w.nodes[1] = b;
    w.run_for(Duration::from_secs(1));
    assert!(w.nodes[0].events.iter().any(|(_, e)| matches!(
        e,
        TunnelEvent::Replaced {
            was_established: true
        }
    )));
    assert_eq!(w.nodes[0].children.len(), 1, "the old Child SA went");
    assert_eq!(w.nodes[0].children[0].0, w.nodes[1].children[0].1);
    assert_eq!(
        w.nodes[0].health(),
        Health::Up,
        "{:?}",
        w.nodes[0].health_log()
    );
}

#[test]
fn an_esp_soft_lifetime_rekeys_the_current_child_sa_only() {
    let mut w = up_world(8);
    let (inbound, outbound) = w.nodes[0].children[0];
    let now = w.now;
    let old_event = esp::SaEvent {
        spi: 0xdead_beef,
        kind: esp::SaEventKind::SoftExpired(esp::LimitKind::Bytes),
    };
    assert!(!w.nodes[0].ep.sa_event(now, T, old_event), "not ours");
    let soft = esp::SaEvent {
        spi: outbound,
        kind: esp::SaEventKind::SoftExpired(esp::LimitKind::Bytes),
    };
    assert!(w.nodes[0].ep.sa_event(now, T, soft));
    w.run_for(Duration::from_secs(5));
    let (a, b) = (&w.nodes[0], &w.nodes[1]);
    assert_eq!(a.children.len(), 1, "{:?}", a.children);
    assert_ne!(a.children[0].0, inbound, "a new Child SA");
    assert_eq!(a.children[0].0, b.children[0].1);
    assert_eq!(a.health(), Health::Up, "a rekey is no outage");
    // The new pair's soft lifetime works the same way.
    let (_, new_out) = a.children[0];
    let now = w.now;
    let low = esp::SaEvent {
        spi: new_out,
        kind: esp::SaEventKind::SequenceLow,
    };
    assert!(w.nodes[0].ep.sa_event(now, T, low));
}

#[test]
fn strangers_garbage_and_unknown_spis_are_dropped_and_counted() {
    let mut w = up_world(9);
    let now = w.now;
    let local = w.local(1);
    let ep = &mut w.nodes[1].ep;
    assert_eq!(
        ep.handle(now, local, "203.0.113.9:500".parse().unwrap(), b"junk"),
        DatagramEvent::Dropped(Dropped::Undecodable)
    );
    // A real IKE_SA_INIT from an unconfigured address.
    let stranger = World::new(90, EndpointConfig::default(), [true, false]);
    let init = stranger.in_flight[0].2.clone();
    let from: SocketAddr = "203.0.113.9:500".parse().unwrap();
    assert_eq!(
        ep.handle(now, local, from, &init.data),
        DatagramEvent::Dropped(Dropped::Unconfigured)
    );
    // A message for an SA that does not exist.
    let mut unknown = init.data.clone();
    unknown[8..16].copy_from_slice(&[1; 8]); // an SPIr we never made
    assert_eq!(
        ep.handle(now, local, "192.0.2.1:500".parse().unwrap(), &unknown),
        DatagramEvent::Dropped(Dropped::UnknownSpi)
    );
    let s = ep.stats();
    assert_eq!((s.undecodable, s.unconfigured, s.unknown_spi), (1, 1, 1));
}

#[test]
fn cookies_are_required_and_honoured_through_the_endpoint() {
    let cfg = EndpointConfig {
        cookie_threshold: 0,
        ..EndpointConfig::default()
    };
    let mut w = World::new(11, cfg, [true, false]);
    w.establish(Duration::from_secs(2));
    assert!(w.nodes[1].handled.contains(&DatagramEvent::Cookie));
    assert_eq!(w.nodes[1].ep.cookie_stats().verified, 1);
    assert_eq!(w.nodes[1].ep.half_open(), 0);
}

#[test]
fn a_responder_only_tunnel_waits_for_the_peer() {
    let mut w = World::with_tunnels(
        12,
        EndpointConfig::default(),
        [tunnel(0, false), tunnel(1, false)],
    );
    w.run_for(Duration::from_secs(5));
    assert_eq!(w.sent, [0, 0]);
    assert_eq!(w.nodes[0].health(), Health::Down);
}
