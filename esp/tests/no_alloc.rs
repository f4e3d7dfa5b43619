//! The per-packet path allocates nothing: a counting global allocator
//! watches 10,000 encapsulations and decapsulations per transform.

mod common;

use common::*;
use esp::{InboundSad, MAX_HEADROOM, MAX_TAILROOM};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

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

#[test]
fn ten_thousand_packets_without_allocating() {
    // The counter sees this thread's allocations, so the test can fail.
    let before = allocations();
    let probe = std::hint::black_box(vec![1u8; 10]);
    assert_eq!(allocations() - before, 1, "counting allocator is live");
    drop(probe);
    for name in ALL {
        for esn in [false, true] {
            let (out, inb) = pair(name, esn);
            let mut sad = InboundSad::new();
            sad.insert(inb).unwrap();
            let inner = ipv4_packet(1400, 0x42);
            let mut buf = vec![0u8; MAX_HEADROOM + inner.len() + MAX_TAILROOM];
            let payload = MAX_HEADROOM..MAX_HEADROOM + inner.len();
            let before = allocations();
            for _ in 0..10_000 {
                buf[payload.clone()].copy_from_slice(&inner);
                let r = out.encapsulate(&mut buf, payload.clone(), 4).unwrap();
                let (_, d) = sad.decapsulate(&mut buf[r.clone()]);
                let d = d.unwrap();
                assert_eq!(d.inner.len(), inner.len());
            }
            // A drop path too: replays are counted, not allocated for.
            let r = out.encapsulate(&mut buf, payload.clone(), 4).unwrap();
            let mut copy = [0u8; 1500];
            copy[..r.len()].copy_from_slice(&buf[r.clone()]);
            assert!(sad.decapsulate(&mut buf[r.clone()]).1.is_ok());
            assert!(sad.decapsulate(&mut copy[..r.len()]).1.is_err());
            let used = allocations() - before;
            assert_eq!(
                used, 0,
                "{name} esn={esn}: {used} allocations in 10,000 packets"
            );
            assert_eq!(out.stats().packets, 10_001);
        }
    }
}
