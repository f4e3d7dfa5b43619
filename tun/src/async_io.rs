//! Tokio integration: [`AsyncTun`] registers the non-blocking TUN fd with
//! the reactor and drains it in batches on readiness.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};

use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

use crate::batch::Stop;
use crate::offload::SegmentReader;
use crate::Tun;

/// A [`Tun`] registered with the tokio reactor.
///
/// All methods take `&self`, so one task can read while another writes.
/// For multi-queue devices wrap each queue in its own `AsyncTun`.
#[derive(Debug)]
pub struct AsyncTun {
    inner: AsyncFd<Tun>,
}

impl AsyncTun {
    /// Registers `tun` with the current tokio runtime.
    ///
    /// Fails (rather than panicking) when called outside a runtime.
    pub fn new(tun: Tun) -> io::Result<AsyncTun> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(io::Error::other(
                "AsyncTun::new must be called from within a tokio runtime",
            ));
        }
        let interest = Interest::READABLE | Interest::WRITABLE;
        // SAFETY: `Tun` owns its descriptor as an `OwnedFd` that is only
        // closed when the `Tun` is dropped, and `Tun` offers no way to close
        // or replace it through `&self`/`&mut self`; so while the `AsyncFd`
        // owns the `Tun`, the fd stays open, refers to the same file
        // description, and `as_raw_fd()` always returns that same number.
        let inner =
            unsafe { AsyncFd::register_with_interest(tun, interest) }.map_err(io::Error::from)?;
        Ok(AsyncTun { inner })
    }

    /// The underlying device (for `name`, `ifindex`, `set_mtu`, ...).
    pub fn get_ref(&self) -> &Tun {
        self.inner.get_ref()
    }

    /// Deregisters from the reactor and returns the device.
    pub fn into_inner(self) -> Tun {
        self.inner.into_inner()
    }

    /// Waits until the device is readable (a packet is probably queued).
    pub async fn readable(&self) -> io::Result<()> {
        let _guard = self.inner.readable().await?;
        Ok(())
    }

    /// Waits for one packet and reads it into `buf`.
    pub async fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let mut guard = self.inner.readable().await?;
            match guard.try_io(|fd| fd.get_ref().read_into(buf)) {
                Ok(res) => return res,
                Err(_would_block) => continue,
            }
        }
    }

    /// Waits until at least one packet is available, then drains up to
    /// `min(bufs.len(), lens.len())` packets with [`Tun::read_batch`]
    /// (same `offset`/`lens` contract). Returns the number read (>= 1).
    ///
    /// If the batch ended because the queue ran dry, readiness is cleared
    /// right away, saving the extra `read(2)` that would only say
    /// `WouldBlock`.
    pub async fn read_batch<B: AsMut<[u8]>>(
        &self,
        bufs: &mut [B],
        offset: usize,
        lens: &mut [usize],
    ) -> io::Result<usize> {
        if bufs.is_empty() || lens.is_empty() {
            return Ok(0);
        }
        self.drain(|tun| tun.read_batch_inner(bufs, offset, lens))
            .await
    }

    /// Waits for readability and runs `read` until it reads something;
    /// readiness is cleared when `read` drained the queue.
    async fn drain(
        &self,
        mut read: impl FnMut(&Tun) -> io::Result<(usize, Stop)>,
    ) -> io::Result<usize> {
        loop {
            let mut guard = self.inner.readable().await?;
            match guard.try_io(|fd| read(fd.get_ref())) {
                Ok(Ok((n, stop))) => {
                    if stop == Stop::Drained {
                        guard.clear_ready();
                    }
                    return Ok(n);
                }
                Ok(Err(e)) => return Err(e),
                Err(_would_block) => continue,
            }
        }
    }

    /// Like [`AsyncTun::read_batch`] on a [`crate::TunOptions::vnet_hdr`]
    /// device: waits for at least one read, splits super-packets into
    /// `bufs` (see [`SegmentReader`]) and returns how many packets it made
    /// (>= 1). A super-packet left over from the last call comes first,
    /// without waiting.
    pub async fn read_segments<B: AsMut<[u8]>>(
        &self,
        reader: &mut SegmentReader,
        bufs: &mut [B],
        offset: usize,
        lens: &mut [usize],
    ) -> io::Result<usize> {
        if bufs.is_empty() || lens.is_empty() {
            return Ok(0);
        }
        if reader.has_pending() {
            match reader.read_into(self.get_ref(), bufs, offset, lens) {
                Ok((n, _)) if n > 0 => return Ok(n),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
        }
        self.drain(|tun| reader.read_into(tun, bufs, offset, lens))
            .await
    }

    /// Writes one packet, waiting for writability if the kernel pushes back.
    pub async fn write(&self, pkt: &[u8]) -> io::Result<usize> {
        loop {
            let mut guard = self.inner.writable().await?;
            match guard.try_io(|fd| fd.get_ref().write_packet(pkt)) {
                Ok(res) => return res,
                Err(_would_block) => continue,
            }
        }
    }

    /// Writes a batch with [`Tun::write_batch`] semantics, waiting for
    /// writability first. Returns the number written (>= 1 unless `pkts` is
    /// empty); on a partial write the caller resubmits the rest.
    pub async fn write_batch<P: AsRef<[u8]>>(&self, pkts: &[P]) -> io::Result<usize> {
        if pkts.is_empty() {
            return Ok(0);
        }
        loop {
            let mut guard = self.inner.writable().await?;
            match guard.try_io(|fd| fd.get_ref().write_batch_inner(pkts)) {
                Ok(Ok((n, stop))) => {
                    if stop == Stop::Drained {
                        guard.clear_ready();
                    }
                    return Ok(n);
                }
                Ok(Err(e)) => return Err(e),
                Err(_would_block) => continue,
            }
        }
    }
}

impl AsFd for AsyncTun {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inner.get_ref().as_fd()
    }
}

impl AsRawFd for AsyncTun {
    fn as_raw_fd(&self) -> RawFd {
        self.inner.as_raw_fd()
    }
}
