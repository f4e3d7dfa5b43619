//! Raw ESP (IP protocol 50, as over ExpressRoute) against an
//! implementation nobody here wrote, live on the wire: scapy in its own
//! namespace is the peer (`tests/oracle/esp_peer.py`), keyed by hand like
//! vwand. It sends ICMP echo requests and UDP datagrams to a closed port,
//! each encrypted by scapy, to vwand's protocol-50 socket; vwand decrypts
//! them into its TUN, the kernel answers (echo replies, port unreachables),
//! vwand encrypts the answers, and scapy decrypts them (verifying the ICV).
//! AES-GCM, ChaCha20-Poly1305 and AES-CBC + HMAC-SHA2, with and without
//! ESN.

use netns::vwand::{start_manual_a, Keys, TunnelSpec, A_INNER, A_OUTER, B_INNER, B_OUTER};
use netns::{poll_until, scratch_dir, veth_pair, workspace_root, Netns};
use serde_json::Value;
use std::time::Duration;

const COUNT: u32 = 20;

fn run(transform: &'static str, esn: bool) -> Value {
    let scratch = scratch_dir();
    let edge = Netns::new("onprem");
    let peer = Netns::new("scapy");
    veth_pair(
        &edge,
        "ul0",
        &format!("{A_OUTER}/24"),
        &peer,
        "ul0",
        &format!("{B_OUTER}/24"),
    );
    // Every UDP datagram gets its port unreachable.
    edge.sysctl("net.ipv4.icmp_ratelimit", "0");
    let spec = TunnelSpec::new("raw", transform, esn);
    let (vwand, ab, ba): (_, Keys, Keys) = start_manual_a(&scratch, edge, &spec);
    let script = workspace_root().join("tests/oracle/esp_peer.py");
    let hex = |k: &Keys| k.auth_key.clone().unwrap_or_else(|| "-".into());
    let count = COUNT.to_string();
    let (out_spi, in_spi) = (format!("{:#x}", ba.spi), format!("{:#x}", ab.spi));
    let (out_auth, in_auth) = (hex(&ba), hex(&ab));
    let mut args = vec![
        script.to_str().unwrap_or_default(),
        "--dst",
        A_OUTER,
        "--inner-src",
        B_INNER,
        "--inner-dst",
        A_INNER,
        "--alg",
        transform,
        "--out-spi",
        &out_spi,
        "--out-key",
        &ba.key,
        "--out-auth",
        &out_auth,
        "--in-spi",
        &in_spi,
        "--in-key",
        &ab.key,
        "--in-auth",
        &in_auth,
        "--count",
        &count,
    ];
    if esn {
        args.push("--esn");
    }
    let out = peer.exec(&std::iter::once("python3").chain(args).collect::<Vec<_>>());
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let v: Value = serde_json::from_str(text.lines().last().unwrap_or("")).unwrap_or_else(|e| {
        panic!(
            "{e}: {text}\n{}\nvwand:\n{}",
            String::from_utf8_lossy(&out.stderr),
            vwand.daemon.log()
        )
    });
    // The data plane's counters reach status within a publish interval.
    let want = u64::from(2 * COUNT);
    let _ = poll_until(Duration::from_secs(5), || {
        let s = vwand.status();
        let t = &s["tunnels"]["hub0"];
        (t["inbound"]["packets"].as_u64() >= Some(want)
            && t["outbound"]["packets"].as_u64() >= Some(want))
        .then_some(())
    });
    let s = vwand.status();
    let t = &s["tunnels"]["hub0"];
    eprintln!(
        "{transform} esn={esn}: {v}; vwand ESP in {} out {}",
        t["inbound"]["packets"], t["outbound"]["packets"]
    );
    assert_eq!(v["bad"], 0, "scapy could not decrypt vwand's ESP: {v}");
    assert_eq!(v["echo_replies"], COUNT, "{v}\n{}", vwand.daemon.log());
    assert_eq!(v["unreachable"], COUNT, "{v}");
    assert_eq!(t["inbound"]["icv_failure"], 0, "{s:#}");
    assert!(t["inbound"]["packets"].as_u64() >= Some(want), "{s:#}");
    assert!(t["outbound"]["packets"].as_u64() >= Some(want), "{s:#}");
    v
}

#[test]
fn aes_gcm_both_ways_with_and_without_esn() {
    netns::require_netns_env();
    run("aes256gcm16", false);
    run("aes128gcm16", true);
}

#[test]
fn chacha20_poly1305_both_ways_with_and_without_esn() {
    netns::require_netns_env();
    run("chacha20poly1305", false);
    run("chacha20poly1305", true);
}

#[test]
fn aes_cbc_hmac_sha2_both_ways_with_and_without_esn() {
    netns::require_netns_env();
    run("aes256-sha256", false);
    run("aes256-sha512", true);
}
