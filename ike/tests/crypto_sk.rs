//! The Encrypted (SK) payload: vectors sealed by Python's `cryptography`
//! (fixtures/crypto/gen_vectors.py), round trips, tampering, and a real
//! strongSwan IKE_AUTH exchange.

use esp::SecretBytes;
use ike::crypto::{
    AesKeySize, CryptoError, Encr, IkeProposal, Integ, LegacyAlgorithms, Rng, RngFailure, SkCipher,
    SkProblem,
};
use serde_json::Value;

fn fixture(name: &str) -> Vec<Value> {
    let path = format!(
        "{}/tests/fixtures/crypto/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    match serde_json::from_str(&text).unwrap() {
        Value::Array(v) => v,
        _ => panic!("{path}: not an array"),
    }
}

fn hex(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().expect("hex string")).expect("valid hex")
}

/// Hands out the given bytes, then fails.
struct Replay(Vec<u8>);

impl Rng for Replay {
    fn fill(&mut self, dest: &mut [u8]) -> Result<(), RngFailure> {
        if dest.len() > self.0.len() {
            return Err(RngFailure);
        }
        let rest = self.0.split_off(dest.len());
        dest.copy_from_slice(&self.0);
        self.0 = rest;
        Ok(())
    }
}

/// A byte counter: enough randomness for tests that don't compare IVs.
struct Counter(u8);

impl Rng for Counter {
    fn fill(&mut self, dest: &mut [u8]) -> Result<(), RngFailure> {
        for b in dest {
            self.0 = self.0.wrapping_add(1);
            *b = self.0;
        }
        Ok(())
    }
}

fn cipher_of(v: &Value) -> SkCipher {
    let mut words = vec![v["encr"].as_str().unwrap()];
    words.extend(v["integ"].as_str());
    words.push("prfsha256-ecp256");
    let suite = IkeProposal::parse(&words.join("-"), LegacyAlgorithms::Allow)
        .unwrap()
        .preferred();
    SkCipher::new(
        suite.encr(),
        suite.integ(),
        &SecretBytes::new(hex(&v["sk_e"])),
        &SecretBytes::new(hex(&v["sk_a"])),
    )
    .unwrap()
}

fn all_ciphers() -> Vec<SkCipher> {
    let vectors = fixture("sk.json");
    vectors.iter().step_by(5).map(cipher_of).collect()
}

/// An IKE header and SK header with lengths set for `body_len`.
fn prefix(body_len: usize) -> Vec<u8> {
    let mut p = vec![0xa5; 16];
    p.extend_from_slice(&[46, 0x20, 35, 0x08, 0, 0, 0, 1]);
    p.extend_from_slice(&((28 + 4 + body_len) as u32).to_be_bytes());
    p.extend_from_slice(&[35, 0]);
    p.extend_from_slice(&((4 + body_len) as u16).to_be_bytes());
    p
}

#[test]
fn opens_python_sealed_vectors() {
    let vectors = fixture("sk.json");
    assert_eq!(vectors.len(), 40);
    for v in vectors {
        let c = cipher_of(&v);
        let what = format!("{} {} pt {}", v["encr"], v["integ"], v["plaintext"]);
        let (pre, body, pt) = (hex(&v["prefix"]), hex(&v["body"]), hex(&v["plaintext"]));
        assert_eq!(c.open(&pre, &body).expect(&what), pt, "{what}");
        if v["minimal_padding"].as_bool().unwrap() {
            // Sealing with the same IV gives Python's bytes exactly.
            assert_eq!(c.sealed_len(pt.len()), body.len(), "{what}");
            let sealed = c.seal(&pre, &pt, &mut Replay(hex(&v["iv"]))).unwrap();
            assert_eq!(hex::encode(&sealed), v["body"].as_str().unwrap(), "{what}");
        }
    }
}

#[test]
fn round_trip_every_size() {
    for c in all_ciphers() {
        let mut rng = Counter(0);
        for len in 0..80 {
            let pt: Vec<u8> = (0..len as u8).collect();
            let body_len = c.sealed_len(len);
            let pre = prefix(body_len);
            let body = c.seal(&pre, &pt, &mut rng).unwrap();
            assert_eq!(body.len(), body_len, "{c:?} {len}");
            assert_eq!(c.open(&pre, &body).unwrap(), pt, "{c:?} {len}");

            let mut msg = pre.clone();
            c.seal_append(&mut msg, &pt, &mut Counter(0)).unwrap();
            assert_eq!(msg.len(), pre.len() + body_len);
            let (p, b) = msg.split_at_mut(pre.len());
            let range = c.open_in_place(p, b).unwrap();
            assert_eq!(&b[range], &pt[..]);
        }
    }
}

