//! Fuzzes inbound ESP processing.
//!
//! Every input gets a fresh SA database (so a crash reproduces from its
//! input alone) holding one SA per transform family, with fixed keys and
//! SPIs 1 to 4:
//!
//! | SPI | transform        | ESN |
//! |-----|------------------|-----|
//! | 1   | aes256gcm16      | yes |
//! | 2   | chacha20poly1305 | no  |
//! | 3   | aes256-sha256    | yes |
//! | 4   | aes128-sha512    | no  |
//!
//! Bit 0 of the first byte picks the mode:
//!
//! - 0, raw: the rest of the input is handed to `InboundSad::decapsulate`
//!   as an ESP packet. This covers parsing, SPI lookup, length and replay
//!   checks, and the ICV check failing.
//! - 1, round trip: to get past the ICV, the rest of the input becomes an
//!   inner IP packet that the matching `OutboundSa` encapsulates; the
//!   result is decapsulated, optionally after flipping a byte, truncating
//!   or extending it. An unmodified packet must come back exactly; a
//!   modified one must be dropped.
//!
//! In both modes nothing may panic, and every call must either succeed or
//! bump exactly one drop counter.

#![no_main]

use esp::{
    next_header, DropReason, EncapError, InboundSa, InboundSad, InboundStats, OutboundSa,
    ReplayError, SaParams, SadStats, SecretBytes, Transform, MAX_HEADROOM, MAX_TAILROOM,
};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;
use std::time::Instant;

const SAS: [(u32, &str, bool); 4] = [
    (1, "aes256gcm16", true),
    (2, "chacha20poly1305", false),
    (3, "aes256-sha256", true),
    (4, "aes128-sha512", false),
];

fn params() -> &'static [SaParams; 4] {
    static P: OnceLock<[SaParams; 4]> = OnceLock::new();
    P.get_or_init(|| {
        SAS.map(|(spi, name, esn)| {
            let t: Transform = name.parse().unwrap();
            let seed = spi as u8 * 16;
            let enc = (0..t.encryption.key_len() as u8)
                .map(|i| seed.wrapping_add(i))
                .collect();
            let mut p = SaParams::new(spi, t, SecretBytes::new(enc));
            p.integ_key = t.integrity.map(|i| {
                SecretBytes::new(
                    (0..i.key_len() as u8)
                        .map(|b| b.wrapping_mul(7).wrapping_add(seed))
                        .collect(),
                )
            });
            p.esn = esn;
            p
        })
    })
}

/// Packets accepted and packets dropped, over the SAD and all its SAs.
fn counters(sad: &InboundSad) -> (u64, u64) {
    let SadStats {
        unknown_spi,
        malformed,
    } = *sad.stats();
    let mut accepted = 0;
    let mut dropped = unknown_spi + malformed;
    for sa in sad.iter() {
        // Exhaustive on purpose: a new counter must be added here too.
        let InboundStats {
            packets,
            bytes: _,
            replay,
            too_old,
            icv_failure,
            bad_padding,
            malformed,
            expired,
            dummy,
            selectors,
        } = *sa.stats();
        accepted += packets;
        dropped +=
            replay + too_old + icv_failure + bad_padding + malformed + expired + dummy + selectors;
    }
    (accepted, dropped)
}

/// Decapsulates and checks that exactly one counter went up: packets on
/// success, one drop counter otherwise.
fn decap(sad: &mut InboundSad, pkt: &mut [u8]) -> (u32, Result<esp::Decapsulated, DropReason>) {
    let (acc0, drop0) = counters(sad);
    let r = sad.decapsulate(pkt);
    let (acc1, drop1) = counters(sad);
    match &r.1 {
        Ok(_) => assert_eq!((acc1, drop1), (acc0 + 1, drop0), "{r:?}"),
        Err(_) => assert_eq!((acc1, drop1), (acc0, drop0 + 1), "{r:?}"),
    }
    r
}

fn sad_with(replaced: Option<InboundSa>) -> InboundSad {
    let now = Instant::now();
    let mut sad = InboundSad::new();
    let skip = replaced.as_ref().map(|sa| sa.spi());
    if let Some(sa) = replaced {
        sad.insert(sa).unwrap();
    }
    for p in params() {
        if Some(p.spi) != skip {
            sad.insert(InboundSa::new(p, now).unwrap()).unwrap();
        }
    }
    sad
}

/// Round-trip header: mode byte, position (2), mask, start sequence (8),
/// replay lead, TFC length (2).
const RT_HEADER: usize = 15;

