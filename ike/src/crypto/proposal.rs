//! Proposals in strongSwan's syntax: algorithm keywords joined by `-`, for
//! example `aes256gcm16-prfsha384-ecp384` (IKE) or `aes256-sha256-modp2048`
//! (ESP, with a PFS group).
//!
//! Several keywords of one kind offer alternatives, in order of preference
//! (`aes256-aes128-sha256-ecp256-modp2048`), as several transforms of one
//! type do in an IKEv2 proposal (RFC 7296 §3.3). As in strongSwan:
//!
//! - a proposal has AEAD ciphers or classic ones, never both;
//! - an IKE proposal with classic ciphers that names no PRF gets the PRFs
//!   matching its integrity algorithms (`sha256` → `prfsha256`);
//! - an IKE proposal with AEAD ciphers must name its PRF;
//! - an IKE proposal must name a Diffie-Hellman group; an ESP proposal may
//!   (for PFS), and may end in `esn` and/or `noesn` (default `noesn`).
//!
//! The algorithms Azure's custom IPsec policies still offer and RFC 8247
//! deprecates (SHA-1 integrity and PRF, MODP-1024 = group 2, and the RFC
//! 5114 group 24) are refused unless [`LegacyAlgorithms::Allow`] is given.

use super::algorithms::{AesKeySize, DhGroup, Encr, Esn, Integ, Prf};
use super::suite::IkeSuite;
use std::fmt;

/// Whether legacy algorithms (`sha1`, `prfsha1`, `modp1024`,
/// `modp2048s256`) may be configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LegacyAlgorithms {
    Refuse,
    Allow,
}

/// An IKE SA proposal: the algorithms offered or accepted for each type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IkeProposal {
    encr: Vec<Encr>,
    integ: Vec<Integ>,
    prf: Vec<Prf>,
    dh: Vec<DhGroup>,
}

/// A Child SA (ESP) proposal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EspProposal {
    encr: Vec<esp::Encryption>,
    integ: Vec<esp::Integrity>,
    dh: Vec<DhGroup>,
    esn: Vec<Esn>,
}

/// Which kind of proposal failed to parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Ike,
    Esp,
}

/// A proposal that could not be used, naming the offending keyword.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProposalError {
    pub protocol: Protocol,
    pub proposal: String,
    pub kind: ProposalErrorKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProposalErrorKind {
    /// The proposal is empty, or has an empty keyword (`aes256--sha256`).
    Empty,
    /// Not a keyword strongSwan or vwand knows.
    UnknownToken(String),
    /// A known algorithm that vwand does not offer.
    Unsupported {
        token: String,
        reason: Unsupported,
    },
    /// A legacy algorithm without [`LegacyAlgorithms::Allow`].
    Legacy(String),
    /// A PRF in an ESP proposal, or ESN in an IKE one.
    WrongProtocol(String),
    NoEncryption,
    /// A classic cipher needs an integrity algorithm.
    NoIntegrity,
    /// An AEAD cipher takes no integrity algorithm.
    AeadWithIntegrity(String),
    /// AEAD and classic ciphers in one proposal.
    MixedAead,
    /// An IKE proposal with an AEAD cipher names no PRF.
    NoPrf,
    /// An IKE proposal names no Diffie-Hellman group.
    NoDhGroup,
}

/// Why a recognised algorithm is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unsupported {
    /// Broken or too weak (DES, 3DES, MD5, MODP-768, NULL).
    Weak,
    /// Sound, but not implemented here.
    NotImplemented,
    /// Available for IKE, but not in vwand's ESP data plane (SHA-384).
    NotInEsp,
}

enum Token {
    Encr(Encr),
    Integ(Integ),
    Prf(Prf),
    Dh(DhGroup),
    Esn(Esn),
}

/// Keywords of each kind, split out of a proposal string.
#[derive(Default)]
struct Tokens {
    encr: Vec<Encr>,
    integ: Vec<(Integ, String)>,
    prf: Vec<Prf>,
    dh: Vec<DhGroup>,
    esn: Vec<Esn>,
}

