//! OPEN (RFC 4271 §4.2) and capabilities (RFC 5492).

use super::{NotificationCode, Reader, WireError};
use std::net::Ipv4Addr;

/// RFC 6793 §9: the 2-octet placeholder for an AS number above 65,535.
pub const AS_TRANS: u16 = 23456;

/// Capability codes (IANA "Capability Codes").
pub mod cap_code {
    pub const MULTIPROTOCOL: u8 = 1;
    pub const ROUTE_REFRESH: u8 = 2;
    pub const FOUR_OCTET_AS: u8 = 65;
}

/// One capability (RFC 5492 §4). Those we do not act on are kept whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Capability {
    /// RFC 4760 §8: AFI, SAFI.
    Multiprotocol {
        afi: u16,
        safi: u8,
    },
    /// RFC 2918 §2.
    RouteRefresh,
    /// RFC 6793 §3.
    FourOctetAs(u32),
    Unknown {
        code: u8,
        value: Vec<u8>,
    },
}

impl Capability {
    fn decode(code: u8, value: &[u8]) -> Result<Capability, WireError> {
        let bad =
            || WireError::new(NotificationCode::Open, 0, "malformed capability").with_data(value);
        let mut r = Reader::new(value);
        Ok(match code {
            cap_code::MULTIPROTOCOL => {
                let afi = r.u16().ok_or_else(bad)?;
                let _reserved = r.u8().ok_or_else(bad)?;
                let safi = r.u8().ok_or_else(bad)?;
                if !r.is_empty() {
                    return Err(bad());
                }
                Capability::Multiprotocol { afi, safi }
            }
            cap_code::ROUTE_REFRESH if value.is_empty() => Capability::RouteRefresh,
            cap_code::FOUR_OCTET_AS if value.len() == 4 => {
                Capability::FourOctetAs(r.u32().ok_or_else(bad)?)
            }
            cap_code::ROUTE_REFRESH | cap_code::FOUR_OCTET_AS => return Err(bad()),
            code => Capability::Unknown {
                code,
                value: value.to_vec(),
            },
        })
    }

    fn encode(&self, out: &mut Vec<u8>) {
        let (code, value): (u8, Vec<u8>) = match self {
            Capability::Multiprotocol { afi, safi } => {
                let a = afi.to_be_bytes();
                (cap_code::MULTIPROTOCOL, vec![a[0], a[1], 0, *safi])
            }
            Capability::RouteRefresh => (cap_code::ROUTE_REFRESH, Vec::new()),
            Capability::FourOctetAs(asn) => (cap_code::FOUR_OCTET_AS, asn.to_be_bytes().to_vec()),
            Capability::Unknown { code, value } => (*code, value.clone()),
        };
        out.push(code);
        out.push(u8::try_from(value.len()).unwrap_or(u8::MAX));
        out.extend_from_slice(&value[..value.len().min(255)]);
    }
}

/*
 * RFC 4271 §4.2:
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+
 * |    Version    |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |     My Autonomous System      |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |           Hold Time           |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                         BGP Identifier                        |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * | Opt Parm Len  |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |             Optional Parameters (variable)                    |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * Each optional parameter is Type (1), Length (1), Value; type 2 holds
 * capabilities (RFC 5492 §4). RFC 9072 widens the lengths to two octets
 * when Opt Parm Len is 255 and the first type is 255.
 */
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Open {
    pub version: u8,
    /// The 2-octet AS field (AS_TRANS when the real AS needs four).
    pub my_as: u16,
    pub hold_time: u16,
    pub router_id: Ipv4Addr,
    pub capabilities: Vec<Capability>,
}

const PARAM_CAPABILITIES: u8 = 2;
const PARAM_EXTENDED: u8 = 255;

impl Open {
    /// An OPEN for `asn`, with the 4-octet AS capability always present.
    pub fn new(asn: u32, hold_time: u16, router_id: Ipv4Addr, mut caps: Vec<Capability>) -> Self {
        let my_as = u16::try_from(asn).unwrap_or(AS_TRANS);
        if !caps.iter().any(|c| matches!(c, Capability::FourOctetAs(_))) {
            caps.push(Capability::FourOctetAs(asn));
        }
        Self {
            version: 4,
            my_as,
            hold_time,
            router_id,
            capabilities: caps,
        }
    }

    /// The sender's AS: the 4-octet capability if present (RFC 6793 §4.1).
    pub fn asn(&self) -> u32 {
        self.capabilities
            .iter()
            .find_map(|c| match c {
                Capability::FourOctetAs(a) => Some(*a),
                _ => None,
            })
            .unwrap_or(u32::from(self.my_as))
    }

    pub fn has(&self, want: &Capability) -> bool {
        self.capabilities.iter().any(|c| c == want)
    }

    pub fn four_octet_as(&self) -> bool {
        self.capabilities
            .iter()
            .any(|c| matches!(c, Capability::FourOctetAs(_)))
    }

