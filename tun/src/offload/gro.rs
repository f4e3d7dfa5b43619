//! Coalescing decrypted packets before they are written to the TUN (GRO):
//! consecutive TCP segments of one flow in a batch become one super-packet
//! that the kernel takes in one write and forwards as one skb, as Linux's
//! own `tcp_gro_receive` would merge them; with USO, so do UDP datagrams
//! of one flow that have one size (the last may be shorter), as
//! `udp_gro_receive` would. Everything else passes through unchanged, in
//! order; within a flow the order never changes.

use super::{
    fold, ipv4_header_checksum, pseudo_of, sum, VnetHdr, F_NEEDS_CSUM, GSO_TCPV4, GSO_TCPV6,
    GSO_UDP_L4, MAX_SUPER_PACKET, VNET_HDR_LEN,
};

const TCP: u8 = 6;
const UDP: u8 = 17;
const TCP_ACK: u8 = 0x10;
const TCP_PSH: u8 = 0x08;
/// Segments per super-packet at most (Linux's GRO stops at 64 too).
const MAX_SEGMENTS: u16 = 64;

/// A TCP segment or UDP datagram that may be merged: where its parts are.
#[derive(Debug, Clone, Copy)]
struct Segment {
    proto: u8,
    v4: bool,
    l4: usize,
    hdr_len: usize,
    seq: u32,
    flags: u8,
}

/// What a buffer holds.
#[derive(Debug, Clone, Copy, Default)]
struct Held {
    /// The flow (addresses, ports and protocol, zero-padded), if TCP or UDP.
    key: Option<Key>,
    /// More segments may be appended.
    open: bool,
    proto: u8,
    v4: bool,
    l4: usize,
    hdr_len: usize,
    gso: usize,
    segments: u16,
    next_seq: u32,
}

/// Counters of a coalescer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GroStats {
    /// Packets pushed.
    pub packets: u64,
    /// Packets appended to an earlier one of their flow.
    pub merged: u64,
    /// Writes to the TUN.
    pub writes: u64,
    /// Writes the TUN refused.
    pub write_errors: u64,
}

/// A batch of packets on their way to an offloading TUN, each buffer
/// starting with its virtio-net header. Allocates its buffers once.
#[derive(Debug)]
pub struct Coalescer {
    bufs: Vec<Vec<u8>>,
    held: Vec<Held>,
    n: usize,
    /// Merge UDP too (the TUN took USO).
    udp: bool,
    /// Running totals.
    pub stats: GroStats,
}

/// A flow: both addresses, both ports, the protocol.
type Key = [u8; 37];

/// Where the transport header starts, for an IPv4 packet without options
/// or fragmentation, or an IPv6 one whose next header is TCP or UDP; and
/// whether it is IPv4.
fn transport(pkt: &[u8]) -> Option<(bool, usize, u8)> {
    match pkt.first()? >> 4 {
        4 => {
            let ok = pkt.len() >= 28
                && pkt[0] == 0x45
                && usize::from(u16::from_be_bytes([pkt[2], pkt[3]])) == pkt.len()
                && u16::from_be_bytes([pkt[6], pkt[7]]) & 0x3fff == 0
                && ipv4_header_checksum(&pkt[..20]) == u16::from_be_bytes([pkt[10], pkt[11]]);
            ok.then_some((true, 20, pkt[9]))
        }
        6 => {
            let ok = pkt.len() >= 48
                && usize::from(u16::from_be_bytes([pkt[4], pkt[5]])) + 40 == pkt.len();
            ok.then_some((false, 40, pkt[6]))
        }
        _ => None,
    }
}

