//! Tunnel-mode SAs (RFC 4303, RFC 4301 §4.1), one per direction.
//!
//! Both work in place on a caller-owned buffer and never allocate per
//! packet. The outbound SA needs [`Transform::header_len`] bytes of headroom
//! in front of the payload and [`Transform::max_trailer_len`] bytes of
//! tailroom after it; [`MAX_HEADROOM`] and [`MAX_TAILROOM`] cover every
//! transform.

use crate::algorithm::Transform;
use crate::cipher::{Cipher, KeyError};
use crate::key::SecretBytes;
use crate::lifetime::{Crossed, Lifetime, LifetimeTracker};
use crate::replay::{ReplayError, ReplayWindow, DEFAULT_WINDOW};
use crate::selector::Selectors;
use crate::stats::{InboundStats, OutboundStats, SaEvent, SaEventKind};
use std::collections::VecDeque;
use std::fmt;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

/// A rekey is asked for when this fraction (1/2^n) of the sequence space
/// is left: 2^26 packets without ESN, about a minute at a million packets
/// per second.
const SEQUENCE_LOW_SHIFT: u32 = 6;

/// Headroom that fits every transform's ESP header and IV.
pub const MAX_HEADROOM: usize = 8 + 16;
/// Tailroom that fits every transform's padding, trailer and ICV.
pub const MAX_TAILROOM: usize = 15 + 2 + 32;

/// IP protocol numbers carried in the Next Header field.
pub mod next_header {
    pub const IPV4: u8 = 4;
    pub const IPV6: u8 = 41;
    /// RFC 4303 §2.6 dummy packet.
    pub const NONE: u8 = 59;
}

/// Everything needed to key one SA.
#[derive(Debug, Clone)]
pub struct SaParams {
    pub spi: u32,
    pub transform: Transform,
    pub enc_key: SecretBytes,
    pub integ_key: Option<SecretBytes>,
    /// RFC 4303 §2.2.1 extended (64-bit) sequence numbers.
    pub esn: bool,
    pub lifetime: Lifetime,
    /// Inbound only: anti-replay window in packets.
    pub replay_window: u32,
    /// The inner packets the SA may carry (RFC 4301 §4.4.1).
    pub selectors: Selectors,
}

impl SaParams {
    pub fn new(spi: u32, transform: Transform, enc_key: SecretBytes) -> Self {
        Self {
            spi,
            transform,
            enc_key,
            integ_key: None,
            esn: false,
            lifetime: Lifetime::default(),
            replay_window: DEFAULT_WINDOW,
            selectors: Selectors::any(),
        }
    }
}

/// Why an outbound packet was not encapsulated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EncapError {
    /// Less than `header_len` bytes before the payload.
    NoHeadroom,
    /// Not enough bytes after the payload for the trailer and ICV.
    NoTailroom,
    /// Sequence numbers or the hard lifetime ran out; rekey.
    Refused,
}

/// Why an inbound packet was dropped. Each maps onto one counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    Malformed,
    UnknownSpi,
    Replay(ReplayError),
    IcvFailure,
    BadPadding,
    Expired,
    /// A dummy packet (next header 59): dropped on purpose.
    Dummy,
    /// Authentic, but the inner packet lies outside the SA's traffic
    /// selectors (RFC 4301 §5.2).
    Selectors,
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DropReason::Malformed => "malformed",
            DropReason::UnknownSpi => "unknown SPI",
            DropReason::Replay(ReplayError::Duplicate) => "replayed",
            DropReason::Replay(ReplayError::TooOld) => "left of the replay window",
            DropReason::Replay(ReplayError::Zero) => "sequence number zero",
            DropReason::IcvFailure => "ICV mismatch",
            DropReason::BadPadding => "bad padding",
            DropReason::Expired => "SA expired",
            DropReason::Dummy => "dummy packet",
            DropReason::Selectors => "outside the traffic selectors",
        })
    }
}

/// A decapsulated packet: where the inner IP packet lies in the buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decapsulated {
    pub inner: Range<usize>,
    pub next_header: u8,
    pub seq: u64,
}

