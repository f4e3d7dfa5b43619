//! Payloads that authenticate the peers: Identification (RFC 7296 §3.5),
//! Certificate (§3.6), Certificate Request (§3.7) and Authentication
//! (§3.8).

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::codec::{Codec, Reader};
use super::error::{EncodeError, WireError};

wire_enum! {
    /// ID Type of an Identification payload (RFC 7296 §3.5).
    ///
    /// IANA "IKEv2 Identification Payload ID Types":
    /// <https://www.iana.org/assignments/ikev2-parameters/ikev2-parameters.xhtml#ikev2-parameters-10>
    pub enum IdType(u8) {
        /// ID_IPV4_ADDR: four octets.
        Ipv4Addr = 1,
        /// ID_FQDN: a fully qualified domain name, no terminator.
        Fqdn = 2,
        /// ID_RFC822_ADDR: an email address, no terminator.
        Rfc822Addr = 3,
        /// ID_IPV6_ADDR: sixteen octets.
        Ipv6Addr = 5,
        /// ID_DER_ASN1_DN: a DER X.500 Distinguished Name.
        DerAsn1Dn = 9,
        /// ID_DER_ASN1_GN: a DER X.509 GeneralName.
        DerAsn1Gn = 10,
        /// ID_KEY_ID: an opaque octet string.
        KeyId = 11,
        /// ID_FC_NAME (RFC 4595).
        FcName = 12,
        /// ID_NULL (RFC 7619).
        Null = 13,
    }
}

/// Identification payload body, IDi or IDr (RFC 7296 §3.5):
///
/// ```text
///                      1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// | Next Payload  |C|  RESERVED   |         Payload Length        |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |   ID Type     |                 RESERVED                      |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                                                               |
/// ~                   Identification Data                         ~
/// |                                                               |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
///
/// The AUTH payload signs this body verbatim ("RestOfInitIDPayload",
/// RFC 7296 §2.15), so the three RESERVED octets are kept as received
/// rather than zeroed: [`Codec::to_bytes`] then reproduces exactly the
/// octets the peer signed. ID_IPV4_ADDR data must be four octets and
/// ID_IPV6_ADDR data sixteen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identification {
    /// ID Type.
    pub id_type: IdType,
    /// RESERVED: zero when sending, kept on receipt (see above).
    pub reserved: [u8; 3],
    /// Identification Data.
    pub data: Vec<u8>,
}

impl Identification {
    /// An identification with zero RESERVED octets.
    pub fn new(id_type: IdType, data: Vec<u8>) -> Self {
        Self {
            id_type,
            reserved: [0; 3],
            data,
        }
    }

    /// ID_IPV4_ADDR or ID_IPV6_ADDR for `addr`.
    pub fn ip(addr: IpAddr) -> Self {
        match addr {
            IpAddr::V4(a) => Self::new(IdType::Ipv4Addr, a.octets().to_vec()),
            IpAddr::V6(a) => Self::new(IdType::Ipv6Addr, a.octets().to_vec()),
        }
    }

    /// ID_FQDN for `name`.
    pub fn fqdn(name: &str) -> Self {
        Self::new(IdType::Fqdn, name.as_bytes().to_vec())
    }

    /// The address of an ID_IPV4_ADDR or ID_IPV6_ADDR identification.
    pub fn as_ip(&self) -> Option<IpAddr> {
        match self.id_type {
            IdType::Ipv4Addr => {
                let octets = <[u8; 4]>::try_from(self.data.as_slice()).ok()?;
                Some(IpAddr::V4(Ipv4Addr::from(octets)))
            }
            IdType::Ipv6Addr => {
                let octets = <[u8; 16]>::try_from(self.data.as_slice()).ok()?;
                Some(IpAddr::V6(Ipv6Addr::from(octets)))
            }
            _ => None,
        }
    }

    fn data_ok(&self) -> bool {
        match self.id_type {
            IdType::Ipv4Addr => self.data.len() == 4,
            IdType::Ipv6Addr => self.data.len() == 16,
            _ => true,
        }
    }
}

impl Codec for Identification {
    fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        if !self.data_ok() {
            return Err(EncodeError::InvalidValue(
                "IP address identification length",
            ));
        }
        out.push(self.id_type.value());
        out.extend_from_slice(&self.reserved);
        out.extend_from_slice(&self.data);
        Ok(())
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, WireError> {
        let id = Self {
            id_type: IdType::from(r.u8()?),
            reserved: r.array()?,
            data: r.rest().to_vec(),
        };
        if !id.data_ok() {
            return Err(WireError::InvalidSyntax("IP address identification length"));
        }
        Ok(id)
    }
}

