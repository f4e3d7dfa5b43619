use super::*;
use crate::crypto::InsecureTestRng;
use crate::wire::{ExchangeType, Flags, Header, Nonce};

const LOCAL: &str = "192.0.2.1:500";
const PEER: &str = "192.0.2.2:500";

fn gate(threshold: usize, max: usize, now: Instant) -> CookieGate {
    let rng = Box::new(InsecureTestRng::from_seed(7));
    CookieGate::new(now, threshold, max, rng).unwrap()
}

fn request(spi_i: u64, ni: &[u8], cookie: Option<&[u8]>) -> Message {
    let header = Header::new(
        spi_i,
        0,
        ExchangeType::IkeSaInit,
        Flags::new(true, false),
        0,
    );
    let mut payloads = Vec::new();
    if let Some(c) = cookie {
        payloads.push(Payload::Notify(Notify::new(NotifyType::Cookie, c.to_vec())));
    }
    payloads.push(Payload::Nonce(Nonce(ni.to_vec())));
    Message::new(header, payloads)
}

fn check(g: &mut CookieGate, now: Instant, from: &str, msg: &Message, half_open: usize) -> Verdict {
    g.check(
        now,
        LOCAL.parse().unwrap(),
        from.parse().unwrap(),
        msg,
        half_open,
    )
}

/// The cookie a reply carries, after checking the reply is what §2.6 and
/// §3.1 say: the initiator's SPI, SPIr zero, a response from the
/// responder, message ID 0, and nothing but N(COOKIE).
fn cookie_of(v: &Verdict, spi_i: u64, to: &str) -> Vec<u8> {
    let Verdict::Cookie(t) = v else {
        panic!("expected a cookie reply, got {v:?}");
    };
    assert_eq!(t.remote, to.parse().unwrap());
    assert_eq!(t.local_port, 500);
    let msg = Message::decode(&t.data).unwrap();
    let h = msg.header;
    assert_eq!((h.spi_i, h.spi_r, h.message_id), (spi_i, 0, 0));
    assert_eq!(h.exchange_type, ExchangeType::IkeSaInit);
    assert!(h.flags.response() && !h.flags.initiator());
    assert_eq!(msg.payloads.len(), 1);
    let c = msg.notify(NotifyType::Cookie).unwrap().data.clone();
    assert_eq!(c.len(), 1 + TAG_LEN);
    c
}

#[test]
fn a_valid_cookie_is_accepted() {
    let now = Instant::now();
    let mut g = gate(0, 64, now);
    let ni = [0x11; 32];
    let v = check(&mut g, now, PEER, &request(42, &ni, None), 0);
    let c = cookie_of(&v, 42, PEER);
    let v = check(&mut g, now, PEER, &request(42, &ni, Some(&c[..])), 0);
    assert_eq!(v, Verdict::Accept);
    let s = g.stats();
    assert_eq!((s.sent, s.verified, s.invalid, s.refused), (1, 1, 0, 0));
    // The same inputs make the same cookie: no state per initiator.
    let again = check(&mut g, now, PEER, &request(42, &ni, None), 0);
    assert_eq!(cookie_of(&again, 42, PEER), c);
}

#[test]
fn a_cookie_for_another_nonce_address_or_spi_is_refused() {
    let now = Instant::now();
    let mut g = gate(0, 64, now);
    let ni = [0x22; 32];
    let c = cookie_of(
        &check(&mut g, now, PEER, &request(7, &ni, None), 0),
        7,
        PEER,
    );
    let other_ni = check(&mut g, now, PEER, &request(7, &[0x23; 32], Some(&c[..])), 0);
    let other_ip = check(
        &mut g,
        now,
        "192.0.2.9:500",
        &request(7, &ni, Some(&c[..])),
        0,
    );
    let other_spi = check(&mut g, now, PEER, &request(8, &ni, Some(&c[..])), 0);
    // Each is answered with a fresh cookie for what it did send.
    assert_ne!(cookie_of(&other_ni, 7, PEER), c);
    assert_ne!(cookie_of(&other_ip, 7, "192.0.2.9:500"), c);
    assert_ne!(cookie_of(&other_spi, 8, PEER), c);
    let mut bad = c.clone();
    bad[5] ^= 1;
    cookie_of(
        &check(&mut g, now, PEER, &request(7, &ni, Some(&bad[..])), 0),
        7,
        PEER,
    );
    cookie_of(
        &check(&mut g, now, PEER, &request(7, &ni, Some(&[][..])), 0),
        7,
        PEER,
    );
    cookie_of(
        &check(&mut g, now, PEER, &request(7, &ni, Some(&c[..9])), 0),
        7,
        PEER,
    );
    assert_eq!(g.stats().invalid, 6);
    assert_eq!(g.stats().verified, 0);
    // The port is not part of it (a NAT may change it).
    let v = check(
        &mut g,
        now,
        "192.0.2.2:4500",
        &request(7, &ni, Some(&c[..])),
        0,
    );
    assert_eq!(v, Verdict::Accept);
}

