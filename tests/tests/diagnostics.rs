//! At debug level vwand logs one line per IKE message, in and out, as
//! charon does ("parsed IKE_SA_INIT response 0 [ SA KE No N(NATD_S_IP)
//! … ]"); netlink's own trace stays out of it. Its own test binary: the
//! log filter is set in the environment the daemon inherits.

use netns::hub_bed::{HubBed, HubBedOptions};
use std::time::Duration;

#[test]
fn debug_shows_each_ike_message_and_no_netlink_noise() {
    // SAFETY-free in edition 2021; the only test of this binary.
    std::env::set_var("VWAND_LOG", "debug");
    let bed = HubBed::start(HubBedOptions::default());
    netns::wait_until("BGP up", Duration::from_secs(30), || {
        bed.vwand_bgp()["state"] == "Established"
    });
    let log = bed.vwand.daemon.log();
    for line in [
        "generating IKE_SA_INIT request 0 [ SA KE No N(NATD_S_IP) N(NATD_D_IP) N(FRAG_SUP) ]",
        "parsed IKE_SA_INIT response 0 [ SA KE No",
        "generating IKE_AUTH request 1 [ IDi",
        "parsed IKE_AUTH response 1 [ IDr AUTH SA TSi TSr",
    ] {
        assert!(log.contains(line), "{line:?} not in:\n{log}");
    }
    let netlink = log
        .lines()
        .filter(|l| l.contains("netlink_proto") || l.contains("netlink_sys"))
        .count();
    let total = log.lines().count();
    println!("{total} log lines at debug, {netlink} from netlink");
    assert_eq!(netlink, 0);
    for l in log
        .lines()
        .filter(|l| l.contains("IKE_") || l.contains("INFORMATIONAL"))
        .take(8)
    {
        println!("  {l}");
    }
}
