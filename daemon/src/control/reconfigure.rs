//! A reload, for the control plane: tunnels added and removed, new IKE
//! settings for the next IKE SA, new failover settings, new sockets. The
//! endpoint decides the protocol side (DELETE of a removed tunnel's SA,
//! a new tunnel's first IKE_SA_INIT); this carries it out.

use super::{Control, TunnelCtl};
use crate::dataplane::inbound::InCommand;
use crate::dataplane::socket::TransportSocket;
use crate::status::{self, IkeStatus};
use ike::endpoint::{EndpointConfig, TunnelConfig, TunnelId};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::mpsc;

/// From the reload handler.
pub enum ControlCommand {
    /// A new data-plane socket (a new local address), with its inbound
    /// task's command channel.
    AddSocket {
        socket: Arc<TransportSocket>,
        commands: mpsc::Sender<InCommand>,
    },
    AddTunnel {
        index: usize,
        name: String,
        raw: bool,
        cfg: Box<TunnelConfig>,
    },
    /// DELETE the tunnel's IKE SA and forget it.
    RemoveTunnel {
        index: usize,
    },
    /// New IKE settings, for the tunnel's next IKE SA.
    SetIke {
        index: usize,
        cfg: Box<TunnelConfig>,
    },
    SetEndpoint(Box<EndpointConfig>),
}

impl Control {
    pub(super) async fn reconfigure(&mut self, cmd: ControlCommand) {
        let now = Instant::now();
        match cmd {
            ControlCommand::AddSocket { socket, commands } => {
                let key = (socket.kind(), socket.local_addr().ip());
                self.socket_index.insert(key, self.sockets.len());
                self.sockets.push(socket);
                self.in_commands.push(commands);
            }
            ControlCommand::AddTunnel {
                index,
                name,
                raw,
                cfg,
            } => {
                let mut cfg = *cfg;
                cfg.ike.log_messages = super::log_messages();
                if let Err(e) = self.udp500.open(cfg.local, cfg.peer) {
                    tracing::error!(tunnel = %name, error = %e, "reload: the tunnel cannot be added");
                    return;
                }
                while self.tunnels.len() <= index {
                    self.tunnels.push(None);
                }
                self.tunnels[index] = Some(TunnelCtl {
                    index,
                    name,
                    local: cfg.local,
                    peer: cfg.peer,
                    raw,
                    children: Vec::new(),
                    status: IkeStatus::default(),
                    transform: Default::default(),
                    unreachable: 0,
                    transport: String::new(),
                });
                self.ep.add_tunnel(TunnelId(index), cfg, now);
            }
            ControlCommand::RemoveTunnel { index } => self.ep.remove_tunnel(TunnelId(index), now),
            ControlCommand::SetIke { index, cfg } => {
                let mut cfg = *cfg;
                cfg.ike.log_messages = super::log_messages();
                self.ep.set_tunnel_config(TunnelId(index), cfg);
            }
            ControlCommand::SetEndpoint(cfg) => self.ep.set_config(*cfg),
        }
    }

    /// The tunnel is gone from the endpoint: forget it here and in status.
    pub(super) fn removed(&mut self, tunnel: usize) {
        let Some(t) = self.tunnels.get_mut(tunnel).and_then(Option::take) else {
            return;
        };
        tracing::info!(tunnel = %t.name, "tunnel removed");
        let pair = (t.local, t.peer);
        if !self
            .tunnels
            .iter()
            .flatten()
            .any(|o| (o.local, o.peer) == pair)
        {
            self.udp500.close_peer(t.local, t.peer);
        }
        status::update(&self.board, |b| {
            b.tunnels.remove(&t.name);
        });
    }
}
