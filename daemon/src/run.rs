//! Daemon start-up, signal handling and shutdown.

use crate::bgp_plane::{spec, BgpPlane, RouteSink, Routes};
use crate::control::{Control, Inputs};
use crate::notify::notify;
use crate::reload::{endpoints, Running};
use crate::setup::{build_dataplane, Dataplane};
use crate::status;
use std::error::Error;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::{mpsc, watch};
use tun::{AsyncTun, Netlink, RouteAttrs, RouteWatch, Tun, TunOptions};

pub type BoxError = Box<dyn Error + Send + Sync>;

/// Packets the kernel holds for our TUN reads (a TUN starts with 500):
/// room for a burst while the outbound task seals and sends a batch.
const TUN_QUEUE_LEN: u32 = 4096;

/// The TUN device, with offloads if asked for and the kernel has them,
/// and with several queues if asked for.
fn create_tun(name: &str, offload: bool, queues: u16) -> Result<Tun, BoxError> {
    let plain = TunOptions {
        multi_queue: queues > 1,
        ..TunOptions::default()
    };
    let opts = TunOptions {
        vnet_hdr: offload,
        ..plain
    };
    let tun = match Tun::create(name, opts) {
        Err(e) if offload => {
            tracing::warn!(tun = %name, error = %e, "TUN offloads unavailable; one packet per read and write");
            Tun::create(name, plain)
        }
        r => r,
    }
    .map_err(|e| format!("cannot create TUN {name}: {e}"))?;
    let o = tun.offloads();
    tracing::info!(tun = %tun.name(), vnet_hdr = o.vnet_hdr, tso = o.tso, uso = o.uso, "TUN offloads");
    Ok(tun)
}

