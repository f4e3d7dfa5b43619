//! Messages built from structs: encode, check every length field by hand,
//! decode back.

use std::net::{Ipv4Addr, Ipv6Addr};

use ike::wire::{
    decode_payload_chain, encode_payload_chain, AddressRange, Attribute, AttributeValue, Auth,
    AuthMethod, CertEncoding, CertReq, CfgAttributeType, CfgType, Codec, ConfigAttribute,
    Configuration, Delete, DhGroup, Eap, EncodeError, EncrId, Encrypted, EncryptedFragment,
    EncryptedLayout, EsnId, ExchangeType, Flags, Header, Identification, IntegId, KeyExchange,
    Message, Nonce, Notify, NotifyType, Payload, PayloadType, PrfId, Proposal, ProtocolId, Sa, Spi,
    TrafficSelector, TrafficSelectors, Transform, TransformId, UnknownPayload, VendorId,
};

fn be16(bytes: &[u8], at: usize) -> usize {
    usize::from(u16::from_be_bytes([bytes[at], bytes[at + 1]]))
}

/// Walks a Next Payload chain by hand and returns (type, offset, length)
/// of every payload, checking that the chain ends exactly at `end`.
fn walk(bytes: &[u8], mut at: usize, first: u8) -> Vec<(u8, usize, usize)> {
    let mut out = Vec::new();
    let mut this = first;
    while this != 0 {
        let length = be16(bytes, at + 2);
        assert!(length >= 4);
        out.push((this, at, length));
        if this == 46 || this == 53 {
            at += length;
            break;
        }
        this = bytes[at];
        at += length;
    }
    assert_eq!(at, bytes.len(), "chain must end at the end of the buffer");
    out
}

fn ike_sa_init_request() -> Message {
    let ike = Proposal {
        number: 1,
        protocol_id: ProtocolId::Ike,
        spi: Spi::Empty,
        transforms: vec![
            Transform::with_key_length(TransformId::Encr(EncrId::AesGcm16), 256),
            Transform::new(TransformId::Encr(EncrId::ChaCha20Poly1305)),
            Transform::new(TransformId::Prf(PrfId::HmacSha2_384)),
            Transform::new(TransformId::Dh(DhGroup::Curve25519)),
            Transform::new(TransformId::Dh(DhGroup::Ecp256)),
        ],
    };
    let fallback = Proposal {
        number: 2,
        protocol_id: ProtocolId::Ike,
        spi: Spi::Empty,
        transforms: vec![
            Transform {
                id: TransformId::Encr(EncrId::AesCbc),
                attributes: vec![
                    Attribute::KeyLength(128),
                    Attribute::Other {
                        attribute_type: 0x1234,
                        value: AttributeValue::Tlv(vec![1, 2, 3]),
                    },
                ],
            },
            Transform::new(TransformId::Integ(IntegId::HmacSha2_512_256)),
            Transform::new(TransformId::Prf(PrfId::HmacSha2_512)),
            Transform::new(TransformId::Dh(DhGroup::Modp3072)),
            Transform::new(TransformId::Other {
                transform_type: 6,
                id: 35,
            }),
        ],
    };
    Message::new(
        Header::new(
            0x1122_3344_5566_7788,
            0,
            ExchangeType::IkeSaInit,
            Flags::new(true, false),
            0,
        ),
        vec![
            Payload::Sa(Sa {
                proposals: vec![ike, fallback],
            }),
            Payload::Ke(KeyExchange {
                group: DhGroup::Curve25519,
                data: vec![0x42; 32],
            }),
            Payload::Nonce(Nonce(vec![7; 32])),
            Payload::Notify(Notify::new(NotifyType::NatDetectionSourceIp, vec![1; 20])),
            Payload::Notify(Notify::new(NotifyType::Ikev2FragmentationSupported, vec![])),
            Payload::VendorId(VendorId(b"vwand".to_vec())),
            Payload::CertReq(CertReq {
                encoding: CertEncoding::X509Signature,
                authorities: vec![9; 40],
            }),
        ],
    )
}

