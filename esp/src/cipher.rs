//! Per-packet cryptography, in place on the ESP packet.
//!
//! Both directions see the packet as RFC 4303 §2 lays it out:
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |               Security Parameters Index (SPI)                 |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                      Sequence Number                          |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                    IV (8 bytes AEAD, 16 bytes CBC)            |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ~     Payload, Padding, Pad Length, Next Header (encrypted)     ~
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  Integrity Check Value (16 bytes; 32 for SHA-512, 12 for SHA-1)|
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use crate::algorithm::{Encryption, Integrity, Transform};
use crate::key::SecretBytes;
use aes::cipher::block_padding::NoPadding;
use aes::cipher::{BlockDecryptMut, BlockEncrypt, BlockEncryptMut, InnerIvInit, KeyInit};
use ring::{aead, hmac};

/// Why keying material was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyError {
    EncryptionKeyLength { expected: usize, got: usize },
    IntegrityKeyLength { expected: usize, got: usize },
    MissingIntegrityKey,
    UnexpectedIntegrityKey,
}

impl std::fmt::Display for KeyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyError::EncryptionKeyLength { expected, got } => write!(
                f,
                "encryption key must be {expected} bytes ({} hex digits), got {got} bytes",
                expected * 2
            ),
            KeyError::IntegrityKeyLength { expected, got } => write!(
                f,
                "integrity key must be {expected} bytes ({} hex digits), got {got} bytes",
                expected * 2
            ),
            KeyError::MissingIntegrityKey => {
                f.write_str("this transform needs an integrity key (auth_key)")
            }
            KeyError::UnexpectedIntegrityKey => {
                f.write_str("an AEAD transform takes no integrity key (auth_key)")
            }
        }
    }
}

impl std::error::Error for KeyError {}

/// The ICV did not verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IcvMismatch;

// Both variants are inline AES key schedules (704 and 960 bytes); boxing
// one would only add a pointer chase per packet.
#[allow(clippy::large_enum_variant)]
enum AesKey {
    Aes128(aes::Aes128),
    Aes256(aes::Aes256),
}

// One per SA, held inline so the packet path follows no pointer.
#[allow(clippy::large_enum_variant)]
enum Keys {
    Aead {
        key: aead::LessSafeKey,
        salt: [u8; 4],
    },
    Cbc {
        aes: AesKey,
        mac: hmac::Key,
        icv_len: usize,
    },
}

/// The keyed cipher of one SA.
pub(crate) struct Cipher {
    keys: Keys,
    transform: Transform,
}

impl Cipher {
    pub(crate) fn new(
        transform: Transform,
        enc_key: &SecretBytes,
        integ_key: Option<&SecretBytes>,
    ) -> Result<Self, KeyError> {
        let want = transform.encryption.key_len();
        if enc_key.len() != want {
            return Err(KeyError::EncryptionKeyLength {
                expected: want,
                got: enc_key.len(),
            });
        }
        let k = enc_key.expose();
        let keys = match (transform.encryption, transform.integrity) {
            (enc, None) if enc.is_aead() => {
                if integ_key.is_some() {
                    return Err(KeyError::UnexpectedIntegrityKey);
                }
                let alg = match enc {
                    Encryption::AesGcm128 => &aead::AES_128_GCM,
                    Encryption::AesGcm256 => &aead::AES_256_GCM,
                    _ => &aead::CHACHA20_POLY1305,
                };
                let (key, salt) = k.split_at(k.len() - 4);
                let unbound =
                    aead::UnboundKey::new(alg, key).map_err(|_| KeyError::EncryptionKeyLength {
                        expected: want,
                        got: k.len(),
                    })?;
                let mut s = [0u8; 4];
                s.copy_from_slice(salt);
                Keys::Aead {
                    key: aead::LessSafeKey::new(unbound),
                    salt: s,
                }
            }
            (enc, integ) => {
                let integ = integ.ok_or(KeyError::MissingIntegrityKey)?;
                let ik = integ_key.ok_or(KeyError::MissingIntegrityKey)?;
                if ik.len() != integ.key_len() {
                    return Err(KeyError::IntegrityKeyLength {
                        expected: integ.key_len(),
                        got: ik.len(),
                    });
                }
                let aes = match enc {
                    Encryption::AesCbc128 => AesKey::Aes128(aes::Aes128::new(k.into())),
                    _ => AesKey::Aes256(aes::Aes256::new(k.into())),
                };
                let alg = match integ {
                    Integrity::HmacSha1_96 => hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
                    Integrity::HmacSha256_128 => hmac::HMAC_SHA256,
                    Integrity::HmacSha512_256 => hmac::HMAC_SHA512,
                };
                Keys::Cbc {
                    aes,
                    mac: hmac::Key::new(alg, ik.expose()),
                    icv_len: integ.icv_len(),
                }
            }
        };
        Ok(Self { keys, transform })
    }

