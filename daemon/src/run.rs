//! Daemon start-up, signal handling and shutdown.

use crate::dataplane::fib::Fib;
use crate::dataplane::inbound::{InTunnel, Inbound};
use crate::dataplane::outbound::{OutTunnel, Outbound};
use crate::dataplane::transport::{Kind, TransportSocket};
use crate::notify::notify;
use crate::status;
use config::{Config, Transport};
use esp::{InboundSa, InboundSad, OutboundSa};
use std::collections::{BTreeMap, HashMap};
use std::error::Error;
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::watch;
use tun::{AsyncTun, Netlink, Tun, TunOptions};

type BoxError = Box<dyn Error + Send + Sync>;

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
    for t in &cfg.tunnels {
        for r in &t.get_ref().routes {
            nl.add_route(ifindex, r.addr(), r.prefix_len(), None, None)
                .await
                .map_err(|e| format!("cannot add route {r} via {tun_name}: {e}"))?;
        }
    }
    let tun = Arc::new(AsyncTun::new(tun)?);
    let board = status::new_board();
    let (outbound, inbounds) = build_dataplane(&cfg, &tun, &board)?;

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
    tracing::info!(tun = %tun_name, tunnels = cfg.tunnels.len(), "vwand running");
    notify("READY=1");

    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut hup = signal(SignalKind::hangup())?;
    loop {
        tokio::select! {
            _ = term.recv() => break,
            _ = int.recv() => break,
            _ = hup.recv() => reload(config_path),
        }
    }
    tracing::info!("shutting down");
    notify("STOPPING=1");
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
    let _ = std::fs::remove_file(&cfg.daemon.status_socket);
    let summary = status::update_and_read(&board);
    tracing::info!(%summary, "final counters");
    Ok(())
}

/// SIGHUP: a bad file is refused and everything keeps running. Manual SAs
/// are not re-keyed live: changing keys by hand needs both ends to switch
/// at once, which is what IKE is for.
fn reload(path: &Path) {
    match config::load(path) {
        Ok(_) => tracing::info!(
            "configuration re-read and valid; manual SA changes take effect at restart"
        ),
        Err(e) => tracing::error!(error = %e, "reload refused; keeping the running configuration"),
    }
}

fn build_dataplane(
    cfg: &Config,
    tun: &Arc<AsyncTun>,
    board: &status::Board,
) -> Result<(Outbound, Vec<Inbound>), BoxError> {
    let now = Instant::now();
    let mut socket_index: BTreeMap<(Kind, IpAddr), usize> = BTreeMap::new();
    let mut sockets = Vec::new();
    let mut out_tunnels = Vec::new();
    let mut fib = Vec::new();
    let mut per_socket: Vec<(InboundSad, HashMap<u32, usize>, Vec<InTunnel>)> = Vec::new();

    for (ti, spanned) in cfg.tunnels.iter().enumerate() {
        let t = spanned.get_ref();
        let Some(m) = &t.manual else {
            return Err(format!("tunnel {} has no keys", t.name).into());
        };
        let kind = match t.transport {
            Transport::Raw => Kind::Raw,
            Transport::Udp => Kind::Udp { port: t.udp_port },
        };
        let s = match socket_index.get(&(kind, t.local)) {
            Some(&s) => s,
            None => {
                let sock = TransportSocket::open(kind, t.local, cfg.daemon.socket_buffer).map_err(
                    |e| {
                        format!(
                            "tunnel {}: cannot open {kind:?} socket on {}: {e}",
                            t.name, t.local
                        )
                    },
                )?;
                sockets.push(Arc::new(sock));
                per_socket.push((InboundSad::new(), HashMap::new(), Vec::new()));
                socket_index.insert((kind, t.local), sockets.len() - 1);
                sockets.len() - 1
            }
        };
        let sa = OutboundSa::new(&m.outbound_params(t), now)?;
        out_tunnels.push(OutTunnel {
            name: t.name.clone(),
            sa,
            socket: s,
            dest: sockets[s].peer_addr(t.peer),
        });
        fib.extend(t.routes.iter().map(|r| (*r, ti)));

        let (sad, by_spi, tunnels) = &mut per_socket[s];
        let inbound = InboundSa::new(&m.inbound_params(t), now)?;
        by_spi.insert(inbound.spi(), tunnels.len());
        sad.insert(inbound)
            .map_err(|d| format!("inbound SPI {:#x} used twice", d.0))?;
        tunnels.push(InTunnel {
            name: t.name.clone(),
            peer: t.peer,
            routes: t.routes.clone(),
            policy_drops: 0,
            wrong_peer: 0,
        });
        status::update(board, |st| {
            st.tunnels.insert(
                t.name.clone(),
                status::TunnelStatus {
                    peer: t.peer.to_string(),
                    transport: sockets[s].label(),
                    transform: m.transform.get_ref().0.to_string(),
                    esn: m.esn,
                    ..Default::default()
                },
            );
        });
        tracing::info!(tunnel = %t.name, peer = %t.peer, transport = %sockets[s].label(),
            transform = %m.transform.get_ref().0, esn = m.esn, "manual SA pair installed");
    }

    let inbounds = per_socket
        .into_iter()
        .zip(&sockets)
        .map(|((sad, by_spi, tunnels), socket)| Inbound {
            socket: socket.clone(),
            tun: tun.clone(),
            sad,
            by_spi,
            tunnels,
            board: board.clone(),
        })
        .collect();
    let outbound = Outbound {
        tun: tun.clone(),
        sockets,
        tunnels: out_tunnels,
        fib: Fib::new(fib),
        board: board.clone(),
    };
    Ok((outbound, inbounds))
}
