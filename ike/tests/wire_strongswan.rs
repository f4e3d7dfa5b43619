//! Round trips of a real exchange between two strongSwans (PSK, IPv4 IDs).
//!
//! The four messages come from `fixtures/strongswan-ike.pcap`, with the
//! non-ESP marker of the two port-4500 datagrams stripped (see
//! `fixtures/wire/README.md`). The SK payloads are decrypted here, in the
//! test, with the keys of `fixtures/strongswan-ike.ikev2_decryption_table`;
//! the crypto module is not involved.

use std::net::{IpAddr, Ipv4Addr};

use aes::cipher::block_padding::NoPadding;
use aes::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use ike::wire::{
    decode_payload_chain, encode_payload_chain, AddressRange, Attribute, AuthMethod, DhGroup,
    EncrId, EncryptedLayout, EsnId, ExchangeType, FixedHeader, IdType, IntegId, Message,
    NotifyType, Payload, PayloadType, PrfId, ProtocolId, Spi, TrafficSelector, Transform,
    TransformId,
};
use ring::hmac;

const SA_INIT_REQUEST: &[u8] = include_bytes!("fixtures/wire/ike_sa_init_request.bin");
const SA_INIT_RESPONSE: &[u8] = include_bytes!("fixtures/wire/ike_sa_init_response.bin");
const AUTH_REQUEST: &[u8] = include_bytes!("fixtures/wire/ike_auth_request.bin");
const AUTH_RESPONSE: &[u8] = include_bytes!("fixtures/wire/ike_auth_response.bin");
const AUTH_REQUEST_INNER: &[u8] = include_bytes!("fixtures/wire/ike_auth_request_inner.bin");
const AUTH_RESPONSE_INNER: &[u8] = include_bytes!("fixtures/wire/ike_auth_response_inner.bin");
const DECRYPTION_TABLE: &str = include_str!("fixtures/strongswan-ike.ikev2_decryption_table");

const SPI_I: u64 = 0xe982_2850_df6f_8b30;
const SPI_R: u64 = 0x56c1_516e_c9ce_ce1e;
const IV_LEN: usize = 16;
const ICV_LEN: usize = 16;

/// Keys of one direction, from the Wireshark decryption table.
struct DirectionKeys {
    encryption: Vec<u8>,
    integrity: Vec<u8>,
}

/// (initiator → responder, responder → initiator).
fn keys() -> (DirectionKeys, DirectionKeys) {
    let fields: Vec<&str> = DECRYPTION_TABLE.trim().split(',').collect();
    assert_eq!(fields.len(), 8);
    let hex_field = |i: usize| hex::decode(fields[i].trim_matches('"')).unwrap();
    assert_eq!(u64::from_be_bytes(hex_field(0).try_into().unwrap()), SPI_I);
    assert_eq!(u64::from_be_bytes(hex_field(1).try_into().unwrap()), SPI_R);
    assert!(fields[4].contains("AES-CBC-256"));
    assert!(fields[7].contains("HMAC_SHA2_256_128"));
    (
        DirectionKeys {
            encryption: hex_field(2),
            integrity: hex_field(5),
        },
        DirectionKeys {
            encryption: hex_field(3),
            integrity: hex_field(6),
        },
    )
}

fn ike_proposal_transforms() -> Vec<Transform> {
    vec![
        Transform::with_key_length(TransformId::Encr(EncrId::AesCbc), 256),
        Transform::new(TransformId::Integ(IntegId::HmacSha2_256_128)),
        Transform::new(TransformId::Prf(PrfId::HmacSha2_256)),
        Transform::new(TransformId::Dh(DhGroup::Modp2048)),
    ]
}

fn notify_types(payloads: &[Payload]) -> Vec<NotifyType> {
    payloads
        .iter()
        .filter_map(|p| match p {
            Payload::Notify(n) => Some(n.notify_type),
            _ => None,
        })
        .collect()
}

fn types(payloads: &[Payload]) -> Vec<PayloadType> {
    payloads.iter().map(Payload::payload_type).collect()
}

