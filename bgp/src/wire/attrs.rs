//! Path attributes (RFC 4271 §4.3, §5) and how malformed ones are handled
//! (RFC 7606 §3, §7).

use super::{NotificationCode, Reader, WireError};
use std::net::Ipv4Addr;

/// Attribute flags (RFC 4271 §4.3).
pub mod flag {
    pub const OPTIONAL: u8 = 0x80;
    pub const TRANSITIVE: u8 = 0x40;
    pub const PARTIAL: u8 = 0x20;
    pub const EXTENDED_LENGTH: u8 = 0x10;
}

/// Attribute type codes (IANA "BGP Path Attributes").
pub mod attr_type {
    pub const ORIGIN: u8 = 1;
    pub const AS_PATH: u8 = 2;
    pub const NEXT_HOP: u8 = 3;
    pub const MED: u8 = 4;
    pub const LOCAL_PREF: u8 = 5;
    pub const ATOMIC_AGGREGATE: u8 = 6;
    pub const AGGREGATOR: u8 = 7;
    pub const COMMUNITIES: u8 = 8;
    pub const MP_REACH: u8 = 14;
    pub const MP_UNREACH: u8 = 15;
    pub const AS4_PATH: u8 = 17;
    pub const AS4_AGGREGATOR: u8 = 18;
    pub const LARGE_COMMUNITIES: u8 = 32;
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Origin {
    #[default]
    Igp,
    Egp,
    Incomplete,
}

/// One AS_PATH segment (RFC 4271 §4.3, RFC 5065 for confederations).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AsSegment {
    Set(Vec<u32>),
    Sequence(Vec<u32>),
    ConfedSequence(Vec<u32>),
    ConfedSet(Vec<u32>),
}

impl AsSegment {
    fn code(&self) -> u8 {
        match self {
            AsSegment::Set(_) => 1,
            AsSegment::Sequence(_) => 2,
            AsSegment::ConfedSequence(_) => 3,
            AsSegment::ConfedSet(_) => 4,
        }
    }

