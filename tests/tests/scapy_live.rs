//! Live cross-checks against scapy, an ESP implementation nobody here
//! wrote: packets vwand encrypts now are decrypted by scapy, and packets
//! scapy encrypts now (random IVs) are decrypted by vwand. The committed
//! vectors (esp/tests/fixtures) catch regressions without Python; this
//! catches a fixture that was regenerated wrongly.

use esp::{InboundSa, OutboundSa, SaParams, SecretBytes, Transform, MAX_HEADROOM, MAX_TAILROOM};
use netns::{run_with_timeout, workspace_root};
use serde_json::{json, Value};
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn vectors() -> Vec<Value> {
    let path = workspace_root().join("esp/tests/fixtures/scapy_vectors.json");
    let text = std::fs::read_to_string(&path).expect("scapy vectors");
    serde_json::from_str::<Value>(&text)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

fn params(v: &Value) -> SaParams {
    let t: Transform = v["alg"].as_str().unwrap().parse().unwrap();
    let key = hex::decode(v["key"].as_str().unwrap()).unwrap();
    let mut p = SaParams::new(v["spi"].as_u64().unwrap() as u32, t, SecretBytes::new(key));
    p.integ_key = v["auth_key"]
        .as_str()
        .map(|k| SecretBytes::new(hex::decode(k).unwrap()));
    p.esn = v["esn"].as_bool().unwrap();
    p
}

fn oracle(mode: &str, input: &Value) -> Vec<Value> {
    let script = workspace_root().join("tests/oracle/esp_oracle.py");
    let mut child = Command::new("python3")
        .arg(script)
        .arg(mode)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs (installed by .ci/run)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "esp_oracle.py {mode}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice::<Value>(&out.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

/// Sequence numbers away from the fixtures', to exercise fresh ESN values.
fn fresh_seq(v: &Value, i: usize) -> u64 {
    if v["esn"] == true {
        (0x7000_0000u64 + i as u64) << 32 | (0xFFFF_FF00 + i as u64)
    } else {
        0x4000_0000 + i as u64
    }
}

#[test]
fn scapy_decrypts_what_vwand_encrypts_now() {
    let vs = vectors();
    let mut requests = Vec::new();
    let mut inners = Vec::new();
    for (i, v) in vs.iter().enumerate() {
        let mut sa = OutboundSa::new(&params(v), Instant::now()).unwrap();
        let seq = fresh_seq(v, i);
        sa.set_last_seq(seq - 1);
        let inner = hex::decode(v["inner"].as_str().unwrap()).unwrap();
        let mut buf = vec![0u8; MAX_HEADROOM + inner.len() + MAX_TAILROOM];
        buf[MAX_HEADROOM..MAX_HEADROOM + inner.len()].copy_from_slice(&inner);
        let nh = v["next_header"].as_u64().unwrap() as u8;
        let r = sa
            .encapsulate(&mut buf, MAX_HEADROOM..MAX_HEADROOM + inner.len(), nh)
            .unwrap();
        let mut req = v.clone();
        req["seq"] = json!(seq);
        req["esp"] = json!(hex::encode(&buf[r]));
        requests.push(req);
        inners.push(v["inner"].clone());
    }
    let answers = oracle("decrypt", &Value::Array(requests));
    assert_eq!(answers.len(), vs.len());
    for ((a, inner), v) in answers.iter().zip(&inners).zip(&vs) {
        assert_eq!(a["ok"], true, "{}: {a}", v["name"]);
        assert_eq!(&a["inner"], inner, "{}", v["name"]);
        assert_eq!(a["pad_ok"], true, "{}: RFC 4303 padding", v["name"]);
    }
}

#[test]
fn vwand_decrypts_what_scapy_encrypts_now() {
    let vs = vectors();
    let requests: Vec<Value> = vs
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let mut r = v.clone();
            r["seq"] = json!(fresh_seq(v, i));
            r
        })
        .collect();
    let answers = oracle("encrypt", &Value::Array(requests.clone()));
    for (req, a) in requests.iter().zip(&answers) {
        let mut sa = InboundSa::new(&params(req), Instant::now()).unwrap();
        let seq = req["seq"].as_u64().unwrap();
        sa.set_replay_top(seq - 1);
        let mut esp = hex::decode(a["esp"].as_str().unwrap()).unwrap();
        let d = sa
            .decapsulate(&mut esp)
            .unwrap_or_else(|e| panic!("{}: {e}", req["name"]));
        assert_eq!(
            hex::encode(&esp[d.inner]),
            req["inner"].as_str().unwrap(),
            "{}",
            req["name"]
        );
        assert_eq!(d.seq, seq);
    }
}

#[test]
fn oracle_self_test_passes() {
    let mut cmd = Command::new("python3");
    cmd.arg(workspace_root().join("tests/oracle/selftest.py"));
    let out = run_with_timeout(&mut cmd, Duration::from_secs(300)).expect("selftest in time");
    assert!(
        out.status.success(),
        "{}",
        netns::process::describe_output(&out)
    );
}
