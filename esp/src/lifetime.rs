//! SA lifetimes (RFC 4301 §4.4.2.1): soft limits ask for a rekey, hard
//! limits end the SA. Counted in bytes, packets and time.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// One set of limits; `None` means unlimited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    pub bytes: Option<u64>,
    pub packets: Option<u64>,
    pub time: Option<Duration>,
}

/// Soft and hard limits of one SA.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Lifetime {
    pub soft: Limits,
    pub hard: Limits,
}

/// Which limit ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitKind {
    Bytes,
    Packets,
    Time,
}

/// Tracks one SA against its [`Lifetime`]. Shared by the workers that
/// send on one SA: each limit fires once, for whichever sees it first.
#[derive(Debug)]
pub(crate) struct LifetimeTracker {
    lifetime: Lifetime,
    created: Instant,
    soft_fired: AtomicBool,
    hard_fired: AtomicBool,
}

/// What a check found newly exceeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Crossed {
    Soft(LimitKind),
    Hard(LimitKind),
}

impl LifetimeTracker {
    pub(crate) fn new(lifetime: Lifetime, now: Instant) -> Self {
        Self {
            lifetime,
            created: now,
            soft_fired: AtomicBool::new(false),
            hard_fired: AtomicBool::new(false),
        }
    }

    pub(crate) fn created(&self) -> Instant {
        self.created
    }

    pub(crate) fn hard_expired(&self) -> bool {
        self.hard_fired.load(Ordering::Relaxed)
    }

    /// Marks the hard limit (and so the soft one) as crossed; true for
    /// the one caller that crossed it first.
    fn fire_hard(&self) -> bool {
        self.soft_fired.store(true, Ordering::Relaxed);
        !self.hard_fired.swap(true, Ordering::Relaxed)
    }

    fn fire_soft(&self) -> bool {
        !self.soft_fired.swap(true, Ordering::Relaxed)
    }

    /// Called with the SA's running totals after each packet. Cheap: two
    /// comparisons per armed limit.
    #[inline]
    pub(crate) fn on_traffic(&self, bytes: u64, packets: u64) -> Option<Crossed> {
        if !self.hard_expired() {
            if let Some(kind) = traffic_exceeded(&self.lifetime.hard, bytes, packets) {
                return self.fire_hard().then_some(Crossed::Hard(kind));
            }
        }
        if !self.soft_fired.load(Ordering::Relaxed) {
            if let Some(kind) = traffic_exceeded(&self.lifetime.soft, bytes, packets) {
                return self.fire_soft().then_some(Crossed::Soft(kind));
            }
        }
        None
    }

    /// The next instant at which a time limit fires.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        let at = |l: &Limits| l.time.map(|t| self.created + t);
        let soft = if self.soft_fired.load(Ordering::Relaxed) {
            None
        } else {
            at(&self.lifetime.soft)
        };
        let hard = if self.hard_expired() {
            None
        } else {
            at(&self.lifetime.hard)
        };
        match (soft, hard) {
            (Some(s), Some(h)) => Some(s.min(h)),
            (s, h) => s.or(h),
        }
    }

    pub(crate) fn handle_timeout(&self, now: Instant) -> Option<Crossed> {
        let due = |l: &Limits| l.time.is_some_and(|t| now >= self.created + t);
        if !self.hard_expired() && due(&self.lifetime.hard) && self.fire_hard() {
            return Some(Crossed::Hard(LimitKind::Time));
        }
        if !self.soft_fired.load(Ordering::Relaxed) && due(&self.lifetime.soft) && self.fire_soft()
        {
            return Some(Crossed::Soft(LimitKind::Time));
        }
        None
    }
}

fn traffic_exceeded(l: &Limits, bytes: u64, packets: u64) -> Option<LimitKind> {
    if l.bytes.is_some_and(|b| bytes >= b) {
        Some(LimitKind::Bytes)
    } else if l.packets.is_some_and(|p| packets >= p) {
        Some(LimitKind::Packets)
    } else {
        None
    }
}
