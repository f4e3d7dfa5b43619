//! The Notify payload (RFC 7296 §3.10) and the Delete payload (§3.11).

use super::codec::{count, Codec, Reader};
use super::error::{EncodeError, WireError};
use super::registry::ProtocolId;
use super::sa::Spi;
use super::transform::DhGroup;

wire_enum! {
    /// Notify Message Type (RFC 7296 §3.10.1). Types below 16384 are
    /// errors, the others status.
    ///
    /// IANA "IKEv2 Notify Message Types - Error Types" and "- Status Types":
    /// <https://www.iana.org/assignments/ikev2-parameters/ikev2-parameters.xhtml>
    pub enum NotifyType(u16) {
        /// UNSUPPORTED_CRITICAL_PAYLOAD; data: the one-octet payload type.
        UnsupportedCriticalPayload = 1,
        /// INVALID_IKE_SPI.
        InvalidIkeSpi = 4,
        /// INVALID_MAJOR_VERSION.
        InvalidMajorVersion = 5,
        /// INVALID_SYNTAX.
        InvalidSyntax = 7,
        /// INVALID_MESSAGE_ID; data: the four-octet Message ID.
        InvalidMessageId = 9,
        /// INVALID_SPI; data: the SPI.
        InvalidSpi = 11,
        /// NO_PROPOSAL_CHOSEN.
        NoProposalChosen = 14,
        /// INVALID_KE_PAYLOAD; data: the two-octet accepted group.
        InvalidKePayload = 17,
        /// AUTHENTICATION_FAILED.
        AuthenticationFailed = 24,
        /// SINGLE_PAIR_REQUIRED.
        SinglePairRequired = 34,
        /// NO_ADDITIONAL_SAS.
        NoAdditionalSas = 35,
        /// INTERNAL_ADDRESS_FAILURE.
        InternalAddressFailure = 36,
        /// FAILED_CP_REQUIRED.
        FailedCpRequired = 37,
        /// TS_UNACCEPTABLE.
        TsUnacceptable = 38,
        /// INVALID_SELECTORS.
        InvalidSelectors = 39,
        /// UNACCEPTABLE_ADDRESSES (RFC 4555).
        UnacceptableAddresses = 40,
        /// UNEXPECTED_NAT_DETECTED (RFC 4555).
        UnexpectedNatDetected = 41,
        /// USE_ASSIGNED_HoA (RFC 5026).
        UseAssignedHoa = 42,
        /// TEMPORARY_FAILURE.
        TemporaryFailure = 43,
        /// CHILD_SA_NOT_FOUND.
        ChildSaNotFound = 44,
        /// INITIAL_CONTACT.
        InitialContact = 16384,
        /// SET_WINDOW_SIZE.
        SetWindowSize = 16385,
        /// ADDITIONAL_TS_POSSIBLE.
        AdditionalTsPossible = 16386,
        /// IPCOMP_SUPPORTED.
        IpcompSupported = 16387,
        /// NAT_DETECTION_SOURCE_IP.
        NatDetectionSourceIp = 16388,
        /// NAT_DETECTION_DESTINATION_IP.
        NatDetectionDestinationIp = 16389,
        /// COOKIE.
        Cookie = 16390,
        /// USE_TRANSPORT_MODE.
        UseTransportMode = 16391,
        /// HTTP_CERT_LOOKUP_SUPPORTED.
        HttpCertLookupSupported = 16392,
        /// REKEY_SA.
        RekeySa = 16393,
        /// ESP_TFC_PADDING_NOT_SUPPORTED.
        EspTfcPaddingNotSupported = 16394,
        /// NON_FIRST_FRAGMENTS_ALSO.
        NonFirstFragmentsAlso = 16395,
        /// MOBIKE_SUPPORTED (RFC 4555).
        MobikeSupported = 16396,
        /// ADDITIONAL_IP4_ADDRESS (RFC 4555).
        AdditionalIp4Address = 16397,
        /// ADDITIONAL_IP6_ADDRESS (RFC 4555).
        AdditionalIp6Address = 16398,
        /// NO_ADDITIONAL_ADDRESSES (RFC 4555).
        NoAdditionalAddresses = 16399,
        /// UPDATE_SA_ADDRESSES (RFC 4555).
        UpdateSaAddresses = 16400,
        /// COOKIE2 (RFC 4555).
        Cookie2 = 16401,
        /// NO_NATS_ALLOWED (RFC 4555).
        NoNatsAllowed = 16402,
        /// AUTH_LIFETIME (RFC 4478).
        AuthLifetime = 16403,
        /// MULTIPLE_AUTH_SUPPORTED (RFC 4739).
        MultipleAuthSupported = 16404,
        /// ANOTHER_AUTH_FOLLOWS (RFC 4739).
        AnotherAuthFollows = 16405,
        /// REDIRECT_SUPPORTED (RFC 5685).
        RedirectSupported = 16406,
        /// REDIRECT (RFC 5685).
        Redirect = 16407,
        /// REDIRECTED_FROM (RFC 5685).
        RedirectedFrom = 16408,
        /// EAP_ONLY_AUTHENTICATION (RFC 5998).
        EapOnlyAuthentication = 16417,
        /// CHILDLESS_IKEV2_SUPPORTED (RFC 6023).
        ChildlessIkev2Supported = 16418,
        /// QUICK_CRASH_DETECTION (RFC 6290).
        QuickCrashDetection = 16419,
        /// IKEV2_MESSAGE_ID_SYNC_SUPPORTED (RFC 6311).
        Ikev2MessageIdSyncSupported = 16420,
        /// IPSEC_REPLAY_COUNTER_SYNC_SUPPORTED (RFC 6311).
        IpsecReplayCounterSyncSupported = 16421,
        /// IKEV2_MESSAGE_ID_SYNC (RFC 6311).
        Ikev2MessageIdSync = 16422,
        /// IPSEC_REPLAY_COUNTER_SYNC (RFC 6311).
        IpsecReplayCounterSync = 16423,
        /// SECURE_PASSWORD_METHODS (RFC 6467).
        SecurePasswordMethods = 16424,
        /// IKEV2_FRAGMENTATION_SUPPORTED (RFC 7383).
        Ikev2FragmentationSupported = 16430,
        /// SIGNATURE_HASH_ALGORITHMS (RFC 7427); data: two-octet hash
        /// algorithm identifiers.
        SignatureHashAlgorithms = 16431,
    }
}

