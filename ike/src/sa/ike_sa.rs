//! One IKE SA: quinn-proto's shape. `handle_datagram` and `handle_timeout`
//! take input and `now`; `poll_transmit`, `poll_timeout` and `poll_event`
//! hand out datagrams, the next deadline and events. No IO, no clock.

use super::collision::{Activation, ChildRekeys};
use super::fragment::Reassembly;
use super::retransmit::{Due, Retransmit};
use super::types::{ChildSa, DownReason, Event, IkeConfig, Transmit};
use super::window::{MessageIds, RequestId};
use crate::crypto::{DhKeyPair, IkeSaKeys, Rng, SkCipher};
use crate::wire::{ExchangeType, Flags, Header, Message, Payload};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Instant;

pub const IKE_PORT: u16 = 500;
pub const NAT_T_PORT: u16 = 4500;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Initiator,
    Responder,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum State {
    /// Initiator: IKE_SA_INIT request sent.
    InitSent,
    /// Initiator: IKE_AUTH request sent. Responder: waiting for it.
    Authenticating,
    Established,
    /// Our DELETE is outstanding.
    Deleting,
    Closed,
}

/// What our outstanding request was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Pending {
    Init,
    Auth,
    Dpd,
    Delete,
    RekeyChild,
    DeleteChild,
    RekeyIke,
}

pub(super) struct Outstanding {
    pub kind: Pending,
    pub message_id: u32,
    /// The datagrams of the request: one, or its fragments (RFC 7383).
    pub bytes: Vec<Vec<u8>>,
    pub timer: Retransmit,
    /// When the request first went out.
    pub first_sent: Instant,
}

/// A Child SA handed to the owner. The newest is the current one; older
/// ones wait out a grace period after a rekey, for packets in flight.
#[derive(Debug, Clone, Copy)]
pub(super) struct ChildSpis {
    pub inbound: u32,
    pub outbound: u32,
    /// When the owner is told to remove it.
    pub retire_at: Option<Instant>,
}

pub struct IkeSa {
    pub(super) cfg: IkeConfig,
    pub(super) role: Role,
    pub(super) state: State,
    pub(super) spi_i: u64,
    pub(super) spi_r: u64,
    pub(super) local: SocketAddr,
    pub(super) remote: SocketAddr,
    pub(super) nat: bool,
    pub(super) rng: Box<dyn Rng + Send>,
    pub(super) dh: Option<DhKeyPair>,
    pub(super) ni: Vec<u8>,
    pub(super) nr: Vec<u8>,
    pub(super) cookie: Option<Vec<u8>>,
    /// The IKE_SA_INIT messages as sent, for AUTH (§2.15).
    pub(super) init_request: Vec<u8>,
    pub(super) init_response: Vec<u8>,
    pub(super) keys: Option<IkeSaKeys>,
    pub(super) send_cipher: Option<SkCipher>,
    pub(super) recv_cipher: Option<SkCipher>,
    pub(super) ids: MessageIds,
    pub(super) outstanding: Option<Outstanding>,
    /// Our last response and the request ID it answered (§2.1).
    pub(super) last_response: Option<(u32, Vec<Vec<u8>>)>,
    /// RFC 7383: both sides announced IKEV2_FRAGMENTATION_SUPPORTED.
    pub(super) fragmenting: bool,
    pub(super) reassembly: Reassembly,
    pub(super) child_spi: u32,
    pub(super) children: Vec<ChildSpis>,
    /// When the current Child SA is rekeyed.
    pub(super) rekey_at: Option<Instant>,
    pub(super) rekey: Option<super::rekey::RekeyState>,
    /// A Child SA we answered a rekey for: outbound switches to it when the
    /// peer deletes the old one, or at this deadline.
    pub(super) activation: Option<(u32, Instant)>,
    /// After our rekey: the old pair's inbound SPI, deleted at this time
    /// so packets already sent on it still arrive (§2.8).
    pub(super) delete_old: Option<(u32, Instant)>,
    /// The Child SA our outstanding DELETE names.
    pub(super) deleting_child: Option<u32>,
    /// Rekeys of the last rekeyed Child SA, ours and the peer's (§2.8.1).
    pub(super) child_rekeys: Option<ChildRekeys>,
    pub(super) ike_rekey: Option<super::rekey_ike::IkeRekeyState>,
    pub(super) ike_rekey_at: Option<Instant>,
    /// The IKE SA before the last rekey, and one a simultaneous rekey made
    /// redundant, until they are deleted.
    pub(super) retired: Vec<super::retired::Retired>,
    pub(super) last_heard: Instant,
    /// When an authenticated response to one of our requests last came:
    /// proof that the path works both ways (liveness, `liveness.rs`).
    pub(super) last_answer: Option<Instant>,
    pub(super) transmits: VecDeque<Transmit>,
    pub(super) events: VecDeque<Event>,
    /// Lines for the owner's debug log, if `cfg.log_messages`.
    pub(super) message_log: VecDeque<String>,
}

