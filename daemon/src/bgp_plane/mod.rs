//! The BGP plane: one sans-IO `bgp::Session` per tunnel that has
//! `[tunnel.bgp]` and per on-premises router (`[[bgp.lan]]`), driven from
//! one task that owns every TCP connection, kernel route and
//! forwarding-table update (static routes too, so it runs even without
//! BGP). Routes pass between the two sides in `redistribute.rs`. A reload
//! reconciles its sessions with the new file (`reconfigure.rs`).

mod reconfigure;
mod redistribute;
mod routes;
pub mod spec;
mod tcp;

pub use reconfigure::Reconfig;
pub use routes::{RouteSink, Routes};
pub use spec::{PeerSpec, Redistribution};

use crate::dataplane::inbound::InCommand;
use crate::status::{self, BgpStatus, Board};
use bgp::guard::Finding;
use bgp::{Action, ConnId, Event, Session};
use esp::SecretBytes;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tcp::{ConnTasks, NetEvent, BGP_PORT};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

/// How long changes to learned routes gather before they are passed to
/// the other side (see `redistribute.rs`).
const REDISTRIBUTE_DELAY: Duration = Duration::from_millis(100);

/// From the control plane and the reload handler.
pub enum BgpCommand {
    /// A tunnel's SAs are up (true) or its IKE SA died (false).
    Tunnel { tunnel: usize, up: bool },
    /// A reload: the sessions, advertisements and static routes now.
    Reconfigure(Box<Reconfig>),
    /// A new inbound data-plane task (a new local address): it gets the
    /// whole forwarding table now and every change from now on.
    AddInbound(mpsc::Sender<InCommand>),
}

struct Peer {
    spec: PeerSpec,
    session: Session,
    started: bool,
    status: BgpStatus,
}

impl Peer {
    fn new(spec: PeerSpec) -> Self {
        let mut session = Session::new(spec.session.clone());
        session.set_export(spec.export.iter().copied(), spec.prepend);
        let status = BgpStatus {
            peer: spec.addr.to_string(),
            state: "Idle".into(),
            ..BgpStatus::default()
        };
        Self {
            spec,
            session,
            started: false,
            status,
        }
    }
}

pub struct BgpPlane {
    /// By slot; a removed session leaves `None` (connections and dials
    /// name their slot).
    peers: Vec<Option<Peer>>,
    conns: HashMap<(usize, ConnId), ConnTasks>,
    listeners: BTreeMap<IpAddr, (Arc<TcpListener>, JoinHandle<()>)>,
    net_tx: mpsc::Sender<NetEvent>,
    net_rx: mpsc::Receiver<NetEvent>,
    commands: mpsc::UnboundedReceiver<BgpCommand>,
    routes: Routes,
    board: Board,
    /// Tunnels whose SAs are up: their sessions may start.
    tunnels_up: BTreeSet<usize>,
    /// Tunnel names by index, for status.
    names: Vec<String>,
    dirty: bool,
    /// The mode and the ExpressRoute prefixes.
    redist: Redistribution,
    /// What the tunnels learned changed: the LAN routers' exports are due.
    lan_dirty: bool,
    /// What the LAN routers taught us (or the configuration) changed: the
    /// tunnels' exports are due.
    azure_dirty: bool,
    /// When the pending redistribution runs: changes are gathered for
    /// [`REDISTRIBUTE_DELAY`], so that a table arriving in many UPDATEs
    /// is passed on once, not once per UPDATE.
    redistribute_at: Option<Instant>,
    /// The encryption guard's last verdicts on learned prefixes.
    refused: Vec<Finding>,
    shadowed: Vec<Finding>,
    over_limit: usize,
}

impl BgpPlane {
    pub fn new(
        specs: Vec<PeerSpec>,
        redist: Redistribution,
        names: Vec<String>,
        routes: Routes,
        board: Board,
        commands: mpsc::UnboundedReceiver<BgpCommand>,
    ) -> std::io::Result<Self> {
        let (net_tx, net_rx) = mpsc::channel(tcp::NET_QUEUE);
        let mut plane = Self {
            peers: Vec::new(),
            conns: HashMap::new(),
            listeners: BTreeMap::new(),
            net_tx,
            net_rx,
            commands,
            routes,
            board,
            tunnels_up: BTreeSet::new(),
            names,
            dirty: true,
            redist,
            lan_dirty: true,
            azure_dirty: true,
            redistribute_at: None,
            refused: Vec::new(),
            shadowed: Vec::new(),
            over_limit: 0,
        };
        for spec in specs {
            plane.add_peer(spec)?;
        }
        Ok(plane)
    }

    fn live(&self) -> impl Iterator<Item = &Peer> {
        self.peers.iter().flatten()
    }

