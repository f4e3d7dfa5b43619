//! INFORMATIONAL exchanges (RFC 7296 §1.4): liveness checks (an empty
//! request, §2.4) and DELETE (§1.4.1).

use super::ike_sa::IkeSa;
use super::types::DownReason;
use crate::wire::{Delete, ExchangeType, Payload, ProtocolId};
use std::time::Instant;

impl IkeSa {
    pub(super) fn on_informational(&mut self, now: Instant, id: u32, payloads: &[Payload]) {
        let deletes_ike = payloads
            .iter()
            .any(|p| matches!(p, Payload::Delete(d) if d.protocol_id == ProtocolId::Ike));
        // §2.8.2: the peer rekeyed this SA without seeing our rekey.
        if deletes_ike && self.peer_rekeyed_instead(now, id) {
            return;
        }
        let mut reply = Vec::new();
        let mut ike_deleted = false;
        for p in payloads {
            let Payload::Delete(d) = p else { continue };
            match d.protocol_id {
                ProtocolId::Ike => ike_deleted = true,
                // §1.4.1: answer with the SPIs of our half of each pair.
                // The old inbound SA stays for the grace period.
                ProtocolId::Esp => {
                    let ours: Vec<u32> = self
                        .children
                        .iter()
                        .filter(|c| d.spis.contains(&c.outbound))
                        .map(|c| c.inbound)
                        .collect();
                    let pending = self.activation.map(|(spi, _)| spi);
                    if pending.is_some_and(|p| ours.contains(&p)) {
                        // §2.8.1: the peer deletes the redundant SA we
                        // were waiting to switch to: we never do.
                        self.activation = None;
                    } else if !ours.is_empty() {
                        // The peer has its side of the new pair in place.
                        self.activate_pending();
                    }
                    for spi in &ours {
                        self.retire_child(now, *spi);
                    }
                    if !ours.is_empty() {
                        reply.push(Payload::Delete(Delete {
                            protocol_id: ProtocolId::Esp,
                            spis: ours,
                        }));
                    }
                }
                _ => {}
            }
        }
        if ike_deleted {
            reply.clear();
        }
        self.respond(id, ExchangeType::Informational, reply);
        if ike_deleted {
            self.down(DownReason::PeerDeleted);
        }
    }
}
