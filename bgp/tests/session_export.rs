//! Passing routes on with their own attributes (vwand's LAN side): an
//! iBGP session sends the learned path unchanged with LOCAL_PREF, an eBGP
//! session puts our AS in front and never sends LOCAL_PREF; changed
//! attributes are announced again, and an iBGP path may be empty.

mod pair;

use bgp::wire::{AsPath, Origin};
use bgp::{ExportRoute, State};
use ipnet::IpNet;
use pair::{config, Pair};

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

/// Azure's VNet prefix as vwand learned it over a tunnel.
fn azure_route(local_pref: Option<u32>, communities: Vec<u32>) -> ExportRoute {
    ExportRoute {
        as_path: AsPath::sequence(vec![65515]),
        origin: Origin::Igp,
        med: None,
        local_pref,
        communities,
    }
}

/// vwand (AS 65010) and an on-premises core router in `core_as`.
fn lan_pair(core_as: u32) -> Pair {
    let mut p = Pair::new(
        config("lan", 65010, core_as, [192, 168, 20, 2], false),
        config("core", core_as, 65010, [192, 168, 20, 1], true),
    );
    p.a.set_export_routes(
        [(
            net("10.52.0.0/16"),
            azure_route(Some(200), vec![0xfdf2_0064]),
        )],
        0,
    );
    p.b.set_export([net("192.168.10.0/24")], 0);
    let now = p.now;
    p.b.start(now);
    p.a.start(now);
    p.settle();
    assert_eq!(p.a.state(), State::Established);
    p
}

#[test]
fn ibgp_sends_the_learned_path_with_local_pref_and_accepts_an_empty_path() {
    let mut p = lan_pair(65010);
    assert!(p.a.is_ibgp());
    let r = p.b.rib().get(&net("10.52.0.0/16")).expect("passed on");
    assert_eq!(r.as_path, AsPath::sequence(vec![65515]));
    assert_eq!(r.local_pref, Some(200));
    assert_eq!(r.communities, vec![0xfdf2_0064]);
    assert_eq!(r.next_hop, Some("192.168.20.2".parse().unwrap()));
    // The core router's own prefix: an empty AS_PATH on iBGP is valid.
    let own = p.a.rib().get(&net("192.168.10.0/24")).expect("learned");
    assert_eq!(own.as_path.path_len(), 0);
    assert_eq!(own.local_pref, Some(100), "iBGP default LOCAL_PREF");
    assert_eq!(p.a.stats().treat_as_withdraw, 0);

    // A new preference is announced again; the same one is not.
    let sent = p.a.stats().updates_sent;
    p.a.set_export_routes([(net("10.52.0.0/16"), azure_route(Some(50), vec![]))], 0);
    p.settle();
    assert_eq!(p.a.stats().updates_sent, sent + 1);
    let r = p.b.rib().get(&net("10.52.0.0/16")).unwrap();
    assert_eq!(r.local_pref, Some(50));
    assert!(r.communities.is_empty());
    p.a.set_export_routes([(net("10.52.0.0/16"), azure_route(Some(50), vec![]))], 0);
    p.settle();
    assert_eq!(p.a.stats().updates_sent, sent + 1);

    // Withdrawn when no tunnel carries it any more.
    p.a.set_export_routes([], 0);
    p.settle();
    assert!(p.b.rib().get(&net("10.52.0.0/16")).is_none());
}

#[test]
fn ebgp_prepends_our_as_and_drops_local_pref() {
    let p = lan_pair(65001);
    let r = p.b.rib().get(&net("10.52.0.0/16")).expect("passed on");
    assert_eq!(r.as_path, AsPath::sequence(vec![65010, 65515]));
    assert_eq!(r.local_pref, None, "LOCAL_PREF is not sent over eBGP");
    assert_eq!(r.communities, vec![0xfdf2_0064]);
    let own = p.a.rib().get(&net("192.168.10.0/24")).expect("learned");
    assert_eq!(own.as_path, AsPath::sequence(vec![65001]));
}
