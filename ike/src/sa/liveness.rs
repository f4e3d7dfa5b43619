//! Liveness checks on demand (RFC 7296 §2.4), for failover.
//!
//! §2.4: "If there has only been outgoing traffic on all of the SAs
//! associated with an IKE SA, it is essential to confirm liveness of the
//! other endpoint to avoid black holes. If no cryptographically protected
//! messages have been received on an IKE SA or any of its Child SAs
//! recently, the system needs to perform a liveness check in order to
//! prevent sending messages to a dead peer." The owner (the endpoint) sees
//! the ESP counters and decides when; the SA sends an empty INFORMATIONAL
//! on a schedule of its own, much tighter than the usual retransmissions,
//! and reports when an answer comes. If one of our requests is already
//! outstanding (a rekey, say), that request is the liveness check: it is
//! resent at once and retransmitted on the tighter schedule. When the
//! schedule runs out, the SA is dead (§2.4), as with any request.

use super::ike_sa::{IkeSa, Pending, Role, State};
use super::retransmit::{Retransmit, RetransmitConfig};
use std::time::Instant;

impl IkeSa {
    /// Starts a liveness check now, or speeds up the request already
    /// outstanding. Returns whether a check is under way (only an
    /// established SA, or one deleting itself, has one).
    pub fn check_liveness(&mut self, now: Instant, schedule: RetransmitConfig) -> bool {
        if !matches!(self.state, State::Established | State::Deleting) {
            return false;
        }
        if let Some(o) = &mut self.outstanding {
            o.timer = Retransmit::new(schedule, now);
            let bytes = o.bytes.clone();
            self.send_all(bytes);
        } else {
            self.start_informational_with(now, Pending::Dpd, Vec::new(), schedule);
        }
        self.outstanding.is_some()
    }

    /// When an authenticated response to one of our requests last arrived:
    /// the answer to a liveness check, or to anything else.
    pub fn last_answer(&self) -> Option<Instant> {
        self.last_answer
    }

    /// When our outstanding request first went out, if one is.
    pub fn outstanding_since(&self) -> Option<Instant> {
        self.outstanding.as_ref().map(|o| o.first_sent)
    }

    /// Our SPIs in this SA and in its retired contexts: what a peer's
    /// message names us by (the responder's SPI if the peer is the
    /// original initiator, else the initiator's). The owner routes
    /// datagrams by them.
    pub fn local_spis(&self) -> Vec<u64> {
        let mut v = Vec::with_capacity(1 + self.retired.len());
        v.push(self.local_spi());
        v.extend(self.retired.iter().map(|r| r.local_spi()));
        v
    }

    /// The Child SA traffic goes out on: (inbound SPI, outbound SPI).
    pub fn current_child_spis(&self) -> Option<(u32, u32)> {
        self.current_child().map(|c| (c.inbound, c.outbound))
    }

    /// Whether `spi` (either direction) belongs to the current Child SA.
    pub fn is_current_child(&self, spi: u32) -> bool {
        self.current_child()
            .is_some_and(|c| c.inbound == spi || c.outbound == spi)
    }

    /// When the current Child SA is next rekeyed by time, if it is.
    pub fn child_rekey_due(&self) -> Option<Instant> {
        self.rekey_at
    }

    /// When the IKE SA is next rekeyed, if it is.
    pub fn ike_rekey_due(&self) -> Option<Instant> {
        self.ike_rekey_at
    }

    /// The next line for the owner's debug log (`IkeConfig::log_messages`):
    /// one per message sent or received, charon's way.
    pub fn poll_message_log(&mut self) -> Option<String> {
        self.message_log.pop_front()
    }

    pub(super) fn log_message(
        &mut self,
        outgoing: bool,
        header: &crate::wire::Header,
        payloads: &[crate::wire::Payload],
    ) {
        if self.cfg.log_messages && self.message_log.len() < 64 {
            self.message_log
                .push_back(crate::wire::summary::describe(outgoing, header, payloads));
        }
    }

    /// Whether we started this IKE SA (or its last rekey).
    pub fn is_initiator(&self) -> bool {
        self.role == Role::Initiator
    }
}
