//! Rekeying the IKE SA with CREATE_CHILD_SA (RFC 7296 §1.3.2, §2.18).
//!
//! ```text
//! Initiator                         Responder
//! HDR, SK {SA, Ni, KEi}  -->
//!                   <--  HDR, SK {SA, Nr, KEr}
//! ```
//!
//! The new SA's keys come from SKEYSEED = prf(SK_d (old), g^ir (new) |
//! Ni | Nr) with the new SPIs. Whoever started the rekey is the new SA's
//! initiator; message IDs start again at 0; the Child SAs move over. The
//! old SA is then deleted under its old keys by the rekey's initiator, so
//! it lives on briefly as a "retired" context that can be swapped in.

use super::ike_sa::{IkeSa, Outstanding, Pending, Role};
use super::negotiate::{accepted_ike, ike_answer, ike_sa_payload, select_ike};
use super::retransmit::Due;
use super::types::Event;
use super::window::MessageIds;
use crate::crypto::{DhKeyPair, IkeSaKeys, SkCipher};
use crate::wire::{
    Delete, ExchangeType, KeyExchange, Message, Nonce, Notify, NotifyType, Payload, ProtocolId, Spi,
};
use std::time::{Duration, Instant};

const NONCE_LEN: usize = 32;
/// A retired SA the peer never deletes is dropped after this long.
const RETIRED_LIFETIME: Duration = Duration::from_secs(30);

/// Our outstanding IKE SA rekey.
pub(crate) struct IkeRekeyState {
    new_spi: u64,
    ni: Vec<u8>,
    dh: DhKeyPair,
}

/// The old IKE SA after a rekey, until its DELETE exchange is done.
pub(crate) struct Retired {
    spi_i: u64,
    spi_r: u64,
    role: Role,
    send_cipher: Option<SkCipher>,
    recv_cipher: Option<SkCipher>,
    ids: MessageIds,
    outstanding: Option<Outstanding>,
    last_response: Option<(u32, Vec<Vec<u8>>)>,
    expires: Instant,
}

fn with_spi(mut sa: crate::wire::Sa, spi: u64) -> crate::wire::Sa {
    for p in &mut sa.proposals {
        p.spi = Spi::Ike(spi);
    }
    sa
}

