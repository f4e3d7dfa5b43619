//! prf+, SKEYSEED, the IKE SA keys, rekeying, Child SA KEYMAT and PSK AUTH
//! against vectors computed independently in Python
//! (fixtures/crypto/gen_vectors.py).

use esp::SecretBytes;
use ike::crypto::{
    prf_plus, psk_auth, rekey_skeyseed, signed_octets, skeyseed, verify_psk_auth, ChildKeys,
    CryptoError, IkeProposal, IkeSaKeys, IkeSuite, LegacyAlgorithms, Prf,
};
use serde_json::Value;

fn fixture(name: &str) -> Vec<Value> {
    let path = format!(
        "{}/tests/fixtures/crypto/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    match serde_json::from_str(&text).unwrap() {
        Value::Array(v) => v,
        _ => panic!("{path}: not an array"),
    }
}

fn hex(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().expect("hex string")).expect("valid hex")
}

fn secret(v: &Value) -> SecretBytes {
    SecretBytes::new(hex(v))
}

fn spi(v: &Value) -> u64 {
    u64::from_str_radix(v.as_str().unwrap(), 16).unwrap()
}

fn prf(name: &Value) -> Prf {
    match name.as_str().unwrap() {
        "prfsha1" => Prf::HmacSha1,
        "prfsha256" => Prf::HmacSha256,
        "prfsha384" => Prf::HmacSha384,
        "prfsha512" => Prf::HmacSha512,
        other => panic!("unknown PRF {other}"),
    }
}

/// The fixture names algorithms as strongSwan does, so the parser builds
/// the suite.
fn suite(s: &Value) -> IkeSuite {
    let mut words = vec![s["encr"].as_str().unwrap()];
    if let Some(i) = s["integ"].as_str() {
        words.push(i);
    }
    words.push(s["prf"].as_str().unwrap());
    words.push(s["dh"].as_str().unwrap());
    IkeProposal::parse(&words.join("-"), LegacyAlgorithms::Allow)
        .unwrap()
        .preferred()
}

fn assert_keys(keys: &IkeSaKeys, want: &Value, what: &str) {
    let got = [
        ("sk_d", keys.sk_d()),
        ("sk_ai", keys.sk_ai()),
        ("sk_ar", keys.sk_ar()),
        ("sk_ei", keys.sk_ei()),
        ("sk_er", keys.sk_er()),
        ("sk_pi", keys.sk_pi()),
        ("sk_pr", keys.sk_pr()),
    ];
    for (name, key) in got {
        assert_eq!(
            hex::encode(key.expose()),
            want[name].as_str().unwrap(),
            "{what}: {name}"
        );
    }
}

#[test]
fn prf_plus_matches_python() {
    let vectors = fixture("prf_plus.json");
    assert_eq!(vectors.len(), 16);
    for v in vectors {
        let len = v["len"].as_u64().unwrap() as usize;
        let out = prf_plus(prf(&v["prf"]), &hex(&v["key"]), &hex(&v["seed"]), len).unwrap();
        assert_eq!(out.expose(), hex(&v["out"]), "{} len {len}", v["prf"]);
        // One byte past 255 blocks is refused.
        if len > 255 {
            assert!(matches!(
                prf_plus(prf(&v["prf"]), b"k", b"s", len + 1),
                Err(CryptoError::PrfPlusTooLong { .. })
            ));
        }
    }
}

