//! One line per IKE message, as charon logs them, for debugging:
//! `generating IKE_AUTH request 1 [ IDi AUTH SA TSi TSr N(INIT_CONTACT) ]`.
//! Never a payload's contents: only its type (and a notify's type).

use super::{ExchangeType, Header, NotifyType, Payload};

/// A notify type as charon abbreviates it.
fn notify_name(t: NotifyType) -> String {
    let short = match t {
        NotifyType::NatDetectionSourceIp => "NATD_S_IP",
        NotifyType::NatDetectionDestinationIp => "NATD_D_IP",
        NotifyType::Ikev2FragmentationSupported => "FRAG_SUP",
        NotifyType::Cookie => "COOKIE",
        NotifyType::InitialContact => "INIT_CONTACT",
        NotifyType::RekeySa => "REKEY_SA",
        NotifyType::TsUnacceptable => "TS_UNACCEPT",
        NotifyType::NoProposalChosen => "NO_PROP",
        NotifyType::InvalidKePayload => "INVAL_KE",
        NotifyType::AuthenticationFailed => "AUTH_FAILED",
        NotifyType::InvalidSyntax => "INVAL_SYN",
        NotifyType::TemporaryFailure => "TEMP_FAIL",
        NotifyType::ChildSaNotFound => "CHILD_SA_NOT_FOUND",
        NotifyType::UnsupportedCriticalPayload => "UNSUPPORTED_CRITICAL_PAYLOAD",
        NotifyType::NoAdditionalSas => "NO_ADD_SAS",
        NotifyType::ChildlessIkev2Supported => "CHDLESS_SUP",
        NotifyType::MultipleAuthSupported => "MULT_AUTH",
        other => return format!("{other:?}"),
    };
    short.into()
}

/// The payloads' types, charon's way: `SA KE No N(NATD_S_IP)`.
pub fn payload_list(payloads: &[Payload]) -> String {
    let names: Vec<String> = payloads
        .iter()
        .map(|p| match p {
            Payload::Sa(_) => "SA".into(),
            Payload::Ke(_) => "KE".into(),
            Payload::IdI(_) => "IDi".into(),
            Payload::IdR(_) => "IDr".into(),
            Payload::Cert(_) => "CERT".into(),
            Payload::CertReq(_) => "CERTREQ".into(),
            Payload::Auth(_) => "AUTH".into(),
            Payload::Nonce(_) => "No".into(),
            Payload::Notify(n) => format!("N({})", notify_name(n.notify_type)),
            Payload::Delete(_) => "D".into(),
            Payload::VendorId(_) => "V".into(),
            Payload::TsI(_) => "TSi".into(),
            Payload::TsR(_) => "TSr".into(),
            Payload::Encrypted(_) => "SK".into(),
            Payload::Config(_) => "CP".into(),
            Payload::Eap(_) => "EAP".into(),
            Payload::EncryptedFragment(f) => {
                format!("EF({}/{})", f.fragment_number, f.total_fragments)
            }
            Payload::Unknown(u) => format!("U({})", u.payload_type),
        })
        .collect();
    names.join(" ")
}

fn exchange_name(e: ExchangeType) -> String {
    match e {
        ExchangeType::IkeSaInit => "IKE_SA_INIT".into(),
        ExchangeType::IkeAuth => "IKE_AUTH".into(),
        ExchangeType::CreateChildSa => "CREATE_CHILD_SA".into(),
        ExchangeType::Informational => "INFORMATIONAL".into(),
        other => format!("{other:?}"),
    }
}

/// `generating IKE_AUTH request 1 [ IDi AUTH … ]` (outgoing) or `parsed
/// … response …` (incoming), for a message's header and its payloads
/// (the inner ones, for an encrypted message).
pub fn describe(outgoing: bool, header: &Header, payloads: &[Payload]) -> String {
    let list = payload_list(payloads);
    let list = if list.is_empty() {
        " ".into()
    } else {
        format!(" {list} ")
    };
    format!(
        "{} {} {} {} [{list}]",
        if outgoing { "generating" } else { "parsed" },
        exchange_name(header.exchange_type),
        if header.flags.response() {
            "response"
        } else {
            "request"
        },
        header.message_id,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{Flags, Nonce, Notify};

    #[test]
    fn reads_like_charon() {
        let h = Header::new(1, 0, ExchangeType::IkeSaInit, Flags::new(true, false), 0);
        let p = vec![
            Payload::Nonce(Nonce(vec![1; 32])),
            Payload::Notify(Notify::new(NotifyType::NatDetectionSourceIp, vec![0; 20])),
            Payload::Notify(Notify::new(NotifyType::Cookie, vec![0; 8])),
        ];
        assert_eq!(
            describe(true, &h, &p),
            "generating IKE_SA_INIT request 0 [ No N(NATD_S_IP) N(COOKIE) ]"
        );
        let r = Header::new(
            1,
            2,
            ExchangeType::Informational,
            Flags::new(false, true),
            7,
        );
        assert_eq!(
            describe(false, &r, &[]),
            "parsed INFORMATIONAL response 7 [ ]"
        );
    }
}
