//! Transform substructures (RFC 7296 §3.3.2), their attributes (§3.3.5)
//! and the transform ID registries.

use super::codec::{count, patch_u16_length, read_inclusive, u16_placeholder, Reader};
use super::error::{EncodeError, WireError};

wire_enum! {
    /// Transform Type (RFC 7296 §3.3.2).
    ///
    /// IANA "Transform Type Values":
    /// <https://www.iana.org/assignments/ikev2-parameters/ikev2-parameters.xhtml>
    pub enum TransformType(u8) {
        /// Encryption Algorithm (ENCR).
        Encr = 1,
        /// Pseudorandom Function (PRF).
        Prf = 2,
        /// Integrity Algorithm (INTEG).
        Integ = 3,
        /// Diffie-Hellman Group (D-H), renamed Key Exchange Method (KE) by
        /// RFC 9370.
        Dh = 4,
        /// Extended Sequence Numbers (ESN).
        Esn = 5,
    }
}

wire_enum! {
    /// Transform Type 1, Encryption Algorithm Transform IDs.
    ///
    /// IANA:
    /// <https://www.iana.org/assignments/ikev2-parameters/ikev2-parameters.xhtml#ikev2-parameters-5>
    pub enum EncrId(u16) {
        /// ENCR_3DES (RFC 2451).
        TripleDes = 3,
        /// ENCR_NULL (RFC 2410); ESP only.
        Null = 11,
        /// ENCR_AES_CBC (RFC 3602); takes a Key Length attribute.
        AesCbc = 12,
        /// ENCR_AES_CTR (RFC 3686); takes a Key Length attribute.
        AesCtr = 13,
        /// ENCR_AES_CCM_8 (RFC 4309).
        AesCcm8 = 14,
        /// ENCR_AES_CCM_12 (RFC 4309).
        AesCcm12 = 15,
        /// ENCR_AES_CCM_16 (RFC 4309).
        AesCcm16 = 16,
        /// ENCR_AES_GCM_8 (RFC 4106).
        AesGcm8 = 18,
        /// ENCR_AES_GCM_12 (RFC 4106).
        AesGcm12 = 19,
        /// ENCR_AES_GCM_16 (RFC 4106); takes a Key Length attribute.
        AesGcm16 = 20,
        /// ENCR_NULL_AUTH_AES_GMAC (RFC 4543).
        NullAuthAesGmac = 21,
        /// ENCR_CHACHA20_POLY1305 (RFC 7634).
        ChaCha20Poly1305 = 28,
    }
}

wire_enum! {
    /// Transform Type 2, Pseudorandom Function Transform IDs.
    ///
    /// IANA:
    /// <https://www.iana.org/assignments/ikev2-parameters/ikev2-parameters.xhtml#ikev2-parameters-6>
    pub enum PrfId(u16) {
        /// PRF_HMAC_MD5 (RFC 2104).
        HmacMd5 = 1,
        /// PRF_HMAC_SHA1 (RFC 2104).
        HmacSha1 = 2,
        /// PRF_AES128_XCBC (RFC 4434).
        Aes128Xcbc = 4,
        /// PRF_HMAC_SHA2_256 (RFC 4868).
        HmacSha2_256 = 5,
        /// PRF_HMAC_SHA2_384 (RFC 4868).
        HmacSha2_384 = 6,
        /// PRF_HMAC_SHA2_512 (RFC 4868).
        HmacSha2_512 = 7,
        /// PRF_AES128_CMAC (RFC 4615).
        Aes128Cmac = 8,
    }
}

wire_enum! {
    /// Transform Type 3, Integrity Algorithm Transform IDs.
    ///
    /// IANA:
    /// <https://www.iana.org/assignments/ikev2-parameters/ikev2-parameters.xhtml#ikev2-parameters-7>
    pub enum IntegId(u16) {
        /// NONE: for AEAD ciphers.
        None = 0,
        /// AUTH_HMAC_MD5_96 (RFC 2403).
        HmacMd5_96 = 1,
        /// AUTH_HMAC_SHA1_96 (RFC 2404).
        HmacSha1_96 = 2,
        /// AUTH_AES_XCBC_96 (RFC 3566).
        AesXcbc96 = 5,
        /// AUTH_HMAC_SHA2_256_128 (RFC 4868).
        HmacSha2_256_128 = 12,
        /// AUTH_HMAC_SHA2_384_192 (RFC 4868).
        HmacSha2_384_192 = 13,
        /// AUTH_HMAC_SHA2_512_256 (RFC 4868).
        HmacSha2_512_256 = 14,
    }
}

