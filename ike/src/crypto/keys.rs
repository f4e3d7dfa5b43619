//! Key derivation: SKEYSEED and the IKE SA's seven keys (RFC 7296 §2.14),
//! the rekeyed SKEYSEED (§2.18), and Child SA keying material (§2.17).

use super::algorithms::Prf;
use super::error::CryptoError;
use super::prf::{prf_plus_parts, split_keys};
use super::sk::SkCipher;
use super::suite::IkeSuite;
use esp::SecretBytes;

// RFC 7296 §2.14:
//
//    SKEYSEED = prf(Ni | Nr, g^ir)
//
// "Ni and Nr are the nonces, stripped of any headers." g^ir is the shared
// Diffie-Hellman secret, as `DhKeyPair::shared_secret` returns it.

/// SKEYSEED for a new IKE SA (IKE_SA_INIT).
pub fn skeyseed(prf: Prf, ni: &[u8], nr: &[u8], g_ir: &SecretBytes) -> SecretBytes {
    let mut key = Vec::with_capacity(ni.len() + nr.len());
    key.extend_from_slice(ni);
    key.extend_from_slice(nr);
    SecretBytes::new(prf.tag(&key, &[g_ir.expose()]).as_ref().to_vec())
}

// RFC 7296 §2.18:
//
//    SKEYSEED = prf(SK_d (old), g^ir (new) | Ni | Nr)
//
// "Because the rekeying exchange belongs to the old IKE SA, it is the old
// IKE SA's PRF that is used to generate SKEYSEED." The new SA's keys then
// come from its own PRF and SPIs, as in §2.14.

/// SKEYSEED for an IKE SA rekeyed by CREATE_CHILD_SA, with the old SA's PRF.
pub fn rekey_skeyseed(
    old_prf: Prf,
    old_sk_d: &SecretBytes,
    g_ir: &SecretBytes,
    ni: &[u8],
    nr: &[u8],
) -> SecretBytes {
    let tag = old_prf.tag(old_sk_d.expose(), &[g_ir.expose(), ni, nr]);
    SecretBytes::new(tag.as_ref().to_vec())
}

/// The keys of one IKE SA.
///
/// `Debug` prints only the key lengths.
#[derive(Debug, Clone)]
pub struct IkeSaKeys {
    suite: IkeSuite,
    sk_d: SecretBytes,
    sk_ai: SecretBytes,
    sk_ar: SecretBytes,
    sk_ei: SecretBytes,
    sk_er: SecretBytes,
    sk_pi: SecretBytes,
    sk_pr: SecretBytes,
}

// RFC 7296 §2.14:
//
//    {SK_d | SK_ai | SK_ar | SK_ei | SK_er | SK_pi | SK_pr}
//                    = prf+ (SKEYSEED, Ni | Nr | SPIi | SPIr)
//
// SK_d, SK_pi and SK_pr are as long as the PRF's preferred key (its output,
// RFC 4868 §2.1); SK_a* the integrity key (empty with an AEAD, RFC 5282
// §7); SK_e* the cipher key plus any AEAD salt.

impl IkeSaKeys {
    /// The seven keys from SKEYSEED, for the SA with these nonces and SPIs.
    pub fn derive(
        suite: IkeSuite,
        skeyseed: &SecretBytes,
        ni: &[u8],
        nr: &[u8],
        spi_i: u64,
        spi_r: u64,
    ) -> Result<Self, CryptoError> {
        let prf_len = suite.prf().output_len();
        let a = suite.integ_key_len();
        let e = suite.encr().key_len();
        let lens = [prf_len, a, a, e, e, prf_len, prf_len];
        let total = lens.iter().sum();
        let (spi_i, spi_r) = (spi_i.to_be_bytes(), spi_r.to_be_bytes());
        let material = prf_plus_parts(
            suite.prf(),
            skeyseed.expose(),
            &[ni, nr, &spi_i, &spi_r],
            total,
        )?;
        let [sk_d, sk_ai, sk_ar, sk_ei, sk_er, sk_pi, sk_pr] = split_keys(&material, lens);
        Ok(Self {
            suite,
            sk_d,
            sk_ai,
            sk_ar,
            sk_ei,
            sk_er,
            sk_pi,
            sk_pr,
        })
    }

    /// SKEYSEED and the keys of a new IKE SA after IKE_SA_INIT.
    pub fn from_ike_sa_init(
        suite: IkeSuite,
        g_ir: &SecretBytes,
        ni: &[u8],
        nr: &[u8],
        spi_i: u64,
        spi_r: u64,
    ) -> Result<Self, CryptoError> {
        let seed = skeyseed(suite.prf(), ni, nr, g_ir);
        Self::derive(suite, &seed, ni, nr, spi_i, spi_r)
    }

