//! Restart safety against two real gateways (strongSwan kernel-libipsec
//! and BIRD per instance): vwand is SIGKILLed (no DELETE, no Cease, its
//! TUN and routes gone with it) and started again. Both tunnels and both
//! BGP sessions come back, and INITIAL_CONTACT (RFC 7296 §2.4) makes each
//! hub drop the stale IKE SA at once instead of keeping it until its dead
//! peer detection gives up (minutes with charon's default retransmits).

use netns::dual_hub::{DualHubBed, DualHubOptions, TUNNELS, VNET_PREFIX};
use netns::{poll_until, wait_until};
use std::time::{Duration, Instant};

/// vwand's IKE SPI (as initiator) of tunnel `i`, without leading zeros.
fn vwand_spi(bed: &DualHubBed, i: usize) -> String {
    let s = bed.tunnel_status(TUNNELS[i]);
    let spi = s["ike"]["spi_i"].as_str().unwrap_or("").to_lowercase();
    spi.trim_start_matches('0').to_string()
}

/// The initiator SPIs of the IKE SAs hub `i` holds.
fn hub_spis(bed: &DualHubBed, i: usize) -> Vec<String> {
    bed.hubs[i]
        .strongswan
        .sas()
        .iter()
        .map(|sa| {
            sa.initiator_spi
                .to_lowercase()
                .trim_start_matches('0')
                .to_string()
        })
        .collect()
}

#[test]
fn a_killed_vwand_comes_back_and_the_hubs_drop_their_stale_sas() {
    netns::require_netns_env();
    let mut bed = DualHubBed::start(DualHubOptions::default());
    bed.wait_ready(Duration::from_secs(60));
    let old: Vec<String> = (0..2).map(|i| vwand_spi(&bed, i)).collect();
    for (i, spi) in old.iter().enumerate() {
        assert_eq!(hub_spis(&bed, i), vec![spi.clone()], "hub{i} before");
    }

    let t0 = Instant::now();
    bed.vwand.kill_and_restart();
    let ready = bed.wait_ready(Duration::from_secs(60));
    let up = t0.elapsed();
    for (i, stale) in old.iter().enumerate() {
        let new = vwand_spi(&bed, i);
        assert_ne!(&new, stale, "tunnel {i} has a new IKE SA");
        // The stale SA goes within seconds of the new one (INITIAL_CONTACT),
        // not at the end of charon's dead peer detection.
        let settled = poll_until(Duration::from_secs(5), || {
            (hub_spis(&bed, i) == vec![new.clone()]).then_some(())
        });
        assert!(
            settled.is_some(),
            "hub{i} holds {:?}; vwand's new SA is {new}, the stale one {}",
            hub_spis(&bed, i),
            stale
        );
    }
    for t in TUNNELS {
        wait_until(
            &format!("{t} learns the VNet again"),
            Duration::from_secs(30),
            || bed.learned(t).iter().any(|p| p == VNET_PREFIX),
        );
    }
    assert!(bed.ping_vnet(3), "the VNet answers through the new tunnels");
    eprintln!(
        "restart: both IKE SAs and BGP sessions back {up:?} after SIGKILL (wait_ready {ready:?}); \
         each hub holds only the new IKE SA"
    );
}