impl LegacyAlgorithms {
    fn admit(self, raw: &str, t: Token) -> Result<Token, ProposalErrorKind> {
        match self {
            LegacyAlgorithms::Allow => Ok(t),
            LegacyAlgorithms::Refuse => Err(ProposalErrorKind::Legacy(raw.to_string())),
        }
    }
}

/// What is wrong with a legacy keyword, for its error message.
fn legacy_reason(token: &str) -> &'static str {
    match token.trim().to_ascii_lowercase().as_str() {
        "modp1024" => "MODP-1024 (DH group 2), about 80 bits of security",
        "modp2048s256" => "DH group 24 (RFC 5114), a group of unexplained origin",
        _ => "SHA-1, whose collision resistance is broken",
    }
}

impl IkeProposal {
    pub fn parse(text: &str, legacy: LegacyAlgorithms) -> Result<Self, ProposalError> {
        let err = |kind| ProposalError {
            protocol: Protocol::Ike,
            proposal: text.trim().to_string(),
            kind,
        };
        let t = Tokens::split(text, legacy, Protocol::Ike).map_err(err)?;
        check_ciphers(&t).map_err(err)?;
        let integ: Vec<Integ> = t.integ.iter().map(|(i, _)| *i).collect();
        let mut prf = t.prf;
        if prf.is_empty() {
            if integ.is_empty() {
                return Err(err(ProposalErrorKind::NoPrf));
            }
            for i in &integ {
                push_unique(&mut prf, matching_prf(*i));
            }
        }
        if t.dh.is_empty() {
            return Err(err(ProposalErrorKind::NoDhGroup));
        }
        Ok(Self {
            encr: t.encr,
            integ,
            prf,
            dh: t.dh,
        })
    }

    pub fn encr(&self) -> &[Encr] {
        &self.encr
    }

    /// Empty for AEAD proposals.
    pub fn integ(&self) -> &[Integ] {
        &self.integ
    }

    pub fn prf(&self) -> &[Prf] {
        &self.prf
    }

    pub fn dh(&self) -> &[DhGroup] {
        &self.dh
    }

    /// The legacy algorithms it offers (see [`LegacyAlgorithms`]), by name.
    pub fn legacy(&self) -> Vec<String> {
        let integ = self
            .integ
            .iter()
            .filter(|i| i.is_legacy())
            .map(Integ::to_string);
        let prf = self
            .prf
            .iter()
            .filter(|p| p.is_legacy())
            .map(Prf::to_string);
        let dh = self
            .dh
            .iter()
            .filter(|g| g.is_legacy())
            .map(DhGroup::to_string);
        integ.chain(prf).chain(dh).collect()
    }

    /// The first algorithm of each kind: what an initiator guesses its KE
    /// payload for, and the suite if the peer takes the first of each.
    pub fn preferred(&self) -> IkeSuite {
        let suite = IkeSuite::new(
            self.encr[0],
            self.integ.first().copied(),
            self.prf[0],
            self.dh[0],
        );
        // `parse` checked AEAD ⇔ no integrity and that no list is empty.
        suite.unwrap_or_else(|_| unreachable!("IkeProposal invariants"))
    }
}

impl EspProposal {
    pub fn parse(text: &str, legacy: LegacyAlgorithms) -> Result<Self, ProposalError> {
        let err = |kind| ProposalError {
            protocol: Protocol::Esp,
            proposal: text.trim().to_string(),
            kind,
        };
        let t = Tokens::split(text, legacy, Protocol::Esp).map_err(err)?;
        check_ciphers(&t).map_err(err)?;
        let mut integ = Vec::new();
        for (i, token) in &t.integ {
            let i = esp::Integrity::try_from(*i).map_err(|_| {
                err(ProposalErrorKind::Unsupported {
                    token: token.clone(),
                    reason: Unsupported::NotInEsp,
                })
            })?;
            integ.push(i);
        }
        let esn = if t.esn.is_empty() {
            vec![Esn::NoEsn]
        } else {
            t.esn
        };
        Ok(Self {
            encr: t.encr.into_iter().map(esp::Encryption::from).collect(),
            integ,
            dh: t.dh,
            esn,
        })
    }

