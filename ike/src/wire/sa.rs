//! The Security Association payload (RFC 7296 §3.3) and its Proposal
//! substructures (§3.3.1). Transforms live in [`super::transform`].

use super::codec::{count, patch_u16_length, read_inclusive, u16_placeholder, Codec, Reader};
use super::error::{EncodeError, WireError};
use super::registry::ProtocolId;
use super::transform::{Transform, LAST_SUBSTRUCTURE};

/// Last Substruc of a proposal that is followed by another one.
const MORE_PROPOSALS: u8 = 2;

/// An SPI as carried by Proposal, Notify and Delete payloads, whose SPI Size
/// field gives its length.
///
/// IKEv2 uses only three sizes: none (the IKE SA of the message itself, or
/// no SA at all), four octets (AH and ESP) and eight octets (an IKE SA
/// being rekeyed). Any other SPI Size is [`WireError::InvalidSyntax`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Spi {
    /// SPI Size 0.
    #[default]
    Empty,
    /// SPI Size 4: an AH or ESP SPI.
    Ipsec(u32),
    /// SPI Size 8: an IKE SPI.
    Ike(u64),
}

impl Spi {
    /// The SPI Size field.
    pub fn size(self) -> u8 {
        match self {
            Self::Empty => 0,
            Self::Ipsec(_) => 4,
            Self::Ike(_) => 8,
        }
    }

    pub(crate) fn read(r: &mut Reader<'_>, size: u8) -> Result<Self, WireError> {
        match size {
            0 => Ok(Self::Empty),
            4 => Ok(Self::Ipsec(r.u32()?)),
            8 => Ok(Self::Ike(r.u64()?)),
            _ => Err(WireError::InvalidSyntax("SPI Size")),
        }
    }

    /// Appends the SPI itself (not its size).
    pub(crate) fn write(self, out: &mut Vec<u8>) {
        match self {
            Self::Empty => {}
            Self::Ipsec(spi) => out.extend_from_slice(&spi.to_be_bytes()),
            Self::Ike(spi) => out.extend_from_slice(&spi.to_be_bytes()),
        }
    }
}

/// Security Association payload body (RFC 7296 §3.3):
///
/// ```text
///                      1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// | Next Payload  |C|  RESERVED   |         Payload Length        |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                                                               |
/// ~                          <Proposals>                          ~
/// |                                                               |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
///
/// Decoding requires at least one proposal, Last Substruc values that agree
/// with the number of proposals and transforms, and lengths that fill their
/// containers exactly. Proposal numbering and the choice of transforms are
/// left to the negotiation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sa {
    /// Proposals, in order of preference.
    pub proposals: Vec<Proposal>,
}

impl Codec for Sa {
    fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        if self.proposals.is_empty() {
            return Err(EncodeError::InvalidValue("SA payload without proposals"));
        }
        let mut iter = self.proposals.iter().peekable();
        while let Some(proposal) = iter.next() {
            proposal.write_substructure(out, iter.peek().is_none())?;
        }
        Ok(())
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, WireError> {
        let mut proposals = Vec::new();
        loop {
            let (proposal, last) = Proposal::read_substructure(r)?;
            proposals.push(proposal);
            if last {
                return Ok(Self { proposals });
            }
        }
    }
}

/// A Proposal substructure (RFC 7296 §3.3.1):
///
/// ```text
///                      1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// | Last Substruc |   RESERVED    |         Proposal Length       |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// | Proposal Num  |  Protocol ID  |    SPI Size   |Num  Transforms|
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ~                        SPI (variable)                         ~
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                                                               |
/// ~                        <Transforms>                           ~
/// |                                                               |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Proposal {
    /// Proposal Num: 1, 2, ... in an offer; the chosen number in a reply.
    pub number: u8,
    /// Protocol ID: IKE, AH or ESP.
    pub protocol_id: ProtocolId,
    /// SPI: empty in the initial IKE SA negotiation, the sender's inbound
    /// SPI otherwise.
    pub spi: Spi,
    /// Transforms, in wire order.
    pub transforms: Vec<Transform>,
}

impl Proposal {
    /// Reads one proposal; the flag says whether Last Substruc marked it as
    /// the last one.
    fn read_substructure(r: &mut Reader<'_>) -> Result<(Self, bool), WireError> {
        let last = match r.u8()? {
            LAST_SUBSTRUCTURE => true,
            MORE_PROPOSALS => false,
            _ => return Err(WireError::InvalidSyntax("proposal Last Substruc")),
        };
        let _reserved = r.u8()?;
        let length = r.u16()?;
        let mut body = read_inclusive(r, length, 4, 8)?;
        let number = body.u8()?;
        let protocol_id = ProtocolId::from(body.u8()?);
        let spi_size = body.u8()?;
        let num_transforms = body.u8()?;
        let spi = Spi::read(&mut body, spi_size)?;
        let mut transforms = Vec::with_capacity(usize::from(num_transforms));
        for index in 1..=num_transforms {
            let (transform, marked_last) = Transform::read_substructure(&mut body)?;
            if marked_last != (index == num_transforms) {
                return Err(WireError::InvalidSyntax("transform Last Substruc"));
            }
            transforms.push(transform);
        }
        body.finish()?;
        Ok((
            Self {
                number,
                protocol_id,
                spi,
                transforms,
            },
            last,
        ))
    }

    fn write_substructure(&self, out: &mut Vec<u8>, last: bool) -> Result<(), EncodeError> {
        let num_transforms: u8 = count(self.transforms.len(), "transforms in a proposal")?;
        let start = out.len();
        out.push(if last {
            LAST_SUBSTRUCTURE
        } else {
            MORE_PROPOSALS
        });
        out.push(0);
        let at = u16_placeholder(out);
        out.push(self.number);
        out.push(self.protocol_id.value());
        out.push(self.spi.size());
        out.push(num_transforms);
        self.spi.write(out);
        let mut iter = self.transforms.iter().peekable();
        while let Some(transform) = iter.next() {
            transform.write_substructure(out, iter.peek().is_none())?;
        }
        patch_u16_length(out, at, start, "proposal")
    }
}
