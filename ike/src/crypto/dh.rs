//! Diffie-Hellman key exchange for the KE payload (RFC 7296 §1.2, §3.4).
//!
//! | group | public value (KE data)      | shared secret g^ir         |
//! |-------|-----------------------------|----------------------------|
//! | 2, 14 | 2^x mod p, prime's length   | y^x mod p, prime's length  |
//! | 24    | g^x mod p, prime's length   | y^x mod p, after y^q = 1   |
//! | 19,20 | X ‖ Y (RFC 5903 §7)         | X of the shared point (§7) |
//! | 31    | 32 bytes (RFC 8031 §2)      | X25519 output (RFC 7748 §5)|

use super::algorithms::DhGroup;
use super::error::{CryptoError, KeyUse, PublicValueProblem};
use super::modp::{self, ModpKey, L1024, L2048};
use super::rng::Rng;
use esp::SecretBytes;
use p256::elliptic_curve::sec1::ToEncodedPoint;
use std::fmt;
use zeroize::Zeroizing;

/// How often generation redraws a private key that came out out of range
/// (for ECP a chance of about 2^-32 per draw, for MODP far less).
const MAX_DRAWS: usize = 8;

/// One side's ephemeral Diffie-Hellman key pair. `Debug` shows only the
/// group; the private value is zeroized on drop.
pub struct DhKeyPair {
    group: DhGroup,
    private: Private,
    public: Vec<u8>,
}

enum Private {
    Modp1024(Box<ModpKey<L1024>>),
    /// Groups 14 and 24: the key knows its group.
    Modp2048(Box<ModpKey<L2048>>),
    Ecp256(p256::SecretKey),
    Ecp384(p384::SecretKey),
    X25519(x25519_dalek::StaticSecret),
    /// The insecure test provider: no secret at all (see
    /// [`INSECURE_TEST_CRYPTO`]).
    #[cfg(feature = "insecure-test-crypto")]
    Insecure,
}

/// Whether this build replaces Diffie-Hellman with the **insecure test
/// provider** (cargo feature `insecure-test-crypto`, for the state-machine
/// fuzzers only): the public value is random bytes of the group's length
/// and the "shared secret" is the XOR of both public values, which anyone
/// on the wire can compute. It keeps the exchanges' shape (lengths,
/// groups, the same secret on both sides) at the cost of a copy instead
/// of a scalar multiplication or a modular exponentiation. The daemon
/// refuses to build with it (a `const` assertion in `vwand`'s main).
pub const INSECURE_TEST_CRYPTO: bool = cfg!(feature = "insecure-test-crypto");

impl DhKeyPair {
    /// A fresh key pair with the private value drawn from `rng`.
    pub fn generate(group: DhGroup, rng: &mut dyn Rng) -> Result<Self, CryptoError> {
        #[cfg(feature = "insecure-test-crypto")]
        {
            let mut public = vec![0u8; group.public_len()];
            rng.fill(&mut public)?;
            return Ok(Self {
                group,
                private: Private::Insecure,
                public,
            });
        }
        #[allow(unreachable_code)]
        let len = match group {
            DhGroup::Modp1024 | DhGroup::Modp2048 => modp::GENERATED_EXPONENT_LEN,
            DhGroup::Modp2048s256 => modp::SUBGROUP_EXPONENT_LEN,
            g => g.shared_len(),
        };
        let mut bytes = Zeroizing::new(vec![0u8; len]);
        for _ in 0..MAX_DRAWS {
            rng.fill(&mut bytes)?;
            if group == DhGroup::Modp2048s256 {
                // Below 2^255 < q, so every draw but zero is in range.
                bytes[0] &= 0x7f;
            }
            match Self::from_private_bytes(group, &bytes) {
                Err(CryptoError::InvalidPrivateKey { .. }) => continue,
                other => return other,
            }
        }
        Err(CryptoError::InvalidPrivateKey { group })
    }

