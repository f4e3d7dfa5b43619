//! The offload path allocates nothing per packet: a counting global
//! allocator watches 1,000 TCP super-packets split into segments
//! (TSO read) and the segments coalesced back (GRO write).

mod common;

use common::{ipv4_l4, tcp_l4};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use tun::offload::gro::Coalescer;
use tun::offload::gso::split;
use tun::offload::{fold, pseudo_header, VnetHdr, F_NEEDS_CSUM, GSO_TCPV4};

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
    let data: Vec<u8> = (0..payload).map(|i| i as u8).collect();
    let (src, dst) = ([10, 1, 0, 2].into(), [10, 2, 0, 2].into());
    let mut p = ipv4_l4(src, dst, 6, &tcp_l4((40000, 5201), 1, 1, 0x18, &data));
    let pseudo = fold(pseudo_header(&p[12..16], &p[16..20], 6, p.len() - 20));
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
