//! Batched datagram IO: `recvmmsg(2)` and `sendmmsg(2)` into caller-owned
//! slots. The header arrays live on the stack, so a batch allocates nothing.
//!
//! Why by hand and not nix 0.29's `recvmmsg`/`sendmmsg`: nix's `sendmmsg`
//! gives every message of a call the same control messages, but a batch
//! here mixes UDP GSO runs of different segment sizes (each its own
//! UDP_SEGMENT) with single datagrams; and its `MultiHeaders` holds raw
//! pointers, so it is not `Send` and would have to be rebuilt (allocated)
//! for every batch or be declared `Send` with an `unsafe impl`. quinn-udp
//! covers UDP only (raw ESP needs these too) and sends one message per
//! call. Socket options go through nix (`transport.rs`).

use std::io;
use std::mem::{size_of, zeroed};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::RawFd;

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