/// Checks the parts IKE_SA_INIT request and response share.
fn check_sa_init(msg: &Message) {
    assert_eq!(msg.header.exchange_type, ExchangeType::IkeSaInit);
    assert_eq!((msg.header.major_version, msg.header.minor_version), (2, 0));
    assert_eq!(msg.header.message_id, 0);
    assert_eq!(msg.header.spi_i, SPI_I);
    let Payload::Sa(sa) = &msg.payloads[0] else {
        panic!("first payload is not SA");
    };
    assert_eq!(sa.proposals.len(), 1);
    let proposal = &sa.proposals[0];
    assert_eq!(proposal.number, 1);
    assert_eq!(proposal.protocol_id, ProtocolId::Ike);
    assert_eq!(proposal.spi, Spi::Empty);
    assert_eq!(proposal.transforms, ike_proposal_transforms());
    assert_eq!(proposal.transforms[0].key_length(), Some(256));
    let Payload::Ke(ke) = &msg.payloads[1] else {
        panic!("second payload is not KE");
    };
    assert_eq!(ke.group, DhGroup::Modp2048);
    assert_eq!(ke.data.len(), 256);
    let Payload::Nonce(nonce) = &msg.payloads[2] else {
        panic!("third payload is not a nonce");
    };
    assert_eq!(nonce.0.len(), 32);
    for t in [
        NotifyType::NatDetectionSourceIp,
        NotifyType::NatDetectionDestinationIp,
    ] {
        let n = msg.notify(t).unwrap();
        assert_eq!(n.data.len(), 20, "NAT-D is a SHA-1 hash");
        assert_eq!((n.protocol_id, n.spi), (ProtocolId::None, Spi::Empty));
    }
    assert!(msg
        .notify(NotifyType::Ikev2FragmentationSupported)
        .unwrap()
        .data
        .is_empty());
    let sha = msg.notify(NotifyType::SignatureHashAlgorithms).unwrap();
    assert_eq!(sha.signature_hash_algorithms(), Some(vec![2, 3, 4, 5]));
    assert!(!msg
        .payloads
        .iter()
        .any(|p| matches!(p, Payload::VendorId(_) | Payload::Unknown(_))));
}

#[test]
fn ike_sa_init_request_round_trip() {
    let msg = Message::decode(SA_INIT_REQUEST).unwrap();
    check_sa_init(&msg);
    assert_eq!(msg.header.spi_r, 0);
    assert!(msg.header.flags.initiator() && !msg.header.flags.response());
    assert_eq!(
        types(&msg.payloads),
        [
            PayloadType::Sa,
            PayloadType::Ke,
            PayloadType::Nonce,
            PayloadType::Notify,
            PayloadType::Notify,
            PayloadType::Notify,
            PayloadType::Notify,
            PayloadType::Notify,
        ]
    );
    assert_eq!(
        notify_types(&msg.payloads),
        [
            NotifyType::NatDetectionSourceIp,
            NotifyType::NatDetectionDestinationIp,
            NotifyType::Ikev2FragmentationSupported,
            NotifyType::SignatureHashAlgorithms,
            NotifyType::RedirectSupported,
        ]
    );
    assert_eq!(msg.encode().unwrap(), SA_INIT_REQUEST);
}

#[test]
fn ike_sa_init_response_round_trip() {
    let msg = Message::decode(SA_INIT_RESPONSE).unwrap();
    check_sa_init(&msg);
    assert_eq!(msg.header.spi_r, SPI_R);
    assert!(!msg.header.flags.initiator() && msg.header.flags.response());
    assert_eq!(
        notify_types(&msg.payloads),
        [
            NotifyType::NatDetectionSourceIp,
            NotifyType::NatDetectionDestinationIp,
            NotifyType::Ikev2FragmentationSupported,
            NotifyType::SignatureHashAlgorithms,
            NotifyType::ChildlessIkev2Supported,
            NotifyType::MultipleAuthSupported,
        ]
    );
    assert_eq!(msg.encode().unwrap(), SA_INIT_RESPONSE);
}

/// Verifies and decrypts the SK payload of `datagram` the way the crypto
/// layer will (AES-CBC + HMAC-SHA-256-128), returning the inner payload
/// chain (padding and Pad Length removed) and the padding.
fn open_sk(datagram: &[u8], keys: &DirectionKeys) -> (Vec<u8>, Vec<u8>) {
    let layout = EncryptedLayout::locate(datagram).unwrap();
    assert_eq!(layout.payload_start, FixedHeader::LEN);
    assert_eq!(layout.iv_start, FixedHeader::LEN + 4);
    assert_eq!(layout.end, datagram.len());
    assert_eq!(
        layout.aead_associated_data(datagram).unwrap(),
        &datagram[..32]
    );
    let key = hmac::Key::new(hmac::HMAC_SHA256, &keys.integrity);
    let covered = layout.integrity_covered(datagram, ICV_LEN).unwrap();
    assert_eq!(covered.len(), datagram.len() - ICV_LEN);
    let tag = hmac::sign(&key, covered);
    assert_eq!(
        &tag.as_ref()[..ICV_LEN],
        layout.icv(datagram, ICV_LEN).unwrap()
    );
    let body = layout.encrypted_data(datagram).unwrap();
    let (iv, rest) = body.split_at(IV_LEN);
    let mut plaintext = rest[..rest.len() - ICV_LEN].to_vec();
    cbc::Decryptor::<aes::Aes256>::new_from_slices(&keys.encryption, iv)
        .unwrap()
        .decrypt_padded_mut::<NoPadding>(&mut plaintext)
        .unwrap();
    let pad_len = usize::from(*plaintext.last().unwrap());
    let inner_len = plaintext.len() - 1 - pad_len;
    let padding = plaintext[inner_len..plaintext.len() - 1].to_vec();
    plaintext.truncate(inner_len);
    (plaintext, padding)
}

