//! vwand against strongSwan (the hub, as Azure's gateway would be) over
//! IKEv2 with a PSK, both roles. strongSwan runs kernel-libipsec, which
//! fakes NAT detection and UDP-encapsulates ESP, so vwand must float to
//! port 4500 and speak ESP-in-UDP.
//!
//! ```text
//!  onprem: vwand, TUN 10.10.0.1 ── ul0 192.0.2.1 ══ 192.0.2.2 ul0 ── strongSwan, lo 10.51.0.1 :hub
//! ```

use netns::strongswan::{HubOptions, StartAction, StrongswanHub};
use netns::vwand::{start_daemon, Side};
use netns::{
    iperf3_client, ping_all, poll_until, scratch_dir, veth_pair, wait_ping, wait_until,
    Iperf3Server, Netns, ScratchDir,
};
use std::time::Duration;

const PSK: &str = "azure-hub-psk-not-a-secret-0123456789";
const HUB_VNET: &str = "10.51.0.1";
const ONPREM: &str = "10.10.0.1";

struct Bed {
    vwand: Side,
    hub: StrongswanHub,
    _hub_ns: Netns,
    scratch: ScratchDir,
}

fn vwand_config(proposal: &str, esp: &str, psk: &str, initiate: bool) -> String {
    vwand_config_with(proposal, esp, psk, initiate, "")
}

fn vwand_config_with(proposal: &str, esp: &str, psk: &str, initiate: bool, extra: &str) -> String {
    format!(
        "[daemon]\nstatus_socket = \"{{status_socket}}\"\n\n[tun]\nname = \"vw0\"\naddresses = [\"{ONPREM}/32\"]\n\n\
         [[tunnel]]\nname = \"hub0\"\nlocal = \"192.0.2.1\"\npeer = \"192.0.2.2\"\ntransport = \"raw\"\n\
         routes = [\"10.51.0.0/16\"]\n\n[tunnel.ike]\npsk = \"{psk}\"\nproposals = [\"{proposal}\"]\n\
         esp_proposals = [\"{esp}\"]\ninitiate = {initiate}\ndpd_seconds = 2\nretransmit_ms = 500\nretransmits = 3\n{extra}"
    )
}

fn hub_options(proposal: &str, esp: &str, start: StartAction) -> HubOptions {
    let mut o = HubOptions::new("192.0.2.2", "192.0.2.1", PSK);
    o.ike_proposal = proposal.into();
    o.esp_proposal = esp.into();
    o.local_ts = vec!["0.0.0.0/0".into()];
    o.remote_ts = vec!["0.0.0.0/0".into()];
    o.vnet_address = Some(format!("{HUB_VNET}/32"));
    o.start_action = start;
    o.dpd_delay = Some(Duration::from_secs(1));
    o.charon_extra = vec![
        "retransmit_timeout = 0.5".into(),
        "retransmit_base = 1.4".into(),
        "retransmit_tries = 2".into(),
    ];
    o
}

/// vwand first when it responds, strongSwan first when vwand initiates.
fn bed(proposal: &str, esp: &str, vwand_psk: &str, vwand_initiates: bool) -> Bed {
    bed_with(proposal, esp, vwand_psk, vwand_initiates, "", |_| {})
}

/// As [`bed`], with more `[tunnel.ike]` lines for vwand and changes to
/// strongSwan's options.
fn bed_with(
    proposal: &str,
    esp: &str,
    vwand_psk: &str,
    vwand_initiates: bool,
    vwand_extra: &str,
    hub: impl FnOnce(&mut HubOptions),
) -> Bed {
    let scratch = scratch_dir();
    let a = Netns::new("onprem");
    let b = Netns::new("hub");
    veth_pair(&a, "ul0", "192.0.2.1/24", &b, "ul0", "192.0.2.2/24");
    let hub_dir = scratch.join("hub");
    std::fs::create_dir_all(&hub_dir).unwrap();
    let start = if vwand_initiates {
        StartAction::None
    } else {
        StartAction::Start
    };
    let mut opts = hub_options(proposal, esp, start);
    hub(&mut opts);
    let config = vwand_config_with(proposal, esp, vwand_psk, vwand_initiates, vwand_extra);
    let (vwand, hub) = if vwand_initiates {
        let hub = StrongswanHub::start(&b, opts, &hub_dir);
        (start_daemon(&scratch, a, "vwand", &config), hub)
    } else {
        let vwand = start_daemon(&scratch, a, "vwand", &config);
        (vwand, StrongswanHub::start(&b, opts, &hub_dir))
    };
    Bed {
        vwand,
        hub,
        _hub_ns: b,
        scratch,
    }
}

