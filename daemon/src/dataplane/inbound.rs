//! ESP → TUN, one worker per transport socket. [`Inbound::run`] is the
//! walk of a packet in, four stages, each in one file:
//!
//! 1. **receive**: one `recvmmsg` batch, a UDP GRO run split by its
//!    segment size, ESP told from IKE and keepalives (`socket.rs`);
//! 2. **open**: the SA by SPI, replay window, ICV, decryption in place,
//!    padding (`esp/src/sa.rs`, through the SPI table `esp/src/sad.rs`);
//! 3. **policy**: the inner source must be behind the tunnel it came
//!    through, RFC 4301 §5.2 (`Inbound::handle` → `route.rs`);
//! 4. **coalesce and write**: segments of one flow merged into one
//!    super-packet per TUN write, through the queue the flow's hash picks
//!    (`tun/src/offload/gro.rs`).

use super::ip;
use super::report::{Activities, SaReport, SaReports};
use super::route::{Fib, Tunnels};
use super::socket::{Classified, TransportSocket};
use super::socket::{BATCH, UNSPECIFIED};
use crate::droplog::DropLog;
use crate::status::{self, Board, TransportCounters};
use esp::{DropReason, InboundSa, InboundSad};
use ipnet::IpNet;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};
use tun::offload::gro::Coalescer;
use tun::AsyncTun;

/// Largest datagram the socket can deliver.
const MAX_DATAGRAM: usize = 65535;

#[derive(Clone)]
pub struct InTunnel {
    pub name: String,
    pub peer: IpAddr,
    pub policy_drops: u64,
    pub wrong_peer: u64,
    /// Packets of the batch being received.
    pub batch: u64,
}

/// From the control plane; SA changes are answered once in effect.
pub enum InCommand {
    Install {
        tunnel: usize,
        sa: Box<InboundSa>,
        done: oneshot::Sender<()>,
    },
    Remove {
        spi: u32,
        done: oneshot::Sender<()>,
    },
    /// Prefixes learned or lost: the tunnels that may carry each.
    Routes(Vec<(IpNet, Tunnels)>),
    /// A reload added a tunnel, at this index.
    AddTunnel {
        index: usize,
        tunnel: InTunnel,
    },
}

/// An IKE message that arrived on UDP 4500, marker stripped.
pub struct IkeDatagram {
    pub local: SocketAddr,
    pub from: SocketAddr,
    pub data: Vec<u8>,
}

pub struct Inbound {
    pub socket: Arc<TransportSocket>,
    /// Every TUN queue; with one, the device. See [`Inbound::queue_for`].
    pub queues: Vec<Arc<AsyncTun>>,
    pub sad: InboundSad,
    /// SPI → index into `tunnels`.
    pub by_spi: HashMap<u32, usize>,
    /// Every tunnel, by the daemon's tunnel index.
    pub tunnels: Vec<InTunnel>,
    /// RFC 4301 §5.2: a decrypted packet's inner source must route back
    /// into the tunnel it came from (static routes, pinned BGP peers and
    /// learned prefixes).
    pub policy: Fib,
    pub board: Board,
    pub commands: mpsc::Receiver<InCommand>,
    /// Where IKE messages on this socket go (UDP 4500 only).
    pub ike: Option<mpsc::Sender<IkeDatagram>>,
    pub activity: Activities,
    pub reports: SaReports,
    /// Clamp TCP SYN-ACKs' MSS to this; 0: off.
    pub mss: u16,
}

