//! vwand's IKE responder under load (RFC 7296 §2.6), with strongSwan as
//! the initiator: cookies when vwand asks for them, and the cap on
//! half-open SAs against a flood of IKE_SA_INIT requests from the
//! configured peer's address (tests/oracle/ike_flood.py).
//!
//! ```text
//!  onprem: vwand (responder), TUN 10.10.0.1 ── ul0 192.0.2.1 ══ 192.0.2.2 ul0 ── strongSwan, flood :hub
//! ```

use netns::strongswan::{HubOptions, StartAction, StrongswanHub};
use netns::vwand::{start_daemon, Side};
use netns::{ping_all, scratch_dir, veth_pair, wait_ping, wait_until, workspace_root, Netns};
use serde_json::Value;
use std::time::{Duration, Instant};

const PSK: &str = "azure-hub-psk-not-a-secret-0123456789";
const PROPOSAL: &str = "aes128gcm16-prfsha256-x25519";
const HUB_VNET: &str = "10.51.0.1";

struct Responder {
    vwand: Side,
    hub: StrongswanHub,
    hub_ns: Netns,
    scratch: netns::ScratchDir,
}

/// vwand waits for the peer; `daemon` goes into its `[daemon]` table.
fn responder(daemon: &str, hub_starts: bool) -> Responder {
    let scratch = scratch_dir();
    let a = Netns::new("onprem");
    let hub_ns = Netns::new("hub");
    veth_pair(&a, "ul0", "192.0.2.1/24", &hub_ns, "ul0", "192.0.2.2/24");
    let config = format!(
        "[daemon]\nstatus_socket = \"{{status_socket}}\"\n{daemon}\n[tun]\nname = \"vw0\"\n\
         addresses = [\"10.10.0.1/32\"]\n\n[[tunnel]]\nname = \"hub0\"\nlocal = \"192.0.2.1\"\n\
         peer = \"192.0.2.2\"\ntransport = \"raw\"\nroutes = [\"10.51.0.0/16\"]\n\n[tunnel.ike]\n\
         psk = \"{PSK}\"\nproposals = [\"{PROPOSAL}\"]\nesp_proposals = [\"aes128gcm16\"]\n\
         initiate = false\n"
    );
    let vwand = start_daemon(&scratch, a, "vwand", &config);
    let mut o = HubOptions::new("192.0.2.2", "192.0.2.1", PSK);
    o.ike_proposal = PROPOSAL.into();
    o.esp_proposal = "aes128gcm16".into();
    o.local_ts = vec!["0.0.0.0/0".into()];
    o.remote_ts = vec!["0.0.0.0/0".into()];
    o.vnet_address = Some(format!("{HUB_VNET}/32"));
    o.start_action = if hub_starts {
        StartAction::Start
    } else {
        StartAction::None
    };
    let hub_dir = scratch.join("hub");
    std::fs::create_dir_all(&hub_dir).unwrap();
    let hub = StrongswanHub::start(&hub_ns, o, &hub_dir);
    Responder {
        vwand,
        hub,
        hub_ns,
        scratch,
    }
}

fn responder_status(side: &Side) -> Value {
    side.status()["ike"].clone()
}

fn counter(v: &Value, name: &str) -> u64 {
    v[name].as_u64().unwrap_or(0)
}

/// The tunnel is up and carries pings both ways.
fn tunnel_works(r: &Responder) {
    wait_until("IKE SA established", Duration::from_secs(20), || {
        r.vwand.ike("state") == "established"
    });
    wait_ping(&r.vwand.ns, HUB_VNET, Duration::from_secs(10));
    assert!(ping_all(&r.vwand.ns, HUB_VNET, 3), "on-prem -> hub");
    let back = r.hub_ns.exec(&[
        "ping",
        "-c",
        "3",
        "-i",
        "0.2",
        "-W",
        "1",
        "-I",
        HUB_VNET,
        "10.10.0.1",
    ]);
    assert!(back.status.success(), "hub -> on-prem");
}