    pub fn asns(&self) -> &[u32] {
        match self {
            AsSegment::Set(v)
            | AsSegment::Sequence(v)
            | AsSegment::ConfedSequence(v)
            | AsSegment::ConfedSet(v) => v,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AsPath {
    pub segments: Vec<AsSegment>,
}

impl AsPath {
    pub fn sequence(asns: Vec<u32>) -> Self {
        Self {
            segments: vec![AsSegment::Sequence(asns)],
        }
    }

    pub fn contains(&self, asn: u32) -> bool {
        self.segments.iter().any(|s| s.asns().contains(&asn))
    }

    /// The neighbor AS: the first AS of a leading AS_SEQUENCE.
    pub fn first(&self) -> Option<u32> {
        match self.segments.first() {
            Some(AsSegment::Sequence(v)) => v.first().copied(),
            _ => None,
        }
    }

    /// RFC 4271 §9.1.2.2 (a): a set counts as one.
    pub fn path_len(&self) -> usize {
        self.segments
            .iter()
            .map(|s| match s {
                AsSegment::Sequence(v) => v.len(),
                AsSegment::Set(_) => 1,
                _ => 0,
            })
            .sum()
    }

    fn decode(value: &[u8], wide: bool) -> Option<AsPath> {
        let mut r = Reader::new(value);
        let mut segments = Vec::new();
        while !r.is_empty() {
            let kind = r.u8()?;
            let n = r.u8()?;
            // RFC 7606 §7.2: a zero-length segment is malformed.
            if n == 0 {
                return None;
            }
            let mut asns = Vec::with_capacity(usize::from(n));
            for _ in 0..n {
                asns.push(if wide { r.u32()? } else { u32::from(r.u16()?) });
            }
            segments.push(match kind {
                1 => AsSegment::Set(asns),
                2 => AsSegment::Sequence(asns),
                3 => AsSegment::ConfedSequence(asns),
                4 => AsSegment::ConfedSet(asns),
                _ => return None,
            });
        }
        Some(AsPath { segments })
    }

    fn encode(&self, wide: bool, out: &mut Vec<u8>) {
        for s in &self.segments {
            // A segment holds at most 255 AS numbers; split longer ones.
            for chunk in s.asns().chunks(255) {
                out.push(s.code());
                out.push(u8::try_from(chunk.len()).unwrap_or(u8::MAX));
                for &a in chunk {
                    if wide {
                        out.extend_from_slice(&a.to_be_bytes());
                    } else {
                        let narrow = u16::try_from(a).unwrap_or(super::AS_TRANS);
                        out.extend_from_slice(&narrow.to_be_bytes());
                    }
                }
            }
        }
    }

    fn needs_as4(&self) -> bool {
        self.segments
            .iter()
            .any(|s| s.asns().iter().any(|&a| a > u32::from(u16::MAX)))
    }
}

/// An attribute kept as received: unknown optional ones, to count or pass.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RawAttribute {
    pub flags: u8,
    pub type_code: u8,
    pub value: Vec<u8>,
}

/// The attributes of one UPDATE, except MP_REACH/MP_UNREACH (which hold
/// NLRI and live in [`super::Update`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PathAttributes {
    pub origin: Option<Origin>,
    pub as_path: Option<AsPath>,
    pub next_hop: Option<Ipv4Addr>,
    pub med: Option<u32>,
    pub local_pref: Option<u32>,
    pub atomic_aggregate: bool,
    pub aggregator: Option<(u32, Ipv4Addr)>,
    pub communities: Vec<u32>,
    pub large_communities: Vec<[u32; 3]>,
    pub unknown: Vec<RawAttribute>,
}

/// What RFC 7606 says to do with a malformed attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Severity {
    /// §2 "attribute discard": drop the attribute, keep the routes.
    Discard,
    /// §2 "treat-as-withdraw": the UPDATE's routes are withdrawn.
    Withdraw(&'static str),
}

pub(super) fn header_flags_ok(type_code: u8, flags: u8) -> bool {
    use attr_type::*;
    let ot = flags & (flag::OPTIONAL | flag::TRANSITIVE);
    match type_code {
        ORIGIN | AS_PATH | NEXT_HOP | LOCAL_PREF | ATOMIC_AGGREGATE => ot == flag::TRANSITIVE,
        MED | MP_REACH | MP_UNREACH => ot == flag::OPTIONAL,
        AGGREGATOR | COMMUNITIES | AS4_PATH | AS4_AGGREGATOR | LARGE_COMMUNITIES => {
            ot == flag::OPTIONAL | flag::TRANSITIVE
        }
        _ => true,
    }
}

impl PathAttributes {
    /// Applies one non-MP attribute. A duplicate is ignored (RFC 7606
    /// §3 (g)); the caller handles MP_REACH/MP_UNREACH.
    pub(super) fn apply(
        &mut self,
        flags: u8,
        type_code: u8,
        value: &[u8],
        ctx: &super::Context,
        as4_path: &mut Option<AsPath>,
    ) -> Result<(), Severity> {
        use attr_type::*;
        let mut r = Reader::new(value);
        let exact4 = |r: &mut Reader| if value.len() == 4 { r.u32() } else { None };
        // RFC 7606 §3 (c): flags in conflict make the attribute malformed.
        let flags_ok = header_flags_ok(type_code, flags);
        match type_code {
            // §7.1
            ORIGIN => {
                let o = match (flags_ok, value) {
                    (true, [0]) => Origin::Igp,
                    (true, [1]) => Origin::Egp,
                    (true, [2]) => Origin::Incomplete,
                    _ => return Err(Severity::Withdraw("malformed ORIGIN")),
                };
                self.origin.get_or_insert(o);
            }
            // §7.2
            AS_PATH => {
                let p = AsPath::decode(value, ctx.four_octet_as)
                    .filter(|_| flags_ok)
                    .ok_or(Severity::Withdraw("malformed AS_PATH"))?;
                self.as_path.get_or_insert(p);
            }
            // §7.3
            NEXT_HOP => {
                let nh = exact4(&mut r)
                    .filter(|_| flags_ok)
                    .ok_or(Severity::Withdraw("malformed NEXT_HOP"))?;
                self.next_hop.get_or_insert(Ipv4Addr::from(nh));
            }
            // §7.4
            MED => {
                let v = exact4(&mut r)
                    .filter(|_| flags_ok)
                    .ok_or(Severity::Withdraw("malformed MULTI_EXIT_DISC"))?;
                self.med.get_or_insert(v);
            }
            // §7.5: kept when well formed; the session ignores it from an
            // eBGP peer (RFC 4271 §5.1.5). A malformed one is discarded
            // (for iBGP, §7.5 would withdraw; vwand's iBGP peers are its
            // own on-premises routers, and a route without LOCAL_PREF
            // counts as the default 100).
            LOCAL_PREF => {
                let v = exact4(&mut r)
                    .filter(|_| flags_ok)
                    .ok_or(Severity::Discard)?;
                self.local_pref.get_or_insert(v);
            }
            // §7.6
            ATOMIC_AGGREGATE => {
                if !value.is_empty() || !flags_ok {
                    return Err(Severity::Discard);
                }
                self.atomic_aggregate = true;
            }
            // §7.7
            AGGREGATOR => {
                let want = if ctx.four_octet_as { 8 } else { 6 };
                if value.len() != want || !flags_ok {
                    return Err(Severity::Discard);
                }
                let asn = if ctx.four_octet_as {
                    r.u32()
                } else {
                    r.u16().map(u32::from)
                };
                let addr = r.u32();
                if let (Some(a), Some(ip)) = (asn, addr) {
                    self.aggregator.get_or_insert((a, Ipv4Addr::from(ip)));
                }
            }
            // §7.8
            COMMUNITIES => {
                if !value.len().is_multiple_of(4) || !flags_ok {
                    return Err(Severity::Withdraw("malformed COMMUNITIES"));
                }
                if self.communities.is_empty() {
                    while let Some(c) = r.u32() {
                        self.communities.push(c);
                    }
                }
            }
            // RFC 8092 §6
            LARGE_COMMUNITIES => {
                if !value.len().is_multiple_of(12) || value.is_empty() || !flags_ok {
                    return Err(Severity::Withdraw("malformed LARGE_COMMUNITY"));
                }
                if self.large_communities.is_empty() {
                    while let (Some(a), Some(b), Some(c)) = (r.u32(), r.u32(), r.u32()) {
                        self.large_communities.push([a, b, c]);
                    }
                }
            }
            // RFC 6793 §6: a malformed AS4_PATH is discarded.
            AS4_PATH => {
                let p = AsPath::decode(value, true)
                    .filter(|_| flags_ok)
                    .ok_or(Severity::Discard)?;
                as4_path.get_or_insert(p);
            }
            AS4_AGGREGATOR => {}
            _ => {
                if !self.unknown.iter().any(|u| u.type_code == type_code) {
                    self.unknown.push(RawAttribute {
                        // RFC 4271 §4.3: Extended Length only says how the
                        // length was written; `encode` chooses it again.
                        flags: flags & !flag::EXTENDED_LENGTH,
                        type_code,
                        value: value.to_vec(),
                    });
                }
            }
        }
        Ok(())
    }

