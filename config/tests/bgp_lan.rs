//! `[bgp] mode` and `[[bgp.lan]]`: what `vwand check` refuses and warns,
//! with the messages a user sees.

use std::path::Path;

fn conf(bgp_extra: &str, lan: &str) -> String {
    format!(
        r#"
[tun]
addresses = ["172.24.255.1/32"]

[bgp]
asn = 65010
advertise = ["192.168.10.0/24"]
expressroute_prefixes = ["192.168.0.0/16"]
{bgp_extra}

[[bgp.lan]]
peer = "192.168.20.1"
local_address = "192.168.20.2"
{lan}

[[tunnel]]
name = "instance0"
local = "192.168.20.2"
peer = "10.51.230.4"
transport = "raw"
routes = []

[tunnel.ike]
psk = "example-psk-not-a-secret-0123456789"

[tunnel.bgp]
peer = "10.51.230.12"
import = ["10.52.0.0/16"]
"#
    )
}

fn parse(text: &str) -> Result<config::Config, String> {
    config::parse(Path::new("vwand.toml"), text).map_err(|e| e.to_string())
}

fn warnings(c: &config::Config) -> Vec<String> {
    c.warnings.iter().map(|w| w.reason.clone()).collect()
}

#[test]
fn an_ibgp_router_in_encrypt_mode_checks_clean() {
    let c = parse(&conf(
        "",
        "remote_as = 65010\nimport = [\"192.168.0.0/16\"]",
    ))
    .unwrap();
    assert!(c.warnings.is_empty(), "{:?}", warnings(&c));
    let b = c.bgp.as_ref().unwrap();
    assert_eq!(*b.mode.get_ref(), config::RoutingMode::Encrypt);
    let l = &b.lan[0];
    assert!(l.is_ibgp(65010));
    assert_eq!(l.local_pref(*b.mode.get_ref()), 200);
    assert_eq!(l.ttl, 1);
}

#[test]
fn failover_mode_lowers_the_preference_and_prepends() {
    let text = conf(
        "mode = \"failover\"",
        "remote_as = 65010\ncommunities = [\"65010:80\"]",
    )
    .replace(
        "advertise = [\"192.168.10.0/24\"]",
        "advertise = [\"192.168.0.0/16\"]",
    );
    let c = parse(&text).unwrap();
    let b = c.bgp.as_ref().unwrap();
    assert_eq!(b.lan[0].local_pref(*b.mode.get_ref()), 50);
    assert_eq!(b.lan[0].community_values(), vec![65010 << 16 | 80]);
    let t = c.tunnels[0].get_ref().bgp.as_ref().unwrap();
    assert_eq!(t.prepend_count(b), config::FAILOVER_PREPEND);
    // The identical prefix is allowed in failover mode, with a note.
    assert_eq!(warnings(&c).len(), 1, "{:?}", warnings(&c));
    assert!(warnings(&c)[0].starts_with("failover session: 192.168.0.0/16"));
}

#[test]
fn contradictions_between_mode_and_prefixes_are_warned() {
    // failover mode, but the VPN prefix is more specific: Azure would
    // prefer the VPN while ExpressRoute is up.
    let c = parse(&conf("mode = \"failover\"", "remote_as = 65010")).unwrap();
    let w = warnings(&c);
    assert!(
        w.iter().any(|w| w
            == "mode = \"failover\": 192.168.10.0/24 is more specific than an \
             ExpressRoute prefix, so Azure sends its traffic over the VPN even while ExpressRoute \
             is up (advertise the ExpressRoute prefixes themselves)"),
        "{w:?}"
    );
    // encrypt mode, iBGP, but a preference that loses to the circuit.
    let c = parse(&conf("", "remote_as = 65010\nlocal_pref = 100")).unwrap();
    assert_eq!(
        c.warnings[0].to_string(),
        "vwand.toml:15:14: local_pref 100 is not above the default 100: the on-premises router \
         may prefer ExpressRoute's path to Azure, in clear (mode = \"encrypt\")"
    );
    // encrypt mode over eBGP with nothing for the router to match.
    let c = parse(&conf("", "remote_as = 65001")).unwrap();
    assert!(warnings(&c)[0].contains("is eBGP: its own import policy decides"));
    let c = parse(&conf(
        "",
        "remote_as = 65001\ncommunities = [\"65010:200\"]",
    ))
    .unwrap();
    assert!(c.warnings.is_empty(), "{:?}", warnings(&c));
}

#[test]
fn bad_lan_sessions_are_refused_with_their_line() {
    let e = parse(&conf("", "remote_as = 65515")).unwrap_err();
    assert_eq!(
        e,
        "vwand.toml:14:13: remote_as 65515 cannot be an on-premises router's AS (0 and 23456 are \
         reserved; 65515 is Azure's)"
    );
    let e = parse(&conf(
        "",
        "remote_as = 65010\ncommunities = [\"65010:70000\"]",
    ))
    .unwrap_err();
    assert!(
        e.ends_with("community \"65010:70000\" must be \"asn:value\", each a number below 65536"),
        "{e}"
    );
    let e = parse(&conf(
        "",
        "remote_as = 65010\nimport = [\"192.168.1.1/16\"]",
    ))
    .unwrap_err();
    assert!(
        e.ends_with("import prefix 192.168.1.1/16 has host bits set; did you mean 192.168.0.0/16?"),
        "{e}"
    );
    let text =
        conf("", "remote_as = 65010").replace("peer = \"192.168.20.1\"", "peer = \"10.51.230.12\"");
    assert!(parse(&text)
        .unwrap_err()
        .contains("is also a tunnel's BGP peer"));
    let e = parse(&conf("mode = \"primary\"", "remote_as = 65010")).unwrap_err();
    assert!(e.contains("unknown variant `primary`"), "{e}");
    let e = parse(&conf("", "")).unwrap_err();
    assert!(e.contains("missing field `remote_as`"), "{e}");
}