#[test]
fn ike_sa_init_lengths() {
    let msg = ike_sa_init_request();
    let bytes = msg.encode().unwrap();
    // IKE header.
    assert_eq!(&bytes[..8], &0x1122_3344_5566_7788u64.to_be_bytes());
    assert_eq!(&bytes[8..16], &[0; 8]);
    assert_eq!(bytes[16], 33, "Next Payload: SA");
    assert_eq!(bytes[17], 0x20, "version 2.0");
    assert_eq!(bytes[18], 34);
    assert_eq!(bytes[19], 0x08, "Initiator only");
    assert_eq!(&bytes[20..24], &[0; 4]);
    assert_eq!(
        u32::from_be_bytes(bytes[24..28].try_into().unwrap()) as usize,
        bytes.len()
    );

    let chain = walk(&bytes, 28, bytes[16]);
    let types: Vec<u8> = chain.iter().map(|c| c.0).collect();
    assert_eq!(types, [33, 34, 40, 41, 41, 43, 38]);
    for (&(_, at, _), next) in chain.iter().zip(types.iter().skip(1).chain([&0])) {
        assert_eq!(bytes[at], *next, "Next Payload field");
        assert_eq!(bytes[at + 1], 0, "critical bit and RESERVED");
    }
    let lengths: Vec<usize> = chain.iter().map(|c| c.2).collect();
    // KE 4+4+32, Ni 4+32, N 4+4+20, N 4+4, V 4+5, CERTREQ 4+1+40.
    assert_eq!(&lengths[1..], &[40, 36, 28, 8, 9, 45]);

    // SA: two proposals whose lengths add up to the payload.
    let (_, sa_at, sa_len) = chain[0];
    let p1 = sa_at + 4;
    let p1_len = be16(&bytes, p1 + 2);
    let p2 = p1 + p1_len;
    let p2_len = be16(&bytes, p2 + 2);
    assert_eq!(4 + p1_len + p2_len, sa_len);
    assert_eq!(bytes[p1], 2, "more proposals follow");
    assert_eq!(bytes[p2], 0, "last proposal");
    assert_eq!(&bytes[p1 + 4..p1 + 8], &[1, 1, 0, 5]);
    assert_eq!(&bytes[p2 + 4..p2 + 8], &[2, 1, 0, 5]);
    // Transforms of proposal 1: 12 (with Key Length) + 4 * 8.
    assert_eq!(p1_len, 8 + 12 + 4 * 8);
    let t1 = p1 + 8;
    assert_eq!(
        &bytes[t1..t1 + 12],
        &[3, 0, 0, 12, 1, 0, 0, 20, 0x80, 14, 1, 0]
    );
    let last_t = t1 + 12 + 3 * 8;
    assert_eq!(&bytes[last_t..last_t + 8], &[0, 0, 0, 8, 4, 0, 0, 19]);
    // Proposal 2's first transform: Key Length TV then a 3-octet TLV.
    let t = p2 + 8;
    assert_eq!(be16(&bytes, t + 2), 8 + 4 + 4 + 3);
    assert_eq!(
        &bytes[t + 8..t + 19],
        &[0x80, 14, 0, 128, 0x12, 0x34, 0, 3, 1, 2, 3]
    );

    assert_eq!(Message::decode(&bytes).unwrap(), msg);
}

#[test]
fn encode_into_appends_after_existing_octets() {
    let msg = ike_sa_init_request();
    let mut buf = vec![0xa5; 13];
    msg.encode_into(&mut buf).unwrap();
    assert!(buf[..13].iter().all(|&b| b == 0xa5));
    assert_eq!(&buf[13..], msg.encode().unwrap());
}

