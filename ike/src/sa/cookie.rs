//! Responder DoS protection with stateless cookies (RFC 7296 §2.6).
//!
//! ```text
//! Initiator                          Responder
//! HDR(A,0), SAi1, KEi, Ni       -->
//!                               <--  HDR(A,0), N(COOKIE)
//! HDR(A,0), N(COOKIE), SAi1,
//!     KEi, Ni                   -->
//!                               <--  HDR(A,B), SAr1, KEr, Nr, [N(CERTREQ)]
//! ```
//!
//! §2.6: "Cookie = <VersionIDofSecret> | Hash(Ni | IPi | SPIi | <secret>)
//! where <secret> is a randomly generated secret known only to the
//! responder and periodically changed". Here the hash is HMAC-SHA-256 keyed
//! with the secret, truncated to 16 octets, after one octet of version.
//! §2.6 allows keeping "the old value of <secret> around for a short time
//! and accept cookies computed from either one": the previous secret stays
//! valid for [`COOKIE_GRACE`] after it is replaced.
//!
//! The gate keeps no state per initiator, reads no clock and does no IO:
//! the owner passes `now`, the source address and the decoded request, and
//! the number of half-open responder SAs it holds.

use super::init::{is_init_request, stateless_reply};
use super::types::Transmit;
use crate::crypto::{ct_eq, Rng, RngFailure};
use crate::wire::{Message, Notify, NotifyType, Payload};
use ring::hmac;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};
use zeroize::Zeroize;

/// A secret is replaced this long after it was made.
pub const COOKIE_ROTATE: Duration = Duration::from_secs(60);
/// Cookies made with the previous secret are still accepted this long
/// after it was due to be replaced (one round trip needs far less).
pub const COOKIE_GRACE: Duration = Duration::from_secs(10);
/// The truncated HMAC; the cookie is one octet longer (§3.10.1: 1 to 64).
const TAG_LEN: usize = 16;
const SECRET_LEN: usize = 32;

/// What to do with an IKE_SA_INIT request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Go on: hand it to [`super::IkeSa::accept`].
    Accept,
    /// Send this stateless reply (only N(COOKIE)) and keep nothing.
    Cookie(Transmit),
    /// Drop it: too many half-open SAs, even with a valid cookie.
    Refuse,
}

/// The gate's counters since it was made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CookieStats {
    /// N(COOKIE) replies sent.
    pub sent: u64,
    /// Requests whose cookie verified.
    pub verified: u64,
    /// Requests with a cookie that did not verify (wrong Ni, address or
    /// SPI, or an expired secret).
    pub invalid: u64,
    /// Requests dropped at the half-open cap.
    pub refused: u64,
}

struct Secret {
    version: u8,
    key: hmac::Key,
    made: Instant,
}

/// Decides, per IKE_SA_INIT request, whether the responder creates state.
pub struct CookieGate {
    rng: Box<dyn Rng + Send>,
    /// Cookies are required at this many half-open SAs (0: always).
    threshold: usize,
    /// No new half-open SA at this many.
    max_half_open: usize,
    current: Secret,
    previous: Option<Secret>,
    stats: CookieStats,
}

impl std::fmt::Debug for CookieGate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secrets.
        f.debug_struct("CookieGate")
            .field("threshold", &self.threshold)
            .field("max_half_open", &self.max_half_open)
            .field("version", &self.current.version)
            .field("stats", &self.stats)
            .finish()
    }
}

fn new_secret(rng: &mut dyn Rng, version: u8, now: Instant) -> Result<Secret, RngFailure> {
    let mut bytes = [0u8; SECRET_LEN];
    rng.fill(&mut bytes)?;
    let key = hmac::Key::new(hmac::HMAC_SHA256, &bytes);
    bytes.zeroize();
    Ok(Secret {
        version,
        key,
        made: now,
    })
}

fn ip_octets(ip: IpAddr) -> Vec<u8> {
    match ip {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    }
}