    pub fn encr(&self) -> &[esp::Encryption] {
        &self.encr
    }

    /// Empty for AEAD proposals.
    pub fn integ(&self) -> &[esp::Integrity] {
        &self.integ
    }

    /// The PFS groups; empty when the Child SA is keyed without one.
    pub fn dh(&self) -> &[DhGroup] {
        &self.dh
    }

    pub fn esn(&self) -> &[Esn] {
        &self.esn
    }

    /// The legacy algorithms it offers (see [`LegacyAlgorithms`]), by name.
    pub fn legacy(&self) -> Vec<String> {
        let integ = self.integ.iter().filter(|i| i.is_legacy());
        let integ = integ.map(|i| Integ::from(*i).to_string());
        let dh = self
            .dh
            .iter()
            .filter(|g| g.is_legacy())
            .map(DhGroup::to_string);
        integ.chain(dh).collect()
    }

    /// Every ESP transform the proposal allows, most preferred first.
    pub fn transforms(&self) -> Vec<esp::Transform> {
        let integ: Vec<Option<esp::Integrity>> = if self.integ.is_empty() {
            vec![None]
        } else {
            self.integ.iter().copied().map(Some).collect()
        };
        self.encr
            .iter()
            .flat_map(|&encryption| {
                integ.iter().map(move |&integrity| esp::Transform {
                    encryption,
                    integrity,
                })
            })
            .collect()
    }
}

impl Tokens {
    fn split(
        text: &str,
        legacy: LegacyAlgorithms,
        proto: Protocol,
    ) -> Result<Self, ProposalErrorKind> {
        let text = text.trim();
        if text.is_empty() {
            return Err(ProposalErrorKind::Empty);
        }
        let mut t = Tokens::default();
        for raw in text.split('-') {
            if raw.trim().is_empty() {
                return Err(ProposalErrorKind::Empty);
            }
            match (classify(raw, legacy)?, proto) {
                (Token::Encr(e), _) => push_unique(&mut t.encr, e),
                (Token::Integ(i), _) => {
                    if !t.integ.iter().any(|(j, _)| *j == i) {
                        t.integ.push((i, raw.to_string()));
                    }
                }
                (Token::Prf(p), Protocol::Ike) => push_unique(&mut t.prf, p),
                (Token::Dh(g), _) => push_unique(&mut t.dh, g),
                (Token::Esn(e), Protocol::Esp) => push_unique(&mut t.esn, e),
                (Token::Prf(_), Protocol::Esp) | (Token::Esn(_), Protocol::Ike) => {
                    return Err(ProposalErrorKind::WrongProtocol(raw.to_string()))
                }
            }
        }
        Ok(t)
    }
}

fn check_ciphers(t: &Tokens) -> Result<(), ProposalErrorKind> {
    let Some(first) = t.encr.first() else {
        return Err(ProposalErrorKind::NoEncryption);
    };
    let aead = first.is_aead();
    if t.encr.iter().any(|e| e.is_aead() != aead) {
        return Err(ProposalErrorKind::MixedAead);
    }
    match (aead, t.integ.first()) {
        (true, Some((_, token))) => Err(ProposalErrorKind::AeadWithIntegrity(token.clone())),
        (false, None) => Err(ProposalErrorKind::NoIntegrity),
        _ => Ok(()),
    }
}

/// strongSwan's implied PRF for an integrity algorithm.
fn matching_prf(i: Integ) -> Prf {
    match i {
        Integ::HmacSha1_96 => Prf::HmacSha1,
        Integ::HmacSha256_128 => Prf::HmacSha256,
        Integ::HmacSha384_192 => Prf::HmacSha384,
        Integ::HmacSha512_256 => Prf::HmacSha512,
    }
}

