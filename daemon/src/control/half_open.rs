//! Responder SAs until they authenticate (RFC 7296 §2.6).
//!
//! Every IKE_SA_INIT request we answer leaves a half-open SA: keys derived,
//! waiting for IKE_AUTH. They live in their tunnel's `incoming` list, never
//! disturb the tunnel's current SA, and replace it only once they
//! authenticate. Before a request may create one, the cookie gate looks at
//! how many there are across all tunnels: from `ike_cookie_threshold` on,
//! only an initiator that echoes a cookie (and so receives at its address)
//! gets one; at `ike_half_open_max` nobody does. Each expires after
//! `ike_half_open_seconds` without IKE_AUTH.

use super::Control;
use crate::dataplane::inbound::IkeDatagram;
use crate::droplog::DropLog;
use crate::run::BoxError;
use crate::status::IkeResponderStatus;
use config::DaemonSection;
use ike::crypto::SystemRng;
use ike::sa::cookie::Verdict;
use ike::sa::{CookieGate, DownReason, Event, IkeSa, Transmit};
use ike::wire::Message;
use std::net::IpAddr;
use std::time::Instant;

pub(super) struct Gate {
    cookies: CookieGate,
    max: usize,
    refused_log: DropLog,
    expired: u64,
}

impl Gate {
    pub(super) fn new(d: &DaemonSection, now: Instant) -> Result<Self, BoxError> {
        let cookies = CookieGate::new(
            now,
            d.ike_cookie_threshold,
            d.ike_half_open_max,
            Box::new(SystemRng::new()),
        )?;
        Ok(Self {
            cookies,
            max: d.ike_half_open_max,
            refused_log: DropLog::new("IKE_SA_INIT dropped at the half-open cap"),
            expired: 0,
        })
    }

    pub(super) fn status(&self, half_open: usize) -> IkeResponderStatus {
        let s = self.cookies.stats();
        IkeResponderStatus {
            half_open,
            cookies_required: self.cookies.required(half_open),
            cookies_sent: s.sent,
            cookies_verified: s.verified,
            cookies_invalid: s.invalid,
            half_open_refused: s.refused,
            half_open_expired: self.expired,
        }
    }
}

impl Control {
    /// Responder SAs, all tunnels, that have not authenticated yet.
    pub(super) fn half_open(&self) -> usize {
        self.tunnels.iter().map(|t| t.incoming.len()).sum()
    }

    /// Whether an IKE_SA_INIT request may create a responder SA; if not,
    /// it is answered with a cookie or dropped here.
    pub(super) fn admit(&mut self, now: Instant, local: IpAddr, d: &IkeDatagram) -> bool {
        // What does not decode is refused statelessly by `accept`.
        let Ok(msg) = Message::decode(&d.data) else {
            return true;
        };
        let half_open = self.half_open();
        match self
            .gate
            .cookies
            .check(now, d.local, d.from, &msg, half_open)
        {
            Verdict::Accept => true,
            Verdict::Cookie(reply) => {
                tracing::debug!(peer = %d.from, half_open, "IKE_SA_INIT answered with a cookie");
                self.send_now(local, reply);
                false
            }
            Verdict::Refuse => {
                if self.gate.refused_log.allow() {
                    tracing::warn!(peer = %d.from, half_open, max = self.gate.max, "IKE_SA_INIT dropped: too many half-open IKE SAs");
                }
                false
            }
        }
    }

    /// Polls a tunnel's responder SAs; one that authenticates replaces the
    /// tunnel's SA (the peer has started afresh, or won a simultaneous
    /// start), one that fails is dropped.
    pub(super) fn flush_incoming(&mut self, i: usize, out: &mut Vec<(IpAddr, Transmit)>) {
        let local = self.tunnels[i].local;
        let mut k = 0;
        while let Some(sa) = self.tunnels[i].incoming.get_mut(k) {
            while let Some(t) = sa.poll_transmit() {
                out.push((local, t));
            }
            let events: Vec<Event> = std::iter::from_fn(|| sa.poll_event()).collect();
            let closed = sa.is_closed();
            if events
                .iter()
                .any(|e| matches!(e, Event::Established { .. }))
            {
                let sa = self.tunnels[i].incoming.remove(k);
                self.promote(i, sa, events);
            } else if closed {
                self.tunnels[i].incoming.remove(k);
                self.incoming_failed(i, events);
            } else {
                k += 1;
            }
        }
    }

    fn promote(&mut self, i: usize, sa: IkeSa, events: Vec<Event>) {
        let t = &mut self.tunnels[i];
        if let Some(mut old) = t.sa.take() {
            if old.is_established() {
                tracing::info!(tunnel = %t.name, "the peer started a new IKE SA; it replaces the old one");
            }
            old.abandon();
            while let Some(e) = old.poll_event() {
                if !matches!(e, Event::Down(_)) {
                    self.event(i, e);
                }
            }
        }
        let t = &mut self.tunnels[i];
        t.sa = Some(sa);
        t.retry_at = None;
        for e in events {
            self.event(i, e);
        }
    }

    fn incoming_failed(&mut self, i: usize, events: Vec<Event>) {
        let established = self.tunnels[i]
            .sa
            .as_ref()
            .is_some_and(IkeSa::is_established);
        for e in events {
            let Event::Down(reason) = e else { continue };
            let t = &self.tunnels[i];
            if reason == DownReason::HalfOpenExpired {
                self.gate.expired += 1;
                tracing::debug!(tunnel = %t.name, "half-open IKE SA expired");
            } else if established {
                tracing::warn!(tunnel = %t.name, %reason, "a second IKE SA from the peer failed; the established one stays");
            } else {
                self.event(i, Event::Down(reason));
            }
        }
    }
}