fn traffic(bed: &Bed) {
    let hub_ns = netns_of(bed);
    wait_ping(&bed.vwand.ns, HUB_VNET, Duration::from_secs(15));
    assert!(ping_all(&bed.vwand.ns, HUB_VNET, 5), "on-prem -> hub");
    assert!(ping_all_from(hub_ns, HUB_VNET, ONPREM, 5), "hub -> on-prem");
    let _server = Iperf3Server::start(hub_ns, HUB_VNET, 5201, bed.scratch.join("iperf3.log"));
    for reverse in [false, true] {
        let r = iperf3_client(&bed.vwand.ns, HUB_VNET, 5, reverse, None);
        eprintln!(
            "iperf3 reverse={reverse}: {:.0} Mbit/s",
            r.bits_per_second / 1e6
        );
        assert!(
            r.bits_per_second > 20e6,
            "iperf3 reverse={reverse}: {:.1} Mbit/s",
            r.bits_per_second / 1e6
        );
    }
    assert_eq!(bed.vwand.inbound("icv_failure"), 0);
    assert_eq!(bed.vwand.inbound("replay"), 0);
}

fn netns_of(bed: &Bed) -> &Netns {
    &bed._hub_ns
}

fn ping_all_from(ns: &Netns, src: &str, dst: &str, count: u32) -> bool {
    let c = count.to_string();
    ns.exec(&["ping", "-c", &c, "-i", "0.2", "-W", "1", "-I", src, dst])
        .status
        .success()
}

/// Both ends agree on the Child SA's SPIs, once any rekey has settled: the
/// hub lists one installed Child SA and vwand publishes the same pair.
fn assert_same_spis(bed: &Bed) {
    bed.hub.wait_established(Duration::from_secs(15));
    let mut last = (0, 0, 0, 0);
    let settled = poll_until(Duration::from_secs(15), || {
        let sas = bed.hub.sas();
        let children: Vec<_> = sas
            .iter()
            .filter(|sa| sa.established)
            .flat_map(|sa| sa.children.iter().filter(|c| c.installed))
            .collect();
        let (spi_in, spi_out) = (bed.vwand.inbound_spi(), bed.vwand.outbound_spi());
        if let [child] = children.as_slice() {
            last = (child.spi_out, spi_in, child.spi_in, spi_out);
        }
        (children.len() == 1 && last.0 == last.1 && last.2 == last.3 && spi_in != 0).then_some(())
    });
    assert!(
        settled.is_some(),
        "hub's outbound {:#x} vs vwand's inbound {:#x}, hub's inbound {:#x} vs vwand's outbound {:#x}",
        last.0,
        last.1,
        last.2,
        last.3
    );
}

#[test]
fn vwand_initiates_azure_custom_policy() {
    let bed = bed("aes256gcm16-prfsha384-ecp384", "aes256gcm16", PSK, true);
    wait_until("IKE SA established", Duration::from_secs(15), || {
        bed.vwand.ike("state") == "established"
    });
    assert_eq!(bed.vwand.ike("nat"), "true", "libipsec fakes a NAT");
    assert_eq!(bed.vwand.ike("encap"), "true");
    traffic(&bed);
    assert_same_spis(&bed);
}

#[test]
fn strongswan_initiates_azure_default_shape() {
    // Azure's default policy is AES256/SHA256 with a MODP group.
    let bed = bed("aes256-sha256-modp2048", "aes256-sha256", PSK, false);
    wait_until("IKE SA established", Duration::from_secs(15), || {
        bed.vwand.ike("state") == "established"
    });
    traffic(&bed);
    assert_same_spis(&bed);
    let sa = bed.hub.wait_established(Duration::from_secs(5));
    assert!(sa.initiator, "strongSwan initiated");
}

