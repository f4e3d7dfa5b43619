//! Small UDP datagrams as fast as the machine can send them, and a counter
//! at the other end: the race's packets-per-second leg.
//!
//! iperf3 sends one datagram per system call from one thread, and at 64
//! bytes it took half of a 2-vCPU machine, so it measured iperf3. The
//! sender here hands the kernel 64 datagrams per `sendmmsg`, spread over
//! `--flows` source ports (each its own connected socket), so the tunnel
//! under test is what runs out first.
//!
//! ```text
//! udpblast recv --bind 10.2.0.2:5301 --seconds 13
//! udpblast send --dst 10.2.0.2:5301 --seconds 10 [--len 64] [--flows 8]
//! ```
//!
//! `--proto esp` sends and counts raw IP protocol 50 packets instead (no
//! ESP inside: `bench/raw_floor.sh` uses it to measure what the kernel
//! alone costs per raw IP packet, the floor under vwand's raw ESP path).
//!
//! `recv` counts datagrams until `--seconds` have passed, or until none has
//! come for a second after the first, and prints one JSON line:
//! `{"received": N, "first_to_last_s": S}`. `send` prints
//! `{"sent": N, "seconds": S}`.

use netns::flood::pairs;
use serde_json::json;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// Datagrams per system call.
const BATCH: usize = 64;

struct Opts {
    mode: String,
    addr: SocketAddr,
    secs: u64,
    len: usize,
    flows: usize,
    /// Raw IP protocol 50 instead of UDP.
    esp: bool,
}

fn parse() -> Result<Opts, String> {
    let mode = std::env::args().nth(1).ok_or("send or recv?")?;
    let mut o = Opts {
        mode,
        addr: SocketAddr::from(([127, 0, 0, 1], 5301)),
        secs: 5,
        len: 64,
        flows: 8,
        esp: false,
    };
    for (flag, v) in pairs(std::env::args().skip(2))? {
        let bad = |e: &dyn std::fmt::Display| format!("{flag} {v}: {e}");
        match flag.as_str() {
            "--dst" | "--bind" => o.addr = v.parse().map_err(|e| bad(&e))?,
            "--seconds" => o.secs = v.parse().map_err(|e| bad(&e))?,
            "--len" => o.len = v.parse().map_err(|e| bad(&e))?,
            "--flows" => o.flows = v.parse().map_err(|e| bad(&e))?,
            "--proto" => {
                o.esp = match v.as_str() {
                    "udp" => false,
                    "esp" => true,
                    _ => return Err(bad(&"udp or esp")),
                }
            }
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    Ok(o)
}

/// `sendmmsg` or `recvmmsg` over `BATCH` buffers of `len` bytes each.
/// Returns the datagrams moved (0 on EAGAIN, a timeout or ENOBUFS).
fn mmsg(sock: &Socket, bufs: &mut [Vec<u8>], send: bool) -> io::Result<usize> {
    let mut iov: Vec<libc::iovec> = bufs
        .iter_mut()
        .map(|b| libc::iovec {
            iov_base: b.as_mut_ptr().cast(),
            iov_len: b.len(),
        })
        .collect();
    // SAFETY: zeroed mmsghdr is valid (null name and control, no iovecs).
    let mut hdrs: Vec<libc::mmsghdr> = (0..iov.len())
        .map(|_| unsafe { std::mem::zeroed() })
        .collect();
    for (h, v) in hdrs.iter_mut().zip(iov.iter_mut()) {
        h.msg_hdr.msg_iov = v;
        h.msg_hdr.msg_iovlen = 1;
    }
    let n = hdrs.len() as libc::c_uint;
    // SAFETY: every header points at one live iovec, which points at a
    // live buffer of its length; the socket is open for the call.
    let rc = unsafe {
        if send {
            libc::sendmmsg(sock.as_raw_fd(), hdrs.as_mut_ptr(), n, 0)
        } else {
            libc::recvmmsg(
                sock.as_raw_fd(),
                hdrs.as_mut_ptr(),
                n,
                0,
                std::ptr::null_mut(),
            )
        }
    };
    if rc >= 0 {
        return Ok(rc as usize);
    }
    let e = io::Error::last_os_error();
    match e.raw_os_error() {
        Some(libc::EAGAIN) | Some(libc::ENOBUFS) | Some(libc::EINTR) => Ok(0),
        _ => Err(e),
    }
}

/// A UDP socket, or a raw IP socket for protocol 50 (the port is ignored).
fn socket(o: &Opts) -> io::Result<Socket> {
    let (ty, proto) = if o.esp {
        (Type::RAW, Some(Protocol::from(50)))
    } else {
        (Type::DGRAM, None)
    };
    Socket::new(Domain::for_address(o.addr), ty, proto)
}

fn send(o: &Opts) -> io::Result<serde_json::Value> {
    let to = SockAddr::from(o.addr);
    let socks = (0..o.flows.max(1))
        .map(|_| {
            let s = socket(o)?;
            s.connect(&to)?;
            Ok(s)
        })
        .collect::<io::Result<Vec<_>>>()?;
    let mut bufs = vec![vec![0x5au8; o.len]; BATCH];
    let start = Instant::now();
    let end = start + Duration::from_secs(o.secs);
    let mut sent = 0u64;
    let mut i = 0usize;
    while Instant::now() < end {
        // Each batch from the next flow: flows interleave at batch grain.
        sent += mmsg(&socks[i % socks.len()], &mut bufs, true)? as u64;
        i += 1;
    }
    Ok(json!({ "sent": sent, "seconds": start.elapsed().as_secs_f64() }))
}

fn recv(o: &Opts) -> io::Result<serde_json::Value> {
    let s = socket(o)?;
    s.set_recv_buffer_size(8 << 20)?;
    s.bind(&SockAddr::from(o.addr))?;
    s.set_read_timeout(Some(Duration::from_millis(100)))?;
    let mut bufs = vec![vec![0u8; 2048]; BATCH];
    let end = Instant::now() + Duration::from_secs(o.secs);
    let (mut first, mut last) = (None, Instant::now());
    let mut received = 0u64;
    while Instant::now() < end {
        let n = mmsg(&s, &mut bufs, false)?;
        let now = Instant::now();
        if n > 0 {
            received += n as u64;
            first.get_or_insert(now);
            last = now;
        } else if first.is_some() && now - last > Duration::from_secs(1) {
            break;
        }
    }
    let span = first.map_or(0.0, |f| (last - f).as_secs_f64());
    Ok(json!({ "received": received, "first_to_last_s": span }))
}

fn main() -> ExitCode {
    let o = match parse() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("udpblast: {e}");
            return ExitCode::from(2);
        }
    };
    let r = match o.mode.as_str() {
        "send" => send(&o),
        "recv" => recv(&o),
        m => {
            eprintln!("udpblast: unknown mode {m}");
            return ExitCode::from(2);
        }
    };
    match r {
        Ok(v) => {
            println!("{v}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("udpblast: {e}");
            ExitCode::FAILURE
        }
    }
}
