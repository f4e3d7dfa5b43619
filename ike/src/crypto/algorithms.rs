//! The transforms vwand implements, with their IANA IDs and key lengths.
//!
//! IANA "Internet Key Exchange Version 2 (IKEv2) Parameters", Transform Type
//! Values: <https://www.iana.org/assignments/ikev2-parameters/>. The wire
//! codec keeps unknown IDs; `from_id` answers `None` for those we can't use.
//! Names follow strongSwan's proposal keywords.

use std::fmt;

/// Transform type 2, pseudorandom function (RFC 4868; RFC 2104 for SHA-1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Prf {
    /// PRF_HMAC_SHA1 (2). Legacy (RFC 8247 §3.2): refused unless allowed.
    HmacSha1,
    /// PRF_HMAC_SHA2_256 (5).
    HmacSha256,
    /// PRF_HMAC_SHA2_384 (6).
    HmacSha384,
    /// PRF_HMAC_SHA2_512 (7).
    HmacSha512,
}

/// Transform type 3, integrity algorithm (RFC 4868; RFC 2404 for SHA-1).
#[allow(non_camel_case_types)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Integ {
    /// AUTH_HMAC_SHA1_96 (2). Legacy (RFC 8247 §3.3): refused unless allowed.
    HmacSha1_96,
    /// AUTH_HMAC_SHA2_256_128 (12).
    HmacSha256_128,
    /// AUTH_HMAC_SHA2_384_192 (13).
    HmacSha384_192,
    /// AUTH_HMAC_SHA2_512_256 (14).
    HmacSha512_256,
}

/// An AES key size, the Key Length attribute (RFC 7296 §3.3.5) in bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AesKeySize {
    Aes128,
    Aes256,
}

/// Transform type 1, encryption algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encr {
    /// ENCR_AES_CBC (12), RFC 3602.
    AesCbc(AesKeySize),
    /// ENCR_AES_GCM_16 (20), RFC 5282.
    AesGcm16(AesKeySize),
    /// ENCR_CHACHA20_POLY1305 (28), RFC 7634. Takes no Key Length attribute.
    ChaCha20Poly1305,
}

/// Transform type 4, Diffie-Hellman group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DhGroup {
    /// 1024-bit MODP (2), RFC 2409 §6.2. Legacy: refused unless allowed.
    Modp1024,
    /// 2048-bit MODP (14), RFC 3526 §3.
    Modp2048,
    /// 2048-bit MODP with a 256-bit prime order subgroup (24), RFC 5114
    /// §2.3. Legacy (RFC 8247 §2.4): refused unless allowed.
    Modp2048s256,
    /// 256-bit random ECP (19), RFC 5903.
    Ecp256,
    /// 384-bit random ECP (20), RFC 5903.
    Ecp384,
    /// Curve25519 (31), RFC 8031.
    Curve25519,
}

/// Transform type 5, Extended Sequence Numbers (RFC 7296 §3.3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Esn {
    /// No Extended Sequence Numbers (0).
    NoEsn,
    /// Extended Sequence Numbers (1).
    Esn,
}

impl Prf {
    pub const ALL: [Prf; 4] = [
        Prf::HmacSha256,
        Prf::HmacSha384,
        Prf::HmacSha512,
        Prf::HmacSha1,
    ];

    pub fn from_id(id: u16) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.id() == id)
    }

    pub const fn id(self) -> u16 {
        match self {
            Prf::HmacSha1 => 2,
            Prf::HmacSha256 => 5,
            Prf::HmacSha384 => 6,
            Prf::HmacSha512 => 7,
        }
    }

    /// Bytes of output, and the preferred key length for SK_d, SK_pi and SK_pr
    /// (RFC 7296 §2.14, RFC 4868 §2.1).
    pub const fn output_len(self) -> usize {
        match self {
            Prf::HmacSha1 => 20,
            Prf::HmacSha256 => 32,
            Prf::HmacSha384 => 48,
            Prf::HmacSha512 => 64,
        }
    }

    /// SHA-1, kept only for peers that offer nothing better.
    pub const fn is_legacy(self) -> bool {
        matches!(self, Prf::HmacSha1)
    }

    pub(crate) fn hmac(self) -> ring::hmac::Algorithm {
        match self {
            Prf::HmacSha1 => ring::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
            Prf::HmacSha256 => ring::hmac::HMAC_SHA256,
            Prf::HmacSha384 => ring::hmac::HMAC_SHA384,
            Prf::HmacSha512 => ring::hmac::HMAC_SHA512,
        }
    }
}

