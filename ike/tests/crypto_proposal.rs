//! strongSwan proposal syntax for IKE and ESP.

use ike::crypto::proposal::{ProposalErrorKind, Protocol, Unsupported};
use ike::crypto::{
    AesKeySize, DhGroup, Encr, Esn, EspProposal, IkeProposal, Integ, LegacyAlgorithms, Prf,
};

const AES128: AesKeySize = AesKeySize::Aes128;
const AES256: AesKeySize = AesKeySize::Aes256;

fn ike(s: &str) -> IkeProposal {
    IkeProposal::parse(s, LegacyAlgorithms::Refuse).unwrap_or_else(|e| panic!("{e}"))
}

fn esp(s: &str) -> EspProposal {
    EspProposal::parse(s, LegacyAlgorithms::Refuse).unwrap_or_else(|e| panic!("{e}"))
}

fn ike_err(s: &str) -> ProposalErrorKind {
    let e = IkeProposal::parse(s, LegacyAlgorithms::Refuse).unwrap_err();
    assert_eq!(e.protocol, Protocol::Ike);
    e.kind
}

fn esp_err(s: &str) -> ProposalErrorKind {
    let e = EspProposal::parse(s, LegacyAlgorithms::Refuse).unwrap_err();
    assert_eq!(e.protocol, Protocol::Esp);
    e.kind
}

#[test]
fn ike_aead() {
    let p = ike("aes256gcm16-prfsha384-ecp384");
    assert_eq!(p.encr(), &[Encr::AesGcm16(AES256)]);
    assert!(p.integ().is_empty());
    assert_eq!(p.prf(), &[Prf::HmacSha384]);
    assert_eq!(p.dh(), &[DhGroup::Ecp384]);
    let s = p.preferred();
    assert_eq!(s.integ(), None);
    assert_eq!(s.to_string(), "aes256gcm16-prfsha384-ecp384");
    assert_eq!(p.to_string(), "aes256gcm16-prfsha384-ecp384");

    let p = ike("chacha20poly1305-prfsha256-x25519");
    assert_eq!(p.encr(), &[Encr::ChaCha20Poly1305]);
    assert_eq!(p.dh(), &[DhGroup::Curve25519]);
    assert_eq!(
        ike("AES128GCM128-PRFSHA256-ECP256").encr(),
        &[Encr::AesGcm16(AES128)]
    );
}

#[test]
fn ike_cbc_implies_prf_from_integrity() {
    let p = ike("aes256-sha256-modp2048");
    assert_eq!(p.encr(), &[Encr::AesCbc(AES256)]);
    assert_eq!(p.integ(), &[Integ::HmacSha256_128]);
    assert_eq!(p.prf(), &[Prf::HmacSha256]);
    assert_eq!(p.dh(), &[DhGroup::Modp2048]);

    assert_eq!(ike("aes128-sha256-x25519").dh(), &[DhGroup::Curve25519]);
    assert_eq!(ike("aes256-sha384-ecp384").prf(), &[Prf::HmacSha384]);
    assert_eq!(ike("aes256-sha512-ecp256").prf(), &[Prf::HmacSha512]);
    // An explicit PRF wins over the implied one.
    assert_eq!(
        ike("aes256-sha512-prfsha256-ecp256").prf(),
        &[Prf::HmacSha256]
    );
    // Several of a kind are alternatives, in order, without duplicates.
    let p = ike("aes256-aes128-sha384-sha256-sha384-ecp256-modp2048");
    assert_eq!(p.encr(), &[Encr::AesCbc(AES256), Encr::AesCbc(AES128)]);
    assert_eq!(p.prf(), &[Prf::HmacSha384, Prf::HmacSha256]);
    assert_eq!(p.dh(), &[DhGroup::Ecp256, DhGroup::Modp2048]);
    assert_eq!(p.preferred().to_string(), "aes256-sha384-prfsha384-ecp256");
}

