//! The control plane: one task that carries the IKE endpoint's datagrams
//! over UDP 500 and 4500, feeds it timers and what the data plane saw, and
//! carries out what it decides. Every protocol decision (which SA a
//! datagram belongs to, whether a new SA may start, when a tunnel is
//! suspect or dead, when to rekey) is made in `ike::endpoint`; this task
//! only moves bytes, timers and data-plane commands.

mod events;
mod install;
mod reconfigure;
mod udp500;

pub use reconfigure::ControlCommand;

use crate::bgp_plane::BgpCommand;
use crate::dataplane::inbound::{IkeDatagram, InCommand};
use crate::dataplane::outbound::OutCommand;
use crate::dataplane::report::{Activities, SaReport};
use crate::dataplane::socket::Outgoing;
use crate::dataplane::socket::{Kind, TransportSocket};
use crate::droplog::DropLog;
use crate::run::BoxError;
use crate::setup::Dataplane;
use crate::status::{self, Board, IkeStatus};
use crate::underlay::PathChange;
use config::Config;
use ike::crypto::SystemRng;
use ike::endpoint::{Datagram, DatagramEvent, Dropped, Endpoint, TunnelId};
use ike::sa::NAT_T_PORT;
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot, watch};

/// How often the data plane's counters are sampled for liveness.
const OBSERVE_EVERY: Duration = Duration::from_millis(20);
/// A data-plane change not confirmed within this is counted as slow (it
/// still happens: the channels never drop a command).
const ACK_WAIT: Duration = Duration::from_millis(500);

/// A Child SA in the data plane.
struct Installed {
    inbound: u32,
    socket: usize,
    /// Held back until the IKE SA says the peer is ready for it.
    pending_outbound: Option<(esp::OutboundSa, SocketAddr)>,
}

/// What the control plane keeps per IKE tunnel beyond the endpoint.
struct TunnelCtl {
    index: usize,
    name: String,
    local: IpAddr,
    peer: IpAddr,
    raw: bool,
    children: Vec<Installed>,
    status: IkeStatus,
    /// The current Child SA's transform, ESN and selectors, for status.
    transform: (String, bool, String),
    /// Send failures seen so far (the data plane's cumulative count).
    unreachable: u64,
    /// The socket ESP uses now, as status shows it ("udp a:4500", "esp a").
    transport: String,
}

pub struct Control {
    ep: Endpoint,
    /// By tunnel index; `None` for manually keyed tunnels.
    tunnels: Vec<Option<TunnelCtl>>,
    udp500: udp500::Udp500,
    sockets: Vec<Arc<TransportSocket>>,
    socket_index: BTreeMap<(Kind, IpAddr), usize>,
    in_commands: Vec<mpsc::Sender<InCommand>>,
    out_commands: mpsc::Sender<OutCommand>,
    ike_rx: mpsc::Receiver<IkeDatagram>,
    reports: mpsc::UnboundedReceiver<SaReport>,
    activity: Activities,
    paths: mpsc::Receiver<PathChange>,
    commands: mpsc::Receiver<ControlCommand>,
    board: Board,
    /// Data-plane changes not yet confirmed: IKE messages wait for them.
    acks: Vec<oneshot::Receiver<()>>,
    slow_acks: u64,
    /// Tunnel up/down, for the BGP sessions they carry.
    bgp: Option<mpsc::UnboundedSender<BgpCommand>>,
    /// IKE_SA_INIT requests refused or ignored: a flood must not flood
    /// the log.
    init_log: DropLog,
}

/// The channels the control plane reads besides IKE datagrams.
pub struct Inputs {
    pub ike: mpsc::Receiver<IkeDatagram>,
    pub reports: mpsc::UnboundedReceiver<SaReport>,
    pub paths: mpsc::Receiver<PathChange>,
    pub commands: mpsc::Receiver<ControlCommand>,
}

/// Whether the SAs keep a line per IKE message for the debug log.
fn log_messages() -> bool {
    tracing::enabled!(target: "vwand::ike", tracing::Level::DEBUG)
}