impl Integ {
    pub const ALL: [Integ; 4] = [
        Integ::HmacSha256_128,
        Integ::HmacSha384_192,
        Integ::HmacSha512_256,
        Integ::HmacSha1_96,
    ];

    pub fn from_id(id: u16) -> Option<Self> {
        Self::ALL.into_iter().find(|i| i.id() == id)
    }

    pub const fn id(self) -> u16 {
        match self {
            Integ::HmacSha1_96 => 2,
            Integ::HmacSha256_128 => 12,
            Integ::HmacSha384_192 => 13,
            Integ::HmacSha512_256 => 14,
        }
    }

    /// RFC 2404 §3, RFC 4868 §2.1: the key is as long as the hash output.
    pub const fn key_len(self) -> usize {
        match self {
            Integ::HmacSha1_96 => 20,
            Integ::HmacSha256_128 => 32,
            Integ::HmacSha384_192 => 48,
            Integ::HmacSha512_256 => 64,
        }
    }

    /// RFC 4868 §2.1: the ICV is the hash output truncated to half;
    /// RFC 2404 §2: SHA-1's is truncated to 96 bits.
    pub const fn icv_len(self) -> usize {
        match self {
            Integ::HmacSha1_96 => 12,
            _ => self.key_len() / 2,
        }
    }

    /// SHA-1, kept only for peers that offer nothing better.
    pub const fn is_legacy(self) -> bool {
        matches!(self, Integ::HmacSha1_96)
    }

    pub(crate) fn hmac(self) -> ring::hmac::Algorithm {
        match self {
            Integ::HmacSha1_96 => ring::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
            Integ::HmacSha256_128 => ring::hmac::HMAC_SHA256,
            Integ::HmacSha384_192 => ring::hmac::HMAC_SHA384,
            Integ::HmacSha512_256 => ring::hmac::HMAC_SHA512,
        }
    }
}

impl AesKeySize {
    pub fn from_bits(bits: u16) -> Option<Self> {
        match bits {
            128 => Some(AesKeySize::Aes128),
            256 => Some(AesKeySize::Aes256),
            _ => None,
        }
    }

    pub const fn bits(self) -> u16 {
        match self {
            AesKeySize::Aes128 => 128,
            AesKeySize::Aes256 => 256,
        }
    }

    pub const fn bytes(self) -> usize {
        self.bits() as usize / 8
    }
}

impl Encr {
    /// From a transform ID and its Key Length attribute, if present.
    pub fn from_id(id: u16, key_bits: Option<u16>) -> Option<Self> {
        match (id, key_bits) {
            (12, Some(bits)) => AesKeySize::from_bits(bits).map(Encr::AesCbc),
            (20, Some(bits)) => AesKeySize::from_bits(bits).map(Encr::AesGcm16),
            (28, None) => Some(Encr::ChaCha20Poly1305),
            _ => None,
        }
    }

    pub const fn id(self) -> u16 {
        match self {
            Encr::AesCbc(_) => 12,
            Encr::AesGcm16(_) => 20,
            Encr::ChaCha20Poly1305 => 28,
        }
    }

    /// The Key Length attribute to send with the transform.
    pub const fn key_bits(self) -> Option<u16> {
        match self {
            Encr::AesCbc(k) | Encr::AesGcm16(k) => Some(k.bits()),
            Encr::ChaCha20Poly1305 => None,
        }
    }

    pub const fn is_aead(self) -> bool {
        !matches!(self, Encr::AesCbc(_))
    }

    /// Bytes of SK_ei/SK_er: the cipher key plus, for AEADs, the 4-byte salt
    /// (RFC 5282 §7, RFC 7634 §2).
    pub const fn key_len(self) -> usize {
        match self {
            Encr::AesCbc(k) => k.bytes(),
            Encr::AesGcm16(k) => k.bytes() + 4,
            Encr::ChaCha20Poly1305 => 32 + 4,
        }
    }