fn push_unique<T: PartialEq>(v: &mut Vec<T>, x: T) {
    if !v.contains(&x) {
        v.push(x);
    }
}

/// The keywords `classify` accepts, for error messages.
const SUPPORTED_IKE: &str =
    "encryption aes128, aes256, aes128gcm16, aes256gcm16, chacha20poly1305; \
integrity sha256, sha384, sha512; PRF prfsha256, prfsha384, prfsha512; \
groups modp2048, ecp256, ecp384, x25519; with allow_legacy also sha1, prfsha1, modp1024, \
modp2048s256";
const SUPPORTED_ESP: &str =
    "encryption aes128, aes256, aes128gcm16, aes256gcm16, chacha20poly1305; \
integrity sha256, sha512; PFS groups modp2048, ecp256, ecp384, x25519; esn, noesn; \
with allow_legacy also sha1, modp1024, modp2048s256";

fn classify(raw: &str, legacy: LegacyAlgorithms) -> Result<Token, ProposalErrorKind> {
    use AesKeySize::{Aes128, Aes256};
    let token = raw.trim().to_ascii_lowercase();
    let t = match token.as_str() {
        "aes" | "aes128" => Token::Encr(Encr::AesCbc(Aes128)),
        "aes256" => Token::Encr(Encr::AesCbc(Aes256)),
        "aes128gcm16" | "aes128gcm128" | "aes128gcm" => Token::Encr(Encr::AesGcm16(Aes128)),
        "aes256gcm16" | "aes256gcm128" | "aes256gcm" => Token::Encr(Encr::AesGcm16(Aes256)),
        "chacha20poly1305" => Token::Encr(Encr::ChaCha20Poly1305),
        "sha1" | "sha" => legacy.admit(raw, Token::Integ(Integ::HmacSha1_96))?,
        "sha256" | "sha2_256" => Token::Integ(Integ::HmacSha256_128),
        "sha384" | "sha2_384" => Token::Integ(Integ::HmacSha384_192),
        "sha512" | "sha2_512" => Token::Integ(Integ::HmacSha512_256),
        "prfsha1" => legacy.admit(raw, Token::Prf(Prf::HmacSha1))?,
        "prfsha256" => Token::Prf(Prf::HmacSha256),
        "prfsha384" => Token::Prf(Prf::HmacSha384),
        "prfsha512" => Token::Prf(Prf::HmacSha512),
        "modp1024" => legacy.admit(raw, Token::Dh(DhGroup::Modp1024))?,
        "modp2048" => Token::Dh(DhGroup::Modp2048),
        "modp2048s256" => legacy.admit(raw, Token::Dh(DhGroup::Modp2048s256))?,
        "ecp256" => Token::Dh(DhGroup::Ecp256),
        "ecp384" => Token::Dh(DhGroup::Ecp384),
        "x25519" | "curve25519" => Token::Dh(DhGroup::Curve25519),
        "esn" => Token::Esn(Esn::Esn),
        "noesn" => Token::Esn(Esn::NoEsn),
        other => {
            let reason =
                refused(other).ok_or_else(|| ProposalErrorKind::UnknownToken(raw.to_string()))?;
            return Err(ProposalErrorKind::Unsupported {
                token: raw.to_string(),
                reason,
            });
        }
    };
    Ok(t)
}

