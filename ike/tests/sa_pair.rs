//! Two sans-IO IKE endpoints through a simulated network with virtual time
//! (quinn's `Pair::drive()` idea): they must agree on keys, and the keys
//! must carry ESP, through loss and duplication, for several proposal sets.

mod util;

use ike::sa::{DownReason, Event};
use std::time::Duration;
use util::*;

#[test]
fn establishes_with_three_proposal_sets() {
    for (ike, esp) in [
        ("aes256gcm16-prfsha384-ecp384", "aes256gcm16"),
        ("aes256-sha256-modp2048", "aes256-sha256"),
        ("aes128-sha256-x25519", "chacha20poly1305-esn"),
        ("aes256gcm16-prfsha256-ecp256", "aes128gcm16"),
    ] {
        let mut net = net();
        let (a, b) = establish(ike, esp, ike, esp, "shared secret", &mut net);
        assert!(
            a.established() && b.established(),
            "{ike}: {:?} / {:?}",
            a.events,
            b.events
        );
        let (ca, cb) = (a.child().expect("A child"), b.child().expect("B child"));
        assert_esp_works(ca, cb);
        assert!(!ca.encap && !cb.encap, "no NAT here, on either side");
        assert_eq!(a.down(), None);
        assert_eq!(net.sent, 4, "{ike}: four messages");
    }
}

#[test]
fn deterministic_transcript() {
    let run = || {
        let mut net = net();
        let (a, _, _) = establish_default(&mut net);
        let c = a.child().unwrap().clone();
        (c.inbound.enc_key, c.outbound.spi)
    };
    assert_eq!(run(), run());
}

#[test]
fn survives_loss_and_duplication() {
    // (Dropping every 2nd datagram would drop every response forever: a
    // strict request/response dialogue cannot survive that.)
    for (drop_every, duplicate) in [(3, false), (4, true), (5, false), (0, true)] {
        let mut net = net();
        net.drop_every = drop_every;
        net.duplicate = duplicate;
        let (a, b, _) = establish_default(&mut net);
        assert!(
            a.established() && b.established(),
            "drop {drop_every} dup {duplicate}: {:?} / {:?}",
            a.events,
            b.events
        );
        assert_esp_works(a.child().unwrap(), b.child().unwrap());
        assert_eq!(
            a.events
                .iter()
                .filter(|e| matches!(e, Event::ChildUp(_)))
                .count(),
            1
        );
        assert_eq!(
            b.events
                .iter()
                .filter(|e| matches!(e, Event::ChildUp(_)))
                .count(),
            1
        );
    }
}

#[test]
fn invalid_ke_payload_retry() {
    let mut net = net();
    // A sends an ECP-384 KE first but also offers MODP-2048; B wants MODP-2048.
    let (a, b) = establish(
        "aes256-sha256-ecp384-modp2048",
        "aes256-sha256",
        "aes256-sha256-modp2048",
        "aes256-sha256",
        "shared secret",
        &mut net,
    );
    assert!(
        a.established() && b.established(),
        "{:?} / {:?}",
        a.events,
        b.events
    );
    // INIT, (stateless INVALID_KE_PAYLOAD reply, not kept by B), INIT again,
    // its response, IKE_AUTH and its response.
    assert_eq!(
        net.sent, 5,
        "INVALID_KE_PAYLOAD round trip, then the exchange"
    );
}

#[test]
fn wrong_psk_fails_on_both_sides() {
    let mut net = net();
    let (a, b) = establish(
        "aes256gcm16-prfsha384-ecp384",
        "aes256gcm16",
        "aes256gcm16-prfsha384-ecp384",
        "aes256gcm16",
        "another secret",
        &mut net,
    );
    assert_eq!(b.down(), Some(&DownReason::AuthenticationFailed));
    assert_eq!(a.down(), Some(&DownReason::AuthenticationFailed));
    assert!(a.child().is_none() && b.child().is_none());
}

#[test]
fn no_common_proposal() {
    let mut net = net();
    let (a, b) = establish(
        "aes256gcm16-prfsha384-ecp384",
        "aes256gcm16",
        "aes256-sha256-modp2048",
        "aes256-sha256",
        "shared secret",
        &mut net,
    );
    assert_eq!(a.down(), Some(&DownReason::NoProposalChosen));
    assert_eq!(b.down(), Some(&DownReason::NoProposalChosen));
    assert!(b.sa.is_none(), "the responder keeps no state");
    // Matching IKE but no common ESP: the IKE SA authenticates, the child fails.
    let mut net2 = self::net();
    let (a, b) = establish(
        "aes256gcm16-prfsha384-ecp384",
        "aes256gcm16",
        "aes256gcm16-prfsha384-ecp384",
        "aes256-sha256",
        "shared secret",
        &mut net2,
    );
    assert_eq!(a.down(), Some(&DownReason::NoProposalChosen));
    assert_eq!(b.down(), Some(&DownReason::NoProposalChosen));
}