    pub(crate) fn transform(&self) -> Transform {
        self.transform
    }

    /// Writes the IV, encrypts `pkt[header..len - icv]` and writes the ICV.
    /// `pkt` is a whole ESP packet whose SPI, sequence number and plaintext
    /// trailer are already in place.
    pub(crate) fn seal(&self, pkt: &mut [u8], seq: u64, esn: bool) {
        let hdr = self.transform.header_len();
        let ct_end = pkt.len() - self.transform.icv_len();
        match &self.keys {
            // RFC 4106 §3.1 and RFC 7634 §2: the IV is any value unique per
            // key; the 64-bit sequence number is. §4: nonce = salt || IV.
            Keys::Aead { key, salt } => {
                let iv = seq.to_be_bytes();
                pkt[8..16].copy_from_slice(&iv);
                let (aad_buf, aad_len) = aead_aad(pkt, seq_hi(seq), esn);
                let (head, tail) = pkt.split_at_mut(ct_end);
                let tag = key
                    .seal_in_place_separate_tag(
                        nonce(salt, &iv),
                        aead::Aad::from(&aad_buf[..aad_len]),
                        &mut head[hdr..],
                    )
                    .unwrap_or_else(|_| unreachable_len());
                tail.copy_from_slice(tag.as_ref());
            }
            // RFC 3602 §3: the IV must be unpredictable. NIST SP 800-38A
            // App. C: encrypting a unique nonce under the cipher key gives one.
            Keys::Cbc { aes, mac, icv_len } => {
                let mut iv = [0u8; 16];
                iv[..8].copy_from_slice(&seq.to_be_bytes());
                iv[8..12].copy_from_slice(&pkt[0..4]);
                aes.encrypt_block(&mut iv);
                pkt[8..24].copy_from_slice(&iv);
                aes.cbc_encrypt(&iv, &mut pkt[hdr..ct_end]);
                let tag = cbc_icv(mac, &pkt[..ct_end], seq_hi(seq), esn);
                pkt[ct_end..].copy_from_slice(&tag.as_ref()[..*icv_len]);
            }
        }
    }

    /// Verifies the ICV, then decrypts in place. On success the plaintext
    /// is `pkt[header..len - icv]`; on failure nothing was decrypted.
    pub(crate) fn open(&self, pkt: &mut [u8], seq_hi: u32, esn: bool) -> Result<(), IcvMismatch> {
        let hdr = self.transform.header_len();
        let ct_end = pkt.len() - self.transform.icv_len();
        match &self.keys {
            Keys::Aead { key, salt } => {
                let mut iv = [0u8; 8];
                iv.copy_from_slice(&pkt[8..16]);
                let (aad_buf, aad_len) = aead_aad(pkt, seq_hi, esn);
                key.open_in_place(
                    nonce(salt, &iv),
                    aead::Aad::from(&aad_buf[..aad_len]),
                    &mut pkt[hdr..],
                )
                .map_err(|_| IcvMismatch)?;
            }
            // RFC 4303 §3.4.4: check the ICV before decrypting.
            Keys::Cbc { aes, mac, icv_len } => {
                let tag = cbc_icv(mac, &pkt[..ct_end], seq_hi, esn);
                if !constant_time_eq(&tag.as_ref()[..*icv_len], &pkt[ct_end..]) {
                    return Err(IcvMismatch);
                }
                let mut iv = [0u8; 16];
                iv.copy_from_slice(&pkt[8..24]);
                aes.cbc_decrypt(&iv, &mut pkt[hdr..ct_end]);
            }
        }
        Ok(())
    }
}

