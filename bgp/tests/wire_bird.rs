//! Real BIRD 2.0.12 messages (bgp/tests/fixtures/bird, see its README):
//! each decodes to what BIRD sent, and what we re-encode decodes to the
//! same message; most re-encode octet for octet.

use bgp::wire::{frame, Capability, Context, Message, NotificationCode, Origin};
use ipnet::IpNet;

const FOUR: Context = Context {
    four_octet_as: true,
};

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/bird/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn decode(name: &str) -> Message {
    let b = fixture(name);
    assert_eq!(frame(&b), Ok(Some(b.len())), "{name} is one whole message");
    let m = Message::decode(&b, &FOUR).unwrap_or_else(|e| panic!("{name}: {e}"));
    let again = Message::decode(&m.to_bytes(&FOUR), &FOUR).unwrap();
    assert_eq!(again, m, "{name}: re-encoded message decodes the same");
    m
}

fn exact(name: &str) -> Message {
    let m = decode(name);
    assert_eq!(m.to_bytes(&FOUR), fixture(name), "{name}: octet for octet");
    m
}

fn nets(s: &[&str]) -> Vec<IpNet> {
    s.iter().map(|x| x.parse().unwrap()).collect()
}

#[test]
fn opens_carry_birds_capabilities() {
    let Message::Open(o) = decode("open_hub.bin") else {
        panic!("not an OPEN")
    };
    assert_eq!(o.asn(), 65515);
    assert!(o.has(&Capability::RouteRefresh));
    assert!(o.has(&Capability::Multiprotocol { afi: 1, safi: 1 }));
    assert!(o.has(&Capability::Multiprotocol { afi: 2, safi: 1 }));
    assert!(o.four_octet_as());
    // Graceful restart, extended messages, ADD-PATH, enhanced refresh,
    // long-lived GR and hostname are kept whole, not understood.
    let unknown: Vec<u8> = o
        .capabilities
        .iter()
        .filter_map(|c| match c {
            Capability::Unknown { code, .. } => Some(*code),
            _ => None,
        })
        .collect();
    for code in [6, 64, 69, 70, 71, 73] {
        assert!(
            unknown.contains(&code),
            "capability {code} kept: {unknown:?}"
        );
    }
    let Message::Open(site) = decode("open_site.bin") else {
        panic!("not an OPEN")
    };
    assert_eq!((site.asn(), site.hold_time), (65010, 90));
}

#[test]
fn keepalive_eor_and_refresh_round_trip_exactly() {
    assert_eq!(exact("keepalive.bin"), Message::Keepalive);
    for (name, afi) in [("eor_ipv4.bin", 1), ("eor_ipv6.bin", 2)] {
        let Message::Update(u) = exact(name) else {
            panic!("{name}")
        };
        assert_eq!(u.is_end_of_rib().map(|a| a.code()), Some(afi), "{name}");
    }
    for (name, afi, subtype) in [
        ("route_refresh_ipv4.bin", 1, 0),
        ("route_refresh_ipv6.bin", 2, 0),
        ("route_refresh_borr_ipv4.bin", 1, 1),
        ("route_refresh_eorr_ipv6.bin", 2, 2),
    ] {
        assert_eq!(
            exact(name),
            Message::RouteRefresh {
                afi,
                subtype,
                safi: 1
            },
            "{name}"
        );
    }
}

#[test]
fn updates_decode_to_birds_routes() {
    let Message::Update(u) = exact("update_ipv4_prepend.bin") else {
        panic!()
    };
    assert_eq!(u.nlri.len(), 3);
    assert_eq!(u.attrs.as_path.as_ref().unwrap().path_len(), 3);
    assert_eq!(u.attrs.as_path.as_ref().unwrap().first(), Some(65515));
    assert_eq!(u.attrs.next_hop, Some("192.0.2.1".parse().unwrap()));
    assert_eq!(u.attrs.origin, Some(Origin::Igp));
    assert!(u.treat_as_withdraw.is_none());

    let Message::Update(u) = exact("update_ipv4_single.bin") else {
        panic!()
    };
    assert_eq!(u.nlri, nets(&["10.1.0.0/16"]));

    // BIRD writes MP_REACH_NLRI with the extended length bit even when
    // short; we use it only when needed, so compare decoded messages.
    let Message::Update(u) = decode("update_mp_reach_ipv6.bin") else {
        panic!()
    };
    let mp = u.mp_reach.as_ref().unwrap();
    assert_eq!(mp.next_hops.len(), 2, "global and link-local next hops");
    assert_eq!(mp.nlri.len(), 2);
    assert!(u.treat_as_withdraw.is_none());

    let Message::Update(u) = exact("update_withdraw_ipv4.bin") else {
        panic!()
    };
    assert_eq!(u.withdrawn, nets(&["10.52.0.0/16", "10.53.0.0/16"]));

    let Message::Update(u) = decode("update_mp_unreach_ipv6.bin") else {
        panic!()
    };
    assert_eq!(u.mp_unreach.unwrap().withdrawn, nets(&["fd52::/48"]));
    decode("update_mp_reach_ipv6_site.bin");
}

#[test]
fn notifications_keep_their_data() {
    let Message::Notification(n) = exact("notification_cease_admin_shutdown.bin") else {
        panic!()
    };
    assert_eq!((n.code, n.subcode), (NotificationCode::Cease, 2));
    let Message::Notification(n) = exact("notification_cease_admin_shutdown_msg.bin") else {
        panic!()
    };
    // RFC 8203: a length octet, then the operator's message.
    assert_eq!(&n.data[1..], b"maintenance window");
}

#[test]
fn every_truncation_of_every_fixture_is_refused_or_incomplete() {
    let dir = format!("{}/tests/fixtures/bird", env!("CARGO_MANIFEST_DIR"));
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().and_then(|x| x.to_str()) != Some("bin") {
            continue;
        }
        let b = std::fs::read(&p).unwrap();
        for cut in 0..b.len() {
            assert_eq!(frame(&b[..cut]), Ok(None), "{p:?} cut at {cut}");
            // A message whose length field is shortened to the cut must
            // not panic (it may decode, e.g. a shorter NOTIFICATION).
            if cut >= 19 {
                let mut short = b[..cut].to_vec();
                short[16..18].copy_from_slice(&(cut as u16).to_be_bytes());
                let _ = Message::decode(&short, &FOUR);
            }
        }
    }
}
