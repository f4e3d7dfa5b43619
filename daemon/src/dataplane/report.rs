//! What the data plane tells the control plane.
//!
//! - Per tunnel, cumulative ESP packet counters and local send failures,
//!   in relaxed atomics the data-plane tasks add to once per batch and the
//!   control plane samples every few milliseconds: the input of liveness
//!   checks and failover (`ike::endpoint`).
//! - Per SA, lifetime and sequence events (soft and hard limits, sequence
//!   space low or gone), on a channel: at most a few per SA in its life,
//!   so an unbounded channel stays bounded by the number of SAs.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::sync::mpsc;

/// One tunnel's traffic, as the data plane saw it.
#[derive(Debug, Default)]
pub struct Activity {
    /// ESP packets sent.
    pub tx: AtomicU64,
    /// ESP packets received that decrypted and passed every check.
    pub rx: AtomicU64,
    /// Sends the kernel refused because the peer is unreachable from here
    /// (no route, network or host unreachable or down).
    pub unreachable: AtomicU64,
}

impl Activity {
    pub fn add_tx(&self, n: u64) {
        if n > 0 {
            self.tx.fetch_add(n, Ordering::Relaxed);
        }
    }

    pub fn add_rx(&self, n: u64) {
        if n > 0 {
            self.rx.fetch_add(n, Ordering::Relaxed);
        }
    }

    /// (tx, rx, unreachable).
    pub fn sample(&self) -> (u64, u64, u64) {
        (
            self.tx.load(Ordering::Relaxed),
            self.rx.load(Ordering::Relaxed),
            self.unreachable.load(Ordering::Relaxed),
        )
    }
}

/// Every tunnel's activity, by tunnel index.
pub type Activities = Arc<[Activity]>;

pub fn activities(tunnels: usize) -> Activities {
    (0..tunnels).map(|_| Activity::default()).collect()
}

/// An SA's lifetime or sequence event, with the tunnel it belongs to.
#[derive(Debug, Clone, Copy)]
pub struct SaReport {
    pub tunnel: usize,
    pub event: esp::SaEvent,
}

pub type SaReports = mpsc::UnboundedSender<SaReport>;

/// Whether a send error means the peer cannot be reached from here.
pub fn is_unreachable(e: &std::io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::ENETUNREACH | libc::EHOSTUNREACH | libc::ENETDOWN | libc::EHOSTDOWN)
            | Some(libc::EADDRNOTAVAIL)
    )
}
