//! The TUN device itself: creation via TUNSETIFF and link configuration
//! (MTU, up/down) via `SIOC*` ioctls.

use std::fs::OpenOptions;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;

use crate::ioctl;

/// Path of the TUN/TAP clone device.
pub const TUN_CLONE_DEVICE: &str = "/dev/net/tun";

/// Options for [`Tun::create`].
///
/// Construct with `TunOptions::default()` and struct-update syntax so that
/// future fields do not break callers:
/// `TunOptions { multi_queue: true, ..Default::default() }`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TunOptions {
    /// Create the device with `IFF_MULTI_QUEUE`. Each [`Tun`] is then one
    /// queue; more queues of the same device are opened with
    /// [`Tun::open_queue`], typically one per worker thread.
    pub multi_queue: bool,
    /// `IFF_VNET_HDR`: a virtio-net header in front of every packet read
    /// and written, with checksum, TSO (v4, v6) and, where the kernel has
    /// it (6.2+), USO offloads enabled through `TUNSETOFFLOAD`. A read may
    /// then return a super-packet of up to 64 KiB that the caller splits
    /// ([`crate::offload::gso`]), and every write must start with a header
    /// ([`crate::offload::gro`]). See [`Tun::offloads`].
    pub vnet_hdr: bool,
}

/// A Linux TUN interface (layer 3, `IFF_TUN | IFF_NO_PI`): reads return bare
/// IPv4/IPv6 packets, writes inject bare IP packets into the kernel stack.
///
/// The descriptor is non-blocking. The device lives as long as at least one
/// queue descriptor is open (it is not made persistent).
#[derive(Debug)]
pub struct Tun {
    fd: OwnedFd,
    name: String,
    ifindex: u32,
    opts: TunOptions,
    offloads: Offloads,
}

/// The offloads a [`TunOptions::vnet_hdr`] device was granted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Offloads {
    /// Reads and writes carry a virtio-net header.
    pub vnet_hdr: bool,
    /// TCP super-packets (TSO4, TSO6) and partial checksums.
    pub tso: bool,
    /// UDP super-packets (USO4, USO6; Linux 6.2+).
    pub uso: bool,
}

/// Asks for checksum, TSO and USO offloads, and without USO when the
/// kernel refuses it.
fn enable_offloads(fd: BorrowedFd<'_>, name: &str) -> io::Result<Offloads> {
    use ioctl::{TUN_F_CSUM, TUN_F_TSO4, TUN_F_TSO6, TUN_F_USO4, TUN_F_USO6};
    let tso = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6;
    if ioctl::tun_set_offload(fd, tso | TUN_F_USO4 | TUN_F_USO6).is_ok() {
        return Ok(Offloads {
            vnet_hdr: true,
            tso: true,
            uso: true,
        });
    }
    ioctl::tun_set_offload(fd, tso)
        .map_err(|e| io::Error::new(e.kind(), format!("TUNSETOFFLOAD on {name}: {e}")))?;
    Ok(Offloads {
        vnet_hdr: true,
        tso: true,
        uso: false,
    })
}

impl Tun {
    /// Creates (or attaches to) the TUN interface `name`.
    ///
    /// `name` may be empty or contain `%d` (e.g. `"vw%d"`); the kernel then
    /// picks the final name, available through [`Tun::name`]. Names longer
    /// than [`crate::MAX_IFNAME_LEN`] bytes are rejected with
    /// [`io::ErrorKind::InvalidInput`].
    pub fn create(name: &str, opts: TunOptions) -> io::Result<Tun> {
        let mut req = ioctl::ifreq_with_name(name)?;
        let mut flags = libc::IFF_TUN | libc::IFF_NO_PI;
        if opts.multi_queue {
            flags |= libc::IFF_MULTI_QUEUE;
        }
        if opts.vnet_hdr {
            flags |= libc::IFF_VNET_HDR;
        }
        // IFF_* TUN flags all fit in the 16-bit `ifr_flags`.
        req.ifr_ifru.ifru_flags = flags as libc::c_short;

        // std opens with O_CLOEXEC; O_NONBLOCK is requested up front so the
        // fd is never observable in blocking mode.
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(TUN_CLONE_DEVICE)
            .map_err(|e| io::Error::new(e.kind(), format!("open {TUN_CLONE_DEVICE}: {e}")))?;
        let fd = OwnedFd::from(file);

        ioctl::tun_set_iff(fd.as_fd(), &mut req)
            .map_err(|e| io::Error::new(e.kind(), format!("TUNSETIFF {name:?}: {e}")))?;
        let name = ioctl::name_from_ifreq(&req)?;
        let offloads = if opts.vnet_hdr {
            enable_offloads(fd.as_fd(), &name)?
        } else {
            Offloads::default()
        };
        let ifindex = nix::net::if_::if_nametoindex(name.as_str()).map_err(|e| {
            io::Error::new(
                io::Error::from(e).kind(),
                format!("if_nametoindex {name:?}: {e}"),
            )
        })?;

        tracing::debug!(
            tun = %name,
            ifindex,
            multi_queue = opts.multi_queue,
            tso = offloads.tso,
            uso = offloads.uso,
            "created TUN device"
        );
        Ok(Tun {
            fd,
            name,
            ifindex,
            opts,
            offloads,
        })
    }