    /// RFC 6793 §4.2.3: rebuild a 4-octet path from AS_PATH and AS4_PATH
    /// when the peer speaks 2-octet AS numbers.
    pub(super) fn merge_as4(&mut self, as4: Option<AsPath>) {
        let (Some(mut as4), Some(path)) = (as4, self.as_path.as_mut()) else {
            return;
        };
        // RFC 6793 §6: confederation segments in AS4_PATH are discarded.
        as4.segments
            .retain(|s| matches!(s, AsSegment::Sequence(_) | AsSegment::Set(_)));
        // Counted as RFC 4271 §9.1.2.2 (a) and RFC 5065 §5.3: a set is
        // one, a confederation segment none.
        let (n, n4) = (path.path_len(), as4.path_len());
        if n4 > n {
            return; // §4.2.3: ignore an AS4_PATH longer than AS_PATH.
        }
        // §4.2.3: the leading n - n4 AS numbers of AS_PATH, with the
        // confederation segments that lead or adjoin them, go in front of
        // AS4_PATH.
        let mut keep = n - n4;
        let mut merged = Vec::new();
        for s in &path.segments {
            match s {
                AsSegment::ConfedSequence(_) | AsSegment::ConfedSet(_) => merged.push(s.clone()),
                _ if keep == 0 => break,
                AsSegment::Sequence(v) if v.len() > keep => {
                    merged.push(AsSegment::Sequence(v[..keep].to_vec()));
                    break;
                }
                AsSegment::Sequence(v) => {
                    keep -= v.len();
                    merged.push(s.clone());
                }
                AsSegment::Set(_) => {
                    keep -= 1;
                    merged.push(s.clone());
                }
            }
        }
        // The leading AS numbers are prepended to AS4_PATH's first
        // AS_SEQUENCE: one segment, when it stays within 255 AS numbers.
        let mut rest = as4.segments;
        let join = matches!((merged.last(), rest.first()),
            (Some(AsSegment::Sequence(h)), Some(AsSegment::Sequence(f))) if h.len() + f.len() <= 255);
        if join {
            if let (Some(AsSegment::Sequence(h)), AsSegment::Sequence(f)) =
                (merged.last_mut(), rest.remove(0))
            {
                h.extend(f);
            }
        }
        merged.extend(rest);
        path.segments = merged;
    }

