//! UPDATE (RFC 4271 §4.3) with multiprotocol reachability (RFC 4760 §3, §4)
//! and the revised error handling of RFC 7606.

use super::attrs::{self, attr_type, flag, PathAttributes, Severity};
use super::nlri::{decode_prefixes, encode_prefix, Afi, Safi};
use super::{Context, NotificationCode, Reader, WireError};
use ipnet::IpNet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/*
 * RFC 4271 §4.3:
 * +-----------------------------------------------------+
 * |   Withdrawn Routes Length (2 octets)                |
 * +-----------------------------------------------------+
 * |   Withdrawn Routes (variable)                       |
 * +-----------------------------------------------------+
 * |   Total Path Attribute Length (2 octets)            |
 * +-----------------------------------------------------+
 * |   Path Attributes (variable)                        |
 * +-----------------------------------------------------+
 * |   Network Layer Reachability Information (variable) |
 * +-----------------------------------------------------+
 */
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Update {
    /// IPv4 prefixes withdrawn in the base field.
    pub withdrawn: Vec<IpNet>,
    pub attrs: PathAttributes,
    /// IPv4 prefixes announced in the base field.
    pub nlri: Vec<IpNet>,
    pub mp_reach: Option<MpReach>,
    pub mp_unreach: Option<MpUnreach>,
    /// RFC 7606 §2: the announced routes must be handled as withdrawn,
    /// for this reason.
    pub treat_as_withdraw: Option<&'static str>,
}

/*
 * RFC 4760 §3, MP_REACH_NLRI (type 14):
 * +---------------------------------------------------------+
 * | Address Family Identifier (2 octets)                    |
 * | Subsequent Address Family Identifier (1 octet)          |
 * | Length of Next Hop Network Address (1 octet)            |
 * | Network Address of Next Hop (variable)                  |
 * | Reserved (1 octet)                                      |
 * | Network Layer Reachability Information (variable)       |
 * +---------------------------------------------------------+
 */
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MpReach {
    pub afi: u16,
    pub safi: u8,
    /// Global next hop, then an IPv6 link-local one if present.
    pub next_hops: Vec<IpAddr>,
    /// Prefixes, for IPv4/IPv6 unicast only (others are not negotiated
    /// and are ignored).
    pub nlri: Vec<IpNet>,
}

/// RFC 4760 §4, MP_UNREACH_NLRI (type 15): AFI, SAFI, withdrawn routes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MpUnreach {
    pub afi: u16,
    pub safi: u8,
    pub withdrawn: Vec<IpNet>,
}

fn malformed_list(reason: &'static str) -> WireError {
    WireError::new(NotificationCode::Update, 1, reason)
}

/// RFC 4760 §7 and RFC 4271 §6.3: a recognised optional attribute that is
/// wrong is an "Optional Attribute Error", with the attribute as data
/// (added by the caller, which holds it).
fn optional_attribute_error(reason: &'static str) -> WireError {
    WireError::new(NotificationCode::Update, 9, reason)
}

fn with_attribute(e: WireError, raw: &[u8]) -> WireError {
    if e.subcode == 9 {
        e.with_data(raw)
    } else {
        e
    }
}

fn unicast(afi: u16, safi: u8) -> Option<Afi> {
    Afi::from_code(afi).filter(|_| safi == Safi::UNICAST)
}

impl MpReach {
    // RFC 7606 §7.11: a malformed MP_REACH_NLRI resets the session.
    fn decode(value: &[u8]) -> Result<MpReach, WireError> {
        let bad = || optional_attribute_error("malformed MP_REACH_NLRI");
        let mut r = Reader::new(value);
        let afi = r.u16().ok_or_else(bad)?;
        let safi = r.u8().ok_or_else(bad)?;
        let nh_len = usize::from(r.u8().ok_or_else(bad)?);
        let nh = r.take(nh_len).ok_or_else(bad)?;
        let _reserved = r.u8().ok_or_else(bad)?;
        let Some(family) = unicast(afi, safi) else {
            return Ok(MpReach {
                afi,
                safi,
                next_hops: Vec::new(),
                nlri: Vec::new(),
            });
        };
        let next_hops = match (family, nh_len) {
            (Afi::Ipv4, 4) => vec![IpAddr::V4(Ipv4Addr::from(
                <[u8; 4]>::try_from(nh).map_err(|_| bad())?,
            ))],
            (Afi::Ipv6, 16 | 32) => nh
                .chunks(16)
                .filter_map(|c| <[u8; 16]>::try_from(c).ok())
                .map(|a| IpAddr::V6(Ipv6Addr::from(a)))
                .collect(),
            _ => return Err(bad()),
        };
        let nlri = decode_prefixes(r.rest(), family)?;
        Ok(MpReach {
            afi,
            safi,
            next_hops,
            nlri,
        })
    }

