//! Building the data plane: a socket per transport and local address,
//! one outbound task, one inbound task per socket, and what the control
//! plane needs to steer them. A reload reuses the pieces for tunnels and
//! sockets it adds (`reload.rs`).

use crate::dataplane::inbound::{IkeDatagram, InCommand, InTunnel, Inbound};
use crate::dataplane::outbound::{OutCommand, OutTunnel, Outbound, Shaping};
use crate::dataplane::report::{self, Activities, SaReport};
use crate::dataplane::route::Fib;
use crate::dataplane::socket::{Kind, TransportSocket};
use crate::run::BoxError;
use crate::status;
use config::{Config, Transport, TunnelSection};
use esp::{InboundSa, InboundSad, OutboundSa};
use ike::sa::NAT_T_PORT;
use ipnet::IpNet;
use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::mpsc;
use tun::AsyncTun;

/// Tunnels a daemon can have over its life (reloads add at the end).
pub const MAX_TUNNELS: usize = 256;

/// The transport socket kind a tunnel's ESP starts on.
pub fn kind_of(t: &TunnelSection) -> Kind {
    match t.transport {
        Transport::Raw => Kind::Raw,
        Transport::Udp => Kind::Udp { port: t.udp_port },
    }
}

/// The inbound tasks' record of a tunnel.
pub fn in_tunnel(t: &TunnelSection) -> InTunnel {
    InTunnel {
        name: t.name.clone(),
        peer: t.peer,
        policy_drops: 0,
        wrong_peer: 0,
        batch: 0,
    }
}

/// What a new inbound task needs besides its socket and tunnels.
#[derive(Clone)]
pub struct InboundParts {
    /// Every TUN queue (the first is the device's own descriptor).
    pub queues: Vec<Arc<AsyncTun>>,
    pub board: status::Board,
    pub ike_tx: mpsc::Sender<IkeDatagram>,
    pub activity: Activities,
    pub reports: mpsc::UnboundedSender<SaReport>,
    pub mss: u16,
}

impl InboundParts {
    /// An inbound task for `socket` (its SAs and forwarding table come by
    /// command).
    pub fn task(
        &self,
        socket: Arc<TransportSocket>,
        tunnels: Vec<InTunnel>,
        policy: Fib,
        sad: InboundSad,
        by_spi: HashMap<u32, usize>,
        commands: mpsc::Receiver<InCommand>,
    ) -> Inbound {
        let is_nat_t = socket.kind() == (Kind::Udp { port: NAT_T_PORT });
        Inbound {
            socket,
            queues: self.queues.clone(),
            sad,
            by_spi,
            tunnels,
            policy,
            board: self.board.clone(),
            commands,
            ike: is_nat_t.then(|| self.ike_tx.clone()),
            activity: self.activity.clone(),
            reports: self.reports.clone(),
            mss: self.mss,
        }
    }
}

/// The data plane's tasks, and what the control plane needs to steer them.
/// The task that copies outbound commands to several queues' workers.
pub type FanOut = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

pub struct Dataplane {
    /// One per TUN queue.
    pub outbounds: Vec<Outbound>,
    /// With several queues: run it, or the workers get no commands.
    pub fan_out: Option<FanOut>,
    pub inbounds: Vec<Inbound>,
    pub sockets: Vec<Arc<TransportSocket>>,
    /// Per socket, the command channel of its inbound task.
    pub in_commands: Vec<mpsc::Sender<InCommand>>,
    pub out_commands: mpsc::Sender<OutCommand>,
    pub ike_tx: mpsc::Sender<IkeDatagram>,
    /// Per tunnel, what the data plane saw (for liveness).
    pub activity: Activities,
    /// Where each (transport, local address) socket is in `sockets`.
    pub socket_index: BTreeMap<(Kind, IpAddr), usize>,
    /// Every tunnel as the inbound tasks know it, for new tasks.
    pub in_tunnels: Vec<InTunnel>,
    pub parts: InboundParts,
}

pub fn socket_for(
    kind: Kind,
    local: IpAddr,
    cfg: &Config,
    index: &mut BTreeMap<(Kind, IpAddr), usize>,
    sockets: &mut Vec<Arc<TransportSocket>>,
) -> Result<usize, BoxError> {
    if let Some(&s) = index.get(&(kind, local)) {
        return Ok(s);
    }
    let sock = TransportSocket::open(kind, local, cfg.daemon.socket_buffer)
        .map_err(|e| format!("cannot open {kind:?} socket on {local}: {e}"))?;
    sockets.push(Arc::new(sock));
    index.insert((kind, local), sockets.len() - 1);
    Ok(sockets.len() - 1)
}