wire_enum! {
    /// Transform Type 4, Diffie-Hellman Group (Key Exchange Method)
    /// Transform IDs; also the Diffie-Hellman Group Num of the KE payload.
    ///
    /// IANA:
    /// <https://www.iana.org/assignments/ikev2-parameters/ikev2-parameters.xhtml#ikev2-parameters-8>
    pub enum DhGroup(u16) {
        /// NONE: no key exchange (a Child SA proposal without PFS).
        None = 0,
        /// 768-bit MODP group (RFC 2409).
        Modp768 = 1,
        /// 1024-bit MODP group (RFC 2409).
        Modp1024 = 2,
        /// 1536-bit MODP group (RFC 3526).
        Modp1536 = 5,
        /// 2048-bit MODP group (RFC 3526).
        Modp2048 = 14,
        /// 3072-bit MODP group (RFC 3526).
        Modp3072 = 15,
        /// 4096-bit MODP group (RFC 3526).
        Modp4096 = 16,
        /// 6144-bit MODP group (RFC 3526).
        Modp6144 = 17,
        /// 8192-bit MODP group (RFC 3526).
        Modp8192 = 18,
        /// 256-bit random ECP group, NIST P-256 (RFC 5903).
        Ecp256 = 19,
        /// 384-bit random ECP group, NIST P-384 (RFC 5903).
        Ecp384 = 20,
        /// 521-bit random ECP group, NIST P-521 (RFC 5903).
        Ecp521 = 21,
        /// 2048-bit MODP group with 256-bit prime order subgroup (RFC 5114).
        Modp2048s256 = 24,
        /// Curve25519 (RFC 8031).
        Curve25519 = 31,
        /// Curve448 (RFC 8031).
        Curve448 = 32,
    }
}

wire_enum! {
    /// Transform Type 5, Extended Sequence Numbers Transform IDs.
    ///
    /// IANA:
    /// <https://www.iana.org/assignments/ikev2-parameters/ikev2-parameters.xhtml#ikev2-parameters-9>
    pub enum EsnId(u16) {
        /// No Extended Sequence Numbers.
        NoEsn = 0,
        /// Extended Sequence Numbers.
        Esn = 1,
    }
}

/// A transform: its type and ID together, so that an ID cannot be read
/// against the wrong registry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TransformId {
    /// Encryption algorithm.
    Encr(EncrId),
    /// Pseudorandom function.
    Prf(PrfId),
    /// Integrity algorithm.
    Integ(IntegId),
    /// Diffie-Hellman group / key exchange method.
    Dh(DhGroup),
    /// Extended sequence numbers.
    Esn(EsnId),
    /// A transform type this module does not name (for instance the
    /// Additional Key Exchange types of RFC 9370). `transform_type` is
    /// never 1 to 5.
    Other {
        /// Transform Type.
        transform_type: u8,
        /// Transform ID.
        id: u16,
    },
}

impl TransformId {
    /// Builds the ID from the two wire fields.
    pub fn from_wire(transform_type: u8, id: u16) -> Self {
        match TransformType::from(transform_type) {
            TransformType::Encr => Self::Encr(id.into()),
            TransformType::Prf => Self::Prf(id.into()),
            TransformType::Integ => Self::Integ(id.into()),
            TransformType::Dh => Self::Dh(id.into()),
            TransformType::Esn => Self::Esn(id.into()),
            TransformType::Unknown(_) => Self::Other { transform_type, id },
        }
    }

    /// The Transform Type.
    pub fn transform_type(self) -> TransformType {
        match self {
            Self::Encr(_) => TransformType::Encr,
            Self::Prf(_) => TransformType::Prf,
            Self::Integ(_) => TransformType::Integ,
            Self::Dh(_) => TransformType::Dh,
            Self::Esn(_) => TransformType::Esn,
            Self::Other { transform_type, .. } => TransformType::from(transform_type),
        }
    }

    /// The Transform ID.
    pub fn id(self) -> u16 {
        match self {
            Self::Encr(id) => id.value(),
            Self::Prf(id) => id.value(),
            Self::Integ(id) => id.value(),
            Self::Dh(id) => id.value(),
            Self::Esn(id) => id.value(),
            Self::Other { id, .. } => id,
        }
    }
}

/// IANA "IKEv2 Transform Attribute Types": Key Length, in bits.
pub(crate) const KEY_LENGTH: u16 = 14;
/// The AF bit: the attribute is Type/Value with a two-octet value.
const AF_TV: u16 = 0x8000;

/// A transform attribute (RFC 7296 §3.3.5):
///
/// ```text
///                      1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |A|       Attribute Type        |    AF=0  Attribute Length     |
/// |F|                             |    AF=1  Attribute Value      |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                   AF=0  Attribute Value                       |
/// |                   AF=1  Not Transmitted                       |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Attribute {
    /// Key Length (type 14), in bits; always TV. A TLV-encoded Key Length
    /// is [`WireError::InvalidSyntax`].
    KeyLength(u16),
    /// Any other attribute; RFC 7296 §3.3.6 asks the negotiation to reject a
    /// transform that carries one.
    Other {
        /// Attribute Type (15 bits, never 14).
        attribute_type: u16,
        /// Value, in the format the AF bit selected.
        value: AttributeValue,
    },
}

/// An attribute value in the format its AF bit selected.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum AttributeValue {
    /// AF=1: a two-octet value in place of the length.
    Tv(u16),
    /// AF=0: a length-prefixed value.
    Tlv(Vec<u8>),
}

