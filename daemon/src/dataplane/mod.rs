//! The data plane: TUN ↔ ESP, one outbound task per TUN queue and one
//! inbound task per transport socket. Each task owns its buffers and its
//! inbound SAs; outbound SAs are shared by the queues' tasks through
//! atomics. Nothing on the packet path allocates, and nothing takes a lock
//! but, with several queues, the workers' turn to seal and send.

pub mod icmp;
pub mod inbound;
pub mod ip;
pub mod mss;
pub mod outbound;
pub mod queues;
pub mod report;
pub mod route;
pub mod socket;