    /// A key pair from a given private value: a big-endian exponent of at
    /// most the prime's length for MODP, a big-endian scalar in [1, n) of
    /// the curve's field size for ECP, and 32 bytes for Curve25519 (clamped
    /// as RFC 7748 §5 says). For tests and known-answer checks.
    pub fn from_private_bytes(group: DhGroup, private: &[u8]) -> Result<Self, CryptoError> {
        let invalid = CryptoError::InvalidPrivateKey { group };
        let (private, public) = match group {
            DhGroup::Modp1024 => {
                let k = ModpKey::new(modp::modp1024(), private).ok_or(invalid)?;
                let public = k.public().to_vec();
                (Private::Modp1024(Box::new(k)), public)
            }
            DhGroup::Modp2048 | DhGroup::Modp2048s256 => {
                let g = match group {
                    DhGroup::Modp2048 => modp::modp2048(),
                    _ => modp::modp2048s256(),
                };
                let k = ModpKey::new(g, private).ok_or(invalid)?;
                let public = k.public().to_vec();
                (Private::Modp2048(Box::new(k)), public)
            }
            DhGroup::Ecp256 => {
                check_len(group, private)?;
                let k = p256::SecretKey::from_slice(private).map_err(|_| invalid)?;
                let public = k.public_key().to_encoded_point(false).as_bytes()[1..].to_vec();
                (Private::Ecp256(k), public)
            }
            DhGroup::Ecp384 => {
                check_len(group, private)?;
                let k = p384::SecretKey::from_slice(private).map_err(|_| invalid)?;
                let public = k.public_key().to_encoded_point(false).as_bytes()[1..].to_vec();
                (Private::Ecp384(k), public)
            }
            DhGroup::Curve25519 => {
                check_len(group, private)?;
                let mut b = Zeroizing::new([0u8; 32]);
                b.copy_from_slice(private);
                let k = x25519_dalek::StaticSecret::from(*b);
                let public = x25519_dalek::PublicKey::from(&k).as_bytes().to_vec();
                (Private::X25519(k), public)
            }
        };
        Ok(Self {
            group,
            private,
            public,
        })
    }

    pub fn group(&self) -> DhGroup {
        self.group
    }

    /// The KE payload's Key Exchange Data.
    pub fn public_value(&self) -> &[u8] {
        &self.public
    }

    /// g^ir from the peer's Key Exchange Data, after checking it is a valid
    /// public value for the group.
    pub fn shared_secret(&self, peer: &[u8]) -> Result<SecretBytes, CryptoError> {
        let group = self.group;
        let bad = |problem| CryptoError::InvalidPublicValue { group, problem };
        let expected = group.public_len();
        if peer.len() != expected {
            return Err(bad(PublicValueProblem::Length {
                expected,
                got: peer.len(),
            }));
        }
        match &self.private {
            #[cfg(feature = "insecure-test-crypto")]
            Private::Insecure => Ok(SecretBytes::new(
                self.public
                    .iter()
                    .zip(peer)
                    .take(group.shared_len())
                    .map(|(a, b)| a ^ b)
                    .collect(),
            )),
            Private::Modp1024(k) => k.shared(peer).map_err(bad),
            Private::Modp2048(k) => k.shared(peer).map_err(bad),
            // RFC 5903 §7: the KE data is x ‖ y without SEC 1's 0x04 prefix;
            // the shared secret is the x coordinate of the product.
            Private::Ecp256(k) => {
                let point = p256::PublicKey::from_sec1_bytes(&uncompressed(peer))
                    .map_err(|_| bad(PublicValueProblem::NotOnCurve))?;
                let s = p256::ecdh::diffie_hellman(k.to_nonzero_scalar(), point.as_affine());
                Ok(SecretBytes::new(s.raw_secret_bytes().to_vec()))
            }
            Private::Ecp384(k) => {
                let point = p384::PublicKey::from_sec1_bytes(&uncompressed(peer))
                    .map_err(|_| bad(PublicValueProblem::NotOnCurve))?;
                let s = p384::ecdh::diffie_hellman(k.to_nonzero_scalar(), point.as_affine());
                Ok(SecretBytes::new(s.raw_secret_bytes().to_vec()))
            }
            // RFC 8031 §2: an all-zero shared secret means a low-order point,
            // and the exchange must be aborted.
            Private::X25519(k) => {
                let mut b = [0u8; 32];
                b.copy_from_slice(peer);
                let s = k.diffie_hellman(&x25519_dalek::PublicKey::from(b));
                if !s.was_contributory() {
                    return Err(bad(PublicValueProblem::LowOrder));
                }
                Ok(SecretBytes::new(s.as_bytes().to_vec()))
            }
        }
    }
}