#[test]
fn any_flipped_bit_fails_the_check() {
    for c in all_ciphers() {
        let pt = b"\x29\0\0\x0c\x01\0\0\0\x0a\x63\0\x01 some payloads";
        let pre = prefix(c.sealed_len(pt.len()));
        let body = c.seal(&pre, pt, &mut Counter(9)).unwrap();
        for i in 0..body.len() {
            let mut b = body.clone();
            b[i] ^= 0x01;
            assert_eq!(
                c.open(&pre, &b),
                Err(CryptoError::IntegrityCheckFailed),
                "{c:?} body byte {i}"
            );
        }
        for i in 0..pre.len() {
            let mut p = pre.clone();
            p[i] ^= 0x80;
            assert_eq!(
                c.open(&p, &body),
                Err(CryptoError::IntegrityCheckFailed),
                "{c:?} prefix byte {i}"
            );
        }
    }
}

#[test]
fn short_or_misaligned_bodies_are_malformed_not_panics() {
    for c in all_ciphers() {
        let pre = prefix(0);
        for len in 0..200 {
            let body = vec![0x5a; len];
            match c.open(&pre, &body) {
                Err(CryptoError::MalformedSk(_)) | Err(CryptoError::IntegrityCheckFailed) => {}
                other => panic!("{c:?} len {len}: {other:?}"),
            }
        }
    }
    let cbc = &all_ciphers()[0];
    assert_eq!(
        cbc.open(&prefix(0), &[0; 16 + 17 + 16]),
        Err(CryptoError::MalformedSk(SkProblem::NotBlockAligned {
            len: 17,
            block: 16
        }))
    );
    assert_eq!(
        cbc.open(&prefix(0), &[0; 16 + 16 + 15]),
        Err(CryptoError::MalformedSk(SkProblem::TooShort {
            min: 48,
            got: 47
        }))
    );
}

#[test]
fn bad_pad_length_after_a_valid_checksum_is_malformed() {
    // A sender that claims more padding than there is: authentic, but
    // malformed (§3.14), and reported without panicking.
    let key = SecretBytes::new(vec![1; 20]);
    let c = SkCipher::new(
        Encr::AesGcm16(AesKeySize::Aes128),
        None,
        &key,
        &SecretBytes::new(vec![]),
    )
    .unwrap();
    let gcm = ring::aead::LessSafeKey::new(
        ring::aead::UnboundKey::new(&ring::aead::AES_128_GCM, &[1; 16]).unwrap(),
    );
    let pre = prefix(8 + 4 + 16);
    let mut data = b"abc\x09".to_vec(); // pad length 9 > 3 bytes before it
    let mut nonce = [1u8; 12];
    nonce[4..].copy_from_slice(&[7; 8]);
    let tag = gcm
        .seal_in_place_separate_tag(
            ring::aead::Nonce::assume_unique_for_key(nonce),
            ring::aead::Aad::from(&pre),
            &mut data,
        )
        .unwrap();
    let mut body = vec![7; 8];
    body.extend_from_slice(&data);
    body.extend_from_slice(tag.as_ref());
    assert_eq!(
        c.open(&pre, &body),
        Err(CryptoError::MalformedSk(SkProblem::PadLength {
            pad_len: 9,
            available: 3
        }))
    );
}

#[test]
fn wrong_keys_and_transform_mismatches_are_refused() {
    let k = |n| SecretBytes::new(vec![0; n]);
    let cbc = Encr::AesCbc(AesKeySize::Aes256);
    let gcm = Encr::AesGcm16(AesKeySize::Aes256);
    let sha = Some(Integ::HmacSha256_128);
    assert!(SkCipher::new(cbc, sha, &k(32), &k(32)).is_ok());
    assert!(matches!(
        SkCipher::new(cbc, sha, &k(16), &k(32)),
        Err(CryptoError::KeyLength { .. })
    ));
    assert!(matches!(
        SkCipher::new(cbc, sha, &k(32), &k(31)),
        Err(CryptoError::KeyLength { .. })
    ));
    assert_eq!(
        SkCipher::new(cbc, None, &k(32), &k(0)).unwrap_err(),
        CryptoError::TransformMismatch
    );
    assert_eq!(
        SkCipher::new(gcm, sha, &k(36), &k(32)).unwrap_err(),
        CryptoError::TransformMismatch
    );
    assert!(SkCipher::new(gcm, None, &k(36), &k(0)).is_ok());
    assert!(matches!(
        SkCipher::new(gcm, None, &k(32), &k(0)),
        Err(CryptoError::KeyLength { .. })
    ));
    // An RNG failure while sealing is an error, not a panic.
    let c = SkCipher::new(gcm, None, &k(36), &k(0)).unwrap();
    assert_eq!(
        c.seal(&prefix(25), b"x", &mut Replay(vec![])),
        Err(CryptoError::Rng)
    );
}

// --- strongSwan known-answer test ------------------------------------------

