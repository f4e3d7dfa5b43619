//! Payload types, the generic payload header (RFC 7296 §3.2) and the Next
//! Payload chain that links payloads together.

use super::codec::{patch_u16_length, read_inclusive, u16_placeholder, Codec, Reader};
use super::cp::Configuration;
use super::encrypted::{Encrypted, EncryptedFragment};
use super::error::{EncodeError, WireError};
use super::id::{Auth, Cert, CertReq, Identification};
use super::notify::{Delete, Notify};
use super::sa::Sa;
use super::simple::{Eap, KeyExchange, Nonce, VendorId};
use super::ts::TrafficSelectors;

wire_enum! {
    /// Payload Type, as found in Next Payload fields (RFC 7296 §3.2).
    ///
    /// Only the types this module parses are named, so a named type is
    /// exactly one that [`Payload`] has a variant for. Everything else,
    /// including the IKEv1 types 1–32, is `Unknown` and ends up in
    /// [`Payload::Unknown`] (or in [`WireError::UnsupportedCriticalPayload`]
    /// if its critical bit is set).
    ///
    /// IANA "IKEv2 Payload Types":
    /// <https://www.iana.org/assignments/ikev2-parameters/ikev2-parameters.xhtml#ikev2-parameters-2>
    pub enum PayloadType(u8) {
        /// No Next Payload: ends a chain.
        NoNextPayload = 0,
        /// Security Association (SA).
        Sa = 33,
        /// Key Exchange (KE).
        Ke = 34,
        /// Identification - Initiator (IDi).
        IdI = 35,
        /// Identification - Responder (IDr).
        IdR = 36,
        /// Certificate (CERT).
        Cert = 37,
        /// Certificate Request (CERTREQ).
        CertReq = 38,
        /// Authentication (AUTH).
        Auth = 39,
        /// Nonce (Ni, Nr).
        Nonce = 40,
        /// Notify (N).
        Notify = 41,
        /// Delete (D).
        Delete = 42,
        /// Vendor ID (V).
        VendorId = 43,
        /// Traffic Selector - Initiator (TSi).
        TsI = 44,
        /// Traffic Selector - Responder (TSr).
        TsR = 45,
        /// Encrypted and Authenticated (SK).
        Encrypted = 46,
        /// Configuration (CP).
        Config = 47,
        /// Extensible Authentication (EAP).
        Eap = 48,
        /// Encrypted and Authenticated Fragment (SKF, RFC 7383).
        EncryptedFragment = 53,
    }
}

/// The critical bit of the generic payload header.
const CRITICAL: u8 = 0x80;
/// Size of the generic payload header.
const GENERIC_HEADER_LEN: usize = 4;

/// One payload of a message or of a decrypted SK payload.
///
/// Every payload starts with the generic payload header (RFC 7296 §3.2):
///
/// ```text
///                      1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// | Next Payload  |C|  RESERVED   |         Payload Length        |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
///
/// The variants hold the body after that header. Next Payload and Payload
/// Length are computed when encoding. For the types RFC 7296 defines, the
/// critical bit is ignored on receipt and sent as zero, as §3.2 requires;
/// only [`UnknownPayload`] remembers it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Payload {
    /// Security Association (§3.3).
    Sa(Sa),
    /// Key Exchange (§3.4).
    Ke(KeyExchange),
    /// Identification - Initiator (§3.5).
    IdI(Identification),
    /// Identification - Responder (§3.5).
    IdR(Identification),
    /// Certificate (§3.6).
    Cert(Cert),
    /// Certificate Request (§3.7).
    CertReq(CertReq),
    /// Authentication (§3.8).
    Auth(Auth),
    /// Nonce (§3.9).
    Nonce(Nonce),
    /// Notify (§3.10).
    Notify(Notify),
    /// Delete (§3.11).
    Delete(Delete),
    /// Vendor ID (§3.12).
    VendorId(VendorId),
    /// Traffic Selector - Initiator (§3.13).
    TsI(TrafficSelectors),
    /// Traffic Selector - Responder (§3.13).
    TsR(TrafficSelectors),
    /// Encrypted and Authenticated (§3.14); always the last payload.
    Encrypted(Encrypted),
    /// Configuration (§3.15).
    Config(Configuration),
    /// Extensible Authentication (§3.16).
    Eap(Eap),
    /// Encrypted and Authenticated Fragment (RFC 7383 §2.5); always the last
    /// payload.
    EncryptedFragment(EncryptedFragment),
    /// A payload of a type this module does not parse, without the critical
    /// bit (RFC 7296 §2.5: "MUST be ignored").
    Unknown(UnknownPayload),
}

