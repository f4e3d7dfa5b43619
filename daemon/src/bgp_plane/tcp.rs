//! BGP's TCP side: dialling with a bound source, TTL and TCP-MD5, the
//! listener, and one reader and one writer task per connection.

use bgp::ConnId;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

pub const BGP_PORT: u16 = 179;

/// Backpressure. Readers hand the plane at most this many chunks (16 KiB
/// each) before they wait: a peer that sends faster than the plane
/// decodes fills its TCP window and is slowed by TCP, and vwand's memory
/// stays bounded (1 MiB per plane).
pub const NET_QUEUE: usize = 64;
/// Chunks one connection may have in [`NET_QUEUE`] at once, so that a
/// flooding peer cannot fill the queue in front of another peer's
/// keepalives (head-of-line blocking would expire its hold timer).
pub const PER_CONN_QUEUE: usize = 4;
/// Messages queued for one connection's writer. What vwand sends is
/// bounded by its own tables (a few UPDATEs of 4 KiB per thousand
/// prefixes) and keepalives; a peer that stops reading until this fills
/// has its connection closed.
pub const WRITE_QUEUE: usize = 1024;

/// What the connection tasks report to the BGP plane.
pub enum NetEvent {
    Dialed {
        peer: usize,
        conn: ConnId,
        result: io::Result<TcpStream>,
    },
    Accepted {
        stream: TcpStream,
        from: SocketAddr,
    },
    Data {
        peer: usize,
        conn: ConnId,
        data: Vec<u8>,
        /// One of the connection's [`PER_CONN_QUEUE`] slots, freed when
        /// the plane drops the event.
        _slot: tokio::sync::OwnedSemaphorePermit,
    },
    Closed {
        peer: usize,
        conn: ConnId,
    },
}

/// The kernel's `struct tcp_md5sig` (include/uapi/linux/tcp.h).
#[repr(C)]
struct TcpMd5Sig {
    addr: libc::sockaddr_storage,
    flags: u8,
    prefixlen: u8,
    keylen: u16,
    ifindex: libc::c_int,
    key: [u8; 80],
}

