//! The outbound data plane's first stage: reading from an offloading TUN
//! ([`SegmentReader`]) and splitting what one read returned. Each
//! `read(2)` gives a virtio-net header and a packet or a TCP or UDP
//! super-packet (TSO, USO), which becomes MSS-sized segments in the
//! caller's buffers, so one read can fill a whole batch: each a valid IP
//! packet with its own headers and checksums, as the kernel's own
//! segmentation would have made them (`tcp_gso_segment`,
//! `__udp_gso_segment`). A packet whose checksum was left to the device
//! (`VIRTIO_NET_HDR_F_NEEDS_CSUM`) gets it completed.

use std::io;

use super::{
    fold, ipv4_header_checksum, pseudo_of, sum, VnetHdr, F_NEEDS_CSUM, GSO_ECN, GSO_NONE,
    GSO_TCPV4, GSO_TCPV6, GSO_UDP_L4, MAX_SUPER_PACKET, VNET_HDR_LEN,
};
use crate::batch::{read_once, Stop};
use crate::Tun;

const TCP: u8 = 6;
const UDP: u8 = 17;
const TCP_FIN: u8 = 0x01;
const TCP_PSH: u8 = 0x08;
const TCP_CWR: u8 = 0x80;

/// Why a read could not be split; the packet is dropped and counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GsoError {
    /// The virtio-net header and the packet disagree (lengths, offsets,
    /// IP version, transport header).
    BadHeader,
    /// A GSO type vwand does not split (e.g. UFO).
    Unsupported(u8),
    /// More segments than the buffers given (a tiny `gso_size`).
    TooManySegments(usize),
    /// A buffer is too small for a segment.
    NoRoom,
}

impl std::fmt::Display for GsoError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GsoError::BadHeader => f.write_str("virtio-net header does not match the packet"),
            GsoError::Unsupported(t) => write!(f, "unsupported GSO type {t}"),
            GsoError::TooManySegments(n) => write!(f, "{n} segments exceed the batch"),
            GsoError::NoRoom => f.write_str("segment does not fit its buffer"),
        }
    }
}

impl std::error::Error for GsoError {}

/// Where a super-packet's parts are.
#[derive(Debug, Clone, Copy)]
struct Layout {
    v4: bool,
    proto: u8,
    /// Start of the transport header.
    l4: usize,
    /// End of the transport header: where the payload starts.
    hdr_len: usize,
    gso: usize,
    segments: usize,
}

fn layout(pkt: &[u8], h: &VnetHdr) -> Result<Layout, GsoError> {
    let proto = match h.gso_type & !GSO_ECN {
        GSO_TCPV4 | GSO_TCPV6 => TCP,
        GSO_UDP_L4 => UDP,
        t => return Err(GsoError::Unsupported(t)),
    };
    let v4 = match pkt.first().map(|b| b >> 4) {
        Some(4) => true,
        Some(6) => false,
        _ => return Err(GsoError::BadHeader),
    };
    let type_v4 = h.gso_type & !GSO_ECN == GSO_TCPV4;
    let type_v6 = h.gso_type & !GSO_ECN == GSO_TCPV6;
    let l4 = usize::from(h.csum_start);
    let ip_ok = if v4 {
        !type_v6 && l4 == usize::from(pkt[0] & 0x0f) * 4 && l4 >= 20
    } else {
        !type_v4 && l4 >= 40
    };
    if !ip_ok || pkt.len() < l4 {
        return Err(GsoError::BadHeader);
    }
    let l4_len = if proto == TCP {
        let off = pkt.get(l4 + 12).ok_or(GsoError::BadHeader)?;
        usize::from(off >> 4) * 4
    } else {
        8
    };
    let hdr_len = l4 + l4_len;
    let gso = usize::from(h.gso_size);
    if l4_len < 8 || hdr_len > pkt.len() || gso == 0 {
        return Err(GsoError::BadHeader);
    }
    let payload = pkt.len() - hdr_len;
    Ok(Layout {
        v4,
        proto,
        l4,
        hdr_len,
        gso,
        segments: payload.div_ceil(gso).max(1),
    })
}

/// How many packets a read becomes: 1 unless it is a super-packet.
///
/// # Errors
/// If the header and the packet disagree or the GSO type is unsupported.
pub fn segments(pkt: &[u8], h: &VnetHdr) -> Result<usize, GsoError> {
    if h.gso_type == GSO_NONE {
        return Ok(1);
    }
    layout(pkt, h).map(|l| l.segments)
}

