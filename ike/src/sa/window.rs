//! RFC 7296 §2.3 message IDs with a window of one (no SET_WINDOW_SIZE):
//! each side numbers its requests 0, 1, 2, ... and the responder answers a
//! retransmitted request with its cached response.

/// What an incoming request's message ID means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestId {
    /// The next request: process it.
    New,
    /// The request just answered: resend the cached response.
    Retransmit,
    /// Anything else: drop it (§2.3), with no response.
    OutOfWindow,
}

/// Message-ID bookkeeping for one IKE SA.
#[derive(Debug, Clone, Default)]
pub struct MessageIds {
    /// ID of our next request.
    next_request: u32,
    /// ID of the peer's next request.
    next_peer_request: u32,
}

impl MessageIds {
    /// After IKE_SA_INIT (§2.2): the initiator's requests have used ID 0,
    /// the responder's none yet, so its first request is ID 0.
    pub fn after_init(we_initiated: bool) -> Self {
        if we_initiated {
            Self {
                next_request: 1,
                next_peer_request: 0,
            }
        } else {
            Self {
                next_request: 0,
                next_peer_request: 1,
            }
        }
    }

    /// Takes the ID for a new request of ours.
    pub fn take_request_id(&mut self) -> u32 {
        let id = self.next_request;
        self.next_request = self.next_request.wrapping_add(1);
        id
    }

    /// The ID our outstanding request carries, if one is outstanding.
    pub fn outstanding(&self) -> u32 {
        self.next_request.wrapping_sub(1)
    }

    pub fn classify_request(&self, id: u32) -> RequestId {
        if id == self.next_peer_request {
            RequestId::New
        } else if id == self.next_peer_request.wrapping_sub(1) {
            RequestId::Retransmit
        } else {
            RequestId::OutOfWindow
        }
    }

    /// The peer's request `id` was processed and answered.
    pub fn answered(&mut self, id: u32) {
        self.next_peer_request = id.wrapping_add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_side_numbers_its_own_requests_from_zero() {
        // The responder's first request after IKE_AUTH is ID 0 (strongSwan
        // drops anything else as "expected 0").
        let mut r = MessageIds::after_init(false);
        assert_eq!(r.classify_request(1), RequestId::New, "IKE_AUTH");
        assert_eq!(r.take_request_id(), 0);
        let i = MessageIds::after_init(true);
        assert_eq!(
            i.classify_request(0),
            RequestId::New,
            "the responder's first request"
        );
    }

    #[test]
    fn window_of_one() {
        let mut m = MessageIds::after_init(true);
        m.answered(0);
        assert_eq!(m.take_request_id(), 1);
        assert_eq!(m.outstanding(), 1);
        assert_eq!(m.classify_request(1), RequestId::New);
        m.answered(1);
        assert_eq!(m.classify_request(1), RequestId::Retransmit);
        assert_eq!(m.classify_request(2), RequestId::New);
        assert_eq!(m.classify_request(3), RequestId::OutOfWindow);
        assert_eq!(m.classify_request(0), RequestId::OutOfWindow);
    }
}
