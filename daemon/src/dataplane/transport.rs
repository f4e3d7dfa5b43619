//! The two ways ESP travels: raw IP protocol 50, or inside UDP (RFC 3948).

use super::mmsg::{self, Outgoing, BATCH};
use nix::sys::socket::{setsockopt, sockopt};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::ops::Range;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

/// IANA protocol number of ESP.
pub const IPPROTO_ESP: i32 = 50;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Raw,
    Udp { port: u16 },
}

/// What a received datagram holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Classified {
    /// An ESP packet at this range of the datagram.
    Esp(Range<usize>),
    /// RFC 3948 §2.2 NAT-keepalive (a single 0xFF byte).
    NatKeepalive,
    /// RFC 3948 §2.2 non-ESP marker: an IKE message for the IKE daemon.
    NonEsp,
    Malformed,
}

/// One data-plane socket bound to a local address.
pub struct TransportSocket {
    kind: Kind,
    local: IpAddr,
    io: AsyncFd<Socket>,
    /// UDP GSO sends; turned off for good if the kernel refuses one.
    gso: AtomicBool,
}

impl TransportSocket {
    pub fn open(kind: Kind, local: IpAddr, buffer: usize) -> io::Result<Self> {
        let domain = Domain::for_address(SocketAddr::new(local, 0));
        let (socket, port) = match kind {
            Kind::Raw => (
                Socket::new(domain, Type::RAW, Some(Protocol::from(IPPROTO_ESP)))?,
                0,
            ),
            Kind::Udp { port } => {
                let s = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP))?;
                s.set_reuse_address(true)?;
                enable_gro(&s);
                (s, port)
            }
        };
        socket.set_nonblocking(true)?;
        socket.bind(&SockAddr::from(SocketAddr::new(local, port)))?;
        set_buffers(&socket, buffer);
        // SAFETY: the `Socket` owns its fd and offers no way to close or
        // replace it while the `AsyncFd` owns the `Socket`, so the fd stays
        // registered with the same open file description until drop.
        // Readable only: see `wait_writable`.
        let io = unsafe { AsyncFd::register_with_interest(socket, Interest::READABLE) }?;
        let gso = AtomicBool::new(matches!(kind, Kind::Udp { .. }));
        Ok(Self {
            kind,
            local,
            io,
            gso,
        })
    }

    pub fn kind(&self) -> Kind {
        self.kind
    }

    pub fn local_addr(&self) -> SocketAddr {
        match self.kind {
            Kind::Raw => SocketAddr::new(self.local, 0),
            Kind::Udp { port } => SocketAddr::new(self.local, port),
        }
    }

    pub fn label(&self) -> String {
        match self.kind {
            Kind::Raw => format!("esp {}", self.local),
            Kind::Udp { port } => format!("udp {}", SocketAddr::new(self.local, port)),
        }
    }

    /// Where to send ESP for `peer`.
    pub fn peer_addr(&self, peer: IpAddr) -> SocketAddr {
        match self.kind {
            Kind::Raw => SocketAddr::new(peer, 0),
            Kind::Udp { port } => SocketAddr::new(peer, port),
        }
    }

    /// Finds the ESP packet in a received datagram.
    pub fn classify(&self, d: &[u8]) -> Classified {
        match self.kind {
            Kind::Udp { .. } => classify_udp(d),
            Kind::Raw if self.local.is_ipv4() => classify_raw_v4(d),
            // IPv6 raw sockets deliver the payload without the header.
            Kind::Raw if d.len() >= 8 => Classified::Esp(0..d.len()),
            Kind::Raw => Classified::Malformed,
        }
    }

    /// Waits for datagrams and receives a batch.
    pub async fn recv_batch(
        &self,
        slots: &mut [Vec<u8>],
        lens: &mut [usize; BATCH],
        from: &mut [SocketAddr; BATCH],
        segs: &mut [usize; BATCH],
    ) -> io::Result<usize> {
        loop {
            let mut guard = self.io.readable().await?;
            match guard.try_io(|fd| mmsg::recv_batch(fd.as_raw_fd(), slots, lens, from, segs)) {
                Ok(r) => return r,
                Err(_would_block) => continue,
            }
        }
    }

    /// Waits until the socket takes datagrams again. The socket sits in
    /// the reactor for reading only: a socket that epoll watches for
    /// writing pays a wakeup for every packet the kernel frees (measured:
    /// 7% of the data plane's time on raw ESP). So writability is watched
    /// through a duplicate descriptor, and only while the kernel pushes
    /// back.
    async fn wait_writable(&self) {
        let watched = self.io.get_ref().try_clone().and_then(|dup| {
            // SAFETY: `dup` owns its own descriptor, which nothing else
            // can close or replace while the `AsyncFd` owns it; it is
            // deregistered and closed when the `AsyncFd` drops below.
            unsafe { AsyncFd::register_with_interest(dup, Interest::WRITABLE) }
                .map_err(io::Error::from)
        });
        match watched {
            Ok(fd) => {
                let _ = fd.writable().await;
            }
            Err(e) => {
                tracing::debug!(error = %e, "cannot watch for writability; backing off");
                tokio::time::sleep(std::time::Duration::from_millis(1)).await;
            }
        }
    }

    /// Sends every message, waiting when the socket buffer is full.
    /// Returns the number of messages the kernel refused; `failed` hears
    /// of each, by its index in `msgs`.
    pub async fn send_all(
        &self,
        msgs: &[Outgoing<'_>],
        mut failed: impl FnMut(usize, &io::Error),
    ) -> u64 {
        let mut at = 0;
        let mut refused = 0;
        while at < msgs.len() {
            let gso = self.gso.load(Ordering::Relaxed);
            let fd = self.io.get_ref().as_raw_fd();
            match mmsg::send_batch(fd, &msgs[at..], gso) {
                Ok(n) => at += n,
                Err(e) if e.error.kind() == io::ErrorKind::WouldBlock => {
                    self.wait_writable().await;
                }
                Err(mmsg::SendError {
                    error,
                    datagrams: run,
                }) => {
                    if run > 1 && gso_refused(error.raw_os_error()) {
                        // The kernel or the device cannot segment: send
                        // one datagram per message from now on.
                        self.gso.store(false, Ordering::Relaxed);
                        tracing::warn!(socket = %self.label(), error = %error, "UDP GSO refused; sending datagrams one by one");
                        continue;
                    }
                    // A hard error concerns the first message: skip it.
                    for i in at..(at + run).min(msgs.len()) {
                        refused += 1;
                        failed(i, &error);
                    }
                    tracing::debug!(error = %error, to = %msgs[at].to, "send failed");
                    at += run;
                }
            }
        }
        refused
    }
}

