//! The underlay: whether the kernel can send to a peer from a local
//! address, and notifications when links, addresses or routes change
//! (rtnetlink multicast groups), so a tunnel whose outer path disappears
//! is noticed at once rather than by a timeout.

use futures::{StreamExt, TryStreamExt};
use netlink_packet_core::{NetlinkMessage, NetlinkPayload, NLM_F_REQUEST};
use netlink_packet_route::link::LinkFlag;
use netlink_packet_route::route::{RouteAddress, RouteAttribute, RouteMessage, RouteType};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{AsyncSocket, SocketAddr};
use rtnetlink::constants::{
    RTMGRP_IPV4_IFADDR, RTMGRP_IPV4_ROUTE, RTMGRP_IPV6_IFADDR, RTMGRP_IPV6_ROUTE, RTMGRP_LINK,
};
use rtnetlink::Handle;
use std::io;
use std::net::IpAddr;
use tokio::task::JoinHandle;

type Messages =
    futures::channel::mpsc::UnboundedReceiver<(NetlinkMessage<RouteNetlinkMessage>, SocketAddr)>;

/// Why a peer cannot be reached from here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unreachable {
    /// No route (or an unreachable, blackhole or prohibit route).
    NoRoute(String),
    /// The route's interface is down or has no carrier.
    LinkDown(u32),
}

impl std::fmt::Display for Unreachable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NoRoute(why) => write!(f, "no route ({why})"),
            Self::LinkDown(i) => write!(f, "interface {i} is down"),
        }
    }
}

/// A netlink socket subscribed to link, address and route changes, and a
/// second one for lookups.
pub struct RouteWatch {
    messages: Messages,
    handle: Handle,
    conns: [JoinHandle<()>; 2],
}

impl Drop for RouteWatch {
    fn drop(&mut self) {
        for c in &self.conns {
            c.abort();
        }
    }
}

impl RouteWatch {
    /// Opens the sockets in the current network namespace; needs a tokio
    /// runtime.
    pub fn new() -> io::Result<Self> {
        let rt = tokio::runtime::Handle::try_current()
            .map_err(|e| io::Error::other(format!("RouteWatch::new needs a tokio runtime: {e}")))?;
        let (mut conn, _, messages) = rtnetlink::new_connection()?;
        let groups = RTMGRP_LINK
            | RTMGRP_IPV4_IFADDR
            | RTMGRP_IPV6_IFADDR
            | RTMGRP_IPV4_ROUTE
            | RTMGRP_IPV6_ROUTE;
        conn.socket_mut()
            .socket_mut()
            .bind(&SocketAddr::new(0, groups))?;
        let (lookup_conn, handle, _) = rtnetlink::new_connection()?;
        Ok(Self {
            messages,
            handle,
            conns: [rt.spawn(conn), rt.spawn(lookup_conn)],
        })
    }

    /// Waits for the next change notification; `None` if the socket
    /// closed.
    pub async fn changed(&mut self) -> Option<()> {
        self.messages.next().await.map(|_| ())
    }

    /// Takes notifications already queued, without waiting.
    pub fn drain(&mut self) {
        while self.messages.try_recv().is_ok() {}
    }

    /// Whether the kernel would send to `peer` from `local`, out of an
    /// interface that is up with carrier (RTM_GETROUTE for the one
    /// destination, then the interface's flags).
    pub async fn check(&self, local: IpAddr, peer: IpAddr) -> Result<(), Unreachable> {
        let oif = self.route_oif(local, peer).await?;
        let mut links = self.handle.link().get().match_index(oif).execute();
        match links.try_next().await {
            Ok(Some(link)) => {
                let f = &link.header.flags;
                if f.contains(&LinkFlag::Up) && f.contains(&LinkFlag::LowerUp) {
                    Ok(())
                } else {
                    Err(Unreachable::LinkDown(oif))
                }
            }
            _ => Err(Unreachable::LinkDown(oif)),
        }
    }

    async fn route_oif(&self, local: IpAddr, peer: IpAddr) -> Result<u32, Unreachable> {
        let mut msg = RouteMessage::default();
        let (family, len, dst, src) = match (peer, local) {
            (IpAddr::V4(p), IpAddr::V4(l)) => (
                AddressFamily::Inet,
                32,
                RouteAddress::Inet(p),
                RouteAddress::Inet(l),
            ),
            (IpAddr::V6(p), IpAddr::V6(l)) => (
                AddressFamily::Inet6,
                128,
                RouteAddress::Inet6(p),
                RouteAddress::Inet6(l),
            ),
            _ => return Err(Unreachable::NoRoute("address families differ".into())),
        };
        msg.header.address_family = family;
        msg.header.destination_prefix_length = len;
        msg.header.source_prefix_length = len;
        msg.attributes.push(RouteAttribute::Destination(dst));
        msg.attributes.push(RouteAttribute::Source(src));
        let mut req = NetlinkMessage::from(RouteNetlinkMessage::GetRoute(msg));
        req.header.flags = NLM_F_REQUEST;
        let mut handle = self.handle.clone();
        let mut responses = handle
            .request(req)
            .map_err(|e| Unreachable::NoRoute(e.to_string()))?;
        while let Some(m) = responses.next().await {
            match m.payload {
                NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewRoute(r)) => {
                    if matches!(
                        r.header.kind,
                        RouteType::Unreachable | RouteType::BlackHole | RouteType::Prohibit
                    ) {
                        return Err(Unreachable::NoRoute(format!("{:?} route", r.header.kind)));
                    }
                    return r
                        .attributes
                        .iter()
                        .find_map(|a| match a {
                            RouteAttribute::Oif(i) => Some(*i),
                            _ => None,
                        })
                        .ok_or_else(|| Unreachable::NoRoute("route without interface".into()));
                }
                NetlinkPayload::Error(e) => {
                    return Err(Unreachable::NoRoute(e.to_io().to_string()));
                }
                _ => {}
            }
        }
        Err(Unreachable::NoRoute("no answer".into()))
    }
}
