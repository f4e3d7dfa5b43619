//! The IKE SA state machine: IKE_SA_INIT, IKE_AUTH with PSK, the first
//! Child SA, liveness and DELETE. Rekeying (CREATE_CHILD_SA) comes next.

mod auth;
mod collision;
mod collision_ike;
pub mod cookie;
mod fragment;
mod ike_sa;
mod info;
mod init;
mod liveness;
pub mod nat;
pub mod negotiate;
mod protect;
mod rekey;
mod rekey_ike;
mod retired;
pub mod retransmit;
pub mod selectors;
mod types;
pub mod window;

pub use cookie::CookieGate;
pub use fragment::{DEFAULT_FRAGMENT_SIZE, MAX_FRAGMENT_SIZE, MIN_FRAGMENT_SIZE};
pub use ike_sa::{IkeSa, Role, IKE_PORT, NAT_T_PORT};
pub use init::{is_init_request, Accepted};
pub use retransmit::RetransmitConfig;
pub use types::*;