    pub(super) fn encode(&self, ctx: &super::Context, out: &mut Vec<u8>) {
        use attr_type::*;
        if let Some(o) = self.origin {
            let v = match o {
                Origin::Igp => 0,
                Origin::Egp => 1,
                Origin::Incomplete => 2,
            };
            put(out, flag::TRANSITIVE, ORIGIN, &[v]);
        }
        if let Some(p) = &self.as_path {
            let mut v = Vec::new();
            p.encode(ctx.four_octet_as, &mut v);
            put(out, flag::TRANSITIVE, AS_PATH, &v);
            if !ctx.four_octet_as && p.needs_as4() {
                let mut v4 = Vec::new();
                p.encode(true, &mut v4);
                put(out, flag::OPTIONAL | flag::TRANSITIVE, AS4_PATH, &v4);
            }
        }
        if let Some(nh) = self.next_hop {
            put(out, flag::TRANSITIVE, NEXT_HOP, &nh.octets());
        }
        if let Some(m) = self.med {
            put(out, flag::OPTIONAL, MED, &m.to_be_bytes());
        }
        if let Some(lp) = self.local_pref {
            put(out, flag::TRANSITIVE, LOCAL_PREF, &lp.to_be_bytes());
        }
        if self.atomic_aggregate {
            put(out, flag::TRANSITIVE, ATOMIC_AGGREGATE, &[]);
        }
        if let Some((asn, ip)) = self.aggregator {
            let mut v = Vec::new();
            if ctx.four_octet_as {
                v.extend_from_slice(&asn.to_be_bytes());
            } else {
                let narrow = u16::try_from(asn).unwrap_or(super::AS_TRANS);
                v.extend_from_slice(&narrow.to_be_bytes());
            }
            v.extend_from_slice(&ip.octets());
            put(out, flag::OPTIONAL | flag::TRANSITIVE, AGGREGATOR, &v);
        }
        if !self.communities.is_empty() {
            let v: Vec<u8> = self
                .communities
                .iter()
                .flat_map(|c| c.to_be_bytes())
                .collect();
            put(out, flag::OPTIONAL | flag::TRANSITIVE, COMMUNITIES, &v);
        }
        if !self.large_communities.is_empty() {
            let v: Vec<u8> = self
                .large_communities
                .iter()
                .flat_map(|c| c.iter().flat_map(|x| x.to_be_bytes()))
                .collect();
            put(
                out,
                flag::OPTIONAL | flag::TRANSITIVE,
                LARGE_COMMUNITIES,
                &v,
            );
        }
        for u in &self.unknown {
            put(out, u.flags & !flag::EXTENDED_LENGTH, u.type_code, &u.value);
        }
    }
}

/// Writes one attribute, choosing the extended length when needed.
pub(super) fn put(out: &mut Vec<u8>, flags: u8, type_code: u8, value: &[u8]) {
    if value.len() > 255 {
        out.push(flags | flag::EXTENDED_LENGTH);
        out.push(type_code);
        out.extend_from_slice(&u16::try_from(value.len()).unwrap_or(u16::MAX).to_be_bytes());
    } else {
        out.push(flags);
        out.push(type_code);
        out.push(u8::try_from(value.len()).unwrap_or(u8::MAX));
    }
    out.extend_from_slice(value);
}

/// The session-reset error for an unrecognised well-known attribute
/// (RFC 4271 §6.3), kept by RFC 7606.
pub(super) fn unrecognized_well_known(raw: &[u8]) -> WireError {
    WireError::new(
        NotificationCode::Update,
        2,
        "unrecognized well-known attribute",
    )
    .with_data(raw)
}
