//! TUN → ESP: read a batch from the TUN, encapsulate each packet in place,
//! send the batch with one `sendmmsg` per socket.

use super::fib::{Fib, Tunnels};
use super::ip;
use super::mmsg::{Outgoing, BATCH};
use super::transport::TransportSocket;
use crate::droplog::DropLog;
use crate::status::{self, Board, TunCounters};
use esp::{EncapError, OutboundSa, MAX_HEADROOM, MAX_TAILROOM};
use ipnet::IpNet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};
use tun::AsyncTun;

/// Largest packet a TUN read returns (without GSO).
const MAX_PACKET: usize = 65535;

pub struct OutTunnel {
    pub name: String,
    /// `None` until IKE installs an SA: packets are dropped as `no_sa`.
    pub sa: Option<OutboundSa>,
    pub socket: usize,
    pub dest: SocketAddr,
}

/// From the control plane. Installing replaces the tunnel's SA, so traffic
/// switches to a new SA at once (make-before-break: the peer's inbound SA
/// was installed first).
pub enum OutCommand {
    Install {
        tunnel: usize,
        sa: Box<OutboundSa>,
        socket: usize,
        dest: SocketAddr,
        /// Answered once the switch is done, so the control plane sends
        /// its next IKE message (a DELETE of the old SA) only after it.
        done: Option<oneshot::Sender<()>>,
    },
    Remove {
        tunnel: usize,
        spi: u32,
    },
    /// Prefixes learned or lost: the tunnels that may carry each.
    Routes(Vec<(IpNet, Tunnels)>),
}

pub struct Outbound {
    pub tun: Arc<AsyncTun>,
    pub sockets: Vec<Arc<TransportSocket>>,
    pub tunnels: Vec<OutTunnel>,
    pub fib: Fib,
    pub board: Board,
    pub commands: mpsc::Receiver<OutCommand>,
}

struct Done {
    slot: usize,
    start: usize,
    end: usize,
    tunnel: usize,
}

