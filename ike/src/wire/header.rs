//! The IKE header (RFC 7296 §3.1).

use super::codec::{Codec, Reader};
use super::error::{EncodeError, WireError};
use super::payload::PayloadType;

/// The only major version this module speaks (RFC 7296 §3.1).
pub const IKEV2_MAJOR_VERSION: u8 = 2;

wire_enum! {
    /// Exchange Type (RFC 7296 §3.1).
    ///
    /// IANA "IKEv2 Exchange Types":
    /// <https://www.iana.org/assignments/ikev2-parameters/ikev2-parameters.xhtml#ikev2-parameters-1>
    pub enum ExchangeType(u8) {
        /// IKE_SA_INIT (RFC 7296 §1.2).
        IkeSaInit = 34,
        /// IKE_AUTH (RFC 7296 §1.2).
        IkeAuth = 35,
        /// CREATE_CHILD_SA (RFC 7296 §1.3).
        CreateChildSa = 36,
        /// INFORMATIONAL (RFC 7296 §1.4).
        Informational = 37,
        /// IKE_SESSION_RESUME (RFC 5723).
        IkeSessionResume = 38,
        /// IKE_INTERMEDIATE (RFC 9242).
        IkeIntermediate = 43,
        /// IKE_FOLLOWUP_KE (RFC 9370).
        IkeFollowupKe = 44,
    }
}

/// The Flags octet of the IKE header (RFC 7296 §3.1).
///
/// ```text
///   +-+-+-+-+-+-+-+-+
///   |X|X|R|V|I|X|X|X|
///   +-+-+-+-+-+-+-+-+
/// ```
///
/// The X bits "MUST be cleared when sending and MUST be ignored on receipt".
/// This type keeps all eight bits as received, so that a decoded header
/// re-encodes to the same octet; the accessors look only at R, V and I, and
/// [`Flags::new`] never sets an X bit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Flags(pub u8);

impl Flags {
    /// I (Initiator): set in messages sent by the original initiator of the
    /// IKE SA.
    pub const INITIATOR: u8 = 0x08;
    /// V (Version): the sender can speak a higher major version than the one
    /// in the header. IKEv2 implementations MUST clear it when sending.
    pub const VERSION: u8 = 0x10;
    /// R (Response): the message is a response to the request with the same
    /// Message ID.
    pub const RESPONSE: u8 = 0x20;

    /// Flags with only I and R set as asked.
    pub const fn new(initiator: bool, response: bool) -> Self {
        let mut bits = 0;
        if initiator {
            bits |= Self::INITIATOR;
        }
        if response {
            bits |= Self::RESPONSE;
        }
        Self(bits)
    }

    /// Whether I (Initiator) is set.
    pub const fn initiator(self) -> bool {
        self.0 & Self::INITIATOR != 0
    }

    /// Whether V (Version) is set.
    pub const fn version(self) -> bool {
        self.0 & Self::VERSION != 0
    }

    /// Whether R (Response) is set.
    pub const fn response(self) -> bool {
        self.0 & Self::RESPONSE != 0
    }
}

/// The IKE header without the two fields that describe the message's
/// contents (Next Payload and Length), which [`super::Message::encode`]
/// computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Header {
    /// IKE SA Initiator's SPI.
    pub spi_i: u64,
    /// IKE SA Responder's SPI; zero in the first IKE_SA_INIT request.
    pub spi_r: u64,
    /// MjVer: [`IKEV2_MAJOR_VERSION`] in every decoded [`super::Message`].
    pub major_version: u8,
    /// MnVer: zero when sending, ignored on receipt but kept.
    pub minor_version: u8,
    /// Exchange Type.
    pub exchange_type: ExchangeType,
    /// Flags.
    pub flags: Flags,
    /// Message ID.
    pub message_id: u32,
}

impl Header {
    /// A version 2.0 header.
    pub const fn new(
        spi_i: u64,
        spi_r: u64,
        exchange_type: ExchangeType,
        flags: Flags,
        message_id: u32,
    ) -> Self {
        Self {
            spi_i,
            spi_r,
            major_version: IKEV2_MAJOR_VERSION,
            minor_version: 0,
            exchange_type,
            flags,
            message_id,
        }
    }
}

/// The complete 28-octet IKE header as it appears on the wire (RFC 7296
/// §3.1):
///
/// ```text
///                      1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                       IKE SA Initiator's SPI                  |
/// |                                                               |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                       IKE SA Responder's SPI                  |
/// |                                                               |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |  Next Payload | MjVer | MnVer | Exchange Type |     Flags     |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                          Message ID                           |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                            Length                             |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
///
/// Reading it checks nothing beyond its size: the version and the Length
/// are checked by [`super::Message::decode`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FixedHeader {
    /// Everything but Next Payload and Length.
    pub header: Header,
    /// Next Payload: the type of the first payload.
    pub next_payload: PayloadType,
    /// Length of the whole message, header included.
    pub length: u32,
}

impl FixedHeader {
    /// Size of the IKE header.
    pub const LEN: usize = 28;

    /// Reads the IKE header at the start of `datagram`, ignoring whatever
    /// follows. Meant for answering messages that [`super::Message::decode`]
    /// refuses (the reply needs the SPIs and the Message ID).
    pub fn decode_prefix(datagram: &[u8]) -> Result<Self, WireError> {
        Self::read(&mut Reader::new(datagram))
    }
}

impl Codec for FixedHeader {
    fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let h = &self.header;
        if h.major_version > 0x0f || h.minor_version > 0x0f {
            return Err(EncodeError::InvalidValue("IKE version above 15"));
        }
        out.extend_from_slice(&h.spi_i.to_be_bytes());
        out.extend_from_slice(&h.spi_r.to_be_bytes());
        out.push(self.next_payload.value());
        out.push(h.major_version << 4 | h.minor_version);
        out.push(h.exchange_type.value());
        out.push(h.flags.0);
        out.extend_from_slice(&h.message_id.to_be_bytes());
        out.extend_from_slice(&self.length.to_be_bytes());
        Ok(())
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, WireError> {
        let spi_i = r.u64()?;
        let spi_r = r.u64()?;
        let next_payload = PayloadType::from(r.u8()?);
        let version = r.u8()?;
        let exchange_type = ExchangeType::from(r.u8()?);
        let flags = Flags(r.u8()?);
        let message_id = r.u32()?;
        let length = r.u32()?;
        Ok(Self {
            header: Header {
                spi_i,
                spi_r,
                major_version: version >> 4,
                minor_version: version & 0x0f,
                exchange_type,
                flags,
                message_id,
            },
            next_payload,
            length,
        })
    }
}