impl IkeSa {
    pub fn role(&self) -> Role {
        self.role
    }

    pub fn spi_i(&self) -> u64 {
        self.spi_i
    }

    pub fn spi_r(&self) -> u64 {
        self.spi_r
    }

    /// Our SPI: how the owner finds this SA for an incoming message.
    pub fn local_spi(&self) -> u64 {
        match self.role {
            Role::Initiator => self.spi_i,
            Role::Responder => self.spi_r,
        }
    }

    pub fn remote(&self) -> SocketAddr {
        self.remote
    }

    pub fn is_established(&self) -> bool {
        self.state == State::Established
    }

    pub fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.state == State::Closed {
            return None;
        }
        let retransmit = self.outstanding.as_ref().map(|o| o.timer.deadline());
        let idle = self.state == State::Established && self.outstanding.is_none();
        let dpd = match (idle, self.cfg.dpd_interval) {
            (true, Some(i)) => Some(self.last_heard + i),
            _ => None,
        };
        let rekey = if idle { self.rekey_at } else { None };
        let retire = self.children.iter().filter_map(|c| c.retire_at).min();
        let activate = self.activation.map(|(_, at)| at);
        let delete_old = if idle {
            self.delete_old.map(|(_, at)| at)
        } else {
            None
        };
        let ike_rekey = if idle { self.ike_rekey_at } else { None };
        let retired = self.retired_deadline();
        let reassembly = self.reassembly.deadline();
        [
            retransmit,
            dpd,
            rekey,
            retire,
            activate,
            delete_old,
            ike_rekey,
            retired,
            reassembly,
            self.half_open_deadline(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        if self.state == State::Closed {
            return;
        }
        self.retire_due(now);
        self.retired_timeout(now);
        self.reassembly.expire(now);
        if let Some(o) = &mut self.outstanding {
            match o.timer.on_timeout(now) {
                Due::Wait => {}
                Due::Resend => {
                    let bytes = o.bytes.clone();
                    self.send_all(bytes);
                }
                Due::GiveUp => {
                    let kind = o.kind;
                    self.outstanding = None;
                    self.down(if kind == Pending::Delete {
                        DownReason::Closed
                    } else {
                        DownReason::Dead
                    });
                }
            }
            return;
        }
        if self.half_open_deadline().is_some_and(|t| now >= t) {
            return self.down(DownReason::HalfOpenExpired);
        }
        if self.state != State::Established {
            return;
        }
        if let Some((spi, _)) = self.delete_old.filter(|(_, at)| now >= *at) {
            self.delete_old = None;
            self.deleting_child = Some(spi);
            let d = crate::wire::Delete {
                protocol_id: crate::wire::ProtocolId::Esp,
                spis: vec![spi],
            };
            self.start_informational(now, Pending::DeleteChild, vec![Payload::Delete(d)]);
        } else if self.rekey_at.is_some_and(|t| now >= t) {
            self.start_child_rekey(now);
        } else if self.ike_rekey_at.is_some_and(|t| now >= t) {
            self.start_ike_rekey(now);
        } else if self
            .cfg
            .dpd_interval
            .is_some_and(|i| now >= self.last_heard + i)
        {
            self.start_informational(now, Pending::Dpd, Vec::new());
        }
    }

    /// One datagram from the peer, without the non-ESP marker.
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, data: &[u8]) {
        if self.state == State::Closed {
            return;
        }
        let Ok(msg) = Message::decode(data) else {
            return;
        };
        let h = msg.header;
        if let Some(i) = self.retired_index(h.spi_i, h.spi_r) {
            return self.handle_retired(now, i, &msg, data);
        }
        // Until the IKE_SA_INIT response, the initiator knows no SPIr.
        let spi_r_ok = h.spi_r == self.spi_r || self.spi_r == 0 || h.spi_r == 0;
        if h.spi_i != self.spi_i || !spi_r_ok {
            return;
        }
        if h.flags.response() {
            let Some(o) = &self.outstanding else { return };
            if o.message_id != h.message_id {
                return;
            }
            let kind = o.kind;
            self.handle_response(now, kind, from, &msg, data);
        } else {
            // §2.1: an initiator's IKE_SA_INIT retransmitted.
            if h.exchange_type == ExchangeType::IkeSaInit {
                if self.role == Role::Responder
                    && h.message_id == 0
                    && !self.init_response.is_empty()
                {
                    let r = self.init_response.clone();
                    self.send(r);
                }
                return;
            }
            match self.ids.classify_request(h.message_id) {
                RequestId::New => self.handle_request(now, from, &msg, data),
                // RFC 7383 §2.6.1: a fragmented request's retransmission
                // is answered once, on its first fragment.
                RequestId::Retransmit => {
                    let first = msg
                        .encrypted_fragment()
                        .is_none_or(|f| f.fragment_number == 1);
                    if let Some((_, bytes)) = self.last_response.clone().filter(|_| first) {
                        self.send_all(bytes);
                    }
                }
                RequestId::OutOfWindow => {}
            }
        }
    }

