//! The negotiated algorithms of one IKE SA.

use super::algorithms::{DhGroup, Encr, Integ, Prf};
use super::error::CryptoError;
use std::fmt;

/// One negotiated IKE SA suite: the transforms the SA's keys are made for.
/// An AEAD cipher has no integrity algorithm, a CBC cipher always has one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IkeSuite {
    encr: Encr,
    integ: Option<Integ>,
    prf: Prf,
    dh: DhGroup,
}

impl IkeSuite {
    pub fn new(
        encr: Encr,
        integ: Option<Integ>,
        prf: Prf,
        dh: DhGroup,
    ) -> Result<Self, CryptoError> {
        if encr.is_aead() == integ.is_some() {
            return Err(CryptoError::TransformMismatch);
        }
        Ok(Self {
            encr,
            integ,
            prf,
            dh,
        })
    }

    pub fn encr(&self) -> Encr {
        self.encr
    }

    pub fn integ(&self) -> Option<Integ> {
        self.integ
    }

    pub fn prf(&self) -> Prf {
        self.prf
    }

    pub fn dh(&self) -> DhGroup {
        self.dh
    }

    /// Bytes of SK_ai and SK_ar: zero with an AEAD (RFC 5282 §7).
    pub fn integ_key_len(&self) -> usize {
        self.integ.map_or(0, Integ::key_len)
    }
}

impl fmt::Display for IkeSuite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.encr)?;
        if let Some(i) = self.integ {
            write!(f, "-{i}")?;
        }
        write!(f, "-{}-{}", self.prf, self.dh)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::algorithms::AesKeySize;

    #[test]
    fn suite_needs_integrity_exactly_for_cbc() {
        let cbc = Encr::AesCbc(AesKeySize::Aes256);
        let gcm = Encr::AesGcm16(AesKeySize::Aes256);
        let sha = Some(Integ::HmacSha256_128);
        let (p, g) = (Prf::HmacSha256, DhGroup::Ecp256);
        assert!(IkeSuite::new(cbc, sha, p, g).is_ok());
        assert!(IkeSuite::new(gcm, None, p, g).is_ok());
        assert_eq!(
            IkeSuite::new(cbc, None, p, g),
            Err(CryptoError::TransformMismatch)
        );
        assert_eq!(
            IkeSuite::new(gcm, sha, p, g),
            Err(CryptoError::TransformMismatch)
        );
        let s = IkeSuite::new(gcm, None, Prf::HmacSha384, DhGroup::Ecp384).unwrap();
        assert_eq!(s.to_string(), "aes256gcm16-prfsha384-ecp384");
    }
}
