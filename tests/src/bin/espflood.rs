//! Floods an ESP receiver with garbage, as fast as one thread can send, for
//! a bounded time: packets with unknown SPIs, packets with the real SPI and
//! a wrong ICV, truncated packets, and (given one) a captured valid packet
//! again and again (replays). Raw ESP (IP protocol 50) or ESP in UDP.
//!
//! ```text
//! espflood --dst 192.0.2.2 [--udp 4500] --spi 0x1001 --seconds 8 [--replay HEX]
//! ```
//!
//! Prints one JSON line: packets sent per kind, seconds, packets/s.

use netns::flood::{flag_pairs, xorshift};
use serde_json::json;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;
use std::time::{Duration, Instant};

struct Opts {
    dst: IpAddr,
    udp: Option<u16>,
    spi: u32,
    secs: u64,
    replay: Option<Vec<u8>>,
}

fn parse() -> Result<Opts, String> {
    let mut o = Opts {
        dst: IpAddr::from([127, 0, 0, 1]),
        udp: None,
        spi: 0,
        secs: 5,
        replay: None,
    };
    for (flag, v) in flag_pairs()? {
        let bad = |e: &dyn std::fmt::Display| format!("{flag} {v}: {e}");
        match flag.as_str() {
            "--dst" => o.dst = v.parse().map_err(|e| bad(&e))?,
            "--udp" => o.udp = Some(v.parse().map_err(|e| bad(&e))?),
            "--spi" => {
                o.spi = u32::from_str_radix(v.trim_start_matches("0x"), 16).map_err(|e| bad(&e))?
            }
            "--seconds" => o.secs = v.parse().map_err(|e| bad(&e))?,
            "--replay" => o.replay = Some(hex::decode(&v).map_err(|e| bad(&e))?),
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    Ok(o)
}

fn main() -> ExitCode {
    let o = match parse() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("espflood: {e}");
            return ExitCode::from(2);
        }
    };
    let domain = Domain::for_address(SocketAddr::new(o.dst, 0));
    let (sock, to) = match o.udp {
        Some(port) => (
            Socket::new(domain, Type::DGRAM, Some(Protocol::UDP)),
            SockAddr::from(SocketAddr::new(o.dst, port)),
        ),
        None => (
            Socket::new(domain, Type::RAW, Some(Protocol::from(50))),
            SockAddr::from(SocketAddr::new(o.dst, 0)),
        ),
    };
    let sock = match sock {
        Ok(s) => s,
        Err(e) => {
            eprintln!("espflood: socket: {e}");
            return ExitCode::from(1);
        }
    };
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let mut counts = [0u64; 4];
    let mut buf = [0u8; 140];
    let start = Instant::now();
    let end = start + Duration::from_secs(o.secs);
    let mut i = 0u64;
    while Instant::now() < end {
        for _ in 0..256 {
            i += 1;
            let r = xorshift(&mut rng);
            let kind = (i % 4) as usize;
            let pkt: &[u8] = match kind {
                0 => {
                    // An unknown SPI (never 0, which UDP encapsulation
                    // reserves for IKE; never the real one).
                    let spi = (r as u32 | 1).wrapping_add(o.spi.wrapping_mul(2));
                    buf[..4].copy_from_slice(&spi.to_be_bytes());
                    buf[4..8].copy_from_slice(&(r >> 32).to_be_bytes()[4..]);
                    &buf[..140]
                }
                1 => {
                    // The real SPI, a fresh sequence number, garbage after.
                    buf[..4].copy_from_slice(&o.spi.to_be_bytes());
                    buf[4..8].copy_from_slice(&((i as u32) | 1 << 31).to_be_bytes());
                    buf[8..16].copy_from_slice(&r.to_be_bytes());
                    &buf[..140]
                }
                2 => {
                    buf[..4].copy_from_slice(&o.spi.to_be_bytes());
                    &buf[..6]
                }
                _ => match &o.replay {
                    Some(p) => p,
                    None => continue,
                },
            };
            if sock.send_to(pkt, &to).is_ok() {
                counts[kind] += 1;
            }
        }
    }
    let secs = start.elapsed().as_secs_f64();
    let total: u64 = counts.iter().sum();
    println!(
        "{}",
        json!({
            "unknown_spi": counts[0],
            "bad_icv": counts[1],
            "truncated": counts[2],
            "replay": counts[3],
            "seconds": (secs * 1000.0).round() / 1000.0,
            "pps": (total as f64 / secs).round(),
        })
    );
    ExitCode::SUCCESS
}