    /// Adds a session: a listener on its local address (with its MD5 key);
    /// it starts now if its tunnel is up or keyed by hand.
    fn add_peer(&mut self, spec: PeerSpec) -> std::io::Result<usize> {
        let keys: Vec<(IpAddr, &[u8])> = spec
            .md5
            .as_ref()
            .map(|k| (spec.addr, k.expose()))
            .into_iter()
            .collect();
        match self.listeners.get(&spec.local) {
            Some((l, _)) => {
                for (peer, key) in &keys {
                    tcp::set_md5(l.as_ref(), *peer, key)?;
                }
            }
            None => {
                let l = tcp::listen(spec.local, BGP_PORT, spec.ttl, &keys).map_err(|e| {
                    std::io::Error::new(
                        e.kind(),
                        format!("cannot listen for BGP on {}:{BGP_PORT}: {e}", spec.local),
                    )
                })?;
                let l = Arc::new(l);
                let task = tokio::spawn(tcp::accept_loop(l.clone(), self.net_tx.clone()));
                self.listeners.insert(spec.local, (l, task));
            }
        }
        let start = spec.manual || spec.tunnel().is_some_and(|t| self.tunnels_up.contains(&t));
        let mut p = Peer::new(spec);
        if start {
            p.started = true;
            p.session.start(Instant::now());
        }
        self.peers.push(Some(p));
        self.dirty = true;
        self.lan_dirty = true;
        self.azure_dirty = true;
        Ok(self.peers.len() - 1)
    }

    /// Stops a session (Cease), closes its connections and withdraws its
    /// routes from the kernel and the forwarding table.
    fn remove_peer(&mut self, slot: usize) {
        let Some(mut p) = self.peers.get_mut(slot).and_then(Option::take) else {
            return;
        };
        p.session.stop(Instant::now());
        while let Some(a) = p.session.poll_action() {
            if let Action::Send(conn, bytes) = a {
                if let Some(c) = self.conns.get(&(slot, conn)) {
                    // The Cease, if there is room; the connection closes anyway.
                    let _ = c.send(bytes);
                }
            }
        }
        let conns: Vec<_> = self.conns.keys().filter(|k| k.0 == slot).copied().collect();
        for k in conns {
            if let Some(c) = self.conns.remove(&k) {
                c.close();
            }
        }
        match p.spec.tunnel() {
            Some(tunnel) => {
                let learned: Vec<_> = p.session.rib().iter().map(|(n, _)| *n).collect();
                for prefix in learned {
                    self.routes.changed(prefix);
                }
                let name = self.names.get(tunnel).cloned().unwrap_or_default();
                status::update(&self.board, |b| {
                    if let Some(t) = b.tunnels.get_mut(&name) {
                        t.bgp = None;
                    }
                });
            }
            None => {
                let addr = p.spec.addr.to_string();
                status::update(&self.board, |b| {
                    b.bgp_lan.remove(&addr);
                });
            }
        }
        self.dirty = true;
        self.lan_dirty = true;
        self.azure_dirty = true;
    }

    pub async fn run(mut self, mut stop: watch::Receiver<bool>) {
        let mut publish = tokio::time::interval(Duration::from_millis(250));
        loop {
            self.drive().await;
            let deadline = self
                .live()
                .filter_map(|p| p.session.poll_timeout())
                .chain(self.redistribute_at)
                .min()
                .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
            // Timers and commands before input: a peer that floods us
            // cannot starve the hold and keepalive timers of any session
            // (its own included), and the input waits in bounded queues.
            tokio::select! {
                biased;
                _ = stop.changed() => break,
                _ = tokio::time::sleep_until(deadline.into()) => {
                    let now = Instant::now();
                    for p in self.peers.iter_mut().flatten() {
                        p.session.handle_timeout(now);
                    }
                }
                Some(cmd) = self.commands.recv() => self.command(cmd).await,
                _ = publish.tick() => self.publish(),
                Some(ev) = self.net_rx.recv() => self.net_event(ev),
            }
        }
        // Shutdown: NOTIFICATION Cease to every peer, then close.
        let now = Instant::now();
        for p in self.peers.iter_mut().flatten() {
            p.session.stop(now);
        }
        self.drive().await;
        // Each writer ends when its peer has acknowledged the Cease and
        // our FIN (a dead peer's never does: the wait is bounded).
        let writers: Vec<_> = self.conns.drain().map(|(_, c)| c.close()).collect();
        let all = futures::future::join_all(writers);
        if tokio::time::timeout(Duration::from_millis(1500), all)
            .await
            .is_err()
        {
            tracing::debug!("a BGP peer did not acknowledge the Cease in time");
        }
        for (_, (_, task)) in std::mem::take(&mut self.listeners) {
            task.abort();
        }
        self.publish();
    }

