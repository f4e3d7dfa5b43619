//! Why a cryptographic operation failed.
//!
//! The variants fall in three families, so that the state machine can map
//! each onto the wire:
//!
//! - the peer sent something malformed ([`CryptoError::InvalidPublicValue`],
//!   [`CryptoError::MalformedSk`]): reject the message or the exchange;
//! - the peer failed a check ([`CryptoError::IntegrityCheckFailed`],
//!   [`CryptoError::AuthenticationFailed`]): drop the message, or answer
//!   AUTHENTICATION_FAILED;
//! - a local fault ([`CryptoError::Rng`], [`CryptoError::KeyLength`],
//!   [`CryptoError::PrfPlusTooLong`], …): a bug or a broken system, never
//!   the peer's doing.

use super::algorithms::DhGroup;
use super::rng::RngFailure;
use std::fmt;

/// Why a cryptographic operation failed. No variant carries secret bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CryptoError {
    /// The random number generator failed.
    Rng,
    /// A key had the wrong length for its algorithm.
    KeyLength {
        key: KeyUse,
        expected: usize,
        got: usize,
    },
    /// An AEAD cipher was given an integrity algorithm, or a CBC cipher none.
    TransformMismatch,
    /// prf+ was asked for more than 255 blocks (RFC 7296 §2.13).
    PrfPlusTooLong { requested: usize, max: usize },
    /// The message would exceed the IKE header's 32-bit length field.
    MessageTooLong,
    /// A private key given for `group` was zero or out of range.
    InvalidPrivateKey { group: DhGroup },
    /// The peer's KE payload data is unusable.
    InvalidPublicValue {
        group: DhGroup,
        problem: PublicValueProblem,
    },
    /// The SK payload is malformed (checked before any cryptography).
    MalformedSk(SkProblem),
    /// The SK payload's ICV (or AEAD tag) did not verify. The message must be
    /// dropped without a reply.
    IntegrityCheckFailed,
    /// A received AUTH value did not match the computed one.
    AuthenticationFailed,
}

/// Which key a [`CryptoError::KeyLength`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyUse {
    /// SK_e*, or an ESP encryption key (with its salt for AEADs).
    Encryption,
    /// SK_a*, or an ESP integrity key.
    Integrity,
    /// A Diffie-Hellman private value.
    DhPrivate,
}

/// What is wrong with a peer's Diffie-Hellman public value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublicValueProblem {
    /// RFC 7296 §3.4, RFC 5903 §7, RFC 8031 §2: the length is fixed by the
    /// group.
    Length { expected: usize, got: usize },
    /// MODP: not in 1 < y < p-1.
    OutOfRange,
    /// MODP with a prime order subgroup (group 24): y^q != 1 mod p, so y is
    /// outside the subgroup (RFC 6989 §2.2).
    NotInSubgroup,
    /// ECP: not a point on the curve (or the point at infinity).
    NotOnCurve,
    /// Curve25519: the shared secret came out all zero (RFC 8031 §2).
    LowOrder,
}

/// What is wrong with an SK payload's body before it is verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkProblem {
    /// Too short to hold the IV, one cipher block (or the pad length byte)
    /// and the ICV.
    TooShort { min: usize, got: usize },
    /// The CBC ciphertext is not a whole number of blocks.
    NotBlockAligned { len: usize, block: usize },
    /// The decrypted Pad Length exceeds the decrypted data (RFC 7296 §3.14).
    PadLength { pad_len: usize, available: usize },
}

impl From<RngFailure> for CryptoError {
    fn from(_: RngFailure) -> Self {
        CryptoError::Rng
    }
}

impl fmt::Display for CryptoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CryptoError::Rng => f.write_str("the system random number generator failed"),
            CryptoError::KeyLength { key, expected, got } => {
                write!(f, "{key} key must be {expected} bytes, got {got}")
            }
            CryptoError::TransformMismatch => f.write_str(
                "an AEAD cipher takes no integrity algorithm and a CBC cipher needs one",
            ),
            CryptoError::PrfPlusTooLong { requested, max } => write!(
                f,
                "prf+ can produce at most {max} bytes with this PRF, {requested} requested"
            ),
            CryptoError::MessageTooLong => f.write_str("IKE message longer than 2^32-1 bytes"),
            CryptoError::InvalidPrivateKey { group } => {
                write!(f, "private key out of range for {group}")
            }
            CryptoError::InvalidPublicValue { group, problem } => {
                write!(f, "peer's {group} public value is invalid: {problem}")
            }
            CryptoError::MalformedSk(p) => write!(f, "malformed Encrypted payload: {p}"),
            CryptoError::IntegrityCheckFailed => {
                f.write_str("Encrypted payload failed its integrity check")
            }
            CryptoError::AuthenticationFailed => f.write_str("AUTH payload did not verify"),
        }
    }
}

impl fmt::Display for KeyUse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KeyUse::Encryption => "encryption",
            KeyUse::Integrity => "integrity",
            KeyUse::DhPrivate => "Diffie-Hellman private",
        })
    }
}

impl fmt::Display for PublicValueProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PublicValueProblem::Length { expected, got } => {
                write!(f, "{got} bytes, expected {expected}")
            }
            PublicValueProblem::OutOfRange => f.write_str("not in the range 1 < y < p-1"),
            PublicValueProblem::NotInSubgroup => {
                f.write_str("not in the prime order subgroup (y^q != 1 mod p)")
            }
            PublicValueProblem::NotOnCurve => f.write_str("not a point on the curve"),
            PublicValueProblem::LowOrder => f.write_str("low-order point (all-zero secret)"),
        }
    }
}

impl fmt::Display for SkProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SkProblem::TooShort { min, got } => {
                write!(f, "{got} bytes, at least {min} needed")
            }
            SkProblem::NotBlockAligned { len, block } => {
                write!(f, "ciphertext of {len} bytes is not a multiple of {block}")
            }
            SkProblem::PadLength { pad_len, available } => write!(
                f,
                "pad length {pad_len} exceeds the {available} bytes before it"
            ),
        }
    }
}

impl std::error::Error for CryptoError {}
