//! NAT detection (RFC 7296 §2.23): each side sends
//! SHA-1(SPIi | SPIr | IP | port) for its own and the peer's address; a
//! mismatch means a NAT rewrote one of them.

use crate::wire::{Notify, NotifyType};
use ring::digest;
use std::net::{IpAddr, SocketAddr};

/// The NAT_DETECTION_*_IP hash for an address.
pub fn hash(spi_i: u64, spi_r: u64, addr: SocketAddr) -> Vec<u8> {
    let mut ctx = digest::Context::new(&digest::SHA1_FOR_LEGACY_USE_ONLY);
    ctx.update(&spi_i.to_be_bytes());
    ctx.update(&spi_r.to_be_bytes());
    match addr.ip() {
        IpAddr::V4(a) => ctx.update(&a.octets()),
        IpAddr::V6(a) => ctx.update(&a.octets()),
    }
    ctx.update(&addr.port().to_be_bytes());
    ctx.finish().as_ref().to_vec()
}

/// The two notifies a message from `local` to `remote` carries. With
/// `fake_source` the source hash is of no real address, so the peer sees a
/// NAT and encapsulates ESP in UDP: how strongSwan's `encap = yes` works.
pub fn notifies(
    spi_i: u64,
    spi_r: u64,
    local: SocketAddr,
    remote: SocketAddr,
    fake_source: bool,
) -> [Notify; 2] {
    let source = if fake_source {
        SocketAddr::from(([0, 0, 0, 0], 0))
    } else {
        local
    };
    [
        Notify::new(NotifyType::NatDetectionSourceIp, hash(spi_i, spi_r, source)),
        Notify::new(
            NotifyType::NatDetectionDestinationIp,
            hash(spi_i, spi_r, remote),
        ),
    ]
}

/// Whether a NAT sits between us, judged from the peer's notifies in a
/// message it sent from `remote` to our `local`, hashed with the SPIs that
/// message's header carried (SPIr is 0 in the IKE_SA_INIT request). No
/// notifies: no NAT-T.
pub fn detected<'a>(
    spi_i: u64,
    spi_r: u64,
    local: SocketAddr,
    remote: SocketAddr,
    peer_notifies: impl Iterator<Item = &'a Notify>,
) -> bool {
    let all: Vec<&Notify> = peer_notifies.collect();
    let sources: Vec<&&Notify> = all
        .iter()
        .filter(|n| n.notify_type == NotifyType::NatDetectionSourceIp)
        .collect();
    let dest = all
        .iter()
        .find(|n| n.notify_type == NotifyType::NatDetectionDestinationIp);
    let Some(dest) = dest else { return false };
    let them_nat = !sources.iter().any(|n| n.data == hash(spi_i, spi_r, remote));
    let us_nat = dest.data != hash(spi_i, spi_r, local);
    them_nat || us_nat
}
