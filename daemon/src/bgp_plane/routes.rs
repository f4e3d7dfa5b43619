//! Learned prefixes become kernel routes through the TUN, and entries of
//! vwand's own forwarding table naming the tunnels that can carry them in
//! preference tiers: the sessions' routes ranked by the BGP decision
//! process (`bgp::select`), static routes ahead of them.
//!
//! The tunnels' sessions keep their routes (their Adj-RIBs-In); this file
//! keeps no copy. It notes which prefixes changed and ranks them again
//! from the sessions' tables ([`Learned`]) when it applies the changes.

use crate::dataplane::fib::{Path, Tunnels};
use crate::dataplane::inbound::InCommand;
use crate::dataplane::outbound::OutCommand;
use crate::status::{self, Board, RoutePath, RouteStatus};
use bgp::{Candidate, Rib};
use ipnet::IpNet;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use tokio::sync::mpsc;
use tun::{Netlink, RouteAttrs};

pub struct RouteSink {
    pub nl: Netlink,
    pub ifindex: u32,
    pub table: u32,
    pub metric: u32,
    pub out: mpsc::Sender<OutCommand>,
    pub inbound: Vec<mpsc::Sender<InCommand>>,
    pub board: Board,
    /// Tunnel names by index, for the status document.
    pub names: Vec<String>,
}

impl RouteSink {
    fn attrs(&self) -> RouteAttrs {
        RouteAttrs {
            table: Some(self.table),
            metric: Some(self.metric),
            bgp: true,
        }
    }
}

