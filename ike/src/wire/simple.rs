//! Payloads whose body is mostly opaque data: Key Exchange (RFC 7296 §3.4),
//! Nonce (§3.9), Vendor ID (§3.12) and EAP (§3.16).

use super::codec::{Codec, Reader};
use super::error::{EncodeError, WireError};
use super::transform::DhGroup;

/// Key Exchange payload body (RFC 7296 §3.4):
///
/// ```text
///                      1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// | Next Payload  |C|  RESERVED   |         Payload Length        |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |   Diffie-Hellman Group Num    |           RESERVED            |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                                                               |
/// ~                       Key Exchange Data                       ~
/// |                                                               |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
///
/// The length of the Key Exchange Data depends on the group; checking it
/// is the key exchange's job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyExchange {
    /// Diffie-Hellman Group Num.
    pub group: DhGroup,
    /// Key Exchange Data: the sender's public value.
    pub data: Vec<u8>,
}

impl Codec for KeyExchange {
    fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        out.extend_from_slice(&self.group.value().to_be_bytes());
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(&self.data);
        Ok(())
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, WireError> {
        let group = DhGroup::from(r.u16()?);
        let _reserved = r.u16()?;
        Ok(Self {
            group,
            data: r.rest().to_vec(),
        })
    }
}

/// Nonce payload body (RFC 7296 §3.9):
///
/// ```text
///                      1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// | Next Payload  |C|  RESERVED   |         Payload Length        |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                                                               |
/// ~                            Nonce Data                         ~
/// |                                                               |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
///
/// "The size of the Nonce Data MUST be between 16 and 256 octets,
/// inclusive"; anything else is [`WireError::InvalidSyntax`]. The further
/// rule (at least half the PRF's key size) is the negotiation's to check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Nonce(pub Vec<u8>);

impl Nonce {
    /// Shortest allowed Nonce Data.
    pub const MIN_LEN: usize = 16;
    /// Longest allowed Nonce Data.
    pub const MAX_LEN: usize = 256;

    fn length_ok(len: usize) -> bool {
        (Self::MIN_LEN..=Self::MAX_LEN).contains(&len)
    }
}

impl Codec for Nonce {
    fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        if !Self::length_ok(self.0.len()) {
            return Err(EncodeError::InvalidValue(
                "Nonce Data outside 16..=256 octets",
            ));
        }
        out.extend_from_slice(&self.0);
        Ok(())
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, WireError> {
        let data = r.rest();
        if !Self::length_ok(data.len()) {
            return Err(WireError::InvalidSyntax(
                "Nonce Data outside 16..=256 octets",
            ));
        }
        Ok(Self(data.to_vec()))
    }
}

/// Vendor ID payload body (RFC 7296 §3.12): an opaque identifier, usually
/// a hash of a vendor string.
///
/// ```text
///                      1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// | Next Payload  |C|  RESERVED   |         Payload Length        |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                                                               |
/// ~                        Vendor ID (VID)                        ~
/// |                                                               |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VendorId(pub Vec<u8>);

impl Codec for VendorId {
    fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        out.extend_from_slice(&self.0);
        Ok(())
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, WireError> {
        Ok(Self(r.rest().to_vec()))
    }
}

/// Extensible Authentication payload body (RFC 7296 §3.16): one EAP
/// message (RFC 3748), kept opaque for the EAP method to parse.
///
/// ```text
///                      1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// | Next Payload  |C|  RESERVED   |         Payload Length        |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                                                               |
/// ~                       EAP Message                             ~
/// |                                                               |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Eap(pub Vec<u8>);

impl Codec for Eap {
    fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        out.extend_from_slice(&self.0);
        Ok(())
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, WireError> {
        Ok(Self(r.rest().to_vec()))
    }
}
