//! One outbound SA shared by several sending workers (multi-queue TUN):
//! sequence numbers stay unique and dense, counters add up, and each
//! lifetime or sequence event is reported once.

mod common;

use common::*;
use esp::{next_header, LimitKind, Limits, OutboundSa, SaEventKind};
use std::sync::Arc;
use std::time::Instant;

const WORKERS: usize = 4;
const PER_WORKER: usize = 5_000;

/// Each worker seals `PER_WORKER` packets on the shared SA; returns every
/// ESP packet, worker by worker.
fn send_from_workers(out: &Arc<OutboundSa>) -> Vec<Vec<Vec<u8>>> {
    let handles: Vec<_> = (0..WORKERS)
        .map(|w| {
            let out = Arc::clone(out);
            std::thread::spawn(move || {
                let pkt = ipv4_packet(100, w as u8);
                let mut sent = Vec::with_capacity(PER_WORKER);
                for _ in 0..PER_WORKER {
                    let mut b = Buf::with(&pkt);
                    let p = b.payload();
                    if let Ok(r) = out.encapsulate(&mut b.data, p, next_header::IPV4) {
                        sent.push(b.data[r].to_vec());
                    }
                }
                sent
            })
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}

fn seq_of(esp: &[u8]) -> u32 {
    u32::from_be_bytes([esp[4], esp[5], esp[6], esp[7]])
}

#[test]
fn workers_share_one_dense_sequence_and_the_peer_accepts_every_packet() {
    for name in ["aes256gcm16", "aes256-sha256", "chacha20poly1305"] {
        let (out, mut inb) = pair(name, false);
        let out = Arc::new(out);
        let mut all: Vec<Vec<u8>> = send_from_workers(&out).into_iter().flatten().collect();
        let total = (WORKERS * PER_WORKER) as u64;
        assert_eq!(all.len() as u64, total, "{name}");
        all.sort_by_key(|p| seq_of(p));
        for (i, p) in all.iter().enumerate() {
            assert_eq!(
                u64::from(seq_of(p)),
                i as u64 + 1,
                "{name}: a gap or a duplicate"
            );
        }
        for p in &mut all {
            inb.decapsulate(p).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        let s = out.stats();
        assert_eq!((s.packets, out.last_seq()), (total, total), "{name}");
        assert_eq!(s.bytes, total * 100);
        assert_eq!(inb.stats().packets, total);
    }
}

#[test]
fn thresholds_crossed_by_several_workers_are_reported_once() {
    let mut p = params("aes256gcm16", false);
    p.lifetime.soft = Limits {
        bytes: Some(100 * 7_000),
        ..Limits::default()
    };
    p.lifetime.hard = Limits {
        packets: Some(15_000),
        ..Limits::default()
    };
    let mut out = OutboundSa::new(&p, Instant::now()).unwrap();
    // "Sequence low" fires at 2^32 - 2^26; start just before it.
    let low = u64::from(u32::MAX) - (u64::from(u32::MAX) >> 6);
    out.set_last_seq(low - 1_000);
    let out = Arc::new(out);
    let sent: usize = send_from_workers(&out).iter().map(Vec::len).sum();
    // The hard packet limit ends the SA at 15,000, give or take the packets
    // other workers were sealing at that moment; the rest are refused.
    assert!((15_000..15_000 + WORKERS).contains(&sent), "{sent}");
    assert_eq!(out.stats().refused, (WORKERS * PER_WORKER - sent) as u64);
    let mut events = Vec::new();
    while let Some(e) = out.poll_event() {
        events.push(e.kind);
    }
    events.sort_by_key(|k| format!("{k:?}"));
    assert_eq!(
        events,
        vec![
            SaEventKind::HardExpired(LimitKind::Packets),
            SaEventKind::SequenceLow,
            SaEventKind::SoftExpired(LimitKind::Bytes),
        ]
    );
}

#[test]
fn exhaustion_is_reported_once_however_many_workers_hit_it() {
    let (mut out, _) = pair("aes256gcm16", false);
    out.set_last_seq(u64::from(u32::MAX) - 100);
    let out = Arc::new(out);
    let sent: usize = send_from_workers(&out).iter().map(Vec::len).sum();
    assert_eq!(sent, 100);
    assert_eq!(out.last_seq(), u64::from(u32::MAX));
    let mut kinds = Vec::new();
    while let Some(e) = out.poll_event() {
        kinds.push(e.kind);
    }
    assert_eq!(kinds, vec![SaEventKind::SequenceExhausted]);
}
