//! Both ends of an IKE_SA_INIT + IKE_AUTH + CREATE_CHILD_SA keying, in
//! memory, from seeded RNGs: the two sides agree, and a rerun with the same
//! seeds reproduces every byte.

use super::*;
use esp::SecretBytes;

/// What one run produces on the wire and in the key store.
#[derive(Debug, PartialEq)]
struct Transcript {
    ke_i: Vec<u8>,
    ke_r: Vec<u8>,
    auth_i: Vec<u8>,
    sk_request: Vec<u8>,
    child: ChildKeys,
    rekeyed_sk_d: SecretBytes,
}

fn run(seed_i: u64, seed_r: u64) -> Transcript {
    let suite = IkeProposal::parse("aes256gcm16-prfsha384-ecp384", LegacyAlgorithms::Refuse)
        .unwrap()
        .preferred();
    let mut rng_i = InsecureTestRng::from_seed(seed_i);
    let mut rng_r = InsecureTestRng::from_seed(seed_r);
    let (mut ni, mut nr) = (vec![0; 32], vec![0; 32]);
    rng_i.fill(&mut ni).unwrap();
    rng_r.fill(&mut nr).unwrap();

    // IKE_SA_INIT: KE payloads and SKEYSEED on each side.
    let dh_i = DhKeyPair::generate(suite.dh(), &mut rng_i).unwrap();
    let dh_r = DhKeyPair::generate(suite.dh(), &mut rng_r).unwrap();
    let g_i = dh_i.shared_secret(dh_r.public_value()).unwrap();
    let g_r = dh_r.shared_secret(dh_i.public_value()).unwrap();
    let (spi_i, spi_r) = (0x1111, 0x2222);
    let keys_i = IkeSaKeys::from_ike_sa_init(suite, &g_i, &ni, &nr, spi_i, spi_r).unwrap();
    let keys_r = IkeSaKeys::from_ike_sa_init(suite, &g_r, &ni, &nr, spi_i, spi_r).unwrap();

    // IKE_AUTH request: AUTH from a PSK, sealed in SK.
    let psk = SecretBytes::new(b"correct horse".to_vec());
    let idi = b"\x02\0\0\0alice.example";
    let init_request = b"the IKE_SA_INIT request as sent";
    let octets_i = keys_i.initiator_signed_octets(init_request, &nr, idi);
    let auth_i = psk_auth(suite.prf(), &psk, &octets_i);
    let octets_r = keys_r.initiator_signed_octets(init_request, &nr, idi);
    verify_psk_auth(suite.prf(), &psk, &octets_r, &auth_i).unwrap();

    let seal = keys_i.initiator_cipher().unwrap();
    let open = keys_r.initiator_cipher().unwrap();
    let inner = [idi.as_slice(), &auth_i].concat();
    let prefix = vec![0xa5; 32]; // header and SK header: opaque here
    let sk_request = seal.seal(&prefix, &inner, &mut rng_i).unwrap();
    assert_eq!(sk_request.len(), seal.sealed_len(inner.len()));
    assert_eq!(open.open(&prefix, &sk_request).unwrap(), inner);

    // The first Child SA, and a rekey of the IKE SA.
    let t = esp::Transform::AES256GCM16;
    let child = ChildKeys::derive(&keys_i, t, None, &ni, &nr).unwrap();
    assert_eq!(
        child,
        ChildKeys::derive(&keys_r, t, None, &ni, &nr).unwrap()
    );
    let dh2_i = DhKeyPair::generate(DhGroup::Curve25519, &mut rng_i).unwrap();
    let dh2_r = DhKeyPair::generate(DhGroup::Curve25519, &mut rng_r).unwrap();
    let g2 = dh2_i.shared_secret(dh2_r.public_value()).unwrap();
    let new_suite = IkeProposal::parse("aes128-sha256-x25519", LegacyAlgorithms::Refuse)
        .unwrap()
        .preferred();
    let rekeyed = keys_i.rekey(new_suite, &g2, &nr, &ni, 3, 4).unwrap();
    let g2_r = dh2_r.shared_secret(dh2_i.public_value()).unwrap();
    let rekeyed_r = keys_r.rekey(new_suite, &g2_r, &nr, &ni, 3, 4).unwrap();
    assert_eq!(rekeyed.sk_d(), rekeyed_r.sk_d());
    assert_ne!(rekeyed.sk_d(), keys_i.sk_d());

    Transcript {
        ke_i: dh_i.public_value().to_vec(),
        ke_r: dh_r.public_value().to_vec(),
        auth_i,
        sk_request,
        child,
        rekeyed_sk_d: rekeyed.sk_d().clone(),
    }
}

#[test]
fn same_seeds_replay_byte_for_byte() {
    assert_eq!(run(1, 2), run(1, 2));
}

#[test]
fn different_seeds_differ() {
    let (a, b) = (run(1, 2), run(1, 3));
    assert_eq!(a.ke_i, b.ke_i);
    assert_ne!(a.ke_r, b.ke_r);
    assert_ne!(a.sk_request, b.sk_request);
    assert_ne!(a.child, b.child);
}