impl NotifyType {
    /// First status type; everything below is an error type.
    pub const FIRST_STATUS: u16 = 16384;

    /// Whether this is an error type (RFC 7296 §3.10.1): "An
    /// implementation receiving a Notify payload with one of these types
    /// that it does not recognize in a response MUST assume that the
    /// corresponding request has failed entirely."
    pub fn is_error(self) -> bool {
        self.value() < Self::FIRST_STATUS
    }
}

/// Notify payload body (RFC 7296 §3.10):
///
/// ```text
///                      1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// | Next Payload  |C|  RESERVED   |         Payload Length        |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |  Protocol ID  |   SPI Size    |      Notify Message Type      |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                                                               |
/// ~                Security Parameter Index (SPI)                 ~
/// |                                                               |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                                                               |
/// ~                       Notification Data                       ~
/// |                                                               |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
///
/// With an empty SPI, Protocol ID "MUST be sent as zero and MUST be ignored
/// on receipt"; it is kept as received all the same.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notify {
    /// Protocol ID of the SA the SPI names, or [`ProtocolId::None`].
    pub protocol_id: ProtocolId,
    /// SPI of the SA concerned (only INVALID_SELECTORS, REKEY_SA and
    /// CHILD_SA_NOT_FOUND carry one in RFC 7296).
    pub spi: Spi,
    /// Notify Message Type.
    pub notify_type: NotifyType,
    /// Notification Data.
    pub data: Vec<u8>,
}

impl Notify {
    /// A notify that concerns no particular SA.
    pub fn new(notify_type: NotifyType, data: Vec<u8>) -> Self {
        Self {
            protocol_id: ProtocolId::None,
            spi: Spi::Empty,
            notify_type,
            data,
        }
    }

    /// INVALID_KE_PAYLOAD naming the group the responder wants.
    pub fn invalid_ke_payload(group: DhGroup) -> Self {
        Self::new(
            NotifyType::InvalidKePayload,
            group.value().to_be_bytes().to_vec(),
        )
    }

