//! Simultaneous Child SA rekeying (RFC 7296 §2.8.1).
//!
//! ```text
//! A                                  B
//! CREATE_CHILD_SA(REKEY_SA O, Ni_A) -->   <-- CREATE_CHILD_SA(REKEY_SA O, Ni_B)
//!  <-- (Nr_B): Y, created by A        X, created by B: (Nr_A) -->
//! ```
//!
//! Both requests are answered as usual, so O is replaced twice: by Y (A's
//! exchange, nonces Ni_A and Nr_B) and by X (B's, Ni_B and Nr_A). "The SA
//! created with the lowest of the four nonces ... is redundant and SHOULD
//! be closed by the endpoint that created it", the nonces compared octet by
//! octet, a shorter one being lower when it is a prefix; and the endpoint
//! that created the surviving SA deletes the old one.
//!
//! Each side decides once it knows both exchanges, whichever finished
//! first. Make-before-break still holds: the survivor's creator switches to
//! it at once and deletes O; the other side switches when that DELETE
//! arrives, and only then deletes its redundant SA, which it never sent on
//! if it already knew. A side that finished its own rekey before it saw the
//! peer's request (the case loss makes common) decides when it answers.

use super::ike_sa::IkeSa;
use std::time::Instant;

/// One exchange that rekeyed the old Child SA.
#[derive(Debug, Clone)]
pub(super) struct Created {
    /// The new pair's inbound SPI (ours).
    pub inbound: u32,
    pub ni: Vec<u8>,
    pub nr: Vec<u8>,
}

impl Created {
    fn lowest(&self) -> &[u8] {
        std::cmp::min(self.ni.as_slice(), self.nr.as_slice())
    }
}

/// The rekeys of one old Child SA: ours, the peer's, or both.
#[derive(Debug, Clone)]
pub(super) struct ChildRekeys {
    /// The old pair's inbound SPI.
    pub old: u32,
    pub ours: Option<Created>,
    pub theirs: Option<Created>,
}

/// How a newly installed Child SA is put to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Activation {
    /// The usual rule: at once if we initiated (or it is the first),
    /// otherwise when the peer deletes the old SA.
    Usual,
    /// Redundant (§2.8.1): installed, since the peer may send on it for a
    /// moment, but never sent on, and no newer Child SA's turn is taken.
    Never,
}

/// Which of two simultaneous rekeys is redundant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Redundant {
    Ours,
    Theirs,
}

impl ChildRekeys {
    /// §2.8.1: the exchange holding the lowest of the four nonces created
    /// the redundant SA; `None` until both exchanges are known.
    pub fn redundant(&self) -> Option<Redundant> {
        let (ours, theirs) = (self.ours.as_ref()?, self.theirs.as_ref()?);
        if ours.lowest() < theirs.lowest() {
            Some(Redundant::Ours)
        } else {
            Some(Redundant::Theirs)
        }
    }
}

impl IkeSa {
    /// The record for rekeys of `old`, started afresh for a new old SA.
    fn rekeys_of(&mut self, old: u32) -> &mut ChildRekeys {
        if self.child_rekeys.as_ref().is_none_or(|r| r.old != old) {
            self.child_rekeys = None;
        }
        self.child_rekeys.get_or_insert(ChildRekeys {
            old,
            ours: None,
            theirs: None,
        })
    }

    /// Our rekey of `old` completed, creating `ours`: how to install it,
    /// and which SA we delete after the grace period (§2.8, §2.8.1).
    pub(super) fn our_rekey_done(&mut self, now: Instant, old: u32, ours: Created) -> Activation {
        let new = ours.inbound;
        let r = self.rekeys_of(old);
        r.ours = Some(ours);
        match r.redundant() {
            Some(Redundant::Ours) => {
                // The peer deletes the old SA, which switches us to its new
                // one; ours goes after that.
                self.delete_old = Some((new, now + self.cfg.rekey_grace));
                Activation::Never
            }
            redundant => {
                if redundant == Some(Redundant::Theirs) {
                    // Theirs never carries our traffic.
                    self.activation = None;
                }
                self.delete_old = Some((old, now + self.cfg.rekey_grace / 2));
                Activation::Usual
            }
        }
    }

    /// We answered the peer's rekey of `old`, creating `theirs`: how to
    /// install it. If ours finished first, the decision falls now.
    pub(super) fn their_rekey_done(
        &mut self,
        now: Instant,
        old: u32,
        theirs: Created,
    ) -> Activation {
        let r = self.rekeys_of(old);
        r.theirs = Some(theirs);
        let ours = r.ours.as_ref().map(|c| c.inbound);
        match (r.redundant(), ours) {
            (Some(Redundant::Theirs), _) => Activation::Never,
            (Some(Redundant::Ours), Some(ours)) => {
                // We had switched to ours and meant to delete the old SA;
                // the peer deletes it instead, and we delete ours once we
                // have moved to theirs.
                self.delete_old = Some((ours, now + self.cfg.rekey_grace));
                Activation::Usual
            }
            _ => Activation::Usual,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn created(ni: &[u8], nr: &[u8]) -> Option<Created> {
        Some(Created {
            inbound: 0x100,
            ni: ni.to_vec(),
            nr: nr.to_vec(),
        })
    }

    #[test]
    fn lowest_nonce_octet_by_octet() {
        let mut r = ChildRekeys {
            old: 1,
            ours: created(&[5, 0], &[9]),
            theirs: None,
        };
        assert_eq!(r.redundant(), None, "one exchange only");
        r.theirs = created(&[6], &[4, 255]);
        assert_eq!(r.redundant(), Some(Redundant::Theirs), "4,255 < 5,0");
        r.theirs = created(&[5], &[7]);
        assert_eq!(r.redundant(), Some(Redundant::Theirs), "a prefix is lower");
        r.theirs = created(&[5, 1], &[7]);
        assert_eq!(r.redundant(), Some(Redundant::Ours));
    }
}
