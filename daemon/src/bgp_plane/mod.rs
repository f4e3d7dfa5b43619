//! The BGP plane: one sans-IO `bgp::Session` per tunnel that has
//! `[tunnel.bgp]`, driven from one task that owns every TCP connection,
//! kernel route and forwarding-table update.

mod routes;
mod tcp;

pub use routes::{RouteSink, Routes};

use crate::status::{self, BgpStatus, Board};
use bgp::{Action, ConnId, Event, ImportPolicy, Session, SessionConfig};
use config::Config;
use esp::SecretBytes;
use ipnet::IpNet;
use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};
use tcp::{ConnTasks, NetEvent, BGP_PORT};
use tokio::sync::{mpsc, watch};

/// From the control plane and the reload handler.
pub enum BgpCommand {
    /// A tunnel's SAs are up (true) or its IKE SA died (false).
    Tunnel { tunnel: usize, up: bool },
    /// New advertisements after a reload: per tunnel, prefixes and prepend.
    Export(Vec<(usize, Vec<IpNet>, u8)>),
}

struct Peer {
    tunnel: usize,
    session: Session,
    addr: IpAddr,
    local: IpAddr,
    ttl: u8,
    md5: Option<SecretBytes>,
    started: bool,
    status: BgpStatus,
}

pub struct BgpPlane {
    peers: Vec<Peer>,
    conns: HashMap<(usize, ConnId), ConnTasks>,
    net_tx: mpsc::UnboundedSender<NetEvent>,
    net_rx: mpsc::UnboundedReceiver<NetEvent>,
    commands: mpsc::UnboundedReceiver<BgpCommand>,
    routes: Routes,
    board: Board,
    tunnel_names: Vec<String>,
    dirty: bool,
}

/// The sessions a configuration describes, by tunnel index.
pub fn sessions(cfg: &Config) -> Vec<(usize, SessionConfig)> {
    let Some(b) = &cfg.bgp else {
        return Vec::new();
    };
    let router_id = b.router_id(cfg).unwrap_or(std::net::Ipv4Addr::UNSPECIFIED);
    let protect: Vec<IpAddr> = cfg
        .tunnels
        .iter()
        .flat_map(|t| [t.get_ref().peer, t.get_ref().local])
        .collect();
    // The IPv6 next hop when the session runs over IPv4.
    let v6_local = cfg.tun.addresses.iter().find_map(|a| match a.addr() {
        IpAddr::V6(v6) => Some(v6),
        IpAddr::V4(_) => None,
    });
    let mut out = Vec::new();
    for (ti, t) in cfg.tunnels.iter().enumerate() {
        let t = t.get_ref();
        let Some(s) = &t.bgp else { continue };
        let local = s.local(cfg).unwrap_or(IpAddr::V4(router_id));
        out.push((
            ti,
            SessionConfig {
                name: t.name.clone(),
                local_as: *b.asn.get_ref(),
                remote_as: s.remote_as,
                router_id,
                hold_time: *b.hold_time.get_ref(),
                connect_retry: Duration::from_secs(b.connect_retry_seconds.max(1)),
                idle_hold: Duration::from_secs(1),
                passive: s.passive,
                ipv4: true,
                ipv6: true,
                import: ImportPolicy {
                    allow: s.import.clone(),
                    protect: protect.clone(),
                    max_prefixes: s.max_prefixes,
                },
                next_hop_v4: match local {
                    IpAddr::V4(a) => Some(a),
                    IpAddr::V6(_) => None,
                },
                next_hop_v6: match local {
                    IpAddr::V6(a) => Some(a),
                    IpAddr::V4(_) => v6_local,
                },
            },
        ));
    }
    out
}

/// What each session advertises under `cfg`.
pub fn exports(cfg: &Config) -> Vec<(usize, Vec<IpNet>, u8)> {
    let Some(b) = &cfg.bgp else {
        return Vec::new();
    };
    cfg.tunnels
        .iter()
        .enumerate()
        .filter_map(|(ti, t)| {
            let s = t.get_ref().bgp.as_ref()?;
            Some((ti, b.advertised(), *s.prepend.get_ref()))
        })
        .collect()
}

