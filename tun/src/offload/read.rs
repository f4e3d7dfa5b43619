//! Reading from an offloading TUN: each `read(2)` returns a virtio-net
//! header and a packet or super-packet, which is split into the caller's
//! buffers, so one read can fill a whole batch.

use std::io;

use super::gso::{self, GsoError};
use super::{VnetHdr, MAX_SUPER_PACKET, VNET_HDR_LEN};
use crate::batch::{read_once, Stop};
use crate::Tun;

/// Counters of a [`SegmentReader`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadStats {
    /// `read(2)` calls that returned a packet.
    pub reads: u64,
    /// Of those, super-packets that were split.
    pub super_packets: u64,
    /// Packets handed to the caller.
    pub segments: u64,
    /// Reads dropped: the header and the packet disagreed, or a
    /// super-packet had more segments than a whole batch.
    pub dropped: u64,
}

/// The read buffer of an offloading TUN and a super-packet that did not
/// fit the last batch. Allocated once.
#[derive(Debug)]
pub struct SegmentReader {
    scratch: Vec<u8>,
    pending: Option<usize>,
    /// Running totals.
    pub stats: ReadStats,
    /// The last drop's reason, for a rate-limited log line.
    pub last_error: Option<GsoError>,
}

impl Default for SegmentReader {
    fn default() -> Self {
        SegmentReader {
            scratch: vec![0; VNET_HDR_LEN + MAX_SUPER_PACKET],
            pending: None,
            stats: ReadStats::default(),
            last_error: None,
        }
    }
}

impl SegmentReader {
    /// Whether a super-packet read earlier waits for the next batch.
    pub fn has_pending(&self) -> bool {
        self.pending.is_some()
    }

    /// Reads until `out` is full or the device is drained, packet `i`
    /// landing in `out[i][offset..offset + lens[i]]`. The same contract as
    /// [`Tun::read_batch`]: `WouldBlock` only when nothing was read.
    pub(crate) fn read_into<B: AsMut<[u8]>>(
        &mut self,
        tun: &Tun,
        out: &mut [B],
        offset: usize,
        lens: &mut [usize],
    ) -> io::Result<(usize, Stop)> {
        let room = out.len().min(lens.len());
        let mut n = 0;
        loop {
            let len = match self.pending.take() {
                Some(len) => len,
                None if n == room => return Ok((n, Stop::Full)),
                None => match read_once(tun, &mut self.scratch) {
                    Ok(len) => {
                        self.stats.reads += 1;
                        len
                    }
                    Err(e) if n > 0 && e.kind() == io::ErrorKind::WouldBlock => {
                        return Ok((n, Stop::Drained))
                    }
                    Err(_) if n > 0 => return Ok((n, Stop::Error)),
                    Err(e) => return Err(e),
                },
            };
            let Some(h) = VnetHdr::decode(&self.scratch[..len]) else {
                self.drop_read(GsoError::BadHeader);
                continue;
            };
            let pkt = &mut self.scratch[VNET_HDR_LEN..len];
            let needed = match gso::segments(pkt, &h) {
                Ok(k) => k,
                Err(e) => {
                    self.drop_read(e);
                    continue;
                }
            };
            if needed > room - n {
                if needed <= room {
                    // It fits an empty batch: keep it for the next call.
                    self.pending = Some(len);
                    return Ok((n, Stop::Full));
                }
                self.drop_read(GsoError::TooManySegments(needed));
                continue;
            }
            match gso::split(pkt, &h, &mut out[n..room], offset, &mut lens[n..room]) {
                Ok(k) => {
                    if k > 1 {
                        self.stats.super_packets += 1;
                    }
                    self.stats.segments += k as u64;
                    n += k;
                }
                Err(e) => self.drop_read(e),
            }
        }
    }

    fn drop_read(&mut self, e: GsoError) {
        self.stats.dropped += 1;
        self.last_error = Some(e);
    }
}
