//! Protection of the Encrypted payload, SK (RFC 7296 §3.14; RFC 5282 for
//! AES-GCM; RFC 7634 for ChaCha20-Poly1305).
//!
//! ```text
//!                      1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | Next Payload  |C|  RESERVED   |         Payload Length        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                     Initialization Vector                     |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ~                    Encrypted IKE Payloads                     ~
//! +               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |               |             Padding (0-255 octets)            |
//! +-+-+-+-+-+-+-+-+                               +-+-+-+-+-+-+-+-+
//! |                                               |  Pad Length   |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ~                    Integrity Checksum Data                    ~
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! The functions here deal in two byte strings that the caller cuts from
//! the message:
//!
//! - the *prefix*: everything from the IKE header up to and including the SK
//!   payload's generic header. CBC's checksum and the AEADs' associated data
//!   both start with it, so its length fields must already be final: size
//!   the SK payload with [`SkCipher::sealed_len`] first;
//! - the *body*: IV ‖ ciphertext ‖ ICV, the rest of the message (SK is
//!   always the last payload).
//!
//! The same applies to the Encrypted Fragment payload of RFC 7383, whose
//! prefix ends after its 8-byte header.

use super::algorithms::{AesKeySize, Encr, Integ};
use super::ct_eq;
use super::error::{CryptoError, KeyUse, SkProblem};
use super::rng::Rng;
use aes::cipher::block_padding::NoPadding;
use aes::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use esp::SecretBytes;
use ring::{aead, hmac};
use std::fmt;
use zeroize::Zeroizing;

/// The tag of every AEAD here (ENCR_AES_GCM_16 of RFC 5282, and RFC 7634).
const AEAD_TAG_LEN: usize = 16;
const AES_BLOCK: usize = 16;

/// One direction's SK keys: SK_ei/SK_ai for what the initiator sends,
/// SK_er/SK_ar for what the responder sends.
pub struct SkCipher {
    encr: Encr,
    keys: Keys,
}

// One per direction per IKE SA; boxing the AEAD key would only add a
// pointer chase.
#[allow(clippy::large_enum_variant)]
enum Keys {
    Aead {
        key: aead::LessSafeKey,
        salt: [u8; 4],
    },
    Cbc {
        key: Zeroizing<Vec<u8>>,
        mac: hmac::Key,
        icv_len: usize,
    },
}

impl SkCipher {
    /// `sk_a` must be empty for an AEAD (whose `integ` is `None`) and the
    /// integrity key for CBC. AEAD keys end with their 4-byte salt.
    pub fn new(
        encr: Encr,
        integ: Option<Integ>,
        sk_e: &SecretBytes,
        sk_a: &SecretBytes,
    ) -> Result<Self, CryptoError> {
        check_len(KeyUse::Encryption, encr.key_len(), sk_e.len())?;
        let keys = match (encr, integ) {
            (Encr::AesGcm16(_) | Encr::ChaCha20Poly1305, None) => {
                check_len(KeyUse::Integrity, 0, sk_a.len())?;
                let alg = match encr {
                    Encr::AesGcm16(AesKeySize::Aes128) => &aead::AES_128_GCM,
                    Encr::AesGcm16(AesKeySize::Aes256) => &aead::AES_256_GCM,
                    _ => &aead::CHACHA20_POLY1305,
                };
                let (key, salt) = sk_e.expose().split_at(sk_e.len() - 4);
                let key = aead::UnboundKey::new(alg, key).map_err(|_| CryptoError::KeyLength {
                    key: KeyUse::Encryption,
                    expected: encr.key_len(),
                    got: sk_e.len(),
                })?;
                let mut s = [0u8; 4];
                s.copy_from_slice(salt);
                Keys::Aead {
                    key: aead::LessSafeKey::new(key),
                    salt: s,
                }
            }
            (Encr::AesCbc(_), Some(integ)) => {
                check_len(KeyUse::Integrity, integ.key_len(), sk_a.len())?;
                Keys::Cbc {
                    key: Zeroizing::new(sk_e.expose().to_vec()),
                    mac: hmac::Key::new(integ.hmac(), sk_a.expose()),
                    icv_len: integ.icv_len(),
                }
            }
            _ => return Err(CryptoError::TransformMismatch),
        };
        Ok(Self { encr, keys })
    }