#[test]
fn dead_peer_is_declared_within_the_retransmit_bound() {
    let mut net = net();
    let (mut a, mut b, _) = establish_default(&mut net);
    let start = net.now;
    b.sa = None; // the responder dies silently
    let cfg = config("aes256gcm16-prfsha384-ecp384", "aes256gcm16", "x", B);
    drive(&mut net, &mut a, &mut b, &cfg, Duration::from_secs(60));
    assert_eq!(a.down(), Some(&DownReason::Dead));
    let took = net.now - start;
    // DPD after 10 s idle, then 0.5 + 1 + 2 + 2 s of retransmits.
    assert!(took <= Duration::from_secs(16), "took {took:?}");
    assert!(a
        .events
        .iter()
        .any(|e| matches!(e, Event::ChildDown { .. })));
}

#[test]
fn delete_closes_both_sides() {
    let mut net = net();
    let (mut a, mut b, cfg) = establish_default(&mut net);
    a.sa.as_mut().unwrap().close(net.now);
    drive(&mut net, &mut a, &mut b, &cfg, Duration::from_secs(5));
    assert_eq!(a.down(), Some(&DownReason::Closed));
    assert_eq!(b.down(), Some(&DownReason::PeerDeleted));
    assert!(b
        .events
        .iter()
        .any(|e| matches!(e, Event::ChildDown { .. })));
}

#[test]
fn liveness_checks_keep_a_healthy_sa_up() {
    let mut net = net();
    let (mut a, mut b, cfg) = establish_default(&mut net);
    drive(&mut net, &mut a, &mut b, &cfg, Duration::from_secs(60));
    assert_eq!(a.down(), None);
    assert_eq!(b.down(), None);
    assert!(
        net.sent >= 4 + 2 * 5,
        "DPD exchanges happened: {}",
        net.sent
    );
}

/// Rekeys every ~10 s for a minute, started by either side, through loss:
/// each new pair works, each old pair is removed after the grace period,
/// and only one pair stays current.
#[test]
fn child_sa_rekeys_make_before_break() {
    for (a_rekeys, b_rekeys, drop_every) in [(true, false, 0), (false, true, 0), (true, true, 7)] {
        let mut net = net();
        net.drop_every = drop_every;
        let mut a_cfg = config(
            "aes256gcm16-prfsha384-ecp384",
            "aes256gcm16",
            "shared secret",
            A,
        );
        let mut b_cfg = config(
            "aes256gcm16-prfsha384-ecp384",
            "aes256gcm16",
            "shared secret",
            B,
        );
        a_cfg.dpd_interval = None;
        b_cfg.dpd_interval = None;
        if a_rekeys {
            a_cfg.child_rekey_after = Some(Duration::from_secs(10));
        }
        if b_rekeys {
            b_cfg.child_rekey_after = Some(Duration::from_secs(11));
        }
        let (mut a, mut b) = establish_with(a_cfg, b_cfg.clone(), &mut net);
        drive(&mut net, &mut a, &mut b, &b_cfg, Duration::from_secs(60));
        let label = format!("a_rekeys={a_rekeys} b_rekeys={b_rekeys} drop={drop_every}");
        assert_eq!(a.down(), None, "{label}: {:?}", a.events);
        assert_eq!(b.down(), None, "{label}: {:?}", b.events);
        let (ua, ub) = (children_up(&a), children_up(&b));
        assert!(ua.len() >= 5, "{label}: only {} Child SAs", ua.len());
        assert_eq!(ua.len(), ub.len(), "{label}");
        // Pair by SPI: every new pair carries ESP.
        for ca in &ua {
            let cb = ub
                .iter()
                .find(|cb| cb.inbound.spi == ca.outbound.spi)
                .expect("matching pair");
            assert_esp_works(ca, cb);
        }
        // All but the newest were removed on both sides; the last old pair
        // may still be inside its grace period when the simulation stops.
        for (side, ups) in [(&a, ua.len()), (&b, ub.len())] {
            let downs = children_down(side).len();
            assert!(
                downs == ups - 1 || downs == ups - 2,
                "{label}: {downs} of {ups} removed"
            );
        }
        assert!(!children_down(&a).contains(&ua.last().unwrap().inbound.spi));
    }
}

