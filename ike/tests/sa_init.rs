//! IKE_SA_INIT refusals a responder sends without keeping state: an
//! unknown critical payload (RFC 7296 §2.5) and COOKIE (§2.6).

mod util;

use ike::sa::{Accepted, DownReason, Event, IkeSa};
use ike::wire::{Message, NotifyType, Payload, UnknownPayload};
use std::net::SocketAddr;
use util::*;

fn first_request(net: &Net) -> (IkeSa, Vec<u8>) {
    let cfg = config("aes256gcm16-prfsha384-ecp384", "aes256gcm16", "k", A);
    let mut a = IkeSa::initiate(cfg, A.parse().unwrap(), B.parse().unwrap(), net.now, rng(1));
    let t = a.poll_transmit().expect("IKE_SA_INIT");
    (a, t.data)
}

fn with_unknown(data: &[u8], critical: bool) -> Vec<u8> {
    let mut msg = Message::decode(data).unwrap();
    msg.payloads.insert(
        1,
        Payload::Unknown(UnknownPayload {
            payload_type: 201,
            critical,
            data: vec![1, 2, 3],
        }),
    );
    msg.encode().unwrap()
}

/// §2.5: an unknown payload with the critical bit makes the responder
/// answer UNSUPPORTED_CRITICAL_PAYLOAD, unencrypted, naming the type; the
/// initiator gives up with that reason. Without the bit it is ignored.
#[test]
fn unknown_critical_payload_in_ike_sa_init_is_answered() {
    let net = net();
    let b_cfg = config("aes256gcm16-prfsha384-ecp384", "aes256gcm16", "k", B);
    let (a_addr, b_addr): (SocketAddr, SocketAddr) = (A.parse().unwrap(), B.parse().unwrap());
    let (mut a, data) = first_request(&net);
    let bad = with_unknown(&data, true);
    let reply = match IkeSa::accept(b_cfg.clone(), b_addr, a_addr, &bad, net.now, rng(2)) {
        Accepted::Refused { reply, reason } => {
            assert!(matches!(reason, DownReason::Protocol(_)), "{reason:?}");
            reply
        }
        Accepted::Sa(_) => panic!("accepted a critical unknown payload"),
        Accepted::Ignored => panic!("dropped instead of answered"),
    };
    assert_eq!(reply.remote, a_addr);
    let msg = Message::decode(&reply.data).unwrap();
    assert!(msg.header.flags.response() && !msg.header.flags.initiator());
    assert_eq!(msg.header.message_id, 0);
    assert_eq!(msg.payloads.len(), 1, "only the notify, unencrypted");
    let n = msg.notify(NotifyType::UnsupportedCriticalPayload).unwrap();
    assert_eq!(n.data, [201]);
    assert_eq!(n.unsupported_payload_type(), Some(201));
    a.handle_datagram(net.now, b_addr, &reply.data);
    let down = std::iter::from_fn(|| a.poll_event()).find_map(|e| match e {
        Event::Down(r) => Some(r),
        _ => None,
    });
    assert_eq!(
        down,
        Some(DownReason::PeerError(
            NotifyType::UnsupportedCriticalPayload
        ))
    );

    let fine = with_unknown(&data, false);
    assert!(matches!(
        IkeSa::accept(b_cfg, b_addr, a_addr, &fine, net.now, rng(2)),
        Accepted::Sa(_)
    ));
}

/// §1.2: a KE payload outside the group the responder chose is refused
/// with INVALID_KE_PAYLOAD, and the reason says so (not "no proposal
/// chosen"). An initiator asked for a group it does not offer gives up
/// saying which group was wanted.
#[test]
fn invalid_ke_payload_is_named_as_such() {
    let net = net();
    let (a_addr, b_addr): (SocketAddr, SocketAddr) = (A.parse().unwrap(), B.parse().unwrap());
    let a_cfg = config("aes256-sha256-ecp384-modp2048", "aes256-sha256", "k", A);
    let mut a = IkeSa::initiate(a_cfg, a_addr, b_addr, net.now, rng(1));
    let data = a.poll_transmit().expect("IKE_SA_INIT").data;
    let b_cfg = config("aes256-sha256-modp2048", "aes256-sha256", "k", B);
    let reply = match IkeSa::accept(b_cfg, b_addr, a_addr, &data, net.now, rng(2)) {
        Accepted::Refused { reply, reason } => {
            assert_eq!(
                reason,
                DownReason::InvalidKe {
                    group: Some(14),
                    we_asked: true
                }
            );
            assert!(
                reason.to_string().contains("asking for group 14"),
                "{reason}"
            );
            reply
        }
        _ => panic!("not refused"),
    };
    let msg = Message::decode(&reply.data).unwrap();
    assert!(msg.notify(NotifyType::InvalidKePayload).is_some());

    // An initiator that offers only ECP-384 is asked (by a responder that
    // ignores its proposals) for MODP-2048.
    let only384 = config("aes256-sha256-ecp384", "aes256-sha256", "k", A);
    let mut a = IkeSa::initiate(only384, a_addr, b_addr, net.now, rng(3));
    let first = Message::decode(&a.poll_transmit().expect("IKE_SA_INIT").data).unwrap();
    let mut answer = msg;
    answer.header.spi_i = first.header.spi_i;
    a.handle_datagram(net.now, b_addr, &answer.encode().unwrap());
    let down = std::iter::from_fn(|| a.poll_event()).find_map(|e| match e {
        Event::Down(r) => Some(r),
        _ => None,
    });
    let down = down.expect("the initiator gives up");
    assert_eq!(
        down,
        DownReason::InvalidKe {
            group: Some(14),
            we_asked: false
        }
    );
    assert_eq!(
        down.to_string(),
        "the responder asked for DH group 14 (INVALID_KE_PAYLOAD), which our proposals do not offer"
    );
}
