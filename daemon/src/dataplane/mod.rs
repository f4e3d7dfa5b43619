//! The data plane: TUN ↔ ESP, one outbound task and one inbound task per
//! transport socket. Each task owns its SAs and buffers; nothing on the
//! packet path takes a lock or allocates.

pub mod fib;
pub mod icmp;
pub mod inbound;
pub mod ip;
pub mod mmsg;
pub mod mss;
pub mod outbound;
pub mod report;
pub mod select;
pub mod transport;
