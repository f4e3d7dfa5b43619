//! IKE fragmentation (RFC 7383) between two sans-IO endpoints: a tiny
//! fragment size makes IKE_AUTH travel as SKF fragments both ways, through
//! loss, duplication and reordering, and both sides reach the same keys.

mod util;

use ike::sa::IkeConfig;
use ike::wire::{ExchangeType, Message, NotifyType};
use std::time::Duration;
use util::*;

/// Small enough that both IKE_AUTH messages (about 250 octets) split.
const SIZE: usize = 200;

fn configs(a_size: Option<usize>, b_size: Option<usize>) -> (IkeConfig, IkeConfig) {
    let ike = "aes256-sha256-modp2048";
    let esp = "aes256-sha256";
    let mut a = config(ike, esp, "shared secret", A);
    let mut b = config(ike, esp, "shared secret", B);
    a.fragment_size = a_size;
    b.fragment_size = b_size;
    (a, b)
}

/// (side, message ID, fragment number, total) of every SKF datagram sent.
fn fragments(net: &Net) -> Vec<(char, u32, u16, u16)> {
    net.log
        .iter()
        .filter_map(|(who, data)| {
            let msg = Message::decode(data).expect("every datagram decodes");
            assert_eq!(msg.encode().unwrap(), *data, "SKF codec round trip");
            let f = msg.encrypted_fragment()?;
            Some((
                *who,
                msg.header.message_id,
                f.fragment_number,
                f.total_fragments,
            ))
        })
        .collect()
}

fn announced(net: &Net, who: char) -> bool {
    net.log.iter().any(|(w, data)| {
        let msg = Message::decode(data).unwrap();
        *w == who
            && msg.header.exchange_type == ExchangeType::IkeSaInit
            && msg
                .notify(NotifyType::Ikev2FragmentationSupported)
                .is_some()
    })
}

#[test]
fn ike_auth_fragments_through_loss_duplication_and_reordering() {
    for (drop_every, duplicate, reverse) in [
        (0, false, false),
        (0, false, true),
        (3, false, true),
        (4, true, true),
        (5, true, false),
    ] {
        let label = format!("drop {drop_every} dup {duplicate} reverse {reverse}");
        let mut net = net();
        net.drop_every = drop_every;
        net.duplicate = duplicate;
        net.reverse = reverse;
        let (a_cfg, b_cfg) = configs(Some(SIZE), Some(SIZE));
        let (mut a, mut b) = establish_with(a_cfg, b_cfg.clone(), &mut net);
        drive(&mut net, &mut a, &mut b, &b_cfg, Duration::from_secs(10));
        assert!(
            a.established() && b.established(),
            "{label}: {:?} / {:?}",
            a.events,
            b.events
        );
        assert_esp_works(a.child().unwrap(), b.child().unwrap());
        assert_eq!(children_up(&a).len(), 1, "{label}");
        let f = fragments(&net);
        let auth_req: Vec<_> = f.iter().filter(|x| x.0 == 'a' && x.1 == 1).collect();
        let auth_resp: Vec<_> = f.iter().filter(|x| x.0 == 'b' && x.1 == 1).collect();
        assert!(
            auth_req.iter().any(|x| x.3 >= 2) && auth_resp.iter().any(|x| x.3 >= 2),
            "{label}: IKE_AUTH fragmented both ways: {f:?}"
        );
        // Every encrypted datagram fits: SIZE less 20 (IPv4) and 8 (UDP).
        for (_, data) in &net.log {
            let init =
                Message::decode(data).unwrap().header.exchange_type == ExchangeType::IkeSaInit;
            assert!(
                init || data.len() <= SIZE - 28,
                "{label}: {} octets",
                data.len()
            );
        }
        // A retransmission resends the very same fragments.
        if drop_every > 0 {
            let mut sent: Vec<&Vec<u8>> = net
                .log
                .iter()
                .filter(|(w, d)| *w == 'a' && Message::decode(d).unwrap().header.message_id == 1)
                .map(|(_, d)| d)
                .collect();
            let total = sent.len();
            sent.sort();
            sent.dedup();
            assert!(
                total > sent.len(),
                "{label}: IKE_AUTH retransmitted byte for byte"
            );
        }
    }
}

/// Fragmentation needs both sides: if one does not announce it, messages
/// go whole, whatever their size, and the SA still comes up.
#[test]
fn no_fragments_unless_both_announce() {
    for (a_size, b_size) in [(Some(SIZE), None), (None, Some(SIZE))] {
        let mut net = net();
        let (a_cfg, b_cfg) = configs(a_size, b_size);
        let (a, b) = establish_with(a_cfg, b_cfg, &mut net);
        assert!(a.established() && b.established());
        assert_eq!(announced(&net, 'a'), a_size.is_some());
        assert!(
            !announced(&net, 'b'),
            "B answers only if A announced and B can"
        );
        assert!(fragments(&net).is_empty());
        let auth =
            |d: &Vec<u8>| Message::decode(d).unwrap().header.exchange_type == ExchangeType::IkeAuth;
        assert!(
            net.log.iter().any(|(_, d)| auth(d) && d.len() > SIZE - 28),
            "IKE_AUTH whole"
        );
    }
}

/// The same seed gives the same fragments.
#[test]
fn fragmented_transcript_is_deterministic() {
    let run = || {
        let mut net = net();
        net.reverse = true;
        let (a_cfg, b_cfg) = configs(Some(SIZE), Some(SIZE));
        let _ = establish_with(a_cfg, b_cfg, &mut net);
        net.log
    };
    assert_eq!(run(), run());
}