    fn encode(&self, out: &mut Vec<u8>) {
        let mut v = Vec::new();
        v.extend_from_slice(&self.afi.to_be_bytes());
        v.push(self.safi);
        let mut nh = Vec::new();
        for h in &self.next_hops {
            match h {
                IpAddr::V4(a) => nh.extend_from_slice(&a.octets()),
                IpAddr::V6(a) => nh.extend_from_slice(&a.octets()),
            }
        }
        v.push(u8::try_from(nh.len()).unwrap_or(u8::MAX));
        v.extend_from_slice(&nh);
        v.push(0);
        for p in &self.nlri {
            encode_prefix(p, &mut v);
        }
        attrs::put(out, flag::OPTIONAL, attr_type::MP_REACH, &v);
    }
}

impl MpUnreach {
    fn decode(value: &[u8]) -> Result<MpUnreach, WireError> {
        let bad = || optional_attribute_error("malformed MP_UNREACH_NLRI");
        let mut r = Reader::new(value);
        let afi = r.u16().ok_or_else(bad)?;
        let safi = r.u8().ok_or_else(bad)?;
        let withdrawn = match unicast(afi, safi) {
            Some(family) => decode_prefixes(r.rest(), family)?,
            None => Vec::new(),
        };
        Ok(MpUnreach {
            afi,
            safi,
            withdrawn,
        })
    }

    fn encode(&self, out: &mut Vec<u8>) {
        let mut v = Vec::new();
        v.extend_from_slice(&self.afi.to_be_bytes());
        v.push(self.safi);
        for p in &self.withdrawn {
            encode_prefix(p, &mut v);
        }
        attrs::put(out, flag::OPTIONAL, attr_type::MP_UNREACH, &v);
    }
}

impl Update {
    /// RFC 4724 §2: End-of-RIB is an UPDATE with nothing in it (IPv4), or
    /// with only an empty MP_UNREACH_NLRI (other families).
    pub fn end_of_rib(afi: Afi) -> Update {
        match afi {
            Afi::Ipv4 => Update::default(),
            Afi::Ipv6 => Update {
                mp_unreach: Some(MpUnreach {
                    afi: afi.code(),
                    safi: Safi::UNICAST,
                    withdrawn: Vec::new(),
                }),
                ..Update::default()
            },
        }
    }

    pub fn is_end_of_rib(&self) -> Option<Afi> {
        if !self.withdrawn.is_empty() || !self.nlri.is_empty() || self.mp_reach.is_some() {
            return None;
        }
        match &self.mp_unreach {
            None if self.attrs == PathAttributes::default() => Some(Afi::Ipv4),
            Some(u) if u.withdrawn.is_empty() => unicast(u.afi, u.safi),
            _ => None,
        }
    }

    /// Every prefix announced (valid only without `treat_as_withdraw`).
    pub fn announced(&self) -> impl Iterator<Item = &IpNet> {
        self.nlri
            .iter()
            .chain(self.mp_reach.iter().flat_map(|m| m.nlri.iter()))
    }

    /// Every prefix withdrawn, including announcements RFC 7606 turns
    /// into withdrawals.
    pub fn withdrawn_all(&self) -> impl Iterator<Item = &IpNet> {
        let taw = self.treat_as_withdraw.is_some();
        self.withdrawn
            .iter()
            .chain(self.mp_unreach.iter().flat_map(|m| m.withdrawn.iter()))
            .chain(self.announced().filter(move |_| taw))
    }

