//! ESP data-plane throughput, and the bare AEAD it is built on.
//!
//! Benchmark ids read `esp/<transform>/<encap|decap>/<size>` and
//! `ring/aes256gcm/<seal|open|seal_esp|open_esp>/<size>`, where size is the inner IP packet
//! (the plaintext) in bytes; throughput is reported in those bytes. Dividing
//! `esp/aes256gcm16/encap/N` by `ring/aes256gcm/seal/N` (and decap by open)
//! gives the cost ESP adds over the AEAD itself; `bench/esp_overhead.sh`
//! prints that table.
//!
//! How each side is measured:
//!
//! - encap: one preallocated buffer with headroom and tailroom, encapsulated
//!   in place over and over. The payload bytes turn into ciphertext after
//!   the first iteration, which does not change the work done; the sequence
//!   number advances every iteration as it would in real traffic.
//! - decap: decapsulation destroys its input and the anti-replay window
//!   refuses a sequence number twice, so one packet cannot simply be opened
//!   in a loop. Instead a ring of distinct packets (sequence numbers 1..=n,
//!   at most 256 KiB in all so it stays in L2) is sealed once up front. Each
//!   round, untimed, copies the ring into a scratch area and rewinds the
//!   SA's replay window with `InboundSa::set_replay_top(0)`; then the n
//!   decapsulations alone are timed (`iter_custom`). Every packet is
//!   accepted, so the full path runs: replay check, ICV, decrypt, window
//!   update, padding and inner-header checks.
//! - ring seal/open: the same two schemes with ring's AES-256-GCM on the same
//!   plaintext lengths, with an 8-byte AAD (what ESP without ESN
//!   authenticates: SPI and sequence number) and a fresh nonce per packet.
//!   The ESP side additionally encrypts its 2-byte trailer (plus padding to
//!   4 bytes), which is inherent to the protocol and counted as ESP cost.
//!   `ring/aes256gcm/{seal,open}_esp/<size>` seal and open exactly the
//!   bytes ESP encrypts for that inner size, which splits ESP's overhead
//!   into the trailer's share (ring handles a trailing partial 16-byte
//!   block on a slow path: 66 bytes cost about as much as 96) and the
//!   framing code's.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use esp::{
    next_header, InboundSa, OutboundSa, SaParams, SecretBytes, Transform, MAX_HEADROOM,
    MAX_TAILROOM,
};
use ring::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey};
use std::hint::black_box;
use std::time::{Duration, Instant};

const SIZES: [usize; 4] = [64, 512, 1400, 8192];
const TRANSFORMS: [&str; 4] = [
    "aes256gcm16",
    "aes128gcm16",
    "chacha20poly1305",
    "aes256-sha256",
];
const SPI: u32 = 0x0102_0304;
/// Upper bound on the bytes of one decap ring (sealed copy and scratch
/// each), so both stay cache-resident like the single encap buffer.
const RING_BYTES: usize = 256 * 1024;

fn params(name: &str) -> SaParams {
    let t: Transform = name.parse().expect("transform name");
    let enc = SecretBytes::new((0..t.encryption.key_len() as u8).collect());
    let mut p = SaParams::new(SPI, t, enc);
    p.integ_key = t
        .integrity
        .map(|i| SecretBytes::new((100..100 + i.key_len() as u8).collect()));
    p
}

/// A syntactically valid IPv4/UDP packet of `len` bytes (len >= 28), so
/// decapsulation's inner-header check passes.
fn ipv4_packet(len: usize) -> Vec<u8> {
    let mut p = vec![0x5a; len];
    p[0] = 0x45;
    p[1] = 0;
    p[2..4].copy_from_slice(&(len as u16).to_be_bytes());
    p[8] = 64;
    p[9] = 17;
    p[12..16].copy_from_slice(&[10, 0, 0, 1]);
    p[16..20].copy_from_slice(&[10, 0, 0, 2]);
    p
}

/// How many packets of `len` bytes one decap ring holds.
fn ring_len(len: usize) -> usize {
    (RING_BYTES / len).clamp(16, 4096)
}

/// `n` same-sized packets back to back, each `stride` bytes, with a copy to
/// work on in place.
struct PacketRing {
    sealed: Vec<u8>,
    scratch: Vec<u8>,
    stride: usize,
}

impl PacketRing {
    fn n(&self) -> usize {
        self.sealed.len() / self.stride
    }

    /// Times `op` over every packet of the ring, as many rounds as it takes
    /// to reach `iters` operations. `rewind` and the copy run untimed before
    /// each round.
    fn time<S, R>(
        &mut self,
        iters: u64,
        state: &mut S,
        rewind: impl Fn(&mut S),
        op: impl Fn(&mut S, usize, &mut [u8]) -> R,
    ) -> Duration {
        let mut total = Duration::ZERO;
        let mut left = iters;
        while left > 0 {
            let k = left.min(self.n() as u64) as usize;
            let bytes = k * self.stride;
            self.scratch[..bytes].copy_from_slice(&self.sealed[..bytes]);
            rewind(state);
            let start = Instant::now();
            for (i, pkt) in self.scratch[..bytes]
                .chunks_exact_mut(self.stride)
                .enumerate()
            {
                black_box(op(state, i, pkt));
            }
            total += start.elapsed();
            left -= k as u64;
        }
        total
    }
}