#[test]
fn vwand_initiates_x25519_and_aes128gcm() {
    let bed = bed("aes128gcm16-prfsha256-x25519", "aes128gcm16", PSK, true);
    wait_until("IKE SA established", Duration::from_secs(15), || {
        bed.vwand.ike("state") == "established"
    });
    wait_ping(&bed.vwand.ns, HUB_VNET, Duration::from_secs(10));
    assert_same_spis(&bed);
}

#[test]
fn wrong_psk_is_refused_and_leaves_nothing() {
    let mut bed = bed(
        "aes256gcm16-prfsha384-ecp384",
        "aes256gcm16",
        "not-the-right-key-0123456789",
        true,
    );
    bed.vwand
        .daemon
        .wait_for_log("authentication failed", Duration::from_secs(15));
    assert!(
        bed.vwand.daemon.log().contains("IKE SA failed"),
        "{}",
        bed.vwand.daemon.log()
    );
    let log = bed.hub.log();
    assert!(
        log.contains("but MAC mismatched"),
        "strongSwan checked our AUTH"
    );
    assert!(
        log.contains("generating IKE_AUTH response 1 [ N(AUTH_FAILED) ]"),
        "strongSwan sent AUTHENTICATION_FAILED"
    );
    bed.hub.wait_no_sas(Duration::from_secs(5));
    assert_ne!(bed.vwand.ike("state"), "established");
    assert_eq!(bed.vwand.outbound_spi(), 0, "no Child SA installed");
}

#[test]
fn no_common_proposal_is_refused_and_leaves_nothing() {
    let scratch = scratch_dir();
    let a = Netns::new("onprem");
    let b = Netns::new("hub");
    veth_pair(&a, "ul0", "192.0.2.1/24", &b, "ul0", "192.0.2.2/24");
    let hub_dir = scratch.join("hub");
    std::fs::create_dir_all(&hub_dir).unwrap();
    let hub = StrongswanHub::start(
        &b,
        hub_options("aes256-sha256-modp2048", "aes256-sha256", StartAction::None),
        &hub_dir,
    );
    let mut vwand = start_daemon(
        &scratch,
        a,
        "vwand",
        &vwand_config("aes256gcm16-prfsha384-ecp384", "aes256gcm16", PSK, true),
    );
    vwand
        .daemon
        .wait_for_log("no proposal chosen", Duration::from_secs(15));
    assert!(
        hub.log()
            .contains("generating IKE_SA_INIT response 0 [ N(NO_PROP) ]"),
        "strongSwan sent NO_PROPOSAL_CHOSEN"
    );
    hub.wait_no_sas(Duration::from_secs(5));
}

#[test]
fn dead_hub_is_noticed_in_seconds() {
    let mut bed = bed("aes256gcm16-prfsha384-ecp384", "aes256gcm16", PSK, true);
    wait_until("IKE SA established", Duration::from_secs(15), || {
        bed.vwand.ike("state") == "established"
    });
    wait_ping(&bed.vwand.ns, HUB_VNET, Duration::from_secs(10));
    let killed = std::time::Instant::now();
    bed.hub.kill();
    // DPD after 2 s idle, then 0.5 + 1 + 2 + 2 s of retransmits.
    bed.vwand
        .daemon
        .wait_for_log("peer not responding", Duration::from_secs(15));
    let took = killed.elapsed();
    eprintln!("dead hub declared after {took:?}");
    assert!(took < Duration::from_secs(12), "took {took:?}");
    wait_until("Child SA removed", Duration::from_secs(5), || {
        bed.vwand.outbound_spi() == 0
    });
}

#[test]
fn strongswan_dpd_sees_a_silent_vwand() {
    let mut bed = bed("aes256gcm16-prfsha384-ecp384", "aes256gcm16", PSK, true);
    bed.hub.wait_established(Duration::from_secs(15));
    bed.vwand.daemon.signal(libc::SIGKILL);
    bed.hub.wait_no_sas(Duration::from_secs(15));
}