impl Attribute {
    fn read(r: &mut Reader<'_>) -> Result<Self, WireError> {
        let word = r.u16()?;
        let attribute_type = word & !AF_TV;
        let value = if word & AF_TV != 0 {
            AttributeValue::Tv(r.u16()?)
        } else {
            let length = usize::from(r.u16()?);
            AttributeValue::Tlv(r.take(length)?.to_vec())
        };
        match (attribute_type, value) {
            (KEY_LENGTH, AttributeValue::Tv(bits)) => Ok(Self::KeyLength(bits)),
            (KEY_LENGTH, AttributeValue::Tlv(_)) => Err(WireError::InvalidSyntax(
                "Key Length attribute not in TV format",
            )),
            (attribute_type, value) => Ok(Self::Other {
                attribute_type,
                value,
            }),
        }
    }

    fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let (attribute_type, value) = match self {
            Self::KeyLength(bits) => (KEY_LENGTH, AttributeValue::Tv(*bits)),
            Self::Other {
                attribute_type,
                value,
            } => {
                if *attribute_type == KEY_LENGTH || *attribute_type & AF_TV != 0 {
                    return Err(EncodeError::InvalidValue("transform attribute type"));
                }
                (*attribute_type, value.clone())
            }
        };
        match value {
            AttributeValue::Tv(v) => {
                out.extend_from_slice(&(attribute_type | AF_TV).to_be_bytes());
                out.extend_from_slice(&v.to_be_bytes());
            }
            AttributeValue::Tlv(bytes) => {
                let length: u16 = count(bytes.len(), "transform attribute")?;
                out.extend_from_slice(&attribute_type.to_be_bytes());
                out.extend_from_slice(&length.to_be_bytes());
                out.extend_from_slice(&bytes);
            }
        }
        Ok(())
    }
}

/// Last Substruc of a transform that is followed by another one.
const MORE_TRANSFORMS: u8 = 3;
/// Last Substruc of the last transform, and of the last proposal.
pub(crate) const LAST_SUBSTRUCTURE: u8 = 0;

/// A Transform substructure (RFC 7296 §3.3.2):
///
/// ```text
///                      1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// | Last Substruc |   RESERVED    |        Transform Length       |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |Transform Type |   RESERVED    |          Transform ID         |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                                                               |
/// ~                      Transform Attributes                     ~
/// |                                                               |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Transform {
    /// Transform Type and Transform ID.
    pub id: TransformId,
    /// Transform Attributes, in wire order.
    pub attributes: Vec<Attribute>,
}

impl Transform {
    /// A transform without attributes.
    pub fn new(id: TransformId) -> Self {
        Self {
            id,
            attributes: Vec::new(),
        }
    }

    /// A transform with a Key Length attribute, in bits.
    pub fn with_key_length(id: TransformId, bits: u16) -> Self {
        Self {
            id,
            attributes: vec![Attribute::KeyLength(bits)],
        }
    }

    /// The Key Length attribute, if present.
    pub fn key_length(&self) -> Option<u16> {
        self.attributes.iter().find_map(|a| match a {
            Attribute::KeyLength(bits) => Some(*bits),
            Attribute::Other { .. } => None,
        })
    }

    /// Reads one transform; the flag says whether Last Substruc marked it
    /// as the last one.
    pub(crate) fn read_substructure(r: &mut Reader<'_>) -> Result<(Self, bool), WireError> {
        let last = match r.u8()? {
            LAST_SUBSTRUCTURE => true,
            MORE_TRANSFORMS => false,
            _ => return Err(WireError::InvalidSyntax("transform Last Substruc")),
        };
        let _reserved = r.u8()?;
        let length = r.u16()?;
        let mut body = read_inclusive(r, length, 4, 8)?;
        let transform_type = body.u8()?;
        let _reserved = body.u8()?;
        let id = TransformId::from_wire(transform_type, body.u16()?);
        let mut attributes = Vec::new();
        while !body.is_empty() {
            attributes.push(Attribute::read(&mut body)?);
        }
        Ok((Self { id, attributes }, last))
    }

    pub(crate) fn write_substructure(
        &self,
        out: &mut Vec<u8>,
        last: bool,
    ) -> Result<(), EncodeError> {
        if let TransformId::Other { transform_type, .. } = self.id {
            if TransformType::from(transform_type).is_known() {
                return Err(EncodeError::InvalidValue(
                    "Other transform with a known type",
                ));
            }
        }
        let start = out.len();
        out.push(if last {
            LAST_SUBSTRUCTURE
        } else {
            MORE_TRANSFORMS
        });
        out.push(0);
        let at = u16_placeholder(out);
        out.push(self.id.transform_type().value());
        out.push(0);
        out.extend_from_slice(&self.id.id().to_be_bytes());
        for attribute in &self.attributes {
            attribute.encode(out)?;
        }
        patch_u16_length(out, at, start, "transform")
    }
}
