//! The configuration parser: what it accepts, and the exact message for
//! what it refuses.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

const GOOD: &str = r#"
[tun]
name = "vwand0"
mtu = 1400
addresses = ["10.10.0.1/32"]

[[tunnel]]
name = "hub0"
local = "192.0.2.1"
peer = "192.0.2.2"
transport = "raw"
routes = ["10.20.0.0/16"]

[tunnel.manual]
transform = "aes256gcm16"
esn = true
outbound = { spi = 0x1001, key = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20212223" }
inbound  = { spi = 0x2001, key = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20212224" }
"#;

fn refuse(text: &str) -> String {
    match config::parse(Path::new("vwand.toml"), text) {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn accepts_a_manual_tunnel() {
    let c = config::parse(Path::new("vwand.toml"), GOOD).unwrap();
    let t = c.tunnels[0].get_ref();
    assert_eq!(t.transport, config::Transport::Raw);
    assert_eq!(t.udp_port, 4500);
    let m = t.manual.as_ref().unwrap();
    let p = m.outbound_params(t);
    assert_eq!(p.spi, 0x1001);
    assert!(p.esn);
    assert_eq!(p.replay_window, 1024);
    assert!(c.has_secrets());
}

#[test]
fn exact_messages_with_line_numbers() {
    assert_eq!(
        refuse(&GOOD.replace("transport = \"raw\"", "transport = \"tcp\"")),
        "vwand.toml:11:13: unknown variant `tcp`, expected `raw` or `udp`"
    );
    assert_eq!(
        refuse(&GOOD.replace("aes256gcm16", "aes999")),
        "vwand.toml:15:13: unknown ESP transform \"aes999\"; expected one of: aes128gcm16, \
         aes256gcm16, chacha20poly1305, aes128-sha256, aes256-sha256, aes128-sha512, aes256-sha512, aes128-sha1, aes256-sha1"
    );
    assert_eq!(
        refuse(&GOOD.replace("spi = 0x2001", "spi = 7")),
        "vwand.toml:18:20: inbound SPI 0x7 is reserved (RFC 4303 §2.1); use 0x100 or above"
    );
    assert_eq!(
        refuse(&GOOD.replace("1f20212224", "1f202122")),
        "vwand.toml:18:34: inbound SA of tunnel \"hub0\": encryption key must be 36 bytes \
         (72 hex digits), got 35 bytes"
    );
    assert_eq!(
        refuse(&GOOD.replace("mtu = 1400", "mtu = 1400\nmtuu = 3")),
        "vwand.toml:5:1: unknown field `mtuu`, expected one of `name`, `mtu`, `addresses`, `mss_clamp`, `underlay_mtu`, `offload`, `queues`"
    );
    assert_eq!(
        refuse(&GOOD.replace("mtu = 1400", "mtu = 1400\nqueues = 0")),
        "vwand.toml: [tun] queues 0 is outside 1..=64"
    );
    assert_eq!(
        refuse(&GOOD.replace("\"10.20.0.0/16\"", "\"10.20.0.0/33\"")),
        "vwand.toml:12:11: invalid IP address syntax"
    );
}

#[test]
fn secrets_never_appear_in_errors() {
    let bad = GOOD.replace("1f20212224", "1f2021222z");
    let msg = refuse(&bad);
    assert!(
        msg.contains("key is not valid hex: not a hex digit at character 71"),
        "{msg}"
    );
    assert!(!msg.contains("0102030405"), "{msg}");
}

#[test]
fn cbc_needs_an_integrity_key() {
    let cbc = GOOD
        .replace("aes256gcm16", "aes256-sha256")
        .replace("1f20212223", "1f")
        .replace("1f20212224", "1e");
    let msg = refuse(&cbc);
    assert!(
        msg.contains("this transform needs an integrity key (auth_key)"),
        "{msg}"
    );
}

#[test]
fn duplicate_inbound_spi_is_refused() {
    let second = GOOD
        .split("[[tunnel]]")
        .nth(1)
        .unwrap()
        .replace("hub0", "hub1")
        .replace("peer = \"192.0.2.2\"", "peer = \"192.0.2.3\"");
    let two = format!("{GOOD}\n[[tunnel]]{second}");
    let msg = refuse(&two);
    assert!(
        msg.contains("inbound SPI 0x2001 is already used by tunnel \"hub0\""),
        "{msg}"
    );
}

#[test]
fn file_modes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vwand.toml");
    std::fs::File::create(&path)
        .unwrap()
        .write_all(GOOD.as_bytes())
        .unwrap();
    let set = |m| std::fs::set_permissions(&path, std::fs::Permissions::from_mode(m)).unwrap();
    set(0o600);
    assert!(config::load(&path).is_ok());
    set(0o644);
    let e = config::load(&path).unwrap_err().to_string();
    assert!(
        e.ends_with("the file holds keys, so it must be mode 0600, not 0644"),
        "{e}"
    );
    set(0o666);
    let e = config::load(&path).unwrap_err().to_string();
    assert!(
        e.contains("refusing a file writable by group or others (mode 0666)"),
        "{e}"
    );
}
