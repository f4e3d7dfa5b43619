//! Whole IKE messages: the header (RFC 7296 §3.1) and its payload chain.

use super::codec::{patch, patch_u32_length, Codec, Reader};
use super::encrypted::{Encrypted, EncryptedFragment};
use super::error::{EncodeError, WireError};
use super::header::{FixedHeader, Header, IKEV2_MAJOR_VERSION};
use super::notify::{Notify, NotifyType};
use super::payload::{read_chain, write_chain, Nesting, Payload, PayloadType};

/// The four zero octets that precede an IKE message on UDP port 4500
/// (RFC 3948 §2.2, RFC 7296 §2.23). They are not part of the message and
/// no length field counts them.
pub const NON_ESP_MARKER: [u8; 4] = [0; 4];

/// Offset of the Next Payload field in the IKE header.
const NEXT_PAYLOAD_OFFSET: usize = 16;
/// Offset of the Length field in the IKE header.
const LENGTH_OFFSET: usize = 24;

/// Strips the non-ESP marker from a datagram received on UDP port 4500.
///
/// Returns the IKE message if the datagram starts with [`NON_ESP_MARKER`];
/// `None` means it is something else: ESP (a non-zero SPI comes first) or a
/// one-octet NAT-keepalive (RFC 3948 §2.3).
pub fn split_non_esp_marker(datagram: &[u8]) -> Option<&[u8]> {
    datagram.strip_prefix(&NON_ESP_MARKER)
}

/// An IKE message: the header and the payloads, in order.
///
/// The SK payload, if any, is the last payload and stays encrypted
/// ([`Payload::Encrypted`]); its plaintext is parsed separately with
/// [`super::decode_payload_chain`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// The IKE header, without Next Payload and Length.
    pub header: Header,
    /// The payloads, in wire order.
    pub payloads: Vec<Payload>,
}

impl Message {
    /// A message with the given header and payloads.
    pub fn new(header: Header, payloads: Vec<Payload>) -> Self {
        Self { header, payloads }
    }

    /// Decodes one IKE message: the UDP payload on port 500, or what
    /// [`split_non_esp_marker`] leaves on port 4500.
    ///
    /// Checks, in order: the 28-octet header is present; the major version
    /// is 2 ([`WireError::BadMajorVersion`]); the header's Length equals
    /// `datagram.len()` ([`WireError::BadLength`]); then walks the Next
    /// Payload chain, where every payload must fit, unknown payloads are
    /// kept unless critical ([`WireError::UnsupportedCriticalPayload`]), an
    /// SK or SKF payload must be last, and nothing may follow the last
    /// payload ([`WireError::TrailingBytes`]).
    ///
    /// This is the fuzzing entry point: it never panics.
    pub fn decode(datagram: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(datagram);
        let fixed = FixedHeader::read(&mut r)?;
        if fixed.header.major_version != IKEV2_MAJOR_VERSION {
            return Err(WireError::BadMajorVersion(fixed.header.major_version));
        }
        if usize::try_from(fixed.length).ok() != Some(datagram.len()) {
            return Err(WireError::BadLength);
        }
        let payloads = read_chain(&mut r, fixed.next_payload, Nesting::Message)?;
        r.finish()?;
        Ok(Self {
            header: fixed.header,
            payloads,
        })
    }

    /// Encodes the message, computing every Next Payload and length field.
    ///
    /// An SK or SKF payload must be the last one; its Next Payload field
    /// is its `first_payload`. The result does not include the non-ESP
    /// marker.
    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::new();
        self.encode_into(&mut out)?;
        Ok(out)
    }

    /// Appends the encoded message to `out`; see [`Message::encode`].
    pub fn encode_into(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        if self.header.major_version != IKEV2_MAJOR_VERSION {
            return Err(EncodeError::InvalidValue("IKE major version other than 2"));
        }
        let start = out.len();
        FixedHeader {
            header: self.header,
            next_payload: PayloadType::NoNextPayload,
            length: 0,
        }
        .encode(out)?;
        let first = write_chain(&self.payloads, out, Nesting::Message)?;
        let next_at = start
            .checked_add(NEXT_PAYLOAD_OFFSET)
            .ok_or(EncodeError::TooLong("IKE message"))?;
        patch(out, next_at, &[first.value()], "IKE header")?;
        let length_at = start
            .checked_add(LENGTH_OFFSET)
            .ok_or(EncodeError::TooLong("IKE message"))?;
        patch_u32_length(out, length_at, start, "IKE message")
    }

    /// The SK payload, if the message ends with one.
    pub fn encrypted(&self) -> Option<&Encrypted> {
        match self.payloads.last() {
            Some(Payload::Encrypted(sk)) => Some(sk),
            _ => None,
        }
    }

    /// The SKF payload, if the message ends with one.
    pub fn encrypted_fragment(&self) -> Option<&EncryptedFragment> {
        match self.payloads.last() {
            Some(Payload::EncryptedFragment(skf)) => Some(skf),
            _ => None,
        }
    }

    /// The Notify payloads, in order.
    pub fn notifies(&self) -> impl Iterator<Item = &Notify> {
        self.payloads.iter().filter_map(|p| match p {
            Payload::Notify(n) => Some(n),
            _ => None,
        })
    }

    /// The first Notify of the given type.
    pub fn notify(&self, notify_type: NotifyType) -> Option<&Notify> {
        self.notifies().find(|n| n.notify_type == notify_type)
    }
}