/// <VersionIDofSecret> | HMAC-SHA-256(secret, Ni | IPi | SPIi), truncated.
fn cookie(secret: &Secret, ni: &[u8], ip: IpAddr, spi_i: u64) -> Vec<u8> {
    let mut ctx = hmac::Context::with_key(&secret.key);
    ctx.update(ni);
    ctx.update(&ip_octets(ip));
    ctx.update(&spi_i.to_be_bytes());
    let tag = ctx.sign();
    let mut out = Vec::with_capacity(1 + TAG_LEN);
    out.push(secret.version);
    out.extend_from_slice(tag.as_ref().get(..TAG_LEN).unwrap_or_default());
    out
}

impl CookieGate {
    /// A gate that requires cookies at `threshold` half-open SAs (0:
    /// always) and refuses new ones at `max_half_open`.
    pub fn new(
        now: Instant,
        threshold: usize,
        max_half_open: usize,
        mut rng: Box<dyn Rng + Send>,
    ) -> Result<Self, RngFailure> {
        let current = new_secret(rng.as_mut(), 1, now)?;
        Ok(Self {
            rng,
            threshold,
            max_half_open,
            current,
            previous: None,
            stats: CookieStats::default(),
        })
    }

    pub fn stats(&self) -> CookieStats {
        self.stats
    }

    /// New limits (a reload); the secrets stay.
    pub fn set_limits(&mut self, threshold: usize, max_half_open: usize) {
        self.threshold = threshold;
        self.max_half_open = max_half_open;
    }

    /// Whether a request would need a cookie now.
    pub fn required(&self, half_open: usize) -> bool {
        half_open >= self.threshold
    }

    /// Decides what happens to the IKE_SA_INIT request `msg` that came
    /// from `from` to `local`, while the owner holds `half_open` responder
    /// SAs that have not authenticated yet.
    pub fn check(
        &mut self,
        now: Instant,
        local: SocketAddr,
        from: SocketAddr,
        msg: &Message,
        half_open: usize,
    ) -> Verdict {
        self.rotate(now);
        let h = msg.header;
        let ni = msg.payloads.iter().find_map(|p| match p {
            Payload::Nonce(n) => Some(n.0.as_slice()),
            _ => None,
        });
        // Anything else is refused statelessly by `accept` or ignored.
        let Some(ni) = ni.filter(|_| is_init_request(&h)) else {
            return Verdict::Accept;
        };
        let required = self.required(half_open);
        let verified = match msg.notify(NotifyType::Cookie) {
            Some(c) if self.verify(now, &c.data, ni, from.ip(), h.spi_i) => {
                self.stats.verified += 1;
                true
            }
            Some(_) => {
                self.stats.invalid += 1;
                false
            }
            None => false,
        };
        // §2.6: a cookie that does not match may be answered "by sending
        // another response with a new cookie".
        if required && !verified {
            let c = cookie(&self.current, ni, from.ip(), h.spi_i);
            let notify = Notify::new(NotifyType::Cookie, c);
            return match stateless_reply(local, from, h.spi_i, notify) {
                Some(t) => {
                    self.stats.sent += 1;
                    Verdict::Cookie(t)
                }
                None => Verdict::Refuse,
            };
        }
        if half_open >= self.max_half_open {
            self.stats.refused += 1;
            return Verdict::Refuse;
        }
        Verdict::Accept
    }

    /// Checks a received cookie against the secret its version names, in
    /// constant time; the previous secret only within its grace period.
    fn verify(&self, now: Instant, received: &[u8], ni: &[u8], ip: IpAddr, spi_i: u64) -> bool {
        let Some(&version) = received.first() else {
            return false;
        };
        let previous = self
            .previous
            .as_ref()
            .filter(|p| now < p.made + COOKIE_ROTATE + COOKIE_GRACE);
        let secret = if version == self.current.version {
            &self.current
        } else {
            match previous {
                Some(p) if p.version == version => p,
                _ => return false,
            }
        };
        ct_eq(&cookie(secret, ni, ip, spi_i), received)
    }

    /// Replaces the secret once it is due; the old one becomes the
    /// previous. If the RNG fails, the current secret stays.
    fn rotate(&mut self, now: Instant) {
        if now < self.current.made + COOKIE_ROTATE {
            return;
        }
        let version = self.current.version.wrapping_add(1);
        if let Ok(next) = new_secret(self.rng.as_mut(), version, now) {
            self.previous = Some(std::mem::replace(&mut self.current, next));
        }
    }
}

#[cfg(test)]
#[path = "cookie_tests.rs"]
mod tests;
