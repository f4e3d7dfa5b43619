//! The IKE endpoint: every tunnel's IKE SAs behind one set of sockets,
//! in quinn-proto's `Endpoint` shape. No IO, no clock.
//!
//! An endpoint routes; an SA decides. [`Endpoint::handle`] takes a
//! datagram and does everything that happens before it belongs to one SA:
//! it finds the SA by our SPI (RFC 7296 §2.6: SPIs name SAs), decides
//! whether an IKE_SA_INIT request may create a responder SA (the tunnel's
//! peer, the cookie gate and the half-open cap of §2.6, the rule for two
//! sides starting at once), and answers statelessly when it may not. It
//! returns a [`DatagramEvent`] saying which it was.
//!
//! It also owns what concerns a tunnel rather than one SA: retrying an
//! initiator's IKE SA with back-off, a half-open SA from the peer
//! replacing ours once it authenticates, and the tunnel's health for
//! failover (`health.rs`): liveness checks when ESP goes out unanswered,
//! path failures the owner reports, the hold-down before a tunnel takes
//! its flows back. ESP lifetime events the data plane reports become
//! Child SA rekeys here.
//!
//! The owner feeds it datagrams ([`Endpoint::handle`]), timer expiries
//! ([`Endpoint::handle_timeout`]) and data-plane observations
//! ([`Endpoint::observe`], [`Endpoint::path_down`],
//! [`Endpoint::sa_event`]), and carries out [`Endpoint::poll_transmit`],
//! [`Endpoint::poll_event`] and [`Endpoint::poll_timeout`].

mod health;
mod tunnel;
mod types;

pub use types::*;

use crate::crypto::{Rng, RngFailure};
use crate::sa::cookie::{CookieStats, Verdict};
use crate::sa::{is_init_request, Accepted, CookieGate, IkeSa};
use crate::wire::{FixedHeader, Message};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::Instant;
use tunnel::{Backoff, Out, Tunnel};

/// Makes the randomness of each new SA (nonces, SPIs, DH keys). The
/// daemon hands in the system's CSPRNG; tests a seeded generator.
pub type RngSource = Box<dyn FnMut() -> Box<dyn Rng + Send> + Send>;

pub struct Endpoint {
    cfg: EndpointConfig,
    tunnels: BTreeMap<TunnelId, Tunnel>,
    /// Our IKE SPI in every SA → its tunnel.
    by_spi: HashMap<u64, TunnelId>,
    gate: CookieGate,
    rng: RngSource,
    transmits: VecDeque<Datagram>,
    events: VecDeque<(TunnelId, TunnelEvent)>,
    /// Debug lines of the SAs (`IkeConfig::log_messages`).
    message_log: VecDeque<(TunnelId, String)>,
    stats: EndpointStats,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("tunnels", &self.tunnels.len())
            .field("stats", &self.stats)
            .finish()
    }
}

impl Endpoint {
    pub fn new(cfg: EndpointConfig, now: Instant, mut rng: RngSource) -> Result<Self, RngFailure> {
        let gate = CookieGate::new(now, cfg.cookie_threshold, cfg.half_open_max, rng())?;
        Ok(Self {
            cfg,
            tunnels: BTreeMap::new(),
            by_spi: HashMap::new(),
            gate,
            rng,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            message_log: VecDeque::new(),
            stats: EndpointStats::default(),
        })
    }

    /// Adds a tunnel; an initiator starts its IKE SA at once.
    pub fn add_tunnel(&mut self, id: TunnelId, cfg: TunnelConfig, now: Instant) {
        let backoff = Backoff::new(self.cfg.retry_first, self.cfg.retry_max);
        let t = Tunnel::new(cfg, backoff, self.cfg.liveness.rejoin_hold, now);
        if t.cfg.initiate {
            let mut events = Vec::new();
            let mut t = t;
            t.connect(now, (self.rng)(), &mut events);
            self.tunnels.insert(id, t);
            self.push_events(id, events);
            self.touch(id, now);
        } else {
            self.tunnels.insert(id, t);
        }
    }

    /// Removes a tunnel: its IKE SA is deleted (DELETE, §1.4.1) and its
    /// Child SAs go; [`TunnelEvent::Removed`] follows once it is gone.
    pub fn remove_tunnel(&mut self, id: TunnelId, now: Instant) {
        if let Some(t) = self.tunnels.get_mut(&id) {
            t.removed = true;
        }
        self.close_tunnel(id, now);
    }