/// State both directions share.
struct SaCore {
    spi: u32,
    cipher: Cipher,
    selectors: Selectors,
    esn: bool,
    lifetime: LifetimeTracker,
    /// Rare (a lifetime or sequence threshold crossed), so a lock; the
    /// flag spares the per-batch poll of an SA without events the lock.
    events: Mutex<VecDeque<SaEvent>>,
    has_events: AtomicBool,
}

impl SaCore {
    fn new(p: &SaParams, now: Instant) -> Result<Self, KeyError> {
        Ok(Self {
            spi: p.spi,
            cipher: Cipher::new(p.transform, &p.enc_key, p.integ_key.as_ref())?,
            selectors: p.selectors.clone(),
            esn: p.esn,
            lifetime: LifetimeTracker::new(p.lifetime, now),
            // At most three events in an SA's life (soft, hard, sequence),
            // so pushing never allocates after this.
            events: Mutex::new(VecDeque::with_capacity(4)),
            has_events: AtomicBool::new(false),
        })
    }

    fn push(&self, kind: SaEventKind) {
        let mut q = self.events.lock().unwrap_or_else(PoisonError::into_inner);
        q.push_back(SaEvent {
            spi: self.spi,
            kind,
        });
        self.has_events.store(true, Relaxed);
    }

    fn pop(&self) -> Option<SaEvent> {
        if !self.has_events.load(Relaxed) {
            return None;
        }
        let mut q = self.events.lock().unwrap_or_else(PoisonError::into_inner);
        let e = q.pop_front();
        if q.is_empty() {
            self.has_events.store(false, Relaxed);
        }
        e
    }

    fn crossed(&self, c: Option<Crossed>) {
        match c {
            Some(Crossed::Soft(k)) => self.push(SaEventKind::SoftExpired(k)),
            Some(Crossed::Hard(k)) => self.push(SaEventKind::HardExpired(k)),
            None => {}
        }
    }

    fn handle_timeout(&self, now: Instant) {
        while let Some(c) = self.lifetime.handle_timeout(now) {
            self.crossed(Some(c));
        }
    }
}

macro_rules! sa_common {
    ($t:ty) => {
        impl $t {
            pub fn spi(&self) -> u32 {
                self.core.spi
            }
            pub fn transform(&self) -> Transform {
                self.core.cipher.transform()
            }
            pub fn esn(&self) -> bool {
                self.core.esn
            }
            pub fn created(&self) -> Instant {
                self.core.lifetime.created()
            }
            pub fn is_expired(&self) -> bool {
                self.core.lifetime.hard_expired()
            }
            /// The next lifetime deadline, for the owner's timer.
            pub fn poll_timeout(&self) -> Option<Instant> {
                self.core.lifetime.poll_timeout()
            }
            pub fn handle_timeout(&self, now: Instant) {
                self.core.handle_timeout(now)
            }
            pub fn poll_event(&self) -> Option<SaEvent> {
                self.core.pop()
            }
            /// The traffic selectors the SA enforces.
            pub fn selectors(&self) -> &Selectors {
                &self.core.selectors
            }
        }
    };
}

/// An outbound SA: encapsulates. Several workers may send on one SA at
/// once (`&self`, behind an `Arc`): each packet takes the next sequence
/// number from one atomic counter, so numbers stay unique and dense and
/// the peer's anti-replay window sees only the small reordering between
/// workers. A hard packet or byte limit stops the SA after the packet that
/// crosses it, plus any that other workers were sealing at that instant.
pub struct OutboundSa {
    core: SaCore,
    last_seq: AtomicU64,
    exhausted: AtomicBool,
    packets: AtomicU64,
    bytes: AtomicU64,
    refused: AtomicU64,
}

sa_common!(OutboundSa);

impl OutboundSa {
    pub fn new(params: &SaParams, now: Instant) -> Result<Self, KeyError> {
        Ok(Self {
            core: SaCore::new(params, now)?,
            last_seq: AtomicU64::new(0),
            exhausted: AtomicBool::new(false),
            packets: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            refused: AtomicU64::new(0),
        })
    }

    /// The counters now.
    pub fn stats(&self) -> OutboundStats {
        OutboundStats {
            packets: self.packets.load(Relaxed),
            bytes: self.bytes.load(Relaxed),
            refused: self.refused.load(Relaxed),
        }
    }

    fn max_seq(&self) -> u64 {
        if self.core.esn {
            u64::MAX
        } else {
            u64::from(u32::MAX)
        }
    }