/// RFC 2385: sign every segment to and from `peer` with `key`.
pub fn set_md5(fd: &impl AsRawFd, peer: IpAddr, key: &[u8]) -> io::Result<()> {
    if key.len() > 80 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "TCP-MD5 key longer than 80 octets",
        ));
    }
    let sa = socket2::SockAddr::from(SocketAddr::new(peer, 0));
    // SAFETY: zeroed is a valid bit pattern for this plain C struct.
    let mut sig: TcpMd5Sig = unsafe { std::mem::zeroed() };
    // SAFETY: `sa.as_ptr()` points to `sa.len()` valid bytes, which is at
    // most the size of sockaddr_storage.
    unsafe {
        std::ptr::copy_nonoverlapping(
            sa.as_ptr().cast::<u8>(),
            std::ptr::addr_of_mut!(sig.addr).cast::<u8>(),
            (sa.len() as usize).min(std::mem::size_of::<libc::sockaddr_storage>()),
        );
    }
    sig.keylen = key.len() as u16;
    sig.key[..key.len()].copy_from_slice(key);
    // SAFETY: the fd is open (borrowed), and `sig` is a live, correctly
    // sized TCP_MD5SIG argument.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_MD5SIG,
            std::ptr::addr_of!(sig).cast(),
            std::mem::size_of::<TcpMd5Sig>() as libc::socklen_t,
        )
    };
    // The key copy on our stack is wiped.
    zeroize::Zeroize::zeroize(&mut sig.key);
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Octets the peer has not acknowledged yet (SIOCOUTQ: `write_seq -
/// snd_una`, so a sent FIN counts until it is acknowledged).
fn unacknowledged(stream: &TcpStream) -> io::Result<libc::c_int> {
    let mut n: libc::c_int = 0;
    // SAFETY: the fd is open (borrowed from the stream) and SIOCOUTQ
    // writes one c_int through the pointer, which is live and aligned.
    let rc = unsafe { libc::ioctl(stream.as_raw_fd(), libc::TIOCOUTQ, &mut n) };
    if rc == 0 {
        Ok(n)
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Waits until the peer has acknowledged everything written, FIN included.
/// At shutdown a Cease handed to the kernel is not yet a Cease received:
/// it still has to cross the tunnel, so the control plane (which removes
/// the SAs) waits for this. The caller bounds the wait.
async fn drained(stream: &TcpStream) {
    while matches!(unacknowledged(stream), Ok(n) if n > 0) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn socket_for(addr: IpAddr) -> io::Result<TcpSocket> {
    match addr {
        IpAddr::V4(_) => TcpSocket::new_v4(),
        IpAddr::V6(_) => TcpSocket::new_v6(),
    }
}

/// Dials the peer from `local`, with `ttl` (eBGP multihop) and TCP-MD5.
pub async fn dial(
    local: IpAddr,
    peer: SocketAddr,
    ttl: u8,
    md5: Option<&[u8]>,
    timeout: Duration,
) -> io::Result<TcpStream> {
    let sock = socket_for(local)?;
    let sr = socket2::SockRef::from(&sock);
    // The TUN address may appear a moment after start-up.
    sr.set_freebind(true).ok();
    match local {
        IpAddr::V4(_) => sr.set_ttl(u32::from(ttl))?,
        IpAddr::V6(_) => sr.set_unicast_hops_v6(u32::from(ttl))?,
    }
    if let Some(k) = md5 {
        set_md5(&sock, peer.ip(), k)?;
    }
    sock.bind(SocketAddr::new(local, 0))?;
    let stream = tokio::time::timeout(timeout, sock.connect(peer))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connect timed out"))??;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// Listens on `local`:179, with the MD5 key of each peer that has one.
pub fn listen(
    local: IpAddr,
    port: u16,
    ttl: u8,
    keys: &[(IpAddr, &[u8])],
) -> io::Result<TcpListener> {
    let sock = socket_for(local)?;
    sock.set_reuseaddr(true)?;
    let sr = socket2::SockRef::from(&sock);
    sr.set_freebind(true).ok();
    match local {
        IpAddr::V4(_) => sr.set_ttl(u32::from(ttl))?,
        IpAddr::V6(_) => sr.set_unicast_hops_v6(u32::from(ttl))?,
    }
    for (peer, key) in keys {
        set_md5(&sock, *peer, key)?;
    }
    sock.bind(SocketAddr::new(local, port))?;
    sock.listen(16)
}

pub async fn accept_loop(l: std::sync::Arc<TcpListener>, tx: mpsc::Sender<NetEvent>) {
    let mut failures = 0u32;
    loop {
        match l.accept().await {
            Ok((stream, from)) => {
                failures = 0;
                let _ = stream.set_nodelay(true);
                if tx.send(NetEvent::Accepted { stream, from }).await.is_err() {
                    return;
                }
            }
            Err(e) => {
                failures = failures.saturating_add(1);
                if failures == 1 {
                    tracing::warn!(error = %e, "BGP accept failed; backing off");
                }
                tokio::time::sleep(crate::status::accept_backoff(failures)).await;
            }
        }
    }
}

/// A running connection: its writer's queue and its two tasks.
pub struct ConnTasks {
    writer: mpsc::Sender<Vec<u8>>,
    reader: JoinHandle<()>,
    writer_task: JoinHandle<()>,
}

impl ConnTasks {
    /// Queues octets for the peer. False when the queue is full (the peer
    /// has not read [`WRITE_QUEUE`] messages): close the connection.
    #[must_use]
    pub fn send(&self, bytes: Vec<u8>) -> bool {
        !matches!(
            self.writer.try_send(bytes),
            Err(mpsc::error::TrySendError::Full(_))
        )
    }

    /// Stops reading, writes what is queued, then shuts the socket down.
    /// The writer task is returned, to wait for at exit.
    pub fn close(self) -> JoinHandle<()> {
        self.reader.abort();
        drop(self.writer);
        self.writer_task
    }
}

pub fn spawn(
    stream: TcpStream,
    peer: usize,
    conn: ConnId,
    tx: mpsc::Sender<NetEvent>,
) -> ConnTasks {
    let (mut rd, mut wr) = stream.into_split();
    let rtx = tx.clone();
    let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(PER_CONN_QUEUE));
    let reader = tokio::spawn(async move {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            // Wait for a slot before reading: a peer ahead of the plane
            // waits in its own TCP window.
            let Ok(slot) = slots.clone().acquire_owned().await else {
                return;
            };
            match rd.read(&mut buf).await {
                Ok(0) | Err(_) => {
                    let _ = rtx.send(NetEvent::Closed { peer, conn }).await;
                    return;
                }
                Ok(n) => {
                    let data = buf[..n].to_vec();
                    // Waits while the plane is behind (backpressure).
                    let ev = NetEvent::Data {
                        peer,
                        conn,
                        data,
                        _slot: slot,
                    };
                    if rtx.send(ev).await.is_err() {
                        return;
                    }
                }
            }
        }
    });
    let (wtx, mut wrx) = mpsc::channel::<Vec<u8>>(WRITE_QUEUE);
    let writer_task = tokio::spawn(async move {
        while let Some(bytes) = wrx.recv().await {
            if wr.write_all(&bytes).await.is_err() {
                let _ = tx.send(NetEvent::Closed { peer, conn }).await;
                return;
            }
        }
        let _ = wr.shutdown().await;
        drained(wr.as_ref()).await;
    });
    ConnTasks {
        writer: wtx,
        reader,
        writer_task,
    }
}