    /// DELETEs the tunnel's IKE SA, starts nothing new, and takes it down.
    fn close_tunnel(&mut self, id: TunnelId, now: Instant) {
        let mut events = Vec::new();
        if let Some(t) = self.tunnels.get_mut(&id) {
            t.closing = true;
            t.retry_at = None;
            t.incoming.clear();
            if let Some(sa) = t.sa.as_mut() {
                sa.close(now);
            }
            t.set_health(now, Health::Down, &mut events);
        }
        self.push_events(id, events);
        self.touch(id, now);
    }

    /// New endpoint-wide settings (a reload): the cookie gate's limits,
    /// retries and liveness apply from now on; SAs stay.
    pub fn set_config(&mut self, cfg: EndpointConfig) {
        self.gate
            .set_limits(cfg.cookie_threshold, cfg.half_open_max);
        for t in self.tunnels.values_mut() {
            t.backoff.set(cfg.retry_first, cfg.retry_max);
            t.hold = cfg.liveness.rejoin_hold;
        }
        self.cfg = cfg;
    }

    /// Replaces a tunnel's configuration; the next IKE SA uses it (a new
    /// PSK, proposals, timers), the current one goes on.
    pub fn set_tunnel_config(&mut self, id: TunnelId, cfg: TunnelConfig) {
        if let Some(t) = self.tunnels.get_mut(&id) {
            t.cfg = cfg;
        }
    }

    pub fn tunnel(&self, id: TunnelId) -> Option<TunnelInfo> {
        self.tunnels.get(&id).map(|t| TunnelInfo {
            health: t.health,
            since: t.since,
            rtt: t.rtt,
            established: t.established(),
            failures: t.failures,
            retry_at: t.retry_at,
            half_open: t.incoming.len(),
            child_rekey_at: t.sa.as_ref().and_then(IkeSa::child_rekey_due),
            ike_rekey_at: t.sa.as_ref().and_then(IkeSa::ike_rekey_due),
        })
    }

    /// Where the tunnel's IKE SA talks to the peer (its port floats to
    /// 4500 behind a NAT, RFC 7296 §2.23).
    pub fn remote(&self, id: TunnelId) -> Option<SocketAddr> {
        self.tunnels.get(&id)?.sa.as_ref().map(IkeSa::remote)
    }

    pub fn stats(&self) -> EndpointStats {
        self.stats
    }

    pub fn cookie_stats(&self) -> CookieStats {
        self.gate.stats()
    }

    /// Responder SAs, all tunnels, that have not authenticated yet.
    pub fn half_open(&self) -> usize {
        self.tunnels.values().map(|t| t.incoming.len()).sum()
    }

    pub fn cookies_required(&self) -> bool {
        self.gate.required(self.half_open())
    }

    pub fn poll_transmit(&mut self) -> Option<Datagram> {
        self.transmits.pop_front()
    }

    pub fn poll_event(&mut self) -> Option<(TunnelId, TunnelEvent)> {
        self.events.pop_front()
    }

    /// The next line for the debug log: a message an SA sent or received,
    /// charon's way (only with `IkeConfig::log_messages`).
    pub fn poll_message_log(&mut self) -> Option<(TunnelId, String)> {
        self.message_log.pop_front()
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        let live = &self.cfg.liveness;
        self.tunnels
            .values()
            .filter_map(|t| t.poll_timeout(live))
            .min()
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        let ids: Vec<TunnelId> = self.tunnels.keys().copied().collect();
        for id in ids {
            let Some(t) = self.tunnels.get_mut(&id) else {
                continue;
            };
            let mut events = Vec::new();
            if t.retry_at.is_some_and(|r| r <= now) && !t.closing {
                t.connect(now, (self.rng)(), &mut events);
            }
            t.handle_timeout(now);
            self.push_events(id, events);
            self.touch(id, now);
        }
    }

