//! Injected randomness.
//!
//! IKEv2 needs random bytes for nonces (RFC 7296 §2.10), SPIs, Diffie-Hellman
//! private values and the SK payload's IV (§3.14). Everything that needs them
//! takes a `&mut dyn Rng`, so that a test can hand in a seeded generator and
//! replay a whole exchange byte for byte.

use std::fmt;

/// A source of random bytes.
pub trait Rng {
    /// Fills `dest` entirely with random bytes.
    fn fill(&mut self, dest: &mut [u8]) -> Result<(), RngFailure>;
}

/// The random number generator could not produce bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RngFailure;

impl fmt::Display for RngFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("random number generator failed")
    }
}

impl std::error::Error for RngFailure {}

/// The operating system's CSPRNG (`getrandom(2)` on Linux), through ring.
/// This is the only [`Rng`] the daemon should use.
pub struct SystemRng(ring::rand::SystemRandom);

impl SystemRng {
    pub fn new() -> Self {
        Self(ring::rand::SystemRandom::new())
    }
}

impl Default for SystemRng {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for SystemRng {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SystemRng")
    }
}

impl Rng for SystemRng {
    fn fill(&mut self, dest: &mut [u8]) -> Result<(), RngFailure> {
        use ring::rand::SecureRandom;
        self.0.fill(dest).map_err(|_| RngFailure)
    }
}

/// A deterministic generator for tests and fuzzers: block `n` of its output
/// is HMAC-SHA-256(seed, n as a 64-bit big-endian counter).
///
/// INSECURE: anyone who knows the seed knows every key it produced. It only
/// exists with `cfg(test)` or the `insecure-test-rng` feature, which the
/// daemon never enables.
#[cfg(any(test, feature = "insecure-test-rng"))]
pub struct InsecureTestRng {
    key: ring::hmac::Key,
    counter: u64,
    block: [u8; 32],
    used: usize,
}

#[cfg(any(test, feature = "insecure-test-rng"))]
impl InsecureTestRng {
    /// A generator whose whole output is fixed by `seed`.
    pub fn from_seed(seed: u64) -> Self {
        Self::from_seed_bytes(&seed.to_be_bytes())
    }

    /// As [`InsecureTestRng::from_seed`], with a seed of any length.
    pub fn from_seed_bytes(seed: &[u8]) -> Self {
        Self {
            key: ring::hmac::Key::new(ring::hmac::HMAC_SHA256, seed),
            counter: 0,
            block: [0; 32],
            used: 32,
        }
    }
}

#[cfg(any(test, feature = "insecure-test-rng"))]
impl fmt::Debug for InsecureTestRng {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InsecureTestRng")
            .field("counter", &self.counter)
            .finish_non_exhaustive()
    }
}

#[cfg(any(test, feature = "insecure-test-rng"))]
impl Rng for InsecureTestRng {
    fn fill(&mut self, dest: &mut [u8]) -> Result<(), RngFailure> {
        for byte in dest {
            if self.used == self.block.len() {
                let tag = ring::hmac::sign(&self.key, &self.counter.to_be_bytes());
                self.block.copy_from_slice(tag.as_ref());
                self.counter += 1;
                self.used = 0;
            }
            *byte = self.block[self.used];
            self.used += 1;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_rng_is_deterministic_and_split_invariant() {
        let mut a = InsecureTestRng::from_seed(7);
        let mut whole = [0u8; 100];
        a.fill(&mut whole).unwrap();

        let mut b = InsecureTestRng::from_seed(7);
        let mut parts = [0u8; 100];
        let (x, rest) = parts.split_at_mut(3);
        let (y, z) = rest.split_at_mut(40);
        b.fill(x).unwrap();
        b.fill(y).unwrap();
        b.fill(z).unwrap();
        assert_eq!(whole, parts);

        // Block 0 is HMAC-SHA-256(seed, 0u64).
        let k = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &7u64.to_be_bytes());
        assert_eq!(
            &whole[..32],
            ring::hmac::sign(&k, &0u64.to_be_bytes()).as_ref()
        );

        let mut c = InsecureTestRng::from_seed(8);
        let mut other = [0u8; 100];
        c.fill(&mut other).unwrap();
        assert_ne!(whole, other);
    }

    #[test]
    fn system_rng_fills() {
        let mut rng = SystemRng::new();
        let mut a = [0u8; 32];
        let mut b = [0u8; 32];
        rng.fill(&mut a).unwrap();
        rng.fill(&mut b).unwrap();
        assert_ne!(a, b);
    }
}
