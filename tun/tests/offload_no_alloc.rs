//! The offload path allocates nothing per packet: a counting global
//! allocator watches 1,000 TCP super-packets split into segments
//! (TSO read) and the segments coalesced back (GRO write).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use tun::offload::gro::Coalescer;
use tun::offload::gso::split;
use tun::offload::{fold, pseudo_header, sum, VnetHdr, F_NEEDS_CSUM, GSO_TCPV4};

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: defers to the system allocator; only counts calls on this thread.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

/// A TCP/IPv4 super-packet as the kernel hands it over (ACK|PSH, the
/// pseudo-header sum in the checksum field).
fn super_packet(payload: usize) -> Vec<u8> {
    let len = 40 + payload;
    let mut p = vec![0u8; len];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&(len as u16).to_be_bytes());
    p[6] = 0x40;
    p[8] = 64;
    p[9] = 6;
    p[12..16].copy_from_slice(&[10, 1, 0, 2]);
    p[16..20].copy_from_slice(&[10, 2, 0, 2]);
    let c = !fold(sum(&p[..20], 0));
    p[10..12].copy_from_slice(&c.to_be_bytes());
    p[24..28].copy_from_slice(&1u32.to_be_bytes());
    p[28..32].copy_from_slice(&1u32.to_be_bytes());
    p[32] = 5 << 4;
    p[33] = 0x18;
    for (i, b) in p[40..].iter_mut().enumerate() {
        *b = i as u8;
    }
    let pseudo = fold(pseudo_header(&[10, 1, 0, 2], &[10, 2, 0, 2], 6, len - 20));
    p[36..38].copy_from_slice(&pseudo.to_be_bytes());
    p
}

#[test]
fn a_thousand_super_packets_without_allocating() {
    let before = allocations();
    let probe = std::hint::black_box(vec![1u8; 10]);
    assert_eq!(allocations() - before, 1, "counting allocator is live");
    drop(probe);

    let original = super_packet(60_000);
    let h = VnetHdr {
        flags: F_NEEDS_CSUM,
        gso_type: GSO_TCPV4,
        hdr_len: 40,
        gso_size: 1360,
        csum_start: 20,
        csum_offset: 16,
    };
    let mut scratch = original.clone();
    let mut slots = vec![vec![0u8; 64 + 1500]; 64];
    let mut lens = [0usize; 64];
    let mut gro = Coalescer::new(64, false);
    let before = allocations();
    let mut written = 0usize;
    for _ in 0..1_000 {
        scratch.copy_from_slice(&original);
        let n = split(&mut scratch, &h, &mut slots, 64, &mut lens).expect("split");
        assert_eq!(n, 45);
        for (slot, len) in slots.iter().zip(&lens).take(n) {
            assert!(gro.push(&slot[64..64 + len]));
        }
        gro.flush(|b| {
            written += b.len();
            Ok(b.len())
        });
    }
    assert_eq!(allocations() - before, 0, "allocations on the offload path");
    assert_eq!(gro.stats.merged, 44_000);
    assert_eq!(written, 1_000 * (10 + original.len()));
}
