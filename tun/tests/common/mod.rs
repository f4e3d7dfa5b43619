//! Helpers for the privileged integration tests: run a closure inside a
//! fresh network namespace owned by a dedicated thread, and build/parse the
//! few IP packets the tests need.

#![allow(dead_code)]

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::time::{Duration, Instant};

use tun::AsyncTun;

/// Headroom the tests reserve in front of every packet.
pub const HEADROOM: usize = 64;
/// Per-slot buffer size: headroom + a full 1500-byte packet.
pub const SLOT: usize = HEADROOM + 1600;
/// Upper bound for any wait in these tests.
pub const DEADLINE: Duration = Duration::from_secs(5);

/// Runs `f` on a new thread that first moves itself into a brand-new
/// network namespace (`unshare(CLONE_NEWNET)`) and builds a current-thread
/// tokio runtime there. Nothing is ever created in the root namespace: the
/// namespace dies with the thread and the fds it opened.
///
/// Panics when the environment cannot run the test (not root, no
/// `/dev/net/tun`, namespaces not permitted): these tests never skip.
pub fn in_fresh_netns<F, Fut>(test: &str, f: F) -> bool
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = ()>,
{
    if !nix::unistd::geteuid().is_root() {
        panic!("{test}: needs root (CAP_NET_ADMIN); run the suite as root");
    }
    if !Path::new(tun::TUN_CLONE_DEVICE).exists() {
        panic!("{test}: {} missing", tun::TUN_CLONE_DEVICE);
    }
    let name = test.to_string();
    let worker = std::thread::Builder::new()
        .name(format!("netns-{test}"))
        .spawn(move || {
            if let Err(e) = nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET) {
                panic!("{name}: unshare(CLONE_NEWNET) failed: {e}");
            }
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("build current-thread runtime");
            rt.block_on(f());
            true
        })
        .expect("spawn netns thread");
    match worker.join() {
        Ok(ran) => ran,
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

/// Keeps calling `send` and reading batches from `tun` until a packet
/// satisfying `want` shows up or [`DEADLINE`] passes. Re-sending (at most
/// every 100 ms) makes the test robust against a packet racing the route setup.
/// Returns the matching packet (copied out of its slot).
pub async fn expect_packet(
    tun: &AsyncTun,
    mut send: impl FnMut(),
    want: impl Fn(&[u8]) -> bool,
) -> Vec<u8> {
    let mut bufs = vec![[0xAAu8; SLOT]; 8];
    let mut lens = [0usize; 8];
    let deadline = Instant::now() + DEADLINE;
    let resend_every = Duration::from_millis(100);
    let mut next_send = Instant::now();
    while Instant::now() < deadline {
        if Instant::now() >= next_send {
            send();
            next_send = Instant::now() + resend_every;
        }
        let round =
            tokio::time::timeout(resend_every, tun.read_batch(&mut bufs, HEADROOM, &mut lens))
                .await;
        let n = match round {
            Err(_elapsed) => continue,
            Ok(res) => res.expect("read_batch"),
        };
        assert!(n >= 1 && n <= bufs.len(), "read_batch returned {n}");
        for (buf, &len) in bufs.iter().zip(&lens).take(n) {
            assert!(
                buf[..HEADROOM].iter().all(|&b| b == 0xAA),
                "read_batch wrote into the headroom"
            );
            let pkt = &buf[HEADROOM..HEADROOM + len];
            if want(pkt) {
                return pkt.to_vec();
            }
        }
    }
    panic!("no matching packet on the TUN within {DEADLINE:?}");
}

/// `(source, destination, destination port)` if `pkt` is a UDP packet
/// (IPv4 or IPv6 without extension headers).
pub fn udp_flow(pkt: &[u8]) -> Option<(IpAddr, IpAddr, u16)> {
    match pkt.first()? >> 4 {
        4 => {
            let ihl = usize::from(pkt[0] & 0x0f) * 4;
            if pkt.len() < ihl + 8 || pkt[9] != 17 {
                return None;
            }
            let src: [u8; 4] = pkt[12..16].try_into().ok()?;
            let dst: [u8; 4] = pkt[16..20].try_into().ok()?;
            let port = u16::from_be_bytes([pkt[ihl + 2], pkt[ihl + 3]]);
            Some((src.into(), dst.into(), port))
        }
        6 => {
            if pkt.len() < 48 || pkt[6] != 17 {
                return None;
            }
            let src: [u8; 16] = pkt[8..24].try_into().ok()?;
            let dst: [u8; 16] = pkt[24..40].try_into().ok()?;
            let port = u16::from_be_bytes([pkt[42], pkt[43]]);
            Some((src.into(), dst.into(), port))
        }
        _ => None,
    }
}

/// Builds an IPv4/UDP packet (UDP checksum 0, which IPv4 allows).
pub fn ipv4_udp(src: (Ipv4Addr, u16), dst: (Ipv4Addr, u16), payload: &[u8]) -> Vec<u8> {
    let total = 20 + 8 + payload.len();
    let mut p = vec![0u8; total];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    p[8] = 64; // TTL
    p[9] = 17; // UDP
    p[12..16].copy_from_slice(&src.0.octets());
    p[16..20].copy_from_slice(&dst.0.octets());
    let csum = ipv4_checksum(&p[..20]);
    p[10..12].copy_from_slice(&csum.to_be_bytes());
    p[20..22].copy_from_slice(&src.1.to_be_bytes());
    p[22..24].copy_from_slice(&dst.1.to_be_bytes());
    p[24..26].copy_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    p[28..].copy_from_slice(payload);
    p
}

/// An IPv4 packet (no options, TTL 64) from `src` to `dst` around `l4`,
/// a TCP (`proto` 6) or UDP (17) header and payload whose checksum field
/// is zero; fills in both checksums.
pub fn ipv4_l4(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, l4: &[u8]) -> Vec<u8> {
    let total = 20 + l4.len();
    let mut p = vec![0u8; total];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    p[8] = 64;
    p[9] = proto;
    p[12..16].copy_from_slice(&src.octets());
    p[16..20].copy_from_slice(&dst.octets());
    let csum = ipv4_checksum(&p[..20]);
    p[10..12].copy_from_slice(&csum.to_be_bytes());
    p[20..].copy_from_slice(l4);
    let at = 20 + if proto == 6 { 16 } else { 6 };
    let pseudo = tun::offload::pseudo_header(&src.octets(), &dst.octets(), proto, l4.len());
    let c = !tun::offload::fold(tun::offload::sum(&p[20..], pseudo));
    p[at..at + 2].copy_from_slice(&c.to_be_bytes());
    p
}

/// A TCP header (no options) and `payload`, checksum field zero.
pub fn tcp_l4(ports: (u16, u16), seq: u32, ack: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut t = vec![0u8; 20 + payload.len()];
    t[0..2].copy_from_slice(&ports.0.to_be_bytes());
    t[2..4].copy_from_slice(&ports.1.to_be_bytes());
    t[4..8].copy_from_slice(&seq.to_be_bytes());
    t[8..12].copy_from_slice(&ack.to_be_bytes());
    t[12] = 5 << 4;
    t[13] = flags;
    t[14..16].copy_from_slice(&65535u16.to_be_bytes());
    t[20..].copy_from_slice(payload);
    t
}

/// A UDP header and `payload`, checksum field zero.
pub fn udp_l4(ports: (u16, u16), payload: &[u8]) -> Vec<u8> {
    let mut u = vec![0u8; 8 + payload.len()];
    u[0..2].copy_from_slice(&ports.0.to_be_bytes());
    u[2..4].copy_from_slice(&ports.1.to_be_bytes());
    u[4..6].copy_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    u[8..].copy_from_slice(payload);
    u
}

fn ipv4_checksum(header: &[u8]) -> u16 {
    let mut sum: u32 = header
        .chunks(2)
        .map(|w| u32::from(u16::from_be_bytes([w[0], *w.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}