    /// Opens one more queue of a multi-queue device (requires
    /// [`TunOptions::multi_queue`]). Each queue has its own descriptor and
    /// the kernel spreads flows across queues.
    pub fn open_queue(&self) -> io::Result<Tun> {
        if !self.opts.multi_queue {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "TUN {} was not created with multi_queue; cannot open another queue",
                    self.name
                ),
            ));
        }
        let queue = Tun::create(&self.name, self.opts)?;
        if queue.ifindex != self.ifindex {
            // The original device vanished and a new one took its name.
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("TUN {} no longer exists (ifindex changed)", self.name),
            ));
        }
        Ok(queue)
    }

    /// Actual interface name as assigned by the kernel.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Interface index (for netlink address/route calls).
    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    /// The offloads granted (all off without [`TunOptions::vnet_hdr`]).
    pub fn offloads(&self) -> Offloads {
        self.offloads
    }

    /// Options the device was created with.
    pub fn options(&self) -> TunOptions {
        self.opts
    }

    /// Sets the interface MTU (`SIOCSIFMTU`).
    pub fn set_mtu(&self, mtu: u32) -> io::Result<()> {
        let sock = ioctl::control_socket()?;
        ioctl::set_mtu(sock.as_fd(), &self.name, mtu).map_err(|e| {
            io::Error::new(e.kind(), format!("set MTU {mtu} on {}: {e}", self.name))
        })?;
        tracing::debug!(tun = %self.name, mtu, "set MTU");
        Ok(())
    }

    /// Sets how many packets the kernel queues for our reads before it
    /// drops (`SIOCSIFTXQLEN`; a TUN starts with 500).
    pub fn set_tx_queue_len(&self, len: u32) -> io::Result<()> {
        let sock = ioctl::control_socket()?;
        ioctl::set_tx_queue_len(sock.as_fd(), &self.name, len).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("set queue length {len} on {}: {e}", self.name),
            )
        })?;
        tracing::debug!(tun = %self.name, len, "set transmit queue length");
        Ok(())
    }

    /// Current transmit queue length (`SIOCGIFTXQLEN`).
    pub fn tx_queue_len(&self) -> io::Result<u32> {
        let sock = ioctl::control_socket()?;
        ioctl::get_tx_queue_len(sock.as_fd(), &self.name)
    }

    /// Current interface MTU (`SIOCGIFMTU`).
    pub fn mtu(&self) -> io::Result<u32> {
        let sock = ioctl::control_socket()?;
        ioctl::get_mtu(sock.as_fd(), &self.name)
    }

    /// Brings the interface administratively up (`IFF_UP`).
    pub fn set_up(&self) -> io::Result<()> {
        self.update_flags(|f| f | libc::IFF_UP as libc::c_short)?;
        tracing::debug!(tun = %self.name, "link up");
        Ok(())
    }

    /// Brings the interface administratively down.
    pub fn set_down(&self) -> io::Result<()> {
        self.update_flags(|f| f & !(libc::IFF_UP as libc::c_short))?;
        tracing::debug!(tun = %self.name, "link down");
        Ok(())
    }

    /// Whether the interface is administratively up.
    pub fn is_up(&self) -> io::Result<bool> {
        let sock = ioctl::control_socket()?;
        let flags = ioctl::get_flags(sock.as_fd(), &self.name)?;
        Ok(flags & libc::IFF_UP as libc::c_short != 0)
    }

    /// Read-modify-write of the interface flags (SIOCGIFFLAGS/SIOCSIFFLAGS).
    fn update_flags(&self, f: impl FnOnce(libc::c_short) -> libc::c_short) -> io::Result<()> {
        let sock = ioctl::control_socket()?;
        let flags = ioctl::get_flags(sock.as_fd(), &self.name)?;
        let new = f(flags);
        if new != flags {
            ioctl::set_flags(sock.as_fd(), &self.name, new).map_err(|e| {
                io::Error::new(e.kind(), format!("set flags on {}: {e}", self.name))
            })?;
        }
        Ok(())
    }
}

impl AsFd for Tun {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for Tun {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl From<Tun> for OwnedFd {
    fn from(tun: Tun) -> OwnedFd {
        tun.fd
    }
}
