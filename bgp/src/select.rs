//! Best path and multipath across sessions (RFC 4271 §9.1.2.2).
//!
//! Each tunnel's session learns its own routes; the forwarding table needs,
//! per prefix, the tunnels that should carry it. The decision process
//! ranks the sessions' routes for one prefix:
//!
//! - a) the shortest AS_PATH (an AS_SET counts as one, §9.1.2.2 a);
//! - b) the lowest ORIGIN (IGP < EGP < INCOMPLETE);
//! - c) the lowest MULTI_EXIT_DISC among routes from the same neighbouring
//!   AS (a route without one counts as 0, RFC 4271 §9.1.2.2 c);
//!
//! (all our sessions are eBGP, so d) and e) decide nothing, and f) and g)
//! would pick one route, where we want all the equal ones). Routes equal
//! to the best on a)–c) form tier 0, the multipath set that flows are
//! spread over; the rest are backups in tiers 1, 2, … by the same order.
//! So a session whose peer prepends its AS (the ExpressRoute-primary,
//! VPN-backup design) carries the prefix only when the shorter paths are
//! gone.

use crate::rib::Route;
use crate::wire::Origin;

/// One session's route to a prefix, as the decision process sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate {
    /// The session (in vwand: the tunnel) that learned it.
    pub source: usize,
    pub as_path_len: usize,
    pub origin: u8,
    pub med: u32,
    /// The first AS of the path: MEDs compare only within one.
    pub neighbor_as: u32,
}

impl Candidate {
    pub fn from_route(source: usize, r: &Route) -> Self {
        Self {
            source,
            as_path_len: r.as_path.path_len(),
            origin: match r.origin {
                Some(Origin::Igp) | None => 0,
                Some(Origin::Egp) => 1,
                Some(Origin::Incomplete) => 2,
            },
            med: r.med.unwrap_or(0),
            neighbor_as: r.as_path.first().unwrap_or(0),
        }
    }
}

/// A prefix's sources by preference: (tier, source), tier 0 first.
pub type Ranking = Vec<(u8, usize)>;

/// Ranks the routes of one prefix (see the module text).
pub fn rank(candidates: &[Candidate]) -> Ranking {
    let key = |c: &Candidate| {
        // c): beaten on MED by a route from the same neighbour AS with the
        // same a) and b).
        let med_beaten = candidates.iter().any(|o| {
            o.neighbor_as == c.neighbor_as
                && o.as_path_len == c.as_path_len
                && o.origin == c.origin
                && o.med < c.med
        });
        (c.as_path_len, c.origin, med_beaten)
    };
    let mut keyed: Vec<_> = candidates.iter().map(|c| (key(c), c.source)).collect();
    keyed.sort();
    let mut out = Vec::with_capacity(keyed.len());
    let mut tier = 0u8;
    for (i, (k, source)) in keyed.iter().enumerate() {
        if i > 0 && *k != keyed[i - 1].0 {
            tier = tier.saturating_add(1);
        }
        out.push((tier, *source));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(source: usize, len: usize, origin: u8, med: u32, asn: u32) -> Candidate {
        Candidate {
            source,
            as_path_len: len,
            origin,
            med,
            neighbor_as: asn,
        }
    }

    #[test]
    fn equal_paths_share_tier_zero() {
        let r = rank(&[c(1, 1, 0, 0, 65515), c(0, 1, 0, 0, 65515)]);
        assert_eq!(r, vec![(0, 0), (0, 1)]);
    }

    #[test]
    fn a_prepended_path_is_a_backup() {
        let r = rank(&[c(0, 3, 0, 0, 65515), c(1, 1, 0, 0, 65515)]);
        assert_eq!(r, vec![(0, 1), (1, 0)]);
        // Alone, it is the best there is.
        assert_eq!(rank(&[c(0, 3, 0, 0, 65515)]), vec![(0, 0)]);
    }

    #[test]
    fn origin_then_med_within_one_neighbour_as() {
        let r = rank(&[c(0, 1, 2, 0, 65515), c(1, 1, 0, 0, 65515)]);
        assert_eq!(r, vec![(0, 1), (1, 0)], "IGP beats INCOMPLETE");
        let r = rank(&[c(0, 1, 0, 50, 65515), c(1, 1, 0, 10, 65515)]);
        assert_eq!(r, vec![(0, 1), (1, 0)], "lower MED, same AS");
        let r = rank(&[c(0, 1, 0, 50, 65001), c(1, 1, 0, 10, 65515)]);
        assert_eq!(
            r,
            vec![(0, 0), (0, 1)],
            "MEDs of different ASes don't compare"
        );
    }
}