/// The segment `pkt` is, if it may be merged: TCP with ACK (and PSH)
/// only, or (with `udp`) UDP; a payload; valid checksums.
fn candidate(pkt: &[u8], udp: bool) -> Option<Segment> {
    let (v4, l4, proto) = transport(pkt)?;
    let (hdr_len, seq, flags) = match proto {
        TCP if pkt.len() >= l4 + 20 => {
            let hdr_len = l4 + usize::from(pkt[l4 + 12] >> 4) * 4;
            let flags = pkt[l4 + 13];
            if hdr_len < l4 + 20 || flags & !(TCP_ACK | TCP_PSH) != 0 || flags & TCP_ACK == 0 {
                return None;
            }
            let seq = u32::from_be_bytes([pkt[l4 + 4], pkt[l4 + 5], pkt[l4 + 6], pkt[l4 + 7]]);
            (hdr_len, seq, flags)
        }
        UDP if udp => {
            let len = usize::from(u16::from_be_bytes([pkt[l4 + 4], pkt[l4 + 5]]));
            if len != pkt.len() - l4 {
                return None;
            }
            (l4 + 8, 0, 0)
        }
        _ => return None,
    };
    // IPv4 UDP may carry no checksum (0): nothing to verify, and the
    // merged datagram gets one from the kernel.
    let unchecked = proto == UDP && v4 && pkt[l4 + 6..l4 + 8] == [0, 0];
    if hdr_len >= pkt.len()
        || !unchecked && fold(sum(&pkt[l4..], pseudo_of(pkt, l4, proto)?)) != 0xffff
    {
        return None;
    }
    Some(Segment {
        proto,
        v4,
        l4,
        hdr_len,
        seq,
        flags,
    })
}

/// The flow of a TCP or UDP packet: addresses, ports and protocol.
fn flow_key(pkt: &[u8]) -> Option<Key> {
    let (src, alen, l4, proto) = match pkt.first()? >> 4 {
        4 => (12, 4, usize::from(pkt[0] & 0x0f) * 4, *pkt.get(9)?),
        6 => (8, 16, 40, *pkt.get(6)?),
        _ => return None,
    };
    if proto != TCP && proto != UDP {
        return None;
    }
    let mut key = [0u8; 37];
    key[..2 * alen].copy_from_slice(pkt.get(src..src + 2 * alen)?);
    key[32..36].copy_from_slice(pkt.get(l4..l4 + 4)?);
    key[36] = proto;
    Some(key)
}

/// Whether `next` may follow `head` in one super-packet: the same IP
/// header fields that survive segmentation, the same ACK and options.
fn same_headers(head: &[u8], next: &[u8], h: &Held) -> bool {
    let ip_same = if h.v4 {
        head[1] == next[1] && head[6] & 0x40 == next[6] & 0x40 && head[8] == next[8]
    } else {
        head[..4] == next[..4] && head[7] == next[7]
    };
    let t = h.l4;
    ip_same
        && (h.proto == UDP
            || head[t + 8..t + 12] == next[t + 8..t + 12]
                && head.get(t + 20..h.hdr_len) == next.get(t + 20..h.hdr_len))
}

impl Coalescer {
    /// A coalescer for batches of up to `batch` packets, merging TCP
    /// segments, and UDP datagrams too if `udp` (the TUN took USO).
    pub fn new(batch: usize, udp: bool) -> Coalescer {
        Coalescer {
            udp,
            bufs: (0..batch.max(1))
                .map(|_| Vec::with_capacity(VNET_HDR_LEN + MAX_SUPER_PACKET))
                .collect(),
            held: vec![Held::default(); batch.max(1)],
            n: 0,
            stats: GroStats::default(),
        }
    }

    /// Whether the batch has no room left: flush before the next push.
    pub fn is_full(&self) -> bool {
        self.n == self.bufs.len()
    }

    /// Adds a packet (copied): merged into the newest buffer of its flow
    /// when it continues it, else into a buffer of its own. Returns
    /// `false` (and takes nothing) when the batch is full.
    pub fn push(&mut self, pkt: &[u8]) -> bool {
        self.stats.packets += 1;
        let key = flow_key(pkt);
        let seg = candidate(pkt, self.udp);
        if let (Some(key), Some(seg)) = (key, seg) {
            let newest = self.held[..self.n].iter().rposition(|h| h.key == Some(key));
            if let Some(i) = newest {
                if self.append(i, pkt, &seg) {
                    self.stats.merged += 1;
                    return true;
                }
            }
        }
        if self.is_full() {
            self.stats.packets -= 1;
            return false;
        }
        let buf = &mut self.bufs[self.n];
        buf.clear();
        buf.extend_from_slice(&[0; VNET_HDR_LEN]);
        buf.extend_from_slice(pkt);
        let payload = seg.map_or(0, |s| pkt.len() - s.hdr_len);
        self.held[self.n] = match seg {
            Some(s) => Held {
                key,
                open: s.flags & TCP_PSH == 0,
                proto: s.proto,
                v4: s.v4,
                l4: s.l4,
                hdr_len: s.hdr_len,
                gso: payload,
                segments: 1,
                next_seq: s.seq.wrapping_add(payload as u32),
            },
            None => Held {
                key,
                ..Held::default()
            },
        };
        self.n += 1;
        true
    }

