//! IKE SAs that no longer carry anything but their own DELETE exchange
//! (RFC 7296 §1.4.1, §2.18, §2.8.2): the old SA after a rekey, and after a
//! simultaneous rekey the redundant new one. Each keeps its SPIs, keys and
//! message IDs as a context that is swapped in to handle its messages.

use super::fragment::Reassembly;
use super::ike_sa::{IkeSa, Outstanding, Pending, Role};
use super::retransmit::Due;
use super::window::{MessageIds, RequestId};
use crate::crypto::{IkeSaKeys, SkCipher};
use crate::wire::{Delete, ExchangeType, Message, Notify, NotifyType, Payload, ProtocolId};
use std::time::{Duration, Instant};

/// A retired SA the peer never deletes is dropped after this long.
const RETIRED_LIFETIME: Duration = Duration::from_secs(30);

/// An IKE SA kept only until its DELETE exchange is done.
pub(crate) struct Retired {
    spi_i: u64,
    spi_r: u64,
    role: Role,
    send_cipher: Option<SkCipher>,
    recv_cipher: Option<SkCipher>,
    ids: MessageIds,
    outstanding: Option<Outstanding>,
    last_response: Option<(u32, Vec<Vec<u8>>)>,
    /// RFC 7383 §2.6: its own half-received fragmented messages, never
    /// mixed with the current SA's (both count message IDs from 0).
    reassembly: Reassembly,
    expires: Instant,
}

impl Retired {
    /// Our SPI in the retired SA.
    pub(super) fn local_spi(&self) -> u64 {
        match self.role {
            Role::Initiator => self.spi_i,
            Role::Responder => self.spi_r,
        }
    }
}

impl IkeSa {
    /// Exchanges the current SA's identity and protection with retired
    /// context `i` (twice restores them).
    fn swap_retired(&mut self, i: usize) {
        let Some(r) = self.retired.get_mut(i) else {
            return;
        };
        std::mem::swap(&mut self.spi_i, &mut r.spi_i);
        std::mem::swap(&mut self.spi_r, &mut r.spi_r);
        std::mem::swap(&mut self.role, &mut r.role);
        std::mem::swap(&mut self.send_cipher, &mut r.send_cipher);
        std::mem::swap(&mut self.recv_cipher, &mut r.recv_cipher);
        std::mem::swap(&mut self.ids, &mut r.ids);
        std::mem::swap(&mut self.outstanding, &mut r.outstanding);
        std::mem::swap(&mut self.last_response, &mut r.last_response);
        std::mem::swap(&mut self.reassembly, &mut r.reassembly);
    }

    /// The retired context a message with these SPIs belongs to.
    pub(super) fn retired_index(&self, spi_i: u64, spi_r: u64) -> Option<usize> {
        self.retired
            .iter()
            .position(|r| r.spi_i == spi_i && r.spi_r == spi_r)
    }

    /// Whether a message with these SPIs belongs to this SA (current or
    /// retired): how the owner routes datagrams.
    pub fn owns(&self, spi_i: u64, spi_r: u64) -> bool {
        let current = spi_i == self.spi_i && (spi_r == self.spi_r || self.spi_r == 0 || spi_r == 0);
        current || self.retired_index(spi_i, spi_r).is_some()
    }

    /// Moves the current SA's identity and protection, with its exchange
    /// state, into a new retired context (its successor takes over).
    pub(super) fn retire_current(&mut self, now: Instant) {
        self.retired.push(Retired {
            spi_i: self.spi_i,
            spi_r: self.spi_r,
            role: self.role,
            send_cipher: self.send_cipher.take(),
            recv_cipher: self.recv_cipher.take(),
            ids: std::mem::take(&mut self.ids),
            outstanding: self.outstanding.take(),
            last_response: self.last_response.take(),
            reassembly: std::mem::take(&mut self.reassembly),
            expires: now + RETIRED_LIFETIME,
        });
    }

