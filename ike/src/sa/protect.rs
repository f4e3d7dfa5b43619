//! The SK payload of an IKE SA's messages (RFC 7296 §3.14), whole or as
//! RFC 7383 fragments: sealing what we send, opening what we receive.

use super::fragment::{message_budget, seal_fragments, Fragment};
use super::ike_sa::IkeSa;
use crate::wire::{
    decode_payload_chain, encode_payload_chain, Encrypted, EncryptedLayout, Header, Message,
    Payload, WireError,
};
use std::time::Instant;

impl IkeSa {
    /// RFC 7296 §3.14: encodes `payloads` inside an SK payload; RFC 7383
    /// §2.5: when fragmentation was negotiated and the message would not
    /// fit the fragment size, as SKF fragments instead.
    pub(super) fn seal(&mut self, header: Header, payloads: &[Payload]) -> Option<Vec<Vec<u8>>> {
        self.log_message(true, &header, payloads);
        let cipher = self.send_cipher.as_ref()?;
        let (first_payload, plain) = encode_payload_chain(payloads).ok()?;
        let sealed_len = cipher.sealed_len(plain.len());
        let placeholder = Message::new(
            header,
            vec![Payload::Encrypted(Encrypted {
                first_payload,
                data: vec![0; sealed_len],
            })],
        );
        let mut bytes = placeholder.encode().ok()?;
        if let Some(size) = self.cfg.fragment_size.filter(|_| self.fragmenting) {
            let budget = message_budget(size, self.remote, self.local.port());
            if bytes.len() > budget {
                let rng = self.rng.as_mut();
                return seal_fragments(cipher, rng, header, first_payload, &plain, budget);
            }
        }
        let prefix_len = bytes.len().checked_sub(sealed_len)?;
        bytes.truncate(prefix_len);
        let body = cipher.seal(&bytes, &plain, self.rng.as_mut()).ok()?;
        bytes.extend_from_slice(&body);
        Some(vec![bytes])
    }

    /// Verifies and decrypts the SK payload of `msg` (whose bytes are
    /// `data`) and decodes the inner payloads; for an SKF fragment, once
    /// every fragment of its message is in.
    pub(super) fn open(
        &mut self,
        now: Instant,
        msg: &Message,
        data: &[u8],
    ) -> Option<Vec<Payload>> {
        self.open_checked(now, msg, data).ok()
    }

    /// As [`IkeSa::open`], telling apart a message that failed its
    /// integrity check or is still incomplete (`Err(None)`: dropped
    /// silently, §2.21.1) from an authentic one whose payloads are bad
    /// (`Err(Some(e))`: answered).
    pub(super) fn open_checked(
        &mut self,
        now: Instant,
        msg: &Message,
        data: &[u8],
    ) -> Result<Vec<Payload>, Option<WireError>> {
        let cipher = self.recv_cipher.as_ref().ok_or(None)?;
        let layout = EncryptedLayout::locate(data).map_err(|_| None)?;
        let prefix = data.get(..layout.iv_start).ok_or(None)?;
        let body = data.get(layout.iv_start..layout.end).ok_or(None)?;
        if let Some(sk) = msg.encrypted() {
            let plain = cipher.open(prefix, body).map_err(|_| None)?;
            let inner = decode_payload_chain(sk.first_payload, &plain).map_err(Some)?;
            self.log_message(false, &msg.header, &inner);
            return Ok(inner);
        }
        // RFC 7383 §2.6: each fragment is authenticated before it is kept;
        // fragments are accepted only when fragmentation was negotiated.
        let skf = msg
            .encrypted_fragment()
            .filter(|_| self.fragmenting)
            .ok_or(None)?;
        let plain = cipher.open(prefix, body).map_err(|_| None)?;
        let fragment = Fragment {
            response: msg.header.flags.response(),
            message_id: msg.header.message_id,
            number: skf.fragment_number,
            total: skf.total_fragments,
            first_payload: skf.first_payload,
            plain,
        };
        let (first, plain) = self.reassembly.add(now, fragment).ok_or(None)?;
        let inner = decode_payload_chain(first, &plain).map_err(Some)?;
        self.log_message(false, &msg.header, &inner);
        Ok(inner)
    }
}
