//! Per-SA counters and events.

use crate::lifetime::LimitKind;

/// Counters of an outbound SA.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutboundStats {
    pub packets: u64,
    /// Inner (plaintext) bytes sent.
    pub bytes: u64,
    /// Packets refused because the SA's sequence numbers or hard lifetime
    /// ran out.
    pub refused: u64,
}

/// Counters of an inbound SA.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InboundStats {
    pub packets: u64,
    /// Inner (plaintext) bytes accepted.
    pub bytes: u64,
    /// Duplicates (and sequence number zero).
    pub replay: u64,
    /// Left of the anti-replay window.
    pub too_old: u64,
    pub icv_failure: u64,
    pub bad_padding: u64,
    /// Too short, misaligned, or a bad inner packet.
    pub malformed: u64,
    /// Dropped after the hard lifetime ran out.
    pub expired: u64,
    /// Dummy packets (next header 59, RFC 4303 §2.6), dropped on purpose.
    pub dummy: u64,
    /// Authentic packets outside the negotiated traffic selectors
    /// (RFC 4301 §5.2).
    pub selectors: u64,
}

/// Counters of an inbound SA table that belong to no SA.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SadStats {
    pub unknown_spi: u64,
    /// Too short to hold an SPI.
    pub malformed: u64,
}

/// Something the SA's owner must act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SaEvent {
    pub spi: u32,
    pub kind: SaEventKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaEventKind {
    /// Time to rekey (RFC 4301 §4.4.2.1 soft lifetime).
    SoftExpired(LimitKind),
    /// The SA no longer passes traffic.
    HardExpired(LimitKind),
    /// The outbound sequence number cannot advance (RFC 4303 §3.3.3): a new
    /// SA is needed. The SA refuses to send from now on.
    SequenceExhausted,
    /// 1/64 of the outbound sequence space is left: rekey now, before it
    /// runs out.
    SequenceLow,
}
