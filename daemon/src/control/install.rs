//! Child SAs into and out of the data plane.
//!
//! Every change goes over a bounded channel with `send().await` (it waits
//! for room, it never drops) and is answered by the data-plane task once
//! in effect; `flush` waits for the answers before it sends the IKE
//! messages that depend on them. Make-before-break: the inbound SA goes in
//! before the peer can use it, the outbound one before the old one goes.

use super::{Control, Installed};
use crate::dataplane::inbound::InCommand;
use crate::dataplane::outbound::OutCommand;
use crate::dataplane::socket::Kind;
use esp::{InboundSa, OutboundSa};
use ike::sa::{selectors, ChildSa, IKE_PORT, NAT_T_PORT};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::oneshot;

impl Control {
    fn ack(&mut self) -> oneshot::Sender<()> {
        let (tx, rx) = oneshot::channel();
        self.acks.push(rx);
        tx
    }

    pub(super) async fn install(&mut self, tunnel: usize, c: ChildSa) {
        let now = Instant::now();
        let Some(t) = self.tunnels.get(tunnel).and_then(Option::as_ref) else {
            return;
        };
        let encap = c.encap || !t.raw;
        let kind = if encap {
            Kind::Udp { port: NAT_T_PORT }
        } else {
            Kind::Raw
        };
        let socket = self
            .socket_index
            .get(&(kind, t.local))
            .or_else(|| {
                self.socket_index
                    .get(&(Kind::Udp { port: NAT_T_PORT }, t.local))
            })
            .copied();
        let (Some(socket), Ok(inbound), Ok(outbound)) = (
            socket,
            InboundSa::new(&c.inbound, now),
            OutboundSa::new(&c.outbound, now),
        ) else {
            tracing::error!(tunnel = %t.name, "cannot install the negotiated Child SA");
            return;
        };
        // ESP-in-UDP goes to the peer's NAT-T port: where its IKE floated
        // to (a NAT may have mapped it), never to port 500.
        let remote_port = self
            .ep
            .remote(ike::endpoint::TunnelId(tunnel))
            .map(|r| r.port())
            .filter(|&p| p != IKE_PORT)
            .unwrap_or(NAT_T_PORT);
        let dest = if encap {
            SocketAddr::new(t.peer, remote_port)
        } else {
            SocketAddr::new(t.peer, 0)
        };
        let ts = format!(
            "{} === {}",
            selectors::describe_all(&c.local_ts),
            selectors::describe_all(&c.remote_ts)
        );
        tracing::info!(tunnel = %t.name, transform = %c.inbound.transform, esn = c.inbound.esn, encap,
            spi_in = format_args!("{:#010x}", c.inbound.spi), spi_out = format_args!("{:#010x}", c.outbound.spi),
            selectors = %ts, "Child SA up");
        let done = self.ack();
        let _ = self.in_commands[socket]
            .send(InCommand::Install {
                tunnel,
                sa: Box::new(inbound),
                done,
            })
            .await;
        let pending_outbound = if c.activate {
            let done = self.ack();
            let _ = self
                .out_commands
                .send(OutCommand::Install {
                    tunnel,
                    sa: Arc::new(outbound),
                    socket,
                    dest,
                    done,
                })
                .await;
            None
        } else {
            Some((outbound, dest))
        };
        let label = self.sockets[socket].label();
        let Some(t) = self.tunnels.get_mut(tunnel).and_then(Option::as_mut) else {
            return;
        };
        t.children.push(Installed {
            inbound: c.inbound.spi,
            socket,
            pending_outbound,
        });
        t.status.encap = encap;
        t.transport = label;
        t.transform = (c.inbound.transform.to_string(), c.inbound.esn, ts);
    }

    /// The peer has its side of a Child SA we answered a rekey for: send
    /// on it.
    pub(super) async fn activate(&mut self, tunnel: usize, inbound_spi: u32) {
        let Some(t) = self.tunnels.get_mut(tunnel).and_then(Option::as_mut) else {
            return;
        };
        let Some(c) = t.children.iter_mut().find(|c| c.inbound == inbound_spi) else {
            return;
        };
        let Some((sa, dest)) = c.pending_outbound.take() else {
            return;
        };
        let socket = c.socket;
        tracing::info!(tunnel = %t.name, spi_out = format_args!("{:#010x}", sa.spi()), "outbound switched to the new Child SA");
        let done = self.ack();
        let _ = self
            .out_commands
            .send(OutCommand::Install {
                tunnel,
                sa: Arc::new(sa),
                socket,
                dest,
                done,
            })
            .await;
    }

    pub(super) async fn remove(&mut self, tunnel: usize, inbound_spi: u32, outbound_spi: u32) {
        let Some(t) = self.tunnels.get_mut(tunnel).and_then(Option::as_mut) else {
            return;
        };
        let Some(pos) = t.children.iter().position(|c| c.inbound == inbound_spi) else {
            return;
        };
        let c = t.children.remove(pos);
        tracing::info!(tunnel = %t.name, spi_in = format_args!("{inbound_spi:#010x}"), "Child SA removed");
        let done = self.ack();
        let _ = self.in_commands[c.socket]
            .send(InCommand::Remove {
                spi: inbound_spi,
                done,
            })
            .await;
        // Removes the outbound SA only if it is still the current one.
        let done = self.ack();
        let _ = self
            .out_commands
            .send(OutCommand::Remove {
                tunnel,
                spi: outbound_spi,
                done,
            })
            .await;
    }
}