#[test]
fn sigterm_sends_delete() {
    let mut bed = bed("aes256gcm16-prfsha384-ecp384", "aes256gcm16", PSK, true);
    bed.hub.wait_established(Duration::from_secs(15));
    let status = bed.vwand.daemon.terminate_and_wait(Duration::from_secs(5));
    assert!(
        status.is_some_and(|s| s.success()),
        "clean exit: {status:?}"
    );
    // Well before strongSwan's DPD could notice (1 s + retransmits).
    bed.hub.wait_no_sas(Duration::from_secs(2));
    assert!(
        bed.hub.log().contains("received DELETE for IKE_SA"),
        "strongSwan got our DELETE"
    );
}

/// Child SA rekeys during a bounded 30-second UDP stream in each
/// direction. iperf3 numbers its datagrams, so "lost" is exact:
/// make-before-break must lose none. `hub_rekeys`: strongSwan rekeys every
/// 6-8 s; otherwise vwand rekeys every 6.3-7 s.
fn rekeys_under_load(hub_rekeys: bool) {
    let scratch = scratch_dir();
    let a = Netns::new("onprem");
    let b = Netns::new("hub");
    veth_pair(&a, "ul0", "192.0.2.1/24", &b, "ul0", "192.0.2.2/24");
    let hub_dir = scratch.join("hub");
    std::fs::create_dir_all(&hub_dir).unwrap();
    let mut opts = hub_options(
        "aes256gcm16-prfsha384-ecp384",
        "aes256gcm16",
        StartAction::None,
    );
    opts.child_rekey_time = Some(Duration::from_secs(if hub_rekeys { 8 } else { 600 }));
    opts.ike_rekey_time = Some(Duration::from_secs(if hub_rekeys { 20 } else { 600 }));
    opts.rand_time = Some(Duration::from_secs(2));
    let hub = StrongswanHub::start(&b, opts, &hub_dir);
    let extra = if hub_rekeys {
        "child_rekey_seconds = 0\nike_rekey_seconds = 0\n"
    } else {
        "child_rekey_seconds = 7\nike_rekey_seconds = 20\n"
    };
    let config = vwand_config_with(
        "aes256gcm16-prfsha384-ecp384",
        "aes256gcm16",
        PSK,
        true,
        extra,
    );
    let vwand = start_daemon(&scratch, a, "vwand", &config);
    wait_until("IKE SA established", Duration::from_secs(15), || {
        vwand.ike("state") == "established"
    });
    wait_ping(&vwand.ns, HUB_VNET, Duration::from_secs(10));
    let _server = Iperf3Server::start(&b, HUB_VNET, 5201, scratch.join("iperf3.log"));
    let first_spi = vwand.outbound_spi();
    for reverse in [false, true] {
        let mut o = netns::Iperf3Opts::new(HUB_VNET, 30);
        o.reverse = reverse;
        o.udp_bitrate = Some("20M".into());
        o.length = Some("1200".into());
        let r = netns::iperf3_run(&vwand.ns, &o);
        let (lost, packets) = (r.lost_packets.unwrap_or(u64::MAX), r.packets.unwrap_or(0));
        eprintln!("hub_rekeys={hub_rekeys} reverse={reverse}: {packets} datagrams, {lost} lost");
        assert!(
            packets > 25_000,
            "reverse={reverse}: only {packets} datagrams"
        );
        assert_eq!(lost, 0, "reverse={reverse}: datagrams lost across rekeys");
    }
    let log = vwand.daemon.log();
    let ups = log.matches("Child SA up").count();
    let removed = log.matches("Child SA removed").count();
    let by_hub = hub
        .log()
        .matches("generating CREATE_CHILD_SA request")
        .count();
    let by_vwand = hub.log().matches("parsed CREATE_CHILD_SA request").count();
    eprintln!("{ups} Child SAs installed, {removed} removed; strongSwan initiated {by_hub}, vwand initiated {by_vwand}");
    assert!(ups >= 7, "only {ups} Child SAs in 60 s");
    assert!(removed + 2 >= ups, "old Child SAs are removed");
    if hub_rekeys {
        assert!(
            by_hub >= 6 && by_vwand == 0,
            "strongSwan {by_hub}, vwand {by_vwand}"
        );
    } else {
        assert!(
            by_vwand >= 6 && by_hub == 0,
            "strongSwan {by_hub}, vwand {by_vwand}"
        );
    }
    assert_ne!(vwand.outbound_spi(), first_spi);
    assert_eq!(vwand.inbound("replay"), 0);
    assert_eq!(vwand.inbound("icv_failure"), 0);
    // IKE SA rekeys (every ~18-20 s) happened, and the IKE SA was never
    // re-established from scratch.
    let ike_rekeys: u64 = vwand.ike("ike_rekeys").parse().unwrap_or(0);
    eprintln!("{ike_rekeys} IKE SA rekeys");
    assert!(ike_rekeys >= 2, "only {ike_rekeys} IKE SA rekeys");
    assert_eq!(vwand.ike("state"), "established");
    assert_eq!(vwand.ike("established_count"), "1");
    let sa = hub.wait_established(Duration::from_secs(5));
    assert_eq!(
        sa.initiator_spi.trim_start_matches("0x"),
        vwand.ike("spi_i"),
        "both ends on the same IKE SA"
    );
}