    fn session(&mut self, slot: usize) -> Option<&mut Session> {
        self.peers.get_mut(slot)?.as_mut().map(|p| &mut p.session)
    }

    fn net_event(&mut self, ev: NetEvent) {
        let now = Instant::now();
        match ev {
            NetEvent::Dialed { peer, conn, result } => {
                let name = self
                    .peers
                    .get(peer)
                    .and_then(Option::as_ref)
                    .map(|p| p.spec.session.name.clone());
                match (result, self.session(peer)) {
                    // A dial the session gave up on (or a removed
                    // session's) is simply closed.
                    (Ok(stream), Some(s)) => {
                        if s.handle_connected(now, conn) {
                            let tasks = tcp::spawn(stream, peer, conn, self.net_tx.clone());
                            self.conns.insert((peer, conn), tasks);
                        }
                    }
                    (Err(e), Some(s)) => {
                        tracing::debug!(session = ?name, error = %e, "BGP connect failed");
                        s.handle_closed(now, conn);
                    }
                    (_, None) => {}
                }
            }
            NetEvent::Accepted { stream, from } => {
                let slot = self
                    .peers
                    .iter()
                    .position(|p| p.as_ref().is_some_and(|p| p.spec.addr == from.ip()));
                let Some(pi) = slot else {
                    tracing::warn!(%from, "BGP connection from an address that is no configured peer; closed");
                    return;
                };
                match self.session(pi).and_then(|s| s.handle_incoming(now)) {
                    Some(conn) => {
                        let tasks = tcp::spawn(stream, pi, conn, self.net_tx.clone());
                        self.conns.insert((pi, conn), tasks);
                    }
                    None => tracing::debug!(%from, "BGP connection refused by the session state"),
                }
            }
            NetEvent::Data {
                peer, conn, data, ..
            } => {
                if let Some(s) = self.session(peer) {
                    s.handle_data(now, conn, &data);
                }
            }
            NetEvent::Closed { peer, conn } => {
                if let Some(c) = self.conns.remove(&(peer, conn)) {
                    c.close();
                    if let Some(s) = self.session(peer) {
                        s.handle_closed(now, conn);
                    }
                }
            }
        }
    }

    async fn command(&mut self, cmd: BgpCommand) {
        let now = Instant::now();
        match cmd {
            BgpCommand::Tunnel { tunnel, up } => {
                if up {
                    self.tunnels_up.insert(tunnel);
                } else {
                    self.tunnels_up.remove(&tunnel);
                }
                for p in self
                    .peers
                    .iter_mut()
                    .flatten()
                    .filter(|p| p.spec.tunnel() == Some(tunnel))
                {
                    match (up, p.started) {
                        (true, false) => {
                            p.started = true;
                            p.session.start(now);
                        }
                        (true, true) => p.session.transport_up(now),
                        (false, _) => p.session.transport_down(now),
                    }
                }
            }
            BgpCommand::Reconfigure(r) => self.reconfigure(*r),
            BgpCommand::AddInbound(tx) => {
                let learned = tunnel_ribs(&self.peers);
                self.routes.add_inbound(tx, &learned).await;
            }
        }
    }

    /// Carries out every session's actions and events, and passes routes
    /// between the sides (which makes more actions, but no events).
    async fn drive(&mut self) {
        loop {
            for pi in 0..self.peers.len() {
                while let Some(a) = self.session(pi).and_then(Session::poll_action) {
                    self.action(pi, a);
                }
                while let Some(e) = self.session(pi).and_then(Session::poll_event) {
                    self.event(pi, e);
                }
            }
            if !self.lan_dirty && !self.azure_dirty {
                break;
            }
            let now = Instant::now();
            match self.redistribute_at {
                Some(at) if at <= now => {
                    self.redistribute_at = None;
                    self.redistribute();
                    // What we advertise changed: status shows it now.
                    self.publish();
                }
                Some(_) => break,
                None => {
                    self.redistribute_at = Some(now + REDISTRIBUTE_DELAY);
                    break;
                }
            }
        }
        let learned = tunnel_ribs(&self.peers);
        self.routes.flush(&learned).await;
    }