#[test]
fn ike_errors_name_the_problem() {
    assert_eq!(ike_err("aes256gcm16-ecp384"), ProposalErrorKind::NoPrf);
    assert_eq!(ike_err("aes256-ecp384"), ProposalErrorKind::NoIntegrity);
    assert_eq!(ike_err("aes256-sha256"), ProposalErrorKind::NoDhGroup);
    assert_eq!(
        ike_err("sha256-prfsha256-ecp256"),
        ProposalErrorKind::NoEncryption
    );
    assert_eq!(ike_err(""), ProposalErrorKind::Empty);
    assert_eq!(ike_err("aes256--sha256-ecp256"), ProposalErrorKind::Empty);
    assert_eq!(
        ike_err("aes256gcm16-sha256-prfsha256-ecp256"),
        ProposalErrorKind::AeadWithIntegrity("sha256".into())
    );
    assert_eq!(
        ike_err("aes256gcm16-aes256-sha256-ecp256"),
        ProposalErrorKind::MixedAead
    );
    assert_eq!(
        ike_err("aes256-sha256-modp2048-esn"),
        ProposalErrorKind::WrongProtocol("esn".into())
    );
    assert_eq!(
        ike_err("aes256-sha256-bogus42"),
        ProposalErrorKind::UnknownToken("bogus42".into())
    );
    assert_eq!(
        ike_err("3des-sha256-modp2048"),
        ProposalErrorKind::Unsupported {
            token: "3des".into(),
            reason: Unsupported::Weak
        }
    );
    assert_eq!(
        ike_err("aes256-md5-modp2048"),
        ProposalErrorKind::Unsupported {
            token: "md5".into(),
            reason: Unsupported::Weak
        }
    );
    assert_eq!(
        ike_err("aes256gcm12-prfsha256-ecp256"),
        ProposalErrorKind::Unsupported {
            token: "aes256gcm12".into(),
            reason: Unsupported::NotImplemented
        }
    );

    let e = IkeProposal::parse("aes256-sha1-modp2048", LegacyAlgorithms::Refuse).unwrap_err();
    let text = e.to_string();
    assert!(text.contains("\"sha1\""), "{text}");
    assert!(text.contains("aes256-sha1-modp2048"), "{text}");
    let e = IkeProposal::parse("aes256-shaa256-modp2048", LegacyAlgorithms::Refuse).unwrap_err();
    assert!(
        e.to_string().contains("unknown algorithm \"shaa256\""),
        "{e}"
    );
}

#[test]
fn modp1024_needs_allow_legacy() {
    let kind = ike_err("aes128-sha256-modp1024");
    assert_eq!(kind, ProposalErrorKind::Legacy("modp1024".into()));
    let e = IkeProposal::parse("aes128-sha256-modp1024", LegacyAlgorithms::Refuse).unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("modp1024") && text.contains("80 bits"),
        "{text}"
    );
    assert!(text.contains("legacy"), "{text}");

    let p = IkeProposal::parse("aes128-sha256-modp1024", LegacyAlgorithms::Allow).unwrap();
    assert_eq!(p.dh(), &[DhGroup::Modp1024]);
    assert_eq!(
        esp_err("aes256-sha256-modp1024"),
        ProposalErrorKind::Legacy("modp1024".into())
    );
    let p = EspProposal::parse("aes256-sha256-modp1024", LegacyAlgorithms::Allow).unwrap();
    assert_eq!(p.dh(), &[DhGroup::Modp1024]);
}