/// Rebuilds an SK message the way the crypto layer will: encode with a
/// zeroed ICV, encrypt in place, then patch the ICV over what
/// [`EncryptedLayout::integrity_covered`] names.
fn seal_sk(
    outer: &Message,
    first: PayloadType,
    inner: &[u8],
    padding: &[u8],
    iv: &[u8],
    keys: &DirectionKeys,
) -> Vec<u8> {
    let mut plaintext = inner.to_vec();
    plaintext.extend_from_slice(padding);
    plaintext.push(u8::try_from(padding.len()).unwrap());
    let mut data = iv.to_vec();
    data.extend_from_slice(&plaintext);
    data.extend_from_slice(&[0; ICV_LEN]);
    let mut msg = outer.clone();
    msg.payloads = vec![Payload::Encrypted(ike::wire::Encrypted {
        first_payload: first,
        data,
    })];
    let mut datagram = msg.encode().unwrap();
    let layout = EncryptedLayout::locate(&datagram).unwrap();
    let ct_start = layout.iv_start + IV_LEN;
    let ct_end = layout.end - ICV_LEN;
    cbc::Encryptor::<aes::Aes256>::new_from_slices(&keys.encryption, iv)
        .unwrap()
        .encrypt_padded_mut::<NoPadding>(&mut datagram[ct_start..ct_end], ct_end - ct_start)
        .unwrap();
    let key = hmac::Key::new(hmac::HMAC_SHA256, &keys.integrity);
    let tag = hmac::sign(&key, layout.integrity_covered(&datagram, ICV_LEN).unwrap());
    datagram[ct_end..].copy_from_slice(&tag.as_ref()[..ICV_LEN]);
    datagram
}

/// Decodes an IKE_AUTH message, checks its outer form, decrypts it and
/// checks the inner chain against the committed fixture; returns the inner
/// payloads.
fn open_auth(
    datagram: &[u8],
    keys: &DirectionKeys,
    fixture: &[u8],
    first: PayloadType,
) -> Vec<Payload> {
    let msg = Message::decode(datagram).unwrap();
    assert_eq!(msg.encode().unwrap(), datagram);
    assert_eq!(msg.header.exchange_type, ExchangeType::IkeAuth);
    assert_eq!(msg.header.message_id, 1);
    assert_eq!((msg.header.spi_i, msg.header.spi_r), (SPI_I, SPI_R));
    assert_eq!(msg.payloads.len(), 1);
    let sk = msg.encrypted().unwrap();
    assert_eq!(sk.first_payload, first);
    assert_eq!(sk.data.len(), datagram.len() - 32);

    let (inner, padding) = open_sk(datagram, keys);
    assert_eq!(inner, fixture, "decrypted chain differs from the fixture");
    let payloads = decode_payload_chain(sk.first_payload, &inner).unwrap();
    let (first_again, encoded) = encode_payload_chain(&payloads).unwrap();
    assert_eq!(first_again, first);
    assert_eq!(encoded, inner);

    let iv = &sk.data[..IV_LEN];
    assert_eq!(seal_sk(&msg, first, &encoded, &padding, iv, keys), datagram);
    payloads
}

