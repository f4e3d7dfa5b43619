//! Property tests of the codec: a valid UPDATE (or OPEN) encodes and
//! decodes to the same value, with 4-octet AS numbers and with 2-octet
//! ones (where the AS numbers fit, or through AS4_PATH where they do not),
//! and no octets make the decoder panic.

use bgp::wire::{
    frame, AsPath, AsSegment, Capability, Context, Message, MpReach, MpUnreach, Open, Origin,
    PathAttributes, RawAttribute, Update, MAX_MESSAGE_LEN,
};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use proptest::test_runner::Config;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

const TWO: Context = Context {
    four_octet_as: false,
};
const FOUR: Context = Context {
    four_octet_as: true,
};

/// `cases` by default; `PROPTEST_CASES` overrides it for longer runs.
fn config(cases: u32) -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(cases);
    Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    }
}

// ---- strategies ----

/// Prefixes as the decoder returns them: host bits clear.
fn v4_prefix() -> impl Strategy<Value = IpNet> {
    (any::<u32>(), 0..=32u8)
        .prop_map(|(a, len)| IpNet::V4(Ipv4Net::new(Ipv4Addr::from(a), len).unwrap().trunc()))
}

fn v6_prefix() -> impl Strategy<Value = IpNet> {
    (any::<u128>(), 0..=128u8)
        .prop_map(|(a, len)| IpNet::V6(Ipv6Net::new(Ipv6Addr::from(a), len).unwrap().trunc()))
}

/// Which AS numbers a path may hold.
#[derive(Debug, Clone, Copy)]
enum Asns {
    /// Any 4-octet AS number, any segment type.
    Any,
    /// Only 2-octet AS numbers.
    Narrow,
    /// Any AS number, but no confederation segments: the 2-octet
    /// encoding carries the path in AS4_PATH, which has none (RFC 6793 §6).
    NoConfed,
}

fn segment(asns: Asns) -> impl Strategy<Value = AsSegment> {
    let asn = match asns {
        Asns::Narrow => (0..=u32::from(u16::MAX)).boxed(),
        // Mostly above 65,535, some below.
        _ => prop_oneof![3 => any::<u32>(), 1 => 0..=u32::from(u16::MAX)].boxed(),
    };
    let kinds = match asns {
        Asns::NoConfed => 2u8,
        _ => 4,
    };
    // A segment holds 1 to 255 AS numbers; the encoder splits longer ones,
    // which then decode as several segments.
    let asns = prop_oneof![8 => vec(asn.clone(), 1..8), 1 => vec(asn, 200..=255)];
    (0..kinds, asns).prop_map(|(k, v)| match k {
        0 => AsSegment::Sequence(v),
        1 => AsSegment::Set(v),
        2 => AsSegment::ConfedSequence(v),
        _ => AsSegment::ConfedSet(v),
    })
}

fn as_path(asns: Asns) -> impl Strategy<Value = AsPath> {
    vec(segment(asns), 0..4).prop_map(|segments| AsPath { segments })
}

/// Unknown optional attributes, one per type code, flags without
/// Extended Length (the encoder chooses it), values sometimes past 255
/// octets.
fn unknown_attrs() -> impl Strategy<Value = Vec<RawAttribute>> {
    let known = |c: &u8| !matches!(c, 1..=8 | 14 | 15 | 17 | 18 | 32);
    let value = prop_oneof![8 => vec(any::<u8>(), 0..16), 1 => vec(any::<u8>(), 250..300)];
    btree_map(
        any::<u8>().prop_filter("known type", known),
        (any::<u8>(), value),
        0..3,
    )
    .prop_map(|m| {
        m.into_iter()
            .map(|(type_code, (flags, value))| RawAttribute {
                flags: (flags | 0x80) & !0x10,
                type_code,
                value,
            })
            .collect()
    })
}

