//! INFORMATIONAL exchanges (RFC 7296 §1.4): liveness checks (an empty
//! request, §2.4) and DELETE (§1.4.1).

use super::ike_sa::IkeSa;
use super::types::DownReason;
use crate::wire::{Delete, ExchangeType, Payload, ProtocolId};

impl IkeSa {
    pub(super) fn on_informational(&mut self, id: u32, payloads: &[Payload]) {
        let mut reply = Vec::new();
        let mut ike_deleted = false;
        for p in payloads {
            let Payload::Delete(d) = p else { continue };
            match d.protocol_id {
                ProtocolId::Ike => ike_deleted = true,
                // §1.4.1: answer with the SPIs of our half of each pair.
                ProtocolId::Esp => {
                    if let Some(c) = self.child {
                        if d.spis.contains(&c.outbound) {
                            reply.push(Payload::Delete(Delete {
                                protocol_id: ProtocolId::Esp,
                                spis: vec![c.inbound],
                            }));
                            self.child = None;
                            self.events.push_back(super::types::Event::ChildDown {
                                inbound_spi: c.inbound,
                                outbound_spi: c.outbound,
                            });
                        }
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