#[test]
fn ike_sa_keys_match_python() {
    let vectors = fixture("keys.json");
    assert_eq!(vectors.len(), 7);
    for v in vectors {
        let s = suite(&v["suite"]);
        let what = s.to_string();
        let (ni, nr, g_ir) = (hex(&v["ni"]), hex(&v["nr"]), secret(&v["g_ir"]));
        let seed = skeyseed(s.prf(), &ni, &nr, &g_ir);
        assert_eq!(seed.expose(), hex(&v["skeyseed"]), "{what}: SKEYSEED");

        let keys =
            IkeSaKeys::from_ike_sa_init(s, &g_ir, &ni, &nr, spi(&v["spi_i"]), spi(&v["spi_r"]))
                .unwrap();
        assert_keys(&keys, &v["keys"], &what);
        let again =
            IkeSaKeys::derive(s, &seed, &ni, &nr, spi(&v["spi_i"]), spi(&v["spi_r"])).unwrap();
        assert_eq!(again.sk_d(), keys.sk_d());

        // §2.18: the old PRF and SK_d make SKEYSEED, the new suite the keys.
        let r = &v["rekey"];
        let (rni, rnr, rg) = (hex(&r["ni"]), hex(&r["nr"]), secret(&r["g_ir"]));
        let rseed = rekey_skeyseed(s.prf(), keys.sk_d(), &rg, &rni, &rnr);
        assert_eq!(
            rseed.expose(),
            hex(&r["skeyseed"]),
            "{what}: rekeyed SKEYSEED"
        );
        let new_suite = suite(&r["suite"]);
        let rekeyed = keys
            .rekey(
                new_suite,
                &rg,
                &rni,
                &rnr,
                spi(&r["spi_i"]),
                spi(&r["spi_r"]),
            )
            .unwrap();
        assert_eq!(rekeyed.suite(), new_suite);
        assert_keys(
            &rekeyed,
            &r["keys"],
            &format!("{what} rekeyed to {new_suite}"),
        );

        // §2.17: KEYMAT, initiator's keys first, encryption before integrity.
        for c in v["children"].as_array().unwrap() {
            let t: esp::Transform = c["transform"].as_str().unwrap().parse().unwrap();
            let g = c["g_ir"].as_str().map(|_| secret(&c["g_ir"]));
            let k =
                ChildKeys::derive(&keys, t, g.as_ref(), &hex(&c["ni"]), &hex(&c["nr"])).unwrap();
            let what = format!("{what}: child {t} pfs={}", g.is_some());
            let i2r = &k.initiator_to_responder;
            let r2i = &k.responder_to_initiator;
            assert_eq!(i2r.encryption.expose(), hex(&c["enc_i"]), "{what}");
            assert_eq!(r2i.encryption.expose(), hex(&c["enc_r"]), "{what}");
            let integ =
                |k: &Option<SecretBytes>| k.as_ref().map_or(vec![], |k| k.expose().to_vec());
            assert_eq!(integ(&i2r.integrity), hex(&c["integ_i"]), "{what}");
            assert_eq!(integ(&r2i.integrity), hex(&c["integ_r"]), "{what}");
            assert_eq!(i2r.integrity.is_some(), t.integrity.is_some());
        }
    }
}

#[test]
fn psk_auth_matches_python() {
    let vectors = fixture("auth.json");
    assert_eq!(vectors.len(), 4);
    for v in vectors {
        let p = prf(&v["prf"]);
        let psk = secret(&v["psk"]);
        for side in ["initiator", "responder"] {
            let s = &v[side];
            let octets = signed_octets(
                p,
                &secret(&s["sk_p"]),
                &hex(&s["message"]),
                &hex(&s["peer_nonce"]),
                &hex(&s["id_body"]),
            );
            assert_eq!(octets, hex(&s["signed_octets"]), "{p} {side}");
            let auth = psk_auth(p, &psk, &octets);
            assert_eq!(auth, hex(&s["auth"]), "{p} {side}");
            assert_eq!(verify_psk_auth(p, &psk, &octets, &auth), Ok(()));

            let mut wrong = auth.clone();
            wrong[0] ^= 0x80;
            assert_eq!(
                verify_psk_auth(p, &psk, &octets, &wrong),
                Err(CryptoError::AuthenticationFailed)
            );
            let other_psk = SecretBytes::new(b"not the key".to_vec());
            assert_eq!(
                verify_psk_auth(p, &other_psk, &octets, &auth),
                Err(CryptoError::AuthenticationFailed)
            );
            assert_eq!(
                verify_psk_auth(p, &psk, &octets, &[]),
                Err(CryptoError::AuthenticationFailed)
            );
        }
    }
}

#[test]
fn signed_octets_from_ike_sa_keys_use_the_right_sk_p() {
    let v = &fixture("keys.json")[0];
    let s = suite(&v["suite"]);
    let keys = IkeSaKeys::from_ike_sa_init(s, &secret(&v["g_ir"]), b"ni", b"nr", 1, 2).unwrap();
    let id = b"\x02\0\0\0peer.example";
    assert_eq!(
        keys.initiator_signed_octets(b"m1", b"nr", id),
        signed_octets(s.prf(), keys.sk_pi(), b"m1", b"nr", id)
    );
    assert_eq!(
        keys.responder_signed_octets(b"m2", b"ni", id),
        signed_octets(s.prf(), keys.sk_pr(), b"m2", b"ni", id)
    );
    assert_ne!(
        keys.initiator_signed_octets(b"m", b"n", id),
        keys.responder_signed_octets(b"m", b"n", id)
    );
}
