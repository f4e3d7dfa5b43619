//! The PRF and prf+ (RFC 7296 §2.13).

use super::algorithms::Prf;
use super::error::CryptoError;
use esp::SecretBytes;
use ring::hmac;
use zeroize::Zeroize;

/// prf+ stops after this many blocks: the counter is a single octet.
const MAX_PRF_PLUS_BLOCKS: usize = 255;

impl Prf {
    /// prf(K, S), RFC 7296 §2.13. With an HMAC PRF any key length works
    /// (RFC 4868 §2.1), so nonces can be used as keys as they are.
    pub fn compute(self, key: &[u8], data: &[u8]) -> SecretBytes {
        SecretBytes::new(self.tag(key, &[data]).as_ref().to_vec())
    }

    /// prf(K, S) with S given in pieces that are hashed back to back, so
    /// callers need not concatenate (and copy) secrets.
    pub(crate) fn tag(self, key: &[u8], parts: &[&[u8]]) -> hmac::Tag {
        let key = hmac::Key::new(self.hmac(), key);
        let mut ctx = hmac::Context::with_key(&key);
        for part in parts {
            ctx.update(part);
        }
        ctx.sign()
    }
}

// RFC 7296 §2.13:
//
//    prf+ (K,S) = T1 | T2 | T3 | T4 | ...
//
//    where:
//    T1 = prf (K, S | 0x01)
//    T2 = prf (K, T1 | S | 0x02)
//    T3 = prf (K, T2 | S | 0x03)
//    T4 = prf (K, T3 | S | 0x04)
//    ...
//
// "The prf+ function is not defined beyond 255 times the size of the prf
// function output."

/// prf+(K, S), the first `len` bytes. Fails beyond 255 blocks of output.
pub fn prf_plus(prf: Prf, key: &[u8], seed: &[u8], len: usize) -> Result<SecretBytes, CryptoError> {
    prf_plus_parts(prf, key, &[seed], len)
}

/// prf+ with S given in pieces (e.g. `Ni | Nr | SPIi | SPIr`).
pub(crate) fn prf_plus_parts(
    prf: Prf,
    key: &[u8],
    seed: &[&[u8]],
    len: usize,
) -> Result<SecretBytes, CryptoError> {
    let max = MAX_PRF_PLUS_BLOCKS * prf.output_len();
    if len > max {
        return Err(CryptoError::PrfPlusTooLong {
            requested: len,
            max,
        });
    }
    let key = hmac::Key::new(prf.hmac(), key);
    let mut out = Vec::with_capacity(len + prf.output_len());
    let mut prev: Option<hmac::Tag> = None;
    let mut counter = 1u8;
    while out.len() < len {
        let mut ctx = hmac::Context::with_key(&key);
        if let Some(t) = &prev {
            ctx.update(t.as_ref());
        }
        for part in seed {
            ctx.update(part);
        }
        ctx.update(&[counter]);
        let t = ctx.sign();
        out.extend_from_slice(t.as_ref());
        prev = Some(t);
        counter = counter.wrapping_add(1);
    }
    let secret = SecretBytes::new(out[..len].to_vec());
    out.zeroize();
    Ok(secret)
}

/// Cuts consecutive keys of the given lengths off the front of `material`.
pub(crate) fn split_keys<const N: usize>(
    material: &SecretBytes,
    lens: [usize; N],
) -> [SecretBytes; N] {
    let bytes = material.expose();
    let mut at = 0;
    lens.map(|n| {
        let key = SecretBytes::new(bytes[at..at + n].to_vec());
        at += n;
        key
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prf_plus_is_a_prefix_stream() {
        let long = prf_plus(Prf::HmacSha256, b"key", b"seed", 100).unwrap();
        let short = prf_plus(Prf::HmacSha256, b"key", b"seed", 33).unwrap();
        assert_eq!(&long.expose()[..33], short.expose());
        // T1 = prf(K, S | 0x01)
        assert_eq!(
            &long.expose()[..32],
            Prf::HmacSha256.compute(b"key", b"seed\x01").expose()
        );
        let parts = prf_plus_parts(Prf::HmacSha256, b"key", &[b"se", b"ed"], 100).unwrap();
        assert_eq!(parts, long);
    }

    #[test]
    fn prf_plus_limit() {
        for prf in Prf::ALL {
            let max = 255 * prf.output_len();
            assert_eq!(prf_plus(prf, b"k", b"s", max).unwrap().len(), max);
            assert_eq!(
                prf_plus(prf, b"k", b"s", max + 1),
                Err(CryptoError::PrfPlusTooLong {
                    requested: max + 1,
                    max
                })
            );
        }
    }

    #[test]
    fn split_in_order() {
        let m = SecretBytes::new((0u8..10).collect());
        let [a, b, c] = split_keys(&m, [2, 0, 5]);
        assert_eq!(a.expose(), &[0, 1]);
        assert!(b.is_empty());
        assert_eq!(c.expose(), &[2, 3, 4, 5, 6]);
    }
}
