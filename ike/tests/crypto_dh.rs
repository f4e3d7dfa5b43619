//! Diffie-Hellman for every group against Python's pow() and
//! `cryptography` (fixtures/crypto/gen_vectors.py), and RFC 7748 §6.1.

#![cfg(not(feature = "insecure-test-crypto"))]

use ike::crypto::{CryptoError, DhGroup, DhKeyPair, PublicValueProblem, Rng, RngFailure};
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

fn group(name: &str) -> DhGroup {
    DhGroup::ALL
        .into_iter()
        .find(|g| g.to_string() == name)
        .unwrap_or_else(|| panic!("unknown group {name}"))
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

#[test]
fn every_group_matches_python() {
    let vectors = fixture("dh.json");
    let mut seen = std::collections::BTreeSet::new();
    for v in &vectors {
        let g = group(v["group"].as_str().unwrap());
        seen.insert(g.id());
        let private = hex(&v["private"]);
        let kp = DhKeyPair::from_private_bytes(g, &private).unwrap();
        assert_eq!(kp.group(), g);
        assert_eq!(kp.public_value(), hex(&v["public"]), "{g} public value");
        let shared = kp.shared_secret(&hex(&v["peer_public"])).unwrap();
        assert_eq!(shared.expose(), hex(&v["shared"]), "{g} shared secret");
        assert_eq!(shared.len(), g.shared_len());
    }
    assert_eq!(seen.len(), DhGroup::ALL.len(), "a group has no vector");
}

#[test]
fn modp_primes_match_the_rfc_formulas() {
    // The fixture derives p from pi as RFC 2409 §6.2 and RFC 3526 §3 state
    // it; p - 1 is then the largest value that passes the range check.
    for v in fixture("dh.json") {
        let name = v["group"].as_str().unwrap();
        if !name.starts_with("modp") {
            continue;
        }
        let g = group(name);
        let mut p = hex(&v["prime"]);
        let kp = DhKeyPair::from_private_bytes(g, &hex(&v["private"])).unwrap();
        let range = Err(CryptoError::InvalidPublicValue {
            group: g,
            problem: PublicValueProblem::OutOfRange,
        });
        assert_eq!(kp.shared_secret(&p), range, "p itself");
        *p.last_mut().unwrap() -= 1; // p - 1 (p is odd)
        assert_eq!(kp.shared_secret(&p), range, "p - 1");
        *p.last_mut().unwrap() -= 1; // p - 2 is in range
        if v.get("generator").is_some() {
            // Group 24 (RFC 6989 §2.2): in range but outside g's subgroup.
            let outside = Err(CryptoError::InvalidPublicValue {
                group: g,
                problem: PublicValueProblem::NotInSubgroup,
            });
            assert_eq!(kp.shared_secret(&p), outside, "p - 2");
            let mut two = vec![0u8; g.public_len()];
            *two.last_mut().unwrap() = 2;
            assert_eq!(kp.shared_secret(&two), outside, "2");
            assert!(kp.shared_secret(&hex(&v["generator"])).is_ok(), "g");
        } else {
            assert!(kp.shared_secret(&p).is_ok(), "p - 2");
        }
        let short = CryptoError::InvalidPublicValue {
            group: g,
            problem: PublicValueProblem::Length {
                expected: g.public_len(),
                got: 1,
            },
        };
        assert_eq!(kp.shared_secret(&[0xff]), Err(short));
    }
}

#[test]
fn x25519_rfc7748_both_sides() {
    // RFC 7748 §6.1: Alice's and Bob's keys and their shared secret.
    let alice =
        hex::decode("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a").unwrap();
    let bob =
        hex::decode("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb").unwrap();
    let a = DhKeyPair::from_private_bytes(DhGroup::Curve25519, &alice).unwrap();
    let b = DhKeyPair::from_private_bytes(DhGroup::Curve25519, &bob).unwrap();
    assert_eq!(
        hex::encode(a.public_value()),
        "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"
    );
    assert_eq!(
        hex::encode(b.public_value()),
        "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f"
    );
    let k = "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742";
    assert_eq!(
        hex::encode(a.shared_secret(b.public_value()).unwrap().expose()),
        k
    );
    assert_eq!(
        hex::encode(b.shared_secret(a.public_value()).unwrap().expose()),
        k
    );

    // RFC 8031: a low-order peer value gives an all-zero secret: refused.
    assert_eq!(
        a.shared_secret(&[0; 32]),
        Err(CryptoError::InvalidPublicValue {
            group: DhGroup::Curve25519,
            problem: PublicValueProblem::LowOrder,
        })
    );
}

#[test]
fn generation_draws_from_the_injected_rng() {
    for v in fixture("dh.json") {
        let g = group(v["group"].as_str().unwrap());
        if matches!(g, DhGroup::Modp1024 | DhGroup::Modp2048) {
            continue; // generated MODP exponents are 64 bytes, not the fixture's
        }
        let private = hex(&v["private"]);
        let kp = DhKeyPair::generate(g, &mut Replay(private.clone())).unwrap();
        assert_eq!(kp.public_value(), hex(&v["public"]), "{g}");
    }
    // ECP: a scalar of zero is redrawn, not used.
    let mut bytes = vec![0u8; 32];
    bytes.extend_from_slice(&[0x11; 32]);
    let kp = DhKeyPair::generate(DhGroup::Ecp256, &mut Replay(bytes)).unwrap();
    let direct = DhKeyPair::from_private_bytes(DhGroup::Ecp256, &[0x11; 32]).unwrap();
    assert_eq!(kp.public_value(), direct.public_value());
    // MODP: 64 bytes of exponent.
    let kp = DhKeyPair::generate(DhGroup::Modp2048, &mut Replay(vec![0x42; 64])).unwrap();
    let direct = DhKeyPair::from_private_bytes(DhGroup::Modp2048, &[0x42; 64]).unwrap();
    assert_eq!(kp.public_value(), direct.public_value());
    // A failing RNG is an error, not a panic.
    assert_eq!(
        DhKeyPair::generate(DhGroup::Curve25519, &mut Replay(vec![])).unwrap_err(),
        CryptoError::Rng
    );
}

#[test]
fn ecp_rejects_points_off_the_curve_and_wrong_lengths() {
    for v in fixture("dh.json") {
        let g = group(v["group"].as_str().unwrap());
        if !matches!(g, DhGroup::Ecp256 | DhGroup::Ecp384) {
            continue;
        }
        let kp = DhKeyPair::from_private_bytes(g, &hex(&v["private"])).unwrap();
        let mut peer = hex(&v["peer_public"]);
        let n = peer.len();
        peer[n - 1] ^= 1;
        assert_eq!(
            kp.shared_secret(&peer),
            Err(CryptoError::InvalidPublicValue {
                group: g,
                problem: PublicValueProblem::NotOnCurve
            })
        );
        // With the SEC 1 prefix the value is one byte too long (RFC 5903 §7).
        let mut prefixed = vec![4];
        prefixed.extend_from_slice(&hex(&v["peer_public"]));
        assert!(matches!(
            kp.shared_secret(&prefixed),
            Err(CryptoError::InvalidPublicValue {
                problem: PublicValueProblem::Length { .. },
                ..
            })
        ));
        assert!(kp.shared_secret(&vec![0; n]).is_err());
    }
}
