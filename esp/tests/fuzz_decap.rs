//! Property tests in the spirit of the cargo-fuzz target in esp/fuzz:
//! hostile input to `InboundSad::decapsulate` never panics, is counted
//! exactly once, and is never accepted unless it is exactly what the
//! sender sealed.

mod common;

use common::*;
use esp::{
    next_header, DropReason, InboundSa, InboundSad, InboundStats, OutboundSa, ReplayError, SadStats,
};
use proptest::prelude::*;
use proptest::sample::Index;
use std::time::Instant;

/// One SA per transform family, SPIs 1 to 4.
const SAS: [(u32, &str, bool); 4] = [
    (1, "aes256gcm16", true),
    (2, "chacha20poly1305", false),
    (3, "aes256-sha256", true),
    (4, "aes128-sha512", false),
];

fn sad_and_outbound(which: usize) -> (InboundSad, OutboundSa) {
    let now = Instant::now();
    let mut sad = InboundSad::new();
    let mut out = None;
    for (i, (spi, name, esn)) in SAS.into_iter().enumerate() {
        let mut p = params(name, esn);
        p.spi = spi;
        sad.insert(InboundSa::new(&p, now).unwrap()).unwrap();
        if i == which {
            out = Some(OutboundSa::new(&p, now).unwrap());
        }
    }
    (sad, out.unwrap())
}

/// Every counter of the SAD and its SAs, by name.
fn counters(sad: &InboundSad) -> Vec<(String, u64)> {
    let SadStats {
        unknown_spi,
        malformed,
    } = *sad.stats();
    let mut v = vec![
        ("sad.unknown_spi".to_string(), unknown_spi),
        ("sad.malformed".to_string(), malformed),
    ];
    let mut sas: Vec<_> = sad.iter().collect();
    sas.sort_by_key(|sa| sa.spi());
    for sa in sas {
        // Exhaustive on purpose: a new counter must be added here too.
        let InboundStats {
            packets,
            bytes: _,
            replay,
            too_old,
            icv_failure,
            bad_padding,
            malformed,
            expired,
            dummy,
            selectors,
        } = *sa.stats();
        let spi = sa.spi();
        for (name, n) in [
            ("packets", packets),
            ("replay", replay),
            ("too_old", too_old),
            ("icv_failure", icv_failure),
            ("bad_padding", bad_padding),
            ("malformed", malformed),
            ("expired", expired),
            ("dummy", dummy),
            ("selectors", selectors),
        ] {
            v.push((format!("{spi}.{name}"), n));
        }
    }
    v
}

/// Decapsulates `pkt` and checks that exactly one counter went up by one:
/// the SA's packet counter on success, else the one for the drop reason.
fn decap_counted(sad: &mut InboundSad, pkt: &mut [u8]) -> Result<esp::Decapsulated, DropReason> {
    let before = counters(sad);
    let (spi, r) = sad.decapsulate(pkt);
    let after = counters(sad);
    let moved: Vec<_> = before
        .iter()
        .zip(&after)
        .filter(|(b, a)| b.1 != a.1)
        .map(|(b, a)| (b.0.clone(), a.1 - b.1))
        .collect();
    let expected = match r {
        Ok(_) => format!("{spi}.packets"),
        Err(DropReason::UnknownSpi) => "sad.unknown_spi".into(),
        Err(DropReason::Malformed) if sad.get(spi).is_none() => "sad.malformed".into(),
        Err(DropReason::Malformed) => format!("{spi}.malformed"),
        Err(DropReason::Replay(ReplayError::TooOld)) => format!("{spi}.too_old"),
        Err(DropReason::Replay(_)) => format!("{spi}.replay"),
        Err(DropReason::IcvFailure) => format!("{spi}.icv_failure"),
        Err(DropReason::BadPadding) => format!("{spi}.bad_padding"),
        Err(DropReason::Expired) => format!("{spi}.expired"),
        Err(DropReason::Dummy) => format!("{spi}.dummy"),
        Err(DropReason::Selectors) => format!("{spi}.selectors"),
    };
    assert_eq!(moved, vec![(expected, 1)], "{r:?}");
    r
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip(Index, u8),
    Truncate(Index),
    Extend(Vec<u8>),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<Index>(), 1..=255u8).prop_map(|(i, x)| Mutation::Flip(i, x)),
        any::<Index>().prop_map(Mutation::Truncate),
        prop::collection::vec(any::<u8>(), 1..32).prop_map(Mutation::Extend),
    ]
}

fn apply(pkt: &mut Vec<u8>, m: &Mutation) {
    match m {
        Mutation::Flip(i, x) if !pkt.is_empty() => {
            let i = i.index(pkt.len());
            pkt[i] ^= x;
        }
        Mutation::Flip(..) => {}
        Mutation::Truncate(i) => pkt.truncate(i.index(pkt.len() + 1)),
        Mutation::Extend(tail) => pkt.extend_from_slice(tail),
    }
}

proptest! {
    // No failure persistence: an integration test has no lib.rs beside it
    // to put a proptest-regressions directory next to.
    #![proptest_config(ProptestConfig {
        cases: 1024,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Random bytes, half of them behind a known SPI so they reach an SA.
    #[test]
    fn arbitrary_bytes_are_counted_and_dropped(
        spi in prop::option::of(0..SAS.len()),
        mut bytes in prop::collection::vec(any::<u8>(), 0..2000),
    ) {
        let (mut sad, _) = sad_and_outbound(0);
        if let (Some(i), true) = (spi, bytes.len() >= 4) {
            bytes[..4].copy_from_slice(&SAS[i].0.to_be_bytes());
        }
        let r = decap_counted(&mut sad, &mut bytes);
        prop_assert!(r.is_err(), "random bytes accepted: {r:?}");
    }

    /// A sealed packet, mutated: accepted only if the mutations cancel out.
    #[test]
    fn mutated_packets_are_dropped(
        which in 0..SAS.len(),
        len in 20usize..300,
        v6 in any::<bool>(),
        mutations in prop::collection::vec(mutation(), 0..4),
    ) {
        let (mut sad, mut out) = sad_and_outbound(which);
        let (pkt, nh) = if v6 {
            (ipv6_packet(len.max(48), 0x33), next_header::IPV6)
        } else {
            (ipv4_packet(len.max(28), 0x44), next_header::IPV4)
        };
        let sealed = seal(&mut out, &pkt, nh);
        let mut m = sealed.clone();
        for mu in &mutations {
            apply(&mut m, mu);
        }
        let unmodified = m == sealed;
        let r = decap_counted(&mut sad, &mut m);
        if unmodified {
            let d = r.unwrap();
            prop_assert_eq!(&m[d.inner], &pkt[..]);
            prop_assert_eq!(d.next_header, nh);
        } else {
            prop_assert!(r.is_err(), "modified packet accepted: {r:?}");
        }
    }
}