/// `ike_cookie_threshold = 0`: vwand answers strongSwan's first
/// IKE_SA_INIT with only N(COOKIE); strongSwan retries with it first, and
/// the tunnel comes up.
#[test]
fn strongswan_returns_the_cookie_vwand_demands() {
    let r = responder("ike_cookie_threshold = 0\n", true);
    tunnel_works(&r);
    let log = r.hub.log();
    let seen: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("IKE_SA_INIT") && l.contains("COOKIE"))
        .collect();
    eprintln!("strongSwan: {seen:#?}");
    assert!(
        log.contains("parsed IKE_SA_INIT response 0 [ N(COOKIE) ]"),
        "strongSwan received vwand's COOKIE"
    );
    assert!(
        log.contains("generating IKE_SA_INIT request 0 [ N(COOKIE) SA KE No"),
        "strongSwan sent it back, first"
    );
    let s = responder_status(&r.vwand);
    eprintln!("vwand: {s}");
    assert!(counter(&s, "cookies_sent") >= 1 && counter(&s, "cookies_verified") >= 1);
    assert_eq!(counter(&s, "cookies_invalid"), 0);
    assert_eq!(counter(&s, "half_open"), 0, "the SA authenticated");
    assert_eq!(s["cookies_required"], true);
}

/// A flood of IKE_SA_INIT requests from the peer's address that echoes
/// cookies: vwand holds at most `ike_half_open_max` half-open SAs, asks
/// for cookies from `ike_cookie_threshold` on, drops the rest and counts
/// them; the half-open SAs expire, and strongSwan's tunnel then comes up.
#[test]
fn a_flood_of_ike_sa_init_is_capped() {
    let daemon = "ike_cookie_threshold = 2\nike_half_open_max = 6\nike_half_open_seconds = 8\n";
    let r = responder(daemon, false);
    let script = workspace_root().join("tests/oracle/ike_flood.py");
    let out = r.scratch.join("flood.log");
    let script = script.to_str().unwrap();
    let args = [
        script,
        "--src",
        "192.0.2.2",
        "--dst",
        "192.0.2.1",
        "--count",
        "24",
    ];
    let mut flood = r.hub_ns.spawn("python3", &args, &out);
    let started = Instant::now();
    let mut most = 0;
    while flood.is_running() && started.elapsed() < Duration::from_secs(30) {
        most = most.max(counter(&responder_status(&r.vwand), "half_open"));
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        flood.wait_timeout(Duration::from_secs(1)).is_some(),
        "the flood ends"
    );
    let text = std::fs::read_to_string(&out).unwrap();
    let last = text.lines().last().unwrap_or("");
    let flood: Value = serde_json::from_str(last).unwrap_or_else(|e| panic!("{e}: {text}"));
    let s = responder_status(&r.vwand);
    eprintln!("flood: {flood}\nvwand: {s}\nmost half-open seen: {most}");
    assert!(most <= 6 && counter(&s, "half_open") <= 6, "{most}");
    assert_eq!(counter(&flood, "accepted"), 6, "up to the cap");
    assert!(counter(&flood, "silent") >= 10, "the rest dropped");
    assert_eq!(counter(&s, "half_open_refused"), counter(&flood, "silent"));
    assert_eq!(counter(&flood, "cookie"), 24 - 2, "cookies from the 3rd on");
    assert_eq!(counter(&s, "cookies_verified"), 24 - 2);
    assert!(r.vwand.daemon.log().contains("too many half-open IKE SAs"));
    // The half-open SAs expire; then the real peer gets in.
    wait_until("half-open SAs expire", Duration::from_secs(15), || {
        counter(&responder_status(&r.vwand), "half_open") == 0
    });
    assert_eq!(counter(&responder_status(&r.vwand), "half_open_expired"), 6);
    // Unauthenticated half-open SAs never become the tunnel's error.
    let ike = &r.vwand.tunnel("hub0")["ike"];
    assert_eq!(ike["last_error"], "", "{ike}");
    r.hub.initiate("net");
    tunnel_works(&r);
}