#[test]
fn ike_auth_inner_chain_round_trip() {
    let inner = vec![
        Payload::IdI(Identification::fqdn("left.example")),
        Payload::IdR(Identification::ip("2001:db8::1".parse().unwrap())),
        Payload::Auth(Auth {
            method: AuthMethod::DigitalSignature,
            data: vec![3; 70],
        }),
        Payload::Config(Configuration {
            cfg_type: CfgType::Request,
            attributes: vec![
                ConfigAttribute::request(CfgAttributeType::InternalIp4Address),
                ConfigAttribute {
                    attribute_type: CfgAttributeType::InternalIp4Dns,
                    value: vec![10, 0, 0, 53],
                },
            ],
        }),
        Payload::Sa(Sa {
            proposals: vec![Proposal {
                number: 1,
                protocol_id: ProtocolId::Esp,
                spi: Spi::Ipsec(0xdead_beef),
                transforms: vec![
                    Transform::with_key_length(TransformId::Encr(EncrId::AesGcm16), 128),
                    Transform::new(TransformId::Esn(EsnId::Esn)),
                    Transform::new(TransformId::Esn(EsnId::NoEsn)),
                ],
            }],
        }),
        Payload::TsI(TrafficSelectors {
            selectors: vec![
                TrafficSelector::Ipv4(AddressRange {
                    ip_protocol: 17,
                    start_port: 500,
                    end_port: 500,
                    start: Ipv4Addr::new(10, 0, 0, 1),
                    end: Ipv4Addr::new(10, 0, 0, 1),
                }),
                TrafficSelector::Ipv6(AddressRange::any_port(
                    Ipv6Addr::UNSPECIFIED,
                    Ipv6Addr::from([0xff; 16]),
                )),
            ],
        }),
        Payload::TsR(TrafficSelectors { selectors: vec![] }),
        Payload::Notify(Notify {
            protocol_id: ProtocolId::Esp,
            spi: Spi::Ipsec(0x0102_0304),
            notify_type: NotifyType::RekeySa,
            data: vec![],
        }),
        Payload::Eap(Eap(vec![2, 1, 0, 5, 1])),
        Payload::Delete(Delete {
            protocol_id: ProtocolId::Esp,
            spis: vec![1, 2],
        }),
        Payload::Delete(Delete::ike_sa()),
    ];
    let (first, bytes) = encode_payload_chain(&inner).unwrap();
    assert_eq!(first, PayloadType::IdI);
    let chain = walk(&bytes, 0, first.value());
    let lengths: Vec<usize> = chain.iter().map(|c| c.2).collect();
    // IDi 4+4+12, IDr 4+4+16, AUTH 4+4+70, CP 4+4+4+8,
    // SA 4+(8+4+12+8+8), TSi 4+4+16+40, TSr 4+4,
    // N 4+4+4, EAP 4+5, D 4+4+8, D 4+4.
    assert_eq!(lengths, [20, 24, 78, 20, 44, 64, 8, 12, 9, 16, 8]);
    let (_, tsi, _) = chain[5];
    assert_eq!(&bytes[tsi + 4..tsi + 8], &[2, 0, 0, 0], "Number of TSs");
    assert_eq!(&bytes[tsi + 8..tsi + 12], &[7, 17, 0, 16]);
    assert_eq!(&bytes[tsi + 24..tsi + 28], &[8, 0, 0, 40]);
    let (_, n, _) = chain[7];
    assert_eq!(&bytes[n + 4..n + 12], &[3, 4, 0x40, 0x09, 1, 2, 3, 4]);
    let (_, d, _) = chain[9];
    assert_eq!(&bytes[d + 4..d + 8], &[3, 4, 0, 2]);
    let (_, d, _) = chain[10];
    assert_eq!(&bytes[d + 4..d + 8], &[1, 0, 0, 0]);

    assert_eq!(decode_payload_chain(first, &bytes).unwrap(), inner);
}

#[test]
fn encrypted_payload_is_last_and_names_the_inner_chain() {
    let msg = Message::new(
        Header::new(
            1,
            2,
            ExchangeType::Informational,
            Flags::new(false, true),
            7,
        ),
        vec![
            Payload::Notify(Notify::new(NotifyType::Cookie, vec![5; 8])),
            Payload::Encrypted(Encrypted {
                first_payload: PayloadType::Delete,
                data: vec![0xee; 48],
            }),
        ],
    );
    let bytes = msg.encode().unwrap();
    assert_eq!(bytes.len(), 28 + 16 + 4 + 48);
    assert_eq!(bytes[19], 0x20);
    let chain = walk(&bytes, 28, bytes[16]);
    assert_eq!(chain[0].0, 41);
    assert_eq!(bytes[28], 46, "the Notify's Next Payload is SK");
    let (_, sk, len) = chain[1];
    assert_eq!(
        bytes[sk], 42,
        "SK's Next Payload is its first inner payload"
    );
    assert_eq!(len, 52);
    let layout = EncryptedLayout::locate(&bytes).unwrap();
    assert_eq!(
        (layout.payload_start, layout.iv_start, layout.end),
        (44, 48, 96)
    );
    assert_eq!(layout.aead_associated_data(&bytes).unwrap(), &bytes[..48]);
    assert_eq!(layout.integrity_covered(&bytes, 16).unwrap(), &bytes[..80]);
    assert_eq!(layout.icv(&bytes, 16).unwrap(), &[0xee; 16]);
    assert!(layout.icv(&bytes, 49).is_err());
    assert_eq!(Message::decode(&bytes).unwrap(), msg);
}

