//! Proposals on the wire and the responder's choice (RFC 7296 §2.7, §3.3).
//!
//! The responder takes the peer's proposals in the peer's order of
//! preference and, for each, looks for one of its own proposals that
//! accepts one transform of every type the peer offered; the answer holds
//! exactly one transform of each type.

use crate::crypto::{DhGroup, Encr, Esn, EspProposal, IkeProposal, IkeSuite, Integ, Prf};
use crate::wire::{self, Proposal, ProtocolId, Spi, Transform, TransformId};

/// An ESP transform chosen for a Child SA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EspChoice {
    pub transform: esp::Transform,
    pub esn: bool,
    /// The PFS group, when the exchange carries a KE (not in IKE_AUTH).
    pub dh: Option<DhGroup>,
}

fn encr_transform(e: Encr) -> Transform {
    let id = TransformId::Encr(e.id().into());
    match e.key_bits() {
        Some(bits) => Transform::with_key_length(id, bits),
        None => Transform::new(id),
    }
}

fn dh_transform(g: DhGroup) -> Transform {
    Transform::new(TransformId::Dh(g.id().into()))
}

/// Our IKE proposals, numbered from 1.
pub fn ike_sa_payload(ours: &[IkeProposal]) -> wire::Sa {
    let proposals = ours
        .iter()
        .zip(1u8..)
        .map(|(p, number)| {
            let mut transforms: Vec<Transform> =
                p.encr().iter().map(|&e| encr_transform(e)).collect();
            transforms.extend(
                p.prf()
                    .iter()
                    .map(|f| Transform::new(TransformId::Prf(f.id().into()))),
            );
            transforms.extend(
                p.integ()
                    .iter()
                    .map(|i| Transform::new(TransformId::Integ(i.id().into()))),
            );
            transforms.extend(p.dh().iter().map(|&g| dh_transform(g)));
            Proposal {
                number,
                protocol_id: ProtocolId::Ike,
                spi: Spi::Empty,
                transforms,
            }
        })
        .collect();
    wire::Sa { proposals }
}

/// The accepted IKE suite as the single proposal of a response.
pub fn ike_answer(number: u8, suite: IkeSuite) -> wire::Sa {
    let mut transforms = vec![
        encr_transform(suite.encr()),
        Transform::new(TransformId::Prf(suite.prf().id().into())),
    ];
    if let Some(i) = suite.integ() {
        transforms.push(Transform::new(TransformId::Integ(i.id().into())));
    }
    transforms.push(dh_transform(suite.dh()));
    wire::Sa {
        proposals: vec![Proposal {
            number,
            protocol_id: ProtocolId::Ike,
            spi: Spi::Empty,
            transforms,
        }],
    }
}

/// The transforms of one type in a wire proposal, in the peer's order.
fn of_type<T>(p: &Proposal, f: impl Fn(&Transform) -> Option<T>) -> Vec<T> {
    p.transforms.iter().filter_map(f).collect()
}

fn wire_encr(t: &Transform) -> Option<Encr> {
    match t.id {
        TransformId::Encr(id) => Encr::from_id(id.value(), t.key_length()),
        _ => None,
    }
}

fn wire_prf(t: &Transform) -> Option<Prf> {
    match t.id {
        TransformId::Prf(id) => Prf::from_id(id.value()),
        _ => None,
    }
}

fn wire_integ(t: &Transform) -> Option<Integ> {
    match t.id {
        TransformId::Integ(id) => Integ::from_id(id.value()),
        _ => None,
    }
}

fn wire_dh(t: &Transform) -> Option<DhGroup> {
    match t.id {
        TransformId::Dh(id) => DhGroup::from_id(id.value()),
        _ => None,
    }
}

fn wire_esn(t: &Transform) -> Option<Esn> {
    match t.id {
        TransformId::Esn(id) => Esn::from_id(id.value()),
        _ => None,
    }
}

fn has_type(p: &Proposal, ty: wire::TransformType) -> bool {
    p.transforms.iter().any(|t| t.id.transform_type() == ty)
}

fn first_common<T: Copy + PartialEq>(peer: &[T], ours: &[T]) -> Option<T> {
    peer.iter().copied().find(|x| ours.contains(x))
}

/// Chooses from the peer's IKE proposals. Returns the proposal number and
/// the suite, or `None` (NO_PROPOSAL_CHOSEN).
pub fn select_ike(peer: &wire::Sa, ours: &[IkeProposal]) -> Option<(u8, IkeSuite)> {
    for p in peer
        .proposals
        .iter()
        .filter(|p| p.protocol_id == ProtocolId::Ike)
    {
        let (encr, prf, integ, dh) = (
            of_type(p, wire_encr),
            of_type(p, wire_prf),
            of_type(p, wire_integ),
            of_type(p, wire_dh),
        );
        for o in ours {
            let Some(e) = first_common(&encr, o.encr()) else {
                continue;
            };
            let Some(f) = first_common(&prf, o.prf()) else {
                continue;
            };
            let Some(g) = first_common(&dh, o.dh()) else {
                continue;
            };
            let i = if e.is_aead() {
                None
            } else {
                match first_common(&integ, o.integ()) {
                    Some(i) => Some(i),
                    None => continue,
                }
            };
            if let Ok(suite) = IkeSuite::new(e, i, f, g) {
                return Some((p.number, suite));
            }
        }
    }
    None
}

