//! The Encrypted payload (SK, RFC 7296 §3.14), the Encrypted Fragment
//! payload (SKF, RFC 7383 §2.5), and the octets their protection covers.
//!
//! This module never splits the IV, ciphertext and ICV apart: their sizes
//! depend on the negotiated algorithms, which only the crypto layer knows.

use super::codec::Reader;
use super::error::{EncodeError, WireError};
use super::header::{FixedHeader, IKEV2_MAJOR_VERSION};
use super::payload::PayloadType;
use super::Codec;

/// Encrypted and Authenticated payload, SK (RFC 7296 §3.14):
///
/// ```text
///                      1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// | Next Payload  |C|  RESERVED   |         Payload Length        |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                     Initialization Vector                     |
/// |         (length is block size for encryption algorithm)       |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ~                    Encrypted IKE Payloads                     ~
/// +               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |               |             Padding (0-255 octets)            |
/// +-+-+-+-+-+-+-+-+                               +-+-+-+-+-+-+-+-+
/// |                                               |  Pad Length   |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ~                    Integrity Checksum Data                    ~
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
///
/// The Next Payload field of an SK payload names the first payload *inside*
/// it: an SK payload is always the last payload of its message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Encrypted {
    /// Type of the first inner payload (the SK header's Next Payload).
    pub first_payload: PayloadType,
    /// IV, ciphertext (inner payloads, Padding and Pad Length) and ICV, as
    /// one opaque run of octets.
    pub data: Vec<u8>,
}

impl Encrypted {
    pub(crate) fn read_body(next: PayloadType, body: &mut Reader<'_>) -> Result<Self, WireError> {
        Ok(Self {
            first_payload: next,
            data: body.rest().to_vec(),
        })
    }

    pub(crate) fn encode_body(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        out.extend_from_slice(&self.data);
        Ok(())
    }
}

/// Encrypted and Authenticated Fragment payload, SKF (RFC 7383 §2.5):
///
/// ```text
///                      1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// | Next Payload  |C|  RESERVED   |         Payload Length        |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |        Fragment Number        |        Total Fragments        |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                     Initialization Vector                     |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ~                      Encrypted content                        ~
/// +               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |               |             Padding (0-255 octets)            |
/// +-+-+-+-+-+-+-+-+                               +-+-+-+-+-+-+-+-+
/// |                                               |  Pad Length   |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ~                    Integrity Checksum Data                    ~
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
///
/// Decoding checks `1 <= fragment_number <= total_fragments`. Whether Next
/// Payload is zero in every fragment but the first is left to reassembly.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EncryptedFragment {
    /// Type of the first inner payload of the reassembled message in
    /// fragment 1; zero in the other fragments.
    pub first_payload: PayloadType,
    /// Fragment Number, from 1.
    pub fragment_number: u16,
    /// Total Fragments.
    pub total_fragments: u16,
    /// IV, ciphertext (content, Padding and Pad Length) and ICV.
    pub data: Vec<u8>,
}

impl EncryptedFragment {
    pub(crate) fn read_body(next: PayloadType, body: &mut Reader<'_>) -> Result<Self, WireError> {
        let fragment_number = body.u16()?;
        let total_fragments = body.u16()?;
        check_fragment_numbers(fragment_number, total_fragments)
            .map_err(WireError::InvalidSyntax)?;
        Ok(Self {
            first_payload: next,
            fragment_number,
            total_fragments,
            data: body.rest().to_vec(),
        })
    }

    pub(crate) fn encode_body(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        check_fragment_numbers(self.fragment_number, self.total_fragments)
            .map_err(EncodeError::InvalidValue)?;
        out.extend_from_slice(&self.fragment_number.to_be_bytes());
        out.extend_from_slice(&self.total_fragments.to_be_bytes());
        out.extend_from_slice(&self.data);
        Ok(())
    }
}

fn check_fragment_numbers(number: u16, total: u16) -> Result<(), &'static str> {
    if number == 0 || number > total {
        Err("SKF Fragment Number outside 1..=Total Fragments")
    } else {
        Ok(())
    }
}