#[test]
fn encrypted_fragment_header() {
    let msg = Message::new(
        Header::new(1, 2, ExchangeType::IkeAuth, Flags::new(true, false), 1),
        vec![Payload::EncryptedFragment(EncryptedFragment {
            first_payload: PayloadType::IdI,
            fragment_number: 1,
            total_fragments: 3,
            data: vec![0x11; 32],
        })],
    );
    let bytes = msg.encode().unwrap();
    assert_eq!(bytes[16], 53);
    assert_eq!(&bytes[28..36], &[35, 0, 0, 40, 0, 1, 0, 3]);
    let layout = EncryptedLayout::locate(&bytes).unwrap();
    assert_eq!(layout.iv_start, 36, "Fragment Number and Total are AAD");
    assert_eq!(Message::decode(&bytes).unwrap(), msg);
    assert_eq!(msg.encrypted_fragment().unwrap().total_fragments, 3);
}

#[test]
fn empty_informational() {
    // A liveness check: an SK payload with no inner payloads.
    let msg = Message::new(
        Header::new(
            1,
            2,
            ExchangeType::Informational,
            Flags::new(true, false),
            9,
        ),
        vec![Payload::Encrypted(Encrypted {
            first_payload: PayloadType::NoNextPayload,
            data: vec![0; 32],
        })],
    );
    let bytes = msg.encode().unwrap();
    assert_eq!(bytes[28], 0);
    assert_eq!(Message::decode(&bytes).unwrap(), msg);
    assert_eq!(
        decode_payload_chain(PayloadType::NoNextPayload, &[]).unwrap(),
        []
    );
    assert_eq!(
        encode_payload_chain(&[]).unwrap(),
        (PayloadType::NoNextPayload, vec![])
    );
}

#[test]
fn payload_bodies_alone() {
    let n = Notify::invalid_ke_payload(DhGroup::Ecp384);
    assert_eq!(n.to_bytes().unwrap(), [0, 0, 0, 17, 0, 20]);
    assert_eq!(
        Notify::decode(&n.to_bytes().unwrap())
            .unwrap()
            .accepted_group(),
        Some(DhGroup::Ecp384)
    );
    let id = Identification::ip("192.0.2.1".parse().unwrap());
    assert_eq!(id.to_bytes().unwrap(), [1, 0, 0, 0, 192, 0, 2, 1]);
}

#[test]
fn encoder_refuses_what_the_decoder_would() {
    let header = Header::new(1, 2, ExchangeType::IkeAuth, Flags::new(true, false), 1);
    let sk = Payload::Encrypted(Encrypted {
        first_payload: PayloadType::IdI,
        data: vec![0; 32],
    });
    let nonce = Payload::Nonce(Nonce(vec![0; 16]));
    let cases: Vec<(Vec<Payload>, EncodeError)> = vec![
        (
            vec![sk.clone(), nonce.clone()],
            EncodeError::InvalidValue("Encrypted payload not last"),
        ),
        (
            vec![Payload::Nonce(Nonce(vec![0; 15]))],
            EncodeError::InvalidValue("Nonce Data outside 16..=256 octets"),
        ),
        (
            vec![Payload::Sa(Sa { proposals: vec![] })],
            EncodeError::InvalidValue("SA payload without proposals"),
        ),
        (
            vec![Payload::Unknown(UnknownPayload {
                payload_type: 41,
                critical: false,
                data: vec![],
            })],
            EncodeError::InvalidValue("unknown payload with a known type"),
        ),
        (
            vec![Payload::VendorId(VendorId(vec![0; 70_000]))],
            EncodeError::TooLong("payload"),
        ),
        (
            vec![Payload::Delete(Delete {
                protocol_id: ProtocolId::Ike,
                spis: vec![1],
            })],
            EncodeError::InvalidValue("IKE SA Delete with SPIs"),
        ),
        (
            vec![Payload::IdI(Identification::new(
                ike::wire::IdType::Ipv4Addr,
                vec![1, 2, 3],
            ))],
            EncodeError::InvalidValue("IP address identification length"),
        ),
        (
            vec![Payload::EncryptedFragment(EncryptedFragment {
                first_payload: PayloadType::IdI,
                fragment_number: 4,
                total_fragments: 3,
                data: vec![],
            })],
            EncodeError::InvalidValue("SKF Fragment Number outside 1..=Total Fragments"),
        ),
    ];
    for (payloads, expected) in cases {
        let msg = Message::new(header, payloads);
        assert_eq!(msg.encode(), Err(expected));
    }
    assert_eq!(
        encode_payload_chain(&[nonce, sk]),
        Err(EncodeError::InvalidValue("Encrypted payload inside SK"))
    );
    let mut v1 = Message::new(header, vec![]);
    v1.header.major_version = 1;
    assert!(v1.encode().is_err());
}