fn esp_benches(c: &mut Criterion) {
    for name in TRANSFORMS {
        let p = params(name);
        let mut g = c.benchmark_group(format!("esp/{name}"));
        for size in SIZES {
            g.throughput(Throughput::Bytes(size as u64));
            let pkt = ipv4_packet(size);
            let now = Instant::now();

            // Encapsulate the same buffer in place, again and again.
            let out = OutboundSa::new(&p, now).expect("outbound SA");
            let mut buf = vec![0u8; MAX_HEADROOM + size + MAX_TAILROOM];
            let payload = MAX_HEADROOM..MAX_HEADROOM + size;
            buf[payload.clone()].copy_from_slice(&pkt);
            g.bench_function(BenchmarkId::new("encap", size), |b| {
                b.iter(|| {
                    out.encapsulate(black_box(&mut buf), payload.clone(), next_header::IPV4)
                        .expect("encapsulate")
                })
            });

            // Seal a ring of packets with sequence numbers 1..=n once; each
            // round restores it and rewinds the replay window, untimed.
            let out = OutboundSa::new(&p, now).expect("outbound SA");
            let mut sealed = Vec::new();
            let mut stride = 0;
            for _ in 0..ring_len(size) {
                let mut b = vec![0u8; MAX_HEADROOM + size + MAX_TAILROOM];
                b[payload.clone()].copy_from_slice(&pkt);
                let r = out
                    .encapsulate(&mut b, payload.clone(), next_header::IPV4)
                    .expect("encapsulate");
                stride = r.len();
                sealed.extend_from_slice(&b[r]);
            }
            let mut ring = PacketRing {
                scratch: sealed.clone(),
                sealed,
                stride,
            };
            let mut inb = InboundSa::new(&p, now).expect("inbound SA");
            g.bench_function(BenchmarkId::new("decap", size), |b| {
                b.iter_custom(|iters| {
                    ring.time(
                        iters,
                        &mut inb,
                        |inb| inb.set_replay_top(0),
                        |inb, _, pkt| inb.decapsulate(pkt).expect("decapsulate"),
                    )
                })
            });
        }
        g.finish();
    }
}

/// The nonce for packet `i`: a 4-byte salt and an 8-byte counter, as ESP
/// builds it.
fn nonce(i: u64) -> Nonce {
    let mut n = [0u8; 12];
    n[..4].copy_from_slice(&[0xde, 0xad, 0xbe, 0xef]);
    n[4..].copy_from_slice(&i.to_be_bytes());
    Nonce::assume_unique_for_key(n)
}

/// SPI and sequence number: the AAD of ESP without ESN.
fn aad(i: u64) -> [u8; 8] {
    let mut a = [0u8; 8];
    a[..4].copy_from_slice(&SPI.to_be_bytes());
    a[4..].copy_from_slice(&(i as u32).to_be_bytes());
    a
}

/// The bytes ESP hands the AEAD for an inner packet of `size` bytes: the
/// packet, the 2-byte trailer, and padding to 4 bytes (RFC 4303 §2.4).
fn esp_plaintext_len(size: usize) -> usize {
    (size + 2).div_ceil(4) * 4
}

fn ring_benches(c: &mut Criterion) {
    let key = LessSafeKey::new(
        UnboundKey::new(&aead::AES_256_GCM, &(0..32u8).collect::<Vec<_>>()).expect("key"),
    );
    let mut g = c.benchmark_group("ring/aes256gcm");
    for size in SIZES {
        g.throughput(Throughput::Bytes(size as u64));
        // `seal`/`open` take the inner packet's length. `seal_esp`/`open_esp`
        // take the length ESP actually encrypts (the packet plus trailer and
        // padding): the least any ESP implementation must pay for the AEAD.
        // The gap between the two is the trailer's share of the overhead,
        // the rest is framing.
        for (suffix, len) in [("", size), ("_esp", esp_plaintext_len(size))] {
            let pkt = ipv4_packet(len);

            let mut buf = pkt.clone();
            let mut i = 0u64;
            g.bench_function(BenchmarkId::new(format!("seal{suffix}"), size), |b| {
                b.iter(|| {
                    i += 1;
                    key.seal_in_place_separate_tag(nonce(i), Aad::from(aad(i)), black_box(&mut buf))
                        .expect("seal")
                })
            });

            let stride = len + aead::AES_256_GCM.tag_len();
            let mut sealed = Vec::new();
            for i in 0..ring_len(len) as u64 {
                let mut b = pkt.clone();
                let tag = key
                    .seal_in_place_separate_tag(nonce(i), Aad::from(aad(i)), &mut b)
                    .expect("seal");
                sealed.extend_from_slice(&b);
                sealed.extend_from_slice(tag.as_ref());
            }
            let mut ring = PacketRing {
                scratch: sealed.clone(),
                sealed,
                stride,
            };
            g.bench_function(BenchmarkId::new(format!("open{suffix}"), size), |b| {
                b.iter_custom(|iters| {
                    ring.time(
                        iters,
                        &mut (),
                        |_| {},
                        |_, i, pkt| {
                            let i = i as u64;
                            key.open_in_place(nonce(i), Aad::from(aad(i)), pkt)
                                .expect("open")
                                .len()
                        },
                    )
                })
            });
        }
    }
    g.finish();
}

criterion_group!(benches, esp_benches, ring_benches);
criterion_main!(benches);
