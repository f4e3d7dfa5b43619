//! Simultaneous IKE SA rekeying (RFC 7296 §2.8.2).
//!
//! ```text
//! A                                       B
//! CREATE_CHILD_SA(SA(SPIa1), Ni_A) -->     <-- CREATE_CHILD_SA(SA(SPIb1), Ni_B)
//!  <-- (SA(SPIb2), Nr_B): Y, created by A   X, created by B: (SA(SPIa2), Nr_A) -->
//! ```
//!
//! "The case where both endpoints notice the simultaneous rekeying works
//! the same way as with Child SAs. After the CREATE_CHILD_SA exchanges,
//! three IKE SAs exist between A and B: the old IKE SA and two new IKE
//! SAs. The new IKE SA containing the lowest nonce SHOULD be deleted by the
//! node that created it, and the other surviving new IKE SA MUST inherit
//! all the Child SAs." As for Child SAs (§2.8.1), the lowest of the four
//! nonces is found octet by octet, and the creator of the surviving SA
//! deletes the old one.
//!
//! A side that answers the peer's rekey while its own is outstanding keeps
//! the peer's new SA aside and goes on under the old one until its own
//! exchange ends; then it moves to the survivor (the Child SAs with it),
//! and keeps the old and the redundant SA as retired contexts for their
//! DELETE exchanges. If its own rekey fails, or the peer deletes the old
//! SA first ("it knows that the other peer did not detect the simultaneous
//! rekey, and the first peer can forget its own rekey attempt"), the
//! peer's new SA is the one. A side that finished its rekey before the
//! peer's request arrived answers TEMPORARY_FAILURE: the old SA is being
//! closed (`retired.rs`).

use super::ike_sa::{IkeSa, Role};
use crate::crypto::IkeSaKeys;
use std::time::Instant;

/// A new IKE SA from one rekey exchange, not yet in use.
pub(crate) struct NewIkeSa {
    /// Ours in it: the initiator if we started the exchange.
    pub role: Role,
    pub spi_i: u64,
    pub spi_r: u64,
    pub keys: IkeSaKeys,
    pub ni: Vec<u8>,
    pub nr: Vec<u8>,
}

/// §2.8.2 (by §2.8.1's rule): whether the exchange we started, with
/// nonces `ours` (Ni, Nr), holds the lowest of the four nonces, compared
/// octet by octet (a prefix is lower); then the SA it created is redundant.
pub(super) fn ours_is_redundant(ours: (&[u8], &[u8]), theirs: (&[u8], &[u8])) -> bool {
    ours.0.min(ours.1) < theirs.0.min(theirs.1)
}

impl IkeSa {
    /// Continues as `new`; the old SA is retired, and deleted by us if we
    /// started the rekey that made `new` (§1.3.2, §2.18).
    pub(super) fn adopt(&mut self, now: Instant, new: NewIkeSa) {
        let initiated = new.role == Role::Initiator;
        let before = self.retired.len();
        self.move_to_new_sa(now, new.role, new.spi_i, new.spi_r, new.keys);
        if initiated && self.retired.len() > before {
            self.delete_retired(now, self.retired.len() - 1);
        }
    }

    /// Both rekeys are done: the survivor carries on with the Child SAs,
    /// and the redundant SA is deleted by its creator (§2.8.2).
    pub(super) fn resolve(&mut self, now: Instant, ours: NewIkeSa, theirs: NewIkeSa) {
        let ours_redundant = ours_is_redundant((&ours.ni, &ours.nr), (&theirs.ni, &theirs.nr));
        let (survivor, redundant) = if ours_redundant {
            (theirs, ours)
        } else {
            (ours, theirs)
        };
        self.adopt(now, survivor);
        let spis = (redundant.spi_i, redundant.spi_r);
        let retired = self.retire_new(now, redundant.role, spis, &redundant.keys);
        if let Some(i) = retired.filter(|_| redundant.role == Role::Initiator) {
            self.delete_retired(now, i);
        }
    }

    /// The peer deletes the SA we are rekeying while its own rekey, which
    /// we answered, waits: it never saw ours, so we forget ours and go on
    /// under its new SA, answering the DELETE under the old one. Returns
    /// whether that was the case.
    pub(super) fn peer_rekeyed_instead(&mut self, now: Instant, id: u32) -> bool {
        let Some(theirs) = self.ike_rekey.as_mut().and_then(|r| r.theirs.take()) else {
            return false;
        };
        self.ike_rekey = None;
        let before = self.retired.len();
        self.adopt(now, theirs);
        if self.retired.len() > before {
            self.close_retired(self.retired.len() - 1, id);
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lowest_of_the_four_nonces() {
        let ours: (&[u8], &[u8]) = (&[5, 0], &[9]);
        assert!(!ours_is_redundant(ours, (&[6], &[4, 255])), "4,255 < 5,0");
        assert!(!ours_is_redundant(ours, (&[5], &[7])), "a prefix is lower");
        assert!(ours_is_redundant(ours, (&[5, 1], &[7])));
        assert!(ours_is_redundant((&[7], &[1]), (&[2], &[3])));
    }
}
