//! Known-answer tests: ESP packets that scapy (an independent
//! implementation) encrypted, committed in `fixtures/scapy_vectors.json`
//! by `tests/oracle/esp_oracle.py gen`. vwand must decrypt every one to the
//! exact inner packet, and must produce the exact bytes of
//! `fixtures/vwand_vectors.json`, which scapy verified when it was made.

use esp::{InboundSa, OutboundSa, SaParams, SecretBytes, Transform, MAX_HEADROOM, MAX_TAILROOM};
use serde_json::Value;
use std::time::Instant;

fn load(name: &str) -> Vec<Value> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str::<Value>(&text)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

fn hex_field(v: &Value, k: &str) -> Vec<u8> {
    hex::decode(v[k].as_str().unwrap()).unwrap()
}

fn params(v: &Value) -> SaParams {
    let t: Transform = v["alg"].as_str().unwrap().parse().unwrap();
    let mut p = SaParams::new(
        v["spi"].as_u64().unwrap() as u32,
        t,
        SecretBytes::new(hex_field(v, "key")),
    );
    p.integ_key = v["auth_key"]
        .as_str()
        .map(|k| SecretBytes::new(hex::decode(k).unwrap()));
    p.esn = v["esn"].as_bool().unwrap();
    p
}

#[test]
fn decrypts_every_scapy_vector() {
    let vectors = load("scapy_vectors.json");
    assert!(vectors.len() >= 40, "fixture too small: {}", vectors.len());
    for v in &vectors {
        let name = v["name"].as_str().unwrap();
        let seq = v["seq"].as_u64().unwrap();
        let mut sa = InboundSa::new(&params(v), Instant::now()).unwrap();
        sa.set_replay_top(seq - 1);
        let mut esp = hex_field(v, "esp");
        let d = sa
            .decapsulate(&mut esp)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(esp[d.inner.clone()], hex_field(v, "inner")[..], "{name}");
        assert_eq!(
            u64::from(d.next_header),
            v["next_header"].as_u64().unwrap(),
            "{name}"
        );
        assert_eq!(d.seq, seq, "{name}");
    }
}

#[test]
fn scapy_vectors_fail_with_a_wrong_esn_guess() {
    for v in load("scapy_vectors.json")
        .iter()
        .filter(|v| v["esn"] == true)
    {
        let seq = v["seq"].as_u64().unwrap();
        if seq >> 32 == 0 {
            continue;
        }
        let mut sa = InboundSa::new(&params(v), Instant::now()).unwrap();
        let mut esp = hex_field(v, "esp");
        let r = sa.decapsulate(&mut esp);
        // Guessed high bits 0 with low bits 0 is sequence number zero.
        let expected = if seq as u32 == 0 {
            esp::DropReason::Replay(esp::ReplayError::Zero)
        } else {
            esp::DropReason::IcvFailure
        };
        assert_eq!(r, Err(expected), "{}", v["name"]);
    }
}

/// Encapsulates each vector's inner packet as vwand would.
pub fn vwand_encapsulate(v: &Value) -> Vec<u8> {
    let mut sa = OutboundSa::new(&params(v), Instant::now()).unwrap();
    sa.set_last_seq(v["seq"].as_u64().unwrap() - 1);
    let inner = hex_field(v, "inner");
    let mut buf = vec![0xa5; MAX_HEADROOM + inner.len() + MAX_TAILROOM];
    buf[MAX_HEADROOM..MAX_HEADROOM + inner.len()].copy_from_slice(&inner);
    let nh = v["next_header"].as_u64().unwrap() as u8;
    let r = sa
        .encapsulate(&mut buf, MAX_HEADROOM..MAX_HEADROOM + inner.len(), nh)
        .unwrap();
    buf[r].to_vec()
}

#[test]
fn encrypts_to_the_scapy_verified_bytes() {
    let path = format!(
        "{}/tests/fixtures/vwand_vectors.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let scapy = load("scapy_vectors.json");
    if std::env::var_os("VWAND_REGEN_VECTORS").is_some() {
        let out: Vec<Value> = scapy
            .iter()
            .map(|v| {
                let mut o = v.clone();
                o["esp"] = Value::String(hex::encode(vwand_encapsulate(v)));
                o
            })
            .collect();
        std::fs::write(&path, serde_json::to_string_pretty(&out).unwrap()).unwrap();
    }
    let ours = load("vwand_vectors.json");
    assert_eq!(ours.len(), scapy.len());
    for v in &ours {
        assert_eq!(
            hex::encode(vwand_encapsulate(v)),
            v["esp"].as_str().unwrap(),
            "{}",
            v["name"]
        );
    }
}
