//! Linux TUN device support for vwand.
//!
//! This crate owns the plaintext side of the VPN data path:
//!
//! * [`Tun`] — a layer-3 TUN interface (`IFF_TUN | IFF_NO_PI`, optionally
//!   `IFF_MULTI_QUEUE`) opened from `/dev/net/tun` with a non-blocking
//!   [`OwnedFd`](std::os::fd::OwnedFd); link configuration (MTU, up/down)
//!   through `SIOC*` ioctls.
//! * Allocation-free batched IO ([`Tun::read_batch`], [`Tun::write_batch`])
//!   into caller-owned buffers, with per-packet headroom so ESP/UDP/IP
//!   headers can be prepended in place.
//! * [`AsyncTun`] — tokio integration on top of
//!   [`tokio::io::unix::AsyncFd`].
//! * [`Netlink`] — idempotent address and route management (IPv4 and IPv6)
//!   over rtnetlink.
//! * [`RouteWatch`] — whether a peer is reachable from a local address,
//!   and notifications when links, addresses or routes change.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use std::net::Ipv4Addr;
//! use tun::{AsyncTun, Netlink, Tun, TunOptions};
//!
//! let tun = Tun::create("vw%d", TunOptions::default())?;
//! tun.set_mtu(1400)?;
//! tun.set_up()?;
//! let nl = Netlink::new()?;
//! nl.add_address(tun.ifindex(), Ipv4Addr::new(10, 77, 0, 1).into(), 24).await?;
//! nl.add_route(tun.ifindex(), Ipv4Addr::new(10, 78, 0, 0).into(), 16, Default::default()).await?;
//!
//! const HEADROOM: usize = 64;
//! let tun = AsyncTun::new(tun)?;
//! let mut bufs = vec![[0u8; 2048]; 32];
//! let mut lens = [0usize; 32];
//! let n = tun.read_batch(&mut bufs, HEADROOM, &mut lens).await?;
//! for (buf, len) in bufs.iter().zip(&lens).take(n) {
//!     let _packet = &buf[HEADROOM..HEADROOM + len];
//! }
//! # Ok(())
//! # }
//! ```
//!
//! Everything here is Linux-only and needs `CAP_NET_ADMIN`.

#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

mod async_io;
mod batch;
mod device;
mod ioctl;
pub mod netlink;
pub mod offload;
pub mod underlay;

pub use async_io::AsyncTun;
pub use device::{Offloads, Tun, TunOptions, TUN_CLONE_DEVICE};
pub use ioctl::MAX_IFNAME_LEN;
pub use netlink::{Netlink, RouteAttrs};
pub use underlay::{RouteWatch, Unreachable};
