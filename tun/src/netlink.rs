//! Interface addresses and routes via rtnetlink (IPv4 and IPv6).
//!
//! All operations are idempotent: adding something that already exists
//! (`EEXIST`) and deleting something that is already gone (`ENOENT`/`ESRCH`)
//! both succeed.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use netlink_packet_route::route::RouteProtocol;
use rtnetlink::Handle;
use tokio::task::JoinHandle;

/// Handle to an rtnetlink (`NETLINK_ROUTE`) socket.
///
/// The netlink socket is opened in the network namespace of the thread that
/// calls [`Netlink::new`]; its connection task runs on the current tokio
/// runtime and is aborted when the `Netlink` is dropped.
#[derive(Debug)]
pub struct Netlink {
    handle: Handle,
    conn: JoinHandle<()>,
}

impl Drop for Netlink {
    fn drop(&mut self) {
        self.conn.abort();
    }
}

/// Maps an rtnetlink error to `io::Error`, keeping the kernel errno.
fn to_io(err: rtnetlink::Error) -> io::Error {
    match err {
        rtnetlink::Error::NetlinkError(msg) => msg.to_io(),
        other => io::Error::other(other.to_string()),
    }
}

fn errno_in(err: &io::Error, codes: &[i32]) -> bool {
    err.raw_os_error().is_some_and(|c| codes.contains(&c))
}

fn with_context(err: io::Error, what: std::fmt::Arguments<'_>) -> io::Error {
    io::Error::new(err.kind(), format!("{what}: {err}"))
}

/// Checks `prefix_len` against the address family and clears host bits, so
/// `10.78.0.5/16` names the network `10.78.0.0/16`.
fn network(addr: IpAddr, prefix_len: u8) -> io::Result<IpAddr> {
    let max = if addr.is_ipv4() { 32 } else { 128 };
    if prefix_len > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("prefix length /{prefix_len} too long for {addr}"),
        ));
    }
    Ok(match addr {
        IpAddr::V4(a) => {
            let mask = u32::MAX
                .checked_shl(32 - u32::from(prefix_len))
                .unwrap_or(0);
            IpAddr::V4(Ipv4Addr::from(u32::from(a) & mask))
        }
        IpAddr::V6(a) => {
            let mask = u128::MAX
                .checked_shl(128 - u32::from(prefix_len))
                .unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(u128::from(a) & mask))
        }
    })
}

/// Where a route goes and who owns it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RouteAttrs {
    /// Routing table; the main table if `None`.
    pub table: Option<u32>,
    /// Route priority; the kernel's default if `None`.
    pub metric: Option<u32>,
    /// Marks the route `proto bgp` (learned) rather than `proto static`
    /// (configured), so `ip route` tells them apart.
    pub bgp: bool,
}

/// A route as used by [`Netlink::add_route`] / [`Netlink::del_route`].
struct RouteSpec {
    ifindex: u32,
    dest: IpAddr,
    prefix_len: u8,
    attrs: RouteAttrs,
}

#[derive(Debug, Clone, Copy)]
enum RouteOp {
    Add,
    Del,
}

impl Netlink {
    /// Opens a netlink socket and spawns its connection task on the current
    /// tokio runtime. Fails (rather than panicking) outside a runtime.
    pub fn new() -> io::Result<Netlink> {
        let rt = tokio::runtime::Handle::try_current()
            .map_err(|e| io::Error::other(format!("Netlink::new needs a tokio runtime: {e}")))?;
        let (conn, handle, _messages) = rtnetlink::new_connection()?;
        let conn = rt.spawn(conn);
        Ok(Netlink { handle, conn })
    }

    /// The raw rtnetlink handle, for operations not wrapped here.
    pub fn handle(&self) -> &Handle {
        &self.handle
    }

    /// Adds `addr/prefix_len` to interface `ifindex` (IPv4 or IPv6).
    /// Succeeds if the address is already present.
    pub async fn add_address(&self, ifindex: u32, addr: IpAddr, prefix_len: u8) -> io::Result<()> {
        network(addr, prefix_len)?;
        let res = self
            .handle
            .address()
            .add(ifindex, addr, prefix_len)
            .execute()
            .await
            .map_err(to_io);
        match res {
            Ok(()) => {
                tracing::debug!(ifindex, %addr, prefix_len, "added address");
                Ok(())
            }
            Err(e) if errno_in(&e, &[libc::EEXIST]) => {
                tracing::debug!(ifindex, %addr, prefix_len, "address already present");
                Ok(())
            }
            Err(e) => Err(with_context(
                e,
                format_args!("add address {addr}/{prefix_len} on ifindex {ifindex}"),
            )),
        }
    }

