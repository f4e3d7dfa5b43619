//! MODP Diffie-Hellman groups 2 and 14, with generator 2.
//!
//! Exponentiation is crypto-bigint's Montgomery ladder over a fixed window,
//! whose timing depends on the exponent's bit length bound (fixed per group)
//! but not on its value.

use super::error::PublicValueProblem;
use crypto_bigint::modular::runtime_mod::{DynResidue, DynResidueParams};
use crypto_bigint::{Uint, U1024, U2048};
use esp::SecretBytes;
use std::sync::OnceLock;
use zeroize::{Zeroize, Zeroizing};

// RFC 2409 §6.2, the Second Oakley Group (IKEv2 group 2):
// p = 2^1024 - 2^960 - 1 + 2^64 * { [2^894 pi] + 129093 }
const P1024: U1024 = U1024::from_be_hex(concat!(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD1",
    "29024E088A67CC74020BBEA63B139B22514A08798E3404DD",
    "EF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245",
    "E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED",
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE65381",
    "FFFFFFFFFFFFFFFF",
));

// RFC 3526 §3, the 2048-bit MODP Group (IKEv2 group 14):
// p = 2^2048 - 2^1984 - 1 + 2^64 * { [2^1918 pi] + 124476 }
const P2048: U2048 = U2048::from_be_hex(concat!(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD1",
    "29024E088A67CC74020BBEA63B139B22514A08798E3404DD",
    "EF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245",
    "E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED",
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3D",
    "C2007CB8A163BF0598DA48361C55D39A69163FA8FD24CF5F",
    "83655D23DCA3AD961C62F356208552BB9ED529077096966D",
    "670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B",
    "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9",
    "DE2BCBF6955817183995497CEA956AE515D2261898FA0510",
    "15728E5A8AACAA68FFFFFFFFFFFFFFFF",
));

/// Bytes of a freshly generated private exponent: 512 bits, above the
/// 2 × strength RFC 3526 §8 suggests for both groups (at most 320 bits for
/// the 2048-bit group).
pub(crate) const GENERATED_EXPONENT_LEN: usize = 64;

pub(crate) const L1024: usize = U1024::LIMBS;
pub(crate) const L2048: usize = U2048::LIMBS;

/// One MODP group's prime and Montgomery parameters.
pub(crate) struct Modp<const L: usize> {
    p_minus_1: Uint<L>,
    params: DynResidueParams<L>,
}

impl<const L: usize> Modp<L> {
    fn new(p: Uint<L>) -> Self {
        Self {
            p_minus_1: p.wrapping_sub(&Uint::ONE),
            // The primes are odd, so this never panics.
            params: DynResidueParams::new(&p),
        }
    }

    /// Bytes of a public value or shared secret: the modulus's length.
    pub(crate) const fn len() -> usize {
        Uint::<L>::BYTES
    }

    #[cfg(test)]
    pub(crate) fn prime_bytes(&self) -> Vec<u8> {
        to_be_bytes(self.params.modulus())
    }

    /// RFC 7296 §3.4: the value is as long as the prime, and (RFC 6989
    /// §2.1) must lie in 1 < y < p-1.
    fn check_public(&self, bytes: &[u8]) -> Result<Uint<L>, PublicValueProblem> {
        if bytes.len() != Self::len() {
            return Err(PublicValueProblem::Length {
                expected: Self::len(),
                got: bytes.len(),
            });
        }
        let y = Uint::<L>::from_be_slice(bytes);
        if y <= Uint::ONE || y >= self.p_minus_1 {
            return Err(PublicValueProblem::OutOfRange);
        }
        Ok(y)
    }
}

pub(crate) fn modp1024() -> &'static Modp<L1024> {
    static GROUP: OnceLock<Modp<L1024>> = OnceLock::new();
    GROUP.get_or_init(|| Modp::new(P1024))
}

pub(crate) fn modp2048() -> &'static Modp<L2048> {
    static GROUP: OnceLock<Modp<L2048>> = OnceLock::new();
    GROUP.get_or_init(|| Modp::new(P2048))
}

/// A private exponent x and its public value 2^x mod p.
pub(crate) struct ModpKey<const L: usize> {
    group: &'static Modp<L>,
    x: Uint<L>,
    x_bits: usize,
    public: Vec<u8>,
}

impl<const L: usize> ModpKey<L> {
    /// From big-endian exponent bytes, at most as long as the prime. `None`
    /// when 2^x mod p is not a valid public value (x = 0, for instance).
    pub(crate) fn new(group: &'static Modp<L>, x_bytes: &[u8]) -> Option<Self> {
        let len = Modp::<L>::len();
        if x_bytes.is_empty() || x_bytes.len() > len {
            return None;
        }
        let mut padded = Zeroizing::new(vec![0u8; len]);
        padded[len - x_bytes.len()..].copy_from_slice(x_bytes);
        let x = Uint::<L>::from_be_slice(&padded);
        let x_bits = 8 * x_bytes.len();
        let g = DynResidue::new(&Uint::from_u8(2), group.params);
        let y = g.pow_bounded_exp(&x, x_bits).retrieve();
        let public = to_be_bytes(&y);
        let mut key = Self {
            group,
            x,
            x_bits,
            public,
        };
        if group.check_public(&key.public).is_err() {
            key.x.zeroize();
            return None;
        }
        Some(key)
    }

    pub(crate) fn public(&self) -> &[u8] {
        &self.public
    }

    /// g^ir = y^x mod p, as long as the prime (RFC 7296 §2.14).
    pub(crate) fn shared(&self, peer: &[u8]) -> Result<SecretBytes, PublicValueProblem> {
        let y = self.group.check_public(peer)?;
        let s = DynResidue::new(&y, self.group.params)
            .pow_bounded_exp(&self.x, self.x_bits)
            .retrieve();
        Ok(SecretBytes::new(to_be_bytes(&s)))
    }
}

impl<const L: usize> Drop for ModpKey<L> {
    fn drop(&mut self) {
        self.x.zeroize();
    }
}

fn to_be_bytes<const L: usize>(x: &Uint<L>) -> Vec<u8> {
    x.as_words()
        .iter()
        .rev()
        .flat_map(|w| w.to_be_bytes())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_exponents() {
        let k = ModpKey::new(modp2048(), &[10]).unwrap();
        let mut want = vec![0u8; 256];
        want[254] = 0x04; // 2^10 = 0x400
        assert_eq!(k.public(), &want[..]);
        assert!(ModpKey::new(modp2048(), &[0]).is_none());
        assert!(ModpKey::new(modp2048(), &[]).is_none());
        assert!(ModpKey::new(modp1024(), &[1; 129]).is_none());
    }

    #[test]
    fn peer_range() {
        let k = ModpKey::new(modp1024(), &[5; 32]).unwrap();
        let g = modp1024();
        let mut one = vec![0u8; 128];
        one[127] = 1;
        assert_eq!(k.shared(&one), Err(PublicValueProblem::OutOfRange));
        let pm1 = to_be_bytes(&g.p_minus_1);
        assert_eq!(k.shared(&pm1), Err(PublicValueProblem::OutOfRange));
        assert_eq!(
            k.shared(&g.prime_bytes()),
            Err(PublicValueProblem::OutOfRange)
        );
        let mut two = vec![0u8; 128];
        two[127] = 2;
        assert!(k.shared(&two).is_ok());
        assert_eq!(
            k.shared(&two[1..]),
            Err(PublicValueProblem::Length {
                expected: 128,
                got: 127
            })
        );
    }
}
