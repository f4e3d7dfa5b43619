//! Hand-built messages shared by the error-handling tests: every octet
//! written by these helpers, none by the crate's encoder.
#![allow(dead_code, unused_imports)]

use bgp::wire::{
    frame, AsPath, AsSegment, Context, Message, NotificationCode, Origin, RawAttribute, Update,
    WireError,
};
use bgp::{Action, ConnId, DownReason, Event, ImportPolicy, Session, SessionConfig, State};
use ipnet::IpNet;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

pub const TWO: Context = Context {
    four_octet_as: false,
};
pub const FOUR: Context = Context {
    four_octet_as: true,
};

// Attribute flags (RFC 4271 §4.3).
pub const WELL_KNOWN: u8 = 0x40; // transitive, not optional
pub const OPTIONAL: u8 = 0x80;
pub const OPT_TRANS: u8 = 0xc0;
pub const EXTENDED: u8 = 0x10;

pub const AS_TRANS: u16 = 23456;
pub const PEER_AS: u32 = 65515;

// ---- octets ----

/// A whole message: marker, length, type, body.
pub fn message(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut m = vec![0xff; 16];
    let len = u16::try_from(19 + body.len()).unwrap();
    m.extend_from_slice(&len.to_be_bytes());
    m.push(kind);
    m.extend_from_slice(body);
    m
}

/// One path attribute; the length takes two octets with `EXTENDED`.
pub fn attr(flags: u8, code: u8, value: &[u8]) -> Vec<u8> {
    let mut a = vec![flags, code];
    if flags & EXTENDED != 0 {
        a.extend_from_slice(&u16::try_from(value.len()).unwrap().to_be_bytes());
    } else {
        a.push(u8::try_from(value.len()).unwrap());
    }
    a.extend_from_slice(value);
    a
}

/// An UPDATE of the three fields as given, with both lengths right.
pub fn update(withdrawn: &[u8], attrs: &[u8], nlri: &[u8]) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&u16::try_from(withdrawn.len()).unwrap().to_be_bytes());
    b.extend_from_slice(withdrawn);
    b.extend_from_slice(&u16::try_from(attrs.len()).unwrap().to_be_bytes());
    b.extend_from_slice(attrs);
    b.extend_from_slice(nlri);
    message(2, &b)
}

pub fn origin(v: u8) -> Vec<u8> {
    attr(WELL_KNOWN, 1, &[v])
}

/// One AS_SEQUENCE (or other segment `kind`) of 4-octet AS numbers.
pub fn segment4(kind: u8, asns: &[u32]) -> Vec<u8> {
    let mut v = vec![kind, u8::try_from(asns.len()).unwrap()];
    for a in asns {
        v.extend_from_slice(&a.to_be_bytes());
    }
    v
}

pub fn segment2(kind: u8, asns: &[u16]) -> Vec<u8> {
    let mut v = vec![kind, u8::try_from(asns.len()).unwrap()];
    for a in asns {
        v.extend_from_slice(&a.to_be_bytes());
    }
    v
}

pub fn as_path(asns: &[u32]) -> Vec<u8> {
    attr(WELL_KNOWN, 2, &segment4(2, asns))
}

pub fn next_hop() -> Vec<u8> {
    attr(WELL_KNOWN, 3, &[192, 0, 2, 1])
}

/// ORIGIN IGP, AS_PATH [65515], NEXT_HOP 192.0.2.1.
pub fn mandatory() -> Vec<u8> {
    [origin(0), as_path(&[PEER_AS]), next_hop()].concat()
}

/// 10.51.231.0/24 and 10.51.232.0/24.
pub const NLRI: [u8; 8] = [24, 10, 51, 231, 24, 10, 51, 232];

/// MP_REACH_NLRI for IPv6 unicast: next hop fd00:2::1, fd51::/48.
pub fn mp_reach_v6() -> Vec<u8> {
    let mut v = vec![0, 2, 1, 16];
    v.extend_from_slice(&"fd00:2::1".parse::<std::net::Ipv6Addr>().unwrap().octets());
    v.push(0);
    v.extend_from_slice(&[48, 0xfd, 0x51, 0, 0, 0, 0]);
    attr(OPTIONAL, 14, &v)
}

/// An OPEN body: version, AS, hold time, identifier, parameters.
pub fn open(version: u8, asn: u16, hold: u16, id: [u8; 4], params: &[u8]) -> Vec<u8> {
    let mut b = vec![version];
    b.extend_from_slice(&asn.to_be_bytes());
    b.extend_from_slice(&hold.to_be_bytes());
    b.extend_from_slice(&id);
    b.push(u8::try_from(params.len()).unwrap());
    b.extend_from_slice(params);
    message(1, &b)
}

/// Capabilities parameter: 4-octet AS 65515.
pub const CAP_AS4: [u8; 8] = [2, 6, 65, 4, 0, 0, 0xff, 0xeb];

// ---- outcomes ----

pub fn nets(s: &[&str]) -> Vec<IpNet> {
    s.iter().map(|x| x.parse().unwrap()).collect()
}

pub fn decode_update(msg: &[u8], ctx: &Context) -> Update {
    assert_eq!(frame(msg), Ok(Some(msg.len())), "test message framing");
    match Message::decode(msg, ctx) {
        Ok(Message::Update(u)) => u,
        other => panic!("expected an UPDATE, got {other:?}"),
    }
}

pub fn decode_error(msg: &[u8], ctx: &Context) -> WireError {
    match Message::decode(msg, ctx) {
        Err(e) => e,
        Ok(m) => panic!("expected an error, got {m:?}"),
    }
}

pub fn code(e: &WireError) -> (NotificationCode, u8) {
    (e.code, e.subcode)
}

/// Treat-as-withdraw: the routes are still found, and withdrawn.
pub fn assert_withdrawn(u: &Update, what: &str) {
    assert!(
        u.treat_as_withdraw.is_some(),
        "{what}: not treat-as-withdraw: {u:?}"
    );
    assert_eq!(
        u.nlri,
        nets(&["10.51.231.0/24", "10.51.232.0/24"]),
        "{what}"
    );
    let w: Vec<IpNet> = u.withdrawn_all().copied().collect();
    assert_eq!(w, u.nlri, "{what}: every announced route is withdrawn");
}

pub fn assert_accepted(u: &Update, what: &str) {
    assert_eq!(u.treat_as_withdraw, None, "{what}: {u:?}");
    assert_eq!(u.withdrawn_all().count(), 0, "{what}");
}
