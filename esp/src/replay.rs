//! Anti-replay window: RFC 6479 bitmap (no bit shifting) with RFC 4303
//! Appendix A extended-sequence-number inference.

/// Default window, in packets.
pub const DEFAULT_WINDOW: u32 = 1024;
/// The largest window accepted.
pub const MAX_WINDOW: u32 = 1 << 16;

const BITS: u64 = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayError {
    /// Sequence number zero is never sent (RFC 4303 §3.3.3).
    Zero,
    /// Left of the window.
    TooOld,
    /// Already seen.
    Duplicate,
}

/// RFC 6479 §2: a ring of 64-bit blocks. Advancing the window clears whole
/// blocks instead of shifting bits; one block beyond the window size keeps
/// the last partial block intact.
#[derive(Debug, Clone)]
pub struct ReplayWindow {
    window: u64,
    /// Highest sequence number accepted so far (0: none yet).
    top: u64,
    blocks: Box<[u64]>,
    mask: u64,
}

impl ReplayWindow {
    /// `window` is clamped to 64..=[`MAX_WINDOW`] packets.
    pub fn new(window: u32) -> Self {
        let window = u64::from(window.clamp(64, MAX_WINDOW));
        let n = (window.div_ceil(BITS) + 1).next_power_of_two();
        Self {
            window,
            top: 0,
            blocks: vec![0; n as usize].into_boxed_slice(),
            mask: n - 1,
        }
    }

    /// A window whose highest accepted sequence number is `top`.
    pub fn starting_at(window: u32, top: u64) -> Self {
        let mut w = Self::new(window);
        w.top = top;
        w
    }

    pub fn size(&self) -> u32 {
        self.window as u32
    }

    pub fn top(&self) -> u64 {
        self.top
    }

    /// RFC 4303 Appendix A2.1: the 64-bit sequence number a received low
    /// half most likely belongs to.
    ///
    /// A2.1 takes any low half left of the window to be from the next 2^32
    /// subspace. A packet merely reordered past the left edge would then be
    /// checked with the wrong high bits and fail its ICV, indistinguishable
    /// from a forgery. Like serial-number arithmetic (RFC 1982), we prefer
    /// the next subspace only when it is less than 2^31 ahead, i.e. we
    /// assume fewer than 2^31 consecutive packets are ever lost (A2.1
    /// assumes fewer than 2^32 - W).
    pub fn infer_esn(&self, seq_lo: u32) -> u64 {
        let w = self.window as u32;
        let tl = self.top as u32;
        let th = (self.top >> 32) as u32;
        let bottom = tl.wrapping_sub(w).wrapping_add(1);
        let seq_hi = if tl >= w - 1 {
            // Case A: the window lies within one 2^32 subspace.
            if seq_lo >= bottom || tl.wrapping_sub(seq_lo) < 1 << 31 {
                th
            } else {
                th.wrapping_add(1)
            }
        } else if seq_lo >= bottom {
            // Case B: the window spans two subspaces; seq_lo is in the lower
            // one. There is none below subspace 0.
            th.saturating_sub(1)
        } else {
            th
        };
        (u64::from(seq_hi) << 32) | u64::from(seq_lo)
    }

    /// RFC 6479 §2.3 check, done before the ICV is verified. It changes
    /// nothing.
    pub fn check(&self, seq: u64) -> Result<(), ReplayError> {
        if seq == 0 {
            return Err(ReplayError::Zero);
        }
        if seq > self.top {
            return Ok(());
        }
        if self.top - seq >= self.window {
            return Err(ReplayError::TooOld);
        }
        let (block, bit) = self.position(seq);
        if self.blocks[block] & bit != 0 {
            return Err(ReplayError::Duplicate);
        }
        Ok(())
    }

    /// RFC 6479 §2.3 update, done only after the ICV verified.
    pub fn update(&mut self, seq: u64) -> Result<(), ReplayError> {
        self.check(seq)?;
        if seq > self.top {
            let current = self.top / BITS;
            let target = seq / BITS;
            let advance = (target - current).min(self.blocks.len() as u64);
            for i in 1..=advance {
                self.blocks[((current + i) & self.mask) as usize] = 0;
            }
            self.top = seq;
        }
        let (block, bit) = self.position(seq);
        self.blocks[block] |= bit;
        Ok(())
    }

