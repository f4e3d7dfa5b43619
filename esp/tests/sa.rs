//! Behaviour of inbound and outbound SAs: round trips, tamper, replay,
//! padding, sequence exhaustion and lifetimes.

mod common;

use common::*;
use esp::{
    next_header, DropReason, EncapError, InboundSa, InboundSad, LimitKind, Limits, OutboundSa,
    ReplayError, SaEventKind, Selector, Selectors,
};
use std::time::{Duration, Instant};

#[test]
fn round_trip_every_transform_and_size() {
    for name in ALL {
        for esn in [false, true] {
            let (mut out, mut inb) = pair(name, esn);
            for (i, len) in [28usize, 29, 30, 31, 64, 511, 1400, 8192]
                .into_iter()
                .enumerate()
            {
                let (pkt, nh) = if i % 2 == 0 {
                    (ipv4_packet(len, i as u8), next_header::IPV4)
                } else {
                    (ipv6_packet(len.max(48), i as u8), next_header::IPV6)
                };
                let mut esp = seal(&mut out, &pkt, nh);
                let t = out.transform();
                assert_eq!(
                    (esp.len() - t.header_len() - t.icv_len()) % t.encryption.block_len(),
                    0
                );
                let d = inb
                    .decapsulate(&mut esp)
                    .unwrap_or_else(|e| panic!("{name} esn={esn} len={len}: {e}"));
                assert_eq!(
                    &esp[d.inner.clone()],
                    &pkt[..],
                    "{name} esn={esn} len={len}"
                );
                assert_eq!(d.next_header, nh);
                assert_eq!(d.seq, i as u64 + 1);
            }
            assert_eq!(inb.stats().packets, 8);
            assert_eq!(out.stats().packets, 8);
            assert_eq!(inb.stats().bytes, out.stats().bytes);
        }
    }
}

#[test]
fn emit_writes_every_byte_it_claims() {
    // The buffer starts as 0xa5; two encryptions of the same packet under
    // different sequence numbers must differ everywhere the cipher writes.
    for name in ALL {
        let (mut out, _) = pair(name, false);
        let pkt = ipv4_packet(100, 0);
        let a = seal(&mut out, &pkt, 4);
        let b = seal(&mut out, &pkt, 4);
        assert_eq!(a.len(), b.len());
        assert_eq!(&a[..4], &[1, 2, 3, 4], "SPI");
        assert_eq!(&a[4..8], &[0, 0, 0, 1]);
        assert_eq!(&b[4..8], &[0, 0, 0, 2]);
        assert_ne!(a[8..], b[8..], "{name}: IV and ciphertext change with seq");
    }
}

#[test]
fn every_single_bit_flip_is_an_icv_failure() {
    for name in ALL {
        let (mut out, mut inb) = pair(name, true);
        let esp = seal(&mut out, &ipv4_packet(60, 7), 4);
        for bit in 0..esp.len() * 8 {
            let mut t = esp.clone();
            t[bit / 8] ^= 1 << (bit % 8);
            let r = inb.decapsulate(&mut t);
            // Flips in the SPI are the SAD's business; here the SA is fixed.
            // Flips in the sequence number change the ESN AAD too.
            // A flip that zeroes the sequence number is caught earlier.
            let seq_zero = t[4..8] == [0; 4];
            assert!(
                matches!(r, Err(DropReason::IcvFailure))
                    || (seq_zero && r == Err(DropReason::Replay(ReplayError::Zero))),
                "{name}: bit {bit} gave {r:?}"
            );
        }
        let mut ok = esp.clone();
        assert!(inb.decapsulate(&mut ok).is_ok());
        assert_eq!(
            inb.stats().icv_failure + inb.stats().replay + inb.stats().too_old,
            esp.len() as u64 * 8
        );
    }
}

#[test]
fn replay_and_window() {
    let (mut out, mut inb) = pair("aes256gcm16", false);
    let pkts: Vec<Vec<u8>> = (0..2000)
        .map(|_| seal(&mut out, &ipv4_packet(40, 1), 4))
        .collect();
    // Deliver 1..=900 out of order within the window, then replay.
    let mut order: Vec<usize> = (0..900).collect();
    order.swap(0, 899);
    order.swap(10, 500);
    for &i in &order {
        inb.decapsulate(&mut pkts[i].clone()).unwrap();
    }
    assert_eq!(
        inb.decapsulate(&mut pkts[899].clone()),
        Err(DropReason::Replay(ReplayError::Duplicate))
    );
    inb.decapsulate(&mut pkts[1999].clone()).unwrap();
    // Window 1024: top 2000, so 977 (index 976) is the last one accepted.
    assert_eq!(
        inb.decapsulate(&mut pkts[1999 - 1024].clone()),
        Err(DropReason::Replay(ReplayError::TooOld))
    );
    inb.decapsulate(&mut pkts[1999 - 1023].clone()).unwrap();
    assert_eq!(inb.stats().replay, 1);
    assert_eq!(inb.stats().too_old, 1);
}

