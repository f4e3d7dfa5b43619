//! The encryption guard and the `[bgp]` checks, with the exact messages a
//! user sees.

use std::path::Path;

fn conf(advertise: &str, er: &str, session_extra: &str) -> String {
    format!(
        r#"
[tun]
addresses = ["172.24.255.1/32"]

[bgp]
asn = 65010
advertise = [{advertise}]
expressroute_prefixes = [{er}]

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
{session_extra}
"#
    )
}

fn parse(text: &str) -> Result<config::Config, String> {
    config::parse(Path::new("vwand.toml"), text).map_err(|e| e.to_string())
}

#[test]
fn identical_prefix_is_refused_with_its_line() {
    let e = parse(&conf(r#""172.24.0.0/16""#, r#""172.24.0.0/16""#, "")).unwrap_err();
    assert_eq!(
        e,
        "vwand.toml:7:14: encryption guard: 172.24.0.0/16 is also advertised over ExpressRoute; \
         Azure prefers ExpressRoute for the same prefix, so this traffic would cross the circuit \
         unencrypted (advertise more specific prefixes over the VPN, or set [bgp] mode = \
         \"failover\" if ExpressRoute is meant to be primary)"
    );
}

#[test]
fn more_specific_prefixes_are_accepted_without_warning() {
    let c = parse(&conf(
        r#""172.24.0.0/17", "172.24.128.0/17""#,
        r#""172.24.0.0/16""#,
        "",
    ))
    .unwrap();
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
}

#[test]
fn disjoint_prefixes_are_accepted_without_warning() {
    let c = parse(&conf(r#""192.168.10.0/24""#, r#""172.24.0.0/16""#, "")).unwrap();
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
}

#[test]
fn a_covering_prefix_is_accepted_with_a_warning() {
    let c = parse(&conf(r#""172.16.0.0/12""#, r#""172.24.0.0/16""#, "")).unwrap();
    let w: Vec<String> = c.warnings.iter().map(|w| w.to_string()).collect();
    assert_eq!(
        w,
        vec![
            "vwand.toml:7:14: encryption guard: 172.16.0.0/12 contains 172.24.0.0/16, which is \
             advertised over ExpressRoute; traffic to 172.24.0.0/16 would cross the circuit \
             unencrypted (advertise prefixes more specific than, or disjoint from, the \
             ExpressRoute ones)"
                .to_string()
        ]
    );
}

#[test]
fn failover_sessions_may_repeat_expressroute_prefixes() {
    let c = parse(&conf(
        r#""172.24.0.0/16""#,
        r#""172.24.0.0/16""#,
        "failover = true\nprepend = 3",
    ))
    .unwrap();
    assert_eq!(c.warnings.len(), 2, "{:?}", c.warnings);
    assert!(c.warnings[0]
        .reason
        .starts_with("failover session: 172.24.0.0/16"));
    assert!(c.warnings[1]
        .reason
        .contains("failover = true contradicts mode = \"encrypt\""));
}

#[test]
fn more_than_azures_limit_is_refused_before_sending() {
    let many: Vec<String> = (0..4001u32)
        .map(|i| format!("\"10.{}.{}.0/24\"", 100 + i / 256, i % 256))
        .collect();
    let e = parse(&conf(&many.join(", "), "", "")).unwrap_err();
    assert!(
        e.ends_with(
            "advertise lists 4001 prefixes; Azure drops a BGP session above 4000 (summarise them)"
        ),
        "{e}"
    );
}

#[test]
fn session_checks() {
    let no_bgp = conf("", "", "").replace("[bgp]\nasn = 65010", "[daemon]");
    let no_bgp = no_bgp.replace("advertise = []\nexpressroute_prefixes = []", "");
    assert!(parse(&no_bgp)
        .unwrap_err()
        .contains("there is no [bgp] section"));
    let e = parse(&conf("", "", "").replace("asn = 65010", "asn = 65515")).unwrap_err();
    assert!(e.contains("65515 is Azure's own"), "{e}");
    let c = parse(&conf("", "", "").replace("import = [\"10.51.0.0/16\"]", "")).unwrap();
    assert!(c.warnings[0].reason.contains("RFC 8212"));
    let e = parse(&conf("", "", "md5_password = \"\"")).unwrap_err();
    assert!(e.contains("empty"), "{e}");
}

#[test]
fn the_shipped_example_is_valid_and_quiet() {
    let text = include_str!("../../dist/vwand.toml.example");
    let c = parse(text).unwrap();
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    assert_eq!(c.tunnels.len(), 2);
}
