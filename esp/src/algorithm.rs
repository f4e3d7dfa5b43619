//! ESP transforms, named in strongSwan's proposal syntax.
//!
//! The split into an encryption and an optional integrity algorithm follows
//! IKEv2's transform types 1 and 3 (RFC 7296 §3.3.2), so the IKE crate can map
//! negotiated transform IDs onto these types one to one.

use std::fmt;
use std::str::FromStr;

/// Encryption transform (IKEv2 transform type 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encryption {
    /// RFC 4106, ENCR_AES_GCM_16 with a 128-bit key.
    AesGcm128,
    /// RFC 4106, ENCR_AES_GCM_16 with a 256-bit key.
    AesGcm256,
    /// RFC 7634, ENCR_CHACHA20_POLY1305.
    ChaCha20Poly1305,
    /// RFC 3602, ENCR_AES_CBC with a 128-bit key.
    AesCbc128,
    /// RFC 3602, ENCR_AES_CBC with a 256-bit key.
    AesCbc256,
}

/// Integrity transform (IKEv2 transform type 3), RFC 4868 and RFC 2404.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Integrity {
    /// AUTH_HMAC_SHA1_96 (RFC 2404). Legacy: RFC 8221 §2.3 keeps it only
    /// for interoperability, so configuring it needs `allow_legacy`.
    HmacSha1_96,
    /// AUTH_HMAC_SHA2_256_128.
    HmacSha256_128,
    /// AUTH_HMAC_SHA2_512_256.
    HmacSha512_256,
}

/// A complete ESP transform: AEAD alone, or CBC with an HMAC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Transform {
    pub encryption: Encryption,
    pub integrity: Option<Integrity>,
}

impl Encryption {
    pub fn is_aead(self) -> bool {
        matches!(
            self,
            Self::AesGcm128 | Self::AesGcm256 | Self::ChaCha20Poly1305
        )
    }

    /// Bytes of keying material: the cipher key, plus the 4-byte salt for
    /// AEADs (RFC 4106 §8.1, RFC 7634 §2).
    pub fn key_len(self) -> usize {
        match self {
            Self::AesGcm128 => 16 + 4,
            Self::AesGcm256 | Self::ChaCha20Poly1305 => 32 + 4,
            Self::AesCbc128 => 16,
            Self::AesCbc256 => 32,
        }
    }

    /// Length of the IV carried in every packet.
    pub fn iv_len(self) -> usize {
        if self.is_aead() {
            8
        } else {
            16
        }
    }

    /// The cipher's block size for RFC 4303 §2.4 padding (4 for AEADs: the
    /// trailer must end on a 4-byte boundary).
    pub fn block_len(self) -> usize {
        if self.is_aead() {
            4
        } else {
            16
        }
    }
}

impl Integrity {
    /// RFC 2404 §3 and RFC 4868 §2.1: the key is as long as the hash output.
    pub fn key_len(self) -> usize {
        match self {
            Self::HmacSha1_96 => 20,
            Self::HmacSha256_128 => 32,
            Self::HmacSha512_256 => 64,
        }
    }

    /// RFC 2404 §2: 96 bits; RFC 4868 §2.1: half the hash output.
    pub fn icv_len(self) -> usize {
        match self {
            Self::HmacSha1_96 => 12,
            Self::HmacSha256_128 => 16,
            Self::HmacSha512_256 => 32,
        }
    }

    /// Algorithms kept only for peers that offer nothing better.
    pub fn is_legacy(self) -> bool {
        matches!(self, Self::HmacSha1_96)
    }
}

impl Transform {
    pub const AES256GCM16: Self = Self::aead(Encryption::AesGcm256);

    pub const fn aead(encryption: Encryption) -> Self {
        Self {
            encryption,
            integrity: None,
        }
    }

    /// Whether any part is a legacy algorithm ([`Integrity::is_legacy`]).
    pub fn is_legacy(self) -> bool {
        self.integrity.is_some_and(Integrity::is_legacy)
    }

    pub fn icv_len(self) -> usize {
        match self.integrity {
            Some(i) => i.icv_len(),
            None => 16,
        }
    }

    /// Bytes in front of the payload: SPI, sequence number and IV.
    pub fn header_len(self) -> usize {
        8 + self.encryption.iv_len()
    }

    /// The most bytes added after the payload: padding, pad length, next
    /// header and ICV.
    pub fn max_trailer_len(self) -> usize {
        self.encryption.block_len() - 1 + 2 + self.icv_len()
    }
}

/// Every transform's name, for error messages and docs.
pub const TRANSFORM_NAMES: &[&str] = &[
    "aes128gcm16",
    "aes256gcm16",
    "chacha20poly1305",
    "aes128-sha256",
    "aes256-sha256",
    "aes128-sha512",
    "aes256-sha512",
    "aes128-sha1",
    "aes256-sha1",
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownTransform(pub String);

impl fmt::Display for UnknownTransform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown ESP transform {:?}; expected one of: {}",
            self.0,
            TRANSFORM_NAMES.join(", ")
        )
    }
}

impl std::error::Error for UnknownTransform {}

impl FromStr for Transform {
    type Err = UnknownTransform;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        use Encryption::*;
        use Integrity::*;
        let t = match s.trim().to_ascii_lowercase().as_str() {
            "aes128gcm16" | "aes128gcm128" => Self::aead(AesGcm128),
            "aes256gcm16" | "aes256gcm128" => Self::aead(AesGcm256),
            "chacha20poly1305" => Self::aead(ChaCha20Poly1305),
            "aes128-sha256" => Self::cbc(AesCbc128, HmacSha256_128),
            "aes256-sha256" => Self::cbc(AesCbc256, HmacSha256_128),
            "aes128-sha512" => Self::cbc(AesCbc128, HmacSha512_256),
            "aes256-sha512" => Self::cbc(AesCbc256, HmacSha512_256),
            "aes128-sha1" => Self::cbc(AesCbc128, HmacSha1_96),
            "aes256-sha1" => Self::cbc(AesCbc256, HmacSha1_96),
            _ => return Err(UnknownTransform(s.to_string())),
        };
        Ok(t)
    }
}

impl Transform {
    const fn cbc(encryption: Encryption, integrity: Integrity) -> Self {
        Self {
            encryption,
            integrity: Some(integrity),
        }
    }
}

impl fmt::Display for Transform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let enc = match self.encryption {
            Encryption::AesGcm128 => "aes128gcm16",
            Encryption::AesGcm256 => "aes256gcm16",
            Encryption::ChaCha20Poly1305 => "chacha20poly1305",
            Encryption::AesCbc128 => "aes128",
            Encryption::AesCbc256 => "aes256",
        };
        f.write_str(enc)?;
        match self.integrity {
            Some(Integrity::HmacSha1_96) => f.write_str("-sha1"),
            Some(Integrity::HmacSha256_128) => f.write_str("-sha256"),
            Some(Integrity::HmacSha512_256) => f.write_str("-sha512"),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for name in TRANSFORM_NAMES {
            let t: Transform = name.parse().unwrap();
            assert_eq!(&t.to_string(), name);
        }
        assert!("aes256".parse::<Transform>().is_err());
    }
}
