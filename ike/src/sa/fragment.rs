//! IKE fragmentation (RFC 7383): splitting an encrypted message into
//! Encrypted Fragment (SKF) payloads, each protected on its own, and
//! putting the fragments the peer sends back together.
//!
//! ```text
//! Initiator                         Responder
//! HDR, SAi1, KEi, Ni,
//!      N(IKEV2_FRAGMENTATION_SUPPORTED)  -->
//!                 <--  HDR, SAr1, KEr, Nr, N(IKEV2_FRAGMENTATION_SUPPORTED)
//! HDR, SKF(1/3)  -->
//! HDR, SKF(2/3)  -->
//! HDR, SKF(3/3)  -->
//! ```

use crate::crypto::{Rng, SkCipher};
use crate::wire::{EncryptedFragment, Header, Message, Payload, PayloadType};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// strongSwan's default: the largest IP datagram a fragment makes.
pub const DEFAULT_FRAGMENT_SIZE: usize = 1280;
/// The smallest size accepted: below it the per-fragment overhead (IP, UDP,
/// IKE and SKF headers, IV, padding, ICV) leaves too little room.
pub const MIN_FRAGMENT_SIZE: usize = 256;
/// No IP datagram is larger.
pub const MAX_FRAGMENT_SIZE: usize = 65535;

/// §2.6: a receiver bounds what it keeps. More fragments than this, or
/// more plaintext than [`MAX_REASSEMBLED`], and the set is dropped.
const MAX_FRAGMENTS: u16 = 64;
const MAX_REASSEMBLED: usize = 64 * 1024;
/// An incomplete set is dropped this long after its first fragment.
const REASSEMBLY_TIMEOUT: Duration = Duration::from_secs(30);

/// IKE header and SKF header (§2.5).
const FIXED_OVERHEAD: usize = 28 + 8;

/// §2.5.1: the room for one IKE message when IP datagrams may be at most
/// `fragment_size` octets: less the IP header, the UDP header, and on
/// port 4500 the non-ESP marker.
pub(super) fn message_budget(fragment_size: usize, remote: SocketAddr, local_port: u16) -> usize {
    let ip = if remote.is_ipv4() { 20 } else { 40 };
    let marker = if local_port == super::NAT_T_PORT {
        4
    } else {
        0
    };
    fragment_size.saturating_sub(ip + 8 + marker)
}

/// §2.5: seals `plain` (the inner payload chain, whose first payload is
/// `first_payload`) as SKF fragments of at most `budget` octets each.
/// Fragment 1 names the first payload; the others carry zero.
pub(super) fn seal_fragments(
    cipher: &SkCipher,
    rng: &mut dyn Rng,
    header: Header,
    first_payload: PayloadType,
    plain: &[u8],
    budget: usize,
) -> Option<Vec<Vec<u8>>> {
    let room = budget.checked_sub(FIXED_OVERHEAD)?;
    let mut chunk = room;
    while chunk > 0 && cipher.sealed_len(chunk) > room {
        chunk -= 1;
    }
    if chunk == 0 {
        return None;
    }
    let chunks: Vec<&[u8]> = plain.chunks(chunk).collect();
    let total = u16::try_from(chunks.len()).ok()?;
    let mut out = Vec::with_capacity(chunks.len());
    for (number, part) in (1..=total).zip(chunks) {
        let sealed_len = cipher.sealed_len(part.len());
        let skf = EncryptedFragment {
            first_payload: if number == 1 {
                first_payload
            } else {
                PayloadType::NoNextPayload
            },
            fragment_number: number,
            total_fragments: total,
            data: vec![0; sealed_len],
        };
        let mut bytes = Message::new(header, vec![Payload::EncryptedFragment(skf)])
            .encode()
            .ok()?;
        bytes.truncate(bytes.len().checked_sub(sealed_len)?);
        cipher.seal_append(&mut bytes, part, rng).ok()?;
        out.push(bytes);
    }
    Some(out)
}

/// The fragments of one message received so far, already authenticated.
struct Partial {
    message_id: u32,
    total: u16,
    first_payload: Option<PayloadType>,
    parts: BTreeMap<u16, Vec<u8>>,
    bytes: usize,
    started: Instant,
}

/// One fragment, verified and decrypted.
pub(super) struct Fragment {
    pub response: bool,
    pub message_id: u32,
    pub number: u16,
    pub total: u16,
    pub first_payload: PayloadType,
    pub plain: Vec<u8>,
}

/// Reassembly for one IKE SA: with a window of one (§2.3) at most one
/// request and one response are in flight, so at most two sets.
#[derive(Default)]
pub(super) struct Reassembly {
    request: Option<Partial>,
    response: Option<Partial>,
}

