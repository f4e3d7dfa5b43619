//! Property tests: decoding never panics, and whatever decodes re-encodes
//! to a message that decodes to the same value.

use std::net::{Ipv4Addr, Ipv6Addr};

use ike::wire::{
    decode_payload_chain, encode_payload_chain, AddressRange, Attribute, AttributeValue, Auth,
    AuthMethod, Cert, CertEncoding, CfgAttributeType, CfgType, ConfigAttribute, Configuration,
    Delete, DhGroup, Eap, EncryptedLayout, ExchangeType, FixedHeader, Flags, Header, IdType,
    Identification, KeyExchange, Message, Nonce, Notify, NotifyType, Payload, PayloadType,
    Proposal, ProtocolId, Sa, Spi, TrafficSelector, TrafficSelectors, Transform, TransformId,
    TsType, UnknownPayload, VendorId,
};
use proptest::prelude::*;
use proptest::test_runner::Config;

const MESSAGES: [&[u8]; 4] = [
    include_bytes!("fixtures/wire/ike_sa_init_request.bin"),
    include_bytes!("fixtures/wire/ike_sa_init_response.bin"),
    include_bytes!("fixtures/wire/ike_auth_request.bin"),
    include_bytes!("fixtures/wire/ike_auth_response.bin"),
];
const INNER_CHAINS: [(u8, &[u8]); 2] = [
    (
        35,
        include_bytes!("fixtures/wire/ike_auth_request_inner.bin"),
    ),
    (
        36,
        include_bytes!("fixtures/wire/ike_auth_response_inner.bin"),
    ),
];

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

/// Whatever `Message::decode` accepts must encode, to the same length
/// (only ignored bits are normalised), and decode to the same value.
fn check_message(bytes: &[u8]) {
    let _ = FixedHeader::decode_prefix(bytes);
    if let Ok(layout) = EncryptedLayout::locate(bytes) {
        for icv_len in [0, 12, 16, 32, 4096] {
            let _ = layout.integrity_covered(bytes, icv_len);
            let _ = layout.icv(bytes, icv_len);
        }
        layout.aead_associated_data(bytes).unwrap();
        layout.encrypted_data(bytes).unwrap();
    }
    let Ok(msg) = Message::decode(bytes) else {
        return;
    };
    let encoded = msg.encode().expect("a decoded message encodes");
    assert_eq!(encoded.len(), bytes.len());
    assert_eq!(Message::decode(&encoded).unwrap(), msg);
    if msg.encrypted().is_some() || msg.encrypted_fragment().is_some() {
        EncryptedLayout::locate(&encoded).unwrap();
    }
}

/// The same property for a decrypted payload chain.
fn check_chain(first: u8, bytes: &[u8]) {
    let Ok(payloads) = decode_payload_chain(PayloadType::from(first), bytes) else {
        return;
    };
    let (first_again, encoded) = encode_payload_chain(&payloads).expect("a decoded chain encodes");
    if !payloads.is_empty() {
        assert_eq!(first_again, PayloadType::from(first));
    }
    assert_eq!(encoded.len(), bytes.len());
    assert_eq!(
        decode_payload_chain(first_again, &encoded).unwrap(),
        payloads
    );
}

/// Sets the IKE header's Length to the datagram's, so that mutations get
/// past the length check.
fn fix_length(bytes: &mut [u8]) {
    if bytes.len() >= 28 {
        let length = u32::try_from(bytes.len()).unwrap().to_be_bytes();
        bytes[24..28].copy_from_slice(&length);
    }
}

#[derive(Clone, Debug)]
enum Mutation {
    Set(usize, u8),
    Flip(usize, u8),
    Insert(usize, u8),
    Remove(usize),
    Truncate(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        4 => (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Set(i, b)),
        4 => (any::<usize>(), 0u8..8).prop_map(|(i, b)| Mutation::Flip(i, b)),
        1 => (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Insert(i, b)),
        1 => any::<usize>().prop_map(Mutation::Remove),
        1 => any::<usize>().prop_map(Mutation::Truncate),
    ]
}

fn apply(bytes: &mut Vec<u8>, mutations: &[Mutation]) {
    for m in mutations {
        let len = bytes.len();
        match *m {
            Mutation::Set(i, b) if len > 0 => bytes[i % len] = b,
            Mutation::Flip(i, bit) if len > 0 => bytes[i % len] ^= 1 << bit,
            Mutation::Insert(i, b) => bytes.insert(i % (len + 1), b),
            Mutation::Remove(i) if len > 0 => {
                bytes.remove(i % len);
            }
            Mutation::Truncate(n) => bytes.truncate(n % (len + 1)),
            _ => {}
        }
    }
}

