//! Self-test of the strongSwan hub harness: two namespaces, each running a
//! real charon-systemd with kernel-libipsec ("site" initiates, "hub"
//! responds), joined by a veth underlay.
//!
//! ```text
//!  site: lo 10.1.0.1 ── ipsec0 ── ul0 192.0.2.1 ══ veth ══ 192.0.2.2 ul0 ── ipsec0 ── lo 10.51.0.1 :hub
//! ```
//!
//! Timings are printed to stderr (`-- --nocapture` to see them).

use std::path::Path;
use std::time::{Duration, Instant};

use netns::strongswan::{
    HubOptions, IkeSaInfo, PeerAction, StartAction, StrongswanHub, LIBIPSEC_TUN, ROUTE_TABLE,
};
use netns::{
    list_namespaces, pcap_text, ping_all, require_netns_env, require_tools, scratch_dir, veth_pair,
    wait_ping, Capture, Netns,
};

const SITE_OUTER: &str = "192.0.2.1";
const HUB_OUTER: &str = "192.0.2.2";
const SITE_NET: &str = "10.1.0.0/16";
const HUB_NET: &str = "10.51.0.0/16";
const SITE_VNET: &str = "10.1.0.1";
const HUB_VNET: &str = "10.51.0.1";
const PSK: &str = "vwand-selftest-psk-not-secret-0123456789";
const ESTABLISH_TIMEOUT: Duration = Duration::from_secs(30);

fn require_strongswan() {
    require_netns_env();
    require_tools(&["charon-systemd", "swanctl", "tcpdump"]);
}

/// Site and hub namespaces joined by `ul0` <-> `ul0`.
fn underlay() -> (Netns, Netns) {
    let site = Netns::new("ss_site");
    let hub = Netns::new("ss_hub");
    veth_pair(
        &site,
        "ul0",
        &format!("{SITE_OUTER}/24"),
        &hub,
        "ul0",
        &format!("{HUB_OUTER}/24"),
    );
    (site, hub)
}

/// Hub (responder) options: VNet 10.51.0.0/16, peer 10.1.0.0/16.
fn hub_opts(ike: &str, esp: &str) -> HubOptions {
    let mut o = HubOptions::new(HUB_OUTER, SITE_OUTER, PSK);
    o.ike_proposal = ike.into();
    o.esp_proposal = esp.into();
    o.local_ts = vec![HUB_NET.into()];
    o.remote_ts = vec![SITE_NET.into()];
    o.vnet_address = Some(HUB_VNET.into());
    o
}

/// Site (initiator) options, mirror image of [`hub_opts`].
fn site_opts(ike: &str, esp: &str, start: StartAction) -> HubOptions {
    let mut o = HubOptions::new(SITE_OUTER, HUB_OUTER, PSK);
    o.conn_name = "site".into();
    o.ike_proposal = ike.into();
    o.esp_proposal = esp.into();
    o.local_ts = vec![SITE_NET.into()];
    o.remote_ts = vec![HUB_NET.into()];
    o.vnet_address = Some(SITE_VNET.into());
    o.start_action = start;
    o
}

