//! Traffic Selector payloads (RFC 7296 §3.13) and Traffic Selectors
//! (§3.13.1).

use core::net::{Ipv4Addr, Ipv6Addr};

use super::codec::{count, patch_u16_length, read_inclusive, u16_placeholder, Codec, Reader};
use super::error::{EncodeError, WireError};

wire_enum! {
    /// TS Type (RFC 7296 §3.13.1).
    ///
    /// IANA "IKEv2 Traffic Selector Types":
    /// <https://www.iana.org/assignments/ikev2-parameters/ikev2-parameters.xhtml>
    pub enum TsType(u8) {
        /// TS_IPV4_ADDR_RANGE.
        Ipv4AddrRange = 7,
        /// TS_IPV6_ADDR_RANGE.
        Ipv6AddrRange = 8,
        /// TS_FC_ADDR_RANGE (RFC 4595).
        FcAddrRange = 9,
        /// TS_SECLABEL (RFC 9478).
        SecLabel = 10,
    }
}

/// Traffic Selector payload body, TSi or TSr (RFC 7296 §3.13):
///
/// ```text
///                      1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// | Next Payload  |C|  RESERVED   |         Payload Length        |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// | Number of TSs |                 RESERVED                      |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                                                               |
/// ~                       <Traffic Selectors>                     ~
/// |                                                               |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
///
/// Number of TSs must match the selectors present, which must fill the
/// payload exactly.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrafficSelectors {
    /// The selectors, in wire order.
    pub selectors: Vec<TrafficSelector>,
}

/// One Traffic Selector (RFC 7296 §3.13.1):
///
/// ```text
///                      1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |   TS Type     |IP Protocol ID*|       Selector Length         |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |           Start Port*         |           End Port*           |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                                                               |
/// ~                         Starting Address*                     ~
/// |                                                               |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                                                               |
/// ~                         Ending Address*                       ~
/// |                                                               |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
///
/// (* these fields depend on TS Type.) Selector Length must be 16 for
/// TS_IPV4_ADDR_RANGE and 40 for TS_IPV6_ADDR_RANGE. Other types are kept
/// opaque, so that the negotiation can decide what to do with them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TrafficSelector {
    /// TS_IPV4_ADDR_RANGE.
    Ipv4(AddressRange<Ipv4Addr>),
    /// TS_IPV6_ADDR_RANGE.
    Ipv6(AddressRange<Ipv6Addr>),
    /// Any other TS Type.
    Other {
        /// TS Type; never 7 or 8.
        ts_type: TsType,
        /// The octet after TS Type: IP Protocol ID in the address-range
        /// types, RESERVED in TS_SECLABEL.
        ip_protocol: u8,
        /// Everything after Selector Length.
        data: Vec<u8>,
    },
}

/// The fields of an address-range selector.
///
/// Ports are not checked for order: an OPAQUE port range is sent as start
/// 65535, end 0 (RFC 7296 §3.13.1), and ICMP uses them for type and code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AddressRange<A> {
    /// IP Protocol ID; zero for any protocol.
    pub ip_protocol: u8,
    /// Start Port.
    pub start_port: u16,
    /// End Port.
    pub end_port: u16,
    /// Starting Address.
    pub start: A,
    /// Ending Address.
    pub end: A,
}

impl<A> AddressRange<A> {
    /// All protocols and ports between two addresses.
    pub fn any_port(start: A, end: A) -> Self {
        Self {
            ip_protocol: 0,
            start_port: 0,
            end_port: u16::MAX,
            start,
            end,
        }
    }
}

/// Size of the TS Type, IP Protocol ID and Selector Length fields.
const TS_HEADER_LEN: usize = 4;
/// Selector Length of TS_IPV4_ADDR_RANGE.
const IPV4_SELECTOR_LEN: u16 = 16;
/// Selector Length of TS_IPV6_ADDR_RANGE.
const IPV6_SELECTOR_LEN: u16 = 40;

impl TrafficSelector {
    /// The TS Type.
    pub fn ts_type(&self) -> TsType {
        match self {
            Self::Ipv4(_) => TsType::Ipv4AddrRange,
            Self::Ipv6(_) => TsType::Ipv6AddrRange,
            Self::Other { ts_type, .. } => *ts_type,
        }
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, WireError> {
        let ts_type = TsType::from(r.u8()?);
        let ip_protocol = r.u8()?;
        let length = r.u16()?;
        let expected = match ts_type {
            TsType::Ipv4AddrRange => Some(IPV4_SELECTOR_LEN),
            TsType::Ipv6AddrRange => Some(IPV6_SELECTOR_LEN),
            _ => None,
        };
        if expected.is_some_and(|expected| expected != length) {
            return Err(WireError::BadLength);
        }
        let mut body = read_inclusive(r, length, TS_HEADER_LEN, TS_HEADER_LEN)?;
        let selector = match ts_type {
            TsType::Ipv4AddrRange => Self::Ipv4(AddressRange {
                ip_protocol,
                start_port: body.u16()?,
                end_port: body.u16()?,
                start: Ipv4Addr::from(body.array::<4>()?),
                end: Ipv4Addr::from(body.array::<4>()?),
            }),
            TsType::Ipv6AddrRange => Self::Ipv6(AddressRange {
                ip_protocol,
                start_port: body.u16()?,
                end_port: body.u16()?,
                start: Ipv6Addr::from(body.array::<16>()?),
                end: Ipv6Addr::from(body.array::<16>()?),
            }),
            _ => {
                return Ok(Self::Other {
                    ts_type,
                    ip_protocol,
                    data: body.rest().to_vec(),
                });
            }
        };
        body.finish()?;
        Ok(selector)
    }

    fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let start = out.len();
        out.push(self.ts_type().value());
        match self {
            Self::Ipv4(range) => {
                out.push(range.ip_protocol);
                out.extend_from_slice(&IPV4_SELECTOR_LEN.to_be_bytes());
                out.extend_from_slice(&range.start_port.to_be_bytes());
                out.extend_from_slice(&range.end_port.to_be_bytes());
                out.extend_from_slice(&range.start.octets());
                out.extend_from_slice(&range.end.octets());
                Ok(())
            }
            Self::Ipv6(range) => {
                out.push(range.ip_protocol);
                out.extend_from_slice(&IPV6_SELECTOR_LEN.to_be_bytes());
                out.extend_from_slice(&range.start_port.to_be_bytes());
                out.extend_from_slice(&range.end_port.to_be_bytes());
                out.extend_from_slice(&range.start.octets());
                out.extend_from_slice(&range.end.octets());
                Ok(())
            }
            Self::Other {
                ts_type,
                ip_protocol,
                data,
            } => {
                if matches!(ts_type, TsType::Ipv4AddrRange | TsType::Ipv6AddrRange) {
                    return Err(EncodeError::InvalidValue("opaque address-range selector"));
                }
                out.push(*ip_protocol);
                let at = u16_placeholder(out);
                out.extend_from_slice(data);
                patch_u16_length(out, at, start, "traffic selector")
            }
        }
    }
}

impl Codec for TrafficSelectors {
    fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let number: u8 = count(self.selectors.len(), "Number of TSs")?;
        out.push(number);
        out.extend_from_slice(&[0; 3]);
        for selector in &self.selectors {
            selector.encode(out)?;
        }
        Ok(())
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, WireError> {
        let number = r.u8()?;
        let _reserved: [u8; 3] = r.array()?;
        let selectors = (0..number)
            .map(|_| TrafficSelector::read(r))
            .collect::<Result<_, _>>()?;
        Ok(Self { selectors })
    }
}