impl Outbound {
    pub async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        let mut slots = vec![vec![0u8; MAX_HEADROOM + MAX_PACKET + MAX_TAILROOM]; BATCH];
        let mut lens = [0usize; BATCH];
        let mut done: Vec<Done> = Vec::with_capacity(BATCH);
        let mut counters = TunCounters::default();
        let mut drops = DropLog::new("outbound");
        let mut publish = tokio::time::interval(Duration::from_millis(250));
        loop {
            tokio::select! {
                // Commands first: an SA installed before our IKE response
                // left must be in place when the peer's first ESP arrives.
                biased;
                Some(cmd) = self.commands.recv() => self.command(cmd),
                r = self.tun.read_batch(&mut slots, MAX_HEADROOM, &mut lens) => match r {
                    Ok(n) => {
                        counters.packets_read += n as u64;
                        done.clear();
                        self.encapsulate(&mut slots, &lens[..n], &mut done, &mut counters, &mut drops);
                        self.send(&slots, &done, &mut counters).await;
                        self.drain_events();
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "TUN read failed; data plane stops");
                        break;
                    }
                },
                _ = publish.tick() => self.publish(&counters),
                _ = shutdown.changed() => break,
            }
        }
        self.publish(&counters);
    }

    fn encapsulate(
        &mut self,
        slots: &mut [Vec<u8>],
        lens: &[usize],
        done: &mut Vec<Done>,
        c: &mut TunCounters,
        drops: &mut DropLog,
    ) {
        for (i, &len) in lens.iter().enumerate() {
            let payload = MAX_HEADROOM..MAX_HEADROOM + len;
            let pkt = &slots[i][payload.clone()];
            let (Some(nh), Some(dst)) = (ip::next_header(pkt), ip::destination(pkt)) else {
                c.malformed += 1;
                continue;
            };
            let candidates = self.fib.lookup_all(dst);
            // The first tunnel of the prefix that has an SA; the
            // active-active work spreads flows over all of them.
            let up = candidates
                .iter()
                .copied()
                .find(|&t| self.tunnels.get(t).is_some_and(|t| t.sa.is_some()));
            let Some(t) = up.or(candidates.first().copied()) else {
                c.no_route += 1;
                if drops.allow() {
                    tracing::debug!(%dst, "no tunnel for destination");
                }
                continue;
            };
            let tunnel = &mut self.tunnels[t];
            let Some(sa) = tunnel.sa.as_mut() else {
                c.no_sa += 1;
                continue;
            };
            match sa.encapsulate(&mut slots[i], payload, nh) {
                Ok(r) => done.push(Done {
                    slot: i,
                    start: r.start,
                    end: r.end,
                    tunnel: t,
                }),
                Err(e) => {
                    c.refused += 1;
                    if drops.allow() {
                        tracing::warn!(tunnel = %tunnel.name, error = ?e, "packet not encapsulated");
                    }
                    debug_assert_ne!(e, EncapError::NoHeadroom);
                }
            }
        }
    }

    async fn send(&self, slots: &[Vec<u8>], done: &[Done], c: &mut TunCounters) {
        for (s, socket) in self.sockets.iter().enumerate() {
            let mut msgs = [Outgoing {
                data: &[],
                to: super::mmsg::UNSPECIFIED,
            }; BATCH];
            let mut n = 0;
            for d in done.iter().filter(|d| self.tunnels[d.tunnel].socket == s) {
                msgs[n] = Outgoing {
                    data: &slots[d.slot][d.start..d.end],
                    to: self.tunnels[d.tunnel].dest,
                };
                n += 1;
            }
            if n > 0 {
                c.send_errors += socket.send_all(&msgs[..n]).await;
            }
        }
    }

    fn command(&mut self, cmd: OutCommand) {
        match cmd {
            OutCommand::Install {
                tunnel,
                sa,
                socket,
                dest,
                done,
            } => {
                if let Some(t) = self.tunnels.get_mut(tunnel) {
                    tracing::info!(tunnel = %t.name, spi = format_args!("{:#010x}", sa.spi()), %dest, "outbound SA installed");
                    t.sa = Some(*sa);
                    t.socket = socket;
                    t.dest = dest;
                }
                if let Some(done) = done {
                    let _ = done.send(());
                }
            }
            OutCommand::Remove { tunnel, spi } => {
                if let Some(t) = self.tunnels.get_mut(tunnel) {
                    if t.sa.as_ref().is_some_and(|s| s.spi() == spi) {
                        tracing::info!(tunnel = %t.name, spi = format_args!("{spi:#010x}"), "outbound SA removed");
                        t.sa = None;
                    }
                }
            }
            OutCommand::Routes(changes) => {
                for (net, tunnels) in changes {
                    self.fib.set(net, tunnels);
                }
            }
        }
    }

    fn drain_events(&mut self) {
        for t in &mut self.tunnels {
            let Some(sa) = t.sa.as_mut() else { continue };
            while let Some(ev) = sa.poll_event() {
                tracing::warn!(tunnel = %t.name, spi = format_args!("{:#010x}", ev.spi), event = ?ev.kind,
                    "outbound SA needs a rekey");
            }
        }
    }

    fn publish(&self, c: &TunCounters) {
        status::update(&self.board, |s| {
            s.tun = c.clone();
            for t in &self.tunnels {
                let e = s.tunnels.entry(t.name.clone()).or_default();
                let Some(sa) = &t.sa else {
                    e.outbound = Default::default();
                    continue;
                };
                let st = sa.stats();
                e.outbound.spi = format!("{:#010x}", sa.spi());
                e.outbound.packets = st.packets;
                e.outbound.bytes = st.bytes;
                e.outbound.refused = st.refused;
                e.outbound.last_seq = sa.last_seq();
            }
        });
    }
}