/// Both sides agree on SPIs, algorithms and selectors.
fn assert_mirrored(site: &IkeSaInfo, hub: &IkeSaInfo) {
    assert!(site.established && hub.established);
    assert!(site.initiator && !hub.initiator, "{site:?}\n{hub:?}");
    assert_eq!(site.initiator_spi, hub.initiator_spi);
    assert_eq!(site.responder_spi, hub.responder_spi);
    assert_eq!(site.encr_alg, hub.encr_alg);
    assert_eq!(site.integ_alg, hub.integ_alg);
    assert_eq!(site.prf_alg, hub.prf_alg);
    assert_eq!(site.dh_group, hub.dh_group);
    let sc = site.child("net").expect("site child");
    let hc = hub.child("net").expect("hub child");
    assert!(sc.installed && hc.installed);
    assert_eq!(sc.spi_in, hc.spi_out);
    assert_eq!(sc.spi_out, hc.spi_in);
    assert_eq!(sc.encr_alg, hc.encr_alg);
    assert_eq!(sc.integ_alg, hc.integ_alg);
    assert_eq!(sc.local_ts, [SITE_NET]);
    assert_eq!(sc.remote_ts, [HUB_NET]);
    assert_eq!(hc.local_ts, [HUB_NET]);
    assert_eq!(hc.remote_ts, [SITE_NET]);
    // kernel-libipsec: always "NAT", ESP-in-UDP, IKE floated to 4500.
    assert!(sc.encap && hc.encap, "kernel-libipsec always encapsulates");
    assert!(site.nat_remote && hub.nat_remote);
    assert_eq!((site.local_port, site.remote_port), (4500, 4500));
    assert_eq!((hub.local_port, hub.remote_port), (4500, 4500));
}

/// `ip rule` has the 220 lookup, table 220 routes the peer's net via the TUN
/// with the local VNet address as source, and the TUN has MTU 1400.
fn assert_routes(ns: &Netns, remote_net: &str, local_vnet: &str) -> String {
    let rules = ns.ip(&["rule"]);
    assert!(
        rules.contains(&format!("lookup {ROUTE_TABLE}")),
        "ip rule in {}:\n{rules}",
        ns.name()
    );
    let table = ns.ip(&["route", "show", "table", &ROUTE_TABLE.to_string()]);
    let want = format!("{remote_net} dev {LIBIPSEC_TUN} proto static src {local_vnet}");
    assert!(
        table.contains(&want),
        "table {ROUTE_TABLE} in {} lacks {want:?}:\n{table}",
        ns.name()
    );
    let link = ns.ip(&["-d", "link", "show", "dev", LIBIPSEC_TUN]);
    assert!(
        link.contains("mtu 1400") && link.contains("tun type tun"),
        "{link}"
    );
    format!("ip rule:\n{rules}table {ROUTE_TABLE}:\n{table}{LIBIPSEC_TUN}:\n{link}")
}

/// Whether `pid` is a live (not zombie) charon-systemd.
fn charon_alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.contains("(charon-systemd)")
            && stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().next())
                .is_some_and(|s| s != "Z" && s != "X")
    })
}

/// Drops everything and checks nothing is left: no charon, no namespace.
fn teardown(hubs: Vec<StrongswanHub>, namespaces: Vec<Netns>) {
    let pids: Vec<u32> = hubs.iter().map(StrongswanHub::pid).collect();
    let names: Vec<String> = namespaces.iter().map(|n| n.name().to_string()).collect();
    let t = Instant::now();
    drop(hubs);
    eprintln!("dropping {} charon(s) took {:?}", pids.len(), t.elapsed());
    drop(namespaces);
    for pid in pids {
        assert!(!charon_alive(pid), "charon pid {pid} survived Drop");
    }
    let listed = list_namespaces();
    for name in names {
        assert!(!listed.contains(&name), "netns {name} survived: {listed:?}");
    }
}

/// Starts hub then site (start_action=start), waits for both, checks the
/// tunnel with ping and a capture; returns (site, hub, setup timings).
fn establish(
    site_ns: &Netns,
    hub_ns: &Netns,
    dir: &Path,
    site: HubOptions,
    hub: HubOptions,
) -> (StrongswanHub, StrongswanHub, IkeSaInfo, IkeSaInfo) {
    let t0 = Instant::now();
    let hub_gw = StrongswanHub::start(hub_ns, hub, &dir.join("hub"));
    let t_hub = t0.elapsed();
    let t1 = Instant::now();
    let site_gw = StrongswanHub::start(site_ns, site, &dir.join("site"));
    let t_site = t1.elapsed();
    let t2 = Instant::now();
    let s = site_gw.wait_established(ESTABLISH_TIMEOUT);
    let h = hub_gw.wait_established(ESTABLISH_TIMEOUT);
    eprintln!(
        "hub start() {t_hub:?} (vici after {:?}); site start() {t_site:?} (vici after {:?}); \
         established on both {:?} after site's config load",
        hub_gw.startup_time(),
        site_gw.startup_time(),
        t2.elapsed()
    );
    (site_gw, hub_gw, s, h)
}

