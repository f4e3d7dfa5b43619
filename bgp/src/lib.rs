//! A BGP-4 speaker (RFC 4271) for vwand, sans-IO.
//!
//! Like `quinn-proto`, this crate performs no IO and reads no clock. A
//! [`Session`] is one BGP peering. The daemon owns the TCP connections and
//! feeds the session what happens to them:
//!
//! - getters: [`Session::state`], [`Session::rib`], [`Session::stats`];
//! - input: [`Session::handle_connected`], [`Session::handle_incoming`],
//!   [`Session::handle_data`], [`Session::handle_closed`],
//!   [`Session::handle_timeout`];
//! - commands: [`Session::start`], [`Session::stop`],
//!   [`Session::set_export`], [`Session::route_refresh`];
//! - output: [`Session::poll_action`] (dial, send octets, close),
//!   [`Session::poll_timeout`] and [`Session::poll_event`] (session up or
//!   down, routes learned or withdrawn).
//!
//! Supported: the RFC 4271 FSM with connection collision detection
//! (§6.8), capabilities (RFC 5492) for 4-octet AS (RFC 6793), IPv4 and
//! IPv6 unicast (RFC 4760) and route refresh (RFC 2918), RFC 7606 error
//! handling, RFC 8212 (nothing is imported or exported without a policy),
//! and a maximum-prefix limit (RFC 4486 Cease subcode 1). A session is
//! eBGP or iBGP (LOCAL_PREF, the path passed on unchanged); routes it
//! sends carry their own attributes ([`ExportRoute`]), and
//! [`redistribute`] decides what passes between vwand's Azure-facing and
//! on-premises sessions.

#![forbid(unsafe_code)]

pub mod guard;
pub mod redistribute;
mod rib;
pub mod select;
mod session;
pub mod wire;

pub use rib::{ImportPolicy, Rib, Route, RouteAttrs};
pub use select::{Candidate, Ranking};
pub use session::{
    Action, ConnId, DownReason, Event, ExportRoute, Session, SessionConfig, SessionStats, State,
    DEFAULT_LOCAL_PREF,
};

/// Azure drops a BGP session that receives more than 4,000 prefixes.
pub const AZURE_MAX_PREFIXES: usize = 4000;
/// Azure's VPN gateway BGP: ASN and timers.
pub const AZURE_ASN: u32 = 65515;
pub const AZURE_HOLD_TIME: u16 = 180;