    /// The keys of the IKE SA that replaces this one (§2.18): SKEYSEED from
    /// this SA's PRF and SK_d, the rest from `new_suite` and the new SPIs.
    pub fn rekey(
        &self,
        new_suite: IkeSuite,
        g_ir: &SecretBytes,
        ni: &[u8],
        nr: &[u8],
        new_spi_i: u64,
        new_spi_r: u64,
    ) -> Result<Self, CryptoError> {
        let seed = rekey_skeyseed(self.suite.prf(), &self.sk_d, g_ir, ni, nr);
        Self::derive(new_suite, &seed, ni, nr, new_spi_i, new_spi_r)
    }

    pub fn suite(&self) -> IkeSuite {
        self.suite
    }

    /// SK_d, from which Child SA keys and rekeyed IKE SAs are derived.
    pub fn sk_d(&self) -> &SecretBytes {
        &self.sk_d
    }

    pub fn sk_ai(&self) -> &SecretBytes {
        &self.sk_ai
    }

    pub fn sk_ar(&self) -> &SecretBytes {
        &self.sk_ar
    }

    pub fn sk_ei(&self) -> &SecretBytes {
        &self.sk_ei
    }

    pub fn sk_er(&self) -> &SecretBytes {
        &self.sk_er
    }

    pub fn sk_pi(&self) -> &SecretBytes {
        &self.sk_pi
    }

    pub fn sk_pr(&self) -> &SecretBytes {
        &self.sk_pr
    }

    /// The SK cipher of messages the original initiator sends (SK_ei, SK_ai).
    pub fn initiator_cipher(&self) -> Result<SkCipher, CryptoError> {
        SkCipher::new(
            self.suite.encr(),
            self.suite.integ(),
            &self.sk_ei,
            &self.sk_ai,
        )
    }

    /// The SK cipher of messages the original responder sends (SK_er, SK_ar).
    pub fn responder_cipher(&self) -> Result<SkCipher, CryptoError> {
        SkCipher::new(
            self.suite.encr(),
            self.suite.integ(),
            &self.sk_er,
            &self.sk_ar,
        )
    }
}

/// The keys of one ESP SA: encryption (with its salt for AEADs), then
/// integrity for CBC transforms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EspKeys {
    pub encryption: SecretBytes,
    pub integrity: Option<SecretBytes>,
}

/// The keys of a Child SA pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildKeys {
    /// For the SA carrying data from the initiator to the responder.
    pub initiator_to_responder: EspKeys,
    /// For the SA carrying data from the responder to the initiator.
    pub responder_to_initiator: EspKeys,
}

// RFC 7296 §2.17:
//
//    KEYMAT = prf+(SK_d, Ni | Nr)
//    KEYMAT = prf+(SK_d, g^ir (new) | Ni | Nr)     (with a KE exchange)
//
// "All keys for SAs carrying data from the initiator to the responder are
// taken before SAs going from the responder to the initiator. ... For each
// SA, ... encryption keys are taken before integrity keys." Ni and Nr are
// those of the exchange that creates the Child SA (the IKE_SA_INIT nonces
// for the first one).

impl ChildKeys {
    /// KEYMAT for `transform` from the IKE SA's PRF and SK_d. `g_ir` is the
    /// CREATE_CHILD_SA exchange's shared secret when it did PFS.
    pub fn derive(
        ike: &IkeSaKeys,
        transform: esp::Transform,
        g_ir: Option<&SecretBytes>,
        ni: &[u8],
        nr: &[u8],
    ) -> Result<Self, CryptoError> {
        Self::derive_with(ike.suite.prf(), &ike.sk_d, transform, g_ir, ni, nr)
    }

