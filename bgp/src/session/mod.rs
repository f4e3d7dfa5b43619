//! One BGP peering (RFC 4271 §8), driven by the daemon.
//!
//! The session may hold two TCP connections at once, one dialled and one
//! accepted, until collision detection (§6.8) keeps one of them. The
//! session's [`State`] is that of its most advanced connection.

mod export;
mod fsm;

pub use export::{ExportRoute, DEFAULT_LOCAL_PREF};

use crate::rib::{ImportPolicy, Rib, Route};
use crate::wire::{Afi, Notification};
use ipnet::IpNet;
use std::collections::{BTreeMap, VecDeque};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

/// §8.2.2: the Hold Timer in OpenSent is "a large value"; 4 minutes.
const OPEN_HOLD: Duration = Duration::from_secs(240);
/// The longest automatic restart delay after repeated failures.
const MAX_IDLE_HOLD: Duration = Duration::from_secs(120);
/// After a maximum-prefix teardown, wait at least this long.
const MAX_PREFIX_IDLE_HOLD: Duration = Duration::from_secs(60);

/// How one peering is set up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionConfig {
    /// A label for logs, e.g. the tunnel name.
    pub name: String,
    pub local_as: u32,
    pub remote_as: u32,
    pub router_id: Ipv4Addr,
    /// Proposed Hold Time; the lower of both sides' wins (§4.2). Azure
    /// uses 180 s with 60 s keepalives.
    pub hold_time: u16,
    /// ConnectRetryTimer (§8.1.3).
    pub connect_retry: Duration,
    /// First delay of the automatic restart after a failure
    /// (IdleHoldTimer, §8.1.1); doubles per failure up to two minutes.
    pub idle_hold: Duration,
    /// Only wait for the peer to connect (PassiveTcpEstablishment).
    pub passive: bool,
    pub ipv4: bool,
    pub ipv6: bool,
    pub import: ImportPolicy,
    /// Our NEXT_HOP for IPv4 and IPv6 announcements.
    pub next_hop_v4: Option<Ipv4Addr>,
    pub next_hop_v6: Option<Ipv6Addr>,
}

/// A TCP connection, named by the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnId(pub u64);

/// What the daemon must do with its sockets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Open a TCP connection to the peer; report the result with
    /// [`Session::handle_connected`] or [`Session::handle_closed`].
    Connect(ConnId),
    Send(ConnId, Vec<u8>),
    /// Close after sending what was queued.
    Close(ConnId),
}

/// RFC 4271 §8.2.2 session states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum State {
    Idle,
    Connect,
    Active,
    OpenSent,
    OpenConfirm,
    Established,
}