/// The tunnels' sessions' tables: (tunnel, its session's Adj-RIB-In).
pub type Learned<'a> = &'a [(usize, &'a Rib)];

/// Learned prefixes and the static routes they combine with.
pub struct Routes {
    sink: RouteSink,
    statics: BTreeMap<IpNet, Vec<usize>>,
    /// Learned prefixes with a kernel route (proto bgp).
    in_kernel: BTreeSet<IpNet>,
    /// Static prefixes with a kernel route (proto static, main table): the
    /// daemon adds them at start, reloads change them here.
    static_in_kernel: BTreeSet<IpNet>,
    pending: BTreeSet<IpNet>,
    pub kernel_errors: u64,
    /// One shared copy of each distinct list of paths (a few: the
    /// combinations of tunnels and tiers), so that the forwarding tables
    /// and the batches sent to them hold pointers.
    lists: HashMap<Vec<Path>, Tunnels>,
}

impl Routes {
    pub fn new(sink: RouteSink, statics: Vec<(IpNet, usize)>) -> Self {
        let mut s: BTreeMap<IpNet, Vec<usize>> = BTreeMap::new();
        for (net, t) in statics {
            let v = s.entry(net.trunc()).or_default();
            if !v.contains(&t) {
                v.push(t);
            }
        }
        let mut routes = Self {
            sink,
            pending: s.keys().copied().collect(),
            static_in_kernel: s.keys().copied().collect(),
            statics: s,
            in_kernel: BTreeSet::new(),
            kernel_errors: 0,
            lists: HashMap::new(),
        };
        let pending = std::mem::take(&mut routes.pending);
        routes.publish(&pending, &[]);
        routes
    }

    /// Tunnel names by index, for status (a reload).
    pub fn set_names(&mut self, names: Vec<String>) {
        self.sink.names = names;
    }

    /// New static routes (a reload): what changed is applied at the next
    /// flush.
    pub fn set_statics(&mut self, statics: Vec<(IpNet, usize)>) {
        let mut s: BTreeMap<IpNet, Vec<usize>> = BTreeMap::new();
        for (net, t) in statics {
            let v = s.entry(net.trunc()).or_default();
            if !v.contains(&t) {
                v.push(t);
            }
        }
        for (net, v) in self.statics.iter() {
            if s.get(net) != Some(v) {
                self.pending.insert(*net);
            }
        }
        for net in s.keys() {
            if !self.statics.contains_key(net) {
                self.pending.insert(*net);
            }
        }
        self.statics = s;
    }

    /// A new inbound task: the whole table now, every change later.
    pub async fn add_inbound(&mut self, tx: mpsc::Sender<InCommand>, learned: Learned<'_>) {
        let mut prefixes: BTreeSet<IpNet> = self.statics.keys().copied().collect();
        for (_, rib) in learned {
            prefixes.extend(rib.iter().map(|(p, _)| *p));
        }
        let all: Vec<(IpNet, Tunnels)> = prefixes
            .iter()
            .map(|p| (*p, self.paths(p, learned)))
            .collect();
        let _ = tx.send(InCommand::Routes(all)).await;
        self.sink.inbound.push(tx);
    }

    /// A tunnel's session learned, changed or withdrew `prefix`: it is
    /// ranked again at the next flush.
    pub fn changed(&mut self, prefix: IpNet) {
        self.pending.insert(prefix);
    }

    /// Prefixes routed into the tunnels: learned ones (counted once
    /// however many tunnels have them) and static ones.
    pub fn count(&self, learned: Learned<'_>) -> usize {
        let mut iters: Vec<_> = learned
            .iter()
            .map(|(_, r)| r.iter().map(|(p, _)| *p).peekable())
            .collect();
        let mut n = 0;
        // A merge of the sorted tables.
        while let Some(min) = iters.iter_mut().filter_map(|i| i.peek().copied()).min() {
            for i in iters.iter_mut() {
                if i.peek() == Some(&min) {
                    i.next();
                }
            }
            if !self.statics.contains_key(&min) {
                n += 1;
            }
        }
        n + self.statics.len()
    }

    pub fn installed(&self) -> usize {
        self.in_kernel.len()
    }

    /// The paths of a prefix: static routes in tier 0, then the learned
    /// ones by rank (behind the static ones, if any).
    fn path_list(&self, prefix: &IpNet, learned: Learned<'_>) -> Vec<Path> {
        let statics = self.statics.get(prefix);
        let shift = u8::from(statics.is_some());
        let mut paths: Vec<Path> = statics
            .into_iter()
            .flatten()
            .map(|&tunnel| Path { tier: 0, tunnel })
            .collect();
        let candidates: Vec<Candidate> = learned
            .iter()
            .filter_map(|(t, rib)| rib.get(prefix).map(|r| Candidate::from_route(*t, r)))
            .collect();
        for (tier, tunnel) in bgp::select::rank(&candidates) {
            if !paths.iter().any(|p| p.tunnel == tunnel) {
                paths.push(Path {
                    tier: tier.saturating_add(shift),
                    tunnel,
                });
            }
        }
        paths.sort();
        paths
    }

    /// [`Self::path_list`], as the shared copy.
    fn paths(&mut self, prefix: &IpNet, learned: Learned<'_>) -> Tunnels {
        let paths = self.path_list(prefix, learned);
        self.lists
            .entry(paths)
            .or_insert_with_key(|p| Arc::from(p.as_slice()))
            .clone()
    }

    /// Applies what changed: kernel routes first, then the data plane's
    /// tables, in one batch.
    pub async fn flush(&mut self, learned: Learned<'_>) {
        if self.pending.is_empty() {
            return;
        }
        let pending = std::mem::take(&mut self.pending);
        let mut batch = Vec::with_capacity(pending.len());
        for &prefix in &pending {
            let paths = self.paths(&prefix, learned);
            self.kernel_static(prefix).await;
            self.kernel_learned(prefix, !paths.is_empty()).await;
            batch.push((prefix, paths));
        }
        for tx in &self.sink.inbound {
            let _ = tx.send(InCommand::Routes(batch.clone())).await;
        }
        let _ = self.sink.out.send(OutCommand::Routes(batch)).await;
        self.publish(&pending, learned);
    }

    /// The kernel route of a static prefix: there while it is static.
    async fn kernel_static(&mut self, prefix: IpNet) {
        let want = self.statics.contains_key(&prefix);
        let have = self.static_in_kernel.contains(&prefix);
        let s = &self.sink;
        let (addr, len, attrs) = (prefix.addr(), prefix.prefix_len(), RouteAttrs::default());
        if want && !have {
            match s.nl.add_route(s.ifindex, addr, len, attrs).await {
                Ok(()) => {
                    self.static_in_kernel.insert(prefix);
                }
                Err(e) => {
                    self.kernel_errors += 1;
                    tracing::warn!(%prefix, error = %e, "cannot add the kernel route of a static prefix");
                }
            }
        } else if !want && have {
            if let Err(e) = s.nl.del_route(s.ifindex, addr, len, attrs).await {
                self.kernel_errors += 1;
                tracing::warn!(%prefix, error = %e, "cannot delete the kernel route of a static prefix");
            }
            self.static_in_kernel.remove(&prefix);
        }
    }

    /// The kernel route of a learned prefix: there while some tunnel
    /// carries it and it is not also static (the static route serves).
    async fn kernel_learned(&mut self, prefix: IpNet, carried: bool) {
        let want = carried && !self.statics.contains_key(&prefix);
        let have = self.in_kernel.contains(&prefix);
        let s = &self.sink;
        let (addr, len) = (prefix.addr(), prefix.prefix_len());
        if want && !have {
            match s.nl.add_route(s.ifindex, addr, len, s.attrs()).await {
                Ok(()) => {
                    self.in_kernel.insert(prefix);
                }
                Err(e) => {
                    self.kernel_errors += 1;
                    tracing::warn!(%prefix, error = %e, "cannot add the kernel route for a learned prefix");
                }
            }
        } else if !want && have {
            if let Err(e) = s.nl.del_route(s.ifindex, addr, len, s.attrs()).await {
                self.kernel_errors += 1;
                tracing::warn!(%prefix, error = %e, "cannot delete the kernel route of a withdrawn prefix");
            }
            self.in_kernel.remove(&prefix);
        }
    }

    /// The status document's view of the changed prefixes (the first
    /// MAX_LISTED_ROUTES prefixes are listed; the count is the plane's).
    fn publish(&self, changed: &BTreeSet<IpNet>, learned: Learned<'_>) {
        let names = &self.sink.names;
        status::update(&self.sink.board, |b| {
            for p in changed {
                let prefix = p.to_string();
                let listed = b.routes.contains_key(&prefix);
                if !listed && b.routes.len() >= status::MAX_LISTED_ROUTES {
                    continue;
                }
                let paths: Vec<RoutePath> = self
                    .path_list(p, learned)
                    .into_iter()
                    .map(|x| RoutePath {
                        tunnel: names.get(x.tunnel).cloned().unwrap_or_default(),
                        tier: x.tier,
                    })
                    .collect();
                if paths.is_empty() {
                    b.routes.remove(&prefix);
                } else {
                    b.routes.insert(
                        prefix,
                        RouteStatus {
                            paths,
                            carried_by: Vec::new(),
                        },
                    );
                }
            }
        });
    }
}