fn check_child_sa(payloads: &[Payload], spi: u32) {
    let sa = payloads
        .iter()
        .find_map(|p| match p {
            Payload::Sa(sa) => Some(sa),
            _ => None,
        })
        .unwrap();
    assert_eq!(sa.proposals.len(), 1);
    let proposal = &sa.proposals[0];
    assert_eq!(proposal.protocol_id, ProtocolId::Esp);
    assert_eq!(proposal.spi, Spi::Ipsec(spi));
    assert_eq!(
        proposal.transforms,
        [
            Transform {
                id: TransformId::Encr(EncrId::AesGcm16),
                attributes: vec![Attribute::KeyLength(256)],
            },
            Transform::new(TransformId::Esn(EsnId::NoEsn)),
        ]
    );
    let ts = |t: PayloadType| {
        payloads
            .iter()
            .find_map(|p| match (p, t) {
                (Payload::TsI(ts), PayloadType::TsI) | (Payload::TsR(ts), PayloadType::TsR) => {
                    Some(ts.selectors.clone())
                }
                _ => None,
            })
            .unwrap()
    };
    assert_eq!(
        ts(PayloadType::TsI),
        [TrafficSelector::Ipv4(AddressRange::any_port(
            Ipv4Addr::new(192, 168, 10, 0),
            Ipv4Addr::new(192, 168, 10, 255),
        ))]
    );
    assert_eq!(
        ts(PayloadType::TsR),
        [TrafficSelector::Ipv4(AddressRange::any_port(
            Ipv4Addr::new(10, 51, 231, 0),
            Ipv4Addr::new(10, 51, 231, 255),
        ))]
    );
}

fn check_ip_id(payload: &Payload, addr: [u8; 4]) {
    let (Payload::IdI(id) | Payload::IdR(id)) = payload else {
        panic!("not an ID payload: {payload:?}");
    };
    assert_eq!(id.id_type, IdType::Ipv4Addr);
    assert_eq!(id.as_ip(), Some(IpAddr::from(addr)));
}

fn check_psk_auth(payload: &Payload) {
    let Payload::Auth(auth) = payload else {
        panic!("not AUTH: {payload:?}");
    };
    assert_eq!(auth.method, AuthMethod::SharedKeyMic);
    assert_eq!(auth.data.len(), 32, "prf-hmac-sha256 output");
}

#[test]
fn ike_auth_request_decrypts_and_round_trips() {
    let (i_to_r, _) = keys();
    let payloads = open_auth(AUTH_REQUEST, &i_to_r, AUTH_REQUEST_INNER, PayloadType::IdI);
    assert_eq!(
        types(&payloads),
        [
            PayloadType::IdI,
            PayloadType::Notify,
            PayloadType::IdR,
            PayloadType::Auth,
            PayloadType::Sa,
            PayloadType::TsI,
            PayloadType::TsR,
            PayloadType::Notify,
            PayloadType::Notify,
            PayloadType::Notify,
            PayloadType::Notify,
            PayloadType::Notify,
        ]
    );
    check_ip_id(&payloads[0], [10, 99, 0, 1]);
    check_ip_id(&payloads[2], [10, 99, 0, 2]);
    check_psk_auth(&payloads[3]);
    check_child_sa(&payloads, 0x834d_43c8);
    assert_eq!(
        notify_types(&payloads),
        [
            NotifyType::InitialContact,
            NotifyType::MobikeSupported,
            NotifyType::AdditionalIp4Address,
            NotifyType::MultipleAuthSupported,
            NotifyType::EapOnlyAuthentication,
            NotifyType::Ikev2MessageIdSyncSupported,
        ]
    );
    let additional = payloads.iter().find_map(|p| match p {
        Payload::Notify(n) if n.notify_type == NotifyType::AdditionalIp4Address => {
            Some(n.data.clone())
        }
        _ => None,
    });
    assert_eq!(additional, Some(vec![192, 168, 10, 1]));
}

#[test]
fn ike_auth_response_decrypts_and_round_trips() {
    let (_, r_to_i) = keys();
    let payloads = open_auth(
        AUTH_RESPONSE,
        &r_to_i,
        AUTH_RESPONSE_INNER,
        PayloadType::IdR,
    );
    assert_eq!(
        types(&payloads),
        [
            PayloadType::IdR,
            PayloadType::Auth,
            PayloadType::Sa,
            PayloadType::TsI,
            PayloadType::TsR,
            PayloadType::Notify,
            PayloadType::Notify,
        ]
    );
    check_ip_id(&payloads[0], [10, 99, 0, 2]);
    check_psk_auth(&payloads[1]);
    check_child_sa(&payloads, 0x41f0_fa73);
    assert_eq!(
        notify_types(&payloads),
        [
            NotifyType::MobikeSupported,
            NotifyType::AdditionalIp4Address
        ]
    );
}

#[test]
fn identification_body_is_what_auth_signs() {
    // RestOfInitIDPayload (RFC 7296 §2.15) is the IDi body: ID Type,
    // RESERVED, data. It sits right after IDi's generic header.
    use ike::wire::Codec;
    let payloads = decode_payload_chain(PayloadType::IdI, AUTH_REQUEST_INNER).unwrap();
    let Payload::IdI(id) = &payloads[0] else {
        panic!("IDi expected");
    };
    assert_eq!(id.to_bytes().unwrap(), &AUTH_REQUEST_INNER[4..12]);
}