/// Errors that say UDP GSO itself is the problem (no checksum offload on
/// the route's device, or an old kernel), not the datagrams.
fn gso_refused(errno: Option<i32>) -> bool {
    matches!(
        errno,
        Some(libc::EIO | libc::EINVAL | libc::ENOPROTOOPT | libc::EOPNOTSUPP)
    )
}

/// UDP_GRO: the kernel hands over runs of datagrams of one flow as one
/// buffer (the segment size in a control message). Without it (old
/// kernels) datagrams come one by one, which also works.
fn enable_gro(s: &Socket) {
    if let Err(e) = setsockopt(s, sockopt::UdpGroSegment, &true) {
        tracing::debug!(error = %e, "UDP_GRO unavailable");
    }
}

/// RFC 3948 §2: an SPI is never zero, so four zero bytes mark IKE.
fn classify_udp(d: &[u8]) -> Classified {
    match d {
        [0xff] => Classified::NatKeepalive,
        [0, 0, 0, 0, ..] => Classified::NonEsp,
        _ if d.len() >= 8 => Classified::Esp(0..d.len()),
        _ => Classified::Malformed,
    }
}

/// IPv4 raw sockets deliver the IP header too (raw(7)).
fn classify_raw_v4(d: &[u8]) -> Classified {
    let Some(&vihl) = d.first() else {
        return Classified::Malformed;
    };
    let ihl = usize::from(vihl & 0x0f) * 4;
    if vihl >> 4 != 4 || ihl < 20 || d.len() < ihl + 8 || i32::from(d[9]) != IPPROTO_ESP {
        return Classified::Malformed;
    }
    Classified::Esp(ihl..d.len())
}

/// Large buffers: the receiving side of a userspace tunnel drops first
/// (see the test bed notes). SO_RCVBUFFORCE needs CAP_NET_ADMIN, which the
/// daemon has; otherwise the sysctl-capped SO_RCVBUF is the fallback.
fn set_buffers(s: &Socket, size: usize) {
    if setsockopt(s, sockopt::RcvBufForce, &size).is_err() {
        let _ = s.set_recv_buffer_size(size);
    }
    if setsockopt(s, sockopt::SndBufForce, &size).is_err() {
        let _ = s.set_send_buffer_size(size);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn udp_classification() {
        assert_eq!(classify_udp(&[0xff]), Classified::NatKeepalive);
        assert_eq!(classify_udp(&[0, 0, 0, 0, 1, 2, 3]), Classified::NonEsp);
        assert_eq!(classify_udp(&[1, 2, 3]), Classified::Malformed);
        assert_eq!(classify_udp(&[1; 20]), Classified::Esp(0..20));
    }

    #[test]
    fn raw_v4_classification() {
        let mut d = [0u8; 40];
        d[0] = 0x45;
        d[9] = 50;
        assert_eq!(classify_raw_v4(&d), Classified::Esp(20..40));
        d[9] = 17;
        assert_eq!(classify_raw_v4(&d), Classified::Malformed);
        assert_eq!(classify_raw_v4(&[]), Classified::Malformed);
        assert_eq!(classify_raw_v4(&[0x4f; 30]), Classified::Malformed);
    }
}