fn round_trip(data: &[u8]) {
    if data.len() < RT_HEADER {
        return;
    }
    let flags = data[0];
    let sa_idx = usize::from(flags >> 1) & 3;
    let mutation = (flags >> 3) & 3;
    let v6 = flags & 0x20 != 0;
    let tfc = flags & 0x40 != 0;
    let dummy = flags & 0x80 != 0;
    let pos = usize::from(u16::from_be_bytes([data[1], data[2]]));
    let mask = data[3];
    let start = u64::from_be_bytes(data[4..12].try_into().unwrap());
    let lead = u64::from(data[12]);
    let tfc_len = usize::from(u16::from_be_bytes([data[13], data[14]]));

    // The inner packet: the rest of the input, made a well-formed IPv4 or
    // IPv6 header (version and length; nothing else is checked), padded to
    // the minimum header length. With `tfc`, its length field is shorter
    // than the payload and the rest is TFC padding (RFC 4303 §2.4).
    let (min, nh) = if v6 {
        (40, next_header::IPV6)
    } else {
        (20, next_header::IPV4)
    };
    let mut inner = data[RT_HEADER..].to_vec();
    inner.truncate(usize::from(u16::MAX));
    if inner.len() < min {
        inner.resize(min, 0);
    }
    let ip_len = if tfc {
        tfc_len.clamp(min, inner.len())
    } else {
        inner.len()
    };
    if v6 {
        inner[0] = 0x60 | (inner[0] & 0x0f);
        inner[4..6].copy_from_slice(&((ip_len - 40) as u16).to_be_bytes());
    } else {
        inner[0] = 0x40 | (inner[0] & 0x0f);
        inner[2..4].copy_from_slice(&(ip_len as u16).to_be_bytes());
    }
    let nh = if dummy { next_header::NONE } else { nh };

    let p = &params()[sa_idx];
    let now = Instant::now();
    let mut out = OutboundSa::new(p, now).unwrap();
    let max_seq = if p.esn { u64::MAX } else { u64::from(u32::MAX) };
    let start = if p.esn { start } else { start % (max_seq + 1) };
    out.set_last_seq(start);

    let mut buf = vec![0u8; MAX_HEADROOM + inner.len() + MAX_TAILROOM];
    let payload = MAX_HEADROOM..MAX_HEADROOM + inner.len();
    buf[payload.clone()].copy_from_slice(&inner);
    let range = match out.encapsulate(&mut buf, payload, nh) {
        Ok(r) => r,
        Err(e) => {
            assert_eq!(e, EncapError::Refused);
            assert!(start >= max_seq);
            return;
        }
    };
    let seq = start + 1;
    assert_eq!(out.last_seq(), seq);
    let sealed = buf[range].to_vec();

    // The receiver has seen everything up to a little before `seq`, so ESN
    // inference lands in the right 2^32 subspace.
    let mut inb = InboundSa::new(p, now).unwrap();
    inb.set_replay_top(seq.saturating_sub(1 + lead));
    let mut sad = sad_with(Some(inb));

    let mut pkt = sealed.clone();
    match mutation {
        0 => {}
        1 => {
            let i = pos % pkt.len();
            pkt[i] ^= if mask == 0 { 0x80 } else { mask };
        }
        2 => pkt.truncate(pos % pkt.len()),
        _ => pkt.extend(std::iter::repeat_n(mask, pos % 64 + 1)),
    }
    let modified = pkt != sealed;
    assert_eq!(modified, mutation != 0);

    let (spi, r) = decap(&mut sad, &mut pkt);
    if modified {
        assert!(r.is_err(), "a modified packet was accepted: {r:?}");
        return;
    }
    assert_eq!(spi, p.spi);
    if dummy {
        assert_eq!(r, Err(DropReason::Dummy));
        return;
    }
    let d = r.unwrap_or_else(|e| panic!("round trip failed: {e}"));
    assert_eq!(d.seq, seq);
    assert_eq!(d.next_header, nh);
    assert_eq!(&pkt[d.inner], &inner[..ip_len]);

    // The same packet again is a replay.
    let mut again = sealed;
    let (_, r) = decap(&mut sad, &mut again);
    assert_eq!(r, Err(DropReason::Replay(ReplayError::Duplicate)));
}

fuzz_target!(|data: &[u8]| {
    let Some(&mode) = data.first() else {
        return;
    };
    if mode & 1 == 0 {
        let mut sad = sad_with(None);
        let mut pkt = data[1..].to_vec();
        let _ = decap(&mut sad, &mut pkt);
    } else {
        round_trip(data);
    }
});
