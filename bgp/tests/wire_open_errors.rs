//! OPEN and header errors (RFC 4271 §6.1, §6.2) and the AS4_PATH merge
//! (RFC 6793 §4.2.3), on hand-built messages.

mod octets;

use bgp::wire::{frame, AsPath, AsSegment, Message, NotificationCode};
use octets::*;

// ---- OPEN and header errors (RFC 4271 §6.1, §6.2) ----

#[test]
fn open_errors() {
    let id = [192, 0, 2, 1];
    assert!(matches!(
        Message::decode(&open(4, 65515, 90, id, &CAP_AS4), &FOUR),
        Ok(Message::Open(_))
    ));
    // The version we support is the data.
    let e = decode_error(&open(3, 65515, 90, id, &CAP_AS4), &FOUR);
    assert_eq!(
        (code(&e), e.data.clone()),
        ((NotificationCode::Open, 1), vec![0, 4])
    );
    for hold in [1, 2] {
        let e = decode_error(&open(4, 65515, hold, id, &CAP_AS4), &FOUR);
        assert_eq!(code(&e), (NotificationCode::Open, 6), "hold {hold}");
    }
    for hold in [0, 3] {
        assert!(Message::decode(&open(4, 65515, hold, id, &CAP_AS4), &FOUR).is_ok());
    }
    let e = decode_error(&open(4, 65515, 90, [0; 4], &CAP_AS4), &FOUR);
    assert_eq!(code(&e), (NotificationCode::Open, 3));
    // Optional parameter 1 (authentication, deprecated by RFC 5492).
    let e = decode_error(&open(4, 65515, 90, id, &[1, 2, 0, 0]), &FOUR);
    assert_eq!(code(&e), (NotificationCode::Open, 4));
}

#[test]
fn header_errors() {
    let ka = message(4, &[]);
    assert_eq!(Message::decode(&ka, &FOUR), Ok(Message::Keepalive));
    let mut bad = ka.clone();
    bad[3] = 0xfe;
    assert_eq!(
        code(&decode_error(&bad, &FOUR)),
        (NotificationCode::MessageHeader, 1)
    );
    assert_eq!(
        frame(&bad).map_err(|e| code(&e)),
        Err((NotificationCode::MessageHeader, 1))
    );
    // Bad Message Length, with the length as data.
    for len in [18u16, 4097] {
        let mut m = ka.clone();
        m[16..18].copy_from_slice(&len.to_be_bytes());
        let e = decode_error(&m, &FOUR);
        assert_eq!(
            (code(&e), e.data.clone()),
            (
                (NotificationCode::MessageHeader, 2),
                len.to_be_bytes().to_vec()
            )
        );
        assert_eq!(frame(&m), Err(e));
    }
    // Bad Message Type, with the type as data.
    let e = decode_error(&message(6, &[]), &FOUR);
    assert_eq!(
        (code(&e), e.data.clone()),
        ((NotificationCode::MessageHeader, 3), vec![6])
    );
    // A KEEPALIVE is exactly 19 octets.
    let e = decode_error(&message(4, &[0]), &FOUR);
    assert_eq!(
        (code(&e), e.data.clone()),
        ((NotificationCode::MessageHeader, 2), vec![0, 20])
    );
}

// ---- RFC 6793 §4.2.3: AS_PATH and AS4_PATH from a 2-octet speaker ----

fn merged(path: &[u8], as4: &[u8]) -> AsPath {
    let attrs = [
        origin(0),
        attr(WELL_KNOWN, 2, path),
        next_hop(),
        attr(OPT_TRANS, 17, as4),
    ]
    .concat();
    let u = decode_update(&update(&[], &attrs, &NLRI), &TWO);
    assert_accepted(&u, "AS4_PATH");
    u.attrs.as_path.expect("AS_PATH")
}

#[test]
fn as4_path_rebuilds_the_four_octet_path() {
    let (a, b) = (4_200_000_000, 4_200_000_001);
    // AS_PATH 65515 23456 23456, AS4_PATH a b: the leading 65515 comes
    // from AS_PATH, the rest from AS4_PATH, as one sequence.
    let p = merged(
        &segment2(2, &[0xffeb, AS_TRANS, AS_TRANS]),
        &segment4(2, &[a, b]),
    );
    assert_eq!(p, AsPath::sequence(vec![PEER_AS, a, b]));
    // The same path in both: AS4_PATH wins whole.
    let p = merged(&segment2(2, &[AS_TRANS, AS_TRANS]), &segment4(2, &[a, b]));
    assert_eq!(p, AsPath::sequence(vec![a, b]));
    // An AS4_PATH longer than AS_PATH is ignored.
    let p = merged(&segment2(2, &[0xffeb]), &segment4(2, &[a, b]));
    assert_eq!(p, AsPath::sequence(vec![PEER_AS]));
    // A set counts as one AS number.
    let path = [segment2(2, &[0xffeb, AS_TRANS]), segment2(1, &[1, 2, 3])].concat();
    let as4 = [segment4(2, &[a]), segment4(1, &[1, 2, 3])].concat();
    let p = merged(&path, &as4);
    assert_eq!(
        p.segments,
        vec![
            AsSegment::Sequence(vec![PEER_AS, a]),
            AsSegment::Set(vec![1, 2, 3])
        ]
    );
}

#[test]
fn as4_path_merge_keeps_confederation_segments_of_as_path_only() {
    let a = 4_200_000_000;
    // A leading AS_CONFED_SEQUENCE counts no AS numbers (RFC 5065) and is
    // kept in front.
    let path = [
        segment2(3, &[64512, 64513]),
        segment2(2, &[0xffeb, AS_TRANS]),
    ]
    .concat();
    let p = merged(&path, &segment4(2, &[a]));
    assert_eq!(
        p.segments,
        vec![
            AsSegment::ConfedSequence(vec![64512, 64513]),
            AsSegment::Sequence(vec![PEER_AS, a])
        ]
    );
    // RFC 6793 §6: confederation segments in AS4_PATH are discarded.
    let as4 = [segment4(3, &[64999]), segment4(2, &[a])].concat();
    let p = merged(&segment2(2, &[0xffeb, AS_TRANS]), &as4);
    assert_eq!(p, AsPath::sequence(vec![PEER_AS, a]));
}