/// A payload whose type this module does not know, kept verbatim so that it
/// can be logged, passed along, or re-encoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownPayload {
    /// The payload type; never one that [`PayloadType`] names.
    pub payload_type: u8,
    /// The critical bit. Decoding never produces `true` (that is
    /// [`WireError::UnsupportedCriticalPayload`]), but a test or a peer
    /// simulator may want to send one.
    pub critical: bool,
    /// The body after the generic payload header.
    pub data: Vec<u8>,
}

impl Payload {
    /// The type of this payload, as written in the previous Next Payload
    /// field.
    pub fn payload_type(&self) -> PayloadType {
        match self {
            Self::Sa(_) => PayloadType::Sa,
            Self::Ke(_) => PayloadType::Ke,
            Self::IdI(_) => PayloadType::IdI,
            Self::IdR(_) => PayloadType::IdR,
            Self::Cert(_) => PayloadType::Cert,
            Self::CertReq(_) => PayloadType::CertReq,
            Self::Auth(_) => PayloadType::Auth,
            Self::Nonce(_) => PayloadType::Nonce,
            Self::Notify(_) => PayloadType::Notify,
            Self::Delete(_) => PayloadType::Delete,
            Self::VendorId(_) => PayloadType::VendorId,
            Self::TsI(_) => PayloadType::TsI,
            Self::TsR(_) => PayloadType::TsR,
            Self::Encrypted(_) => PayloadType::Encrypted,
            Self::Config(_) => PayloadType::Config,
            Self::Eap(_) => PayloadType::Eap,
            Self::EncryptedFragment(_) => PayloadType::EncryptedFragment,
            Self::Unknown(u) => PayloadType::from(u.payload_type),
        }
    }

    /// Whether this is an SK or SKF payload.
    pub fn is_encrypted(&self) -> bool {
        matches!(self, Self::Encrypted(_) | Self::EncryptedFragment(_))
    }

    /// Reads the body of a payload of type `payload_type`. `next` is the
    /// Next Payload field of its generic header, which SK and SKF keep as
    /// the type of their first inner payload.
    fn read_body(
        payload_type: PayloadType,
        next: PayloadType,
        critical: bool,
        mut body: Reader<'_>,
    ) -> Result<Self, WireError> {
        fn whole<T: Codec>(mut body: Reader<'_>) -> Result<T, WireError> {
            let value = T::read(&mut body)?;
            body.finish()?;
            Ok(value)
        }
        Ok(match payload_type {
            PayloadType::Sa => Self::Sa(whole(body)?),
            PayloadType::Ke => Self::Ke(whole(body)?),
            PayloadType::IdI => Self::IdI(whole(body)?),
            PayloadType::IdR => Self::IdR(whole(body)?),
            PayloadType::Cert => Self::Cert(whole(body)?),
            PayloadType::CertReq => Self::CertReq(whole(body)?),
            PayloadType::Auth => Self::Auth(whole(body)?),
            PayloadType::Nonce => Self::Nonce(whole(body)?),
            PayloadType::Notify => Self::Notify(whole(body)?),
            PayloadType::Delete => Self::Delete(whole(body)?),
            PayloadType::VendorId => Self::VendorId(whole(body)?),
            PayloadType::TsI => Self::TsI(whole(body)?),
            PayloadType::TsR => Self::TsR(whole(body)?),
            PayloadType::Config => Self::Config(whole(body)?),
            PayloadType::Eap => Self::Eap(whole(body)?),
            PayloadType::Encrypted => Self::Encrypted(Encrypted::read_body(next, &mut body)?),
            PayloadType::EncryptedFragment => {
                Self::EncryptedFragment(EncryptedFragment::read_body(next, &mut body)?)
            }
            PayloadType::NoNextPayload | PayloadType::Unknown(_) => {
                let raw = payload_type.value();
                if critical {
                    return Err(WireError::UnsupportedCriticalPayload(raw));
                }
                Self::Unknown(UnknownPayload {
                    payload_type: raw,
                    critical: false,
                    data: body.rest().to_vec(),
                })
            }
        })
    }

    /// Appends the body (everything after the generic header).
    fn encode_body(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        match self {
            Self::Sa(p) => p.encode(out),
            Self::Ke(p) => p.encode(out),
            Self::IdI(p) | Self::IdR(p) => p.encode(out),
            Self::Cert(p) => p.encode(out),
            Self::CertReq(p) => p.encode(out),
            Self::Auth(p) => p.encode(out),
            Self::Nonce(p) => p.encode(out),
            Self::Notify(p) => p.encode(out),
            Self::Delete(p) => p.encode(out),
            Self::VendorId(p) => p.encode(out),
            Self::TsI(p) | Self::TsR(p) => p.encode(out),
            Self::Encrypted(p) => p.encode_body(out),
            Self::Config(p) => p.encode(out),
            Self::Eap(p) => p.encode(out),
            Self::EncryptedFragment(p) => p.encode_body(out),
            Self::Unknown(p) => {
                if PayloadType::from(p.payload_type).is_known() {
                    return Err(EncodeError::InvalidValue(
                        "unknown payload with a known type",
                    ));
                }
                out.extend_from_slice(&p.data);
                Ok(())
            }
        }
    }
}