#[test]
fn rekey_with_pfs() {
    let mut net = net();
    let mut a_cfg = config(
        "aes256-sha256-modp2048",
        "aes256-sha256-modp2048",
        "shared secret",
        A,
    );
    let b_cfg = config(
        "aes256-sha256-modp2048",
        "aes256-sha256-modp2048",
        "shared secret",
        B,
    );
    a_cfg.child_rekey_after = Some(Duration::from_secs(5));
    a_cfg.dpd_interval = None;
    let (mut a, mut b) = establish_with(a_cfg, b_cfg.clone(), &mut net);
    drive(&mut net, &mut a, &mut b, &b_cfg, Duration::from_secs(12));
    let (ua, ub) = (children_up(&a), children_up(&b));
    assert!(ua.len() >= 2, "{:?}", a.events);
    let (na, nb) = (ua.last().unwrap(), ub.last().unwrap());
    assert_esp_works(na, nb);
    // PFS: the new keys differ from what a rekey without a KE would give;
    // at least they differ from the first pair's.
    assert_ne!(na.inbound.enc_key, ua[0].inbound.enc_key);
}

/// IKE SA rekeys from either side; Child SA rekeys and liveness checks keep
/// working under each new IKE SA (so both derived the same SK_d), and the
/// Child SAs survive every IKE rekey.
#[test]
fn ike_sa_rekeys_keep_children_and_keys_in_step() {
    for (a_ike, b_ike) in [(true, false), (false, true)] {
        let mut net = net();
        let mut a_cfg = config(
            "aes256gcm16-prfsha384-ecp384",
            "aes256gcm16",
            "shared secret",
            A,
        );
        let mut b_cfg = config(
            "aes256gcm16-prfsha384-ecp384",
            "aes256gcm16",
            "shared secret",
            B,
        );
        if a_ike {
            a_cfg.ike_rekey_after = Some(Duration::from_secs(15));
        }
        if b_ike {
            b_cfg.ike_rekey_after = Some(Duration::from_secs(15));
        }
        a_cfg.child_rekey_after = Some(Duration::from_secs(7));
        let (mut a, mut b) = establish_with(a_cfg, b_cfg.clone(), &mut net);
        drive(&mut net, &mut a, &mut b, &b_cfg, Duration::from_secs(60));
        let label = format!("a_ike={a_ike} b_ike={b_ike}");
        assert_eq!(a.down(), None, "{label}: {:?}", a.events);
        assert_eq!(b.down(), None, "{label}: {:?}", b.events);
        let (ra, rb) = (ike_rekeys(&a), ike_rekeys(&b));
        assert!(ra.len() >= 3, "{label}: {} IKE rekeys", ra.len());
        assert_eq!(ra, rb, "{label}: both sides agree on every new SA's SPIs");
        let (sa_a, sa_b) = (a.sa.as_ref().unwrap(), b.sa.as_ref().unwrap());
        assert_eq!((sa_a.spi_i(), sa_a.spi_r()), *ra.last().unwrap());
        assert_eq!((sa_b.spi_i(), sa_b.spi_r()), *ra.last().unwrap());
        // Child SAs rekeyed across IKE rekeys, and every pair works.
        let (ua, ub) = (children_up(&a), children_up(&b));
        assert!(ua.len() >= 7, "{label}: {} Child SAs", ua.len());
        for ca in &ua {
            let cb = ub
                .iter()
                .find(|cb| cb.inbound.spi == ca.outbound.spi)
                .expect("matching pair");
            assert_esp_works(ca, cb);
        }
    }
}

#[test]
fn ike_rekey_with_frequent_dpd_and_child_rekeys() {
    let mut net = net();
    let mut a_cfg = config(
        "aes256gcm16-prfsha384-ecp384",
        "aes256gcm16",
        "shared secret",
        A,
    );
    let b_cfg = config(
        "aes256gcm16-prfsha384-ecp384",
        "aes256gcm16",
        "shared secret",
        B,
    );
    a_cfg.dpd_interval = Some(Duration::from_secs(2));
    a_cfg.child_rekey_after = Some(Duration::from_secs(7));
    a_cfg.ike_rekey_after = Some(Duration::from_secs(20));
    a_cfg.rekey_grace = Duration::from_secs(2);
    let (mut a, mut b) = establish_with(a_cfg, b_cfg.clone(), &mut net);
    drive(&mut net, &mut a, &mut b, &b_cfg, Duration::from_secs(60));
    assert!(
        ike_rekeys(&a).len() >= 2,
        "{} IKE rekeys",
        ike_rekeys(&a).len()
    );
    assert_eq!(a.down(), None);
}
