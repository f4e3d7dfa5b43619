//! Learned prefixes become kernel routes through the TUN, and entries of
//! vwand's own forwarding table naming every tunnel that can carry them
//! (the input of active-active spreading and failover).

use crate::dataplane::fib::Tunnels;
use crate::dataplane::inbound::InCommand;
use crate::dataplane::outbound::OutCommand;
use ipnet::IpNet;
use std::collections::{BTreeMap, BTreeSet};
use tokio::sync::mpsc;
use tun::{Netlink, RouteAttrs};

pub struct RouteSink {
    pub nl: Netlink,
    pub ifindex: u32,
    pub table: u32,
    pub metric: u32,
    pub out: mpsc::Sender<OutCommand>,
    pub inbound: Vec<mpsc::Sender<InCommand>>,
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

/// Learned prefixes and the static routes they combine with.
pub struct Routes {
    sink: RouteSink,
    statics: BTreeMap<IpNet, Tunnels>,
    learned: BTreeMap<IpNet, BTreeSet<usize>>,
    in_kernel: BTreeSet<IpNet>,
    pending: BTreeSet<IpNet>,
    pub kernel_errors: u64,
}

impl Routes {
    pub fn new(sink: RouteSink, statics: Vec<(IpNet, usize)>) -> Self {
        let mut s: BTreeMap<IpNet, Tunnels> = BTreeMap::new();
        for (net, t) in statics {
            let v = s.entry(net.trunc()).or_default();
            if !v.contains(&t) {
                v.push(t);
            }
        }
        Self {
            sink,
            statics: s,
            learned: BTreeMap::new(),
            in_kernel: BTreeSet::new(),
            pending: BTreeSet::new(),
            kernel_errors: 0,
        }
    }

    pub fn learn(&mut self, tunnel: usize, prefix: IpNet) {
        if self.learned.entry(prefix).or_default().insert(tunnel) {
            self.pending.insert(prefix);
        }
    }

    pub fn forget(&mut self, tunnel: usize, prefix: IpNet) {
        if let Some(set) = self.learned.get_mut(&prefix) {
            if set.remove(&tunnel) {
                if set.is_empty() {
                    self.learned.remove(&prefix);
                }
                self.pending.insert(prefix);
            }
        }
    }

    pub fn installed(&self) -> usize {
        self.in_kernel.len()
    }

    /// Applies what changed: kernel routes first, then the data plane's
    /// tables, in one batch.
    pub async fn flush(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let mut batch = Vec::with_capacity(self.pending.len());
        for prefix in std::mem::take(&mut self.pending) {
            let learned: Vec<usize> = self
                .learned
                .get(&prefix)
                .map(|s| s.iter().copied().collect())
                .unwrap_or_default();
            let statics = self.statics.get(&prefix);
            let mut tunnels: Tunnels = statics.cloned().unwrap_or_default();
            for t in &learned {
                if !tunnels.contains(t) {
                    tunnels.push(*t);
                }
            }
            // Static prefixes already have their kernel route.
            let want_kernel = !learned.is_empty() && statics.is_none();
            let have_kernel = self.in_kernel.contains(&prefix);
            let s = &self.sink;
            let (addr, len) = (prefix.addr(), prefix.prefix_len());
            if want_kernel && !have_kernel {
                match s.nl.add_route(s.ifindex, addr, len, s.attrs()).await {
                    Ok(()) => {
                        self.in_kernel.insert(prefix);
                    }
                    Err(e) => {
                        self.kernel_errors += 1;
                        tracing::warn!(%prefix, error = %e, "cannot add the kernel route for a learned prefix");
                    }
                }
            } else if !want_kernel && have_kernel {
                if let Err(e) = s.nl.del_route(s.ifindex, addr, len, s.attrs()).await {
                    self.kernel_errors += 1;
                    tracing::warn!(%prefix, error = %e, "cannot delete the kernel route of a withdrawn prefix");
                }
                self.in_kernel.remove(&prefix);
            }
            batch.push((prefix, tunnels));
        }
        for tx in &self.sink.inbound {
            let _ = tx.send(InCommand::Routes(batch.clone())).await;
        }
        let _ = self.sink.out.send(OutCommand::Routes(batch)).await;
    }
}
