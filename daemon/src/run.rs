//! Daemon start-up, signal handling and shutdown.

use crate::bgp_plane::{self, BgpCommand, BgpPlane, RouteSink, Routes};
use crate::control::{Control, Inputs};
use crate::dataplane::fib::Fib;
use crate::dataplane::inbound::{IkeDatagram, InCommand, InTunnel, Inbound};
use crate::dataplane::outbound::{OutCommand, OutTunnel, Outbound};
use crate::dataplane::report::{self, Activities, SaReport};
use crate::dataplane::transport::{Kind, TransportSocket};
use crate::notify::notify;
use crate::status;
use config::{Config, Transport};
use esp::{InboundSa, InboundSad, OutboundSa};
use ike::sa::NAT_T_PORT;
use ipnet::IpNet;
use std::collections::{BTreeMap, HashMap};
use std::error::Error;
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::{mpsc, watch};
use tun::{AsyncTun, Netlink, RouteAttrs, RouteWatch, Tun, TunOptions};

pub type BoxError = Box<dyn Error + Send + Sync>;

pub async fn run(config_path: &Path) -> Result<(), BoxError> {
    let cfg = config::load(config_path)?;
    let tun = Tun::create(&cfg.tun.name, TunOptions::default())
        .map_err(|e| format!("cannot create TUN {}: {e}", cfg.tun.name))?;
    tun.set_mtu(cfg.tun.mtu)?;
    tun.set_up()?;
    let ifindex = tun.ifindex();
    let tun_name = tun.name().to_string();
    let nl = Netlink::new()?;
    for a in &cfg.tun.addresses {
        nl.add_address(ifindex, a.addr(), a.prefix_len()).await?;
    }
    for (r, _) in static_routes(&cfg) {
        nl.add_route(ifindex, r.addr(), r.prefix_len(), RouteAttrs::default())
            .await
            .map_err(|e| format!("cannot add route {r} via {tun_name}: {e}"))?;
    }
    let tun = Arc::new(AsyncTun::new(tun)?);
    let board = status::new_board();
    let (reports_tx, reports_rx) = mpsc::unbounded_channel();
    let (dp, ike_rx) = build_dataplane(&cfg, &tun, &board, reports_tx)?;
    for w in &cfg.warnings {
        tracing::warn!(warning = %w, "configuration");
    }
    let (bgp_tx, bgp_rx) = mpsc::unbounded_channel();
    let statics = static_routes(&cfg);
    let sink = RouteSink {
        nl,
        ifindex,
        table: cfg.bgp.as_ref().map_or(254, |b| b.route_table),
        metric: cfg.bgp.as_ref().map_or(100, |b| b.route_metric),
        out: dp.out_commands.clone(),
        inbound: dp.in_commands.clone(),
        board: board.clone(),
        names: cfg
            .tunnels
            .iter()
            .map(|t| t.get_ref().name.clone())
            .collect(),
    };
    let mut bgp = BgpPlane::new(&cfg, Routes::new(sink, statics), board.clone(), bgp_rx)?;
    if let Some(b) = bgp.as_mut() {
        b.start_manual(&cfg);
    }
    let (paths_tx, paths_rx) = mpsc::channel(64);
    let watch = RouteWatch::new().map_err(|e| format!("cannot watch netlink: {e}"))?;
    let endpoints = cfg
        .tunnels
        .iter()
        .enumerate()
        .map(|(tunnel, t)| crate::underlay::Endpoints {
            tunnel,
            local: t.get_ref().local,
            peer: t.get_ref().peer,
        })
        .collect();
    let underlay_task = tokio::spawn(crate::underlay::watch(watch, endpoints, paths_tx));
    let inputs = Inputs {
        ike: ike_rx,
        reports: reports_rx,
        paths: paths_rx,
    };
    let control = Control::new(&cfg, &dp, board.clone(), inputs)
        .await?
        .with_bgp(bgp_tx.clone());
    let Dataplane {
        outbound, inbounds, ..
    } = dp;

    let listener = status::bind(&cfg.daemon.status_socket).map_err(|e| {
        format!(
            "cannot bind status socket {}: {e}",
            cfg.daemon.status_socket.display()
        )
    })?;
    let status_task = tokio::spawn(status::serve(listener, board.clone()));

    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = vec![tokio::spawn(outbound.run(stop_rx.clone()))];
    for i in inbounds {
        tasks.push(tokio::spawn(i.run(stop_rx.clone())));
    }
    // The control plane stops first: it sends DELETEs through the sockets
    // while the data plane still runs.
    let (ctl_stop_tx, ctl_stop_rx) = watch::channel(false);
    let control_task = tokio::spawn(control.run(ctl_stop_rx));
    // BGP stops first of all: its Cease must cross the tunnel.
    let (bgp_stop_tx, bgp_stop_rx) = watch::channel(false);
    let bgp_task = bgp.map(|b| tokio::spawn(b.run(bgp_stop_rx)));
    tracing::info!(tun = %tun_name, tunnels = cfg.tunnels.len(), "vwand running");
    notify("READY=1");

    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut hup = signal(SignalKind::hangup())?;
    loop {
        tokio::select! {
            _ = term.recv() => break,
            _ = int.recv() => break,
            _ = hup.recv() => reload(config_path, &bgp_tx),
        }
    }
    tracing::info!("shutting down");
    notify("STOPPING=1");
    let _ = bgp_stop_tx.send(true);
    if let Some(t) = bgp_task {
        if tokio::time::timeout(Duration::from_secs(3), t)
            .await
            .is_err()
        {
            tracing::warn!("the BGP plane did not stop in time");
        }
    }
    let _ = ctl_stop_tx.send(true);
    if tokio::time::timeout(Duration::from_secs(3), control_task)
        .await
        .is_err()
    {
        tracing::warn!("the control plane did not stop in time");
    }
    let _ = stop_tx.send(true);
    for t in tasks {
        if tokio::time::timeout(Duration::from_secs(5), t)
            .await
            .is_err()
        {
            tracing::warn!("a data-plane task did not stop in time");
        }
    }
    status_task.abort();
    underlay_task.abort();
    let _ = std::fs::remove_file(&cfg.daemon.status_socket);
    let summary = status::compact_json(&board);
    tracing::info!(%summary, "final counters");
    Ok(())
}