    /// A context for a new SA that a simultaneous rekey made redundant
    /// (§2.8.2), where `role` is ours in it; returns its index.
    pub(super) fn retire_new(
        &mut self,
        now: Instant,
        role: Role,
        spis: (u64, u64),
        keys: &IkeSaKeys,
    ) -> Option<usize> {
        let (Ok(i), Ok(r)) = (keys.initiator_cipher(), keys.responder_cipher()) else {
            return None;
        };
        let (send, recv) = if role == Role::Initiator {
            (i, r)
        } else {
            (r, i)
        };
        self.retired.push(Retired {
            spi_i: spis.0,
            spi_r: spis.1,
            role,
            send_cipher: Some(send),
            recv_cipher: Some(recv),
            ids: MessageIds::default(),
            outstanding: None,
            last_response: None,
            reassembly: Reassembly::default(),
            expires: now + RETIRED_LIFETIME,
        });
        Some(self.retired.len() - 1)
    }

    /// Sends DELETE for the IKE SA of retired context `i`, under its keys.
    pub(super) fn delete_retired(&mut self, now: Instant, i: usize) {
        self.swap_retired(i);
        let d = Delete::ike_sa();
        self.start_informational(now, Pending::Delete, vec![Payload::Delete(d)]);
        self.swap_retired(i);
    }

    /// Answers the peer's DELETE `id` of retired context `i`'s SA under
    /// its keys, and forgets it.
    pub(super) fn close_retired(&mut self, i: usize, id: u32) {
        self.swap_retired(i);
        self.respond(id, ExchangeType::Informational, Vec::new());
        self.swap_retired(i);
        self.retired.remove(i);
    }

    /// A message for retired context `i`: the peer's DELETE (answered, and
    /// the context dropped), the answer to ours, a retransmission, or a
    /// request it can no longer serve (TEMPORARY_FAILURE: it is being
    /// closed, §2.8.2, §2.25). Its Child SAs belong to the current SA.
    pub(super) fn handle_retired(&mut self, now: Instant, i: usize, msg: &Message, data: &[u8]) {
        self.swap_retired(i);
        let inner = self.open(now, msg, data);
        let h = msg.header;
        let mut done = false;
        if let Some(inner) = inner {
            if h.flags.response() {
                done = self
                    .outstanding
                    .as_ref()
                    .is_some_and(|o| o.message_id == h.message_id);
            } else {
                match self.ids.classify_request(h.message_id) {
                    RequestId::New if h.exchange_type == ExchangeType::Informational => {
                        let deletes_ike = inner.iter().any(
                            |p| matches!(p, Payload::Delete(d) if d.protocol_id == ProtocolId::Ike),
                        );
                        self.respond(h.message_id, ExchangeType::Informational, Vec::new());
                        done = deletes_ike;
                    }
                    RequestId::New => {
                        let n = Notify::new(NotifyType::TemporaryFailure, Vec::new());
                        self.respond(h.message_id, h.exchange_type, vec![Payload::Notify(n)]);
                    }
                    RequestId::Retransmit => {
                        if let Some((_, bytes)) = self.last_response.clone() {
                            self.send_all(bytes);
                        }
                    }
                    RequestId::OutOfWindow => {}
                }
            }
        }
        self.swap_retired(i);
        if done {
            self.retired.remove(i);
        }
    }

    /// Retransmits the retired SAs' DELETEs, and forgets those that are
    /// done or too old.
    pub(super) fn retired_timeout(&mut self, now: Instant) {
        self.retired.retain(|r| now < r.expires);
        let mut i = 0;
        while let Some(r) = self.retired.get_mut(i) {
            let due = r.outstanding.as_mut().map(|o| o.timer.on_timeout(now));
            match due {
                Some(Due::Resend) => {
                    let bytes = r.outstanding.as_ref().map(|o| o.bytes.clone());
                    self.swap_retired(i);
                    self.send_all(bytes.unwrap_or_default());
                    self.swap_retired(i);
                }
                Some(Due::GiveUp) => {
                    self.retired.remove(i);
                    continue;
                }
                Some(Due::Wait) | None => {}
            }
            i += 1;
        }
    }

    pub(super) fn retired_deadline(&self) -> Option<Instant> {
        self.retired
            .iter()
            .map(|r| {
                let t = r.outstanding.as_ref().map(|o| o.timer.deadline());
                t.map_or(r.expires, |t| t.min(r.expires))
            })
            .min()
    }
}
