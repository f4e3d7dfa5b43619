//! TUN offloads (`IFF_VNET_HDR`): every read and write carries a
//! virtio-net header, so one read can return a TCP or UDP "super-packet"
//! of up to 64 KiB that the kernel did not segment (TSO/USO), and one
//! write can hand the kernel a coalesced run of TCP segments (GRO).
//!
//! * [`gso`] reads from the TUN ([`SegmentReader`]: one read can fill a
//!   whole batch) and splits a super-packet into MSS-sized segments with correct
//!   IP and TCP/UDP headers and checksums, each into its own buffer with
//!   headroom for ESP, and completes partial checksums.
//! * [`gro`] coalesces consecutive TCP segments of one flow from a batch
//!   of decrypted packets into one super-packet per flow and write.
//!
//! We evaluated `tun-rs` (2.8), whose offload module ports wireguard-go's
//! `tun/offload_linux.go`. Its split and coalesce functions are
//! `#[doc(hidden)]`, its GRO tables cannot be reset without allocating
//! through the public API, and it would bring a second TUN stack, a second
//! `nix` and `getifaddrs`. These modules follow the same design (read,
//! not copied) on vwand's own fixed buffers, with no allocation per packet.

pub mod gro;
pub mod gso;

pub use gso::{ReadStats, SegmentReader};

/// Length of `struct virtio_net_hdr` (no `num_buffers`), the default
/// `TUNSETVNETHDRSZ`.
pub const VNET_HDR_LEN: usize = 10;

/// `VIRTIO_NET_HDR_F_NEEDS_CSUM`: the checksum at `csum_start +
/// csum_offset` holds only the pseudo-header sum.
pub const F_NEEDS_CSUM: u8 = 1;
/// `VIRTIO_NET_HDR_GSO_NONE`.
pub const GSO_NONE: u8 = 0;
/// `VIRTIO_NET_HDR_GSO_TCPV4`.
pub const GSO_TCPV4: u8 = 1;
/// `VIRTIO_NET_HDR_GSO_TCPV6`.
pub const GSO_TCPV6: u8 = 4;
/// `VIRTIO_NET_HDR_GSO_UDP_L4` (USO).
pub const GSO_UDP_L4: u8 = 5;
/// `VIRTIO_NET_HDR_GSO_ECN`, or'ed into the type.
pub const GSO_ECN: u8 = 0x80;

/// The largest IP packet a super-packet may be.
pub const MAX_SUPER_PACKET: usize = 65535;

/// `struct virtio_net_hdr` (include/uapi/linux/virtio_net.h), in the
/// host's byte order as the TUN device uses it (`TUNSETVNETLE` unset).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VnetHdr {
    /// `F_NEEDS_CSUM` or 0.
    pub flags: u8,
    /// `GSO_*`.
    pub gso_type: u8,
    /// Length of the headers (IP + TCP/UDP); a hint only.
    pub hdr_len: u16,
    /// Payload bytes per segment.
    pub gso_size: u16,
    /// Where the checksummed part starts (the transport header).
    pub csum_start: u16,
    /// Where, from `csum_start`, the checksum field is.
    pub csum_offset: u16,
}

impl VnetHdr {
    /// Parses the first [`VNET_HDR_LEN`] bytes.
    pub fn decode(b: &[u8]) -> Option<VnetHdr> {
        let b = b.get(..VNET_HDR_LEN)?;
        let u = |i: usize| u16::from_ne_bytes([b[i], b[i + 1]]);
        Some(VnetHdr {
            flags: b[0],
            gso_type: b[1],
            hdr_len: u(2),
            gso_size: u(4),
            csum_start: u(6),
            csum_offset: u(8),
        })
    }

    /// Writes the header into the first [`VNET_HDR_LEN`] bytes of `b`.
    ///
    /// # Panics
    /// If `b` is shorter than [`VNET_HDR_LEN`] (callers reserve it).
    pub fn encode(&self, b: &mut [u8]) {
        b[0] = self.flags;
        b[1] = self.gso_type;
        b[2..4].copy_from_slice(&self.hdr_len.to_ne_bytes());
        b[4..6].copy_from_slice(&self.gso_size.to_ne_bytes());
        b[6..8].copy_from_slice(&self.csum_start.to_ne_bytes());
        b[8..10].copy_from_slice(&self.csum_offset.to_ne_bytes());
    }
}

/// RFC 1071 ones'-complement sum of `data` added to `initial`, not yet
/// folded. 32-bit words are added into a 64-bit accumulator without
/// carry handling (RFC 1071 §2(C): deferred carries): a packet of at most
/// 64 KiB adds up to 2^14 words below 2^32, far from overflow, so the
/// loop has no dependency but the add and the compiler vectorises it
/// (the byte-at-a-time carry chain was 2.3% of vwand's samples on raw ESP).
/// `fold` does the end-around carries once at the end.
pub fn sum(data: &[u8], initial: u64) -> u64 {
    // Any `initial` (an unfolded sum) reduced below 2^33 first.
    let mut acc = (initial & 0xffff_ffff) + (initial >> 32);
    let mut words = data.chunks_exact(4);
    let wide: u64 = (&mut words)
        .map(|c| u64::from(u32::from_be_bytes([c[0], c[1], c[2], c[3]])))
        .sum();
    // Below 2^62 for any slice shorter than 2^32 bytes.
    acc += (wide & 0xffff_ffff) + (wide >> 32);
    let rest = words.remainder();
    let mut pairs = rest.chunks_exact(2);
    for p in &mut pairs {
        acc += u64::from(u16::from_be_bytes([p[0], p[1]]));
    }
    if let [last] = pairs.remainder() {
        acc += u64::from(*last) << 8;
    }
    acc
}

/// Folds a sum to 16 bits (not complemented).
pub fn fold(mut acc: u64) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

/// The pseudo-header sum (RFC 793 §3.1, RFC 8200 §8.1) of a transport
/// segment of `len` bytes between `src` and `dst` (4 or 16 bytes each).
pub fn pseudo_header(src: &[u8], dst: &[u8], proto: u8, len: usize) -> u64 {
    let acc = sum(dst, sum(src, 0));
    acc + u64::from(proto) + len as u64
}

/// The IP version of a packet, and the offsets of its source address
/// and its length (v4: `(4, 12, 4)`, v6: `(6, 8, 16)` = version, source
/// offset, address length).
fn addresses(pkt: &[u8]) -> Option<(u8, usize, usize)> {
    match pkt.first()? >> 4 {
        4 => Some((4, 12, 4)),
        6 => Some((6, 8, 16)),
        _ => None,
    }
}

/// The sum of `pkt`'s pseudo-header for the transport part starting at
/// `l4` (the protocol is `proto`).
fn pseudo_of(pkt: &[u8], l4: usize, proto: u8) -> Option<u64> {
    let (_, src, len) = addresses(pkt)?;
    let s = pkt.get(src..src + len)?;
    let d = pkt.get(src + len..src + 2 * len)?;
    Some(pseudo_header(s, d, proto, pkt.len().checked_sub(l4)?))
}

/// The IPv4 header checksum of `hdr` (its checksum field counted as 0).
fn ipv4_header_checksum(hdr: &[u8]) -> u16 {
    let acc = sum(&hdr[..10], 0);
    !fold(sum(&hdr[12..], acc))
}

#[cfg(test)]
mod tests;