impl Control {
    pub async fn new(
        cfg: &Config,
        dp: &Dataplane,
        board: Board,
        inputs: Inputs,
    ) -> Result<Self, BoxError> {
        let now = Instant::now();
        let source = Box::new(|| Box::new(SystemRng::new()) as Box<dyn ike::crypto::Rng + Send>);
        let mut ep = Endpoint::new(cfg.endpoint_config(), now, source)
            .map_err(|e| format!("IKE endpoint: {e}"))?;
        let mut tunnels = Vec::new();
        let mut configs = Vec::new();
        for (index, spanned) in cfg.tunnels.iter().enumerate() {
            let t = spanned.get_ref();
            let Some(tc) = cfg.tunnel_config(index) else {
                tunnels.push(None);
                continue;
            };
            let mut tc = tc;
            tc.ike.log_messages = log_messages();
            configs.push((TunnelId(index), tc));
            tunnels.push(Some(TunnelCtl {
                index,
                name: t.name.clone(),
                local: t.local,
                peer: t.peer,
                raw: t.transport == config::Transport::Raw,
                children: Vec::new(),
                status: IkeStatus::default(),
                transform: Default::default(),
                unreachable: 0,
                transport: String::new(),
            }));
        }
        let socket_index = dp
            .sockets
            .iter()
            .enumerate()
            .map(|(i, s)| ((s.kind(), s.local_addr().ip()), i))
            .collect();
        let mut udp500 = udp500::Udp500::new(dp.ike_tx.clone());
        for t in tunnels.iter().flatten() {
            udp500.open(t.local, t.peer)?;
        }
        // Tunnels join the endpoint once the sockets are bound:
        // initiators start at once.
        for (id, tc) in configs {
            ep.add_tunnel(id, tc, now);
        }
        Ok(Self {
            ep,
            tunnels,
            udp500,
            sockets: dp.sockets.clone(),
            socket_index,
            in_commands: dp.in_commands.clone(),
            out_commands: dp.out_commands.clone(),
            ike_rx: inputs.ike,
            reports: inputs.reports,
            activity: dp.activity.clone(),
            paths: inputs.paths,
            commands: inputs.commands,
            board,
            acks: Vec::new(),
            slow_acks: 0,
            bgp: None,
            init_log: DropLog::new("IKE_SA_INIT not admitted"),
        })
    }

    pub fn with_bgp(mut self, tx: mpsc::UnboundedSender<BgpCommand>) -> Self {
        self.bgp = Some(tx);
        self
    }

    fn tell_bgp(&self, tunnel: usize, up: bool) {
        if let Some(tx) = &self.bgp {
            let _ = tx.send(BgpCommand::Tunnel { tunnel, up });
        }
    }

    pub async fn run(mut self, mut stop: watch::Receiver<bool>) {
        let mut observe = tokio::time::interval(OBSERVE_EVERY);
        observe.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        self.flush().await;
        loop {
            let deadline = self.ep.poll_timeout();
            let sleep = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d.into()).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                Some(d) = self.ike_rx.recv() => self.datagram(d),
                _ = sleep => self.ep.handle_timeout(Instant::now()),
                _ = observe.tick() => self.observe(Instant::now()),
                Some(r) = self.reports.recv() => {
                    self.ep.sa_event(Instant::now(), TunnelId(r.tunnel), r.event);
                }
                Some(p) = self.paths.recv() => self.path_change(p),
                Some(c) = self.commands.recv() => self.reconfigure(c).await,
                _ = stop.changed() => break,
            }
            self.flush().await;
        }
        self.shutdown().await;
    }

    /// Samples the data plane's counters: ESP out without ESP back starts
    /// a liveness check; a send the kernel refused as unreachable takes the
    /// tunnel's flows off at once.
    fn observe(&mut self, now: Instant) {
        for t in self.tunnels.iter_mut().flatten() {
            let Some(a) = self.activity.get(t.index) else {
                continue;
            };
            let (tx, rx, unreachable) = a.sample();
            let id = TunnelId(t.index);
            self.ep.observe(now, id, tx, rx);
            if unreachable > t.unreachable {
                t.unreachable = unreachable;
                self.ep.path_down(now, id);
            }
        }
    }

    fn path_change(&mut self, p: PathChange) {
        let now = Instant::now();
        let id = TunnelId(p.tunnel);
        let name = self.name(p.tunnel);
        if p.reachable {
            tracing::info!(tunnel = %name, "the underlay path to the peer is back");
            self.ep.path_up(now, id);
        } else {
            tracing::warn!(tunnel = %name, why = %p.why, "the underlay path to the peer is gone");
            self.ep.path_down(now, id);
        }
    }

    fn name(&self, tunnel: usize) -> String {
        self.tunnels
            .get(tunnel)
            .and_then(Option::as_ref)
            .map_or_else(|| format!("#{tunnel}"), |t| t.name.clone())
    }

    fn datagram(&mut self, d: IkeDatagram) {
        let ev = self.ep.handle(Instant::now(), d.local, d.from, &d.data);
        match ev {
            DatagramEvent::Routed(_) | DatagramEvent::NewSa(_) => {}
            DatagramEvent::Cookie => {
                tracing::debug!(peer = %d.from, "IKE_SA_INIT answered with a cookie");
            }
            DatagramEvent::Refused(t, reason) => {
                if self.init_log.allow() {
                    tracing::warn!(tunnel = %self.name(t.0), peer = %d.from, %reason, "IKE_SA_INIT refused");
                }
            }
            DatagramEvent::Dropped(why @ (Dropped::Unconfigured | Dropped::HalfOpenCap)) => {
                if self.init_log.allow() {
                    tracing::warn!(from = %d.from, half_open = self.ep.half_open(), "{why}: dropped");
                }
            }
            DatagramEvent::Dropped(why) => {
                tracing::trace!(from = %d.from, "{why}: dropped");
            }
        }
    }

    /// Carries out what the endpoint decided: data-plane changes first
    /// (and confirmed), then the IKE messages that may depend on them.
    async fn flush(&mut self) {
        while let Some((id, ev)) = self.ep.poll_event() {
            self.event(id.0, ev).await;
        }
        // Make-before-break, in order: SAs are in the data plane before
        // the peer hears of them, and outbound has switched before the
        // peer hears that the old SA is gone.
        for done in std::mem::take(&mut self.acks) {
            if tokio::time::timeout(ACK_WAIT, done).await.is_err() {
                self.slow_acks += 1;
                tracing::warn!("the data plane took over {ACK_WAIT:?} to apply an SA change");
            }
        }
        while let Some(d) = self.ep.poll_transmit() {
            self.send(d).await;
        }
        while let Some((id, line)) = self.ep.poll_message_log() {
            tracing::debug!(target: "vwand::ike", tunnel = %self.name(id.0), "{line}");
        }
        self.publish();
    }

    async fn send(&mut self, d: Datagram) {
        if d.local.port() == NAT_T_PORT {
            // RFC 3948 §2.2: IKE on 4500 carries the non-ESP marker.
            let Some(&s) = self
                .socket_index
                .get(&(Kind::Udp { port: NAT_T_PORT }, d.local.ip()))
            else {
                return;
            };
            let mut data = vec![0u8; 4];
            data.extend_from_slice(&d.data);
            let msg = [Outgoing {
                data: &data,
                to: d.remote,
            }];
            self.sockets[s].send_all(&msg, |_, _| {}).await;
        } else if let Some(s) = self.udp500.sender(d.local.ip()) {
            if let Err(e) = s.send_to(&d.data, d.remote).await {
                tracing::debug!(error = %e, to = %d.remote, "IKE send failed");
            }
        }
    }

    /// SIGTERM: DELETE every IKE SA and wait briefly for the answers.
    async fn shutdown(&mut self) {
        self.ep.close_all(Instant::now());
        self.flush().await;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(1);
        while !self.ep.is_closed() {
            let next = self.ep.poll_timeout();
            tokio::select! {
                Some(d) = self.ike_rx.recv() => self.datagram(d),
                _ = async {
                    match next {
                        Some(t) => tokio::time::sleep_until(t.into()).await,
                        None => std::future::pending().await,
                    }
                } => self.ep.handle_timeout(Instant::now()),
                _ = tokio::time::sleep_until(deadline) => break,
            }
            self.flush().await;
        }
        self.udp500.abort_all();
    }
}

