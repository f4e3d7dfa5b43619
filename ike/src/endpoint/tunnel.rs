//! One tunnel inside the endpoint: its IKE SA, the peer's half-open
//! attempts to replace it, and the retries after it fails.

use super::types::{Datagram, EndpointStats, Health, TunnelConfig, TunnelEvent};
use crate::crypto::Rng;
use crate::sa::{DownReason, Event, IkeSa, IKE_PORT};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

pub(super) struct Tunnel {
    pub cfg: TunnelConfig,
    /// The tunnel's IKE SA: ours (initiating or established) or the
    /// peer's once it authenticated.
    pub sa: Option<IkeSa>,
    /// Responder SAs for the peer's IKE_SA_INIT requests, half-open: one
    /// replaces `sa` only once it authenticates, so an unauthenticated
    /// (possibly spoofed) IKE_SA_INIT cannot tear the tunnel down.
    pub incoming: Vec<IkeSa>,
    pub retry_at: Option<Instant>,
    pub backoff: Backoff,
    /// Failed attempts since the last success.
    pub failures: u32,
    /// No more initiating: the endpoint is closing, or the tunnel is
    /// being removed (`removed`: dropped once its SA is gone).
    pub closing: bool,
    pub removed: bool,
    pub health: Health,
    pub since: Instant,
    /// The tunnel has carried flows before: coming back, it waits out the
    /// hold-down, this long.
    pub ever_up: bool,
    pub hold: Duration,
    /// Liveness: the data plane's last counters, when ESP started going
    /// out unanswered, and when the running check started.
    pub tx: u64,
    pub rx: u64,
    pub unanswered_since: Option<Instant>,
    pub check: Option<Instant>,
    pub rtt: Option<Duration>,
    /// Our SPIs as the endpoint's index holds them.
    pub spis: Vec<u64>,
}

/// Where a tunnel's SAs put what they produce.
pub(super) struct Out<'a> {
    pub transmits: &'a mut std::collections::VecDeque<Datagram>,
    pub events: &'a mut Vec<TunnelEvent>,
    pub stats: &'a mut EndpointStats,
}

impl Tunnel {
    pub fn new(cfg: TunnelConfig, backoff: Backoff, hold: Duration, now: Instant) -> Self {
        Self {
            cfg,
            sa: None,
            incoming: Vec::new(),
            retry_at: None,
            backoff,
            failures: 0,
            closing: false,
            removed: false,
            health: Health::Down,
            since: now,
            ever_up: false,
            hold,
            tx: 0,
            rx: 0,
            unanswered_since: None,
            check: None,
            rtt: None,
            spis: Vec::new(),
        }
    }

    pub fn established(&self) -> bool {
        self.sa.as_ref().is_some_and(IkeSa::is_established)
    }

    /// Starts an IKE SA as initiator (replacing one that never finished).
    pub fn connect(
        &mut self,
        now: Instant,
        rng: Box<dyn Rng + Send>,
        events: &mut Vec<TunnelEvent>,
    ) {
        let local = SocketAddr::new(self.cfg.local, IKE_PORT);
        let remote = SocketAddr::new(self.cfg.peer, IKE_PORT);
        self.sa = Some(IkeSa::initiate(
            self.cfg.ike.clone(),
            local,
            remote,
            now,
            rng,
        ));
        self.retry_at = None;
        events.push(TunnelEvent::Connecting {
            attempt: self.failures + 1,
        });
    }

    pub fn poll_timeout(&self, cfg: &super::LivenessConfig) -> Option<Instant> {
        let sa = self.sa.as_ref().and_then(IkeSa::poll_timeout);
        let incoming = self.incoming.iter().filter_map(IkeSa::poll_timeout).min();
        [sa, incoming, self.retry_at, self.liveness_deadline(cfg)]
            .into_iter()
            .flatten()
            .min()
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        for sa in self.sa.iter_mut().chain(&mut self.incoming) {
            sa.handle_timeout(now);
        }
    }

    /// Takes what the SAs produced: datagrams out, events to the owner,
    /// half-open SAs promoted or dropped, and a retry after a failure.
    pub fn drain(&mut self, now: Instant, out: &mut Out<'_>) {
        let local = self.cfg.local;
        let mut events = Vec::new();
        if let Some(sa) = self.sa.as_mut() {
            push_transmits(sa, local, out);
            events.extend(std::iter::from_fn(|| sa.poll_event()));
        }
        for e in events {
            self.sa_event(now, e, out.events);
        }
        self.drain_incoming(now, out);
        if self.sa.as_ref().is_some_and(IkeSa::is_closed) {
            self.sa = None;
            if self.cfg.initiate && !self.closing {
                self.failures += 1;
                self.retry_at = Some(now + self.backoff.next());
            }
        }
    }