    /// The sequence number of the last packet sent.
    pub fn last_seq(&self) -> u64 {
        if self.exhausted.load(Relaxed) {
            self.max_seq()
        } else {
            self.last_seq.load(Relaxed).min(self.max_seq())
        }
    }

    /// Test and benchmark hook: continue from a given sequence number.
    pub fn set_last_seq(&mut self, seq: u64) {
        *self.last_seq.get_mut() = seq;
    }

    /// RFC 4301 §5.1: whether the inner packet lies within the SA's
    /// traffic selectors (always, for the usual 0.0.0.0/0).
    #[inline]
    pub fn admits(&self, packet: &[u8]) -> bool {
        self.core.selectors.allows_outbound(packet)
    }

    /// RFC 4303 §3.1: wraps `buf[payload]` (an IP packet, `next_header` 4 or
    /// 41) into ESP in place and returns where the ESP packet lies in `buf`.
    pub fn encapsulate(
        &self,
        buf: &mut [u8],
        payload: Range<usize>,
        next_header: u8,
    ) -> Result<Range<usize>, EncapError> {
        let t = self.core.cipher.transform();
        let start = payload
            .start
            .checked_sub(t.header_len())
            .ok_or(EncapError::NoHeadroom)?;
        let plen = payload.len();
        // §2.4: payload, padding and the two trailer bytes fill whole blocks.
        let block = t.encryption.block_len();
        let pad = (block - (plen + 2) % block) % block;
        let ct_end = payload.end + pad + 2;
        let end = ct_end + t.icv_len();
        if end > buf.len() {
            return Err(EncapError::NoTailroom);
        }
        // §3.3.3: the counter never cycles; a new SA is needed instead.
        let max = self.max_seq();
        if self.exhausted.load(Relaxed) || self.core.lifetime.hard_expired() {
            self.refused.fetch_add(1, Relaxed);
            return Err(EncapError::Refused);
        }
        // One atomic step per packet: unique numbers across workers. Past
        // the end (an ESN counter would wrap to 0) nothing is sent.
        let prev = self.last_seq.fetch_add(1, Relaxed);
        if prev >= max {
            self.refused.fetch_add(1, Relaxed);
            if !self.exhausted.swap(true, Relaxed) {
                self.core.push(SaEventKind::SequenceExhausted);
            }
            return Err(EncapError::Refused);
        }
        let seq = prev + 1;
        if seq == max - (max >> SEQUENCE_LOW_SHIFT) {
            self.core.push(SaEventKind::SequenceLow);
        }

        for (i, b) in buf[payload.end..payload.end + pad].iter_mut().enumerate() {
            *b = (i + 1) as u8;
        }
        buf[ct_end - 2] = pad as u8;
        buf[ct_end - 1] = next_header;
        buf[start..start + 4].copy_from_slice(&self.core.spi.to_be_bytes());
        buf[start + 4..start + 8].copy_from_slice(&(seq as u32).to_be_bytes());
        self.core
            .cipher
            .seal(&mut buf[start..end], seq, self.core.esn);

        let packets = self.packets.fetch_add(1, Relaxed) + 1;
        let bytes = self.bytes.fetch_add(plen as u64, Relaxed) + plen as u64;
        let crossed = self.core.lifetime.on_traffic(bytes, packets);
        self.core.crossed(crossed);
        Ok(start..end)
    }
}

/// An inbound SA: verifies, decrypts and checks replay.
pub struct InboundSa {
    core: SaCore,
    replay: ReplayWindow,
    stats: InboundStats,
}

sa_common!(InboundSa);

impl InboundSa {
    pub fn new(params: &SaParams, now: Instant) -> Result<Self, KeyError> {
        Ok(Self {
            core: SaCore::new(params, now)?,
            replay: ReplayWindow::new(params.replay_window),
            stats: InboundStats::default(),
        })
    }

    pub fn stats(&self) -> &InboundStats {
        &self.stats
    }

    pub fn replay_window(&self) -> &ReplayWindow {
        &self.replay
    }

    /// Test and benchmark hook: behave as if every sequence number up to
    /// `seq` had been received, so ESN inference starts in `seq`'s subspace.
    pub fn set_replay_top(&mut self, seq: u64) {
        self.replay = ReplayWindow::starting_at(self.replay.size(), seq);
    }