#[test]
fn hub_rekeys_under_load_lose_nothing() {
    rekeys_under_load(true);
}

#[test]
fn vwand_rekeys_under_load_lose_nothing() {
    rekeys_under_load(false);
}

/// Long enough that IKE_AUTH exceeds a 300-octet IP datagram either way.
const LONG_VWAND_ID: &str =
    "onprem-edge-router-with-a-deliberately-long-name.branch-office.vwand.example";
const LONG_HUB_ID: &str =
    "hub-instance0-with-a-deliberately-long-name.virtual-wan-hub.azure.example";

/// RFC 7383 against strongSwan: both sides limit IP datagrams to 300
/// octets, so IKE_AUTH travels in fragments both ways, each reassembled by
/// the other side; then the tunnel carries traffic.
fn fragmented_ike_auth(vwand_initiates: bool) {
    let extra = format!(
        "fragment_size = 300\nlocal_id = \"{LONG_VWAND_ID}\"\nremote_id = \"{LONG_HUB_ID}\"\n"
    );
    let bed = bed_with(
        "aes256gcm16-prfsha384-ecp384",
        "aes256gcm16",
        PSK,
        vwand_initiates,
        &extra,
        |o| {
            o.local_id = Some(format!("@{LONG_HUB_ID}"));
            o.remote_id = Some(format!("@{LONG_VWAND_ID}"));
            o.fragmentation = Some(netns::strongswan::Fragmentation::Yes);
            o.charon_extra.push("fragment_size = 300".into());
        },
    );
    wait_until("IKE SA established", Duration::from_secs(15), || {
        bed.vwand.ike("state") == "established"
    });
    wait_ping(&bed.vwand.ns, HUB_VNET, Duration::from_secs(10));
    assert!(ping_all(&bed.vwand.ns, HUB_VNET, 5), "on-prem -> hub");
    assert_same_spis(&bed);
    let log = bed.hub.log();
    let reassembled: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("reassembled fragmented IKE message"))
        .collect();
    let split: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("splitting IKE message"))
        .collect();
    eprintln!("strongSwan: {reassembled:#?}\n{split:#?}");
    let (ours, theirs) = if vwand_initiates {
        ("IKE_AUTH request 1 [ EF(", "IKE_AUTH response 1 [ EF(")
    } else {
        ("IKE_AUTH response 1 [ EF(", "IKE_AUTH request 1 [ EF(")
    };
    assert!(
        log.contains(&format!("parsed {ours}")),
        "strongSwan received vwand's IKE_AUTH in fragments"
    );
    assert!(!reassembled.is_empty(), "strongSwan reassembled them");
    assert!(
        log.contains(&format!("generating {theirs}")) && !split.is_empty(),
        "strongSwan fragmented its own IKE_AUTH"
    );
}