    // RFC 4271 §6.2: OPEN message error handling.
    pub(super) fn decode(body: &[u8]) -> Result<Open, WireError> {
        let short = || WireError::new(NotificationCode::MessageHeader, 2, "OPEN too short");
        let mut r = Reader::new(body);
        let version = r.u8().ok_or_else(short)?;
        if version != 4 {
            return Err(
                WireError::new(NotificationCode::Open, 1, "unsupported BGP version")
                    .with_data(&4u16.to_be_bytes()),
            );
        }
        let my_as = r.u16().ok_or_else(short)?;
        let hold_time = r.u16().ok_or_else(short)?;
        // §6.2: a Hold Time of one or two seconds MUST be rejected.
        if hold_time == 1 || hold_time == 2 {
            return Err(WireError::new(
                NotificationCode::Open,
                6,
                "unacceptable hold time",
            ));
        }
        let router_id = Ipv4Addr::from(r.u32().ok_or_else(short)?);
        // RFC 6286 §2.2: the identifier is any non-zero 4-octet value.
        if router_id.is_unspecified() {
            return Err(WireError::new(
                NotificationCode::Open,
                3,
                "bad BGP identifier",
            ));
        }
        let bad_params = || {
            WireError::new(
                NotificationCode::Open,
                0,
                "optional parameters overrun the OPEN",
            )
        };
        let mut plen = usize::from(r.u8().ok_or_else(short)?);
        let mut extended = false;
        if plen == 255 && r.clone().u8() == Some(PARAM_EXTENDED) {
            r.u8();
            plen = usize::from(r.u16().ok_or_else(short)?);
            extended = true;
        }
        let params = r.take(plen).ok_or_else(bad_params)?;
        if !r.is_empty() {
            return Err(bad_params());
        }
        let mut p = Reader::new(params);
        let mut capabilities = Vec::new();
        while !p.is_empty() {
            let kind = p.u8().ok_or_else(bad_params)?;
            let len = if extended {
                p.u16().map(usize::from)
            } else {
                p.u8().map(usize::from)
            }
            .ok_or_else(bad_params)?;
            let value = p.take(len).ok_or_else(bad_params)?;
            if kind != PARAM_CAPABILITIES {
                return Err(WireError::new(
                    NotificationCode::Open,
                    4,
                    "unsupported optional parameter",
                ));
            }
            let mut c = Reader::new(value);
            while !c.is_empty() {
                let code = c.u8().ok_or_else(bad_params)?;
                let clen = usize::from(c.u8().ok_or_else(bad_params)?);
                let cval = c.take(clen).ok_or_else(bad_params)?;
                capabilities.push(Capability::decode(code, cval)?);
            }
        }
        Ok(Open {
            version,
            my_as,
            hold_time,
            router_id,
            capabilities,
        })
    }

    pub(super) fn encode(&self, out: &mut Vec<u8>) {
        out.push(self.version);
        out.extend_from_slice(&self.my_as.to_be_bytes());
        out.extend_from_slice(&self.hold_time.to_be_bytes());
        out.extend_from_slice(&self.router_id.octets());
        let caps: Vec<Vec<u8>> = self
            .capabilities
            .iter()
            .map(|c| {
                let mut v = Vec::new();
                c.encode(&mut v);
                v
            })
            .collect();
        let one_each: usize = caps.iter().map(|v| 2 + v.len()).sum();
        let all = caps.concat();
        if one_each <= 255 {
            // One capabilities parameter per capability, as most speakers do.
            out.push(u8::try_from(one_each).unwrap_or(u8::MAX));
            for v in &caps {
                out.push(PARAM_CAPABILITIES);
                out.push(u8::try_from(v.len()).unwrap_or(u8::MAX));
                out.extend_from_slice(v);
            }
        } else if all.len() + 2 <= 255 {
            // Too many for that within the 1-octet Opt Parm Len (RFC 4271
            // §4.2): all in one parameter (RFC 5492 §4 allows it).
            out.push(u8::try_from(all.len() + 2).unwrap_or(u8::MAX));
            out.push(PARAM_CAPABILITIES);
            out.push(u8::try_from(all.len()).unwrap_or(u8::MAX));
            out.extend_from_slice(&all);
        } else {
            // RFC 9072 §2: Opt Parm Len 255, Non-Ext OP Type 255, then a
            // 2-octet length, and 2-octet parameter lengths.
            let len = |n: usize| u16::try_from(n).unwrap_or(u16::MAX).to_be_bytes();
            out.extend_from_slice(&[255, PARAM_EXTENDED]);
            out.extend_from_slice(&len(all.len() + 3));
            out.push(PARAM_CAPABILITIES);
            out.extend_from_slice(&len(all.len()));
            out.extend_from_slice(&all);
        }
    }
}
