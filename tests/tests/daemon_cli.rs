//! The daemon's handling of bad configuration: `vwand check` and `vwand
//! run` refuse it with file, line and reason; SIGHUP with a bad file keeps
//! the running tunnels.

use netns::vwand::{TunnelSpec, VwandPair, B_INNER};
use netns::{scratch_dir, wait_ping, workspace_bin};
use std::os::unix::fs::PermissionsExt;
use std::process::Command;
use std::time::Duration;

fn vwand(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(workspace_bin("vwand"))
        .args(args)
        .output()
        .expect("run vwand");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const BAD: &str = "[tun]\nname = \"vw0\"\n\n[[tunnel]]\nname = \"t\"\nlocal = \"192.0.2.1\"\npeer = \"192.0.2.2\"\n\
transport = \"raw\"\nroutes = [\"10.0.0.0/8\"]\n\n[tunnel.manual]\ntransform = \"aes256gcm16\"\n\
outbound = { spi = 0x1001, key = \"0011\" }\ninbound = { spi = 0x2001, key = \"0011\" }\n";

#[test]
fn check_and_run_refuse_a_bad_file_with_line_and_reason() {
    let dir = scratch_dir();
    let path = dir.join("bad.toml");
    std::fs::write(&path, BAD).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let p = path.to_str().unwrap();
    let expected = format!(
        "{p}:13:34: outbound SA of tunnel \"t\": encryption key must be 36 bytes (72 hex digits), got 2 bytes"
    );
    let (ok, _, err) = vwand(&["-c", p, "check"]);
    assert!(!ok);
    assert_eq!(err.trim(), expected);
    let (ok, _, err) = vwand(&["-c", p, "run"]);
    assert!(!ok, "run must refuse");
    assert!(err.contains(&expected), "{err}");
    assert!(!err.contains("0011"), "no key material in messages: {err}");
}

#[test]
fn check_accepts_a_good_file() {
    let pair = VwandPair::start(TunnelSpec::new("udp", "aes256gcm16", false));
    let (ok, out, err) = vwand(&["-c", pair.a.config.to_str().unwrap(), "check"]);
    assert!(ok, "{err}");
    assert!(out.ends_with(": OK (1 tunnel(s))\n"), "{out}");
}

#[test]
fn sighup_with_a_bad_file_keeps_the_tunnel() {
    let mut pair = VwandPair::start(TunnelSpec::new("raw", "aes256gcm16", true));
    wait_ping(&pair.a.ns, B_INNER, Duration::from_secs(10));
    std::fs::write(&pair.a.config, "[tun]\nmtu = \"big\"\n").unwrap();
    pair.a.daemon.signal(libc::SIGHUP);
    pair.a.daemon.wait_for_log(
        "reload refused; keeping the running configuration",
        Duration::from_secs(5),
    );
    assert!(
        pair.a
            .daemon
            .log()
            .contains(":2:7: invalid type: string \"big\", expected u32"),
        "{}",
        pair.a.daemon.log()
    );
    pair.a.daemon.assert_running();
    wait_ping(&pair.a.ns, B_INNER, Duration::from_secs(5));
}

#[test]
fn sigterm_exits_cleanly() {
    let mut pair = VwandPair::start(TunnelSpec::new("udp", "aes256gcm16", false));
    let status = pair.a.daemon.terminate_and_wait(Duration::from_secs(5));
    assert!(
        status.is_some_and(|s| s.success()),
        "exit status {status:?}"
    );
    assert!(pair.a.daemon.log().contains("final counters"));
    assert!(!pair.a.status_socket.exists(), "status socket removed");
}

#[test]
fn status_and_reload_say_when_vwand_is_not_running() {
    let dir = scratch_dir();
    let sock = dir.join("nobody-here.sock");
    let (ok, _, err) = vwand(&["status", "--socket", sock.to_str().unwrap()]);
    assert!(!ok);
    assert!(
        err.starts_with(&format!(
            "vwand is not running (no status socket at {}",
            sock.display()
        )),
        "{err}"
    );
}

#[test]
fn import_azure_writes_a_0600_file_that_check_refuses_until_filled_in() {
    let dir = scratch_dir();
    let out = dir.join("imported.toml");
    let json = netns::workspace_root().join("config/tests/fixtures/azure/vpnconfig-er-bgp.json");
    let (ok, _, err) = vwand(&[
        "import-azure",
        json.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    assert!(err.contains("fill in the lines marked FILL-IN"), "{err}");
    let mode = std::fs::metadata(&out).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let (ok, _, err) = vwand(&["-c", out.to_str().unwrap(), "check"]);
    assert!(!ok);
    assert!(
        err.contains(":23:") && err.contains("replace this placeholder"),
        "{err}"
    );
    // Several sites and no --site: the error lists them.
    let two =
        netns::workspace_root().join("config/tests/fixtures/azure/vpnconfig-two-sites-nobgp.json");
    let (ok, _, err) = vwand(&["import-azure", two.to_str().unwrap()]);
    assert!(!ok);
    assert!(err.contains("\"branch-north\", \"branch-south\""), "{err}");
}