/// Every socket, task and channel of the data plane for `cfg`, with the
/// tunnels at indices 0, 1, …; `statics` are the forwarding table's first
/// entries.
pub fn build_dataplane(
    cfg: &Config,
    tun: &Arc<AsyncTun>,
    extra_queues: &[Arc<AsyncTun>],
    board: &status::Board,
    reports: mpsc::UnboundedSender<SaReport>,
    statics: &[(IpNet, usize)],
) -> Result<(Dataplane, mpsc::Receiver<IkeDatagram>), BoxError> {
    if cfg.tunnels.len() > MAX_TUNNELS {
        return Err(format!("at most {MAX_TUNNELS} tunnels").into());
    }
    let activity = report::activities(MAX_TUNNELS);
    let now = Instant::now();
    let mut socket_index: BTreeMap<(Kind, IpAddr), usize> = BTreeMap::new();
    let mut sockets = Vec::new();
    let mut out_tunnels = Vec::new();
    let mut in_tunnels = Vec::new();
    let mut manual_inbound: Vec<(usize, usize, InboundSa)> = Vec::new();

    let fib = statics.to_vec();
    for (ti, spanned) in cfg.tunnels.iter().enumerate() {
        let t = spanned.get_ref();
        let s = socket_for(kind_of(t), t.local, cfg, &mut socket_index, &mut sockets)
            .map_err(|e| format!("tunnel {}: {e}", t.name))?;
        let mut entry = status::TunnelStatus {
            peer: t.peer.to_string(),
            transport: sockets[s].label(),
            ..Default::default()
        };
        let sa = match (&t.manual, &t.ike) {
            (Some(m), _) => {
                let inbound = InboundSa::new(&m.inbound_params(t), now)?;
                manual_inbound.push((s, ti, inbound));
                entry.transform = m.transform.get_ref().0.to_string();
                entry.esn = m.esn;
                tracing::info!(tunnel = %t.name, peer = %t.peer, transport = %sockets[s].label(),
                    transform = %m.transform.get_ref().0, esn = m.esn, "manual SA pair installed");
                Some(Arc::new(OutboundSa::new(&m.outbound_params(t), now)?))
            }
            (None, Some(_)) => {
                // IKE floats to UDP 4500 when it sees a NAT.
                socket_for(
                    Kind::Udp { port: NAT_T_PORT },
                    t.local,
                    cfg,
                    &mut socket_index,
                    &mut sockets,
                )?;
                entry.ike = Some(status::IkeStatus {
                    state: "connecting".into(),
                    ..Default::default()
                });
                None
            }
            (None, None) => return Err(format!("tunnel {} has no keys", t.name).into()),
        };
        let mut out = OutTunnel::new(t.name.clone(), sa, s, sockets[s].peer_addr(t.peer));
        out.fit(cfg.tun.underlay_mtu);
        out_tunnels.push(out);
        in_tunnels.push(in_tunnel(t));
        status::update(board, |st| {
            st.tunnels.insert(t.name.clone(), entry);
        });
    }

    let (ike_tx, ike_rx) = mpsc::channel(256);
    let parts = InboundParts {
        queues: std::iter::once(tun).chain(extra_queues).cloned().collect(),
        board: board.clone(),
        ike_tx: ike_tx.clone(),
        activity: activity.clone(),
        reports: reports.clone(),
        mss: cfg.tun.mss_clamp,
    };
    let mut inbounds = Vec::new();
    let mut in_commands = Vec::new();
    for (si, socket) in sockets.iter().enumerate() {
        let mut sad = InboundSad::new();
        let mut by_spi = HashMap::new();
        for (s, ti, sa) in std::mem::take(&mut manual_inbound) {
            if s == si {
                by_spi.insert(sa.spi(), ti);
                sad.insert(sa)
                    .map_err(|d| format!("inbound SPI {:#x} used twice", d.0))?;
            } else {
                manual_inbound.push((s, ti, sa));
            }
        }
        let (tx, rx) = mpsc::channel(64);
        in_commands.push(tx);
        inbounds.push(parts.task(
            socket.clone(),
            in_tunnels.clone(),
            Fib::new(fib.clone()),
            sad,
            by_spi,
            rx,
        ));
    }
    let (out_tx, out_rx) = mpsc::channel(64);
    let shaping = Shaping {
        mss: cfg.tun.mss_clamp,
        underlay_mtu: cfg.tun.underlay_mtu,
        from_v4: cfg.tun.addresses.iter().find_map(|a| match a.addr() {
            IpAddr::V4(v4) => Some(v4),
            IpAddr::V6(_) => None,
        }),
        from_v6: cfg.tun.addresses.iter().find_map(|a| match a.addr() {
            IpAddr::V6(v6) => Some(v6),
            IpAddr::V4(_) => None,
        }),
    };
    // One worker per TUN queue; with several, the control plane's
    // commands reach them through `queues::fan_out`.
    let all: Vec<&Arc<AsyncTun>> = std::iter::once(tun).chain(extra_queues).collect();
    let mut outbounds = Vec::new();
    let mut worker_tx = Vec::new();
    let mut out_rx = Some(out_rx);
    let egress = (all.len() > 1).then(|| Arc::new(tokio::sync::Mutex::new(())));
    for (queue, q) in all.iter().enumerate() {
        let commands = if all.len() == 1 {
            out_rx.take().ok_or("one outbound command channel")?
        } else {
            let (tx, rx) = mpsc::channel(64);
            worker_tx.push(tx);
            rx
        };
        outbounds.push(Outbound {
            queue,
            shaping,
            tun: Arc::clone(q),
            sockets: sockets.clone(),
            tunnels: out_tunnels.clone(),
            fib: Fib::new(fib.clone()),
            board: board.clone(),
            commands,
            activity: activity.clone(),
            reports: reports.clone(),
            egress: egress.clone(),
        });
    }
    let fan_out = out_rx.map(|rx| crate::dataplane::queues::fan_out(rx, worker_tx));
    Ok((
        Dataplane {
            outbounds,
            fan_out: fan_out.map(|f| Box::pin(f) as FanOut),
            inbounds,
            sockets,
            in_commands,
            out_commands: out_tx,
            ike_tx,
            activity,
            socket_index,
            in_tunnels,
            parts,
        },
        ike_rx,
    ))
}
