//! The Adj-RIB-In (RFC 4271 §3.2) of one session, and the import policy
//! that guards it.

use crate::wire::{AsPath, Origin};
use ipnet::IpNet;
use std::collections::BTreeMap;
use std::net::IpAddr;

/// What a session accepts. RFC 8212: with an empty `allow`, nothing is
/// imported.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportPolicy {
    /// A learned prefix must lie within one of these (e.g. the hub's
    /// address space and its connected VNets; `0.0.0.0/0` takes anything).
    pub allow: Vec<IpNet>,
    /// Addresses that a learned prefix must not cover: the tunnels' outer
    /// peers. A route over the tunnel to the tunnel's own endpoint would
    /// loop the ESP packets into the TUN.
    pub protect: Vec<IpAddr>,
    /// RFC 4486: tear the session down above this many accepted prefixes.
    pub max_prefixes: usize,
}

/// Why a prefix was not imported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// RFC 4271 §9.1.2: our own AS is in the path.
    AsLoop,
    /// Outside every `allow` prefix (or no policy at all: RFC 8212).
    NotAllowed,
    /// Covers a tunnel endpoint.
    CoversEndpoint(IpAddr),
    /// A family that was not negotiated.
    Family,
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Rejection::AsLoop => write!(f, "own AS in the AS path"),
            Rejection::NotAllowed => write!(f, "outside the import policy"),
            Rejection::CoversEndpoint(a) => write!(
                f,
                "covers tunnel endpoint {a}; routing it into the tunnel would loop ESP"
            ),
            Rejection::Family => write!(f, "address family not negotiated"),
        }
    }
}

impl ImportPolicy {
    pub fn check(&self, prefix: &IpNet, path: &AsPath, local_as: u32) -> Result<(), Rejection> {
        if path.contains(local_as) {
            return Err(Rejection::AsLoop);
        }
        if !self.allow.iter().any(|a| a.contains(prefix)) {
            return Err(Rejection::NotAllowed);
        }
        if let Some(a) = self.protect.iter().find(|a| prefix.contains(*a)) {
            return Err(Rejection::CoversEndpoint(*a));
        }
        Ok(())
    }
}

/// The attributes of a learned route.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RouteAttrs {
    pub as_path: AsPath,
    pub next_hop: Option<IpAddr>,
    pub origin: Option<Origin>,
    pub med: Option<u32>,
    /// LOCAL_PREF, as an iBGP peer sent it (eBGP peers do not).
    pub local_pref: Option<u32>,
    pub communities: Vec<u32>,
}

/// One learned route: its attributes, shared by every prefix of the
/// UPDATE that carried them (a table of 200,000 prefixes from a few
/// thousand UPDATEs holds a few thousand attribute sets, as BIRD does).
/// Reads like [`RouteAttrs`] (`route.as_path`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route(std::sync::Arc<RouteAttrs>);

impl Route {
    pub fn new(attrs: RouteAttrs) -> Self {
        Self(std::sync::Arc::new(attrs))
    }
}

impl std::ops::Deref for Route {
    type Target = RouteAttrs;
    fn deref(&self) -> &RouteAttrs {
        &self.0
    }
}

/// Learned routes in prefix order, so every listing is deterministic.
#[derive(Debug, Clone, Default)]
pub struct Rib {
    routes: BTreeMap<IpNet, Route>,
}

impl Rib {
    pub fn len(&self) -> usize {
        self.routes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }

    pub fn get(&self, p: &IpNet) -> Option<&Route> {
        self.routes.get(p)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&IpNet, &Route)> {
        self.routes.iter()
    }

    /// Returns true when the route is new or changed.
    pub(crate) fn insert(&mut self, p: IpNet, r: Route) -> bool {
        self.routes.insert(p, r.clone()).as_ref() != Some(&r)
    }

    pub(crate) fn remove(&mut self, p: &IpNet) -> bool {
        self.routes.remove(p).is_some()
    }

    pub(crate) fn take_all(&mut self) -> Vec<IpNet> {
        std::mem::take(&mut self.routes).into_keys().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    #[test]
    fn import_policy_rules() {
        let p = ImportPolicy {
            allow: vec![net("10.51.0.0/16")],
            protect: vec!["10.51.230.4".parse().unwrap()],
            max_prefixes: 10,
        };
        let path = AsPath::sequence(vec![65515]);
        assert_eq!(p.check(&net("10.51.231.0/24"), &path, 65010), Ok(()));
        assert_eq!(
            p.check(&net("10.52.0.0/24"), &path, 65010),
            Err(Rejection::NotAllowed)
        );
        assert!(matches!(
            p.check(&net("10.51.230.0/24"), &path, 65010),
            Err(Rejection::CoversEndpoint(_))
        ));
        let looped = AsPath::sequence(vec![65515, 65010]);
        assert_eq!(
            p.check(&net("10.51.231.0/24"), &looped, 65010),
            Err(Rejection::AsLoop)
        );
        // RFC 8212: no policy, no import.
        let none = ImportPolicy::default();
        assert_eq!(
            none.check(&net("10.51.231.0/24"), &path, 65010),
            Err(Rejection::NotAllowed)
        );
    }
}
