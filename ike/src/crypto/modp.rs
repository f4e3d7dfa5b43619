//! MODP Diffie-Hellman groups 2 and 14 (generator 2), and group 24 (RFC
//! 5114 §2.3: a generator of a 256-bit prime order subgroup).
//!
//! Exponentiation is crypto-bigint's Montgomery ladder over a fixed window,
//! whose timing depends on the exponent's bit length bound (fixed per group)
//! but not on its value.

use super::error::PublicValueProblem;
use crypto_bigint::modular::runtime_mod::{DynResidue, DynResidueParams};
use crypto_bigint::{Uint, U1024, U2048, U256};
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

// RFC 5114 §2.3, 2048-bit MODP Group with 256-bit Prime Order Subgroup
// (IKEv2 group 24): the prime p, the generator g and the order q of the
// subgroup g generates.
const P2048S256: U2048 = U2048::from_be_hex(concat!(
    "87A8E61DB4B6663CFFBBD19C651959998CEEF608660DD0F2",
    "5D2CEED4435E3B00E00DF8F1D61957D4FAF7DF4561B2AA30",
    "16C3D91134096FAA3BF4296D830E9A7C209E0C6497517ABD",
    "5A8A9D306BCF67ED91F9E6725B4758C022E0B1EF4275BF7B",
    "6C5BFC11D45F9088B941F54EB1E59BB8BC39A0BF12307F5C",
    "4FDB70C581B23F76B63ACAE1CAA6B7902D52526735488A0E",
    "F13C6D9A51BFA4AB3AD8347796524D8EF6A167B5A41825D9",
    "67E144E5140564251CCACB83E6B486F6B3CA3F7971506026",
    "C0B857F689962856DED4010ABD0BE621C3A3960A54E710C3",
    "75F26375D7014103A4B54330C198AF126116D2276E11715F",
    "693877FAD7EF09CADB094AE91E1A1597",
));
const G2048S256: U2048 = U2048::from_be_hex(concat!(
    "3FB32C9B73134D0B2E77506660EDBD484CA7B18F21EF2054",
    "07F4793A1A0BA12510DBC15077BE463FFF4FED4AAC0BB555",
    "BE3A6C1B0C6B47B1BC3773BF7E8C6F62901228F8C28CBB18",
    "A55AE31341000A650196F931C77A57F2DDF463E5E9EC144B",
    "777DE62AAAB8A8628AC376D282D6ED3864E67982428EBC83",
    "1D14348F6F2F9193B5045AF2767164E1DFC967C1FB3F2E55",
    "A4BD1BFFE83B9C80D052B985D182EA0ADB2A3B7313D3FE14",
    "C8484B1E052588B9B7D2BBD2DF016199ECD06E1557CD0915",
    "B3353BBB64E0EC377FD028370DF92B52C7891428CDC67EB6",
    "184B523D1DB246C32F63078490F00EF8D647D148D4795451",
    "5E2327CFEF98C582664B4C0F6CC41659",
));
const Q2048S256: U256 =
    U256::from_be_hex("8CF83642A709A097B447997640129DA299B1A47D1EB3750BA308B0FE64F5FBD3");

/// Bytes of a generated private exponent for group 24: x lies in the
/// subgroup's exponent range [1, q-1] (RFC 5114 §2, NIST SP 800-56A
/// §5.6.1.1); generation clears the top bit, as q > 2^255.
pub(crate) const SUBGROUP_EXPONENT_LEN: usize = U256::BYTES;

/// Bytes of a freshly generated private exponent: 512 bits, above the
/// 2 × strength RFC 3526 §8 suggests for both groups (at most 320 bits for
/// the 2048-bit group).
pub(crate) const GENERATED_EXPONENT_LEN: usize = 64;

pub(crate) const L1024: usize = U1024::LIMBS;
pub(crate) const L2048: usize = U2048::LIMBS;

/// One MODP group's prime, generator and Montgomery parameters, and for
/// a prime order subgroup its order.
pub(crate) struct Modp<const L: usize> {
    p_minus_1: Uint<L>,
    params: DynResidueParams<L>,
    generator: Uint<L>,
    order: Option<Uint<L>>,
}

impl<const L: usize> Modp<L> {
    fn new(p: Uint<L>, generator: Uint<L>, order: Option<Uint<L>>) -> Self {
        Self {
            p_minus_1: p.wrapping_sub(&Uint::ONE),
            // The primes are odd, so this never panics.
            params: DynResidueParams::new(&p),
            generator,
            order,
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
    /// §2.1) must lie in 1 < y < p-1. RFC 6989 §2.2: in a group with a
    /// small-subgroup problem (22 to 24), y^q = 1 mod p as well, or the
    /// peer could learn bits of our exponent.
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
        if let Some(q) = &self.order {
            let bits = q.bits_vartime();
            let yq = DynResidue::new(&y, self.params).pow_bounded_exp(q, bits);
            if yq.retrieve() != Uint::ONE {
                return Err(PublicValueProblem::NotInSubgroup);
            }
        }
        Ok(y)
    }
}

pub(crate) fn modp1024() -> &'static Modp<L1024> {
    static GROUP: OnceLock<Modp<L1024>> = OnceLock::new();
    GROUP.get_or_init(|| Modp::new(P1024, Uint::from_u8(2), None))
}

pub(crate) fn modp2048() -> &'static Modp<L2048> {
    static GROUP: OnceLock<Modp<L2048>> = OnceLock::new();
    GROUP.get_or_init(|| Modp::new(P2048, Uint::from_u8(2), None))
}

pub(crate) fn modp2048s256() -> &'static Modp<L2048> {
    static GROUP: OnceLock<Modp<L2048>> = OnceLock::new();
    GROUP.get_or_init(|| Modp::new(P2048S256, G2048S256, Some(Q2048S256.resize())))
}

/// A private exponent x and its public value g^x mod p.
pub(crate) struct ModpKey<const L: usize> {
    group: &'static Modp<L>,
    x: Uint<L>,
    x_bits: usize,
    public: Vec<u8>,
}

impl<const L: usize> ModpKey<L> {
    /// From big-endian exponent bytes, at most as long as the prime. `None`
    /// when g^x mod p is not a valid public value (x = 0, for instance) or,
    /// in a subgroup, when x is not below its order.
    pub(crate) fn new(group: &'static Modp<L>, x_bytes: &[u8]) -> Option<Self> {
        let len = Modp::<L>::len();
        if x_bytes.is_empty() || x_bytes.len() > len {
            return None;
        }
        let mut padded = Zeroizing::new(vec![0u8; len]);
        padded[len - x_bytes.len()..].copy_from_slice(x_bytes);
        let x = Uint::<L>::from_be_slice(&padded);
        let x_bits = 8 * x_bytes.len();
        if group.order.as_ref().is_some_and(|q| x >= *q) {
            return None;
        }
        let g = DynResidue::new(&group.generator, group.params);
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