pub async fn run(config_path: &Path) -> Result<(), BoxError> {
    let cfg = config::load(config_path)?;
    let tun = create_tun(&cfg.tun.name, cfg.tun.offload, cfg.tun.queues)?;
    let mut extra_queues = Vec::new();
    for _ in 1..cfg.tun.queues {
        let q = tun
            .open_queue()
            .map_err(|e| format!("cannot open another queue of TUN {}: {e}", tun.name()))?;
        extra_queues.push(Arc::new(AsyncTun::new(q)?));
    }
    if cfg.tun.queues > 1 {
        tracing::info!(tun = %tun.name(), queues = cfg.tun.queues, "TUN queues, one outbound worker each");
    }
    tun.set_mtu(cfg.tun.mtu)?;
    tun.set_tx_queue_len(TUN_QUEUE_LEN)?;
    tun.set_up()?;
    let ifindex = tun.ifindex();
    let tun_name = tun.name().to_string();
    let nl = Netlink::new()?;
    for a in &cfg.tun.addresses {
        nl.add_address(ifindex, a.addr(), a.prefix_len()).await?;
    }
    // At start a tunnel's index is its place in the file.
    let same = |i: usize| i;
    let statics = spec::static_routes(&cfg, &same);
    for (r, _) in &statics {
        nl.add_route(ifindex, r.addr(), r.prefix_len(), RouteAttrs::default())
            .await
            .map_err(|e| format!("cannot add route {r} via {tun_name}: {e}"))?;
    }
    let tun = Arc::new(AsyncTun::new(tun)?);
    let board = status::new_board();
    let (reports_tx, reports_rx) = mpsc::unbounded_channel();
    let (dp, ike_rx) = build_dataplane(&cfg, &tun, &extra_queues, &board, reports_tx, &statics)?;
    for w in &cfg.warnings {
        tracing::warn!(warning = %w, "configuration");
    }
    let names: Vec<String> = cfg
        .tunnels
        .iter()
        .map(|t| t.get_ref().name.clone())
        .collect();
    let (bgp_tx, bgp_rx) = mpsc::unbounded_channel();
    let sink = RouteSink {
        nl,
        ifindex,
        table: cfg.bgp.as_ref().map_or(254, |b| b.route_table),
        metric: cfg.bgp.as_ref().map_or(100, |b| b.route_metric),
        out: dp.out_commands.clone(),
        inbound: dp.in_commands.clone(),
        board: board.clone(),
        names: names.clone(),
    };
    let routes = Routes::new(sink, statics);
    let bgp = BgpPlane::new(
        spec::specs(&cfg, &same),
        spec::redistribution(&cfg),
        names.clone(),
        routes,
        board.clone(),
        bgp_rx,
    )?;
    let (paths_tx, paths_rx) = mpsc::channel(64);
    let watch = RouteWatch::new().map_err(|e| format!("cannot watch netlink: {e}"))?;
    let underlay_task = tokio::spawn(crate::underlay::watch(
        watch,
        endpoints(&cfg, &same),
        paths_tx.clone(),
    ));
    let (control_tx, control_rx) = mpsc::channel(64);
    let inputs = Inputs {
        ike: ike_rx,
        reports: reports_rx,
        paths: paths_rx,
        commands: control_rx,
    };
    let control = Control::new(&cfg, &dp, board.clone(), inputs)
        .await?
        .with_bgp(bgp_tx.clone());
    let Dataplane {
        outbounds,
        fan_out,
        inbounds,
        in_commands,
        out_commands,
        socket_index,
        in_tunnels,
        parts,
        ..
    } = dp;

    let listener = status::bind(&cfg.daemon.status_socket).map_err(|e| {
        format!(
            "cannot bind status socket {}: {e}",
            cfg.daemon.status_socket.display()
        )
    })?;
    let status_task = tokio::spawn(status::serve(listener, board.clone()));
    let metrics_task = match cfg.daemon.metrics_listen {
        Some(addr) => {
            let l = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| format!("cannot listen for metrics on {addr}: {e}"))?;
            tracing::info!(%addr, "Prometheus metrics at http://{addr}/metrics");
            Some(tokio::spawn(crate::metrics::serve(l, board.clone())))
        }
        None => None,
    };

    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks: Vec<_> = outbounds
        .into_iter()
        .map(|o| tokio::spawn(o.run(stop_rx.clone())))
        .collect();
    // It ends with the control plane's senders; aborted at shutdown.
    let fan_out_task = fan_out.map(tokio::spawn);
    for i in inbounds {
        tasks.push(tokio::spawn(i.run(stop_rx.clone())));
    }
    // The control plane stops first: it sends DELETEs through the sockets
    // while the data plane still runs.
    let (ctl_stop_tx, ctl_stop_rx) = watch::channel(false);
    let control_task = tokio::spawn(control.run(ctl_stop_rx));
    // BGP stops first of all: its Cease must cross the tunnel.
    let (bgp_stop_tx, bgp_stop_rx) = watch::channel(false);
    let bgp_task = tokio::spawn(bgp.run(bgp_stop_rx));
    tracing::info!(tun = %tun_name, tunnels = cfg.tunnels.len(), "vwand running");
    notify("READY=1");
    let service_task = tokio::spawn(crate::service::run(board.clone()));
    let status_socket = cfg.daemon.status_socket.clone();
    let mut running = Running {
        cfg,
        names,
        socket_index,
        in_tunnels,
        parts,
        control: control_tx,
        out: out_commands,
        inbound: in_commands,
        bgp: bgp_tx,
        paths: paths_tx,
        underlay: underlay_task,
        stop: stop_rx,
        tasks: Vec::new(),
    };

    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut hup = signal(SignalKind::hangup())?;
    loop {
        tokio::select! {
            _ = term.recv() => break,
            _ = int.recv() => break,
            _ = hup.recv() => {
                notify("RELOADING=1");
                running.reload(config_path).await;
                notify("READY=1");
            }
        }
    }
    tracing::info!("shutting down");
    notify("STOPPING=1");
    let _ = bgp_stop_tx.send(true);
    if tokio::time::timeout(Duration::from_secs(3), bgp_task)
        .await
        .is_err()
    {
        tracing::warn!("the BGP plane did not stop in time");
    }
    let _ = ctl_stop_tx.send(true);
    if tokio::time::timeout(Duration::from_secs(3), control_task)
        .await
        .is_err()
    {
        tracing::warn!("the control plane did not stop in time");
    }
    let _ = stop_tx.send(true);
    tasks.append(&mut running.tasks);
    for t in tasks {
        if tokio::time::timeout(Duration::from_secs(5), t)
            .await
            .is_err()
        {
            tracing::warn!("a data-plane task did not stop in time");
        }
    }
    if let Some(t) = fan_out_task {
        t.abort();
    }
    status_task.abort();
    running.underlay.abort();
    service_task.abort();
    if let Some(t) = metrics_task {
        t.abort();
    }
    let _ = std::fs::remove_file(&status_socket);
    let summary = status::compact_json(&board);
    tracing::info!(%summary, "final counters");
    Ok(())
}
