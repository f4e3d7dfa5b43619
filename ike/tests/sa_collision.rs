//! Simultaneous Child SA rekeying (RFC 7296 §2.8.1): both sides start a
//! rekey of the same Child SA at the same virtual instant. Both exchanges
//! complete, the nonce rule picks the same survivor on both sides, the
//! redundant SA and the old one are deleted, and exactly one Child SA is
//! left, the same on both sides, with working keys; through loss too.

mod util;

use ike::sa::Event;
use std::collections::BTreeMap;
use std::time::Duration;
use util::*;

/// What the owner of one side would have installed, replayed from its
/// events: the Child SAs still up, and the one outbound traffic uses.
struct Installed {
    up: BTreeMap<u32, ike::sa::ChildSa>,
    outbound: Option<u32>,
    /// Whether each Child SA was sent on at once (we created it).
    activated_at_once: BTreeMap<u32, bool>,
}

fn replay(s: &Side, label: &str) -> Installed {
    let mut i = Installed {
        up: BTreeMap::new(),
        outbound: None,
        activated_at_once: BTreeMap::new(),
    };
    for e in &s.events {
        match e {
            Event::ChildUp(c) => {
                assert!(
                    i.up.insert(c.inbound.spi, (**c).clone()).is_none(),
                    "{label}: installed twice"
                );
                i.activated_at_once.insert(c.inbound.spi, c.activate);
                if c.activate {
                    i.outbound = Some(c.outbound.spi);
                }
            }
            Event::ChildActivate { inbound_spi } => {
                let c = i.up.get(inbound_spi);
                let c = c.unwrap_or_else(|| panic!("{label}: activating {inbound_spi:#x}, not up"));
                i.outbound = Some(c.outbound.spi);
            }
            Event::ChildDown { inbound_spi, .. } => {
                let c = i.up.remove(inbound_spi);
                let c = c.unwrap_or_else(|| panic!("{label}: removing {inbound_spi:#x}, not up"));
                assert_ne!(
                    i.outbound,
                    Some(c.outbound.spi),
                    "{label}: removed the SA traffic goes out on"
                );
            }
            Event::Down(r) => panic!("{label}: IKE SA down: {r}"),
            _ => {}
        }
    }
    i
}

/// Returns whether A created the survivor.
fn collide(seed: u64, drop_every: usize, duplicate: bool, reverse: bool) -> bool {
    let label = format!("seed {seed} drop {drop_every} dup {duplicate} reverse {reverse}");
    let mut net = net();
    net.seed = seed;
    let (a_cfg, b_cfg) = collision_configs();
    let (mut a, mut b) = establish_with(a_cfg, b_cfg.clone(), &mut net);
    assert!(a.established() && b.established(), "{label}");
    drive(&mut net, &mut a, &mut b, &b_cfg, Duration::from_secs(5));
    net.faults(drop_every, duplicate, reverse);
    net.at_once(&mut a, &mut b, |sa, now| sa.rekey_child(now));
    drive(&mut net, &mut a, &mut b, &b_cfg, Duration::from_secs(60));
    let (ia, ib) = (
        replay(&a, &format!("{label} A")),
        replay(&b, &format!("{label} B")),
    );
    assert_eq!(
        ia.up.len(),
        1,
        "{label}: A keeps one Child SA: {:?}",
        a.events
    );
    assert_eq!(
        ib.up.len(),
        1,
        "{label}: B keeps one Child SA: {:?}",
        b.events
    );
    let (ca, cb) = (
        ia.up.values().next().unwrap(),
        ib.up.values().next().unwrap(),
    );
    assert_esp_works(ca, cb);
    assert_eq!(ia.outbound, Some(ca.outbound.spi), "{label}: A sends on it");
    assert_eq!(ib.outbound, Some(cb.outbound.spi), "{label}: B sends on it");
    let (na, nb) = (children_up(&a).len(), children_up(&b).len());
    if drop_every == 0 {
        assert_eq!((na, nb), (3, 3), "{label}: the first and two rekeys");
    }
    assert_eq!(na, nb, "{label}");
    let by_a = ia.activated_at_once[&ca.inbound.spi];
    assert_ne!(by_a, ib.activated_at_once[&cb.inbound.spi], "{label}");
    by_a
}

#[test]
fn simultaneous_child_rekeys_leave_one_identical_child_sa() {
    either_side_wins(6, collide);
}

#[test]
fn simultaneous_child_rekeys_through_loss_and_reordering() {
    through_faults(8, collide);
}