#[test]
fn forged_packet_does_not_move_the_window() {
    let (mut out, mut inb) = pair("aes128gcm16", false);
    let first = seal(&mut out, &ipv4_packet(40, 1), 4);
    let mut forged = first.clone();
    forged[4..8].copy_from_slice(&1_000_000u32.to_be_bytes());
    assert_eq!(inb.decapsulate(&mut forged), Err(DropReason::IcvFailure));
    assert_eq!(inb.replay_window().top(), 0);
    inb.decapsulate(&mut first.clone()).unwrap();
}

#[test]
fn esn_crosses_the_32_bit_boundary() {
    for name in ["aes256gcm16", "aes256-sha512"] {
        let (mut out, mut inb) = pair(name, true);
        out.set_last_seq(u64::from(u32::MAX) - 3);
        for _ in 0..8 {
            let mut esp = seal(&mut out, &ipv4_packet(40, 1), 4);
            inb.decapsulate(&mut esp).unwrap();
        }
        assert_eq!(inb.replay_window().top(), (1 << 32) + 4);
    }
}

#[test]
fn sequence_exhaustion_refuses_and_asks_for_rekey() {
    let (mut out, _) = pair("aes256gcm16", false);
    out.set_last_seq(u64::from(u32::MAX) - 1);
    let pkt = ipv4_packet(40, 1);
    let mut b = Buf::with(&pkt);
    assert!({
        let r = b.payload();
        out.encapsulate(&mut b.data, r, 4)
    }
    .is_ok());
    let mut b = Buf::with(&pkt);
    assert_eq!(
        {
            let r = b.payload();
            out.encapsulate(&mut b.data, r, 4)
        },
        Err(EncapError::Refused)
    );
    assert_eq!(
        out.poll_event().map(|e| e.kind),
        Some(SaEventKind::SequenceExhausted)
    );
    assert_eq!(
        {
            let r = b.payload();
            out.encapsulate(&mut b.data, r, 4)
        },
        Err(EncapError::Refused)
    );
    assert_eq!(out.poll_event(), None, "the event fires once");
    assert_eq!(out.stats().refused, 2);
}

#[test]
fn headroom_and_tailroom_are_checked() {
    let (out, _) = pair("aes256-sha256", false);
    let pkt = ipv4_packet(40, 1);
    let mut b = Buf::with(&pkt);
    assert_eq!(
        out.encapsulate(&mut b.data, 10..50, 4),
        Err(EncapError::NoHeadroom)
    );
    let end = b.data.len();
    assert_eq!(
        out.encapsulate(&mut b.data, end - 40..end, 4),
        Err(EncapError::NoTailroom)
    );
    assert_eq!(out.stats().packets, 0);
    assert_eq!(out.last_seq(), 0, "no sequence number is burnt");
}

#[test]
fn bad_inner_and_dummy_are_counted() {
    let (mut out, mut inb) = pair("aes128gcm16", false);
    // Next header says IPv6 but the inner packet is IPv4.
    let mut esp = seal(&mut out, &ipv4_packet(40, 1), next_header::IPV6);
    assert_eq!(inb.decapsulate(&mut esp), Err(DropReason::Malformed));
    // Dummy packets are dropped on purpose.
    let mut esp = seal(&mut out, &ipv4_packet(40, 1), next_header::NONE);
    assert_eq!(inb.decapsulate(&mut esp), Err(DropReason::Dummy));
    assert_eq!(inb.stats().malformed, 1);
    assert_eq!(inb.stats().dummy, 1);
}