#[test]
fn sha1_and_group_24_need_allow_legacy() {
    // Azure's custom policy offers SHA1 and DHGroup24; RFC 8247 deprecates both.
    for (text, token) in [
        ("aes256-sha1-modp2048", "sha1"),
        ("aes256-sha-modp2048", "sha"),
        ("aes256gcm16-prfsha1-ecp256", "prfsha1"),
        ("aes256-sha256-modp2048s256", "modp2048s256"),
    ] {
        assert_eq!(
            ike_err(text),
            ProposalErrorKind::Legacy(token.into()),
            "{text}"
        );
    }
    let e = IkeProposal::parse("aes256-sha1-modp2048s256", LegacyAlgorithms::Refuse).unwrap_err();
    assert!(
        e.to_string().contains("SHA-1") && e.to_string().contains("allow_legacy"),
        "{e}"
    );
    let e = EspProposal::parse("aes256-sha256-modp2048s256", LegacyAlgorithms::Refuse).unwrap_err();
    assert!(e.to_string().contains("group 24"), "{e}");

    let p = IkeProposal::parse("aes256-sha1-modp2048s256", LegacyAlgorithms::Allow).unwrap();
    assert_eq!(p.integ(), &[Integ::HmacSha1_96]);
    assert_eq!(
        p.prf(),
        &[Prf::HmacSha1],
        "sha1 implies prfsha1, as in strongSwan"
    );
    assert_eq!(p.dh(), &[DhGroup::Modp2048s256]);
    assert_eq!(p.legacy(), ["sha1", "prfsha1", "modp2048s256"]);
    assert_eq!(p.to_string(), "aes256-sha1-prfsha1-modp2048s256");
    let p = EspProposal::parse("aes256-sha1-modp2048s256", LegacyAlgorithms::Allow).unwrap();
    assert_eq!(p.integ(), &[esp::Integrity::HmacSha1_96]);
    assert_eq!(p.legacy(), ["sha1", "modp2048s256"]);
    assert_eq!(p.to_string(), "aes256-sha1-modp2048s256");
    assert!(ike("aes256gcm16-prfsha256-ecp256").legacy().is_empty());
    // sha1_160 and md5 stay refused whatever allow_legacy says.
    for weak in ["aes256-sha1_160-modp2048", "aes256-md5-modp2048"] {
        assert!(
            IkeProposal::parse(weak, LegacyAlgorithms::Allow).is_err(),
            "{weak}"
        );
    }
}

#[test]
fn esp_proposals() {
    let p = esp("aes256gcm16");
    assert_eq!(p.transforms(), vec![esp::Transform::AES256GCM16]);
    assert!(p.dh().is_empty());
    assert_eq!(p.esn(), &[Esn::NoEsn]);
    assert_eq!(p.to_string(), "aes256gcm16");

    let p = esp("aes256gcm16-ecp384");
    assert_eq!(p.dh(), &[DhGroup::Ecp384]);

    let p = esp("aes256-sha256");
    assert_eq!(p.transforms(), vec!["aes256-sha256".parse().unwrap()]);

    let p = esp("aes256-sha512-modp2048");
    assert_eq!(p.transforms(), vec!["aes256-sha512".parse().unwrap()]);
    assert_eq!(p.dh(), &[DhGroup::Modp2048]);

    let p = esp("chacha20poly1305");
    assert_eq!(
        p.transforms(),
        vec![esp::Transform::aead(esp::Encryption::ChaCha20Poly1305)]
    );

    assert_eq!(esp("aes256gcm16-esn").esn(), &[Esn::Esn]);
    assert_eq!(esp("aes256gcm16-noesn").esn(), &[Esn::NoEsn]);
    let p = esp("aes128-aes256-sha256-sha512-x25519-esn-noesn");
    assert_eq!(p.esn(), &[Esn::Esn, Esn::NoEsn]);
    assert_eq!(p.transforms().len(), 4);
    assert_eq!(p.transforms()[0], "aes128-sha256".parse().unwrap());
    assert_eq!(p.transforms()[1], "aes128-sha512".parse().unwrap());
    assert_eq!(
        p.to_string(),
        "aes128-aes256-sha256-sha512-curve25519-esn-noesn"
    );
}

#[test]
fn esp_errors() {
    assert_eq!(
        esp_err("aes256gcm16-prfsha256"),
        ProposalErrorKind::WrongProtocol("prfsha256".into())
    );
    assert_eq!(
        esp_err("aes256-sha384"),
        ProposalErrorKind::Unsupported {
            token: "sha384".into(),
            reason: Unsupported::NotInEsp
        }
    );
    assert_eq!(esp_err("aes256"), ProposalErrorKind::NoIntegrity);
    assert_eq!(
        esp_err("aes256gcm16-sha256"),
        ProposalErrorKind::AeadWithIntegrity("sha256".into())
    );
    let e = EspProposal::parse("aes256-sha384", LegacyAlgorithms::Refuse).unwrap_err();
    assert!(e.to_string().starts_with("invalid ESP proposal"), "{e}");
}