/// The UDP payloads of a classic pcap (Ethernet, IPv4, UDP), by raw offsets.
fn udp_payloads(pcap: &[u8]) -> Vec<(u16, Vec<u8>)> {
    assert_eq!(&pcap[..4], &[0xd4, 0xc3, 0xb2, 0xa1], "little-endian pcap");
    let mut out = Vec::new();
    let mut at = 24;
    while at + 16 <= pcap.len() {
        let caplen = u32::from_le_bytes(pcap[at + 8..at + 12].try_into().unwrap()) as usize;
        let frame = &pcap[at + 16..at + 16 + caplen];
        at += 16 + caplen;
        assert_eq!(&frame[12..14], &[0x08, 0x00], "IPv4");
        let ip = &frame[14..];
        assert_eq!(ip[9], 17, "UDP");
        let udp = &ip[usize::from(ip[0] & 0x0f) * 4..];
        let len = usize::from(u16::from_be_bytes([udp[4], udp[5]]));
        let dport = u16::from_be_bytes([udp[2], udp[3]]);
        out.push((dport, udp[8..len].to_vec()));
    }
    out
}

#[test]
fn strongswan_ike_auth_opens() {
    let pcap = include_bytes!("fixtures/strongswan-ike.pcap");
    let table = include_str!("fixtures/strongswan-ike.ikev2_decryption_table");
    let f: Vec<&str> = table.trim().split(',').collect();
    assert_eq!(f[4], "\"AES-CBC-256 [RFC3602]\"");
    assert_eq!(f[7], "\"HMAC_SHA2_256_128 [RFC4868]\"");
    let key = |i: usize| SecretBytes::new(hex::decode(f[i]).unwrap());
    let cbc = Encr::AesCbc(AesKeySize::Aes256);
    let sha = Some(Integ::HmacSha256_128);
    let initiator = SkCipher::new(cbc, sha, &key(2), &key(5)).unwrap();
    let responder = SkCipher::new(cbc, sha, &key(3), &key(6)).unwrap();

    let auth: Vec<Vec<u8>> = udp_payloads(pcap)
        .into_iter()
        .filter_map(|(port, payload)| {
            // RFC 3948 §2.2: on port 4500 IKE follows a 4-byte zero marker.
            let msg = if port == 4500 {
                payload.strip_prefix(&[0, 0, 0, 0][..])?.to_vec()
            } else {
                payload
            };
            (msg[18] == 35).then_some(msg) // exchange type IKE_AUTH
        })
        .collect();
    assert_eq!(auth.len(), 2, "IKE_AUTH request and response");

    let cases = [
        (&auth[0], &initiator, &responder, 35u8),
        (&auth[1], &responder, &initiator, 36),
    ];
    for (msg, cipher, other, first_inner) in cases {
        assert_eq!(hex::encode(&msg[..8]), f[0]);
        assert_eq!(hex::encode(&msg[8..16]), f[1]);
        assert_eq!(msg[16], 46, "first payload is SK");
        let length = u32::from_be_bytes(msg[24..28].try_into().unwrap()) as usize;
        assert_eq!(length, msg.len());
        assert_eq!(msg[28], first_inner, "SK's Next Payload is IDi/IDr");
        let sk_len = usize::from(u16::from_be_bytes([msg[30], msg[31]]));
        assert_eq!(28 + sk_len, msg.len());

        let (prefix, body) = msg.split_at(28 + 4);
        let plain = cipher.open(prefix, body).unwrap();
        // The first inner payload's generic header, then its ID Type
        // (ID_IPV4_ADDR) and 3 reserved bytes.
        let id_len = usize::from(u16::from_be_bytes([plain[2], plain[3]]));
        assert!((8..=plain.len()).contains(&id_len));
        assert_eq!(plain[4], 1, "ID_IPV4_ADDR");
        assert_eq!(&plain[5..8], &[0, 0, 0]);
        assert_eq!(plain[1] & 0x7f, 0, "reserved bits");

        // The other direction's keys don't verify it.
        assert_eq!(
            other.open(prefix, body),
            Err(CryptoError::IntegrityCheckFailed)
        );
    }
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn seal_then_open_is_identity(pt in proptest::collection::vec(any::<u8>(), 0..600), seed: u8) {
            for c in all_ciphers() {
                let pre = prefix(c.sealed_len(pt.len()));
                let body = c.seal(&pre, &pt, &mut Counter(seed)).unwrap();
                prop_assert_eq!(c.open(&pre, &body).unwrap(), pt.clone());
            }
        }

        #[test]
        fn open_never_panics(body in proptest::collection::vec(any::<u8>(), 0..300)) {
            for c in all_ciphers() {
                prop_assert!(c.open(&prefix(body.len()), &body).is_err());
            }
        }
    }
}