/// Seals a hand-built RFC 4106 packet with ring directly, so the trailer
/// can be wrong while the ICV is right.
fn hand_sealed_gcm(seq: u32, plaintext_and_trailer: &[u8]) -> Vec<u8> {
    use ring::aead;
    let p = params("aes128gcm16", false);
    let k = p.enc_key.expose();
    let key = aead::LessSafeKey::new(aead::UnboundKey::new(&aead::AES_128_GCM, &k[..16]).unwrap());
    let mut pkt = Vec::new();
    pkt.extend_from_slice(&p.spi.to_be_bytes());
    pkt.extend_from_slice(&seq.to_be_bytes());
    let iv = [9u8; 8];
    pkt.extend_from_slice(&iv);
    let mut body = plaintext_and_trailer.to_vec();
    let mut nonce = [0u8; 12];
    nonce[..4].copy_from_slice(&k[16..20]);
    nonce[4..].copy_from_slice(&iv);
    key.seal_in_place_append_tag(
        aead::Nonce::assume_unique_for_key(nonce),
        aead::Aad::from(&pkt[..8]),
        &mut body,
    )
    .unwrap();
    pkt.extend_from_slice(&body);
    pkt
}

#[test]
fn padding_is_checked_after_the_icv() {
    let (_, mut inb) = pair("aes128gcm16", false);
    let inner = ipv4_packet(28, 0);
    // 28 + 2 padding + 2 trailer = 32, aligned to 4.
    let mut good = inner.clone();
    good.extend_from_slice(&[1, 2, 2, 4]);
    let mut bad = inner.clone();
    bad.extend_from_slice(&[1, 3, 2, 4]);
    let mut overlong = inner.clone();
    overlong.extend_from_slice(&[1, 2, 200, 4]);
    assert!(
        inb.decapsulate(&mut hand_sealed_gcm(1, &good)).is_ok(),
        "independent seal decapsulates"
    );
    assert_eq!(
        inb.decapsulate(&mut hand_sealed_gcm(2, &bad)),
        Err(DropReason::BadPadding)
    );
    assert_eq!(
        inb.decapsulate(&mut hand_sealed_gcm(3, &overlong)),
        Err(DropReason::BadPadding)
    );
    assert_eq!(inb.stats().bad_padding, 2);
    // Authentic packets consume their sequence numbers even when dropped.
    assert_eq!(
        inb.decapsulate(&mut hand_sealed_gcm(2, &good)),
        Err(DropReason::Replay(ReplayError::Duplicate))
    );
}

#[test]
fn truncated_and_misaligned_input_is_malformed() {
    for name in ALL {
        let (mut out, mut inb) = pair(name, false);
        let esp = seal(&mut out, &ipv4_packet(100, 3), 4);
        for cut in 0..esp.len() {
            let mut t = esp[..cut].to_vec();
            let r = inb.decapsulate(&mut t);
            assert!(
                matches!(r, Err(DropReason::Malformed | DropReason::IcvFailure)),
                "{name}: cut {cut} gave {r:?}"
            );
        }
    }
}

#[test]
fn sad_counts_unknown_spi_and_short_packets() {
    let (mut out, inb) = pair("chacha20poly1305", false);
    let mut sad = InboundSad::new();
    sad.insert(inb).unwrap();
    let mut esp = seal(&mut out, &ipv4_packet(50, 2), 4);
    assert!(sad.decapsulate(&mut esp.clone()).1.is_ok());
    esp[0] ^= 0x80;
    assert_eq!(sad.decapsulate(&mut esp).1, Err(DropReason::UnknownSpi));
    assert_eq!(sad.decapsulate(&mut [1, 2]).1, Err(DropReason::Malformed));
    assert_eq!(sad.stats().unknown_spi, 1);
    assert_eq!(sad.stats().malformed, 1);
    let (_, dup) = pair("chacha20poly1305", false);
    assert!(sad.insert(dup).is_err());
}