#[test]
fn gcm_ecp384_tunnel_ping_udp4500_and_cleanup() {
    require_strongswan();
    let dir = scratch_dir();
    let (site_ns, hub_ns) = underlay();
    // Capture the whole exchange on the hub's underlay.
    let cap = Capture::start(&hub_ns, "ul0", dir.join("ul0.pcap"), &["udp"]);

    let ike = "aes256gcm16-prfsha384-ecp384";
    let esp = "aes256gcm16";
    let site_o = site_opts(ike, esp, StartAction::Start);
    eprintln!(
        "--- site strongswan.conf:\n{}--- site swanctl.conf:\n{}",
        site_o.strongswan_conf(&dir.join("site")),
        site_o.swanctl_conf()
    );
    let (site, hub, s, h) = establish(&site_ns, &hub_ns, dir.path(), site_o, hub_opts(ike, esp));
    assert_mirrored(&s, &h);
    assert_eq!(
        (s.encr_alg.as_str(), s.encr_keysize, s.integ_alg.as_str()),
        ("AES_GCM_16", 256, "")
    );
    assert_eq!(s.prf_alg, "PRF_HMAC_SHA2_384");
    assert_eq!(s.dh_group, "ECP_384");
    let sc = s.child("net").unwrap();
    assert_eq!((sc.encr_alg.as_str(), sc.encr_keysize), ("AES_GCM_16", 256));
    assert_eq!(sc.mode, "TUNNEL");
    assert_eq!(
        (s.local_id.as_str(), s.remote_id.as_str()),
        (SITE_OUTER, HUB_OUTER)
    );

    let site_routes = assert_routes(&site_ns, HUB_NET, SITE_VNET);
    let hub_routes = assert_routes(&hub_ns, SITE_NET, HUB_VNET);
    eprintln!("--- site:\n{site_routes}--- hub:\n{hub_routes}");

    // Through the tunnel, both ways.
    wait_ping(&site_ns, HUB_VNET, Duration::from_secs(10));
    assert!(
        ping_all(&site_ns, HUB_VNET, 5),
        "site -> hub through libipsec"
    );
    assert!(
        ping_all(&hub_ns, SITE_VNET, 5),
        "hub -> site through libipsec"
    );
    let s2 = site.wait_established(ESTABLISH_TIMEOUT);
    let h2 = hub.wait_established(ESTABLISH_TIMEOUT);
    let (sc, hc) = (s2.child("net").unwrap(), h2.child("net").unwrap());
    assert!(sc.packets_out >= 11 && sc.packets_in >= 11, "{sc:?}");
    assert!(hc.packets_out >= 11 && hc.packets_in >= 11, "{hc:?}");
    assert!(sc.bytes_out > 0 && hc.bytes_in > 0);

    // charon owns UDP 500 and 4500 in the hub namespace.
    let ss = hub_ns.run_ok(&["ss", "-uanp"]);
    for port in [":500 ", ":4500 "] {
        assert!(
            ss.lines()
                .any(|l| l.contains(port) && l.contains("charon-systemd")),
            "charon not bound to {port}: {ss}"
        );
    }

    let pcap = cap.stop();
    let text = pcap_text(&pcap, &[]);
    let esp_in = format!("UDP-encap: ESP(spi=0x{:08x}", hc.spi_in);
    let esp_out = format!("UDP-encap: ESP(spi=0x{:08x}", hc.spi_out);
    assert!(
        text.lines().filter(|l| l.contains(&esp_in)).count() >= 10,
        "no ESP-in-UDP with the hub's inbound SPI:\n{text}"
    );
    assert!(text.contains(&esp_out), "{text}");
    assert!(
        text.lines()
            .all(|l| !l.contains("ESP") || l.contains(".4500 > ")),
        "ESP outside UDP 4500:\n{text}"
    );
    // IKE_SA_INIT on 500, IKE_AUTH floated to 4500 (non-ESP marker).
    let ike500 = pcap_text(&pcap, &["udp", "port", "500"]);
    assert_eq!(
        ike500.lines().count(),
        2,
        "IKE_SA_INIT only on 500:\n{ike500}"
    );
    assert!(
        text.contains("NONESP-encap"),
        "IKE on 4500 expected:\n{text}"
    );
    eprintln!("--- hub ul0 capture:\n{text}");

    // A DELETE from the site clears the hub.
    assert!(site.terminate_ike());
    hub.wait_no_sas(Duration::from_secs(10));
    site.wait_no_sas(Duration::from_secs(10));
    // Routes go with the SA.
    let table = hub_ns.ip(&["route", "show", "table", &ROUTE_TABLE.to_string()]);
    assert!(!table.contains(SITE_NET), "{table}");
    assert!(
        hub.log().contains("IKE_SA hub[1] established"),
        "{}",
        hub.log()
    );

    teardown(vec![site, hub], vec![site_ns, hub_ns]);
}

