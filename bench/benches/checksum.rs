//! The Internet checksum (RFC 1071) that the TUN offloads compute in
//! userspace: every segment split from a TSO/USO super-packet gets its
//! TCP or UDP checksum, and GRO verifies each segment's before merging.
//!
//! Ids read `checksum/<deferred|textbook>/<size>`: `deferred` is
//! `tun::offload::sum` (32-bit words into a 64-bit accumulator, carries
//! folded once at the end), `textbook` the 16-bit add-and-fold loop of
//! RFC 1071 §4.1, for scale. Throughput is in bytes summed.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::hint::black_box;
use tun::offload::{fold, sum};

/// RFC 1071 §4.1, 16 bits at a time with the carry folded every step.
fn textbook(data: &[u8]) -> u16 {
    let mut acc: u32 = 0;
    for c in data.chunks(2) {
        acc += u32::from(c[0]) << 8 | u32::from(*c.get(1).unwrap_or(&0));
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

fn checksum(c: &mut Criterion) {
    let mut g = c.benchmark_group("checksum");
    for size in [64usize, 1400, 65_535] {
        let data: Vec<u8> = (0..size).map(|i| (i * 31 + 7) as u8).collect();
        assert_eq!(fold(sum(&data, 0)), textbook(&data));
        g.throughput(Throughput::Bytes(size as u64));
        g.bench_with_input(BenchmarkId::new("deferred", size), &data, |b, d| {
            b.iter(|| fold(sum(black_box(d), 0)));
        });
        g.bench_with_input(BenchmarkId::new("textbook", size), &data, |b, d| {
            b.iter(|| textbook(black_box(d)));
        });
    }
    g.finish();
}

criterion_group!(benches, checksum);
criterion_main!(benches);