impl fmt::Debug for DhKeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DhKeyPair")
            .field("group", &self.group)
            .finish_non_exhaustive()
    }
}

fn check_len(group: DhGroup, private: &[u8]) -> Result<(), CryptoError> {
    let expected = group.shared_len();
    if private.len() != expected {
        return Err(CryptoError::KeyLength {
            key: KeyUse::DhPrivate,
            expected,
            got: private.len(),
        });
    }
    Ok(())
}

fn uncompressed(xy: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(xy.len() + 1);
    v.push(0x04);
    v.extend_from_slice(xy);
    v
}

#[cfg(all(test, not(feature = "insecure-test-crypto")))]
mod tests {
    use super::*;
    use crate::crypto::rng::InsecureTestRng;

    #[test]
    fn every_group_agrees() {
        let mut rng = InsecureTestRng::from_seed(1);
        for group in DhGroup::ALL {
            let a = DhKeyPair::generate(group, &mut rng).unwrap();
            let b = DhKeyPair::generate(group, &mut rng).unwrap();
            assert_eq!(a.public_value().len(), group.public_len());
            let s1 = a.shared_secret(b.public_value()).unwrap();
            let s2 = b.shared_secret(a.public_value()).unwrap();
            assert_eq!(s1, s2, "{group}");
            assert_eq!(s1.len(), group.shared_len());
            assert!(!format!("{a:?}").contains("private"));
        }
    }

    #[test]
    fn ecp_rejects_bad_points_and_scalars() {
        let mut rng = InsecureTestRng::from_seed(2);
        let a = DhKeyPair::generate(DhGroup::Ecp256, &mut rng).unwrap();
        let mut bad = a.public_value().to_vec();
        bad[63] ^= 1;
        assert_eq!(
            a.shared_secret(&bad),
            Err(CryptoError::InvalidPublicValue {
                group: DhGroup::Ecp256,
                problem: PublicValueProblem::NotOnCurve
            })
        );
        assert!(a.shared_secret(&[0; 64]).is_err());
        assert!(matches!(
            DhKeyPair::from_private_bytes(DhGroup::Ecp256, &[0; 32]),
            Err(CryptoError::InvalidPrivateKey { .. })
        ));
        assert!(matches!(
            DhKeyPair::from_private_bytes(DhGroup::Ecp384, &[0xff; 48]),
            Err(CryptoError::InvalidPrivateKey { .. })
        ));
        assert!(matches!(
            DhKeyPair::from_private_bytes(DhGroup::Ecp384, &[1; 32]),
            Err(CryptoError::KeyLength { .. })
        ));
    }

    #[test]
    fn x25519_rejects_low_order() {
        let mut rng = InsecureTestRng::from_seed(3);
        let a = DhKeyPair::generate(DhGroup::Curve25519, &mut rng).unwrap();
        assert_eq!(
            a.shared_secret(&[0; 32]),
            Err(CryptoError::InvalidPublicValue {
                group: DhGroup::Curve25519,
                problem: PublicValueProblem::LowOrder
            })
        );
        let mut one = [0u8; 32];
        one[0] = 1;
        assert!(a.shared_secret(&one).is_err());
        assert!(a.shared_secret(&[9; 31]).is_err());
    }

    #[test]
    fn rng_failure_propagates() {
        struct Broken;
        impl Rng for Broken {
            fn fill(&mut self, _: &mut [u8]) -> Result<(), crate::crypto::RngFailure> {
                Err(crate::crypto::RngFailure)
            }
        }
        assert_eq!(
            DhKeyPair::generate(DhGroup::Ecp256, &mut Broken).unwrap_err(),
            CryptoError::Rng
        );
    }
}