/// Where a payload chain sits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Nesting {
    /// Directly in a message: SK or SKF may end the chain.
    Message,
    /// Inside a decrypted SK payload: SK and SKF are forbidden (RFC 7296
    /// §3.14: "an Encrypted payload MUST NOT contain another").
    Encrypted,
}

/// Walks a Next Payload chain starting with `first` until Next Payload is
/// zero or an SK/SKF payload ends it. The caller checks that `r` is then
/// empty.
pub(crate) fn read_chain(
    r: &mut Reader<'_>,
    first: PayloadType,
    nesting: Nesting,
) -> Result<Vec<Payload>, WireError> {
    let mut payloads = Vec::new();
    let mut this = first;
    while this != PayloadType::NoNextPayload {
        let next = PayloadType::from(r.u8()?);
        let critical = r.u8()? & CRITICAL != 0;
        let length = r.u16()?;
        let body = read_inclusive(r, length, GENERIC_HEADER_LEN, GENERIC_HEADER_LEN)?;
        let payload = Payload::read_body(this, next, critical, body)?;
        if payload.is_encrypted() {
            if nesting == Nesting::Encrypted {
                return Err(WireError::InvalidSyntax("Encrypted payload inside SK"));
            }
            if !r.is_empty() {
                return Err(WireError::InvalidSyntax("Encrypted payload is not last"));
            }
            payloads.push(payload);
            return Ok(payloads);
        }
        payloads.push(payload);
        this = next;
    }
    Ok(payloads)
}

/// Writes `payloads` with their generic headers and returns the type of
/// the first one (the value for the preceding Next Payload field).
pub(crate) fn write_chain(
    payloads: &[Payload],
    out: &mut Vec<u8>,
    nesting: Nesting,
) -> Result<PayloadType, EncodeError> {
    let mut iter = payloads.iter().peekable();
    while let Some(payload) = iter.next() {
        let following = iter.peek().map(|p| p.payload_type());
        let next_field = match payload {
            Payload::Encrypted(Encrypted { first_payload, .. })
            | Payload::EncryptedFragment(EncryptedFragment { first_payload, .. }) => {
                if nesting == Nesting::Encrypted {
                    return Err(EncodeError::InvalidValue("Encrypted payload inside SK"));
                }
                if following.is_some() {
                    return Err(EncodeError::InvalidValue("Encrypted payload not last"));
                }
                *first_payload
            }
            _ => following.unwrap_or(PayloadType::NoNextPayload),
        };
        if payload.payload_type() == PayloadType::NoNextPayload {
            return Err(EncodeError::InvalidValue("payload of type 0"));
        }
        let critical = match payload {
            Payload::Unknown(u) if u.critical => CRITICAL,
            _ => 0,
        };
        let start = out.len();
        out.push(next_field.value());
        out.push(critical);
        let at = u16_placeholder(out);
        payload.encode_body(out)?;
        patch_u16_length(out, at, start, "payload")?;
    }
    Ok(payloads
        .first()
        .map_or(PayloadType::NoNextPayload, Payload::payload_type))
}

/// Parses the plaintext of an SK payload (or of reassembled SKF payloads):
/// the inner payloads, without padding, Pad Length or ICV, starting with a
/// payload of type `first` (the SK payload's Next Payload field).
///
/// An SK or SKF payload inside is [`WireError::InvalidSyntax`]; an unknown
/// critical payload is [`WireError::UnsupportedCriticalPayload`].
pub fn decode_payload_chain(first: PayloadType, bytes: &[u8]) -> Result<Vec<Payload>, WireError> {
    let mut r = Reader::new(bytes);
    let payloads = read_chain(&mut r, first, Nesting::Encrypted)?;
    r.finish()?;
    Ok(payloads)
}

/// Encodes payloads for an SK payload: returns the type of the first one
/// (for the SK payload's Next Payload field) and the plaintext to pad and
/// encrypt. SK and SKF payloads are refused.
pub fn encode_payload_chain(payloads: &[Payload]) -> Result<(PayloadType, Vec<u8>), EncodeError> {
    let mut out = Vec::new();
    let first = write_chain(payloads, &mut out, Nesting::Encrypted)?;
    Ok((first, out))
}