    fn handle_response(
        &mut self,
        now: Instant,
        kind: Pending,
        from: SocketAddr,
        msg: &Message,
        data: &[u8],
    ) {
        match kind {
            Pending::Init => self.on_init_response(now, from, msg, data),
            _ => {
                let Some(inner) = self.open(now, msg, data) else {
                    return;
                };
                self.outstanding = None;
                self.last_heard = now;
                self.last_answer = Some(now);
                match kind {
                    Pending::Auth => self.on_auth_response(now, &inner),
                    Pending::Delete => self.down(DownReason::Closed),
                    Pending::RekeyChild => self.on_rekey_response(now, &inner),
                    Pending::DeleteChild => self.on_delete_child_response(now, &inner),
                    Pending::RekeyIke => self.on_ike_rekey_response(now, &inner),
                    Pending::Init | Pending::Dpd => {}
                }
            }
        }
    }

    fn handle_request(&mut self, now: Instant, from: SocketAddr, msg: &Message, data: &[u8]) {
        let inner = match self.open_checked(now, msg, data) {
            Ok(inner) => inner,
            // §2.5: an authentic request with an unknown critical payload,
            // or bad syntax, is answered with the matching error notify.
            Err(Some(e)) => {
                let id = msg.header.message_id;
                let exchange = msg.header.exchange_type;
                return self.respond(id, exchange, vec![Payload::Notify(e.to_notify())]);
            }
            Err(None) => return,
        };
        self.last_heard = now;
        // RFC 7296 §2.23: follow the peer to its latest authenticated
        // address; once it has floated off port 500, so do we.
        if from != self.remote {
            if from.port() != self.remote.port() {
                self.local.set_port(NAT_T_PORT);
            }
            self.remote = from;
        }
        let id = msg.header.message_id;
        match (msg.header.exchange_type, self.state) {
            (ExchangeType::IkeAuth, State::Authenticating) if self.role == Role::Responder => {
                self.on_auth_request(now, id, &inner)
            }
            (ExchangeType::Informational, State::Established | State::Deleting) => {
                self.on_informational(now, id, &inner)
            }
            (ExchangeType::CreateChildSa, State::Established) => {
                self.on_create_child_sa(now, id, &inner)
            }
            _ => {}
        }
    }

