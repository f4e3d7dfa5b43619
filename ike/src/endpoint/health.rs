//! Whether a tunnel carries flows: liveness checks driven by what the data
//! plane saw (RFC 7296 §2.4), path failures the owner reports, and the
//! hold-down before a tunnel that came back takes its flows again.
//!
//! ```text
//!            Child SA up (first time)
//!   Down ──────────────────────────────► Up ◄──────────────┐
//!    ▲  Child SA up again                 │ no answer in    │ hold-down
//!    │  ──────────► Rejoining ────────────┤ suspect_after,  │ over
//!    │                  ▲                 │ or path down    │
//!    │  IKE SA gone     │ answer          ▼                 │
//!    └───────────── Suspect ◄──────── (from Up or Rejoining)
//! ```
//!
//! A tunnel is checked only when ESP went out and nothing came back for
//! `quiet`: an idle tunnel costs nothing, and a busy two-way one never
//! needs a check. The check is an empty INFORMATIONAL on a tight schedule
//! (`probe`); an answer proves the path both ways. Only an answer to our
//! request brings a suspect tunnel back: ESP from the peer proves only one
//! direction.

use super::tunnel::Tunnel;
use super::types::{EndpointStats, Health, LivenessConfig, Suspicion, TunnelEvent};
use crate::sa::IkeSa;
use std::time::Instant;

impl Tunnel {
    fn carrying(&self) -> bool {
        matches!(self.health, Health::Up | Health::Rejoining { .. })
    }

    /// A Child SA came up: a tunnel without one starts carrying flows, at
    /// once the first time, after the hold-down when it comes back.
    pub(super) fn child_up(&mut self, now: Instant, events: &mut Vec<TunnelEvent>) {
        if self.carrying() {
            return; // a rekey
        }
        self.check = None;
        self.unanswered_since = None;
        let h = if self.ever_up {
            Health::Rejoining {
                at: now + self.hold,
            }
        } else {
            Health::Up
        };
        self.set_health(now, h, events);
    }

    /// The data plane's cumulative ESP packet counters for the tunnel.
    pub(super) fn observe(&mut self, now: Instant, tx: u64, rx: u64) {
        let sent = tx != self.tx;
        let heard = rx != self.rx;
        self.tx = tx;
        self.rx = rx;
        if heard {
            self.unanswered_since = None;
        } else if sent && self.unanswered_since.is_none() {
            self.unanswered_since = Some(now);
        }
    }

    /// Starts (or speeds up) a liveness check.
    pub(super) fn start_check(
        &mut self,
        now: Instant,
        cfg: &LivenessConfig,
        stats: &mut EndpointStats,
    ) {
        let Some(sa) = self.sa.as_mut() else { return };
        if sa.check_liveness(now, cfg.probe) {
            stats.liveness_checks += 1;
            self.check.get_or_insert(now);
        }
    }

    /// The owner saw the path to the peer fail: the tunnel gives up its
    /// flows at once, and a check finds out when it works again.
    pub(super) fn path_down(
        &mut self,
        now: Instant,
        cfg: &LivenessConfig,
        stats: &mut EndpointStats,
        events: &mut Vec<TunnelEvent>,
    ) {
        if !self.established() {
            return;
        }
        if self.carrying() {
            stats.suspects += 1;
            self.set_health(now, Health::Suspect(Suspicion::PathDown), events);
        }
        self.start_check(now, cfg, stats);
    }

    /// The path is back: check now rather than at the next retransmission.
    pub(super) fn path_up(
        &mut self,
        now: Instant,
        cfg: &LivenessConfig,
        stats: &mut EndpointStats,
    ) {
        if matches!(self.health, Health::Suspect(_)) {
            self.start_check(now, cfg, stats);
        }
    }

    /// Moves the health along at `now`.
    pub(super) fn liveness(
        &mut self,
        now: Instant,
        cfg: &LivenessConfig,
        stats: &mut EndpointStats,
        events: &mut Vec<TunnelEvent>,
    ) {
        if !self.established() {
            self.check = None;
            return;
        }
        let answer = self.sa.as_ref().and_then(IkeSa::last_answer);
        if let Some(started) = self.check {
            if let Some(a) = answer.filter(|a| *a >= started) {
                self.rtt = Some(a - started);
                self.check = None;
                self.unanswered_since = None;
                if matches!(self.health, Health::Suspect(_)) {
                    let at = now + cfg.rejoin_hold;
                    self.set_health(now, Health::Rejoining { at }, events);
                }
            } else if self.carrying() && now >= started + cfg.suspect_after {
                stats.suspects += 1;
                self.set_health(now, Health::Suspect(Suspicion::NoAnswer), events);
            }
        } else if self
            .unanswered_since
            .is_some_and(|u| self.carrying() && now >= u + cfg.quiet)
        {
            self.start_check(now, cfg, stats);
        }
        if let Health::Rejoining { at } = self.health {
            if now >= at {
                self.set_health(now, Health::Up, events);
            }
        }
    }

    /// The next instant `liveness` has something to do.
    pub(super) fn liveness_deadline(&self, cfg: &LivenessConfig) -> Option<Instant> {
        if !self.established() {
            return None;
        }
        let suspect = self
            .check
            .filter(|_| self.carrying())
            .map(|c| c + cfg.suspect_after);
        let quiet = match self.check {
            None if self.carrying() => self.unanswered_since.map(|u| u + cfg.quiet),
            _ => None,
        };
        let rejoin = match self.health {
            Health::Rejoining { at } => Some(at),
            _ => None,
        };
        [suspect, quiet, rejoin].into_iter().flatten().min()
    }
}
