//! RFC 7296 §2.1: the initiator of an exchange retransmits its request,
//! byte for byte, with exponential back-off until a response arrives or it
//! gives up; §2.4 then declares the peer dead.

use std::time::{Duration, Instant};

/// How a request is retransmitted. strongSwan's defaults are 4 s × 1.8,
/// five retransmits (about 165 s in all); liveness checks want a tighter
/// bound so a dead hub instance is noticed in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetransmitConfig {
    /// Wait before the first retransmit.
    pub initial: Duration,
    /// Back-off factor, in percent (180 = ×1.8).
    pub factor_percent: u32,
    /// No single wait grows beyond this.
    pub max_interval: Duration,
    /// Retransmits after the first send; then the exchange fails.
    pub retransmits: u32,
}

impl Default for RetransmitConfig {
    fn default() -> Self {
        Self {
            initial: Duration::from_secs(2),
            factor_percent: 200,
            max_interval: Duration::from_secs(16),
            retransmits: 4,
        }
    }
}

impl RetransmitConfig {
    /// The longest an exchange can take before it fails.
    pub fn give_up_after(&self) -> Duration {
        let mut total = Duration::ZERO;
        let mut wait = self.initial;
        for _ in 0..=self.retransmits {
            total += wait;
            wait = self.next_wait(wait);
        }
        total
    }

    fn next_wait(&self, wait: Duration) -> Duration {
        (wait * self.factor_percent / 100).min(self.max_interval)
    }
}

/// What to do at a deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    /// Not yet.
    Wait,
    /// Send the same bytes again.
    Resend,
    /// Every retransmit went unanswered: the peer is dead (§2.4).
    GiveUp,
}

/// The retransmission timer of one outstanding request.
#[derive(Debug, Clone)]
pub struct Retransmit {
    config: RetransmitConfig,
    wait: Duration,
    deadline: Instant,
    sent: u32,
}

impl Retransmit {
    /// The request was first sent at `now`.
    pub fn new(config: RetransmitConfig, now: Instant) -> Self {
        Self {
            config,
            wait: config.initial,
            deadline: now + config.initial,
            sent: 1,
        }
    }

    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// How many times the request has gone out.
    pub fn times_sent(&self) -> u32 {
        self.sent
    }

    pub fn on_timeout(&mut self, now: Instant) -> Due {
        if now < self.deadline {
            return Due::Wait;
        }
        if self.sent > self.config.retransmits {
            return Due::GiveUp;
        }
        self.sent += 1;
        self.wait = self.config.next_wait(self.wait);
        self.deadline = now + self.wait;
        Due::Resend
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backs_off_then_gives_up() {
        let cfg = RetransmitConfig {
            initial: Duration::from_secs(1),
            factor_percent: 200,
            max_interval: Duration::from_secs(3),
            retransmits: 3,
        };
        let t0 = Instant::now();
        let mut r = Retransmit::new(cfg, t0);
        assert_eq!(r.on_timeout(t0), Due::Wait);
        let mut at;
        let mut waits = vec![];
        loop {
            at = r.deadline();
            match r.on_timeout(at) {
                Due::Resend => waits.push(r.deadline() - at),
                Due::GiveUp => break,
                Due::Wait => unreachable!(),
            }
        }
        assert_eq!(waits, [2, 3, 3].map(Duration::from_secs));
        assert_eq!(r.times_sent(), 4);
        assert_eq!(at - t0, cfg.give_up_after());
        assert_eq!(cfg.give_up_after(), Duration::from_secs(1 + 2 + 3 + 3));
    }
}
