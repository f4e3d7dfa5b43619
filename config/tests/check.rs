//! What `vwand check` refuses that it once let through, each with the
//! exact message: host bits, a short PSK, two tunnels to one peer, a route
//! over a tunnel's own peer, a BGP peer inside our advertised prefixes,
//! and algorithm errors that say what to do.

use std::path::Path;

const BASE: &str = r#"
[tun]
addresses = ["172.24.255.1/32"]

[bgp]
asn = 65010
advertise = ["172.24.0.0/17"]
expressroute_prefixes = ["172.24.0.0/16"]

[[tunnel]]
name = "instance0"
local = "172.24.127.211"
peer = "10.51.230.4"
transport = "raw"
routes = ["10.51.231.0/24"]

[tunnel.ike]
psk = "example-psk-not-a-secret-0123456789"

[tunnel.bgp]
peer = "10.51.230.12"
import = ["10.51.0.0/16"]
"#;

fn refuse(text: &str) -> String {
    match config::parse(Path::new("vwand.toml"), text) {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn the_base_file_is_accepted() {
    assert!(config::parse(Path::new("vwand.toml"), BASE).is_ok());
}

#[test]
fn host_bits_are_refused_with_the_network_meant() {
    let e = refuse(&BASE.replace("\"172.24.0.0/17\"", "\"172.24.1.0/17\""));
    assert_eq!(
        e,
        "vwand.toml:7:14: prefix 172.24.1.0/17 has host bits set; did you mean 172.24.0.0/17?"
    );
    let e = refuse(&BASE.replace(
        "routes = [\"10.51.231.0/24\"]",
        "routes = [\"10.51.231.9/24\"]",
    ));
    assert!(
        e.contains("route 10.51.231.9/24 has host bits set; did you mean 10.51.231.0/24?"),
        "{e}"
    );
    let e = refuse(&BASE.replace("import = [\"10.51.0.0/16\"]", "import = [\"10.51.0.1/16\"]"));
    assert!(
        e.contains("import prefix 10.51.0.1/16 has host bits set"),
        "{e}"
    );
}

#[test]
fn a_short_psk_is_refused() {
    let e = refuse(&BASE.replace("example-psk-not-a-secret-0123456789", "abc"));
    assert_eq!(
        e,
        "vwand.toml:18:7: tunnel \"instance0\": the pre-shared key has 3 characters; use at least 16 (Azure generates 32)"
    );
}

#[test]
fn two_tunnels_to_one_peer_are_refused() {
    let second = BASE
        .split("[[tunnel]]")
        .nth(1)
        .unwrap()
        .replace("instance0", "instance1");
    let e = refuse(&format!("{BASE}\n[[tunnel]]{second}"));
    assert!(
        e.contains("tunnels \"instance0\" and \"instance1\" both go to peer 10.51.230.4; one tunnel per hub instance"),
        "{e}"
    );
}

#[test]
fn a_route_over_a_tunnel_peer_is_refused() {
    let e = refuse(&BASE.replace(
        "routes = [\"10.51.231.0/24\"]",
        "routes = [\"10.51.230.0/24\"]",
    ));
    assert!(
        e.contains("route 10.51.230.0/24 covers tunnel peer 10.51.230.4: ESP to it would loop into the TUN"),
        "{e}"
    );
}

#[test]
fn a_bgp_peer_inside_our_own_prefixes_is_refused() {
    let e = refuse(&BASE.replace("peer = \"10.51.230.12\"", "peer = \"172.24.9.9\""));
    assert!(
        e.contains(
            "BGP peer 172.24.9.9 lies inside 172.24.0.0/17, which we advertise as on-premises"
        ),
        "{e}"
    );
}

#[test]
fn algorithm_errors_say_what_to_do() {
    let with = |p: &str| {
        BASE.replace(
            "[tunnel.bgp]",
            &format!("proposals = [\"{p}\"]\n\n[tunnel.bgp]"),
        )
    };
    let e = refuse(&with("aes256-sha256-modp1024"));
    assert!(e.contains("set allow_legacy = true in [tunnel.ike]"), "{e}");
    let e = refuse(&with("aes256-sha256-modp9999"));
    assert!(
        e.contains("unknown algorithm \"modp9999\"; vwand knows"),
        "{e}"
    );
    assert!(e.contains("ecp384") && e.contains("x25519"), "{e}");
}

#[test]
fn legacy_algorithms_are_allowed_only_when_asked_and_warned_about() {
    // Azure's custom IPsec policy: SHA1 integrity, DHGroup24 and PFS24.
    let azure = |legacy: bool| {
        BASE.replace(
            "[tunnel.bgp]",
            &format!(
                "proposals = [\"aes256gcm16-prfsha256-ecp256\", \"aes256-sha1-modp2048s256\"]\n\
                 esp_proposals = [\"aes256-sha1-modp2048s256\"]\nallow_legacy = {legacy}\n\n[tunnel.bgp]"
            ),
        )
    };
    let e = refuse(&azure(false));
    assert!(
        e.starts_with("vwand.toml:20:")
            && e.contains("\"sha1\" (SHA-1")
            && e.contains("set allow_legacy = true in [tunnel.ike]"),
        "{e}"
    );
    let c = config::parse(Path::new("vwand.toml"), &azure(true)).unwrap();
    let warnings: Vec<String> = c.warnings.iter().map(ToString::to_string).collect();
    let legacy: Vec<&String> = warnings.iter().filter(|w| w.contains("legacy")).collect();
    assert_eq!(legacy.len(), 1, "{warnings:?}");
    assert!(
        legacy[0].starts_with("vwand.toml:20:")
            && legacy[0].contains(
                "tunnel \"instance0\" offers legacy algorithms (sha1, prfsha1, modp2048s256)"
            ),
        "{}",
        legacy[0]
    );
    // A modern file draws no such warning, and neither does allow_legacy
    // alone.
    let modern = BASE.replace("[tunnel.bgp]", "allow_legacy = true\n\n[tunnel.bgp]");
    let c = config::parse(Path::new("vwand.toml"), &modern).unwrap();
    assert!(!c.warnings.iter().any(|w| w.to_string().contains("legacy")));
}