impl IkeSa {
    /// Exchanges the current SA's identity and protection with the retired
    /// one's (twice restores them).
    fn swap_retired(&mut self) {
        let Some(r) = self.retired.as_mut() else {
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
    }

    /// Whether a message with these SPIs belongs to the retired SA.
    pub(super) fn is_retired(&self, spi_i: u64, spi_r: u64) -> bool {
        self.retired
            .as_ref()
            .is_some_and(|r| r.spi_i == spi_i && r.spi_r == spi_r)
    }

    /// Whether a message with these SPIs belongs to this SA (current or
    /// retired): how the owner routes datagrams.
    pub fn owns(&self, spi_i: u64, spi_r: u64) -> bool {
        let current = spi_i == self.spi_i && (spi_r == self.spi_r || self.spi_r == 0 || spi_r == 0);
        current || self.is_retired(spi_i, spi_r)
    }

    pub(super) fn start_ike_rekey(&mut self, now: Instant) {
        self.ike_rekey_at = None;
        let Some(group) = self.keys.as_ref().map(|k| k.suite().dh()) else {
            return;
        };
        let mut spi = [0u8; 8];
        let mut ni = vec![0u8; NONCE_LEN];
        if self.rng.fill(&mut spi).is_err() || self.rng.fill(&mut ni).is_err() {
            return;
        }
        let Ok(dh) = DhKeyPair::generate(group, self.rng.as_mut()) else {
            return;
        };
        let new_spi = u64::from_be_bytes(spi).max(1);
        let payloads = vec![
            Payload::Sa(with_spi(ike_sa_payload(&self.cfg.ike_proposals), new_spi)),
            Payload::Nonce(Nonce(ni.clone())),
            Payload::Ke(KeyExchange {
                group: group.id().into(),
                data: dh.public_value().to_vec(),
            }),
        ];
        let id = self.ids.take_request_id();
        let header = self.header(ExchangeType::CreateChildSa, false, id);
        if let Some(bytes) = self.seal(header, &payloads) {
            self.ike_rekey = Some(IkeRekeyState { new_spi, ni, dh });
            self.request(now, Pending::RekeyIke, id, bytes);
        }
    }

    fn retry_ike_rekey(&mut self, now: Instant) {
        let mut b = [0u8; 1];
        let r = self.rng.fill(&mut b).map_or(0, |_| u64::from(b[0]));
        self.ike_rekey_at = Some(now + Duration::from_millis(1000 + r * 8));
    }

    pub(super) fn on_ike_rekey_response(&mut self, now: Instant, payloads: &[Payload]) {
        let Some(state) = self.ike_rekey.take() else {
            return;
        };
        let (mut sa, mut nonce, mut ke) = (None, None, None);
        for p in payloads {
            match p {
                Payload::Sa(s) => sa = Some(s),
                Payload::Nonce(n) => nonce = Some(n),
                Payload::Ke(k) => ke = Some(k),
                _ => {}
            }
        }
        let (Some(sa), Some(nonce), Some(ke)) = (sa, nonce, ke) else {
            return self.retry_ike_rekey(now);
        };
        let Some(suite) = accepted_ike(sa, &self.cfg.ike_proposals) else {
            return self.retry_ike_rekey(now);
        };
        let Some(Spi::Ike(peer_spi)) = sa.proposals.first().map(|p| p.spi) else {
            return self.retry_ike_rekey(now);
        };
        if suite.dh() != state.dh.group() || ke.group.value() != suite.dh().id() {
            return self.retry_ike_rekey(now);
        }
        let Ok(g_ir) = state.dh.shared_secret(&ke.data) else {
            return self.retry_ike_rekey(now);
        };
        let Some(old) = self.keys.as_ref() else {
            return;
        };
        let Ok(keys) = old.rekey(suite, &g_ir, &state.ni, &nonce.0, state.new_spi, peer_spi) else {
            return self.retry_ike_rekey(now);
        };
        // We started the rekey: we are the new SA's initiator.
        self.move_to_new_sa(now, Role::Initiator, state.new_spi, peer_spi, keys);
        // §1.3.2: and we delete the old one, under its own keys.
        self.swap_retired();
        let d = Delete::ike_sa();
        self.start_informational(now, Pending::Delete, vec![Payload::Delete(d)]);
        self.swap_retired();
    }

    pub(super) fn on_ike_rekey_request(&mut self, now: Instant, id: u32, payloads: &[Payload]) {
        let reply = |sa: &mut Self, t: NotifyType| {
            sa.respond(
                id,
                ExchangeType::CreateChildSa,
                vec![Payload::Notify(Notify::new(t, Vec::new()))],
            );
        };
        if self.ike_rekey.is_some() || self.retired.is_some() {
            return reply(self, NotifyType::TemporaryFailure);
        }
        let (mut sa, mut nonce, mut ke) = (None, None, None);
        for p in payloads {
            match p {
                Payload::Sa(s) => sa = Some(s),
                Payload::Nonce(n) => nonce = Some(n),
                Payload::Ke(k) => ke = Some(k),
                _ => {}
            }
        }
        let (Some(sa), Some(nonce), Some(ke)) = (sa, nonce, ke) else {
            return reply(self, NotifyType::InvalidSyntax);
        };
        let Some((number, suite)) = select_ike(sa, &self.cfg.ike_proposals) else {
            return reply(self, NotifyType::NoProposalChosen);
        };
        let peer_spi = sa
            .proposals
            .iter()
            .find(|p| p.number == number)
            .map(|p| p.spi);
        let Some(Spi::Ike(peer_spi)) = peer_spi else {
            return reply(self, NotifyType::InvalidSyntax);
        };
        if ke.group.value() != suite.dh().id() {
            let n = Notify::invalid_ke_payload(suite.dh().id().into());
            return self.respond(id, ExchangeType::CreateChildSa, vec![Payload::Notify(n)]);
        }
        let mut spi = [0u8; 8];
        let mut nr = vec![0u8; NONCE_LEN];
        if self.rng.fill(&mut spi).is_err() || self.rng.fill(&mut nr).is_err() {
            return;
        }
        let new_spi = u64::from_be_bytes(spi).max(1);
        let Ok(dh) = DhKeyPair::generate(suite.dh(), self.rng.as_mut()) else {
            return;
        };
        let Ok(g_ir) = dh.shared_secret(&ke.data) else {
            return reply(self, NotifyType::InvalidSyntax);
        };
        let Some(old) = self.keys.as_ref() else {
            return;
        };
        let Ok(keys) = old.rekey(suite, &g_ir, &nonce.0, &nr, peer_spi, new_spi) else {
            return;
        };
        let out = vec![
            Payload::Sa(with_spi(ike_answer(number, suite), new_spi)),
            Payload::Nonce(Nonce(nr)),
            Payload::Ke(KeyExchange {
                group: suite.dh().id().into(),
                data: dh.public_value().to_vec(),
            }),
        ];
        self.respond(id, ExchangeType::CreateChildSa, out);
        // The peer started it: it is the new SA's initiator, and deletes
        // the old one.
        self.move_to_new_sa(now, Role::Responder, peer_spi, new_spi, keys);
    }

    /// Retires the current SA and continues as the new one.
    fn move_to_new_sa(
        &mut self,
        now: Instant,
        role: Role,
        spi_i: u64,
        spi_r: u64,
        keys: IkeSaKeys,
    ) {
        let (Ok(i), Ok(r)) = (keys.initiator_cipher(), keys.responder_cipher()) else {
            return;
        };
        let (send, recv) = if role == Role::Initiator {
            (i, r)
        } else {
            (r, i)
        };
        self.retired = Some(Retired {
            spi_i: self.spi_i,
            spi_r: self.spi_r,
            role: self.role,
            send_cipher: self.send_cipher.take(),
            recv_cipher: self.recv_cipher.take(),
            ids: std::mem::take(&mut self.ids),
            outstanding: self.outstanding.take(),
            last_response: self.last_response.take(),
            expires: now + RETIRED_LIFETIME,
        });
        self.role = role;
        self.spi_i = spi_i;
        self.spi_r = spi_r;
        self.send_cipher = Some(send);
        self.recv_cipher = Some(recv);
        self.ids = MessageIds::default();
        self.keys = Some(keys);
        self.ike_rekey_at = self.next_ike_rekey(now);
        self.events.push_back(Event::IkeRekeyed { spi_i, spi_r });
    }

    /// A message for the retired SA: answer its DELETE, or take the answer
    /// to ours, then drop it. Its Child SAs already belong to the new SA.
    pub(super) fn handle_retired(&mut self, now: Instant, msg: &Message, data: &[u8]) {
        self.swap_retired();
        let inner = self.open(now, msg, data);
        let h = msg.header;
        let mut done = false;
        if let Some(inner) = inner {
            if h.flags.response() {
                done = self
                    .outstanding
                    .as_ref()
                    .is_some_and(|o| o.message_id == h.message_id);
            } else if h.exchange_type == ExchangeType::Informational {
                let deletes_ike = inner
                    .iter()
                    .any(|p| matches!(p, Payload::Delete(d) if d.protocol_id == ProtocolId::Ike));
                self.respond(h.message_id, ExchangeType::Informational, Vec::new());
                done = deletes_ike;
            }
        }
        self.swap_retired();
        if done {
            self.retired = None;
        }
    }

    /// Retransmits the retired SA's DELETE, and forgets the retired SA when
    /// it is done or too old.
    pub(super) fn retired_timeout(&mut self, now: Instant) {
        let Some(r) = self.retired.as_mut() else {
            return;
        };
        if now >= r.expires {
            self.retired = None;
            return;
        }
        let Some(o) = r.outstanding.as_mut() else {
            return;
        };
        match o.timer.on_timeout(now) {
            Due::Wait => {}
            Due::Resend => {
                let bytes = o.bytes.clone();
                self.swap_retired();
                self.send_all(bytes);
                self.swap_retired();
            }
            Due::GiveUp => self.retired = None,
        }
    }

    pub(super) fn retired_deadline(&self) -> Option<Instant> {
        let r = self.retired.as_ref()?;
        let t = r.outstanding.as_ref().map(|o| o.timer.deadline());
        Some(t.map_or(r.expires, |t| t.min(r.expires)))
    }

    pub(super) fn next_ike_rekey(&mut self, now: Instant) -> Option<Instant> {
        let after = self.cfg.ike_rekey_after?;
        let mut b = [0u8; 2];
        let r = self
            .rng
            .fill(&mut b)
            .map_or(0, |_| u64::from(u16::from_be_bytes(b)));
        Some(now + after - after.mul_f64(0.1 * r as f64 / f64::from(u16::MAX)))
    }
}
