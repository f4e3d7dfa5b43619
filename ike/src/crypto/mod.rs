//! IKEv2 cryptography (RFC 7296 §2.13–2.18, §3.14; RFC 5282; RFC 5903;
//! RFC 8031).
//!
//! Everything here is a pure function of its inputs, except where randomness
//! is needed: key generation and the SK payload's IV take a `&mut dyn Rng`.
//! Production code passes a [`SystemRng`]; tests and fuzzers pass the seeded
//! `InsecureTestRng` (behind the `insecure-test-rng` feature) so that a
//! whole exchange replays byte for byte.
//!
//! - [`algorithms`]: the transforms, with their IANA IDs and key lengths;
//! - [`proposal`]: strongSwan proposal syntax (`aes256gcm16-prfsha384-ecp384`);
//! - [`prf_plus`], [`IkeSaKeys`], [`ChildKeys`]: key derivation;
//! - [`psk_auth`] and [`signed_octets`]: the AUTH payload for shared keys;
//! - [`DhKeyPair`]: MODP, ECP and Curve25519 Diffie-Hellman;
//! - [`SkCipher`]: the Encrypted payload's protection.
//!
//! Secret keys live in [`esp::SecretBytes`], which is zeroized on drop and
//! never printed. (ring's `hmac::Key` and `aead::LessSafeKey` keep their own
//! key schedules and do not zeroize them.)

pub mod algorithms;
mod auth;
mod dh;
mod error;
#[cfg(test)]
mod exchange_tests;
mod keys;
mod modp;
mod prf;
pub mod proposal;
mod rng;
mod sk;
mod suite;

pub use algorithms::{AesKeySize, DhGroup, Encr, Esn, Integ, Prf};
pub use auth::{psk_auth, signed_octets, verify_psk_auth, KEY_PAD};
pub use dh::{DhKeyPair, INSECURE_TEST_CRYPTO};
pub use error::{CryptoError, KeyUse, PublicValueProblem, SkProblem};
pub use keys::{rekey_skeyseed, skeyseed, ChildKeys, EspKeys, IkeSaKeys};
pub use prf::prf_plus;
pub use proposal::{EspProposal, IkeProposal, LegacyAlgorithms, ProposalError};
#[cfg(any(test, feature = "insecure-test-rng"))]
pub use rng::InsecureTestRng;
pub use rng::{Rng, RngFailure, SystemRng};
pub use sk::SkCipher;
pub use suite::IkeSuite;

/// Compares two byte strings in time that depends only on their lengths.
/// Used for every ICV and AUTH check.
pub(crate) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}