proptest! {
    #![proptest_config(config(2048))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        check_message(&bytes);
        let mut framed = bytes.clone();
        fix_length(&mut framed);
        if framed.len() >= 18 {
            framed[17] = 0x20;
        }
        check_message(&framed);
    }

    #[test]
    fn arbitrary_chains_never_panic(
        first in any::<u8>(),
        bytes in proptest::collection::vec(any::<u8>(), 0..600),
    ) {
        check_chain(first, &bytes);
    }

    #[test]
    fn mutated_fixtures_never_panic(
        which in 0usize..6,
        mutations in proptest::collection::vec(mutation(), 1..6),
        keep_length in any::<bool>(),
    ) {
        if let Some(message) = MESSAGES.get(which) {
            let mut bytes = message.to_vec();
            apply(&mut bytes, &mutations);
            if !keep_length {
                fix_length(&mut bytes);
            }
            check_message(&bytes);
        } else {
            let (first, chain) = INNER_CHAINS[which - MESSAGES.len()];
            let mut bytes = chain.to_vec();
            apply(&mut bytes, &mutations);
            check_chain(first, &bytes);
        }
    }

    /// Random payload bodies behind well-formed generic headers reach
    /// every body parser.
    #[test]
    fn framed_random_bodies_never_panic(
        payloads in proptest::collection::vec(
            (
                prop_oneof![33u8..=48, Just(53u8), any::<u8>()],
                any::<bool>(),
                proptest::collection::vec(any::<u8>(), 0..80),
            ),
            0..6,
        ),
    ) {
        let mut chain = Vec::new();
        let mut iter = payloads.iter().peekable();
        while let Some((_, critical, body)) = iter.next() {
            chain.push(iter.peek().map_or(0, |p| p.0));
            chain.push(if *critical { 0x80 } else { 0 });
            chain.extend_from_slice(&u16::try_from(body.len() + 4).unwrap().to_be_bytes());
            chain.extend_from_slice(body);
        }
        let first = payloads.first().map_or(0, |p| p.0);
        check_chain(first, &chain);
        let mut message = MESSAGES[0][..28].to_vec();
        message[16] = first;
        message.extend_from_slice(&chain);
        fix_length(&mut message);
        check_message(&message);
    }
}

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..max)
}

fn spi() -> impl Strategy<Value = Spi> {
    prop_oneof![
        Just(Spi::Empty),
        any::<u32>().prop_map(Spi::Ipsec),
        any::<u64>().prop_map(Spi::Ike),
    ]
}

fn transform() -> impl Strategy<Value = Transform> {
    let attribute = prop_oneof![
        any::<u16>().prop_map(Attribute::KeyLength),
        (0u16..0x8000, any::<u16>())
            .prop_filter("not Key Length", |(t, _)| *t != 14)
            .prop_map(|(attribute_type, v)| Attribute::Other {
                attribute_type,
                value: AttributeValue::Tv(v),
            }),
        (0u16..0x8000, bytes(8))
            .prop_filter("not Key Length", |(t, _)| *t != 14)
            .prop_map(|(attribute_type, v)| Attribute::Other {
                attribute_type,
                value: AttributeValue::Tlv(v),
            }),
    ];
    (
        any::<u8>(),
        any::<u16>(),
        proptest::collection::vec(attribute, 0..3),
    )
        .prop_map(|(t, id, attributes)| Transform {
            id: TransformId::from_wire(t, id),
            attributes,
        })
}

fn sa() -> impl Strategy<Value = Sa> {
    let proposal = (
        any::<u8>(),
        any::<u8>(),
        spi(),
        proptest::collection::vec(transform(), 0..6),
    )
        .prop_map(|(number, p, spi, transforms)| Proposal {
            number,
            protocol_id: ProtocolId::from(p),
            spi,
            transforms,
        });
    proptest::collection::vec(proposal, 1..4).prop_map(|proposals| Sa { proposals })
}