fn attrs(asns: Asns) -> impl Strategy<Value = PathAttributes> {
    let origin = prop_oneof![
        Just(Origin::Igp),
        Just(Origin::Egp),
        Just(Origin::Incomplete)
    ];
    let aggregator_as = match asns {
        Asns::Any => any::<u32>().boxed(),
        // 2-octet AGGREGATOR; AS4_AGGREGATOR is not carried.
        _ => (0..=u32::from(u16::MAX)).boxed(),
    };
    (
        (
            proptest::option::of(origin),
            proptest::option::of(as_path(asns)),
            proptest::option::of(any::<u32>().prop_map(Ipv4Addr::from)),
            proptest::option::of(any::<u32>()),
            any::<bool>(),
        ),
        (
            proptest::option::of((aggregator_as, any::<u32>().prop_map(Ipv4Addr::from))),
            vec(any::<u32>(), 0..6),
            vec(any::<[u32; 3]>(), 0..4),
            unknown_attrs(),
        ),
    )
        .prop_map(
            |(
                (origin, as_path, next_hop, med, atomic_aggregate),
                (aggregator, communities, large_communities, unknown),
            )| {
                PathAttributes {
                    origin,
                    as_path,
                    next_hop,
                    med,
                    // Dropped from an eBGP peer (RFC 7606 §7.5).
                    local_pref: None,
                    atomic_aggregate,
                    aggregator,
                    communities,
                    large_communities,
                    unknown,
                }
            },
        )
}

fn mp_reach() -> impl Strategy<Value = MpReach> {
    let v6 = any::<u128>().prop_map(|a| IpAddr::V6(Ipv6Addr::from(a)));
    prop_oneof![
        // IPv6 unicast: a global next hop, and maybe a link-local one.
        (vec(v6, 1..=2), vec(v6_prefix(), 0..8)).prop_map(|(next_hops, nlri)| MpReach {
            afi: 2,
            safi: 1,
            next_hops,
            nlri,
        }),
        (any::<u32>(), vec(v4_prefix(), 0..8)).prop_map(|(nh, nlri)| MpReach {
            afi: 1,
            safi: 1,
            next_hops: vec![IpAddr::V4(Ipv4Addr::from(nh))],
            nlri,
        }),
        // Families not carried: kept as AFI and SAFI only.
        (3..u16::MAX, 2..=u8::MAX).prop_map(|(afi, safi)| MpReach {
            afi,
            safi,
            next_hops: Vec::new(),
            nlri: Vec::new(),
        }),
    ]
}

fn mp_unreach() -> impl Strategy<Value = MpUnreach> {
    prop_oneof![
        vec(v6_prefix(), 0..8).prop_map(|withdrawn| MpUnreach {
            afi: 2,
            safi: 1,
            withdrawn,
        }),
        vec(v4_prefix(), 0..8).prop_map(|withdrawn| MpUnreach {
            afi: 1,
            safi: 1,
            withdrawn,
        }),
    ]
}

/// A valid UPDATE: what announces routes has ORIGIN and AS_PATH, and
/// NEXT_HOP with IPv4 NLRI (RFC 7606 §3 (d)), so nothing is treated as
/// withdrawn.
fn update(asns: Asns) -> impl Strategy<Value = Update> {
    (
        vec(v4_prefix(), 0..8),
        attrs(asns),
        vec(v4_prefix(), 0..8),
        proptest::option::of(mp_reach()),
        proptest::option::of(mp_unreach()),
    )
        .prop_map(|(withdrawn, mut attrs, nlri, mp_reach, mp_unreach)| {
            let reach = !nlri.is_empty() || mp_reach.as_ref().is_some_and(|m| !m.nlri.is_empty());
            if reach {
                attrs.origin.get_or_insert(Origin::Igp);
                attrs
                    .as_path
                    .get_or_insert_with(|| AsPath::sequence(vec![65515]));
            }
            if !nlri.is_empty() {
                attrs.next_hop.get_or_insert(Ipv4Addr::new(192, 0, 2, 1));
            }
            Update {
                withdrawn,
                attrs,
                nlri,
                mp_reach,
                mp_unreach,
                treat_as_withdraw: None,
            }
        })
}

fn capability() -> impl Strategy<Value = Capability> {
    prop_oneof![
        (any::<u16>(), any::<u8>()).prop_map(|(afi, safi)| Capability::Multiprotocol { afi, safi }),
        Just(Capability::RouteRefresh),
        any::<u32>().prop_map(Capability::FourOctetAs),
        (
            any::<u8>().prop_filter("known capability", |c| !matches!(c, 1 | 2 | 65)),
            vec(any::<u8>(), 0..40),
        )
            .prop_map(|(code, value)| Capability::Unknown { code, value }),
    ]
}

