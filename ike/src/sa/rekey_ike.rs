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
//! it lives on briefly as a "retired" context that can be swapped in
//! (`retired.rs`). Simultaneous rekeys are in `collision_ike.rs`.

use super::collision_ike::NewIkeSa;
use super::ike_sa::{IkeSa, Pending, Role};
use super::negotiate::{accepted_ike, ike_answer, ike_sa_payload, select_ike};
use super::types::Event;
use super::window::MessageIds;
use crate::crypto::{DhKeyPair, IkeSaKeys};
use crate::wire::{ExchangeType, KeyExchange, Nonce, Notify, NotifyType, Payload, Spi};
use std::time::{Duration, Instant};

const NONCE_LEN: usize = 32;

/// Our outstanding IKE SA rekey.
pub(crate) struct IkeRekeyState {
    new_spi: u64,
    ni: Vec<u8>,
    dh: DhKeyPair,
    /// The peer's rekey of the same SA, answered meanwhile (§2.8.2).
    pub(super) theirs: Option<NewIkeSa>,
}

fn with_spi(mut sa: crate::wire::Sa, spi: u64) -> crate::wire::Sa {
    for p in &mut sa.proposals {
        p.spi = Spi::Ike(spi);
    }
    sa
}

impl IkeSa {
    /// Rekeys the IKE SA now, as if its lifetime were up (once any
    /// exchange of ours in progress is done).
    pub fn rekey_ike(&mut self, now: Instant) {
        if self.is_established() {
            self.ike_rekey_at = Some(now);
        }
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
            self.ike_rekey = Some(IkeRekeyState {
                new_spi,
                ni,
                dh,
                theirs: None,
            });
            self.request(now, Pending::RekeyIke, id, bytes);
        }
    }

    /// Our rekey failed: the peer's, if we answered one meanwhile, goes
    /// on alone (§2.8.2); otherwise we try again after 1-3 s.
    fn retry_ike_rekey(&mut self, now: Instant, theirs: Option<NewIkeSa>) {
        if let Some(t) = theirs {
            return self.adopt(now, t);
        }
        let mut b = [0u8; 1];
        let r = self.rng.fill(&mut b).map_or(0, |_| u64::from(b[0]));
        self.ike_rekey_at = Some(now + Duration::from_millis(1000 + r * 8));
    }

    pub(super) fn on_ike_rekey_response(&mut self, now: Instant, payloads: &[Payload]) {
        let Some(mut state) = self.ike_rekey.take() else {
            return;
        };
        let theirs = state.theirs.take();
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
            return self.retry_ike_rekey(now, theirs);
        };
        let Some(suite) = accepted_ike(sa, &self.cfg.ike_proposals) else {
            return self.retry_ike_rekey(now, theirs);
        };
        let Some(Spi::Ike(peer_spi)) = sa.proposals.first().map(|p| p.spi) else {
            return self.retry_ike_rekey(now, theirs);
        };
        if suite.dh() != state.dh.group() || ke.group.value() != suite.dh().id() {
            return self.retry_ike_rekey(now, theirs);
        }
        let Ok(g_ir) = state.dh.shared_secret(&ke.data) else {
            return self.retry_ike_rekey(now, theirs);
        };
        let Some(old) = self.keys.as_ref() else {
            return;
        };
        let Ok(keys) = old.rekey(suite, &g_ir, &state.ni, &nonce.0, state.new_spi, peer_spi) else {
            return self.retry_ike_rekey(now, theirs);
        };
        // We started the rekey: we are the new SA's initiator.
        let ours = NewIkeSa {
            role: Role::Initiator,
            spi_i: state.new_spi,
            spi_r: peer_spi,
            keys,
            ni: state.ni,
            nr: nonce.0.clone(),
        };
        match theirs {
            Some(theirs) => self.resolve(now, ours, theirs),
            None => self.adopt(now, ours),
        }
    }

    pub(super) fn on_ike_rekey_request(&mut self, now: Instant, id: u32, payloads: &[Payload]) {
        let reply = |sa: &mut Self, t: NotifyType| {
            sa.respond(
                id,
                ExchangeType::CreateChildSa,
                vec![Payload::Notify(Notify::new(t, Vec::new()))],
            );
        };
        // §2.8.2: an SA we are closing (we rekeyed it, or a simultaneous
        // rekey is still being resolved) is not rekeyed again.
        let colliding = self.ike_rekey.as_ref().is_some_and(|r| r.theirs.is_none());
        if !colliding && (self.ike_rekey.is_some() || !self.retired.is_empty()) {
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
        let nr_kept = nr.clone();
        let out = vec![
            Payload::Sa(with_spi(ike_answer(number, suite), new_spi)),
            Payload::Nonce(Nonce(nr)),
            Payload::Ke(KeyExchange {
                group: suite.dh().id().into(),
                data: dh.public_value().to_vec(),
            }),
        ];
        self.respond(id, ExchangeType::CreateChildSa, out);
        // The peer started it: it is the new SA's initiator.
        let theirs = NewIkeSa {
            role: Role::Responder,
            spi_i: peer_spi,
            spi_r: new_spi,
            keys,
            ni: nonce.0.clone(),
            nr: nr_kept,
        };
        match self.ike_rekey.as_mut() {
            // §2.8.2: ours is under way too; both complete, then the
            // nonces decide.
            Some(ours) => ours.theirs = Some(theirs),
            None => self.adopt(now, theirs),
        }
    }

    /// Retires the current SA and continues as the new one.
    pub(super) fn move_to_new_sa(
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
        self.retire_current(now);
        self.role = role;
        self.spi_i = spi_i;
        self.spi_r = spi_r;
        self.send_cipher = Some(send);
        self.recv_cipher = Some(recv);
        self.ids = MessageIds::default();
        // (`retire_current` took the old SA's half-received fragmented
        // messages along: RFC 7383 §2.6, they belong to that SA alone.)
        self.keys = Some(keys);
        self.ike_rekey_at = self.next_ike_rekey(now);
        self.events.push_back(Event::IkeRekeyed { spi_i, spi_r });
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