    /// The explicit IV in every SK payload: 16 bytes for CBC (RFC 3602 §3),
    /// 8 for the AEADs (RFC 5282 §3, RFC 7634 §2).
    pub const fn iv_len(self) -> usize {
        if self.is_aead() {
            8
        } else {
            16
        }
    }

    /// The block size the padded plaintext must be a multiple of.
    pub const fn block_len(self) -> usize {
        if self.is_aead() {
            1
        } else {
            16
        }
    }
}

impl DhGroup {
    pub const ALL: [DhGroup; 6] = [
        DhGroup::Modp1024,
        DhGroup::Modp2048,
        DhGroup::Modp2048s256,
        DhGroup::Ecp256,
        DhGroup::Ecp384,
        DhGroup::Curve25519,
    ];

    pub fn from_id(id: u16) -> Option<Self> {
        Self::ALL.into_iter().find(|g| g.id() == id)
    }

    pub const fn id(self) -> u16 {
        match self {
            DhGroup::Modp1024 => 2,
            DhGroup::Modp2048 => 14,
            DhGroup::Modp2048s256 => 24,
            DhGroup::Ecp256 => 19,
            DhGroup::Ecp384 => 20,
            DhGroup::Curve25519 => 31,
        }
    }

    /// Bytes of the KE payload's Key Exchange Data.
    pub const fn public_len(self) -> usize {
        match self {
            DhGroup::Modp1024 => 128,
            DhGroup::Modp2048 | DhGroup::Modp2048s256 => 256,
            DhGroup::Ecp256 => 64,
            DhGroup::Ecp384 => 96,
            DhGroup::Curve25519 => 32,
        }
    }

    /// Bytes of the shared secret g^ir.
    pub const fn shared_len(self) -> usize {
        match self {
            DhGroup::Ecp256 | DhGroup::Ecp384 => self.public_len() / 2,
            _ => self.public_len(),
        }
    }

    /// Groups RFC 8247 §2.4 tells implementations not to offer, accepted
    /// only when asked: MODP-1024 for its size, group 24 for its
    /// unexplained generation (and the small-subgroup checks it needs).
    pub const fn is_legacy(self) -> bool {
        matches!(self, DhGroup::Modp1024 | DhGroup::Modp2048s256)
    }
}

impl Esn {
    pub fn from_id(id: u16) -> Option<Self> {
        match id {
            0 => Some(Esn::NoEsn),
            1 => Some(Esn::Esn),
            _ => None,
        }
    }

    pub const fn id(self) -> u16 {
        match self {
            Esn::NoEsn => 0,
            Esn::Esn => 1,
        }
    }
}

/// The ESP data plane has no such algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotInEsp;

impl From<esp::Encryption> for Encr {
    fn from(e: esp::Encryption) -> Self {
        match e {
            esp::Encryption::AesGcm128 => Encr::AesGcm16(AesKeySize::Aes128),
            esp::Encryption::AesGcm256 => Encr::AesGcm16(AesKeySize::Aes256),
            esp::Encryption::ChaCha20Poly1305 => Encr::ChaCha20Poly1305,
            esp::Encryption::AesCbc128 => Encr::AesCbc(AesKeySize::Aes128),
            esp::Encryption::AesCbc256 => Encr::AesCbc(AesKeySize::Aes256),
        }
    }
}

impl From<Encr> for esp::Encryption {
    fn from(e: Encr) -> Self {
        match e {
            Encr::AesGcm16(AesKeySize::Aes128) => esp::Encryption::AesGcm128,
            Encr::AesGcm16(AesKeySize::Aes256) => esp::Encryption::AesGcm256,
            Encr::ChaCha20Poly1305 => esp::Encryption::ChaCha20Poly1305,
            Encr::AesCbc(AesKeySize::Aes128) => esp::Encryption::AesCbc128,
            Encr::AesCbc(AesKeySize::Aes256) => esp::Encryption::AesCbc256,
        }
    }
}