    fn position(&self, seq: u64) -> (usize, u64) {
        (((seq / BITS) & self.mask) as usize, 1 << (seq % BITS))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    #[test]
    fn in_order_and_duplicates() {
        let mut w = ReplayWindow::new(1024);
        assert_eq!(w.check(0), Err(ReplayError::Zero));
        for s in 1..=5000 {
            w.update(s).unwrap();
            assert_eq!(w.check(s), Err(ReplayError::Duplicate));
        }
        assert_eq!(w.check(5000 - 1023), Err(ReplayError::Duplicate));
        assert_eq!(w.check(5000 - 1024), Err(ReplayError::TooOld));
    }

    #[test]
    fn reorder_within_window_accepted() {
        let mut w = ReplayWindow::new(4096);
        w.update(10_000).unwrap();
        for s in (10_000 - 4095..10_000).rev() {
            w.update(s).unwrap();
        }
        assert_eq!(w.check(10_000 - 4096), Err(ReplayError::TooOld));
        assert_eq!(w.check(10_000 - 4095), Err(ReplayError::Duplicate));
    }

    #[test]
    fn big_jump_clears_stale_bits() {
        let mut w = ReplayWindow::new(128);
        w.update(1).unwrap();
        w.update(1 + 64 * 1000).unwrap();
        // Sequence numbers in the new window that map onto the old blocks.
        for s in (64 * 1000 - 100)..(64 * 1000) {
            assert_eq!(w.check(s), Ok(()), "seq {s}");
        }
    }

    #[test]
    fn esn_inference() {
        let mut w = ReplayWindow::new(64);
        assert_eq!(w.infer_esn(5), 5);
        w.update((3u64 << 32) | 100).unwrap();
        // Case A: within the window or ahead in the same subspace.
        assert_eq!(w.infer_esn(90), (3 << 32) | 90);
        assert_eq!(w.infer_esn(200), (3 << 32) | 200);
        // Left of the window but close: the same subspace, so too old.
        assert_eq!(w.infer_esn(10), (3 << 32) | 10);
        assert_eq!(w.check(w.infer_esn(10)), Err(ReplayError::TooOld));
        // Far behind (more than 2^31): the next subspace.
        let mut w = ReplayWindow::new(64);
        w.update((3u64 << 32) | 0xF000_0000).unwrap();
        assert_eq!(w.infer_esn(10), (4 << 32) | 10);
        // Case B: window spans the boundary.
        let mut w = ReplayWindow::new(64);
        w.update((3u64 << 32) | 10).unwrap();
        assert_eq!(
            w.infer_esn(u32::MAX - 5),
            (2 << 32) | u64::from(u32::MAX - 5)
        );
        assert_eq!(w.infer_esn(11), (3 << 32) | 11);
        // Wrap from subspace 0 to 1.
        let mut w = ReplayWindow::new(64);
        w.update(u64::from(u32::MAX)).unwrap();
        assert_eq!(w.infer_esn(0), 1 << 32);
        assert_eq!(w.infer_esn(2), (1 << 32) | 2);
    }

    proptest! {
        /// The bitmap agrees with a set-based model on every input.
        #[test]
        fn matches_model(window in 64u32..5000, seqs in proptest::collection::vec(1u64..20_000, 1..600)) {
            let mut w = ReplayWindow::new(window);
            let size = u64::from(w.size());
            let mut seen = BTreeSet::new();
            let mut top = 0u64;
            for s in seqs {
                let expected = if s + size <= top {
                    Err(ReplayError::TooOld)
                } else if seen.contains(&s) {
                    Err(ReplayError::Duplicate)
                } else {
                    Ok(())
                };
                prop_assert_eq!(w.update(s), expected);
                if expected.is_ok() {
                    seen.insert(s);
                    top = top.max(s);
                }
            }
        }
    }
}