impl Reassembly {
    /// §2.6: adds an authenticated fragment; returns the first payload's
    /// type and the whole inner payload chain once every fragment is in.
    /// Duplicates are ignored, and a set for an older message ID or with
    /// fewer Total Fragments than the new one is dropped.
    pub fn add(&mut self, now: Instant, f: Fragment) -> Option<(PayloadType, Vec<u8>)> {
        let slot = if f.response {
            &mut self.response
        } else {
            &mut self.request
        };
        if f.total > MAX_FRAGMENTS {
            *slot = None;
            return None;
        }
        // A newer message, or the sender re-fragmented into more pieces
        // (§2.6: start anew); fewer pieces than the set: a stale fragment.
        let stale = slot
            .as_ref()
            .is_some_and(|p| p.message_id != f.message_id || f.total > p.total);
        if stale {
            *slot = None;
        }
        let p = slot.get_or_insert_with(|| Partial {
            message_id: f.message_id,
            total: f.total,
            first_payload: None,
            parts: BTreeMap::new(),
            bytes: 0,
            started: now,
        });
        if f.total < p.total || p.parts.contains_key(&f.number) {
            return None;
        }
        p.bytes = p.bytes.saturating_add(f.plain.len());
        if p.bytes > MAX_REASSEMBLED {
            *slot = None;
            return None;
        }
        if f.number == 1 {
            p.first_payload = Some(f.first_payload);
        }
        p.parts.insert(f.number, f.plain);
        if p.parts.len() < usize::from(p.total) {
            return None;
        }
        let done = slot.take()?;
        let first = done.first_payload?;
        Some((first, done.parts.into_values().flatten().collect()))
    }

    /// When the oldest incomplete set is dropped.
    pub fn deadline(&self) -> Option<Instant> {
        [&self.request, &self.response]
            .into_iter()
            .flatten()
            .map(|p| p.started + REASSEMBLY_TIMEOUT)
            .min()
    }

    pub fn expire(&mut self, now: Instant) {
        for slot in [&mut self.request, &mut self.response] {
            if slot
                .as_ref()
                .is_some_and(|p| now >= p.started + REASSEMBLY_TIMEOUT)
            {
                *slot = None;
            }
        }
    }

    /// Fragments held, for tests of the bounds.
    #[cfg(test)]
    fn held(&self) -> usize {
        [&self.request, &self.response]
            .into_iter()
            .flatten()
            .map(|p| p.parts.len())
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frag(id: u32, number: u16, total: u16, plain: &[u8]) -> Fragment {
        Fragment {
            response: false,
            message_id: id,
            number,
            total,
            first_payload: PayloadType::IdI,
            plain: plain.to_vec(),
        }
    }

    #[test]
    fn any_order_and_duplicates() {
        let now = Instant::now();
        let mut r = Reassembly::default();
        assert!(r.add(now, frag(1, 3, 3, b"ef")).is_none());
        assert!(r.add(now, frag(1, 1, 3, b"ab")).is_none());
        assert!(r.add(now, frag(1, 3, 3, b"XX")).is_none(), "duplicate");
        let (first, plain) = r.add(now, frag(1, 2, 3, b"cd")).unwrap();
        assert_eq!(first, PayloadType::IdI);
        assert_eq!(plain, b"abcdef");
        assert_eq!(r.held(), 0);
    }

    #[test]
    fn newer_message_or_more_fragments_restart() {
        let now = Instant::now();
        let mut r = Reassembly::default();
        r.add(now, frag(1, 1, 2, b"a"));
        r.add(now, frag(2, 1, 2, b"b"));
        assert_eq!(r.held(), 1, "message 1's set dropped");
        assert!(r.add(now, frag(2, 2, 3, b"c")).is_none());
        assert_eq!(r.held(), 1, "re-fragmented into 3: started anew");
        assert!(r.add(now, frag(2, 1, 2, b"x")).is_none(), "stale total");
        assert_eq!(r.held(), 1);
    }

    #[test]
    fn bounded() {
        let now = Instant::now();
        let mut r = Reassembly::default();
        assert!(r.add(now, frag(1, 1, MAX_FRAGMENTS + 1, b"a")).is_none());
        assert_eq!(r.held(), 0, "too many fragments");
        let big = vec![0u8; MAX_REASSEMBLED / 2 + 1];
        r.add(now, frag(1, 1, 3, &big));
        r.add(now, frag(1, 2, 3, &big));
        assert_eq!(r.held(), 0, "too large");
        r.add(now, frag(1, 1, 2, b"a"));
        assert_eq!(r.deadline(), Some(now + REASSEMBLY_TIMEOUT));
        r.expire(now + REASSEMBLY_TIMEOUT);
        assert_eq!(r.held(), 0, "timed out");
        assert_eq!(r.deadline(), None);
    }
}
