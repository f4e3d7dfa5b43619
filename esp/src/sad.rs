//! The inbound SA database: SAs keyed by SPI (RFC 4301 §4.4.2).

use crate::sa::{Decapsulated, DropReason, InboundSa};
use crate::stats::{SaEvent, SadStats};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// SPIs are chosen at random by the receiver, so they hash to themselves.
#[derive(Default)]
pub struct SpiHasher(u64);

impl Hasher for SpiHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }
    fn write_u32(&mut self, n: u32) {
        // Spread the bits so hashbrown's top-7-bit tag varies too.
        self.0 = u64::from(n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

type SpiMap<V> = HashMap<u32, V, BuildHasherDefault<SpiHasher>>;

/// Inbound SAs by SPI, plus the counters that belong to no SA.
#[derive(Default)]
pub struct InboundSad {
    sas: SpiMap<InboundSa>,
    stats: SadStats,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DuplicateSpi(pub u32);

impl InboundSad {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn insert(&mut self, sa: InboundSa) -> Result<(), DuplicateSpi> {
        let spi = sa.spi();
        if self.sas.contains_key(&spi) {
            return Err(DuplicateSpi(spi));
        }
        self.sas.insert(spi, sa);
        Ok(())
    }

    pub fn remove(&mut self, spi: u32) -> Option<InboundSa> {
        self.sas.remove(&spi)
    }

    pub fn get(&self, spi: u32) -> Option<&InboundSa> {
        self.sas.get(&spi)
    }

    pub fn iter(&self) -> impl Iterator<Item = &InboundSa> {
        self.sas.values()
    }

    pub fn len(&self) -> usize {
        self.sas.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sas.is_empty()
    }

    pub fn stats(&self) -> &SadStats {
        &self.stats
    }

    /// Looks the packet's SPI up and decapsulates. Returns the SPI with the
    /// result so the caller can attribute it.
    pub fn decapsulate(&mut self, buf: &mut [u8]) -> (u32, Result<Decapsulated, DropReason>) {
        let Some(spi) = buf
            .get(..4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        else {
            self.stats.malformed += 1;
            return (0, Err(DropReason::Malformed));
        };
        match self.sas.get_mut(&spi) {
            Some(sa) => (spi, sa.decapsulate(buf)),
            None => {
                self.stats.unknown_spi += 1;
                (spi, Err(DropReason::UnknownSpi))
            }
        }
    }

    pub fn poll_timeout(&self) -> Option<std::time::Instant> {
        self.sas.values().filter_map(|s| s.poll_timeout()).min()
    }

    pub fn handle_timeout(&mut self, now: std::time::Instant) {
        for sa in self.sas.values_mut() {
            sa.handle_timeout(now);
        }
    }

    pub fn poll_event(&mut self) -> Option<SaEvent> {
        self.sas.values_mut().find_map(|s| s.poll_event())
    }
}