    fn icv_len(&self) -> usize {
        match &self.keys {
            Keys::Aead { .. } => AEAD_TAG_LEN,
            Keys::Cbc { icv_len, .. } => *icv_len,
        }
    }

    /// Bytes of the body (IV ‖ ciphertext ‖ ICV) that sealing `plaintext_len`
    /// bytes of payloads produces. The SK payload's length is this plus its
    /// 4-byte header.
    pub fn sealed_len(&self, plaintext_len: usize) -> usize {
        self.encr
            .iv_len()
            .saturating_add(padded_len(self.encr, plaintext_len))
            .saturating_add(self.icv_len())
    }

    /// The body (IV ‖ ciphertext ‖ ICV) protecting `plaintext`, the inner
    /// payloads. `prefix` is the message up to the end of the SK header,
    /// with its length fields set for [`SkCipher::sealed_len`].
    pub fn seal(
        &self,
        prefix: &[u8],
        plaintext: &[u8],
        rng: &mut dyn Rng,
    ) -> Result<Vec<u8>, CryptoError> {
        let mut buf = Vec::with_capacity(prefix.len() + self.sealed_len(plaintext.len()));
        buf.extend_from_slice(prefix);
        self.seal_append(&mut buf, plaintext, rng)?;
        Ok(buf.split_off(prefix.len()))
    }

    /// As [`SkCipher::seal`], where `message` holds the prefix and the body
    /// is appended to it, completing the message in place.
    pub fn seal_append(
        &self,
        message: &mut Vec<u8>,
        plaintext: &[u8],
        rng: &mut dyn Rng,
    ) -> Result<(), CryptoError> {
        let prefix_len = message.len();
        let total = prefix_len.saturating_add(self.sealed_len(plaintext.len()));
        if u32::try_from(total).is_err() {
            return Err(CryptoError::MessageTooLong);
        }
        let iv_len = self.encr.iv_len();
        let padded = padded_len(self.encr, plaintext.len());
        let pad = padded - plaintext.len() - 1;
        let mut iv = [0u8; 16];
        rng.fill(&mut iv[..iv_len])?;

        message.reserve(self.sealed_len(plaintext.len()));
        message.extend_from_slice(&iv[..iv_len]);
        let ct_start = message.len();
        message.extend_from_slice(plaintext);
        // §3.14: padding "MAY contain any value chosen by the sender".
        message.resize(message.len() + pad, 0);
        message.push(pad as u8);

        match &self.keys {
            // RFC 5282 §5.1: the associated data runs from the IKE header to
            // the end of the SK header; the IV is not part of it. §4: the
            // nonce is the salt followed by the explicit IV.
            Keys::Aead { key, salt } => {
                let (head, data) = message.split_at_mut(ct_start);
                let tag = key
                    .seal_in_place_separate_tag(
                        nonce(salt, &iv[..8]),
                        aead::Aad::from(&head[..prefix_len]),
                        data,
                    )
                    .map_err(|_| CryptoError::MessageTooLong)?;
                message.extend_from_slice(tag.as_ref());
            }
            // §3.14: the checksum covers the message "from the first octet
            // of the fixed IKE header through the last octet of the Pad
            // Length" (so the IV too).
            Keys::Cbc { key, mac, icv_len } => {
                cbc_encrypt(key, &iv, &mut message[ct_start..]);
                let tag = hmac::sign(mac, message);
                message.extend_from_slice(&tag.as_ref()[..*icv_len]);
            }
        }
        Ok(())
    }

    /// Verifies the body against `prefix` and returns the inner payloads.
    /// The checksum is verified (in constant time) before anything is
    /// decrypted; padding contents are not checked (§3.14).
    pub fn open(&self, prefix: &[u8], body: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let mut copy = Zeroizing::new(body.to_vec());
        let range = self.open_in_place(prefix, &mut copy)?;
        Ok(copy[range].to_vec())
    }