    /// Adds a route to `dest/prefix_len` out of interface `ifindex` with
    /// `attrs`. Host bits of `dest` are cleared. Succeeds if the route
    /// already exists.
    pub async fn add_route(
        &self,
        ifindex: u32,
        dest: IpAddr,
        prefix_len: u8,
        attrs: RouteAttrs,
    ) -> io::Result<()> {
        self.change_route(RouteOp::Add, ifindex, dest, prefix_len, attrs)
            .await
    }

    /// Deletes the route added by [`Netlink::add_route`] with the same
    /// arguments. Succeeds if no such route exists.
    pub async fn del_route(
        &self,
        ifindex: u32,
        dest: IpAddr,
        prefix_len: u8,
        attrs: RouteAttrs,
    ) -> io::Result<()> {
        self.change_route(RouteOp::Del, ifindex, dest, prefix_len, attrs)
            .await
    }

    /// Adds or deletes a route, treating "already so" (EEXIST on add,
    /// ENOENT/ESRCH on delete) as success.
    async fn change_route(
        &self,
        op: RouteOp,
        ifindex: u32,
        dest: IpAddr,
        prefix_len: u8,
        attrs: RouteAttrs,
    ) -> io::Result<()> {
        let spec = RouteSpec {
            ifindex,
            dest: network(dest, prefix_len)?,
            prefix_len,
            attrs,
        };
        let (table, metric) = (attrs.table, attrs.metric);
        let (verb, already): (&str, &[i32]) = match op {
            RouteOp::Add => ("add", &[libc::EEXIST]),
            RouteOp::Del => ("delete", &[libc::ENOENT, libc::ESRCH]),
        };
        match self.route_op(&spec, op).await.map_err(to_io) {
            Ok(()) => {
                tracing::debug!(ifindex, dest = %spec.dest, prefix_len, ?table, ?metric, "{verb} route done");
                Ok(())
            }
            Err(e) if errno_in(&e, already) => {
                tracing::debug!(ifindex, dest = %spec.dest, prefix_len, ?table, "{verb} route: already so");
                Ok(())
            }
            Err(e) => Err(with_context(
                e,
                format_args!(
                    "{verb} route {}/{prefix_len} via ifindex {ifindex}",
                    spec.dest
                ),
            )),
        }
    }

    /// Sends RTM_NEWROUTE or RTM_DELROUTE for `spec`. The delete message is
    /// built exactly like the add (same protocol, scope, type, table, oif,
    /// priority) so the kernel matches the route we created.
    async fn route_op(&self, spec: &RouteSpec, op: RouteOp) -> Result<(), rtnetlink::Error> {
        let mut req = self.handle.route().add().output_interface(spec.ifindex);
        if let Some(table) = spec.attrs.table {
            req = req.table_id(table);
        }
        if let Some(metric) = spec.attrs.metric {
            req = req.priority(metric);
        }
        if spec.attrs.bgp {
            req = req.protocol(RouteProtocol::Bgp);
        }
        // The v4/v6 arms differ only in the request's marker type.
        macro_rules! run {
            ($typed:expr) => {{
                let mut typed = $typed;
                match op {
                    RouteOp::Add => typed.execute().await,
                    RouteOp::Del => {
                        let message = typed.message_mut().clone();
                        self.handle.route().del(message).execute().await
                    }
                }
            }};
        }
        match spec.dest {
            IpAddr::V4(a) => run!(req.v4().destination_prefix(a, spec.prefix_len)),
            IpAddr::V6(a) => run!(req.v6().destination_prefix(a, spec.prefix_len)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn network_masks_host_bits() {
        let n = |s: &str, p| network(s.parse().unwrap(), p).unwrap().to_string();
        assert_eq!(n("10.78.0.5", 16), "10.78.0.0");
        assert_eq!(n("10.78.0.5", 32), "10.78.0.5");
        assert_eq!(n("10.78.0.5", 0), "0.0.0.0");
        assert_eq!(n("fd00:78::5", 48), "fd00:78::");
        assert_eq!(n("fd00:78::5", 128), "fd00:78::5");
        assert_eq!(n("fd00:78::5", 0), "::");
    }

    #[test]
    fn network_rejects_long_prefix() {
        for (a, p) in [("10.0.0.0", 33), ("::", 129)] {
            let err = network(a.parse().unwrap(), p).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        }
    }

    #[test]
    fn new_outside_runtime_is_an_error() {
        assert!(Netlink::new().is_err());
    }
}
