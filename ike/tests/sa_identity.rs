//! Identities (RFC 7296 §3.5): KEY_ID (type 11) works like FQDN and IPv4,
//! and a peer that authenticates as another key ID is refused.

mod util;

use ike::sa::DownReason;
use ike::wire::{IdType, Identification};
use util::*;

fn key_id(data: &[u8]) -> Identification {
    Identification::new(IdType::KeyId, data.to_vec())
}

#[test]
fn key_id_identities_authenticate() {
    let suite = ("aes256gcm16-prfsha384-ecp384", "aes256gcm16");
    for (b_sends, ok) in [
        (key_id(&[0xa0, 0x01, 0xff]), true),
        (key_id(b"other"), false),
    ] {
        let mut net = net();
        let mut a_cfg = config(suite.0, suite.1, "shared secret", A);
        let mut b_cfg = config(suite.0, suite.1, "shared secret", B);
        a_cfg.local_id = key_id(b"onprem-edge");
        a_cfg.remote_id = Some(key_id(&[0xa0, 0x01, 0xff]));
        b_cfg.local_id = b_sends;
        b_cfg.remote_id = Some(key_id(b"onprem-edge"));
        let (a, b) = establish_with(a_cfg, b_cfg, &mut net);
        if ok {
            assert!(a.established() && b.established(), "{:?}", a.events);
            assert_esp_works(a.child().unwrap(), b.child().unwrap());
        } else {
            assert!(b.established(), "B accepted A's key ID");
            assert_eq!(a.down(), Some(&DownReason::AuthenticationFailed));
            assert!(a.child().is_none());
        }
    }
    // B expects a key ID; A presents an FQDN with the same octets.
    let mut net = net();
    let mut a_cfg = config(suite.0, suite.1, "shared secret", A);
    let mut b_cfg = config(suite.0, suite.1, "shared secret", B);
    a_cfg.local_id = Identification::fqdn("onprem-edge");
    b_cfg.remote_id = Some(key_id(b"onprem-edge"));
    let (a, b) = establish_with(a_cfg, b_cfg, &mut net);
    assert!(!a.established() && !b.established(), "ID type matters");
}