    /// Appends `pkt` to buffer `i` if it continues that flow there.
    fn append(&mut self, i: usize, pkt: &[u8], seg: &Segment) -> bool {
        let h = self.held[i];
        let payload = &pkt[seg.hdr_len..];
        let buf = &mut self.bufs[i];
        let fits = h.open
            && seg.v4 == h.v4
            && seg.hdr_len == h.hdr_len
            && (h.proto == UDP || seg.seq == h.next_seq)
            && payload.len() <= h.gso
            && h.segments < MAX_SEGMENTS
            && buf.len() - VNET_HDR_LEN + payload.len() <= MAX_SUPER_PACKET
            && same_headers(&buf[VNET_HDR_LEN..], pkt, &h);
        if !fits {
            // The flow goes on in a new buffer: never append behind it.
            self.held[i].open = false;
            return false;
        }
        buf.extend_from_slice(payload);
        let held = &mut self.held[i];
        held.segments += 1;
        held.next_seq = seg.seq.wrapping_add(payload.len() as u32);
        if seg.flags & TCP_PSH != 0 {
            buf[VNET_HDR_LEN + h.l4 + 13] |= TCP_PSH;
            held.open = false;
        }
        if payload.len() < h.gso {
            held.open = false;
        }
        true
    }

    /// Number of buffers waiting.
    pub fn len(&self) -> usize {
        self.n
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// Finishes the batch: each buffer gets its virtio-net header (a
    /// merged one also its IP length and checksum and the TCP
    /// pseudo-header sum) and is handed to `write`, in order. Returns the
    /// number of writes that failed; the batch is empty afterwards.
    pub fn flush(&mut self, mut write: impl FnMut(&[u8]) -> std::io::Result<usize>) -> u64 {
        let mut failed = 0;
        for (buf, h) in self.bufs.iter_mut().zip(&self.held).take(self.n) {
            let hdr = if h.segments > 1 {
                finish(&mut buf[VNET_HDR_LEN..], h)
            } else {
                VnetHdr::default()
            };
            hdr.encode(&mut buf[..VNET_HDR_LEN]);
            self.stats.writes += 1;
            if write(buf).is_err() {
                failed += 1;
            }
        }
        self.stats.write_errors += failed;
        self.n = 0;
        failed
    }

    /// The packet in buffer `i` as it would be written (for tests).
    pub fn buffer(&self, i: usize) -> Option<&[u8]> {
        self.bufs.get(i).filter(|_| i < self.n).map(Vec::as_slice)
    }
}

/// A merged super-packet's headers, and its virtio-net header: the kernel
/// segments it (or hands it on whole) and computes each checksum from the
/// pseudo-header sum left in the TCP or UDP checksum field.
fn finish(pkt: &mut [u8], h: &Held) -> VnetHdr {
    let len = pkt.len();
    if h.v4 {
        pkt[2..4].copy_from_slice(&(len as u16).to_be_bytes());
        pkt[10..12].fill(0);
        let c = ipv4_header_checksum(&pkt[..20]);
        pkt[10..12].copy_from_slice(&c.to_be_bytes());
    } else {
        pkt[4..6].copy_from_slice(&((len - 40) as u16).to_be_bytes());
    }
    let (offset, gso_type) = if h.proto == UDP {
        let udp_len = (len - h.l4) as u16;
        pkt[h.l4 + 4..h.l4 + 6].copy_from_slice(&udp_len.to_be_bytes());
        (6, GSO_UDP_L4)
    } else if h.v4 {
        (16, GSO_TCPV4)
    } else {
        (16, GSO_TCPV6)
    };
    let at = h.l4 + offset;
    let pseudo = fold(pseudo_of(pkt, h.l4, h.proto).unwrap_or(0));
    pkt[at..at + 2].copy_from_slice(&pseudo.to_be_bytes());
    VnetHdr {
        flags: F_NEEDS_CSUM,
        gso_type,
        hdr_len: h.hdr_len as u16,
        gso_size: h.gso as u16,
        csum_start: h.l4 as u16,
        csum_offset: offset as u16,
    }
}