impl Control {
    fn publish(&self) {
        let s = self.ep.stats();
        let c = self.ep.cookie_stats();
        let responder = status::IkeResponderStatus {
            half_open: self.ep.half_open(),
            cookies_required: self.ep.cookies_required(),
            cookies_sent: c.sent,
            cookies_verified: c.verified,
            cookies_invalid: c.invalid,
            half_open_refused: c.refused,
            half_open_expired: s.half_open_expired,
            undecodable: s.undecodable,
            unknown_spi: s.unknown_spi,
            unconfigured: s.unconfigured,
            refused: s.refused,
            unexpected: s.unexpected,
            simultaneous_start: s.simultaneous_start,
            liveness_checks: s.liveness_checks,
            suspects: s.suspects,
            dataplane_slow_acks: self.slow_acks,
        };
        let now = Instant::now();
        let wall = std::time::SystemTime::now();
        status::update(&self.board, |b| {
            b.control_pass = Some(now);
            b.ike = responder;
            for t in self.tunnels.iter().flatten() {
                let Some(e) = b.tunnels.get_mut(&t.name) else {
                    continue;
                };
                e.ike = Some(t.status.clone());
                e.transform.clone_from(&t.transform.0);
                e.esn = t.transform.1;
                e.selectors.clone_from(&t.transform.2);
                if !t.transport.is_empty() {
                    e.transport.clone_from(&t.transport);
                }
                if let Some(a) = self.activity.get(t.index) {
                    let (tx, rx, _) = a.sample();
                    e.esp_packets_out = tx;
                    e.esp_packets_in = rx;
                }
                if let Some(info) = self.ep.tunnel(TunnelId(t.index)) {
                    e.health = info.health.name().into();
                    e.health_reason = events::health_reason(&info.health);
                    let ago = now.saturating_duration_since(info.since);
                    e.health_since_ms = status::unix_ms(wall - ago);
                    e.liveness_rtt_ms = info.rtt.map(|r| r.as_secs_f64() * 1000.0);
                    let at = |t: Option<Instant>| {
                        t.map_or(0, |t| {
                            status::unix_ms(wall + t.saturating_duration_since(now))
                        })
                    };
                    if let Some(ike) = e.ike.as_mut() {
                        ike.child_rekey_at_ms = at(info.child_rekey_at);
                        ike.ike_rekey_at_ms = at(info.ike_rekey_at);
                    }
                }
            }
        });
    }
}