/// Azure's default IKEv2 policy (no custom IPsec policy) proposes, among
/// others, AES256/SHA256/DH group 2 (modp1024) or 14 (modp2048) for IKE and
/// AES256 + SHA256/SHA1 for ESP. The hub accepts any peer (`%any`), the site
/// initiates explicitly.
#[test]
fn azure_default_cbc_proposals_modp2048_and_modp1024() {
    require_strongswan();
    let dir = scratch_dir();
    let (site_ns, hub_ns) = underlay();
    let cases = [
        (
            "aes256-sha256-modp2048",
            "aes256-sha256",
            "MODP_2048",
            "HMAC_SHA2_256_128",
        ),
        (
            "aes256-sha1-modp1024",
            "aes256-sha1",
            "MODP_1024",
            "HMAC_SHA1_96",
        ),
    ];
    for (i, (ike, esp, group, integ)) in cases.into_iter().enumerate() {
        let case_dir = dir.join(format!("case{i}"));
        let mut h = hub_opts(ike, esp);
        h.remote_addr = "%any".into();
        let t0 = Instant::now();
        let hub = StrongswanHub::start(&hub_ns, h, &case_dir.join("hub"));
        let site = StrongswanHub::start(
            &site_ns,
            site_opts(ike, esp, StartAction::None),
            &case_dir.join("site"),
        );
        let started = t0.elapsed();
        assert!(
            hub.sas().is_empty() && site.sas().is_empty(),
            "nothing before initiate"
        );
        let t1 = Instant::now();
        let out = site.initiate("net");
        let initiated = t1.elapsed();
        assert!(out.contains(&format!("IKE:AES_CBC_256/{integ}")), "{out}");
        let s = site.wait_established(ESTABLISH_TIMEOUT);
        let h = hub.wait_established(ESTABLISH_TIMEOUT);
        eprintln!("{ike}/{esp}: both started in {started:?}, initiate took {initiated:?}");
        assert_mirrored(&s, &h);
        assert_eq!((s.encr_alg.as_str(), s.encr_keysize), ("AES_CBC", 256));
        assert_eq!(s.integ_alg, integ);
        assert_eq!(s.dh_group, group);
        assert_eq!(h.remote_host, SITE_OUTER);
        let c = h.child("net").unwrap();
        assert_eq!(
            (c.encr_alg.as_str(), c.integ_alg.as_str()),
            ("AES_CBC", integ)
        );
        assert_routes(&hub_ns, SITE_NET, HUB_VNET);

        wait_ping(&site_ns, HUB_VNET, Duration::from_secs(10));
        assert!(ping_all(&site_ns, HUB_VNET, 3), "site -> hub {ike}");
        assert!(ping_all(&hub_ns, SITE_VNET, 3), "hub -> site {ike}");

        // Restart both in the same namespaces for the next case; the TUN
        // and routes vanish with charon.
        let (mut site, mut hub) = (site, hub);
        let stop_site = site.stop().expect("site charon stops on SIGTERM");
        let stop_hub = hub.stop().expect("hub charon stops on SIGTERM");
        eprintln!("SIGTERM -> exit: site {stop_site:?}, hub {stop_hub:?}");
        let links = hub_ns.ip(&["link"]);
        assert!(!links.contains(LIBIPSEC_TUN), "{links}");
    }
    teardown(vec![], vec![site_ns, hub_ns]);
}