    /// The group of a well-formed INVALID_KE_PAYLOAD.
    pub fn accepted_group(&self) -> Option<DhGroup> {
        if self.notify_type != NotifyType::InvalidKePayload {
            return None;
        }
        let raw = <[u8; 2]>::try_from(self.data.as_slice()).ok()?;
        Some(DhGroup::from(u16::from_be_bytes(raw)))
    }

    /// The payload type of a well-formed UNSUPPORTED_CRITICAL_PAYLOAD.
    pub fn unsupported_payload_type(&self) -> Option<u8> {
        match (self.notify_type, self.data.as_slice()) {
            (NotifyType::UnsupportedCriticalPayload, [payload_type]) => Some(*payload_type),
            _ => None,
        }
    }

    /// The hash algorithm identifiers of a well-formed
    /// SIGNATURE_HASH_ALGORITHMS (RFC 7427 §4).
    pub fn signature_hash_algorithms(&self) -> Option<Vec<u16>> {
        if self.notify_type != NotifyType::SignatureHashAlgorithms {
            return None;
        }
        let mut r = Reader::new(&self.data);
        let mut algorithms = Vec::new();
        while !r.is_empty() {
            algorithms.push(r.u16().ok()?);
        }
        Some(algorithms)
    }
}

impl Codec for Notify {
    fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        out.push(self.protocol_id.value());
        out.push(self.spi.size());
        out.extend_from_slice(&self.notify_type.value().to_be_bytes());
        self.spi.write(out);
        out.extend_from_slice(&self.data);
        Ok(())
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, WireError> {
        let protocol_id = ProtocolId::from(r.u8()?);
        let spi_size = r.u8()?;
        let notify_type = NotifyType::from(r.u16()?);
        let spi = Spi::read(r, spi_size)?;
        Ok(Self {
            protocol_id,
            spi,
            notify_type,
            data: r.rest().to_vec(),
        })
    }
}

/// Delete payload body (RFC 7296 §3.11):
///
/// ```text
///                      1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// | Next Payload  |C|  RESERVED   |         Payload Length        |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// | Protocol ID   |   SPI Size    |          Num of SPIs          |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                                                               |
/// ~               Security Parameter Index(es) (SPI)              ~
/// |                                                               |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
///
/// SPI Size "MUST be zero for IKE (SPI is in message header) or four for AH
/// and ESP", and deleting the IKE SA carries no SPIs. Decoding enforces
/// both (any protocol but IKE needs four-octet SPIs), so an SPI Size never
/// needs storing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delete {
    /// Protocol ID.
    pub protocol_id: ProtocolId,
    /// The sender's inbound SPIs of the Child SAs to delete; empty for IKE.
    pub spis: Vec<u32>,
}

impl Delete {
    /// Deletes the IKE SA the message belongs to.
    pub fn ike_sa() -> Self {
        Self {
            protocol_id: ProtocolId::Ike,
            spis: Vec::new(),
        }
    }
}

impl Codec for Delete {
    fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let is_ike = self.protocol_id == ProtocolId::Ike;
        if is_ike && !self.spis.is_empty() {
            return Err(EncodeError::InvalidValue("IKE SA Delete with SPIs"));
        }
        let num: u16 = count(self.spis.len(), "Delete SPIs")?;
        out.push(self.protocol_id.value());
        out.push(if is_ike { 0 } else { 4 });
        out.extend_from_slice(&num.to_be_bytes());
        for spi in &self.spis {
            out.extend_from_slice(&spi.to_be_bytes());
        }
        Ok(())
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, WireError> {
        let protocol_id = ProtocolId::from(r.u8()?);
        let spi_size = r.u8()?;
        let num = r.u16()?;
        match (protocol_id, spi_size, num) {
            (ProtocolId::Ike, 0, 0) => Ok(Self::ike_sa()),
            (ProtocolId::Ike, _, _) => Err(WireError::InvalidSyntax("IKE SA Delete with SPIs")),
            (_, 4, _) => {
                let spis = (0..num).map(|_| r.u32()).collect::<Result<_, _>>()?;
                Ok(Self { protocol_id, spis })
            }
            _ => Err(WireError::InvalidSyntax("Delete SPI Size")),
        }
    }
}