    /// As [`SkCipher::open`], decrypting `body` in place. The inner payloads
    /// are `body[range]` on success. If the checksum fails nothing was
    /// decrypted.
    // `usize::is_multiple_of` needs Rust 1.87; the workspace promises 1.80.
    #[allow(clippy::manual_is_multiple_of)]
    pub fn open_in_place(
        &self,
        prefix: &[u8],
        body: &mut [u8],
    ) -> Result<std::ops::Range<usize>, CryptoError> {
        let iv_len = self.encr.iv_len();
        let icv_len = self.icv_len();
        // At least one byte (AEAD) or block (CBC): the Pad Length.
        let min = iv_len + self.encr.block_len() + icv_len;
        if body.len() < min {
            return Err(CryptoError::MalformedSk(SkProblem::TooShort {
                min,
                got: body.len(),
            }));
        }
        let ct_end = body.len() - icv_len;
        match &self.keys {
            Keys::Aead { key, salt } => {
                let (iv, data) = body.split_at_mut(iv_len);
                key.open_in_place(nonce(salt, iv), aead::Aad::from(prefix), data)
                    .map_err(|_| CryptoError::IntegrityCheckFailed)?;
            }
            Keys::Cbc { key, mac, .. } => {
                let ct_len = ct_end - iv_len;
                if ct_len % AES_BLOCK != 0 {
                    return Err(CryptoError::MalformedSk(SkProblem::NotBlockAligned {
                        len: ct_len,
                        block: AES_BLOCK,
                    }));
                }
                let mut ctx = hmac::Context::with_key(mac);
                ctx.update(prefix);
                ctx.update(&body[..ct_end]);
                if !ct_eq(&ctx.sign().as_ref()[..icv_len], &body[ct_end..]) {
                    return Err(CryptoError::IntegrityCheckFailed);
                }
                let (iv, data) = body.split_at_mut(iv_len);
                cbc_decrypt(key, iv, &mut data[..ct_len]);
            }
        }
        let pad_len = usize::from(body[ct_end - 1]);
        let available = ct_end - 1 - iv_len;
        if pad_len > available {
            return Err(CryptoError::MalformedSk(SkProblem::PadLength {
                pad_len,
                available,
            }));
        }
        Ok(iv_len..iv_len + available - pad_len)
    }
}

impl fmt::Debug for SkCipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SkCipher")
            .field("encr", &self.encr)
            .field("icv_len", &self.icv_len())
            .finish_non_exhaustive()
    }
}

fn check_len(key: KeyUse, expected: usize, got: usize) -> Result<(), CryptoError> {
    if expected == got {
        Ok(())
    } else {
        Err(CryptoError::KeyLength { key, expected, got })
    }
}

/// Plaintext, padding and the Pad Length byte: the least that is a multiple
/// of the block size (1 for the AEADs, so no padding).
fn padded_len(encr: Encr, plaintext_len: usize) -> usize {
    let block = encr.block_len();
    plaintext_len
        .saturating_add(1)
        .div_ceil(block)
        .saturating_mul(block)
}

fn nonce(salt: &[u8; 4], iv: &[u8]) -> aead::Nonce {
    let mut n = [0u8; 12];
    n[..4].copy_from_slice(salt);
    n[4..].copy_from_slice(iv);
    aead::Nonce::assume_unique_for_key(n)
}

// RFC 3602 as IKEv2 uses it: AES-CBC over whole blocks, no padding of
// its own (§3.14 pads). The callers pass block-aligned data, so the
// `NoPadding` operations cannot fail.

fn cbc_encrypt(key: &[u8], iv: &[u8], data: &mut [u8]) {
    let len = data.len();
    let ok = match key.len() {
        16 => cbc::Encryptor::<aes::Aes128>::new_from_slices(key, iv)
            .map(|c| c.encrypt_padded_mut::<NoPadding>(data, len).is_ok()),
        _ => cbc::Encryptor::<aes::Aes256>::new_from_slices(key, iv)
            .map(|c| c.encrypt_padded_mut::<NoPadding>(data, len).is_ok()),
    };
    debug_assert_eq!(ok, Ok(true), "CBC key, IV or data length");
}

fn cbc_decrypt(key: &[u8], iv: &[u8], data: &mut [u8]) {
    let ok = match key.len() {
        16 => cbc::Decryptor::<aes::Aes128>::new_from_slices(key, iv)
            .map(|c| c.decrypt_padded_mut::<NoPadding>(data).is_ok()),
        _ => cbc::Decryptor::<aes::Aes256>::new_from_slices(key, iv)
            .map(|c| c.decrypt_padded_mut::<NoPadding>(data).is_ok()),
    };
    debug_assert_eq!(ok, Ok(true), "CBC key, IV or data length");
}