/// `start_action = trap` with kernel-libipsec (5.9.8): the trap is installed
/// (CHILD_SA `ROUTED`, route in table 220) but libipsec raises no acquire, so
/// matching packets are dropped ("could not find an outbound IPsec SA")
/// until the SA is initiated explicitly. Then `kill()` leaves the hub with a
/// dead peer, and DPD (with tuned retransmits) clears the hub's SA.
#[test]
fn trap_without_acquire_then_dead_peer_detection() {
    require_strongswan();
    let dir = scratch_dir();
    let (site_ns, hub_ns) = underlay();
    let ike = "aes256gcm16-prfsha256-x25519";
    let esp = "aes256gcm16";
    let mut h = hub_opts(ike, esp);
    h.dpd_delay = Some(Duration::from_secs(1));
    h.dpd_action = Some(PeerAction::Clear);
    h.charon_extra = vec![
        "retransmit_timeout = 0.5".into(),
        "retransmit_base = 1.4".into(),
        "retransmit_tries = 2".into(),
    ];
    let hub = StrongswanHub::start(&hub_ns, h, &dir.join("hub"));
    let mut site = StrongswanHub::start(
        &site_ns,
        site_opts(ike, esp, StartAction::Trap),
        &dir.join("site"),
    );
    assert!(site.sas().is_empty(), "trap installs no SA");
    let pols = String::from_utf8_lossy(&site.swanctl(&["--list-pols"]).stdout).into_owned();
    assert!(pols.contains("ROUTED") || pols.contains("TUNNEL"), "{pols}");
    let table = site_ns.ip(&["route", "show", "table", &ROUTE_TABLE.to_string()]);
    assert!(
        table.contains(&format!("{HUB_NET} dev {LIBIPSEC_TUN}")),
        "{table}"
    );
    assert!(
        !ping_all(&site_ns, HUB_VNET, 2),
        "trap unexpectedly forwarded"
    );
    assert!(
        site.log().contains("could not find an outbound IPsec SA"),
        "{}",
        site.log()
    );
    assert!(
        site.sas().is_empty(),
        "libipsec raised an acquire after all"
    );

    let t = Instant::now();
    site.initiate("net");
    eprintln!("trap: explicit initiate took {:?}", t.elapsed());
    wait_ping(&site_ns, HUB_VNET, Duration::from_secs(10));
    let s = site.wait_established(ESTABLISH_TIMEOUT);
    let hs = hub.wait_established(ESTABLISH_TIMEOUT);
    assert_mirrored(&s, &hs);
    assert_eq!(s.dh_group, "CURVE_25519");

    let pid = site.pid();
    site.kill();
    assert!(!charon_alive(pid) && !site.is_running());
    let t = Instant::now();
    hub.wait_no_sas(Duration::from_secs(30));
    eprintln!("DPD cleared the hub's SA {:?} after kill()", t.elapsed());
    assert!(
        hub.log().contains("giving up after 2 retransmits"),
        "{}",
        hub.log()
    );

    teardown(vec![site, hub], vec![site_ns, hub_ns]);
}
