//! The `[tunnel.ike]` section: fragmentation size and identities.

use std::path::Path;

const IKE: &str = r#"
[tun]
name = "vwand0"
addresses = ["10.10.0.1/32"]

[[tunnel]]
name = "hub0"
local = "192.0.2.1"
peer = "192.0.2.2"
transport = "raw"
routes = ["10.20.0.0/16"]

[tunnel.ike]
psk = "secret-of-sixteen-chars"
"#;

fn settings(extra: &str) -> Result<config::IkeSettings, String> {
    let text = format!("{IKE}{extra}\n");
    let c = config::parse(Path::new("vwand.toml"), &text).map_err(|e| e.to_string())?;
    let t = c.tunnels[0].get_ref();
    t.ike_settings().ok_or_else(|| "no IKE settings".into())
}

#[test]
fn fragment_size_defaults_to_1280_and_is_checked() {
    assert_eq!(settings("").unwrap().config.fragment_size, Some(1280));
    assert_eq!(
        settings("fragment_size = 300")
            .unwrap()
            .config
            .fragment_size,
        Some(300)
    );
    assert_eq!(
        settings("fragment_size = 0").unwrap().config.fragment_size,
        None
    );
    let e = settings("fragment_size = 100").err().unwrap();
    assert_eq!(
        e,
        "vwand.toml:15:17: fragment_size 100 is outside 256..=65535 (0: off)"
    );
}

#[test]
fn key_id_identities_as_strongswan_writes_them() {
    use ike::wire::{IdType, Identification};
    let s = settings("local_id = \"keyid:onprem-edge\"\nremote_id = \"keyid:#0a:0b0c\"").unwrap();
    assert_eq!(
        s.config.local_id,
        Identification::new(IdType::KeyId, b"onprem-edge".to_vec())
    );
    assert_eq!(
        s.config.remote_id,
        Some(Identification::new(IdType::KeyId, vec![0x0a, 0x0b, 0x0c]))
    );
    let s = settings("local_id = \"@hub.example\"\nremote_id = \"10.0.0.1\"").unwrap();
    assert_eq!(s.config.local_id, Identification::fqdn("hub.example"));
    assert_eq!(
        s.config.remote_id,
        Some(Identification::ip("10.0.0.1".parse().unwrap()))
    );
    assert_eq!(
        settings("remote_id = \"keyid:#abc\"").err().unwrap(),
        "vwand.toml:15:13: \"keyid:#abc\": bad hex after keyid:#"
    );
    assert_eq!(
        settings("local_id = \"keyid:\"").err().unwrap(),
        "vwand.toml:15:12: \"keyid:\": empty key ID"
    );
}
