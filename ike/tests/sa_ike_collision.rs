//! Simultaneous IKE SA rekeying (RFC 7296 §2.8.2): both sides start an IKE
//! SA rekey at the same virtual instant. Both exchanges complete (or, when
//! one side finished before it saw the other's request, one is refused);
//! either way both sides end on one identical new IKE SA, the old and the
//! redundant SAs are deleted, the Child SA keeps carrying traffic, and a
//! later Child SA rekey under the survivor's keys works; through loss,
//! duplication and reordering too.

mod util;

use ike::sa::{Event, Role};
use std::time::Duration;
use util::*;

fn downs(s: &Side) -> Vec<String> {
    s.events
        .iter()
        .filter_map(|e| match e {
            Event::Down(r) => Some(r.to_string()),
            _ => None,
        })
        .collect()
}

/// Returns whether A started the surviving rekey.
fn collide(seed: u64, drop_every: usize, duplicate: bool, reverse: bool) -> bool {
    let label = format!("seed {seed} drop {drop_every} dup {duplicate} reverse {reverse}");
    let mut net = net();
    net.seed = seed;
    let (a_cfg, b_cfg) = collision_configs();
    let (mut a, mut b) = establish_with(a_cfg, b_cfg.clone(), &mut net);
    assert_up(&a, &b, &label);
    let old = {
        let sa = a.sa.as_ref().unwrap();
        (sa.spi_i(), sa.spi_r())
    };
    net.faults(drop_every, duplicate, reverse);
    net.at_once(&mut a, &mut b, |sa, now| sa.rekey_ike(now));
    // Long enough for every DELETE and its retransmissions, well short of
    // the 30 s after which a retired SA would be forgotten anyway.
    drive(&mut net, &mut a, &mut b, &b_cfg, Duration::from_secs(12));
    assert!(downs(&a).is_empty() && downs(&b).is_empty(), "{label}");
    let (sa_a, sa_b) = (a.sa.as_ref().unwrap(), b.sa.as_ref().unwrap());
    assert!(sa_a.is_established() && sa_b.is_established(), "{label}");
    let new = (sa_a.spi_i(), sa_a.spi_r());
    assert_eq!(new, (sa_b.spi_i(), sa_b.spi_r()), "{label}: one IKE SA");
    assert_ne!(new, old, "{label}: rekeyed");
    assert_ne!(sa_a.role(), sa_b.role(), "{label}");
    // One rekey event each, naming the survivor; the other SAs are gone.
    assert_eq!(ike_rekeys(&a), [new], "{label}: A's events");
    assert_eq!(ike_rekeys(&b), [new], "{label}: B's events");
    for (s, who) in [(sa_a, "A"), (sa_b, "B")] {
        assert!(!s.owns(old.0, old.1), "{label}: {who} still has the old SA");
    }
    // The Child SA moved over untouched and still carries traffic.
    assert_eq!(children_up(&a).len(), 1, "{label}");
    assert!(children_down(&a).is_empty() && children_down(&b).is_empty());
    assert_esp_works(a.child().unwrap(), b.child().unwrap());
    let a_won = sa_a.role() == Role::Initiator;
    // A Child SA rekey under the survivor: its SK_d agrees on both sides.
    a.sa.as_mut().unwrap().rekey_child(net.now);
    drive(&mut net, &mut a, &mut b, &b_cfg, Duration::from_secs(20));
    let (ua, ub) = (children_up(&a), children_up(&b));
    assert_eq!((ua.len(), ub.len()), (2, 2), "{label}: rekeyed Child SA");
    assert_esp_works(ua[1], ub[1]);
    assert!(downs(&a).is_empty() && downs(&b).is_empty(), "{label}");
    a_won
}

#[test]
fn simultaneous_ike_rekeys_leave_one_identical_ike_sa() {
    either_side_wins(8, collide);
}

#[test]
fn simultaneous_ike_rekeys_through_loss_and_reordering() {
    through_faults(8, collide);
}