    /// RFC 4303 §3.4: `buf` holds one whole ESP packet (SPI to ICV). On
    /// success the inner packet lies at `inner` within `buf`. Every drop is
    /// counted in [`InboundSa::stats`].
    pub fn decapsulate(&mut self, buf: &mut [u8]) -> Result<Decapsulated, DropReason> {
        let r = self.decapsulate_inner(buf);
        if let Err(reason) = r {
            let s = &mut self.stats;
            match reason {
                DropReason::Malformed | DropReason::UnknownSpi => s.malformed += 1,
                DropReason::Replay(ReplayError::TooOld) => s.too_old += 1,
                DropReason::Replay(_) => s.replay += 1,
                DropReason::IcvFailure => s.icv_failure += 1,
                DropReason::BadPadding => s.bad_padding += 1,
                DropReason::Expired => s.expired += 1,
                DropReason::Dummy => s.dummy += 1,
                DropReason::Selectors => s.selectors += 1,
            }
        }
        r
    }

    fn decapsulate_inner(&mut self, buf: &mut [u8]) -> Result<Decapsulated, DropReason> {
        let t = self.core.cipher.transform();
        let hdr = t.header_len();
        let block = t.encryption.block_len();
        let ct_len = buf
            .len()
            .checked_sub(hdr + t.icv_len())
            .ok_or(DropReason::Malformed)?;
        if ct_len < 2 || ct_len % block != 0 {
            return Err(DropReason::Malformed);
        }
        if self.core.lifetime.hard_expired() {
            return Err(DropReason::Expired);
        }
        let seq_lo = u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]);
        let seq = if self.core.esn {
            self.replay.infer_esn(seq_lo)
        } else {
            u64::from(seq_lo)
        };
        // RFC 6479 / RFC 4303 §3.4.3: check before the ICV, update after.
        self.replay.check(seq).map_err(DropReason::Replay)?;
        let end = buf.len();
        self.core
            .cipher
            .open(&mut buf[..end], (seq >> 32) as u32, self.core.esn)
            .map_err(|_| DropReason::IcvFailure)?;
        self.replay.update(seq).map_err(DropReason::Replay)?;

        let ct_end = hdr + ct_len;
        let pad = usize::from(buf[ct_end - 2]);
        let nh = buf[ct_end - 1];
        let payload_end = ct_end
            .checked_sub(2 + pad)
            .filter(|&e| e >= hdr)
            .ok_or(DropReason::BadPadding)?;
        // RFC 4303 §2.4: padding bytes are 1, 2, 3, ...
        let padding_ok = buf[payload_end..ct_end - 2]
            .iter()
            .enumerate()
            .all(|(i, &b)| usize::from(b) == i + 1);
        if !padding_ok {
            return Err(DropReason::BadPadding);
        }
        if nh == next_header::NONE {
            return Err(DropReason::Dummy);
        }
        let inner_len = inner_ip_len(&buf[hdr..payload_end], nh).ok_or(DropReason::Malformed)?;
        if !self
            .core
            .selectors
            .allows_inbound(&buf[hdr..hdr + inner_len])
        {
            return Err(DropReason::Selectors);
        }

        self.stats.packets += 1;
        self.stats.bytes += inner_len as u64;
        let crossed = self
            .core
            .lifetime
            .on_traffic(self.stats.bytes, self.stats.packets);
        self.core.crossed(crossed);
        Ok(Decapsulated {
            inner: hdr..hdr + inner_len,
            next_header: nh,
            seq,
        })
    }
}

/// Tunnel mode (RFC 4301 §5.1.2): the payload is one IP packet whose
/// version matches Next Header. Its own length field wins over the payload
/// length, which can carry TFC padding (RFC 4303 §2.4).
fn inner_ip_len(p: &[u8], nh: u8) -> Option<usize> {
    let version = p.first()? >> 4;
    let len = match (nh, version) {
        (next_header::IPV4, 4) if p.len() >= 20 => usize::from(u16::from_be_bytes([p[2], p[3]])),
        (next_header::IPV6, 6) if p.len() >= 40 => {
            40 + usize::from(u16::from_be_bytes([p[4], p[5]]))
        }
        _ => return None,
    };
    (len <= p.len() && len >= 20).then_some(len)
}