wire_enum! {
    /// Certificate Encoding (RFC 7296 §3.6).
    ///
    /// IANA "IKEv2 Certificate Encodings":
    /// <https://www.iana.org/assignments/ikev2-parameters/ikev2-parameters.xhtml>
    pub enum CertEncoding(u8) {
        /// X.509 Certificate - Signature (DER).
        X509Signature = 4,
        /// Certificate Revocation List (CRL).
        Crl = 7,
        /// Raw RSA Key (deprecated).
        RawRsaKey = 11,
        /// Hash and URL of X.509 certificate.
        HashUrlX509 = 12,
        /// Hash and URL of X.509 bundle.
        HashUrlX509Bundle = 13,
        /// OCSP Content (RFC 4806).
        OcspContent = 14,
        /// Raw Public Key (RFC 7670).
        RawPublicKey = 15,
    }
}

/// Certificate payload body (RFC 7296 §3.6):
///
/// ```text
///                      1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// | Next Payload  |C|  RESERVED   |         Payload Length        |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// | Cert Encoding |                                               |
/// +-+-+-+-+-+-+-+-+                                               |
/// ~                       Certificate Data                        ~
/// |                                                               |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cert {
    /// Cert Encoding.
    pub encoding: CertEncoding,
    /// Certificate Data.
    pub data: Vec<u8>,
}

/// Certificate Request payload body (RFC 7296 §3.7): the same layout as
/// [`Cert`], with a list of trust anchor hashes (SHA-1 of the
/// SubjectPublicKeyInfo, 20 octets each, for X.509) as Certification
/// Authority.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertReq {
    /// Cert Encoding.
    pub encoding: CertEncoding,
    /// Certification Authority.
    pub authorities: Vec<u8>,
}

impl Codec for Cert {
    fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        out.push(self.encoding.value());
        out.extend_from_slice(&self.data);
        Ok(())
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, WireError> {
        Ok(Self {
            encoding: CertEncoding::from(r.u8()?),
            data: r.rest().to_vec(),
        })
    }
}

impl Codec for CertReq {
    fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        out.push(self.encoding.value());
        out.extend_from_slice(&self.authorities);
        Ok(())
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, WireError> {
        Ok(Self {
            encoding: CertEncoding::from(r.u8()?),
            authorities: r.rest().to_vec(),
        })
    }
}

wire_enum! {
    /// Auth Method (RFC 7296 §3.8).
    ///
    /// IANA "IKEv2 Authentication Method":
    /// <https://www.iana.org/assignments/ikev2-parameters/ikev2-parameters.xhtml#ikev2-parameters-12>
    pub enum AuthMethod(u8) {
        /// RSA Digital Signature (PKCS #1 v1.5 with SHA-1).
        RsaSig = 1,
        /// Shared Key Message Integrity Code.
        SharedKeyMic = 2,
        /// DSS Digital Signature.
        DssSig = 3,
        /// ECDSA with SHA-256 on the P-256 curve (RFC 4754).
        EcdsaSha256P256 = 9,
        /// ECDSA with SHA-384 on the P-384 curve (RFC 4754).
        EcdsaSha384P384 = 10,
        /// ECDSA with SHA-512 on the P-521 curve (RFC 4754).
        EcdsaSha512P521 = 11,
        /// Generic Secure Password Authentication Method (RFC 6467).
        GenericSecurePassword = 12,
        /// NULL Authentication (RFC 7619).
        Null = 13,
        /// Digital Signature (RFC 7427).
        DigitalSignature = 14,
    }
}

/// Authentication payload body (RFC 7296 §3.8):
///
/// ```text
///                      1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// | Next Payload  |C|  RESERVED   |         Payload Length        |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// | Auth Method   |                RESERVED                       |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                                                               |
/// ~                      Authentication Data                      ~
/// |                                                               |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Auth {
    /// Auth Method.
    pub method: AuthMethod,
    /// Authentication Data: the MIC or signature.
    pub data: Vec<u8>,
}

impl Codec for Auth {
    fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        out.push(self.method.value());
        out.extend_from_slice(&[0; 3]);
        out.extend_from_slice(&self.data);
        Ok(())
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, WireError> {
        let method = AuthMethod::from(r.u8()?);
        let _reserved: [u8; 3] = r.array()?;
        Ok(Self {
            method,
            data: r.rest().to_vec(),
        })
    }
}
