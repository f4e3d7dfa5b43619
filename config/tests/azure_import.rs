//! `vwand import-azure`: every shape of Azure's "Download VPN Config" file
//! (`tests/fixtures/azure/`, copies of `shared/fixtures/azure/`) becomes
//! exactly the expected configuration; its placeholders are refused by
//! `check` until filled in, and then the file is accepted. Regenerate the
//! expected files with `VWAND_REGEN_AZURE=1`.

use config::azure::{import, Selection, PLACEHOLDER};
use std::path::{Path, PathBuf};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/azure")
        .join(name)
}

fn read(name: &str) -> String {
    std::fs::read_to_string(fixture(name)).unwrap()
}

fn sel(site: Option<&str>) -> Selection {
    Selection {
        site: site.map(String::from),
        connection: None,
    }
}

/// Imports `json` and compares with `expected` (a file under fixtures).
fn golden(json: &str, site: Option<&str>, expected: &str) -> String {
    let out = import(json, &read(json), &sel(site)).unwrap();
    let path = fixture(expected);
    if std::env::var_os("VWAND_REGEN_AZURE").is_some() {
        std::fs::write(&path, out.as_bytes()).unwrap();
    }
    assert_eq!(
        out.as_str(),
        std::fs::read_to_string(&path).unwrap(),
        "{expected} differs (VWAND_REGEN_AZURE=1 rewrites it)"
    );
    out.to_string()
}

fn check(text: &str) -> Result<config::Config, config::ConfigError> {
    config::parse(Path::new("imported.toml"), text)
}

#[test]
fn bgp_over_expressroute_both_instances() {
    let out = golden("vpnconfig-er-bgp.json", None, "er-bgp.toml");
    // The tunnel to Instance0 carries the session to Instance0's BGP
    // address, and the same for Instance1.
    let t0 = out.find("peer = \"10.51.230.4\"").unwrap();
    let b0 = out.find("peer = \"10.51.230.12\"").unwrap();
    let t1 = out.find("peer = \"10.51.230.5\"").unwrap();
    let b1 = out.find("peer = \"10.51.230.13\"").unwrap();
    assert!(t0 < b0 && b0 < t1 && t1 < b1);
    // check refuses the placeholders, with the line, until filled in.
    let e = check(&out).unwrap_err().to_string();
    assert!(e.starts_with("imported.toml:23:"), "{e}");
    assert!(
        e.contains(PLACEHOLDER) && e.contains("on-premises prefixes"),
        "{e}"
    );
    let filled = out
        .replace(
            "\"FILL-IN: on-premises prefixes to advertise over the VPN\"",
            "\"172.24.0.0/17\", \"172.24.128.0/17\"",
        )
        .replace(
            "\"FILL-IN: prefixes advertised over ExpressRoute\"",
            "\"172.24.0.0/16\"",
        );
    let c = check(&filled).unwrap();
    assert_eq!(c.tunnels.len(), 2);
    let t = c.tunnel_config(1).unwrap();
    assert_eq!(t.peer.to_string(), "10.51.230.5");
    assert_eq!(t.ike.child_rekey_bytes, Some(94_371_840_000));
}

#[test]
fn comma_separated_sites_missing_fields_and_stray_spaces() {
    let json = "vpnconfig-two-sites-nobgp.json";
    let e = import(json, &read(json), &sel(None))
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "the file holds 2 sites: \"branch-north\", \"branch-south\"; choose one with --site NAME"
    );
    // " branch-south" is written with a leading space; either spelling
    // finds it.
    let south = golden(json, Some("branch-south"), "south.toml");
    assert!(south.contains("routes = [\"10.61.0.0/16\"]"), "{south}");
    assert!(check(&south).is_ok(), "{:?}", check(&south).err());
    // No ConnectedSubnets, and the hub space holds the gateway: nothing
    // to route but a placeholder.
    let north = golden(json, Some(" branch-north "), "north.toml");
    let e = check(&north).unwrap_err().to_string();
    assert!(
        e.contains("the Azure prefixes to route into the tunnel"),
        "{e}"
    );
    let e = import(json, &read(json), &sel(Some("branch-east")))
        .unwrap_err()
        .to_string();
    assert!(e.contains("no site \"branch-east\""), "{e}");
}

#[test]
fn one_object_and_a_one_element_array_read_alike() {
    let text = read("vpnconfig-er-bgp.json");
    let object = text.trim().trim_start_matches('[').trim_end_matches(']');
    let a = import("x.json", &text, &sel(None)).unwrap();
    let b = import("x.json", object, &sel(None)).unwrap();
    assert_eq!(a.as_str(), b.as_str());
}

#[test]
fn broken_files_are_refused_with_their_place() {
    let text = read("vpnconfig-er-bgp.json");
    let cut = &text[..text.len() / 2];
    let e = import("cut.json", cut, &sel(None)).unwrap_err().to_string();
    assert!(e.starts_with("cut.json:"), "{e}");
    assert!(
        e.contains("ends too early") || e.contains("not JSON"),
        "{e}"
    );
    let e = import("other.json", "{\"hello\": 1}", &sel(None))
        .unwrap_err()
        .to_string();
    assert!(e.contains("not an Azure VPN configuration"), "{e}");
    assert!(e.contains("vpnSiteConfiguration"), "{e}");
    let bad_ip = text.replace("10.51.230.4", "10.51.230.999");
    let e = import("ip.json", &bad_ip, &sel(None))
        .unwrap_err()
        .to_string();
    assert!(e.contains("ip.json:"), "{e}");
}

/// Found by the `azure_import` fuzz target: a DEL (0x7f) in the file's
/// Version string went into a header comment, which TOML forbids. Every
/// control character in a name that reaches a comment becomes `?`.
#[test]
fn control_characters_in_names_never_reach_comments() {
    let text = read("vpnconfig-er-bgp.json")
        .replacen("\"Version\": \"", "\"Version\": \"a\u{7f}b\u{85}c\\n", 1)
        .replacen("\"LinkName\": \"", "\"LinkName\": \"x\\r\u{7f}", 1);
    let out = import("fuzz\u{7f}.json", &text, &sel(None)).expect("imports");
    toml::from_str::<toml::Value>(&out).expect("valid TOML");
    for line in out.lines().filter(|l| l.starts_with('#')) {
        assert!(!line.chars().any(char::is_control), "{line:?}");
    }
    assert!(out.contains("a?b?c?"), "{}", out.as_str());
}

/// Found by the fuzzer in CI: a data size whose 90% in bytes passes
/// i64::MAX was written as is, and TOML cannot hold it. Both figures are
/// now capped at TOML's largest integer.
#[test]
fn huge_sa_limits_stay_valid_toml() {
    let text = read("vpnconfig-er-bgp.json")
        .replacen(
            "\"SADataSizeInKilobytes\": 102400000",
            "\"SADataSizeInKilobytes\": 18446744073709551615",
            1,
        )
        .replacen(
            "\"SALifeTimeInSeconds\": 3600",
            "\"SALifeTimeInSeconds\": 18446744073709551615",
            1,
        );
    let out = import("huge.json", &text, &sel(None)).expect("imports");
    toml::from_str::<toml::Value>(&out).expect("valid TOML");
    let max = i64::MAX.to_string();
    assert!(
        out.contains(&format!("child_rekey_bytes = {max}")),
        "{}",
        out.as_str()
    );
    assert!(
        out.contains(&format!("child_rekey_seconds = {max}")),
        "{}",
        out.as_str()
    );
}