impl Inbound {
    pub async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        let mut slots = vec![vec![0u8; MAX_DATAGRAM]; BATCH];
        // With TUN offloads the batch's packets go out coalesced (UDP too
        // if the TUN took USO).
        let offloads = self.queues[0].get_ref().offloads();
        let mut gro = offloads
            .vnet_hdr
            .then(|| Coalescer::new(BATCH, offloads.uso));
        let mut lens = [0usize; BATCH];
        let mut from = [UNSPECIFIED; BATCH];
        let mut segs = [0usize; BATCH];
        let mut c = TransportCounters::default();
        let mut drops = DropLog::new("inbound");
        let mut publish = tokio::time::interval(Duration::from_millis(250));
        loop {
            tokio::select! {
                // Commands first: an SA installed before our IKE response
                // left must be in place when the peer's first ESP arrives.
                biased;
                Some(cmd) = self.commands.recv() => self.command(cmd),
                r = self.socket.recv_batch(&mut slots, &mut lens, &mut from, &mut segs) => match r {
                    Ok(n) => {
                        for i in 0..n {
                            // UDP GRO: datagrams of one flow, coalesced.
                            let seg = if segs[i] == 0 { lens[i].max(1) } else { segs[i] };
                            if segs[i] != 0 {
                                c.gro_received += 1;
                            }
                            for d in slots[i][..lens[i]].chunks_mut(seg) {
                                c.datagrams += 1;
                                self.handle(d, from[i], &mut c, &mut drops, gro.as_mut());
                            }
                        }
                        if let Some(g) = gro.as_mut() {
                            self.flush(g, &mut c, &mut drops);
                        }
                        for (t, tunnel) in self.tunnels.iter_mut().enumerate() {
                            if let Some(a) = self.activity.get(t) {
                                a.add_rx(std::mem::take(&mut tunnel.batch));
                            }
                        }
                    }
                    Err(e) => {
                        tracing::error!(socket = %self.socket.label(), error = %e, "receive failed");
                        break;
                    }
                },
                _ = publish.tick() => self.publish(&c),
                _ = shutdown.changed() => break,
            }
        }
        self.publish(&c);
    }

    fn handle(
        &mut self,
        datagram: &mut [u8],
        from: SocketAddr,
        c: &mut TransportCounters,
        drops: &mut DropLog,
        gro: Option<&mut Coalescer>,
    ) {
        let range = match self.socket.classify(datagram) {
            Classified::Esp(r) => r,
            Classified::NatKeepalive => {
                c.nat_keepalives += 1;
                return;
            }
            Classified::NonEsp => {
                c.non_esp += 1;
                if let (Some(tx), Some(ike)) = (&self.ike, datagram.get(4..)) {
                    let msg = IkeDatagram {
                        local: self.socket.local_addr(),
                        from,
                        data: ike.to_vec(),
                    };
                    if tx.try_send(msg).is_ok() {
                        c.ike_forwarded += 1;
                    }
                }
                return;
            }
            Classified::Malformed => {
                c.malformed += 1;
                if drops.allow() {
                    tracing::warn!(%from, len = datagram.len(), "malformed datagram dropped");
                }
                return;
            }
        };
        let esp = &mut datagram[range];
        let (spi, result) = self.sad.decapsulate(esp);
        let d = match result {
            Ok(d) => d,
            Err(reason) => {
                match reason {
                    DropReason::UnknownSpi => c.unknown_spi += 1,
                    DropReason::Malformed if spi == 0 => c.malformed += 1,
                    _ => {}
                }
                if reason != DropReason::Dummy && drops.allow() {
                    tracing::warn!(%from, spi = format_args!("{spi:#010x}"), %reason, "ESP packet dropped");
                }
                return;
            }
        };
        let Some(&t) = self.by_spi.get(&spi) else {
            return;
        };
        let Some(tunnel) = self.tunnels.get_mut(t) else {
            return;
        };
        if from.ip() != tunnel.peer {
            tunnel.wrong_peer += 1;
            if drops.allow() {
                tracing::warn!(tunnel = %tunnel.name, %from, "authentic ESP from an unexpected address dropped");
            }
            return;
        }
        let inner = &mut esp[d.inner];
        if self.mss != 0 && super::mss::clamp(inner, self.mss) {
            c.mss_clamped += 1;
        }
        let inner = &*inner;
        let allowed = ip::source(inner).is_some_and(|src| self.policy.routes_via(src, t));
        if !allowed {
            tunnel.policy_drops += 1;
            if drops.allow() {
                tracing::warn!(tunnel = %tunnel.name, src = ?ip::source(inner), "inner source outside the tunnel's routes dropped");
            }
            return;
        }
        tunnel.batch += 1;
        let Some(gro) = gro else {
            c.tun_writes += 1;
            if let Err(e) = self.queue_for(inner).write_packet(inner) {
                c.tun_write_errors += 1;
                if drops.allow() {
                    tracing::warn!(error = %e, "TUN write failed");
                }
            }
            return;
        };
        if !gro.push(inner) {
            self.flush(gro, c, drops);
            gro.push(inner);
        }
    }

    /// The TUN queue to write `packet` (an IP packet) through. Linux's TUN
    /// remembers which queue wrote a flow (by a symmetric hash) and steers
    /// the flow's packets the other way to that queue's reader: written
    /// all through one queue, every flow would be read by one worker. So a
    /// flow goes through the queue its hash picks, always the same.
    fn queue_for(&self, packet: &[u8]) -> &tun::Tun {
        let n = self.queues.len();
        let q = if n == 1 {
            0
        } else {
            ((super::route::flow_hash(packet) >> 32) % n as u64) as usize
        };
        self.queues[q].get_ref()
    }

    /// Writes the coalesced batch to the TUN; each write starts with the
    /// virtio-net header.
    fn flush(&self, gro: &mut Coalescer, c: &mut TransportCounters, drops: &mut DropLog) {
        let mut error = None;
        let failed = gro.flush(|b| {
            let packet = b.get(tun::offload::VNET_HDR_LEN..).unwrap_or_default();
            self.queue_for(packet).write_packet(b).inspect_err(|e| {
                error.get_or_insert(e.kind());
            })
        });
        c.tun_write_errors += failed;
        c.tun_writes = gro.stats.writes;
        c.gro_merged = gro.stats.merged;
        if let Some(kind) = error {
            if drops.allow() {
                tracing::warn!(error = %kind, failed, "TUN write failed");
            }
        }
    }

    fn command(&mut self, cmd: InCommand) {
        match cmd {
            InCommand::Install { tunnel, sa, done } => {
                let spi = sa.spi();
                match self.sad.insert(*sa) {
                    Ok(()) => {
                        self.by_spi.insert(spi, tunnel);
                        tracing::info!(socket = %self.socket.label(), spi = format_args!("{spi:#010x}"), "inbound SA installed");
                    }
                    Err(_) => {
                        tracing::error!(socket = %self.socket.label(), spi = format_args!("{spi:#010x}"), "inbound SPI already installed; the new SA is not")
                    }
                }
                let _ = done.send(());
            }
            InCommand::Remove { spi, done } => {
                if self.sad.remove(spi).is_some() {
                    self.by_spi.remove(&spi);
                    tracing::info!(socket = %self.socket.label(), spi = format_args!("{spi:#010x}"), "inbound SA removed");
                }
                let _ = done.send(());
            }
            InCommand::Routes(changes) => {
                for (net, tunnels) in changes {
                    self.policy.set(net, tunnels);
                }
            }
            InCommand::AddTunnel { index, tunnel } => {
                while self.tunnels.len() < index {
                    let mut gap = tunnel.clone();
                    gap.name.clear();
                    self.tunnels.push(gap);
                }
                if index < self.tunnels.len() {
                    self.tunnels[index] = tunnel;
                } else {
                    self.tunnels.push(tunnel);
                }
            }
        }
    }

    fn publish(&mut self, c: &TransportCounters) {
        while let Some(event) = self.sad.poll_event() {
            tracing::info!(spi = format_args!("{:#010x}", event.spi), event = ?event.kind, "inbound SA lifetime event");
            if let Some(&tunnel) = self.by_spi.get(&event.spi) {
                let _ = self.reports.send(SaReport { tunnel, event });
            }
        }
        status::update(&self.board, |s| {
            s.transports.insert(self.socket.label(), c.clone());
            for sa in self.sad.iter() {
                let Some(&t) = self.by_spi.get(&sa.spi()) else {
                    continue;
                };
                let Some(tunnel) = self.tunnels.get(t).filter(|x| !x.name.is_empty()) else {
                    continue;
                };
                let e = s.tunnels.entry(tunnel.name.clone()).or_default();
                let st = sa.stats();
                let i = &mut e.inbound;
                i.spi = format!("{:#010x}", sa.spi());
                i.packets = st.packets;
                i.bytes = st.bytes;
                i.replay = st.replay;
                i.too_old = st.too_old;
                i.icv_failure = st.icv_failure;
                i.bad_padding = st.bad_padding;
                i.malformed = st.malformed;
                i.expired = st.expired;
                i.dummy = st.dummy;
                i.selectors = st.selectors;
                i.policy = tunnel.policy_drops;
                i.wrong_peer = tunnel.wrong_peer;
            }
        });
    }
}