fn open() -> impl Strategy<Value = Open> {
    (
        any::<u16>(),
        any::<u16>().prop_filter("RFC 4271 §6.2", |h| !matches!(h, 1 | 2)),
        1..=u32::MAX,
        // Sometimes more than fit one 255-octet parameter list.
        prop_oneof![3 => vec(capability(), 0..8), 1 => vec(capability(), 60..130)],
    )
        .prop_map(|(my_as, hold_time, id, capabilities)| Open {
            version: 4,
            my_as,
            hold_time,
            router_id: Ipv4Addr::from(id),
            capabilities,
        })
}

// ---- checks ----

/// Encodes with `ctx`; `None` when the message does not fit 4,096 octets.
fn encode(m: &Message, ctx: &Context) -> Option<Vec<u8>> {
    let b = m.to_bytes(ctx);
    (b.len() <= MAX_MESSAGE_LEN).then_some(b)
}

fn round_trip(m: &Message, ctx: &Context) -> Result<(), TestCaseError> {
    let Some(b) = encode(m, ctx) else {
        return Ok(()); // too big for one message; not generated often
    };
    prop_assert_eq!(frame(&b), Ok(Some(b.len())));
    prop_assert_eq!(Message::decode(&b, ctx), Ok(m.clone()));
    Ok(())
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn updates_round_trip_with_four_octet_as(u in update(Asns::Any)) {
        round_trip(&Message::Update(u), &FOUR)?;
    }

    #[test]
    fn updates_round_trip_with_two_octet_as_where_they_fit(u in update(Asns::Narrow)) {
        let m = Message::Update(u);
        round_trip(&m, &TWO)?;
        round_trip(&m, &FOUR)?;
        // No AS4_PATH when every AS number fits.
        if let (Some(two), Some(four)) = (encode(&m, &TWO), encode(&m, &FOUR)) {
            prop_assert!(two.len() <= four.len());
        }
    }

    #[test]
    fn updates_round_trip_through_as4_path(u in update(Asns::NoConfed)) {
        // RFC 6793 §4.2.2 on the way out, §4.2.3 on the way in.
        round_trip(&Message::Update(u), &TWO)?;
    }

    #[test]
    fn opens_round_trip(o in open()) {
        round_trip(&Message::Open(o), &FOUR)?;
    }

    #[test]
    fn arbitrary_octets_never_panic(bytes in vec(any::<u8>(), 0..600)) {
        for ctx in [TWO, FOUR] {
            let framed = frame(&bytes);
            let decoded = Message::decode(&bytes, &ctx);
            if decoded.is_ok() {
                prop_assert!(matches!(framed, Ok(Some(_))));
            }
        }
    }

    #[test]
    fn arbitrary_bodies_never_panic(kind in 0..=6u8, body in vec(any::<u8>(), 0..600)) {
        // Behind a valid header, so that the body parsers are reached.
        let mut m = vec![0xff; 16];
        m.extend_from_slice(&u16::try_from(19 + body.len()).unwrap().to_be_bytes());
        m.push(kind);
        m.extend_from_slice(&body);
        for ctx in [TWO, FOUR] {
            if let Ok(Message::Update(u)) = Message::decode(&m, &ctx) {
                let _ = (u.is_end_of_rib(), u.announced().count(), u.withdrawn_all().count());
            }
        }
    }
}

/// Fuzzing found: an OPEN whose capabilities fit one parameter (as one
/// peer packs them) did not fit the encoder's one parameter per
/// capability, which overran the 1-octet Optional Parameters Length and
/// wrote a truncated OPEN. (bgp/fuzz/regressions/message_decode-open-many-capabilities)
#[test]
fn an_open_with_many_capabilities_encodes_whole() {
    let caps = vec![
        Capability::Unknown {
            code: 200,
            value: Vec::new()
        };
        126
    ];
    let o = Message::Open(Open {
        version: 4,
        my_as: 65515,
        hold_time: 90,
        router_id: Ipv4Addr::new(192, 0, 2, 1),
        capabilities: caps,
    });
    let b = o.to_bytes(&FOUR);
    assert_eq!(Message::decode(&b, &FOUR), Ok(o.clone()));
    let mut many = o;
    if let Message::Open(open) = &mut many {
        // Past 255 octets even in one parameter: RFC 9072's format.
        open.capabilities
            .extend(vec![Capability::FourOctetAs(65515); 100]);
    }
    let b = many.to_bytes(&FOUR);
    assert_eq!(Message::decode(&b, &FOUR), Ok(many));
}