/// SIGHUP: a bad file is refused and everything keeps running. Manual SAs
/// are not re-keyed live: changing keys by hand needs both ends to switch
/// at once, which is what IKE is for.
///
/// BGP advertisements (`[bgp] advertise`, `prepend`) change live: the
/// difference goes out as UPDATEs and withdrawals.
fn reload(path: &Path, bgp: &mpsc::UnboundedSender<BgpCommand>) {
    match config::load(path) {
        Ok(cfg) => {
            for w in &cfg.warnings {
                tracing::warn!(warning = %w, "configuration");
            }
            let _ = bgp.send(BgpCommand::Export(bgp_plane::exports(&cfg)));
            tracing::info!(
                "configuration re-read and valid; BGP advertisements updated, other changes take effect at restart"
            );
        }
        Err(e) => tracing::error!(error = %e, "reload refused; keeping the running configuration"),
    }
}

/// Routes into the TUN at start: each tunnel's `routes`, and the host
/// route of its BGP peer, pinned to that tunnel.
fn static_routes(cfg: &Config) -> Vec<(IpNet, usize)> {
    let mut out = Vec::new();
    for (ti, t) in cfg.tunnels.iter().enumerate() {
        let t = t.get_ref();
        out.extend(t.routes.iter().map(|r| (r.trunc(), ti)));
        if let Some(b) = &t.bgp {
            out.push((IpNet::from(*b.peer.get_ref()), ti));
        }
    }
    out
}

/// The data plane's tasks, and what the control plane needs to steer them.
pub struct Dataplane {
    pub outbound: Outbound,
    pub inbounds: Vec<Inbound>,
    pub sockets: Vec<Arc<TransportSocket>>,
    /// Per socket, the command channel of its inbound task.
    pub in_commands: Vec<mpsc::Sender<InCommand>>,
    pub out_commands: mpsc::Sender<OutCommand>,
    pub ike_tx: mpsc::Sender<IkeDatagram>,
    /// Per tunnel, what the data plane saw (for liveness).
    pub activity: Activities,
}

fn socket_for(
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

fn build_dataplane(
    cfg: &Config,
    tun: &Arc<AsyncTun>,
    board: &status::Board,
    reports: mpsc::UnboundedSender<SaReport>,
) -> Result<(Dataplane, mpsc::Receiver<IkeDatagram>), BoxError> {
    let activity = report::activities(cfg.tunnels.len());
    let now = Instant::now();
    let mut socket_index: BTreeMap<(Kind, IpAddr), usize> = BTreeMap::new();
    let mut sockets = Vec::new();
    let mut out_tunnels = Vec::new();
    let mut in_tunnels = Vec::new();
    let mut manual_inbound: Vec<(usize, usize, InboundSa)> = Vec::new();

    let fib = static_routes(cfg);
    for (ti, spanned) in cfg.tunnels.iter().enumerate() {
        let t = spanned.get_ref();
        let kind = match t.transport {
            Transport::Raw => Kind::Raw,
            Transport::Udp => Kind::Udp { port: t.udp_port },
        };
        let s = socket_for(kind, t.local, cfg, &mut socket_index, &mut sockets)
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
                Some(OutboundSa::new(&m.outbound_params(t), now)?)
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
        out_tunnels.push(OutTunnel::new(
            t.name.clone(),
            sa,
            s,
            sockets[s].peer_addr(t.peer),
        ));
        in_tunnels.push(InTunnel {
            name: t.name.clone(),
            peer: t.peer,
            policy_drops: 0,
            wrong_peer: 0,
            batch: 0,
        });
        status::update(board, |st| {
            st.tunnels.insert(t.name.clone(), entry);
        });
    }

    let (ike_tx, ike_rx) = mpsc::channel(256);
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
        let is_nat_t = socket.kind() == (Kind::Udp { port: NAT_T_PORT });
        inbounds.push(Inbound {
            socket: socket.clone(),
            tun: tun.clone(),
            sad,
            by_spi,
            tunnels: in_tunnels.clone(),
            policy: Fib::new(fib.clone()),
            board: board.clone(),
            commands: rx,
            ike: is_nat_t.then(|| ike_tx.clone()),
            activity: activity.clone(),
            reports: reports.clone(),
        });
    }
    let (out_tx, out_rx) = mpsc::channel(64);
    let outbound = Outbound {
        tun: tun.clone(),
        sockets: sockets.clone(),
        tunnels: out_tunnels,
        fib: Fib::new(fib),
        board: board.clone(),
        commands: out_rx,
        activity: activity.clone(),
        reports,
    };
    Ok((
        Dataplane {
            outbound,
            inbounds,
            sockets,
            in_commands,
            out_commands: out_tx,
            ike_tx,
            activity,
        },
        ike_rx,
    ))
}