    /// A responder that answered IKE_SA_INIT waits this long for IKE_AUTH
    /// (RFC 7296 §2.6: half-open SAs are what a flood leaves behind).
    fn half_open_deadline(&self) -> Option<Instant> {
        let half_open = self.role == Role::Responder && self.state == State::Authenticating;
        half_open.then(|| self.last_heard + self.cfg.half_open_timeout)
    }

    /// Marks the SA down once, with its Child SA.
    pub(super) fn down(&mut self, reason: DownReason) {
        if self.state == State::Closed {
            return;
        }
        for c in std::mem::take(&mut self.children) {
            self.events.push_back(Event::ChildDown {
                inbound_spi: c.inbound,
                outbound_spi: c.outbound,
            });
        }
        self.state = State::Closed;
        self.outstanding = None;
        // Nothing may follow Down: no activation, rekey, delete or retired
        // SA's retransmission.
        self.activation = None;
        self.delete_old = None;
        self.rekey_at = None;
        self.rekey = None;
        self.ike_rekey_at = None;
        self.ike_rekey = None;
        self.retired.clear();
        self.events.push_back(Event::Down(reason));
    }

    pub(super) fn child_up(&mut self, now: Instant, mut child: ChildSa, mode: Activation) {
        let spis = ChildSpis {
            inbound: child.inbound.spi,
            outbound: child.outbound.spi,
            retire_at: None,
        };
        if mode == Activation::Never {
            // §2.8.1: a redundant SA from a simultaneous rekey. It goes
            // before the current one, so it is never rekeyed or sent on.
            let at = self.children.len().saturating_sub(1);
            self.children.insert(at, spis);
            child.activate = false;
            self.events.push_back(Event::ChildUp(Box::new(child)));
            return;
        }
        // A newer Child SA supersedes one still waiting to be activated.
        self.activate_pending();
        if !child.activate {
            self.activation = Some((child.inbound.spi, now + self.cfg.rekey_grace));
        }
        self.children.push(spis);
        self.rekey_at = self.next_rekey(now);
        self.events.push_back(Event::ChildUp(Box::new(child)));
    }

    /// The Child SA traffic goes out on.
    pub(super) fn current_child(&self) -> Option<ChildSpis> {
        self.children
            .iter()
            .rev()
            .find(|c| c.retire_at.is_none())
            .copied()
    }

    /// Tells the owner to remove a Child SA after the grace period.
    pub(super) fn retire_child(&mut self, now: Instant, inbound: u32) {
        let grace = self.cfg.rekey_grace;
        if let Some(c) = self.children.iter_mut().find(|c| c.inbound == inbound) {
            c.retire_at.get_or_insert(now + grace);
        }
    }

    /// Switches outbound to the Child SA awaiting activation.
    pub(super) fn activate_pending(&mut self) {
        if let Some((spi, _)) = self.activation.take() {
            self.events
                .push_back(Event::ChildActivate { inbound_spi: spi });
        }
    }

