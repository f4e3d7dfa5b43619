//! Learned prefixes become kernel routes through the TUN, and entries of
//! vwand's own forwarding table naming the tunnels that can carry them in
//! preference tiers: the sessions' routes ranked by the BGP decision
//! process (`bgp::select`), static routes ahead of them.
//!
//! The tunnels' sessions keep their routes (their Adj-RIBs-In); this file
//! keeps no copy. It notes which prefixes changed and ranks them again
//! from the sessions' tables ([`Learned`]) when it applies the changes.

use crate::dataplane::inbound::InCommand;
use crate::dataplane::outbound::OutCommand;
use crate::dataplane::route::{Path, Tunnels};
use crate::status::{self, Board, RoutePath, RouteStatus};
use bgp::{Candidate, Rib};
use futures::StreamExt;
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

/// Prefixes per batch to the kernel and the data plane.
const FLUSH_CHUNK: usize = 4096;

/// Netlink route requests in flight at once.
const KERNEL_IN_FLIGHT: usize = 64;

/// One kernel route to add or delete.
#[derive(Debug, Clone, Copy)]
struct KernelOp {
    prefix: IpNet,
    /// Proto bgp in the configured table (else the static route).
    learned: bool,
    add: bool,
}

/// The tunnels' sessions' tables: (tunnel, its session's Adj-RIB-In).
pub type Learned<'a> = &'a [(usize, &'a Rib)];

/// Every prefix of the tunnels' tables once, in order (a merge of the
/// sorted tables; nothing is collected).
pub fn merged<'a>(learned: Learned<'a>) -> impl Iterator<Item = IpNet> + 'a {
    let mut iters: Vec<_> = learned
        .iter()
        .map(|(_, r)| r.iter().map(|(p, _)| *p).peekable())
        .collect();
    std::iter::from_fn(move || {
        let min = iters.iter_mut().filter_map(|i| i.peek().copied()).min()?;
        for i in iters.iter_mut() {
            if i.peek() == Some(&min) {
                i.next();
            }
        }
        Some(min)
    })
}

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
        let pending: Vec<IpNet> = std::mem::take(&mut routes.pending).into_iter().collect();
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
        let only_learned = merged(learned)
            .filter(|p| !self.statics.contains_key(p))
            .count();
        only_learned + self.statics.len()
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
    /// tables, in batches of at most [`FLUSH_CHUNK`] prefixes (so that a
    /// full table arriving at once never needs a full-table batch in each
    /// of the data-plane tasks' queues).
    pub async fn flush(&mut self, learned: Learned<'_>) {
        if self.pending.is_empty() {
            return;
        }
        let pending: Vec<IpNet> = std::mem::take(&mut self.pending).into_iter().collect();
        for chunk in pending.chunks(FLUSH_CHUNK) {
            let mut batch = Vec::with_capacity(chunk.len());
            let mut ops = Vec::new();
            for &prefix in chunk {
                let paths = self.paths(&prefix, learned);
                self.kernel_ops(prefix, !paths.is_empty(), &mut ops);
                batch.push((prefix, paths));
            }
            self.apply_kernel(ops).await;
            for tx in &self.sink.inbound {
                let _ = tx.send(InCommand::Routes(batch.clone())).await;
            }
            let _ = self.sink.out.send(OutCommand::Routes(batch)).await;
            self.publish(chunk, learned);
        }
    }

    /// What the kernel needs for `prefix`: its static route while it is
    /// static; its learned route (proto bgp) while some tunnel carries it
    /// and it is not also static (the static route serves).
    fn kernel_ops(&self, prefix: IpNet, carried: bool, ops: &mut Vec<KernelOp>) {
        let want = self.statics.contains_key(&prefix);
        if want != self.static_in_kernel.contains(&prefix) {
            ops.push(KernelOp {
                prefix,
                learned: false,
                add: want,
            });
        }
        let want = carried && !self.statics.contains_key(&prefix);
        if want != self.in_kernel.contains(&prefix) {
            ops.push(KernelOp {
                prefix,
                learned: true,
                add: want,
            });
        }
    }

    /// Carries out `ops`, up to [`KERNEL_IN_FLIGHT`] netlink requests at a
    /// time (one awaited request per prefix took 200,000 round trips).
    async fn apply_kernel(&mut self, ops: Vec<KernelOp>) {
        let s = &self.sink;
        let results: Vec<(KernelOp, std::io::Result<()>)> = futures::stream::iter(ops)
            .map(|op| async move {
                let (addr, len) = (op.prefix.addr(), op.prefix.prefix_len());
                let attrs = if op.learned {
                    s.attrs()
                } else {
                    RouteAttrs::default()
                };
                let r = if op.add {
                    s.nl.add_route(s.ifindex, addr, len, attrs).await
                } else {
                    s.nl.del_route(s.ifindex, addr, len, attrs).await
                };
                (op, r)
            })
            .buffer_unordered(KERNEL_IN_FLIGHT)
            .collect()
            .await;
        for (op, r) in results {
            let set = if op.learned {
                &mut self.in_kernel
            } else {
                &mut self.static_in_kernel
            };
            match (op.add, r) {
                (true, Ok(())) => {
                    set.insert(op.prefix);
                }
                (false, r) => {
                    // Gone from our books either way.
                    set.remove(&op.prefix);
                    if let Err(e) = r {
                        self.kernel_errors += 1;
                        tracing::warn!(prefix = %op.prefix, learned = op.learned, error = %e, "cannot delete a kernel route");
                    }
                }
                (true, Err(e)) => {
                    self.kernel_errors += 1;
                    tracing::warn!(prefix = %op.prefix, learned = op.learned, error = %e, "cannot add a kernel route");
                }
            }
        }
    }

    /// The status document's view of the changed prefixes (the first
    /// MAX_LISTED_ROUTES prefixes are listed; the count is the plane's).
    fn publish(&self, changed: &[IpNet], learned: Learned<'_>) {
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