impl BgpPlane {
    pub fn new(
        cfg: &Config,
        routes: Routes,
        board: Board,
        commands: mpsc::UnboundedReceiver<BgpCommand>,
    ) -> std::io::Result<Option<Self>> {
        let configs = sessions(cfg);
        if configs.is_empty() {
            return Ok(None);
        }
        let (net_tx, net_rx) = mpsc::unbounded_channel();
        let exports = exports(cfg);
        let mut peers = Vec::new();
        for (ti, sc) in configs {
            let t = cfg.tunnels[ti].get_ref();
            let Some(s) = &t.bgp else { continue };
            let mut session = Session::new(sc);
            if let Some((_, p, prepend)) = exports.iter().find(|e| e.0 == ti) {
                session.set_export(p.iter().copied(), *prepend);
            }
            peers.push(Peer {
                tunnel: ti,
                session,
                addr: *s.peer.get_ref(),
                local: s
                    .local(cfg)
                    .unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED)),
                ttl: s.ttl,
                md5: s.md5_password.as_ref().map(|p| p.get_ref().0.clone()),
                started: false,
                status: BgpStatus {
                    peer: s.peer.get_ref().to_string(),
                    state: "Idle".into(),
                    ..BgpStatus::default()
                },
            });
        }
        // One listener per local address, with every peer's MD5 key.
        let mut locals: BTreeMap<IpAddr, Vec<(IpAddr, &[u8])>> = BTreeMap::new();
        let mut ttl = 255;
        for p in &peers {
            let keys = locals.entry(p.local).or_default();
            if let Some(k) = &p.md5 {
                keys.push((p.addr, k.expose()));
            }
            ttl = ttl.min(p.ttl);
        }
        for (local, keys) in &locals {
            let l = tcp::listen(*local, BGP_PORT, ttl, keys).map_err(|e| {
                std::io::Error::new(
                    e.kind(),
                    format!("cannot listen for BGP on {local}:{BGP_PORT}: {e}"),
                )
            })?;
            tokio::spawn(tcp::accept_loop(l, net_tx.clone()));
        }
        Ok(Some(Self {
            peers,
            conns: HashMap::new(),
            net_tx,
            net_rx,
            commands,
            routes,
            board,
            tunnel_names: cfg
                .tunnels
                .iter()
                .map(|t| t.get_ref().name.clone())
                .collect(),
            dirty: true,
        }))
    }

    /// Starts the sessions of tunnels that need no IKE (manual keys).
    pub fn start_manual(&mut self, cfg: &Config) {
        let now = Instant::now();
        for p in &mut self.peers {
            if cfg.tunnels[p.tunnel].get_ref().manual.is_some() {
                p.started = true;
                p.session.start(now);
            }
        }
    }

    pub async fn run(mut self, mut stop: watch::Receiver<bool>) {
        let mut publish = tokio::time::interval(Duration::from_millis(250));
        loop {
            self.drive().await;
            let deadline = self
                .peers
                .iter()
                .filter_map(|p| p.session.poll_timeout())
                .min()
                .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
            tokio::select! {
                biased;
                _ = stop.changed() => break,
                Some(ev) = self.net_rx.recv() => self.net_event(ev),
                Some(cmd) = self.commands.recv() => self.command(cmd),
                _ = tokio::time::sleep_until(deadline.into()) => {
                    let now = Instant::now();
                    for p in &mut self.peers {
                        p.session.handle_timeout(now);
                    }
                }
                _ = publish.tick() => self.publish(),
            }
        }
        // Shutdown: NOTIFICATION Cease to every peer, then close.
        let now = Instant::now();
        for p in &mut self.peers {
            p.session.stop(now);
        }
        self.drive().await;
        let writers: Vec<_> = self
            .conns
            .drain()
            .map(|(_, c)| {
                let _ = c.writer.send(None);
                c.reader.abort();
                c.writer_task
            })
            .collect();
        for w in writers {
            let _ = tokio::time::timeout(Duration::from_secs(1), w).await;
        }
        self.publish();
    }

    fn net_event(&mut self, ev: NetEvent) {
        let now = Instant::now();
        match ev {
            NetEvent::Dialed { peer, conn, result } => match result {
                Ok(stream) => {
                    // A dial the session gave up on is simply closed.
                    if self.peers[peer].session.handle_connected(now, conn) {
                        let tasks = tcp::spawn(stream, peer, conn, self.net_tx.clone());
                        self.conns.insert((peer, conn), tasks);
                    }
                }
                Err(e) => {
                    tracing::debug!(session = %self.peers[peer].session.config().name, error = %e, "BGP connect failed");
                    self.peers[peer].session.handle_closed(now, conn);
                }
            },
            NetEvent::Accepted { stream, from } => {
                let Some(pi) = self.peers.iter().position(|p| p.addr == from.ip()) else {
                    tracing::warn!(%from, "BGP connection from an address that is no configured peer; closed");
                    return;
                };
                match self.peers[pi].session.handle_incoming(now) {
                    Some(conn) => {
                        let tasks = tcp::spawn(stream, pi, conn, self.net_tx.clone());
                        self.conns.insert((pi, conn), tasks);
                    }
                    None => tracing::debug!(%from, "BGP connection refused by the session state"),
                }
            }
            NetEvent::Data { peer, conn, data } => {
                self.peers[peer].session.handle_data(now, conn, &data);
            }
            NetEvent::Closed { peer, conn } => {
                if let Some(c) = self.conns.remove(&(peer, conn)) {
                    c.reader.abort();
                    self.peers[peer].session.handle_closed(now, conn);
                }
            }
        }
    }

    fn command(&mut self, cmd: BgpCommand) {
        let now = Instant::now();
        match cmd {
            BgpCommand::Tunnel { tunnel, up } => {
                for p in self.peers.iter_mut().filter(|p| p.tunnel == tunnel) {
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
            BgpCommand::Export(list) => {
                for (tunnel, prefixes, prepend) in list {
                    for p in self.peers.iter_mut().filter(|p| p.tunnel == tunnel) {
                        p.session.set_export(prefixes.iter().copied(), prepend);
                    }
                }
            }
        }
    }

    /// Carries out every session's actions and events.
    async fn drive(&mut self) {
        for pi in 0..self.peers.len() {
            while let Some(a) = self.peers[pi].session.poll_action() {
                self.action(pi, a);
            }
            while let Some(e) = self.peers[pi].session.poll_event() {
                self.event(pi, e);
            }
        }
        self.routes.flush().await;
    }

    fn action(&mut self, pi: usize, a: Action) {
        match a {
            Action::Connect(conn) => {
                let p = &self.peers[pi];
                // A dial gives up when the session would retry anyway.
                let (local, peer, ttl, timeout) = (
                    p.local,
                    SocketAddr::new(p.addr, BGP_PORT),
                    p.ttl,
                    p.session.config().connect_retry,
                );
                let md5 = p.md5.clone();
                let tx = self.net_tx.clone();
                tokio::spawn(async move {
                    let result =
                        tcp::dial(local, peer, ttl, md5.as_ref().map(|k| k.expose()), timeout)
                            .await;
                    let _ = tx.send(NetEvent::Dialed {
                        peer: pi,
                        conn,
                        result,
                    });
                });
            }
            Action::Send(conn, bytes) => {
                if let Some(c) = self.conns.get(&(pi, conn)) {
                    let _ = c.writer.send(Some(bytes));
                }
            }
            Action::Close(conn) => {
                if let Some(c) = self.conns.remove(&(pi, conn)) {
                    let _ = c.writer.send(None);
                    c.reader.abort();
                }
            }
        }
    }

    fn event(&mut self, pi: usize, e: Event) {
        self.dirty = true;
        let tunnel = self.peers[pi].tunnel;
        let p = &mut self.peers[pi];
        match e {
            Event::Established {
                peer_id,
                peer_as,
                hold_time,
            } => {
                p.status.established_count += 1;
                p.status.peer_id = peer_id.to_string();
                p.status.peer_as = peer_as;
                p.status.hold_time = hold_time;
                p.status.last_error.clear();
            }
            Event::Down(reason) => p.status.last_error = reason.to_string(),
            Event::RouteUpdated { prefix, route } => self.routes.learn(tunnel, prefix, &route),
            Event::RouteWithdrawn { prefix } => self.routes.forget(tunnel, prefix),
        }
    }

    fn publish(&mut self) {
        if !self.dirty {
            return;
        }
        self.dirty = false;
        let installed = self.routes.installed();
        let kernel_errors = self.routes.kernel_errors;
        let updates: Vec<(String, BgpStatus)> = self
            .peers
            .iter_mut()
            .map(|p| {
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
                p.status.advertised = s.advertised().iter().map(|n| n.to_string()).collect();
                p.status.filtered = st.prefixes_filtered;
                p.status.treat_as_withdraw = st.treat_as_withdraw;
                p.status.updates_received = st.updates_received;
                p.status.updates_sent = st.updates_sent;
                p.status.kernel_routes = installed;
                p.status.kernel_errors = kernel_errors;
                (self.tunnel_names[p.tunnel].clone(), p.status.clone())
            })
            .collect();
        status::update(&self.board, |b| {
            for (name, st) in updates {
                if let Some(t) = b.tunnels.get_mut(&name) {
                    t.bgp = Some(st);
                }
            }
        });
    }
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
