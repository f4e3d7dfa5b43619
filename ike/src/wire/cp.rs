//! The Configuration payload (RFC 7296 §3.15), kept minimal: typed CFG
//! Type and attribute types, opaque attribute values.

use core::net::Ipv4Addr;

use super::codec::{count, Codec, Reader};
use super::error::{EncodeError, WireError};

wire_enum! {
    /// CFG Type (RFC 7296 §3.15).
    ///
    /// IANA "IKEv2 Configuration Payload CFG Types":
    /// <https://www.iana.org/assignments/ikev2-parameters/ikev2-parameters.xhtml>
    pub enum CfgType(u8) {
        /// CFG_REQUEST.
        Request = 1,
        /// CFG_REPLY.
        Reply = 2,
        /// CFG_SET.
        Set = 3,
        /// CFG_ACK.
        Ack = 4,
    }
}

wire_enum! {
    /// Configuration Attribute Type (RFC 7296 §3.15.1), 15 bits.
    ///
    /// IANA "IKEv2 Configuration Payload Attribute Types":
    /// <https://www.iana.org/assignments/ikev2-parameters/ikev2-parameters.xhtml>
    pub enum CfgAttributeType(u16) {
        /// INTERNAL_IP4_ADDRESS: 0 or 4 octets.
        InternalIp4Address = 1,
        /// INTERNAL_IP4_NETMASK: 0 or 4 octets.
        InternalIp4Netmask = 2,
        /// INTERNAL_IP4_DNS: 0 or 4 octets.
        InternalIp4Dns = 3,
        /// INTERNAL_IP4_NBNS: 0 or 4 octets.
        InternalIp4Nbns = 4,
        /// INTERNAL_IP4_DHCP: 0 or 4 octets.
        InternalIp4Dhcp = 6,
        /// APPLICATION_VERSION: 0 or more octets.
        ApplicationVersion = 7,
        /// INTERNAL_IP6_ADDRESS: 0 or 17 octets.
        InternalIp6Address = 8,
        /// INTERNAL_IP6_DNS: 0 or 16 octets.
        InternalIp6Dns = 10,
        /// INTERNAL_IP6_DHCP: 0 or 16 octets.
        InternalIp6Dhcp = 12,
        /// INTERNAL_IP4_SUBNET: 0 or 8 octets.
        InternalIp4Subnet = 13,
        /// SUPPORTED_ATTRIBUTES: a multiple of 2 octets.
        SupportedAttributes = 14,
        /// INTERNAL_IP6_SUBNET: 0 or 17 octets.
        InternalIp6Subnet = 15,
    }
}

/// Configuration payload body (RFC 7296 §3.15):
///
/// ```text
///                      1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// | Next Payload  |C| RESERVED    |         Payload Length        |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |   CFG Type    |                    RESERVED                   |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                                                               |
/// ~                   Configuration Attributes                    ~
/// |                                                               |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Configuration {
    /// CFG Type.
    pub cfg_type: CfgType,
    /// Configuration Attributes, in wire order.
    pub attributes: Vec<ConfigAttribute>,
}

/// A Configuration Attribute (RFC 7296 §3.15.1):
///
/// ```text
///                      1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |R|         Attribute Type      |            Length             |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                                                               |
/// ~                             Value                             ~
/// |                                                               |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
///
/// The R bit is ignored on receipt and sent as zero. Values are opaque:
/// their expected sizes vary per type and an empty value is a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigAttribute {
    /// Attribute Type (15 bits).
    pub attribute_type: CfgAttributeType,
    /// Value.
    pub value: Vec<u8>,
}

/// The reserved R bit of a configuration attribute.
const RESERVED_BIT: u16 = 0x8000;

impl ConfigAttribute {
    /// An attribute with an empty value, as a CFG_REQUEST asks for one.
    pub fn request(attribute_type: CfgAttributeType) -> Self {
        Self {
            attribute_type,
            value: Vec::new(),
        }
    }

    /// The address of a four-octet INTERNAL_IP4_ADDRESS, _NETMASK, _DNS,
    /// _NBNS or _DHCP attribute.
    pub fn ipv4(&self) -> Option<Ipv4Addr> {
        <[u8; 4]>::try_from(self.value.as_slice())
            .ok()
            .map(Ipv4Addr::from)
    }
}

impl Codec for Configuration {
    fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        out.push(self.cfg_type.value());
        out.extend_from_slice(&[0; 3]);
        for attribute in &self.attributes {
            let attribute_type = attribute.attribute_type.value();
            if attribute_type & RESERVED_BIT != 0 {
                return Err(EncodeError::InvalidValue("configuration attribute type"));
            }
            let length: u16 = count(attribute.value.len(), "configuration attribute")?;
            out.extend_from_slice(&attribute_type.to_be_bytes());
            out.extend_from_slice(&length.to_be_bytes());
            out.extend_from_slice(&attribute.value);
        }
        Ok(())
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, WireError> {
        let cfg_type = CfgType::from(r.u8()?);
        let _reserved: [u8; 3] = r.array()?;
        let mut attributes = Vec::new();
        while !r.is_empty() {
            let attribute_type = CfgAttributeType::from(r.u16()? & !RESERVED_BIT);
            let length = usize::from(r.u16()?);
            attributes.push(ConfigAttribute {
                attribute_type,
                value: r.take(length)?.to_vec(),
            });
        }
        Ok(Self {
            cfg_type,
            attributes,
        })
    }
}