#[test]
fn lifetimes_fire_once_each() {
    let now = Instant::now();
    let mut p = params("aes256gcm16", false);
    p.lifetime.soft = Limits {
        packets: Some(3),
        ..Limits::default()
    };
    p.lifetime.hard = Limits {
        bytes: Some(500),
        time: Some(Duration::from_secs(60)),
        ..Limits::default()
    };
    let out = OutboundSa::new(&p, now).unwrap();
    let mut inb = InboundSa::new(&p, now).unwrap();
    let pkt = ipv4_packet(100, 1);
    for i in 0..5 {
        let mut b = Buf::with(&pkt);
        let r = {
            let r = b.payload();
            out.encapsulate(&mut b.data, r, 4)
        };
        if i < 5 {
            assert!(r.is_ok(), "packet {i}");
        }
        inb.decapsulate(&mut b.data[r.unwrap()]).unwrap();
    }
    let kinds: Vec<_> = std::iter::from_fn(|| out.poll_event())
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        kinds,
        vec![
            SaEventKind::SoftExpired(LimitKind::Packets),
            SaEventKind::HardExpired(LimitKind::Bytes)
        ]
    );
    let mut b = Buf::with(&pkt);
    assert_eq!(
        {
            let r = b.payload();
            out.encapsulate(&mut b.data, r, 4)
        },
        Err(EncapError::Refused)
    );
    assert!(inb.is_expired());

    // Time limits go through poll_timeout/handle_timeout.
    let mut p = params("aes256gcm16", false);
    p.lifetime.soft.time = Some(Duration::from_secs(10));
    p.lifetime.hard.time = Some(Duration::from_secs(12));
    let mut sa = InboundSa::new(&p, now).unwrap();
    assert_eq!(sa.poll_timeout(), Some(now + Duration::from_secs(10)));
    sa.handle_timeout(now + Duration::from_secs(9));
    assert_eq!(sa.poll_event(), None);
    sa.handle_timeout(now + Duration::from_secs(10));
    assert_eq!(
        sa.poll_event().map(|e| e.kind),
        Some(SaEventKind::SoftExpired(LimitKind::Time))
    );
    assert_eq!(sa.poll_timeout(), Some(now + Duration::from_secs(12)));
    sa.handle_timeout(now + Duration::from_secs(13));
    assert_eq!(
        sa.poll_event().map(|e| e.kind),
        Some(SaEventKind::HardExpired(LimitKind::Time))
    );
    assert_eq!(sa.poll_timeout(), None);
    let mut esp = seal(&mut OutboundSa::new(&p, now).unwrap(), &pkt, 4);
    assert_eq!(sa.decapsulate(&mut esp), Err(DropReason::Expired));
}

/// RFC 4301 §5.1/§5.2: an SA narrowed to 10.0.0.1 → 10.0.0.2 admits only
/// that outbound, and drops (and counts) an authentic inbound packet
/// outside it after the ICV check.
#[test]
fn traffic_selectors_are_enforced_both_ways() {
    let host = |a: &str| Selector {
        start: a.parse().unwrap(),
        end: a.parse().unwrap(),
        protocol: 0,
        start_port: 0,
        end_port: u16::MAX,
    };
    let mut out_p = params("aes256gcm16", true);
    out_p.selectors = Selectors::new(vec![host("10.0.0.1")], vec![host("10.0.0.2")]);
    // The receiver's view of the same SA: its local side is 10.0.0.2.
    let mut in_p = out_p.clone();
    in_p.selectors = Selectors::new(vec![host("10.0.0.2")], vec![host("10.0.0.1")]);
    let now = Instant::now();
    let mut out = OutboundSa::new(&out_p, now).unwrap();
    let mut inb = InboundSa::new(&in_p, now).unwrap();
    let inside = ipv4_packet(60, 1);
    let mut outside = ipv4_packet(60, 2);
    outside[12..16].copy_from_slice(&[10, 0, 0, 9]);
    assert!(out.admits(&inside));
    assert!(!out.admits(&outside));
    let mut esp = seal(&mut out, &inside, next_header::IPV4);
    assert!(inb.decapsulate(&mut esp).is_ok());
    // A sender that ignores the selectors: authentic, but refused.
    let mut esp = seal(&mut out, &outside, next_header::IPV4);
    assert_eq!(inb.decapsulate(&mut esp), Err(DropReason::Selectors));
    assert_eq!(inb.stats().selectors, 1);
    assert_eq!(inb.stats().packets, 1);
}

#[test]
fn low_sequence_space_asks_for_a_rekey_before_exhaustion() {
    let (mut out, _) = pair("aes256gcm16", false);
    let low = u64::from(u32::MAX) - (u64::from(u32::MAX) >> 6);
    out.set_last_seq(low - 2);
    let pkt = ipv4_packet(40, 1);
    seal(&mut out, &pkt, next_header::IPV4);
    assert_eq!(out.poll_event(), None);
    seal(&mut out, &pkt, next_header::IPV4);
    assert_eq!(
        out.poll_event().map(|e| e.kind),
        Some(SaEventKind::SequenceLow)
    );
    seal(&mut out, &pkt, next_header::IPV4);
    assert_eq!(out.poll_event(), None, "once");
}