/// Our ESP proposals for a Child SA with our inbound `spi`.
pub fn esp_sa_payload(ours: &[EspProposal], spi: u32, with_dh: bool) -> wire::Sa {
    let proposals = ours
        .iter()
        .zip(1u8..)
        .map(|(p, number)| {
            let mut transforms: Vec<Transform> = p
                .encr()
                .iter()
                .map(|&e| encr_transform(Encr::from(e)))
                .collect();
            transforms.extend(
                p.integ()
                    .iter()
                    .map(|&i| Transform::new(TransformId::Integ(Integ::from(i).id().into()))),
            );
            if with_dh {
                transforms.extend(p.dh().iter().map(|&g| dh_transform(g)));
            }
            transforms.extend(
                p.esn()
                    .iter()
                    .map(|e| Transform::new(TransformId::Esn(e.id().into()))),
            );
            Proposal {
                number,
                protocol_id: ProtocolId::Esp,
                spi: Spi::Ipsec(spi),
                transforms,
            }
        })
        .collect();
    wire::Sa { proposals }
}

/// The accepted ESP transform as the single proposal of a response.
pub fn esp_answer(number: u8, spi: u32, c: EspChoice) -> wire::Sa {
    let mut transforms = vec![encr_transform(Encr::from(c.transform.encryption))];
    if let Some(i) = c.transform.integrity {
        transforms.push(Transform::new(TransformId::Integ(
            Integ::from(i).id().into(),
        )));
    }
    if let Some(g) = c.dh {
        transforms.push(dh_transform(g));
    }
    let esn = if c.esn { Esn::Esn } else { Esn::NoEsn };
    transforms.push(Transform::new(TransformId::Esn(esn.id().into())));
    wire::Sa {
        proposals: vec![Proposal {
            number,
            protocol_id: ProtocolId::Esp,
            spi: Spi::Ipsec(spi),
            transforms,
        }],
    }
}

/// Chooses from the peer's ESP proposals. Returns the proposal number, the
/// peer's SPI and the choice. `with_dh`: the exchange carries a KE.
pub fn select_esp(
    peer: &wire::Sa,
    ours: &[EspProposal],
    with_dh: bool,
) -> Option<(u8, u32, EspChoice)> {
    for p in peer
        .proposals
        .iter()
        .filter(|p| p.protocol_id == ProtocolId::Esp)
    {
        let Spi::Ipsec(spi) = p.spi else { continue };
        let encr: Vec<esp::Encryption> = of_type(p, wire_encr)
            .into_iter()
            .map(esp::Encryption::from)
            .collect();
        let integ: Vec<esp::Integrity> = of_type(p, wire_integ)
            .into_iter()
            .filter_map(|i| esp::Integrity::try_from(i).ok())
            .collect();
        let esns = of_type(p, wire_esn);
        let dhs = of_type(p, wire_dh);
        for o in ours {
            let Some(e) = first_common(&encr, o.encr()) else {
                continue;
            };
            let aead = Encr::from(e).is_aead();
            let i = if aead {
                None
            } else {
                match first_common(&integ, o.integ()) {
                    Some(i) => Some(i),
                    None => continue,
                }
            };
            // A missing ESN transform means no ESN (RFC 7296 §3.3.3).
            let esn = if esns.is_empty() {
                Some(Esn::NoEsn)
            } else {
                first_common(&esns, o.esn())
            };
            let Some(esn) = esn else { continue };
            let dh = if with_dh && has_type(p, wire::TransformType::Dh) {
                match first_common(&dhs, o.dh()) {
                    Some(g) => Some(g),
                    None => continue,
                }
            } else {
                None
            };
            let transform = esp::Transform {
                encryption: e,
                integrity: i,
            };
            return Some((
                p.number,
                spi,
                EspChoice {
                    transform,
                    esn: esn == Esn::Esn,
                    dh,
                },
            ));
        }
    }
    None
}

/// Reads the responder's single answer to our ESP proposals.
pub fn accepted_esp(answer: &wire::Sa, ours: &[EspProposal]) -> Option<(u32, EspChoice)> {
    let (_, spi, choice) = select_esp(answer, ours, true)?;
    (answer.proposals.len() == 1).then_some((spi, choice))
}

/// Reads the responder's single answer to our IKE proposals.
pub fn accepted_ike(answer: &wire::Sa, ours: &[IkeProposal]) -> Option<IkeSuite> {
    let (_, suite) = select_ike(answer, ours)?;
    (answer.proposals.len() == 1).then_some(suite)
}
