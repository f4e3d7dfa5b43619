//! SIGHUP (and `vwand reload`): the file is read and checked as at start;
//! a bad file is refused with its line and reason and nothing changes.
//! A good one is compared with the running one (`config::diff`) and only
//! what changed is touched:
//!
//! - a removed tunnel's IKE SA is deleted, its routes and session go; an
//!   added tunnel gets its sockets (new ones for a new local address), its
//!   data-plane slots and its IKE SA; a tunnel whose addresses or keying
//!   changed is removed and added;
//! - new IKE settings (PSK, proposals, identities, timers) are used by the
//!   tunnel's next IKE SA; the running one stays;
//! - routes change in the kernel and the forwarding tables; BGP sessions
//!   are added, removed, restarted, or keep running with a new import
//!   policy (and a ROUTE-REFRESH) or new advertisements;
//! - failover and responder limits apply at once.
//!
//! What needs a restart (the TUN, the status socket, manual keys) is
//! logged as such. The log says what changed.

use crate::bgp_plane::{spec, BgpCommand, Reconfig};
use crate::control::ControlCommand;
use crate::dataplane::inbound::{InCommand, InTunnel};
use crate::dataplane::outbound::{OutCommand, OutTunnel};
use crate::dataplane::route::Fib;
use crate::dataplane::socket::{Kind, TransportSocket};
use crate::setup::{self, InboundParts, MAX_TUNNELS};
use crate::underlay::{self, Endpoints, PathChange};
use config::Config;
use esp::InboundSad;
use ike::sa::NAT_T_PORT;
use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

/// What a reload needs of the running daemon.
pub struct Running {
    pub cfg: Config,
    /// Tunnel names by index; a removed tunnel leaves "" (indices never
    /// move).
    pub names: Vec<String>,
    pub socket_index: BTreeMap<(Kind, IpAddr), usize>,
    pub in_tunnels: Vec<InTunnel>,
    pub parts: InboundParts,
    pub control: mpsc::Sender<ControlCommand>,
    pub out: mpsc::Sender<OutCommand>,
    pub inbound: Vec<mpsc::Sender<InCommand>>,
    pub bgp: mpsc::UnboundedSender<BgpCommand>,
    pub paths: mpsc::Sender<PathChange>,
    pub underlay: JoinHandle<()>,
    /// For the data-plane tasks a reload starts, and their handles.
    pub stop: watch::Receiver<bool>,
    pub tasks: Vec<JoinHandle<()>>,
}

/// Every tunnel's outer addresses, by index, for the underlay watch.
pub fn endpoints(cfg: &Config, index: &impl Fn(usize) -> usize) -> Vec<Endpoints> {
    cfg.tunnels
        .iter()
        .enumerate()
        .map(|(i, t)| Endpoints {
            tunnel: index(i),
            local: t.get_ref().local,
            peer: t.get_ref().peer,
        })
        .collect()
}

