//! Responder DoS protection (RFC 7296 §2.6) in the simulated network: a
//! responder that demands a cookie, an initiator that retries with it
//! (also after INVALID_KE_PAYLOAD, §2.6.1), and a half-open responder SA
//! that expires when IKE_AUTH never comes.

mod util;

use ike::sa::{CookieGate, DownReason, IkeConfig, IkeSa, DEFAULT_HALF_OPEN_TIMEOUT};
use ike::wire::{ExchangeType, Message, NotifyType};
use std::time::Duration;
use util::*;

fn gate(net: &Net, threshold: usize) -> CookieGate {
    CookieGate::new(net.now, threshold, 64, rng(100 + net.seed)).unwrap()
}

/// A's IKE_SA_INIT requests as logged: whether each carried a cookie
/// (as its first payload) and its KE group.
fn init_requests(net: &Net) -> Vec<(bool, u16)> {
    net.log
        .iter()
        .filter(|(who, _)| *who == 'a')
        .filter_map(|(_, d)| Message::decode(d).ok())
        .filter(|m| m.header.exchange_type == ExchangeType::IkeSaInit)
        .map(|m| {
            let first_is_cookie = matches!(m.payloads.first(),
                Some(ike::wire::Payload::Notify(n)) if n.notify_type == NotifyType::Cookie);
            let group = m.payloads.iter().find_map(|p| match p {
                ike::wire::Payload::Ke(k) => Some(k.group.value()),
                _ => None,
            });
            (first_is_cookie, group.unwrap_or(0))
        })
        .collect()
}

fn establish_through_gate(a_cfg: IkeConfig, b_cfg: IkeConfig, net: &mut Net) -> (Side, Side) {
    net.gate = Some(gate(net, 0));
    let (mut a, mut b) = establish_with(a_cfg, b_cfg.clone(), net);
    // Losses cost retransmissions.
    drive(net, &mut a, &mut b, &b_cfg, Duration::from_secs(20));
    assert_up(&a, &b, "through the cookie gate");
    (a, b)
}

#[test]
fn the_initiator_retries_with_the_cookie_and_completes() {
    for seed in 0..4 {
        let mut net = net();
        net.seed = seed;
        let a_cfg = config("aes256gcm16-prfsha384-ecp384", "aes256gcm16", "k", A);
        let b_cfg = config("aes256gcm16-prfsha384-ecp384", "aes256gcm16", "k", B);
        establish_through_gate(a_cfg, b_cfg, &mut net);
        assert_eq!(
            init_requests(&net),
            [(false, 20), (true, 20)],
            "seed {seed}"
        );
        let s = net.gate.as_ref().unwrap().stats();
        assert_eq!((s.sent, s.verified, s.invalid, s.refused), (1, 1, 0, 0));
    }
}

#[test]
fn cookies_through_loss_duplication_and_reordering() {
    for seed in 0..4 {
        for (drop_every, duplicate, reverse) in [
            (3, false, false),
            (4, true, true),
            (5, false, true),
            (0, true, true),
        ] {
            let mut net = net();
            net.seed = seed;
            net.drop_every = drop_every;
            net.duplicate = duplicate;
            net.reverse = reverse;
            let a_cfg = config("aes256gcm16-prfsha384-ecp384", "aes256gcm16", "k", A);
            let b_cfg = config("aes256gcm16-prfsha384-ecp384", "aes256gcm16", "k", B);
            establish_through_gate(a_cfg, b_cfg, &mut net);
            let s = net.gate.as_ref().unwrap().stats();
            assert!(s.sent >= 1 && s.verified >= 1 && s.invalid == 0, "{s:?}");
        }
    }
}

/// §2.6.1: the initiator keeps the cookie when it retries with the group
/// the responder asked for.
#[test]
fn a_cookie_then_invalid_ke_payload() {
    let mut net = net();
    let a_cfg = config("aes256gcm16-prfsha384-ecp384-x25519", "aes256gcm16", "k", A);
    let b_cfg = config("aes256gcm16-prfsha384-x25519", "aes256gcm16", "k", B);
    establish_through_gate(a_cfg, b_cfg, &mut net);
    assert_eq!(init_requests(&net), [(false, 20), (true, 20), (true, 31)]);
    let s = net.gate.as_ref().unwrap().stats();
    assert_eq!((s.sent, s.verified), (1, 2));
}

/// A responder whose IKE_AUTH never comes gives up after the half-open
/// timeout, and says so; one that is authenticated in time does not.
#[test]
fn a_half_open_responder_expires() {
    let mut net = net();
    let a_cfg = config("aes256gcm16-prfsha384-ecp384", "aes256gcm16", "k", A);
    let mut b_cfg = config("aes256gcm16-prfsha384-ecp384", "aes256gcm16", "k", B);
    b_cfg.half_open_timeout = Duration::from_secs(5);
    let start = net.now;
    let mut a = IkeSa::initiate(
        a_cfg,
        A.parse().unwrap(),
        B.parse().unwrap(),
        net.now,
        rng(1),
    );
    let request = a.poll_transmit().unwrap();
    let ike::sa::Accepted::Sa(sa) = IkeSa::accept(
        b_cfg.clone(),
        B.parse().unwrap(),
        A.parse().unwrap(),
        &request.data,
        net.now,
        rng(2),
    ) else {
        panic!("not accepted");
    };
    let mut b = Side {
        sa: Some(*sa),
        events: vec![],
    };
    // A is gone: nothing reaches B again.
    let mut gone = Side {
        sa: None,
        events: vec![],
    };
    assert_eq!(
        b.sa.as_ref().unwrap().poll_timeout(),
        Some(start + Duration::from_secs(5))
    );
    drive(&mut net, &mut gone, &mut b, &b_cfg, Duration::from_secs(60));
    assert_eq!(b.down(), Some(&DownReason::HalfOpenExpired));
    assert_eq!(net.now, start + Duration::from_secs(5));
    assert!(b.sa.as_ref().unwrap().is_closed());

    // With the default timeout, a normal exchange is unaffected.
    let mut net = util::net();
    let a_cfg = config("aes256gcm16-prfsha384-ecp384", "aes256gcm16", "k", A);
    let b_cfg = config("aes256gcm16-prfsha384-ecp384", "aes256gcm16", "k", B);
    let (mut a, mut b) = establish_with(a_cfg, b_cfg.clone(), &mut net);
    assert_up(&a, &b, "default timeout");
    drive(
        &mut net,
        &mut a,
        &mut b,
        &b_cfg,
        DEFAULT_HALF_OPEN_TIMEOUT * 2,
    );
    assert!(b.down().is_none() && a.down().is_none());
}
