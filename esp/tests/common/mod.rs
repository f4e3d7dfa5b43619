//! Shared helpers for the esp integration tests.
#![allow(dead_code)]

use esp::{InboundSa, OutboundSa, SaParams, SecretBytes, Transform, MAX_HEADROOM, MAX_TAILROOM};
use std::time::Instant;

pub const ALL: &[&str] = esp::TRANSFORM_NAMES;

pub fn params(name: &str, esn: bool) -> SaParams {
    let t: Transform = name.parse().unwrap();
    let enc = SecretBytes::new((0..t.encryption.key_len() as u8).collect());
    let mut p = SaParams::new(0x0102_0304, t, enc);
    p.integ_key = t
        .integrity
        .map(|i| SecretBytes::new((100..100 + i.key_len() as u8).collect()));
    p.esn = esn;
    p
}

pub fn pair(name: &str, esn: bool) -> (OutboundSa, InboundSa) {
    let p = params(name, esn);
    let now = Instant::now();
    (
        OutboundSa::new(&p, now).unwrap(),
        InboundSa::new(&p, now).unwrap(),
    )
}

/// A syntactically valid IPv4/UDP packet of `len` bytes (len >= 28).
pub fn ipv4_packet(len: usize, fill: u8) -> Vec<u8> {
    let mut p = vec![fill; len];
    p[0] = 0x45;
    p[1] = 0;
    p[2..4].copy_from_slice(&(len as u16).to_be_bytes());
    p[8] = 64;
    p[9] = 17;
    p[12..16].copy_from_slice(&[10, 0, 0, 1]);
    p[16..20].copy_from_slice(&[10, 0, 0, 2]);
    p
}

/// A syntactically valid IPv6 packet of `len` bytes (len >= 48).
pub fn ipv6_packet(len: usize, fill: u8) -> Vec<u8> {
    let mut p = vec![fill; len];
    p[0] = 0x60;
    p[1..4].copy_from_slice(&[0, 0, 0]);
    p[4..6].copy_from_slice(&((len - 40) as u16).to_be_bytes());
    p[6] = 17;
    p[7] = 64;
    p
}

/// A buffer with the packet placed after the headroom.
pub struct Buf {
    pub data: Vec<u8>,
    pub len: usize,
}

impl Buf {
    pub fn with(pkt: &[u8]) -> Self {
        let mut data = vec![0xa5; MAX_HEADROOM + pkt.len() + MAX_TAILROOM];
        data[MAX_HEADROOM..MAX_HEADROOM + pkt.len()].copy_from_slice(pkt);
        Self {
            data,
            len: pkt.len(),
        }
    }

    pub fn payload(&self) -> std::ops::Range<usize> {
        MAX_HEADROOM..MAX_HEADROOM + self.len
    }
}

/// Encapsulates `pkt` and returns the ESP packet bytes.
pub fn seal(out: &mut OutboundSa, pkt: &[u8], nh: u8) -> Vec<u8> {
    let mut b = Buf::with(pkt);
    let p = b.payload();
    let r = out.encapsulate(&mut b.data, p, nh).unwrap();
    b.data[r].to_vec()
}