    /// An event of the tunnel's SA, passed on; health follows it.
    fn sa_event(&mut self, now: Instant, e: Event, events: &mut Vec<TunnelEvent>) {
        let established = matches!(e, Event::Established { .. });
        let child_up = matches!(e, Event::ChildUp(_));
        let down = matches!(e, Event::Down(_));
        events.push(TunnelEvent::Sa(e));
        if established {
            self.failures = 0;
            self.backoff.reset();
        }
        if child_up {
            self.child_up(now, events);
        }
        if down {
            self.check = None;
            self.unanswered_since = None;
            self.set_health(now, Health::Down, events);
        }
    }

    fn drain_incoming(&mut self, now: Instant, out: &mut Out<'_>) {
        let local = self.cfg.local;
        let mut k = 0;
        while let Some(sa) = self.incoming.get_mut(k) {
            push_transmits(sa, local, out);
            let events: Vec<Event> = std::iter::from_fn(|| sa.poll_event()).collect();
            let closed = sa.is_closed();
            if events
                .iter()
                .any(|e| matches!(e, Event::Established { .. }))
            {
                let sa = self.incoming.remove(k);
                self.promote(now, sa, events, out.events);
            } else if closed {
                self.incoming.remove(k);
                for e in events {
                    match e {
                        Event::Down(DownReason::HalfOpenExpired) => {
                            out.stats.half_open_expired += 1
                        }
                        Event::Down(reason) => out.events.push(TunnelEvent::IncomingFailed(reason)),
                        _ => {}
                    }
                }
            } else {
                k += 1;
            }
        }
    }

    /// The peer started afresh (or won a simultaneous start) and
    /// authenticated: its SA replaces ours, whose Child SAs go.
    fn promote(&mut self, now: Instant, sa: IkeSa, events: Vec<Event>, out: &mut Vec<TunnelEvent>) {
        if let Some(mut old) = self.sa.take() {
            out.push(TunnelEvent::Replaced {
                was_established: old.is_established(),
            });
            old.abandon();
            while let Some(e) = old.poll_event() {
                if !matches!(e, Event::Down(_)) {
                    out.push(TunnelEvent::Sa(e));
                }
            }
        }
        self.sa = Some(sa);
        self.retry_at = None;
        self.check = None;
        for e in events {
            self.sa_event(now, e, out);
        }
    }

    pub fn set_health(&mut self, now: Instant, h: Health, events: &mut Vec<TunnelEvent>) {
        if self.health != h {
            self.health = h;
            self.since = now;
            if h == Health::Up {
                self.ever_up = true;
            }
            events.push(TunnelEvent::Health(h));
        }
    }

    /// Our SPIs in every SA of the tunnel, for the endpoint's index.
    pub fn local_spis(&self) -> Vec<u64> {
        self.sa
            .iter()
            .chain(&self.incoming)
            .flat_map(IkeSa::local_spis)
            .collect()
    }
}

/// How long an initiator waits before trying again: `first`, doubling
/// up to `max` while attempts keep failing.
#[derive(Debug, Clone, Copy)]
pub(super) struct Backoff {
    first: Duration,
    max: Duration,
    wait: Duration,
}

impl Backoff {
    /// New bounds (a reload); the next failure starts from `first`.
    pub fn set(&mut self, first: Duration, max: Duration) {
        *self = Self::new(first, max);
    }

    pub fn new(first: Duration, max: Duration) -> Self {
        Self {
            first,
            max: max.max(first),
            wait: first,
        }
    }

    fn next(&mut self) -> Duration {
        let w = self.wait;
        self.wait = (self.wait * 2).min(self.max);
        w
    }

    fn reset(&mut self) {
        self.wait = self.first;
    }
}

fn push_transmits(sa: &mut IkeSa, local: std::net::IpAddr, out: &mut Out<'_>) {
    while let Some(t) = sa.poll_transmit() {
        out.transmits.push_back(Datagram {
            local: SocketAddr::new(local, t.local_port),
            remote: t.remote,
            data: t.data,
        });
    }
}