/// Keywords strongSwan knows that vwand refuses, and why.
fn refused(token: &str) -> Option<Unsupported> {
    const WEAK: &[&str] = &[
        "des", "3des", "null", "md5", "md5_128", "sha1_160", "prfmd5", "modp768",
    ];
    const NOT_IMPLEMENTED: &[&str] = &[
        "aes192",
        "aesxcbc",
        "aescmac",
        "prfaesxcbc",
        "prfaescmac",
        "sha256_96",
        "modp1536",
        "modp3072",
        "modp4096",
        "modp6144",
        "modp8192",
        "modp1024s160",
        "modp2048s224",
        "ecp192",
        "ecp224",
        "ecp521",
        "x448",
        "curve448",
    ];
    const NOT_IMPLEMENTED_PREFIXES: &[&str] = &[
        "aes128gcm",
        "aes192gcm",
        "aes256gcm",
        "aes128ccm",
        "aes192ccm",
        "aes256ccm",
        "aes128ctr",
        "aes192ctr",
        "aes256ctr",
        "camellia",
        "blowfish",
        "cast128",
        "serpent",
        "twofish",
        "ecp",
    ];
    if WEAK.contains(&token) {
        Some(Unsupported::Weak)
    } else if NOT_IMPLEMENTED.contains(&token)
        || NOT_IMPLEMENTED_PREFIXES
            .iter()
            .any(|p| token.starts_with(p))
    {
        Some(Unsupported::NotImplemented)
    } else {
        None
    }
}

impl fmt::Display for IkeProposal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut words: Vec<String> = self.encr.iter().map(Encr::to_string).collect();
        words.extend(self.integ.iter().map(Integ::to_string));
        words.extend(self.prf.iter().map(Prf::to_string));
        words.extend(self.dh.iter().map(DhGroup::to_string));
        f.write_str(&words.join("-"))
    }
}

impl fmt::Display for EspProposal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut words: Vec<String> = self
            .encr
            .iter()
            .map(|e| Encr::from(*e).to_string())
            .collect();
        words.extend(self.integ.iter().map(|i| Integ::from(*i).to_string()));
        words.extend(self.dh.iter().map(DhGroup::to_string));
        if self.esn != [Esn::NoEsn] {
            words.extend(self.esn.iter().map(Esn::to_string));
        }
        f.write_str(&words.join("-"))
    }
}

impl fmt::Display for ProposalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let proto = match self.protocol {
            Protocol::Ike => "IKE",
            Protocol::Esp => "ESP",
        };
        write!(f, "invalid {proto} proposal {:?}: ", self.proposal)?;
        use ProposalErrorKind as K;
        match &self.kind {
            K::Empty => f.write_str("empty algorithm keyword"),
            K::UnknownToken(t) => write!(
                f,
                "unknown algorithm {t:?}; vwand knows {}",
                match self.protocol {
                    Protocol::Ike => SUPPORTED_IKE,
                    Protocol::Esp => SUPPORTED_ESP,
                }
            ),
            K::Unsupported { token, reason } => match reason {
                Unsupported::Weak => write!(f, "{token:?} is too weak and is not supported"),
                Unsupported::NotImplemented => write!(f, "{token:?} is not supported by vwand"),
                Unsupported::NotInEsp => write!(
                    f,
                    "{token:?} is not available for ESP (use sha256 or sha512)"
                ),
            },
            K::Legacy(t) => write!(
                f,
                "{t:?} ({}) is deprecated by RFC 8247 and refused; set allow_legacy = true in \
                 [tunnel.ike] to talk to a peer that offers nothing better (Azure's default \
                 policy)",
                legacy_reason(t)
            ),
            K::WrongProtocol(t) => write!(f, "{t:?} cannot be used in an {proto} proposal"),
            K::NoEncryption => f.write_str("no encryption algorithm"),
            K::NoIntegrity => {
                f.write_str("a CBC cipher needs an integrity algorithm (sha256, sha384 or sha512)")
            }
            K::AeadWithIntegrity(t) => write!(
                f,
                "{t:?} is an integrity algorithm, which an AEAD cipher does not take"
            ),
            K::MixedAead => f.write_str(
                "AEAD and non-AEAD ciphers cannot share a proposal; write two proposals",
            ),
            K::NoPrf => f.write_str("an AEAD cipher needs a PRF (e.g. prfsha256)"),
            K::NoDhGroup => {
                f.write_str("no Diffie-Hellman group (e.g. ecp256, x25519 or modp2048)")
            }
        }
    }
}

impl std::error::Error for ProposalError {}