#[test]
fn a_rotated_secret_is_accepted_within_its_grace_and_refused_after() {
    let t0 = Instant::now();
    let mut g = gate(0, 64, t0);
    let ni = [0x33; 32];
    let old = cookie_of(&check(&mut g, t0, PEER, &request(9, &ni, None), 0), 9, PEER);
    // Just after the rotation: a new secret (and version), the old one
    // still good.
    let t1 = t0 + COOKIE_ROTATE + Duration::from_secs(1);
    let new = cookie_of(&check(&mut g, t1, PEER, &request(9, &ni, None), 0), 9, PEER);
    assert_ne!(new[0], old[0], "a new version ID");
    assert_eq!(
        check(&mut g, t1, PEER, &request(9, &ni, Some(&old[..])), 0),
        Verdict::Accept
    );
    assert_eq!(
        check(&mut g, t1, PEER, &request(9, &ni, Some(&new[..])), 0),
        Verdict::Accept
    );
    // Past the grace period the old one is refused, the new one is fine.
    let t2 = t0 + COOKIE_ROTATE + COOKIE_GRACE;
    let v = check(&mut g, t2, PEER, &request(9, &ni, Some(&old[..])), 0);
    assert_eq!(cookie_of(&v, 9, PEER), new);
    assert_eq!(
        check(&mut g, t2, PEER, &request(9, &ni, Some(&new[..])), 0),
        Verdict::Accept
    );
    // Two rotations on, neither is.
    let t3 = t1 + COOKIE_ROTATE + COOKIE_GRACE;
    let v = check(&mut g, t3, PEER, &request(9, &ni, Some(&new[..])), 0);
    assert_ne!(cookie_of(&v, 9, PEER), new);
    assert_eq!(g.stats().invalid, 2);
}

#[test]
fn cookies_only_at_the_threshold_and_nothing_at_the_cap() {
    let now = Instant::now();
    let mut g = gate(2, 4, now);
    let ni = [0x44; 32];
    assert!(!g.required(1));
    assert_eq!(
        check(&mut g, now, PEER, &request(1, &ni, None), 1),
        Verdict::Accept
    );
    let c = cookie_of(
        &check(&mut g, now, PEER, &request(1, &ni, None), 2),
        1,
        PEER,
    );
    assert_eq!(
        check(&mut g, now, PEER, &request(1, &ni, Some(&c[..])), 3),
        Verdict::Accept
    );
    // At the cap even a good cookie gets nothing; without one, a cookie
    // (stateless) is still the answer.
    assert_eq!(
        check(&mut g, now, PEER, &request(1, &ni, Some(&c[..])), 4),
        Verdict::Refuse
    );
    cookie_of(
        &check(&mut g, now, PEER, &request(1, &ni, None), 4),
        1,
        PEER,
    );
    // Below the threshold a stale cookie does no harm.
    assert_eq!(
        check(&mut g, now, PEER, &request(1, &ni, Some(&[9u8; 17][..])), 0),
        Verdict::Accept
    );
    let s = g.stats();
    assert_eq!((s.sent, s.verified, s.invalid, s.refused), (2, 2, 1, 1));
}

#[test]
fn ipv6_initiators_and_non_requests() {
    let now = Instant::now();
    let mut g = gate(0, 64, now);
    let from = "[2001:db8::2]:500";
    let ni = [0x55; 16];
    let c = cookie_of(
        &check(&mut g, now, from, &request(3, &ni, None), 0),
        3,
        from,
    );
    assert_eq!(
        check(&mut g, now, from, &request(3, &ni, Some(&c[..])), 0),
        Verdict::Accept
    );
    // A response, or a request with no nonce, is left to `accept`.
    let mut resp = request(3, &ni, None);
    resp.header.flags = Flags::new(false, true);
    assert_eq!(check(&mut g, now, from, &resp, 0), Verdict::Accept);
    let mut no_nonce = request(3, &ni, None);
    no_nonce.payloads.clear();
    assert_eq!(check(&mut g, now, from, &no_nonce, 0), Verdict::Accept);
    assert!(!format!("{g:?}").contains("key"), "no secret in Debug");
}