#[test]
fn fragmented_ike_auth_vwand_initiates() {
    fragmented_ike_auth(true);
}

#[test]
fn fragmented_ike_auth_strongswan_initiates() {
    fragmented_ike_auth(false);
}

/// KEY_ID identities (ID type 11) both ways, written as strongSwan writes
/// them: text (`keyid:hub-key`) and hex (`keyid:#...`; vwand's own ID,
/// which strongSwan expects as text: the harness cannot write `#` into
/// swanctl.conf).
#[test]
fn key_id_identities() {
    let bed = bed_with(
        "aes256gcm16-prfsha384-ecp384",
        "aes256gcm16",
        PSK,
        true,
        "local_id = \"keyid:#6f6e7072656d2d65646765\"\nremote_id = \"keyid:hub-key\"\n",
        |o| {
            o.local_id = Some("keyid:hub-key".into());
            o.remote_id = Some("keyid:onprem-edge".into());
        },
    );
    wait_until("IKE SA established", Duration::from_secs(15), || {
        bed.vwand.ike("state") == "established"
    });
    wait_ping(&bed.vwand.ns, HUB_VNET, Duration::from_secs(10));
    assert!(ping_all(&bed.vwand.ns, HUB_VNET, 3), "on-prem -> hub");
    let sa = bed.hub.wait_established(Duration::from_secs(5));
    eprintln!(
        "strongSwan: local-id {:?}, remote-id {:?}",
        sa.local_id, sa.remote_id
    );
    assert_eq!(sa.local_id, "hub-key");
    assert_eq!(sa.remote_id, "onprem-edge");
}

/// Azure's custom IPsec policy can still be SHA1 with DHGroup24 and PFS24;
/// with `allow_legacy` vwand speaks it (and says so in its log), both as
/// initiator with group 24 and PFS, and as responder to the default
/// policy's SHA-1 with group 2.
#[test]
fn legacy_sha1_and_group_24_with_allow_legacy() {
    let cases = [
        (
            "aes256-sha1-modp2048s256",
            "aes256-sha1-modp2048s256",
            true,
            "MODP_2048_256",
        ),
        ("aes256-sha1-modp1024", "aes256-sha1", false, "MODP_1024"),
    ];
    for (ike, esp, vwand_initiates, group) in cases {
        let bed = bed_with(
            ike,
            esp,
            PSK,
            vwand_initiates,
            "allow_legacy = true\n",
            |_| {},
        );
        wait_until("IKE SA established", Duration::from_secs(15), || {
            bed.vwand.ike("state") == "established"
        });
        let sa = bed.hub.wait_established(Duration::from_secs(5));
        assert_eq!(
            (
                sa.integ_alg.as_str(),
                sa.prf_alg.as_str(),
                sa.dh_group.as_str()
            ),
            ("HMAC_SHA1_96", "PRF_HMAC_SHA1", group),
            "{ike}"
        );
        let child = sa.children.first().expect("a child SA");
        assert_eq!(child.integ_alg, "HMAC_SHA1_96", "{esp}");
        traffic(&bed);
        assert_same_spis(&bed);
        if esp.ends_with("modp2048s256") {
            // The first Child SA rides the IKE SA's exchange; a rekey runs
            // a fresh group 24 exchange for PFS (vwand as responder).
            assert!(bed.hub.rekey(Some("net")), "swanctl --rekey");
            wait_until("Child SA rekeyed with PFS", Duration::from_secs(15), || {
                bed.hub.sas().iter().any(|sa| {
                    sa.children
                        .iter()
                        .any(|c| c.dh_group == group && c.integ_alg == "HMAC_SHA1_96")
                })
            });
            assert_same_spis(&bed);
            assert!(ping_all(&bed.vwand.ns, HUB_VNET, 3), "after the PFS rekey");
        }
        let log = bed.vwand.daemon.log();
        assert!(
            log.contains("offers legacy algorithms") && log.contains("RFC 8247"),
            "{log}"
        );
    }
}
