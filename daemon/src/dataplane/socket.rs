//! The data plane's sockets, the last stage out and the first in: the two
//! ways ESP travels (raw IP protocol 50, or inside UDP, RFC 3948), and
//! batched datagram IO on them: `recvmmsg(2)` and `sendmmsg(2)` into
//! caller-owned slots, with UDP GSO runs out and UDP GRO runs in. The
//! header arrays live on the stack, so a batch allocates nothing.
//!
//! Why by hand and not nix 0.29's `recvmmsg`/`sendmmsg`: nix's `sendmmsg`
//! gives every message of a call the same control messages, but a batch
//! here mixes UDP GSO runs of different segment sizes (each its own
//! UDP_SEGMENT) with single datagrams; and its `MultiHeaders` holds raw
//! pointers, so it is not `Send` and would have to be rebuilt (allocated)
//! for every batch or be declared `Send` with an `unsafe impl`. quinn-udp
//! covers UDP only (raw ESP needs these too) and sends one message per
//! call. Socket options go through nix.

use nix::sys::socket::{setsockopt, sockopt};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::io;
use std::mem::{size_of, zeroed};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::ops::Range;
use std::os::fd::{AsRawFd, RawFd};
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
            match guard.try_io(|fd| recv_batch(fd.as_raw_fd(), slots, lens, from, segs)) {
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
            match send_batch(fd, &msgs[at..], gso) {
                Ok(n) => at += n,
                Err(e) if e.error.kind() == io::ErrorKind::WouldBlock => {
                    self.wait_writable().await;
                }
                Err(SendError {
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

// Batched datagram IO.

/// Packets per syscall.
pub const BATCH: usize = 64;

/// Room for one `cmsghdr` carrying an int (UDP_SEGMENT, UDP_GRO), as
/// `CMSG_SPACE(sizeof(int))`, aligned for `cmsghdr`.
type Cmsg = [u64; 4];

/// Receives up to `min(slots.len(), BATCH)` datagrams without blocking.
/// Fills `lens`, `from` and `segs` and returns how many arrived. On a
/// socket with UDP_GRO a "datagram" may be several that the kernel
/// coalesced: `segs[i]` is then their size (the last may be shorter),
/// else 0.
pub fn recv_batch(
    fd: RawFd,
    slots: &mut [Vec<u8>],
    lens: &mut [usize; BATCH],
    from: &mut [SocketAddr; BATCH],
    segs: &mut [usize; BATCH],
) -> io::Result<usize> {
    let n = slots.len().min(BATCH);
    let mut control: [Cmsg; BATCH] = [[0; 4]; BATCH];
    // SAFETY: all-zero bytes are a valid value for these plain C structs.
    let mut iovs: [libc::iovec; BATCH] = unsafe { zeroed() };
    // SAFETY: as above.
    let mut addrs: [libc::sockaddr_storage; BATCH] = unsafe { zeroed() };
    // SAFETY: as above.
    let mut hdrs: [libc::mmsghdr; BATCH] = unsafe { zeroed() };
    for i in 0..n {
        iovs[i].iov_base = slots[i].as_mut_ptr().cast();
        iovs[i].iov_len = slots[i].len();
        hdrs[i].msg_hdr.msg_name = (&mut addrs[i] as *mut libc::sockaddr_storage).cast();
        hdrs[i].msg_hdr.msg_namelen = size_of::<libc::sockaddr_storage>() as u32;
        hdrs[i].msg_hdr.msg_iov = &mut iovs[i];
        hdrs[i].msg_hdr.msg_iovlen = 1;
        hdrs[i].msg_hdr.msg_control = control[i].as_mut_ptr().cast();
        hdrs[i].msg_hdr.msg_controllen = size_of::<Cmsg>();
    }
    // SAFETY: `hdrs[..n]` point at `iovs`, `addrs`, `control` and the
    // slots, all of which outlive the call and are not otherwise borrowed
    // during it; the kernel writes at most `iov_len` bytes into each slot,
    // `msg_namelen` into each address and `msg_controllen` into each
    // control buffer.
    let got = unsafe {
        libc::recvmmsg(
            fd,
            hdrs.as_mut_ptr(),
            n as u32,
            libc::MSG_DONTWAIT,
            std::ptr::null_mut(),
        )
    };
    if got < 0 {
        return Err(io::Error::last_os_error());
    }
    let got = got as usize;
    for i in 0..got {
        lens[i] = hdrs[i].msg_len as usize;
        from[i] = sockaddr_to_std(&addrs[i]);
        segs[i] = gro_size(&hdrs[i].msg_hdr);
    }
    Ok(got)
}

/// The UDP_GRO segment size in a received message's control data, or 0.
fn gro_size(hdr: &libc::msghdr) -> usize {
    // SAFETY: `hdr` was filled by recvmmsg: msg_control points at our
    // control buffer and msg_controllen says how much of it the kernel
    // wrote, which is what CMSG_FIRSTHDR/CMSG_NXTHDR walk.
    let mut cmsg = unsafe { libc::CMSG_FIRSTHDR(hdr) };
    while !cmsg.is_null() {
        // SAFETY: a non-null cmsg from CMSG_FIRSTHDR/NXTHDR lies inside the
        // control buffer; an int follows a UDP_GRO header (kernel ABI).
        unsafe {
            let c = &*cmsg;
            if c.cmsg_level == libc::SOL_UDP && c.cmsg_type == libc::UDP_GRO {
                let v = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast::<libc::c_int>());
                return usize::try_from(v).unwrap_or(0);
            }
            cmsg = libc::CMSG_NXTHDR(hdr, cmsg);
        }
    }
    0
}

/// One datagram to send: bytes of a slot and where to.
#[derive(Clone, Copy)]
pub struct Outgoing<'a> {
    pub data: &'a [u8],
    pub to: SocketAddr,
}

/// Most datagrams in one UDP GSO send (the kernel's UDP_MAX_SEGMENTS is
/// 64 before Linux 6.4), and most bytes (one IP datagram's worth).
const GSO_SEGMENTS: usize = 64;
const GSO_BYTES: usize = 65_000;

/// The datagrams at the front of `msgs` one UDP GSO send can carry: the
/// same destination, the same size but a shorter last one.
fn run_len(msgs: &[Outgoing<'_>]) -> usize {
    let Some(first) = msgs.first() else {
        return 0;
    };
    let size = first.data.len();
    let mut n = 1;
    let mut bytes = size;
    for m in &msgs[1..] {
        if n == GSO_SEGMENTS
            || m.to != first.to
            || m.data.len() > size
            || bytes + m.data.len() > GSO_BYTES
        {
            break;
        }
        n += 1;
        bytes += m.data.len();
        if m.data.len() < size {
            break;
        }
    }
    n
}

/// Why a batch stopped: the error, and how many datagrams it concerns
/// (the first message: one datagram, or a whole GSO run).
pub struct SendError {
    pub error: io::Error,
    pub datagrams: usize,
}

/// Sends up to `BATCH` datagrams without blocking; returns how many went.
/// With `gso` (a UDP socket), runs of equal-sized datagrams to one peer
/// go as one message with UDP_SEGMENT: one skb through the stack for up
/// to 64 datagrams.
pub fn send_batch(fd: RawFd, msgs: &[Outgoing<'_>], gso: bool) -> Result<usize, SendError> {
    let n = msgs.len().min(BATCH);
    // SAFETY: all-zero bytes are a valid value for these plain C structs.
    let mut iovs: [libc::iovec; BATCH] = unsafe { zeroed() };
    // SAFETY: as above.
    let mut addrs: [libc::sockaddr_storage; BATCH] = unsafe { zeroed() };
    // SAFETY: as above.
    let mut hdrs: [libc::mmsghdr; BATCH] = unsafe { zeroed() };
    let mut control: [Cmsg; BATCH] = [[0; 4]; BATCH];
    let mut runs = [0usize; BATCH];
    for (i, iov) in iovs.iter_mut().enumerate().take(n) {
        iov.iov_base = msgs[i].data.as_ptr() as *mut libc::c_void;
        iov.iov_len = msgs[i].data.len();
    }
    let (mut at, mut m) = (0, 0);
    while at < n {
        let run = if gso { run_len(&msgs[at..n]) } else { 1 };
        runs[m] = run;
        let len = std_to_sockaddr(msgs[at].to, &mut addrs[m]);
        let h = &mut hdrs[m].msg_hdr;
        h.msg_name = (&mut addrs[m] as *mut libc::sockaddr_storage).cast();
        h.msg_namelen = len;
        h.msg_iov = &mut iovs[at];
        h.msg_iovlen = run;
        if run > 1 {
            h.msg_control = control[m].as_mut_ptr().cast();
            // SAFETY: CMSG_SPACE only computes a size.
            h.msg_controllen = unsafe { libc::CMSG_SPACE(size_of::<u16>() as u32) } as usize;
            // SAFETY: msg_control points at a zeroed, cmsghdr-aligned buffer
            // of CMSG_SPACE(2) bytes or more, so the first header and its
            // two data bytes lie inside it.
            unsafe {
                let c = libc::CMSG_FIRSTHDR(h);
                (*c).cmsg_level = libc::SOL_UDP;
                (*c).cmsg_type = libc::UDP_SEGMENT;
                (*c).cmsg_len = libc::CMSG_LEN(size_of::<u16>() as u32) as usize;
                let size = msgs[at].data.len() as u16;
                std::ptr::write_unaligned(libc::CMSG_DATA(c).cast::<u16>(), size);
            }
        }
        at += run;
        m += 1;
    }
    // SAFETY: every header points at live stack arrays and at the callers'
    // slices, which the kernel only reads (sendmmsg does not write to iov
    // buffers even though iov_base is a mutable pointer).
    let sent = unsafe { libc::sendmmsg(fd, hdrs.as_mut_ptr(), m as u32, libc::MSG_DONTWAIT) };
    if sent < 0 {
        return Err(SendError {
            error: io::Error::last_os_error(),
            datagrams: runs[0],
        });
    }
    Ok(runs[..sent as usize].iter().sum())
}

fn sockaddr_to_std(s: &libc::sockaddr_storage) -> SocketAddr {
    match i32::from(s.ss_family) {
        libc::AF_INET6 => {
            // SAFETY: ss_family says the storage holds a sockaddr_in6, and
            // sockaddr_storage is large and aligned enough for it.
            let a = unsafe { &*(s as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
            SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(a.sin6_addr.s6_addr),
                u16::from_be(a.sin6_port),
                a.sin6_flowinfo,
                a.sin6_scope_id,
            ))
        }
        _ => {
            // SAFETY: AF_INET (or nothing, all zero) fits a sockaddr_in.
            let a = unsafe { &*(s as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            SocketAddr::V4(SocketAddrV4::new(
                Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr)),
                u16::from_be(a.sin_port),
            ))
        }
    }
}

fn std_to_sockaddr(addr: SocketAddr, out: &mut libc::sockaddr_storage) -> u32 {
    match addr {
        SocketAddr::V4(a) => {
            // SAFETY: sockaddr_storage is large and aligned enough for a
            // sockaddr_in, and we write a fully initialised one.
            let s =
                unsafe { &mut *(out as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            s.sin_family = libc::AF_INET as libc::sa_family_t;
            s.sin_port = a.port().to_be();
            s.sin_addr.s_addr = u32::from(*a.ip()).to_be();
            size_of::<libc::sockaddr_in>() as u32
        }
        SocketAddr::V6(a) => {
            // SAFETY: as above, for sockaddr_in6.
            let s =
                unsafe { &mut *(out as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
            s.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            s.sin6_port = a.port().to_be();
            s.sin6_addr.s6_addr = a.ip().octets();
            s.sin6_flowinfo = a.flowinfo();
            s.sin6_scope_id = a.scope_id();
            size_of::<libc::sockaddr_in6>() as u32
        }
    }
}

/// The unspecified address, to initialise `from` arrays.
pub const UNSPECIFIED: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0);

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