impl Running {
    fn index_of(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| n == name)
    }

    pub async fn reload(&mut self, path: &Path) {
        let new = match config::load(path) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "reload refused; keeping the running configuration");
                return;
            }
        };
        for w in &new.warnings {
            tracing::warn!(warning = %w, "configuration");
        }
        let mut ch = config::diff::diff(&self.cfg, &new);
        if ch.is_empty() {
            tracing::info!("reload: nothing changed");
            self.cfg = new;
            return;
        }
        for name in ch.removed.iter().chain(&ch.replaced) {
            if let Some(i) = self.index_of(name) {
                let _ = self
                    .control
                    .send(ControlCommand::RemoveTunnel { index: i })
                    .await;
                let _ = self.out.send(OutCommand::RemoveTunnel { tunnel: i }).await;
                self.names[i].clear();
            }
        }
        let added: Vec<String> = ch.added.iter().chain(&ch.replaced).cloned().collect();
        for (pos, t) in new.tunnels.iter().enumerate() {
            let t = t.get_ref();
            if !added.contains(&t.name) {
                continue;
            }
            if let Err(e) = self.add_tunnel(&new, pos).await {
                tracing::error!(tunnel = %t.name, error = %e, "reload: the tunnel cannot be added");
                ch.restart.push(format!("tunnel {:?}: {e}", t.name));
            }
        }
        for name in &ch.ike {
            let (Some(i), Some(pos)) = (self.index_of(name), new_pos(&new, name)) else {
                continue;
            };
            if let Some(cfg) = new.tunnel_config(pos) {
                let _ = self
                    .control
                    .send(ControlCommand::SetIke {
                        index: i,
                        cfg: Box::new(cfg),
                    })
                    .await;
            }
        }
        if ch.endpoint {
            let _ = self
                .control
                .send(ControlCommand::SetEndpoint(Box::new(new.endpoint_config())))
                .await;
        }
        let names = self.names.clone();
        let index = |pos: usize| {
            let name = &new.tunnels[pos].get_ref().name;
            names.iter().position(|n| n == name).unwrap_or(usize::MAX)
        };
        let _ = self.bgp.send(BgpCommand::Reconfigure(Box::new(Reconfig {
            specs: spec::specs(&new, &index),
            redistribution: spec::redistribution(&new),
            statics: spec::static_routes(&new, &index),
            names: self.names.clone(),
            restart_all: ch.bgp_global,
        })));
        if !added.is_empty() || !ch.removed.is_empty() {
            self.restart_underlay(endpoints(&new, &index));
        }
        tracing::info!("reload: {ch}");
        if !ch.restart.is_empty() {
            tracing::warn!(
                "reload: these take effect only at a restart: {}",
                ch.restart.join(", ")
            );
        }
        self.cfg = new;
    }

    /// Tunnel `pos` of `new` at the next index: sockets, data-plane slots,
    /// then the control plane (which starts its IKE SA).
    async fn add_tunnel(&mut self, new: &Config, pos: usize) -> Result<(), String> {
        let t = new.tunnels[pos].get_ref();
        if t.manual.is_some() {
            return Err("a manually keyed tunnel is added at a restart".into());
        }
        if self.names.len() >= MAX_TUNNELS {
            return Err(format!(
                "at most {MAX_TUNNELS} tunnels over the daemon's life; restart"
            ));
        }
        let Some(cfg) = new.tunnel_config(pos) else {
            return Err("no IKE settings".into());
        };
        let socket = self.socket(new, setup::kind_of(t), t.local).await?;
        self.socket(new, Kind::Udp { port: NAT_T_PORT }, t.local)
            .await?;
        let index = self.names.len();
        self.names.push(t.name.clone());
        let it = setup::in_tunnel(t);
        self.in_tunnels.push(it.clone());
        for tx in &self.inbound {
            let _ = tx
                .send(InCommand::AddTunnel {
                    index,
                    tunnel: it.clone(),
                })
                .await;
        }
        let dest = match setup::kind_of(t) {
            Kind::Raw => std::net::SocketAddr::new(t.peer, 0),
            Kind::Udp { port } => std::net::SocketAddr::new(t.peer, port),
        };
        let out = OutTunnel::new(t.name.clone(), None, socket, dest);
        let _ = self.out.send(OutCommand::AddTunnel(Box::new(out))).await;
        crate::status::update(&self.parts.board, |b| {
            b.tunnels.insert(
                t.name.clone(),
                crate::status::TunnelStatus {
                    peer: t.peer.to_string(),
                    ..Default::default()
                },
            );
        });
        let raw = t.transport == config::Transport::Raw;
        let cmd = ControlCommand::AddTunnel {
            index,
            name: t.name.clone(),
            raw,
            cfg: Box::new(cfg),
        };
        let _ = self.control.send(cmd).await;
        Ok(())
    }

    /// The socket for `kind` on `local`, opened (with its inbound task)
    /// if it is new.
    async fn socket(&mut self, cfg: &Config, kind: Kind, local: IpAddr) -> Result<usize, String> {
        if let Some(&i) = self.socket_index.get(&(kind, local)) {
            return Ok(i);
        }
        let sock = TransportSocket::open(kind, local, cfg.daemon.socket_buffer)
            .map_err(|e| format!("cannot open {kind:?} socket on {local}: {e}"))?;
        let sock = Arc::new(sock);
        let i = self.socket_index.len();
        self.socket_index.insert((kind, local), i);
        let (tx, rx) = mpsc::channel(64);
        let task = self.parts.task(
            sock.clone(),
            self.in_tunnels.clone(),
            Fib::default(),
            InboundSad::new(),
            HashMap::new(),
            rx,
        );
        self.tasks.push(tokio::spawn(task.run(self.stop.clone())));
        let _ = self.out.send(OutCommand::AddSocket(sock.clone())).await;
        let _ = self
            .control
            .send(ControlCommand::AddSocket {
                socket: sock,
                commands: tx.clone(),
            })
            .await;
        // The BGP plane sends it the whole forwarding table first.
        let _ = self.bgp.send(BgpCommand::AddInbound(tx.clone()));
        self.inbound.push(tx);
        tracing::info!(%local, ?kind, "reload: new transport socket");
        Ok(i)
    }

    fn restart_underlay(&mut self, endpoints: Vec<Endpoints>) {
        match tun::RouteWatch::new() {
            Ok(w) => {
                self.underlay.abort();
                self.underlay = tokio::spawn(underlay::watch(w, endpoints, self.paths.clone()));
            }
            Err(e) => {
                tracing::warn!(error = %e, "reload: the underlay watch keeps the old tunnel list")
            }
        }
    }
}

fn new_pos(cfg: &Config, name: &str) -> Option<usize> {
    cfg.tunnels.iter().position(|t| t.get_ref().name == name)
}