    /// As [`ChildKeys::derive`], from an explicit PRF and SK_d.
    pub fn derive_with(
        prf: Prf,
        sk_d: &SecretBytes,
        transform: esp::Transform,
        g_ir: Option<&SecretBytes>,
        ni: &[u8],
        nr: &[u8],
    ) -> Result<Self, CryptoError> {
        let e = transform.encryption.key_len();
        let a = transform.integrity.map_or(0, |i| i.key_len());
        let g: &[u8] = g_ir.map_or(&[], |g| g.expose());
        let keymat = prf_plus_parts(prf, sk_d.expose(), &[g, ni, nr], 2 * (e + a))?;
        let [ei, ai, er, ar] = split_keys(&keymat, [e, a, e, a]);
        let integ = |k: SecretBytes| transform.integrity.map(|_| k);
        Ok(Self {
            initiator_to_responder: EspKeys {
                encryption: ei,
                integrity: integ(ai),
            },
            responder_to_initiator: EspKeys {
                encryption: er,
                integrity: integ(ar),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::algorithms::{AesKeySize, DhGroup, Encr, Integ};
    use crate::crypto::prf::prf_plus;

    fn suite_cbc() -> IkeSuite {
        IkeSuite::new(
            Encr::AesCbc(AesKeySize::Aes256),
            Some(Integ::HmacSha384_192),
            Prf::HmacSha384,
            DhGroup::Ecp384,
        )
        .unwrap()
    }

    #[test]
    fn seven_keys_are_consecutive_slices_of_prf_plus() {
        let g = SecretBytes::new(vec![7; 48]);
        let keys = IkeSaKeys::from_ike_sa_init(suite_cbc(), &g, b"ni", b"nr", 1, 2).unwrap();
        let seed = skeyseed(Prf::HmacSha384, b"ni", b"nr", &g);
        let mut s = b"ninr".to_vec();
        s.extend_from_slice(&1u64.to_be_bytes());
        s.extend_from_slice(&2u64.to_be_bytes());
        let all = prf_plus(Prf::HmacSha384, seed.expose(), &s, 48 * 3 + 48 * 2 + 32 * 2).unwrap();
        let joined: Vec<u8> = [
            keys.sk_d(),
            keys.sk_ai(),
            keys.sk_ar(),
            keys.sk_ei(),
            keys.sk_er(),
            keys.sk_pi(),
            keys.sk_pr(),
        ]
        .iter()
        .flat_map(|k| k.expose().to_vec())
        .collect();
        assert_eq!(joined, all.expose());
        assert_eq!(keys.sk_ai().len(), 48);
        assert_eq!(keys.sk_ei().len(), 32);
        assert!(!format!("{keys:?}").contains("07"));
    }

    #[test]
    fn aead_has_empty_integrity_keys_and_salted_encryption_keys() {
        let suite = IkeSuite::new(
            Encr::AesGcm16(AesKeySize::Aes128),
            None,
            Prf::HmacSha256,
            DhGroup::Curve25519,
        )
        .unwrap();
        let g = SecretBytes::new(vec![1; 32]);
        let keys = IkeSaKeys::from_ike_sa_init(suite, &g, b"a", b"b", 3, 4).unwrap();
        assert!(keys.sk_ai().is_empty() && keys.sk_ar().is_empty());
        assert_eq!(keys.sk_ei().len(), 20);
        assert_eq!(keys.sk_pr().len(), 32);
        assert!(keys.initiator_cipher().is_ok());
    }

    #[test]
    fn child_keys_order_and_pfs() {
        let sk_d = SecretBytes::new(vec![9; 32]);
        let t: esp::Transform = "aes128-sha256".parse().unwrap();
        let k = ChildKeys::derive_with(Prf::HmacSha256, &sk_d, t, None, b"n1", b"n2").unwrap();
        let m = prf_plus(Prf::HmacSha256, sk_d.expose(), b"n1n2", 96).unwrap();
        let m = m.expose();
        assert_eq!(k.initiator_to_responder.encryption.expose(), &m[..16]);
        let ia = k.initiator_to_responder.integrity.as_ref().unwrap();
        assert_eq!(ia.expose(), &m[16..48]);
        assert_eq!(k.responder_to_initiator.encryption.expose(), &m[48..64]);
        let ra = k.responder_to_initiator.integrity.as_ref().unwrap();
        assert_eq!(ra.expose(), &m[64..96]);

        let g = SecretBytes::new(b"gir".to_vec());
        let pfs =
            ChildKeys::derive_with(Prf::HmacSha256, &sk_d, t, Some(&g), b"n1", b"n2").unwrap();
        let m = prf_plus(Prf::HmacSha256, sk_d.expose(), b"girn1n2", 96).unwrap();
        assert_eq!(
            pfs.initiator_to_responder.encryption.expose(),
            &m.expose()[..16]
        );

        let gcm = ChildKeys::derive_with(
            Prf::HmacSha256,
            &sk_d,
            esp::Transform::AES256GCM16,
            None,
            b"n1",
            b"n2",
        )
        .unwrap();
        assert_eq!(gcm.initiator_to_responder.encryption.len(), 36);
        assert!(gcm.responder_to_initiator.integrity.is_none());
    }
}
