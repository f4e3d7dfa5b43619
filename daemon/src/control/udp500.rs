//! The IKE sockets on UDP 500 (RFC 7296 §2.11): one per local address for
//! everyone, and one per configured peer, connected to the peer's port
//! 500. Linux gives a datagram to the bound socket that matches it most
//! closely, so what the peer sends from port 500 (its IKE_SA_INIT, its
//! answers to ours) lands in the connected socket's own receive buffer,
//! which a flood from other addresses or ports cannot fill. Both kinds
//! set SO_REUSEADDR to share the port. Everything read goes into the
//! control plane's one channel; everything sent leaves by the shared
//! socket.

use crate::dataplane::inbound::IkeDatagram;
use ike::sa::IKE_PORT;
use socket2::{Domain, Protocol, Socket, Type};
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

pub(super) struct Udp500 {
    shared: BTreeMap<IpAddr, (Arc<UdpSocket>, JoinHandle<()>)>,
    /// By (local, peer): the connected socket's reader.
    per_peer: BTreeMap<(IpAddr, IpAddr), JoinHandle<()>>,
    tx: mpsc::Sender<IkeDatagram>,
}

impl Udp500 {
    pub(super) fn new(tx: mpsc::Sender<IkeDatagram>) -> Self {
        Self {
            shared: BTreeMap::new(),
            per_peer: BTreeMap::new(),
            tx,
        }
    }

    /// Binds the shared socket of `local` if it is new, then the socket
    /// connected to `peer` if it is new. Must run inside the runtime.
    pub(super) fn open(&mut self, local: IpAddr, peer: IpAddr) -> std::io::Result<()> {
        let named = |e: std::io::Error| {
            std::io::Error::new(
                e.kind(),
                format!("cannot bind IKE port {local}:{IKE_PORT}: {e}"),
            )
        };
        if !self.shared.contains_key(&local) {
            let s = Arc::new(bind(local, None).map_err(named)?);
            let reader = tokio::spawn(read(s.clone(), self.tx.clone()));
            self.shared.insert(local, (s, reader));
        }
        if !self.per_peer.contains_key(&(local, peer)) {
            match bind(local, Some(peer)) {
                Ok(s) => {
                    let reader = tokio::spawn(read(Arc::new(s), self.tx.clone()));
                    self.per_peer.insert((local, peer), reader);
                }
                // The shared socket still hears the peer: keep going.
                Err(e) => tracing::warn!(%local, %peer, error = %e,
                    "no IKE socket of the peer's own; it shares the port's buffer"),
            }
        }
        Ok(())
    }

    /// Stops the reader of the socket connected to `peer`.
    pub(super) fn close_peer(&mut self, local: IpAddr, peer: IpAddr) {
        if let Some(r) = self.per_peer.remove(&(local, peer)) {
            r.abort();
        }
    }

    /// The socket IKE messages from `local` leave by.
    pub(super) fn sender(&self, local: IpAddr) -> Option<&Arc<UdpSocket>> {
        self.shared.get(&local).map(|(s, _)| s)
    }

    pub(super) fn abort_all(&self) {
        let shared = self.shared.values().map(|(_, r)| r);
        for r in shared.chain(self.per_peer.values()) {
            r.abort();
        }
    }
}

/// A UDP socket on `local`:500 with SO_REUSEADDR, connected to `peer`:500
/// if given.
fn bind(local: IpAddr, peer: Option<IpAddr>) -> std::io::Result<UdpSocket> {
    let addr = SocketAddr::new(local, IKE_PORT);
    let s = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if local.is_ipv6() {
        s.set_only_v6(true)?;
    }
    s.set_reuse_address(true)?;
    s.set_nonblocking(true)?;
    s.bind(&addr.into())?;
    if let Some(peer) = peer {
        s.connect(&SocketAddr::new(peer, IKE_PORT).into())?;
    }
    UdpSocket::from_std(s.into())
}

/// Forwards what arrives on one UDP 500 socket into the control plane's
/// channel (waiting when it is full: the kernel's buffer then drops).
async fn read(socket: Arc<UdpSocket>, tx: mpsc::Sender<IkeDatagram>) {
    let Ok(local) = socket.local_addr() else {
        return;
    };
    let mut buf = vec![0u8; 65535];
    loop {
        match socket.recv_from(&mut buf).await {
            Ok((n, from)) => {
                let Some(data) = buf.get(..n) else { continue };
                let d = IkeDatagram {
                    local,
                    from,
                    data: data.to_vec(),
                };
                if tx.send(d).await.is_err() {
                    return;
                }
            }
            // A connected socket also reports the peer's ICMP errors here.
            Err(e) => tracing::debug!(error = %e, "IKE receive failed"),
        }
    }
}