    fn retire_due(&mut self, now: Instant) {
        if self.activation.is_some_and(|(_, at)| at <= now) {
            self.activate_pending();
        }
        let (due, keep): (Vec<ChildSpis>, Vec<ChildSpis>) = self
            .children
            .iter()
            .partition(|c| c.retire_at.is_some_and(|t| t <= now));
        self.children = keep;
        for c in due {
            self.events.push_back(Event::ChildDown {
                inbound_spi: c.inbound,
                outbound_spi: c.outbound,
            });
        }
    }

    pub(super) fn send_all(&mut self, datagrams: Vec<Vec<u8>>) {
        for d in datagrams {
            self.send(d);
        }
    }

    pub(super) fn send(&mut self, data: Vec<u8>) {
        self.transmits.push_back(Transmit {
            local_port: self.local.port(),
            remote: self.remote,
            data,
        });
    }

    pub(super) fn header(&self, exchange: ExchangeType, response: bool, message_id: u32) -> Header {
        let flags = Flags::new(self.role == Role::Initiator, response);
        Header::new(self.spi_i, self.spi_r, exchange, flags, message_id)
    }

    /// Sends a new request of ours (one datagram, or its fragments) and
    /// arms its retransmission, which resends the same bytes.
    pub(super) fn request(
        &mut self,
        now: Instant,
        kind: Pending,
        message_id: u32,
        bytes: Vec<Vec<u8>>,
    ) {
        self.request_with(now, kind, message_id, bytes, self.cfg.retransmit);
    }

    /// As [`IkeSa::request`], with its own retransmission schedule.
    pub(super) fn request_with(
        &mut self,
        now: Instant,
        kind: Pending,
        message_id: u32,
        bytes: Vec<Vec<u8>>,
        schedule: super::RetransmitConfig,
    ) {
        self.outstanding = Some(Outstanding {
            kind,
            message_id,
            bytes: bytes.clone(),
            timer: Retransmit::new(schedule, now),
            first_sent: now,
        });
        self.send_all(bytes);
    }

    /// Answers the peer's request `id` inside an SK payload and caches it.
    pub(super) fn respond(&mut self, id: u32, exchange: ExchangeType, payloads: Vec<Payload>) {
        let header = self.header(exchange, true, id);
        if let Some(bytes) = self.seal(header, &payloads) {
            self.ids.answered(id);
            self.last_response = Some((id, bytes.clone()));
            self.send_all(bytes);
        }
    }

    /// Starts an INFORMATIONAL exchange of ours (liveness or delete).
    pub(super) fn start_informational(
        &mut self,
        now: Instant,
        kind: Pending,
        payloads: Vec<Payload>,
    ) {
        self.start_informational_with(now, kind, payloads, self.cfg.retransmit);
    }

    pub(super) fn start_informational_with(
        &mut self,
        now: Instant,
        kind: Pending,
        payloads: Vec<Payload>,
        schedule: super::RetransmitConfig,
    ) {
        let id = self.ids.take_request_id();
        let header = self.header(ExchangeType::Informational, false, id);
        if let Some(bytes) = self.seal(header, &payloads) {
            self.request_with(now, kind, id, bytes, schedule);
        }
    }

    /// Rekeys the current Child SA now, as if its lifetime were up (once
    /// any exchange of ours in progress is done).
    pub fn rekey_child(&mut self, now: Instant) {
        if self.state == State::Established {
            self.rekey_at = Some(now);
        }
    }

    /// Drops the SA without telling the peer (it has replaced it with a
    /// new one): its Child SAs go down at once.
    pub fn abandon(&mut self) {
        self.down(DownReason::Closed);
    }

    /// Sends DELETE for the IKE SA (and with it the Child SA, §1.4.1).
    pub fn close(&mut self, now: Instant) {
        match self.state {
            State::Established => {
                self.state = State::Deleting;
                self.outstanding = None;
                let d = crate::wire::Delete::ike_sa();
                self.start_informational(now, Pending::Delete, vec![Payload::Delete(d)]);
            }
            State::Deleting | State::Closed => {}
            _ => self.down(DownReason::Closed),
        }
    }
}