    /// One datagram that arrived at `local` from `remote`, without the
    /// non-ESP marker.
    pub fn handle(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        data: &[u8],
    ) -> DatagramEvent {
        let Ok(fixed) = FixedHeader::decode_prefix(data) else {
            return self.dropped(Dropped::Undecodable);
        };
        let h = fixed.header;
        // §2.6: the original initiator's messages name us by the
        // responder's SPI, the responder's by the initiator's.
        let ours = if h.flags.initiator() {
            h.spi_r
        } else {
            h.spi_i
        };
        if let Some(&id) = self.by_spi.get(&ours).filter(|_| ours != 0) {
            if let Some(t) = self.tunnels.get_mut(&id) {
                if let Some(sa) =
                    t.sa.iter_mut()
                        .chain(&mut t.incoming)
                        .find(|sa| sa.owns(h.spi_i, h.spi_r))
                {
                    sa.handle_datagram(now, remote, data);
                    self.stats.routed += 1;
                    self.touch(id, now);
                    return DatagramEvent::Routed(id);
                }
            }
        }
        if !is_init_request(&h) {
            return self.dropped(if ours == 0 {
                Dropped::Unexpected
            } else {
                Dropped::UnknownSpi
            });
        }
        self.init_request(now, local, remote, data, h.spi_i)
    }

    /// An IKE_SA_INIT request: a retransmission of one we answered, or a
    /// new responder SA if the tunnel, the gate and the cap allow.
    fn init_request(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        data: &[u8],
        spi_i: u64,
    ) -> DatagramEvent {
        let Some((&id, t)) = self
            .tunnels
            .iter_mut()
            .find(|(_, t)| t.cfg.peer == remote.ip() && t.cfg.local == local.ip())
        else {
            return self.dropped(Dropped::Unconfigured);
        };
        // §2.1: the peer did not get our IKE_SA_INIT response.
        if let Some(sa) = t
            .incoming
            .iter_mut()
            .find(|sa| sa.spi_i() == spi_i && sa.remote() == remote)
        {
            sa.handle_datagram(now, remote, data);
            self.stats.routed += 1;
            self.touch(id, now);
            return DatagramEvent::Routed(id);
        }
        // Both sides initiated at once: the lower address keeps its own
        // and ignores the peer's; the higher answers, and the peer's SA
        // replaces its own once it authenticates.
        if t.sa.as_ref().is_some_and(|sa| !sa.is_established()) && t.cfg.local < t.cfg.peer {
            return self.dropped(Dropped::SimultaneousStart);
        }
        if t.closing {
            return self.dropped(Dropped::Unexpected);
        }
        let cfg = t.cfg.ike.clone();
        // What does not decode is refused statelessly by `accept`.
        if let Ok(msg) = Message::decode(data) {
            let half_open = self.half_open();
            match self.gate.check(now, local, remote, &msg, half_open) {
                Verdict::Accept => {}
                Verdict::Cookie(reply) => {
                    self.transmits.push_back(Datagram {
                        local,
                        remote,
                        data: reply.data,
                    });
                    return DatagramEvent::Cookie;
                }
                Verdict::Refuse => return self.dropped(Dropped::HalfOpenCap),
            }
        }
        match IkeSa::accept(cfg, local, remote, data, now, (self.rng)()) {
            Accepted::Sa(sa) => {
                if let Some(t) = self.tunnels.get_mut(&id) {
                    t.incoming.push(*sa);
                }
                self.stats.new_sas += 1;
                self.touch(id, now);
                DatagramEvent::NewSa(id)
            }
            Accepted::Refused { reply, reason } => {
                self.transmits.push_back(Datagram {
                    local,
                    remote,
                    data: reply.data,
                });
                self.stats.refused += 1;
                DatagramEvent::Refused(id, reason)
            }
            Accepted::Ignored => self.dropped(Dropped::Unexpected),
        }
    }

    fn dropped(&mut self, why: Dropped) -> DatagramEvent {
        let s = &mut self.stats;
        match why {
            Dropped::Undecodable => s.undecodable += 1,
            Dropped::UnknownSpi => s.unknown_spi += 1,
            Dropped::Unconfigured => s.unconfigured += 1,
            Dropped::HalfOpenCap => {}
            Dropped::SimultaneousStart => s.simultaneous_start += 1,
            Dropped::Unexpected => s.unexpected += 1,
        }
        DatagramEvent::Dropped(why)
    }

    /// The data plane's cumulative ESP packet counters for a tunnel: ESP
    /// going out while nothing comes back starts a liveness check.
    pub fn observe(&mut self, now: Instant, id: TunnelId, tx_packets: u64, rx_packets: u64) {
        if let Some(t) = self.tunnels.get_mut(&id) {
            t.observe(now, tx_packets, rx_packets);
            self.touch(id, now);
        }
    }