/// Offsets of the SK or SKF payload inside an encoded message, and the
/// octets its protection covers.
///
/// ```text
/// 0             payload_start      iv_start                       end
/// | IKE header, | SK header (4)    | IV | ciphertext | ICV        |
/// | payloads    | or SKF header (8)|                               |
/// ```
///
/// - Integrity algorithms (RFC 7296 §3.14): the Integrity Checksum Data is
///   computed over the message "starting with the Fixed IKE header through
///   the Pad Length": `datagram[..end - icv_len]`, see
///   [`EncryptedLayout::integrity_covered`].
/// - AEAD algorithms (RFC 5282 §5.1): the associated data is the message
///   from the first octet of the IKE header through the last octet of the SK
///   payload header, i.e. everything before the IV: `datagram[..iv_start]`,
///   see [`EncryptedLayout::aead_associated_data`].
/// - For SKF (RFC 7383 §2.5) the SKF header includes Fragment Number and
///   Total Fragments, so both are covered in either case.
///
/// All offsets count from the start of the IKE header (after any non-ESP
/// marker).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EncryptedLayout {
    /// Offset of the SK/SKF generic payload header.
    pub payload_start: usize,
    /// Offset of the first octet of the IV.
    pub iv_start: usize,
    /// End of the SK/SKF payload, which is also the end of the message.
    pub end: usize,
}

impl EncryptedLayout {
    /// Finds the SK or SKF payload of an encoded message by walking its
    /// generic payload headers (bodies are not parsed). Fails if the
    /// message has none, or if its framing is one that
    /// [`super::Message::decode`] would refuse.
    pub fn locate(datagram: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(datagram);
        let fixed = FixedHeader::read(&mut r)?;
        if fixed.header.major_version != IKEV2_MAJOR_VERSION {
            return Err(WireError::BadMajorVersion(fixed.header.major_version));
        }
        if usize::try_from(fixed.length).ok() != Some(datagram.len()) {
            return Err(WireError::BadLength);
        }
        let mut this = fixed.next_payload;
        loop {
            let payload_start = datagram
                .len()
                .checked_sub(r.remaining())
                .ok_or(WireError::Truncated)?;
            let next = PayloadType::from(r.u8()?);
            let _flags = r.u8()?;
            let length = usize::from(r.u16()?);
            let header_len = match this {
                PayloadType::Encrypted => 4,
                PayloadType::EncryptedFragment => 8,
                PayloadType::NoNextPayload => {
                    return Err(WireError::InvalidSyntax("no Encrypted payload"))
                }
                _ => {
                    let body = length.checked_sub(4).ok_or(WireError::BadLength)?;
                    r.take(body)?;
                    this = next;
                    continue;
                }
            };
            if length < header_len {
                return Err(WireError::BadLength);
            }
            let end = payload_start
                .checked_add(length)
                .ok_or(WireError::BadLength)?;
            if end != datagram.len() {
                return Err(WireError::InvalidSyntax("Encrypted payload is not last"));
            }
            let iv_start = payload_start
                .checked_add(header_len)
                .ok_or(WireError::BadLength)?;
            return Ok(Self {
                payload_start,
                iv_start,
                end,
            });
        }
    }

    /// AEAD associated data (RFC 5282 §5.1): `datagram[..iv_start]`.
    pub fn aead_associated_data<'a>(&self, datagram: &'a [u8]) -> Result<&'a [u8], WireError> {
        datagram.get(..self.iv_start).ok_or(WireError::Truncated)
    }

    /// IV, ciphertext and ICV: `datagram[iv_start..end]`.
    pub fn encrypted_data<'a>(&self, datagram: &'a [u8]) -> Result<&'a [u8], WireError> {
        datagram
            .get(self.iv_start..self.end)
            .ok_or(WireError::Truncated)
    }

    /// Octets an integrity algorithm with an `icv_len`-octet checksum covers
    /// (RFC 7296 §3.14): `datagram[..end - icv_len]`, from the IKE header
    /// through the Pad Length. Fails if the SK body is shorter than the ICV.
    pub fn integrity_covered<'a>(
        &self,
        datagram: &'a [u8],
        icv_len: usize,
    ) -> Result<&'a [u8], WireError> {
        let icv_start = self.icv_start(icv_len)?;
        datagram.get(..icv_start).ok_or(WireError::Truncated)
    }

    /// The `icv_len`-octet Integrity Checksum Data at the end of the
    /// message: `datagram[end - icv_len..end]`.
    pub fn icv<'a>(&self, datagram: &'a [u8], icv_len: usize) -> Result<&'a [u8], WireError> {
        let icv_start = self.icv_start(icv_len)?;
        datagram
            .get(icv_start..self.end)
            .ok_or(WireError::Truncated)
    }

    fn icv_start(&self, icv_len: usize) -> Result<usize, WireError> {
        self.end
            .checked_sub(icv_len)
            .filter(|start| *start >= self.iv_start)
            .ok_or(WireError::Truncated)
    }
}
