//! Packet IO on a [`Tun`]: single reads/writes and allocation-free batches.
//!
//! All calls are non-blocking: `WouldBlock` is passed through so callers can
//! drive them from epoll/tokio (see [`crate::AsyncTun`]).
//!
//! # Buffers and headroom
//!
//! The caller owns fixed, reusable buffers. [`Tun::read_batch`] writes each
//! packet at a caller-chosen `offset` inside its buffer, leaving
//! `buf[..offset]` untouched as headroom so that outer IP/UDP/ESP headers
//! can later be prepended in place, without copying the payload.
//!
//! Each buffer should provide at least `offset + MTU` bytes: with
//! `IFF_NO_PI` the kernel silently truncates a packet that does not fit.
//!
//! # Future: `IFF_VNET_HDR`
//!
//! With `IFF_VNET_HDR` + GSO (see [`crate::TunOptions::vnet_hdr`], not yet
//! supported) a single read returns a virtio-net header followed by a GSO
//! "super-packet" of up to 64 KiB that must be segmented by the caller, and
//! writes must carry the header too. The batch API shape stays the same.

use std::io;
use std::os::fd::{AsFd, AsRawFd};

use crate::Tun;

/// Why a batch loop stopped early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stop {
    /// Every slot was used; more packets may be pending.
    Full,
    /// The fd reported `WouldBlock`: the queue is drained.
    Drained,
    /// An error other than `WouldBlock` ended the batch after at least one
    /// success; it will resurface on the next call.
    Error,
}

pub(crate) fn read_once(tun: &Tun, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match nix::unistd::read(tun.as_raw_fd(), buf) {
            Ok(n) => return Ok(n),
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

pub(crate) fn write_once(tun: &Tun, pkt: &[u8]) -> io::Result<usize> {
    loop {
        match nix::unistd::write(tun.as_fd(), pkt) {
            Ok(n) => return Ok(n),
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

impl Tun {
    /// Reads one packet into `buf` (a single non-blocking `read(2)`).
    ///
    /// Returns the packet length. `WouldBlock` is returned as an error when
    /// no packet is queued.
    pub fn read_into(&self, buf: &mut [u8]) -> io::Result<usize> {
        read_once(self, buf)
    }

    /// Reads up to `min(bufs.len(), lens.len())` packets, packet `i` landing
    /// in `bufs[i][offset..]` with its length stored in `lens[i]`.
    ///
    /// Stops at the first `WouldBlock` and returns how many packets were
    /// read; `WouldBlock` is returned as an error only if nothing was read.
    /// Any other error is returned only if it hits the first read;
    /// otherwise the packets already read are returned and the error will
    /// resurface on the next call.
    ///
    /// Fails with `InvalidInput` if `offset` leaves no room in some buffer.
    /// No allocation happens here.
    pub fn read_batch<B: AsMut<[u8]>>(
        &self,
        bufs: &mut [B],
        offset: usize,
        lens: &mut [usize],
    ) -> io::Result<usize> {
        self.read_batch_inner(bufs, offset, lens).map(|(n, _)| n)
    }

    pub(crate) fn read_batch_inner<B: AsMut<[u8]>>(
        &self,
        bufs: &mut [B],
        offset: usize,
        lens: &mut [usize],
    ) -> io::Result<(usize, Stop)> {
        let max = bufs.len().min(lens.len());
        for (i, (buf, len)) in bufs.iter_mut().zip(lens.iter_mut()).enumerate() {
            let buf = buf.as_mut();
            let Some(slot) = buf.get_mut(offset..).filter(|s| !s.is_empty()) else {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "read_batch: offset {offset} leaves no room in buffer {i} of {} bytes",
                        buf.len()
                    ),
                ));
            };
            match read_once(self, slot) {
                Ok(n) => *len = n,
                Err(e) if i > 0 && e.kind() == io::ErrorKind::WouldBlock => {
                    return Ok((i, Stop::Drained))
                }
                Err(e) if i > 0 => {
                    tracing::trace!(tun = %self.name(), error = %e, "read_batch stopped early");
                    return Ok((i, Stop::Error));
                }
                Err(e) => return Err(e),
            }
        }
        Ok((max, Stop::Full))
    }

    /// Writes one IP packet (a single non-blocking `write(2)`).
    ///
    /// A TUN write either takes the whole packet or fails, so the returned
    /// length equals `pkt.len()` on success.
    pub fn write_packet(&self, pkt: &[u8]) -> io::Result<usize> {
        write_once(self, pkt)
    }

    /// Writes each packet of `pkts` in order; returns how many were written.
    ///
    /// Mirrors [`Tun::read_batch`]: stops at the first error, which is
    /// returned only if it hits the first packet. A caller that gets an
    /// error other than `WouldBlock` for `pkts[0]` should drop that packet
    /// (e.g. the kernel rejects it as malformed with `EINVAL`) and continue
    /// with the rest.
    ///
    /// To write packets sitting at varying offsets inside fixed buffers
    /// without allocating, pass a slice of a small view type implementing
    /// `AsRef<[u8]>` (or of `&[u8]` sub-slices).
    pub fn write_batch<P: AsRef<[u8]>>(&self, pkts: &[P]) -> io::Result<usize> {
        self.write_batch_inner(pkts).map(|(n, _)| n)
    }

    pub(crate) fn write_batch_inner<P: AsRef<[u8]>>(
        &self,
        pkts: &[P],
    ) -> io::Result<(usize, Stop)> {
        for (i, pkt) in pkts.iter().enumerate() {
            match write_once(self, pkt.as_ref()) {
                Ok(_) => {}
                Err(e) if i > 0 && e.kind() == io::ErrorKind::WouldBlock => {
                    return Ok((i, Stop::Drained))
                }
                Err(e) if i > 0 => {
                    tracing::trace!(tun = %self.name(), error = %e, "write_batch stopped early");
                    return Ok((i, Stop::Error));
                }
                Err(e) => return Err(e),
            }
        }
        Ok((pkts.len(), Stop::Full))
    }
}