    /// The owner saw the path to the tunnel's peer fail: a local send
    /// error, or the underlay route or link gone. The tunnel gives up its
    /// flows now; a liveness check finds out when the path works again.
    pub fn path_down(&mut self, now: Instant, id: TunnelId) {
        if let Some(t) = self.tunnels.get_mut(&id) {
            let mut events = Vec::new();
            t.path_down(now, &self.cfg.liveness, &mut self.stats, &mut events);
            self.push_events(id, events);
            self.touch(id, now);
        }
    }

    /// The underlay route to the peer is back: check at once.
    pub fn path_up(&mut self, now: Instant, id: TunnelId) {
        if let Some(t) = self.tunnels.get_mut(&id) {
            t.path_up(now, &self.cfg.liveness, &mut self.stats);
            self.touch(id, now);
        }
    }

    /// An ESP SA's lifetime or sequence event (RFC 4301 §4.4.2.1). For
    /// the tunnel's current Child SA it means a rekey now: a soft limit or
    /// low sequence space asks for one, and a hard limit or exhausted
    /// sequence numbers mean the SA no longer carries traffic, so its
    /// successor is needed at once. Events of older SAs, already on their
    /// way out, change nothing. Returns whether a rekey was started.
    pub fn sa_event(&mut self, now: Instant, id: TunnelId, ev: esp::SaEvent) -> bool {
        let Some(sa) = self.tunnels.get_mut(&id).and_then(|t| t.sa.as_mut()) else {
            return false;
        };
        if !sa.is_established() || !sa.is_current_child(ev.spi) {
            return false;
        }
        sa.rekey_child(now);
        self.push_events(id, vec![TunnelEvent::Rekeying { spi: ev.spi }]);
        self.touch(id, now);
        true
    }

    /// Rekeys a tunnel's Child SA now (tests, and the operator).
    pub fn rekey_child(&mut self, now: Instant, id: TunnelId) {
        if let Some(sa) = self.tunnels.get_mut(&id).and_then(|t| t.sa.as_mut()) {
            sa.rekey_child(now);
            self.touch(id, now);
        }
    }

    /// Shutdown: DELETE every IKE SA and start nothing new. The tunnels
    /// are down from now on.
    pub fn close_all(&mut self, now: Instant) {
        let ids: Vec<TunnelId> = self.tunnels.keys().copied().collect();
        for id in ids {
            self.close_tunnel(id, now);
        }
    }

    /// Every IKE SA is gone.
    pub fn is_closed(&self) -> bool {
        self.tunnels.values().all(|t| t.sa.is_none())
    }

    fn push_events(&mut self, id: TunnelId, events: Vec<TunnelEvent>) {
        self.events.extend(events.into_iter().map(|e| (id, e)));
    }

    /// After anything happened to a tunnel: collect its output, move its
    /// health along, and index its SPIs.
    fn touch(&mut self, id: TunnelId, now: Instant) {
        let Some(t) = self.tunnels.get_mut(&id) else {
            return;
        };
        let mut events = Vec::new();
        let mut out = Out {
            transmits: &mut self.transmits,
            events: &mut events,
            stats: &mut self.stats,
        };
        t.drain(now, &mut out);
        t.liveness(now, &self.cfg.liveness, &mut self.stats, &mut events);
        // A liveness check may have sent something.
        let mut none = Vec::new();
        t.drain(
            now,
            &mut Out {
                transmits: &mut self.transmits,
                events: &mut none,
                stats: &mut self.stats,
            },
        );
        events.append(&mut none);
        for sa in t.sa.iter_mut().chain(&mut t.incoming) {
            while let Some(line) = sa.poll_message_log() {
                self.message_log.push_back((id, line));
            }
        }
        let spis = t.local_spis();
        for old in std::mem::take(&mut t.spis) {
            if !spis.contains(&old) && self.by_spi.get(&old) == Some(&id) {
                self.by_spi.remove(&old);
            }
        }
        for s in &spis {
            self.by_spi.insert(*s, id);
        }
        t.spis = spis;
        let gone = t.removed && t.sa.is_none();
        self.push_events(id, events);
        if gone {
            if let Some(t) = self.tunnels.remove(&id) {
                for s in t.spis {
                    if self.by_spi.get(&s) == Some(&id) {
                        self.by_spi.remove(&s);
                    }
                }
            }
            self.events.push_back((id, TunnelEvent::Removed));
        }
    }
}