    fn action(&mut self, pi: usize, a: Action) {
        match a {
            Action::Connect(conn) => {
                let Some(p) = self.peers.get(pi).and_then(Option::as_ref) else {
                    return;
                };
                // A dial gives up when the session would retry anyway.
                let (local, peer, ttl, timeout) = (
                    p.spec.local,
                    SocketAddr::new(p.spec.addr, BGP_PORT),
                    p.spec.ttl,
                    p.session.config().connect_retry,
                );
                let md5: Option<SecretBytes> = p.spec.md5.clone();
                let tx = self.net_tx.clone();
                tokio::spawn(async move {
                    let result =
                        tcp::dial(local, peer, ttl, md5.as_ref().map(|k| k.expose()), timeout)
                            .await;
                    let _ = tx
                        .send(NetEvent::Dialed {
                            peer: pi,
                            conn,
                            result,
                        })
                        .await;
                });
            }
            Action::Send(conn, bytes) => {
                let full = self.conns.get(&(pi, conn)).is_some_and(|c| !c.send(bytes));
                if full {
                    tracing::warn!(
                        queued = tcp::WRITE_QUEUE,
                        "BGP peer does not read what we send; closing the connection"
                    );
                    if let Some(c) = self.conns.remove(&(pi, conn)) {
                        c.close();
                    }
                    if let Some(s) = self.session(pi) {
                        s.handle_closed(Instant::now(), conn);
                    }
                }
            }
            Action::Close(conn) => {
                if let Some(c) = self.conns.remove(&(pi, conn)) {
                    c.close();
                }
            }
        }
    }

    fn event(&mut self, pi: usize, e: Event) {
        self.dirty = true;
        let Some(p) = self.peers.get_mut(pi).and_then(Option::as_mut) else {
            return;
        };
        let tunnel = p.spec.tunnel();
        let now_ms = crate::status::unix_ms(std::time::SystemTime::now());
        match e {
            Event::Established {
                peer_id,
                peer_as,
                hold_time,
            } => {
                p.status.established_count += 1;
                p.status.since_ms = now_ms;
                p.status.peer_id = peer_id.to_string();
                p.status.peer_as = peer_as;
                p.status.hold_time = hold_time;
                p.status.last_error.clear();
            }
            Event::Down(reason) => {
                p.status.last_error = reason.to_string();
                p.status.since_ms = now_ms;
            }
            Event::RouteUpdated { prefix, .. } | Event::RouteWithdrawn { prefix } => match tunnel {
                Some(_) => {
                    self.routes.changed(prefix);
                    self.lan_dirty = true;
                }
                None => self.azure_dirty = true,
            },
        }
    }

    fn publish(&mut self) {
        if !self.dirty {
            return;
        }
        self.dirty = false;
        let installed = self.routes.installed();
        let kernel_errors = self.routes.kernel_errors;
        let names = &self.names;
        let mut tunnels: Vec<(String, BgpStatus)> = Vec::new();
        let mut lan: Vec<(String, BgpStatus)> = Vec::new();
        for p in self.peers.iter_mut().flatten() {
            let s = &p.session;
            let st = s.stats();
            p.status.state = s.state().name().into();
            p.status.learned_count = s.rib().len();
            p.status.learned = s
                .rib()
                .iter()
                .take(status::MAX_LISTED_ROUTES)
                .map(|(n, r)| (n.to_string(), as_path_text(&r.as_path)))
                .collect();
            p.status.advertised = s
                .advertised()
                .keys()
                .take(status::MAX_LISTED_ROUTES)
                .map(|n| n.to_string())
                .collect();
            p.status.advertised_count = s.advertised().len();
            p.status.filtered = st.prefixes_filtered;
            p.status.treat_as_withdraw = st.treat_as_withdraw;
            p.status.updates_received = st.updates_received;
            p.status.updates_sent = st.updates_sent;
            match p.spec.tunnel() {
                Some(t) => {
                    p.status.kernel_routes = installed;
                    p.status.kernel_errors = kernel_errors;
                    let name = names.get(t).cloned().unwrap_or_default();
                    tunnels.push((name, p.status.clone()));
                }
                None => lan.push((p.spec.addr.to_string(), p.status.clone())),
            }
        }
        let routing = self.routing_status();
        let routes_count = self.routes.count(&tunnel_ribs(&self.peers));
        status::update(&self.board, |b| {
            b.routes_count = routes_count;
            for (name, st) in tunnels {
                if let Some(t) = b.tunnels.get_mut(&name) {
                    t.bgp = Some(st);
                }
            }
            for (addr, st) in lan {
                b.bgp_lan.insert(addr, st);
            }
            b.routing = routing;
        });
    }
}

/// The tunnels' sessions' tables, for the forwarding table.
fn tunnel_ribs(peers: &[Option<Peer>]) -> Vec<(usize, &bgp::Rib)> {
    peers
        .iter()
        .flatten()
        .filter_map(|p| p.spec.tunnel().map(|t| (t, p.session.rib())))
        .collect()
}

fn as_path_text(p: &bgp::wire::AsPath) -> String {
    p.segments
        .iter()
        .map(|s| {
            let asns: Vec<String> = s.asns().iter().map(u32::to_string).collect();
            match s {
                bgp::wire::AsSegment::Sequence(_) => asns.join(" "),
                _ => format!("{{{}}}", asns.join(",")),
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}