fn traffic_selectors() -> impl Strategy<Value = TrafficSelectors> {
    let selector = prop_oneof![
        (
            any::<u8>(),
            any::<u16>(),
            any::<u16>(),
            any::<u32>(),
            any::<u32>()
        )
            .prop_map(|(ip_protocol, start_port, end_port, s, e)| {
                TrafficSelector::Ipv4(AddressRange {
                    ip_protocol,
                    start_port,
                    end_port,
                    start: Ipv4Addr::from(s),
                    end: Ipv4Addr::from(e),
                })
            }),
        (any::<u128>(), any::<u128>()).prop_map(|(s, e)| TrafficSelector::Ipv6(
            AddressRange::any_port(Ipv6Addr::from(s), Ipv6Addr::from(e))
        )),
        (9u8..=255, any::<u8>(), bytes(12)).prop_map(|(t, ip_protocol, data)| {
            TrafficSelector::Other {
                ts_type: TsType::from(t),
                ip_protocol,
                data,
            }
        }),
    ];
    proptest::collection::vec(selector, 0..4).prop_map(|selectors| TrafficSelectors { selectors })
}

fn identification() -> impl Strategy<Value = Identification> {
    prop_oneof![
        any::<u32>().prop_map(|a| Identification::ip(Ipv4Addr::from(a).into())),
        any::<u128>().prop_map(|a| Identification::ip(Ipv6Addr::from(a).into())),
        (
            prop_oneof![Just(2u8), Just(3), Just(9), Just(11), 13u8..=255],
            any::<[u8; 3]>(),
            bytes(40)
        )
            .prop_map(|(t, reserved, data)| Identification {
                id_type: IdType::from(t),
                reserved,
                data,
            }),
    ]
}

/// Every payload type but SK and SKF, which cannot appear in a chain.
fn inner_payload() -> impl Strategy<Value = Payload> {
    prop_oneof![
        sa().prop_map(Payload::Sa),
        (any::<u16>(), bytes(64)).prop_map(|(g, data)| Payload::Ke(KeyExchange {
            group: DhGroup::from(g),
            data,
        })),
        identification().prop_map(Payload::IdI),
        identification().prop_map(Payload::IdR),
        (any::<u8>(), bytes(40)).prop_map(|(e, data)| Payload::Cert(Cert {
            encoding: CertEncoding::from(e),
            data,
        })),
        (any::<u8>(), bytes(40)).prop_map(|(m, data)| Payload::Auth(Auth {
            method: AuthMethod::from(m),
            data,
        })),
        proptest::collection::vec(any::<u8>(), 16..=256).prop_map(|n| Payload::Nonce(Nonce(n))),
        (any::<u8>(), spi(), any::<u16>(), bytes(24)).prop_map(|(p, spi, t, data)| {
            Payload::Notify(Notify {
                protocol_id: ProtocolId::from(p),
                spi,
                notify_type: NotifyType::from(t),
                data,
            })
        }),
        prop_oneof![
            Just(Delete::ike_sa()),
            (2u8..=255, proptest::collection::vec(any::<u32>(), 0..4)).prop_map(|(p, spis)| {
                Delete {
                    protocol_id: ProtocolId::from(p),
                    spis,
                }
            }),
        ]
        .prop_map(Payload::Delete),
        bytes(32).prop_map(|v| Payload::VendorId(VendorId(v))),
        traffic_selectors().prop_map(Payload::TsI),
        traffic_selectors().prop_map(Payload::TsR),
        (
            any::<u8>(),
            proptest::collection::vec((0u16..0x8000, bytes(17)), 0..4)
        )
            .prop_map(|(t, attributes)| Payload::Config(Configuration {
                cfg_type: CfgType::from(t),
                attributes: attributes
                    .into_iter()
                    .map(|(a, value)| ConfigAttribute {
                        attribute_type: CfgAttributeType::from(a),
                        value,
                    })
                    .collect(),
            })),
        bytes(20).prop_map(|v| Payload::Eap(Eap(v))),
        (prop_oneof![1u8..=32, 49u8..=52, 54u8..=255], bytes(20)).prop_map(|(t, data)| {
            Payload::Unknown(UnknownPayload {
                payload_type: t,
                critical: false,
                data,
            })
        }),
    ]
}

proptest! {
    #![proptest_config(config(512))]

    /// Structs that encode decode back to themselves, inside SK and in a
    /// message.
    #[test]
    fn encode_then_decode_is_identity(
        payloads in proptest::collection::vec(inner_payload(), 0..8),
        spi_i in any::<u64>(),
        exchange in any::<u8>(),
        flags in any::<u8>(),
        message_id in any::<u32>(),
    ) {
        let (first, chain) = encode_payload_chain(&payloads).unwrap();
        prop_assert_eq!(decode_payload_chain(first, &chain).unwrap(), payloads.clone());

        let header = Header::new(spi_i, 0, ExchangeType::from(exchange), Flags(flags), message_id);
        let msg = Message::new(header, payloads);
        let bytes = msg.encode().unwrap();
        prop_assert_eq!(Message::decode(&bytes).unwrap(), msg);
    }
}