impl From<esp::Integrity> for Integ {
    fn from(i: esp::Integrity) -> Self {
        match i {
            esp::Integrity::HmacSha1_96 => Integ::HmacSha1_96,
            esp::Integrity::HmacSha256_128 => Integ::HmacSha256_128,
            esp::Integrity::HmacSha512_256 => Integ::HmacSha512_256,
        }
    }
}

impl TryFrom<Integ> for esp::Integrity {
    type Error = NotInEsp;

    fn try_from(i: Integ) -> Result<Self, NotInEsp> {
        match i {
            Integ::HmacSha1_96 => Ok(esp::Integrity::HmacSha1_96),
            Integ::HmacSha256_128 => Ok(esp::Integrity::HmacSha256_128),
            Integ::HmacSha512_256 => Ok(esp::Integrity::HmacSha512_256),
            Integ::HmacSha384_192 => Err(NotInEsp),
        }
    }
}

impl fmt::Display for Prf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Prf::HmacSha1 => "prfsha1",
            Prf::HmacSha256 => "prfsha256",
            Prf::HmacSha384 => "prfsha384",
            Prf::HmacSha512 => "prfsha512",
        })
    }
}

impl fmt::Display for Integ {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Integ::HmacSha1_96 => "sha1",
            Integ::HmacSha256_128 => "sha256",
            Integ::HmacSha384_192 => "sha384",
            Integ::HmacSha512_256 => "sha512",
        })
    }
}

impl fmt::Display for Encr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Encr::AesCbc(k) => write!(f, "aes{}", k.bits()),
            Encr::AesGcm16(k) => write!(f, "aes{}gcm16", k.bits()),
            Encr::ChaCha20Poly1305 => f.write_str("chacha20poly1305"),
        }
    }
}

impl fmt::Display for DhGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DhGroup::Modp1024 => "modp1024",
            DhGroup::Modp2048 => "modp2048",
            DhGroup::Modp2048s256 => "modp2048s256",
            DhGroup::Ecp256 => "ecp256",
            DhGroup::Ecp384 => "ecp384",
            DhGroup::Curve25519 => "curve25519",
        })
    }
}

impl fmt::Display for Esn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Esn::NoEsn => "noesn",
            Esn::Esn => "esn",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip() {
        for p in Prf::ALL {
            assert_eq!(Prf::from_id(p.id()), Some(p));
        }
        for i in Integ::ALL {
            assert_eq!(Integ::from_id(i.id()), Some(i));
        }
        for g in DhGroup::ALL {
            assert_eq!(DhGroup::from_id(g.id()), Some(g));
        }
        for e in [
            Encr::AesCbc(AesKeySize::Aes128),
            Encr::AesCbc(AesKeySize::Aes256),
            Encr::AesGcm16(AesKeySize::Aes128),
            Encr::AesGcm16(AesKeySize::Aes256),
            Encr::ChaCha20Poly1305,
        ] {
            assert_eq!(Encr::from_id(e.id(), e.key_bits()), Some(e));
        }
        assert_eq!(Encr::from_id(12, None), None);
        assert_eq!(Encr::from_id(12, Some(192)), None);
        assert_eq!(Encr::from_id(28, Some(256)), None);
        assert_eq!(DhGroup::from_id(5), None);
        assert_eq!(Esn::from_id(1), Some(Esn::Esn));
    }

    #[test]
    fn esp_conversions() {
        for e in [
            esp::Encryption::AesGcm128,
            esp::Encryption::AesGcm256,
            esp::Encryption::ChaCha20Poly1305,
            esp::Encryption::AesCbc128,
            esp::Encryption::AesCbc256,
        ] {
            assert_eq!(esp::Encryption::from(Encr::from(e)), e);
            assert_eq!(Encr::from(e).key_len(), e.key_len());
        }
        for i in [
            esp::Integrity::HmacSha1_96,
            esp::Integrity::HmacSha256_128,
            esp::Integrity::HmacSha512_256,
        ] {
            assert_eq!(esp::Integrity::try_from(Integ::from(i)), Ok(i));
            assert_eq!(Integ::from(i).icv_len(), i.icv_len());
        }
        assert_eq!(
            esp::Integrity::try_from(Integ::HmacSha384_192),
            Err(NotInEsp)
        );
    }
}