fn seq_hi(seq: u64) -> u32 {
    (seq >> 32) as u32
}

fn nonce(salt: &[u8; 4], iv: &[u8; 8]) -> aead::Nonce {
    let mut n = [0u8; 12];
    n[..4].copy_from_slice(salt);
    n[4..].copy_from_slice(iv);
    aead::Nonce::assume_unique_for_key(n)
}

/// RFC 4106 §5 (and RFC 7634 §2.1): the AAD is SPI || Seq, or with ESN
/// SPI || Seq high || Seq low.
fn aead_aad(pkt: &[u8], seq_hi: u32, esn: bool) -> ([u8; 12], usize) {
    let mut aad = [0u8; 12];
    aad[..4].copy_from_slice(&pkt[..4]);
    if esn {
        aad[4..8].copy_from_slice(&seq_hi.to_be_bytes());
        aad[8..12].copy_from_slice(&pkt[4..8]);
        (aad, 12)
    } else {
        aad[4..8].copy_from_slice(&pkt[4..8]);
        (aad, 8)
    }
}

/// RFC 4303 §3.3.2.2: with ESN the high 32 bits are appended, implicitly,
/// after the Next Header field for the ICV computation.
fn cbc_icv(mac: &hmac::Key, covered: &[u8], seq_hi: u32, esn: bool) -> hmac::Tag {
    let mut ctx = hmac::Context::with_key(mac);
    ctx.update(covered);
    if esn {
        ctx.update(&seq_hi.to_be_bytes());
    }
    ctx.sign()
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// ring refuses a seal only for inputs beyond 2^36 bytes, which an ESP
/// packet never is.
#[cold]
fn unreachable_len() -> aead::Tag {
    unreachable!("ESP packet longer than the AEAD limit")
}

impl AesKey {
    fn encrypt_block(&self, block: &mut [u8; 16]) {
        let b = block.into();
        match self {
            AesKey::Aes128(k) => k.encrypt_block(b),
            AesKey::Aes256(k) => k.encrypt_block(b),
        }
    }

    /// `data` is block-aligned: the caller padded it (RFC 4303 §2.4).
    fn cbc_encrypt(&self, iv: &[u8; 16], data: &mut [u8]) {
        let len = data.len();
        let done = match self {
            AesKey::Aes128(k) => cbc::Encryptor::<&_>::inner_iv_init(k, iv.into())
                .encrypt_padded_mut::<NoPadding>(data, len)
                .is_ok(),
            AesKey::Aes256(k) => cbc::Encryptor::<&_>::inner_iv_init(k, iv.into())
                .encrypt_padded_mut::<NoPadding>(data, len)
                .is_ok(),
        };
        debug_assert!(done, "CBC input not block-aligned");
    }

    /// `data` is block-aligned: the caller checked it.
    fn cbc_decrypt(&self, iv: &[u8; 16], data: &mut [u8]) {
        let done = match self {
            AesKey::Aes128(k) => cbc::Decryptor::<&_>::inner_iv_init(k, iv.into())
                .decrypt_padded_mut::<NoPadding>(data)
                .is_ok(),
            AesKey::Aes256(k) => cbc::Decryptor::<&_>::inner_iv_init(k, iv.into())
                .decrypt_padded_mut::<NoPadding>(data)
                .is_ok(),
        };
        debug_assert!(done, "CBC input not block-aligned");
    }
}