    // RFC 4271 §6.3 and RFC 7606 §3–§5.
    pub(super) fn decode(body: &[u8], ctx: &Context) -> Result<Update, WireError> {
        let mut r = Reader::new(body);
        let wlen = usize::from(r.u16().ok_or(malformed_list("truncated UPDATE"))?);
        let wfield = r
            .take(wlen)
            .ok_or(malformed_list("withdrawn routes overrun the UPDATE"))?;
        let alen = usize::from(r.u16().ok_or(malformed_list("truncated UPDATE"))?);
        let afield = r
            .take(alen)
            .ok_or(malformed_list("path attributes overrun the UPDATE"))?;
        let mut u = Update {
            withdrawn: decode_prefixes(wfield, Afi::Ipv4)?,
            nlri: decode_prefixes(r.rest(), Afi::Ipv4)?,
            ..Update::default()
        };
        let mut seen = [false; 256];
        let mut as4 = None;
        let mut a = Reader::new(afield);
        while !a.is_empty() {
            let start = a.clone().rest();
            // §4: too few octets left for an attribute header, or a length
            // past the end, means treat-as-withdraw; the NLRI is still
            // found through the Total Path Attribute Length.
            let header = (|| {
                let flags = a.u8()?;
                let type_code = a.u8()?;
                let len = if flags & flag::EXTENDED_LENGTH != 0 {
                    usize::from(a.u16()?)
                } else {
                    usize::from(a.u8()?)
                };
                Some((flags, type_code, a.take(len)?))
            })();
            let Some((flags, type_code, value)) = header else {
                u.treat_as_withdraw
                    .get_or_insert("attribute overruns the attribute list");
                break;
            };
            let raw = start.get(..start.len() - a.remaining()).unwrap_or_default();
            let dup = std::mem::replace(&mut seen[usize::from(type_code)], true);
            match type_code {
                // §3 (g): a repeated MP attribute resets the session.
                attr_type::MP_REACH | attr_type::MP_UNREACH if dup => {
                    return Err(malformed_list("repeated MP_REACH/MP_UNREACH_NLRI"))
                }
                // §3 (c): wrong flags make it malformed, and a malformed
                // MP attribute resets the session (§7.11, RFC 4271 §6.3).
                attr_type::MP_REACH | attr_type::MP_UNREACH
                    if !attrs::header_flags_ok(type_code, flags) =>
                {
                    return Err(WireError::new(
                        NotificationCode::Update,
                        4,
                        "attribute flags error on MP_REACH/MP_UNREACH_NLRI",
                    )
                    .with_data(raw))
                }
                attr_type::MP_REACH => {
                    u.mp_reach = Some(MpReach::decode(value).map_err(|e| with_attribute(e, raw))?)
                }
                attr_type::MP_UNREACH => {
                    u.mp_unreach =
                        Some(MpUnreach::decode(value).map_err(|e| with_attribute(e, raw))?)
                }
                // §3 (g): other repeats are discarded.
                _ if dup => {}
                1..=8 | 17 | 18 | 32 => {
                    match u.attrs.apply(flags, type_code, value, ctx, &mut as4) {
                        Ok(()) | Err(Severity::Discard) => {}
                        Err(Severity::Withdraw(why)) => {
                            u.treat_as_withdraw.get_or_insert(why);
                        }
                    }
                }
                _ if flags & flag::OPTIONAL == 0 => {
                    return Err(attrs::unrecognized_well_known(raw))
                }
                _ => {
                    let _ = u.attrs.apply(flags, type_code, value, ctx, &mut as4);
                }
            }
        }
        if !ctx.four_octet_as {
            u.attrs.merge_as4(as4);
        }
        // §3 (d): a missing well-known mandatory attribute means
        // treat-as-withdraw. NEXT_HOP is needed only for base NLRI.
        let reach = !u.nlri.is_empty() || u.mp_reach.as_ref().is_some_and(|m| !m.nlri.is_empty());
        if reach && (u.attrs.origin.is_none() || u.attrs.as_path.is_none()) {
            u.treat_as_withdraw
                .get_or_insert("missing well-known attribute");
        }
        if !u.nlri.is_empty() && u.attrs.next_hop.is_none() {
            u.treat_as_withdraw.get_or_insert("missing NEXT_HOP");
        }
        Ok(u)
    }

    pub(super) fn encode(&self, ctx: &Context, out: &mut Vec<u8>) {
        let mut w = Vec::new();
        for p in &self.withdrawn {
            encode_prefix(p, &mut w);
        }
        out.extend_from_slice(&u16::try_from(w.len()).unwrap_or(u16::MAX).to_be_bytes());
        out.extend_from_slice(&w);
        let mut a = Vec::new();
        // MP attributes first, as most speakers do (RFC 7606 §5.1 advises
        // it, so that a receiver finds them before any damage).
        if let Some(m) = &self.mp_reach {
            m.encode(&mut a);
        }
        if let Some(m) = &self.mp_unreach {
            m.encode(&mut a);
        }
        self.attrs.encode(ctx, &mut a);
        out.extend_from_slice(&u16::try_from(a.len()).unwrap_or(u16::MAX).to_be_bytes());
        out.extend_from_slice(&a);
        for p in &self.nlri {
            encode_prefix(p, out);
        }
    }
}
