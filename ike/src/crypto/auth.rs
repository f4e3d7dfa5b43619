//! The AUTH payload's data for shared-key authentication (RFC 7296 §2.15).
//!
//! The caller hands in message bytes exactly as sent or received: the
//! IKE_SA_INIT message, the peer's nonce and the body of its own ID payload.

use super::algorithms::Prf;
use super::ct_eq;
use super::error::CryptoError;
use super::keys::IkeSaKeys;
use esp::SecretBytes;

/// The pad a shared secret is hashed with (RFC 7296 §2.15). It is 17 ASCII
/// characters with no terminating NUL.
pub const KEY_PAD: &[u8] = b"Key Pad for IKEv2";

// RFC 7296 §2.15:
//
//    InitiatorSignedOctets = RealMessage1 | NonceRData | MACedIDForI
//    GenIDPayloadI = ID payload header for the initiator
//    RestOfInitIDPayload = IDType | RESERVED | InitIDData
//    MACedIDForI = prf(SK_pi, RestOfInitIDPayload)
//
//    ResponderSignedOctets = RealMessage2 | NonceIData | MACedIDForR
//    MACedIDForR = prf(SK_pr, RestOfRespIDPayload)
//
// RealMessage1/2 are the IKE_SA_INIT request/response as sent, from the
// IKE header on (without any non-ESP marker); NonceRData/NonceIData are
// the peer's nonce without its payload header.

/// `message | peer_nonce | prf(sk_p, id_body)`, where `id_body` is the ID
/// payload after its 4-byte generic header (ID Type, 3 reserved bytes, ID
/// data). The initiator's octets use IKE_SA_INIT request, Nr and SK_pi; the
/// responder's the response, Ni and SK_pr.
pub fn signed_octets(
    prf: Prf,
    sk_p: &SecretBytes,
    message: &[u8],
    peer_nonce: &[u8],
    id_body: &[u8],
) -> Vec<u8> {
    let maced_id = prf.tag(sk_p.expose(), &[id_body]);
    let mut out = Vec::with_capacity(message.len() + peer_nonce.len() + prf.output_len());
    out.extend_from_slice(message);
    out.extend_from_slice(peer_nonce);
    out.extend_from_slice(maced_id.as_ref());
    out
}

impl IkeSaKeys {
    /// InitiatorSignedOctets: the IKE_SA_INIT request, Nr, and IDi's body.
    pub fn initiator_signed_octets(
        &self,
        ike_sa_init_request: &[u8],
        nr: &[u8],
        idi_body: &[u8],
    ) -> Vec<u8> {
        signed_octets(
            self.suite().prf(),
            self.sk_pi(),
            ike_sa_init_request,
            nr,
            idi_body,
        )
    }

    /// ResponderSignedOctets: the IKE_SA_INIT response, Ni, and IDr's body.
    pub fn responder_signed_octets(
        &self,
        ike_sa_init_response: &[u8],
        ni: &[u8],
        idr_body: &[u8],
    ) -> Vec<u8> {
        signed_octets(
            self.suite().prf(),
            self.sk_pr(),
            ike_sa_init_response,
            ni,
            idr_body,
        )
    }
}

// RFC 7296 §2.15:
//
//    AUTH = prf( prf(Shared Secret, "Key Pad for IKEv2"), <{Initiator,
//                Responder}SignedOctets>)

/// The AUTH payload's Authentication Data for method 2 (Shared Key Message
/// Integrity Code).
pub fn psk_auth(prf: Prf, psk: &SecretBytes, signed_octets: &[u8]) -> Vec<u8> {
    let padded = prf.compute(psk.expose(), KEY_PAD);
    prf.tag(padded.expose(), &[signed_octets]).as_ref().to_vec()
}

/// Checks a received AUTH value in constant time.
pub fn verify_psk_auth(
    prf: Prf,
    psk: &SecretBytes,
    signed_octets: &[u8],
    received: &[u8],
) -> Result<(), CryptoError> {
    let expected = psk_auth(prf, psk, signed_octets);
    if ct_eq(&expected, received) {
        Ok(())
    } else {
        Err(CryptoError::AuthenticationFailed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_is_nested_prf() {
        let psk = SecretBytes::new(b"secret".to_vec());
        let octets = b"octets";
        let inner = Prf::HmacSha256.compute(b"secret", b"Key Pad for IKEv2");
        let outer = Prf::HmacSha256.compute(inner.expose(), octets);
        let auth = psk_auth(Prf::HmacSha256, &psk, octets);
        assert_eq!(auth, outer.expose());
        assert_eq!(
            verify_psk_auth(Prf::HmacSha256, &psk, octets, &auth),
            Ok(())
        );
        let mut bad = auth.clone();
        bad[31] ^= 1;
        assert_eq!(
            verify_psk_auth(Prf::HmacSha256, &psk, octets, &bad),
            Err(CryptoError::AuthenticationFailed)
        );
        assert_eq!(
            verify_psk_auth(Prf::HmacSha256, &psk, octets, &auth[..16]),
            Err(CryptoError::AuthenticationFailed)
        );
    }

    #[test]
    fn signed_octets_layout() {
        let sk_p = SecretBytes::new(vec![3; 48]);
        let o = signed_octets(Prf::HmacSha384, &sk_p, b"MSG", b"NONCE", b"\x01\0\0\0id");
        assert_eq!(&o[..8], b"MSGNONCE");
        assert_eq!(
            &o[8..],
            Prf::HmacSha384.compute(&[3; 48], b"\x01\0\0\0id").expose()
        );
    }
}