impl State {
    pub fn name(self) -> &'static str {
        match self {
            State::Idle => "Idle",
            State::Connect => "Connect",
            State::Active => "Active",
            State::OpenSent => "OpenSent",
            State::OpenConfirm => "OpenConfirm",
            State::Established => "Established",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DownReason {
    AdminStop,
    HoldTimerExpired,
    ConnectionClosed,
    NotificationReceived(Notification),
    NotificationSent(Notification),
    MaxPrefixes {
        limit: usize,
    },
    /// The daemon reported the path to the peer dead (the tunnel).
    TransportDown,
}

impl std::fmt::Display for DownReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DownReason::AdminStop => write!(f, "administratively stopped"),
            DownReason::HoldTimerExpired => write!(f, "hold timer expired"),
            DownReason::ConnectionClosed => write!(f, "TCP connection closed"),
            DownReason::NotificationReceived(n) => write!(f, "peer sent {}", n.describe()),
            DownReason::NotificationSent(n) => write!(f, "we sent {}", n.describe()),
            DownReason::MaxPrefixes { limit } => {
                write!(f, "more than {limit} prefixes received (maximum-prefix)")
            }
            DownReason::TransportDown => write!(f, "the tunnel carrying the session went down"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Established {
        peer_id: Ipv4Addr,
        peer_as: u32,
        hold_time: u16,
    },
    Down(DownReason),
    /// A prefix learned or changed.
    RouteUpdated {
        prefix: IpNet,
        route: Route,
    },
    RouteWithdrawn {
        prefix: IpNet,
    },
}

/// Counters, for the status socket.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionStats {
    pub updates_received: u64,
    pub updates_sent: u64,
    pub notifications_received: u64,
    pub notifications_sent: u64,
    pub prefixes_announced_to_us: u64,
    pub prefixes_filtered: u64,
    pub treat_as_withdraw: u64,
    pub established_transitions: u64,
    pub collisions: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    Outgoing,
    Incoming,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum ConnState {
    Dialing,
    OpenSent,
    OpenConfirm,
    Established,
}

/// What both OPENs agreed on.
#[derive(Debug, Clone, Copy)]
struct Negotiated {
    peer_id: Ipv4Addr,
    peer_as: u32,
    hold: u16,
    ctx: crate::wire::Context,
    ipv4: bool,
    ipv6: bool,
    refresh: bool,
}

#[derive(Debug)]
struct Conn {
    id: ConnId,
    dir: Direction,
    state: ConnState,
    rx: Vec<u8>,
    neg: Option<Negotiated>,
    hold_at: Option<Instant>,
    keepalive_at: Option<Instant>,
}

/// One BGP peering. See the crate documentation.
#[derive(Debug)]
pub struct Session {
    cfg: SessionConfig,
    admin_up: bool,
    conns: Vec<Conn>,
    next_conn: u64,
    connect_retry_at: Option<Instant>,
    restart_at: Option<Instant>,
    failures: u32,
    rib: Rib,
    export: BTreeMap<IpNet, ExportRoute>,
    prepend: u8,
    adj_out: BTreeMap<IpNet, ExportRoute>,
    actions: VecDeque<Action>,
    events: VecDeque<Event>,
    stats: SessionStats,
    /// Start of the current log window and lines logged in it.
    log_window: (Option<Instant>, u32),
}

/// Per-UPDATE warnings: at most this many per minute (counters keep the
/// full count).
const LOG_BURST: u32 = 10;
const LOG_WINDOW: Duration = Duration::from_secs(60);

impl Session {
    pub fn new(cfg: SessionConfig) -> Self {
        Self {
            cfg,
            admin_up: false,
            conns: Vec::new(),
            next_conn: 1,
            connect_retry_at: None,
            restart_at: None,
            failures: 0,
            rib: Rib::default(),
            export: BTreeMap::new(),
            prepend: 0,
            adj_out: BTreeMap::new(),
            actions: VecDeque::new(),
            events: VecDeque::new(),
            stats: SessionStats::default(),
            log_window: (None, 0),
        }
    }

    /// Whether a per-UPDATE warning may be logged now.
    fn log_allowed(&mut self, now: Instant) -> bool {
        match self.log_window {
            (Some(start), n) if now.saturating_duration_since(start) < LOG_WINDOW => {
                self.log_window.1 = n.saturating_add(1);
                n < LOG_BURST
            }
            _ => {
                self.log_window = (Some(now), 1);
                true
            }
        }
    }

    // ---- getters ----

    pub fn config(&self) -> &SessionConfig {
        &self.cfg
    }

    pub fn state(&self) -> State {
        match self.conns.iter().map(|c| c.state).max() {
            Some(ConnState::Established) => State::Established,
            Some(ConnState::OpenConfirm) => State::OpenConfirm,
            Some(ConnState::OpenSent) => State::OpenSent,
            Some(ConnState::Dialing) => State::Connect,
            None if self.admin_up && self.restart_at.is_none() => State::Active,
            None => State::Idle,
        }
    }

    pub fn rib(&self) -> &Rib {
        &self.rib
    }

    pub fn stats(&self) -> &SessionStats {
        &self.stats
    }

    /// Prefixes currently advertised to the peer, with what was sent.
    pub fn advertised(&self) -> &BTreeMap<IpNet, ExportRoute> {
        &self.adj_out
    }

    /// What we want to advertise (sent once Established).
    pub fn exported(&self) -> &BTreeMap<IpNet, ExportRoute> {
        &self.export
    }

    /// Whether the peer is in our own AS (iBGP).
    pub fn is_ibgp(&self) -> bool {
        self.cfg.local_as == self.cfg.remote_as
    }

    /// The peer's BGP identifier and AS, once Established.
    pub fn peer(&self) -> Option<(Ipv4Addr, u32)> {
        self.established()
            .and_then(|c| c.neg.map(|n| (n.peer_id, n.peer_as)))
    }

    /// The negotiated hold time, once Established.
    pub fn hold_time(&self) -> Option<u16> {
        self.established().and_then(|c| c.neg.map(|n| n.hold))
    }

    fn established(&self) -> Option<&Conn> {
        self.conns
            .iter()
            .find(|c| c.state == ConnState::Established)
    }

    // ---- commands ----

    /// ManualStart (event 1), or ManualStart_with_PassiveTcpEstablishment
    /// (event 4) when the session is passive.
    pub fn start(&mut self, now: Instant) {
        if self.admin_up {
            return;
        }
        self.admin_up = true;
        self.failures = 0;
        self.automatic_start(now);
    }

    /// ManualStop (event 2): Cease/administrative shutdown, no restart.
    pub fn stop(&mut self, now: Instant) {
        self.admin_up = false;
        self.restart_at = None;
        self.connect_retry_at = None;
        let n = Notification::cease(crate::wire::cease::ADMIN_SHUTDOWN);
        let was_up = self.state() == State::Established;
        for c in std::mem::take(&mut self.conns) {
            if c.state >= ConnState::OpenSent {
                self.send(c.id, &crate::wire::Message::Notification(n.clone()), c.neg);
                self.stats.notifications_sent += 1;
            }
            self.actions.push_back(Action::Close(c.id));
        }
        if was_up {
            self.down(now, DownReason::AdminStop);
        }
    }

    /// The path to the peer is gone (its tunnel died): drop the
    /// connections without waiting for the hold timer, withdraw every
    /// learned route, and restart later.
    pub fn transport_down(&mut self, now: Instant) {
        let was_up = self.state() == State::Established;
        if was_up {
            self.down(now, DownReason::TransportDown);
        } else if !self.conns.is_empty() {
            self.schedule_restart(now, Duration::ZERO);
        }
    }

    /// The path to the peer is back: retry now rather than after the
    /// back-off.
    pub fn transport_up(&mut self, now: Instant) {
        if self.admin_up && self.restart_at.is_some() {
            self.failures = 0;
            self.automatic_start(now);
        }
    }

    /// Sets the prefixes we advertise and the AS-path prepend count. When
    /// Established, the difference goes out at once as UPDATEs.
    pub fn set_export(&mut self, prefixes: impl IntoIterator<Item = IpNet>, prepend: u8) {
        let routes = prefixes.into_iter().map(|p| (p, ExportRoute::originated()));
        self.set_export_routes(routes, prepend);
    }

    /// Sets the routes we advertise, each with its own attributes, and
    /// the AS-path prepend count. When Established, what changed goes out
    /// at once: withdrawals, and announcements of new prefixes and of
    /// prefixes whose attributes changed.
    pub fn set_export_routes(
        &mut self,
        routes: impl IntoIterator<Item = (IpNet, ExportRoute)>,
        prepend: u8,
    ) {
        let new: BTreeMap<IpNet, ExportRoute> =
            routes.into_iter().map(|(p, r)| (p.trunc(), r)).collect();
        let prepend_changed = prepend != self.prepend;
        self.export = new;
        self.prepend = prepend;
        if self.state() == State::Established {
            self.sync_export(prepend_changed);
        }
    }

    /// Replaces the import policy (a reload): routes the new policy
    /// refuses are withdrawn at once, and ROUTE-REFRESH (RFC 2918) asks
    /// the peer to send everything again, so the routes the old policy
    /// refused and the new one allows arrive. Returns whether the peer
    /// could be asked (otherwise they arrive with its next UPDATEs).
    pub fn set_import(&mut self, policy: ImportPolicy) -> bool {
        self.cfg.import = policy;
        let local_as = self.cfg.local_as;
        let refused: Vec<IpNet> = self
            .rib
            .iter()
            .filter(|(p, r)| self.cfg.import.check(p, &r.as_path, local_as).is_err())
            .map(|(p, _)| *p)
            .collect();
        for p in refused {
            self.rib.remove(&p);
            self.stats.prefixes_filtered += 1;
            self.events.push_back(Event::RouteWithdrawn { prefix: p });
        }
        self.route_refresh()
    }

    /// Sends ROUTE-REFRESH (RFC 2918) for each family, if the peer can.
    pub fn route_refresh(&mut self) -> bool {
        let Some((id, neg)) = self.established().and_then(|c| c.neg.map(|n| (c.id, n))) else {
            return false;
        };
        if !neg.refresh {
            return false;
        }
        for (on, afi) in [(neg.ipv4, Afi::Ipv4), (neg.ipv6, Afi::Ipv6)] {
            if on {
                let m = crate::wire::Message::RouteRefresh {
                    afi: afi.code(),
                    subtype: 0,
                    safi: crate::wire::Safi::UNICAST,
                };
                self.send(id, &m, Some(neg));
            }
        }
        true
    }

    // ---- input ----

    /// The dialled connection is up (Tcp_CR_Acked, event 16). Returns
    /// false when the session no longer wants it (the ConnectRetryTimer
    /// gave up on it, or the session stopped): close the socket.
    pub fn handle_connected(&mut self, now: Instant, id: ConnId) -> bool {
        let Some(c) = self.conns.iter_mut().find(|c| c.id == id) else {
            return false;
        };
        if c.state != ConnState::Dialing {
            return false;
        }
        c.state = ConnState::OpenSent;
        c.hold_at = Some(now + OPEN_HOLD);
        self.connect_retry_at = None;
        self.send_open(id);
        true
    }

    /// The peer connected to us (TcpConnectionConfirmed, event 17).
    /// Returns the connection's name, or None when the daemon must close
    /// the socket (session stopped, or already Established).
    pub fn handle_incoming(&mut self, now: Instant) -> Option<ConnId> {
        let busy = self
            .conns
            .iter()
            .any(|c| c.dir == Direction::Incoming || c.state == ConnState::Established);
        if !self.admin_up || busy {
            return None;
        }
        self.restart_at = None;
        let id = self.new_conn(Direction::Incoming, ConnState::OpenSent);
        if let Some(c) = self.conns.iter_mut().find(|c| c.id == id) {
            c.hold_at = Some(now + OPEN_HOLD);
        }
        self.send_open(id);
        Some(id)
    }

    /// The connection failed or was closed by the peer (events 18/14).
    pub fn handle_closed(&mut self, now: Instant, id: ConnId) {
        let Some(pos) = self.conns.iter().position(|c| c.id == id) else {
            return;
        };
        let c = self.conns.remove(pos);
        if c.state == ConnState::Established {
            self.down(now, DownReason::ConnectionClosed);
        } else if self.conns.is_empty() && self.admin_up && self.connect_retry_at.is_none() {
            self.connect_retry_at = Some(now + self.cfg.connect_retry);
        }
    }

    /// Octets received on a connection.
    pub fn handle_data(&mut self, now: Instant, id: ConnId, data: &[u8]) {
        fsm::handle_data(self, now, id, data);
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        fsm::handle_timeout(self, now);
    }

    // ---- output ----

    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        self.conns
            .iter()
            .flat_map(|c| [c.hold_at, c.keepalive_at])
            .chain([self.connect_retry_at, self.restart_at])
            .flatten()
            .min()
    }

    // ---- internals shared with fsm.rs and export.rs ----

    fn new_conn(&mut self, dir: Direction, state: ConnState) -> ConnId {
        let id = ConnId(self.next_conn);
        self.next_conn += 1;
        self.conns.push(Conn {
            id,
            dir,
            state,
            rx: Vec::new(),
            neg: None,
            hold_at: None,
            keepalive_at: None,
        });
        id
    }

    /// AutomaticStart (event 3/5): dial unless passive, and (re)arm the
    /// ConnectRetryTimer.
    fn automatic_start(&mut self, now: Instant) {
        self.restart_at = None;
        if !self.cfg.passive && !self.conns.iter().any(|c| c.dir == Direction::Outgoing) {
            let id = self.new_conn(Direction::Outgoing, ConnState::Dialing);
            self.actions.push_back(Action::Connect(id));
        }
        self.connect_retry_at = Some(now + self.cfg.connect_retry);
    }

    fn send(&mut self, id: ConnId, m: &crate::wire::Message, neg: Option<Negotiated>) {
        let ctx = neg.map(|n| n.ctx).unwrap_or_default();
        self.actions.push_back(Action::Send(id, m.to_bytes(&ctx)));
    }

    fn send_open(&mut self, id: ConnId) {
        use crate::wire::{Capability, Message, Open};
        let mut caps = Vec::new();
        if self.cfg.ipv4 {
            caps.push(Capability::Multiprotocol {
                afi: Afi::Ipv4.code(),
                safi: crate::wire::Safi::UNICAST,
            });
        }
        if self.cfg.ipv6 {
            caps.push(Capability::Multiprotocol {
                afi: Afi::Ipv6.code(),
                safi: crate::wire::Safi::UNICAST,
            });
        }
        caps.push(Capability::RouteRefresh);
        caps.push(Capability::FourOctetAs(self.cfg.local_as));
        let open = Open::new(
            self.cfg.local_as,
            self.cfg.hold_time,
            self.cfg.router_id,
            caps,
        );
        self.send(id, &Message::Open(open), None);
    }

    /// Leaves Established: every learned route is withdrawn, and an
    /// automatic restart is scheduled unless stopped by hand.
    fn down(&mut self, now: Instant, reason: DownReason) {
        tracing::warn!(session = %self.cfg.name, %reason, routes = self.rib.len(), "BGP session down");
        for prefix in self.rib.take_all() {
            self.events.push_back(Event::RouteWithdrawn { prefix });
        }
        self.adj_out.clear();
        let floor = match reason {
            DownReason::MaxPrefixes { .. } => MAX_PREFIX_IDLE_HOLD,
            _ => Duration::ZERO,
        };
        self.events.push_back(Event::Down(reason));
        self.schedule_restart(now, floor);
    }

    /// IdleHoldTimer with exponential back-off (§8.1.1
    /// DampPeerOscillations).
    fn schedule_restart(&mut self, now: Instant, floor: Duration) {
        for c in std::mem::take(&mut self.conns) {
            self.actions.push_back(Action::Close(c.id));
        }
        self.connect_retry_at = None;
        if !self.admin_up {
            return;
        }
        let backoff = self
            .cfg
            .idle_hold
            .saturating_mul(1 << self.failures.min(6))
            .min(MAX_IDLE_HOLD)
            .max(floor);
        self.failures = self.failures.saturating_add(1);
        self.restart_at = Some(now + backoff);
    }
}