/// Completes a checksum the kernel left to the device: the field at
/// `csum_start + csum_offset` holds the pseudo-header sum.
///
/// # Errors
/// If the offsets lie outside the packet.
pub fn complete_checksum(pkt: &mut [u8], h: &VnetHdr) -> Result<(), GsoError> {
    let start = usize::from(h.csum_start);
    let at = start + usize::from(h.csum_offset);
    if at + 2 > pkt.len() || start > at {
        return Err(GsoError::BadHeader);
    }
    let initial = u64::from(u16::from_be_bytes([pkt[at], pkt[at + 1]]));
    pkt[at..at + 2].fill(0);
    let c = !fold(sum(&pkt[start..], initial));
    // As skb_checksum_help: a computed 0 is sent as 0xffff.
    let c = if c == 0 { 0xffff } else { c };
    pkt[at..at + 2].copy_from_slice(&c.to_be_bytes());
    Ok(())
}

/// Splits the packet that followed virtio-net header `h` into
/// `out[i][offset..offset + lens[i]]` and returns how many it made. A
/// packet that is not a super-packet is copied into `out[0]`, its
/// checksum completed if the kernel asked for it.
///
/// # Errors
/// See [`GsoError`]; nothing is written to `lens` then.
pub fn split<B: AsMut<[u8]>>(
    pkt: &mut [u8],
    h: &VnetHdr,
    out: &mut [B],
    offset: usize,
    lens: &mut [usize],
) -> Result<usize, GsoError> {
    let room = out.len().min(lens.len());
    if h.gso_type == GSO_NONE {
        if h.flags & F_NEEDS_CSUM != 0 {
            complete_checksum(pkt, h)?;
        }
        let first = out.first_mut().ok_or(GsoError::TooManySegments(1))?;
        let dst = first
            .as_mut()
            .get_mut(offset..offset + pkt.len())
            .ok_or(GsoError::NoRoom)?;
        dst.copy_from_slice(pkt);
        *lens.first_mut().ok_or(GsoError::TooManySegments(1))? = pkt.len();
        return Ok(1);
    }
    let l = layout(pkt, h)?;
    if l.segments > room {
        return Err(GsoError::TooManySegments(l.segments));
    }
    let (headers, payload) = pkt.split_at(l.hdr_len);
    for (i, chunk) in payload
        .chunks(l.gso)
        .chain(payload.is_empty().then_some(&[][..]))
        .enumerate()
    {
        let len = l.hdr_len + chunk.len();
        let seg = out[i]
            .as_mut()
            .get_mut(offset..offset + len)
            .ok_or(GsoError::NoRoom)?;
        seg[..l.hdr_len].copy_from_slice(headers);
        seg[l.hdr_len..].copy_from_slice(chunk);
        fix_segment(seg, &l, i);
        lens[i] = len;
    }
    Ok(l.segments)
}

/// One segment's headers: IP length (and v4 ID and checksum), TCP
/// sequence number and flags or UDP length, and the transport checksum.
fn fix_segment(seg: &mut [u8], l: &Layout, i: usize) {
    let len = seg.len();
    if l.v4 {
        seg[2..4].copy_from_slice(&(len as u16).to_be_bytes());
        let id = u16::from_be_bytes([seg[4], seg[5]]).wrapping_add(i as u16);
        seg[4..6].copy_from_slice(&id.to_be_bytes());
        seg[10..12].fill(0);
        let c = ipv4_header_checksum(&seg[..l.l4]);
        seg[10..12].copy_from_slice(&c.to_be_bytes());
    } else {
        seg[4..6].copy_from_slice(&((len - 40) as u16).to_be_bytes());
    }
    let t = l.l4;
    let csum_at = if l.proto == TCP {
        let seq = u32::from_be_bytes([seg[t + 4], seg[t + 5], seg[t + 6], seg[t + 7]])
            .wrapping_add((i * l.gso) as u32);
        seg[t + 4..t + 8].copy_from_slice(&seq.to_be_bytes());
        if i + 1 < l.segments {
            seg[t + 13] &= !(TCP_FIN | TCP_PSH);
        }
        if i > 0 {
            seg[t + 13] &= !TCP_CWR;
        }
        t + 16
    } else {
        seg[t + 4..t + 6].copy_from_slice(&((len - t) as u16).to_be_bytes());
        t + 6
    };
    seg[csum_at..csum_at + 2].fill(0);
    let pseudo = pseudo_of(seg, t, l.proto).unwrap_or(0);
    let c = !fold(sum(&seg[t..], pseudo));
    let c = if c == 0 && l.proto == UDP { 0xffff } else { c };
    seg[csum_at..csum_at + 2].copy_from_slice(&c.to_be_bytes());
}

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
            let needed = match segments(pkt, &h) {
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
            match split(pkt, &h, &mut out[n..room], offset, &mut lens[n..room]) {
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
