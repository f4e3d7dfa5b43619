//! What `swanctl --list-sas --pretty` says, parsed: [`IkeSaInfo`] with its
//! [`ChildInfo`]s.

/// One IKE_SA from `swanctl --list-sas`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IkeSaInfo {
    /// Connection name.
    pub name: String,
    /// charon's unique ID of the IKE_SA (`#N`).
    pub uniqueid: u32,
    /// State, e.g. `CONNECTING`, `ESTABLISHED`, `DELETING`.
    pub state: String,
    /// `state == "ESTABLISHED"`.
    pub established: bool,
    /// Local outer address and port.
    pub local_host: String,
    /// Local IKE port (4500 after NAT-T floating).
    pub local_port: u16,
    /// Peer's outer address.
    pub remote_host: String,
    /// Peer's IKE port.
    pub remote_port: u16,
    /// Local identity.
    pub local_id: String,
    /// Peer's identity.
    pub remote_id: String,
    /// Whether this side was the initiator (`initiator = yes`).
    pub initiator: bool,
    /// IKE SPIs as hex strings.
    pub initiator_spi: String,
    /// Responder's IKE SPI (hex).
    pub responder_spi: String,
    /// e.g. `AES_GCM_16`, `AES_CBC`.
    pub encr_alg: String,
    /// Key size in bits (0 if not shown).
    pub encr_keysize: u32,
    /// e.g. `HMAC_SHA2_256_128`; empty for AEAD.
    pub integ_alg: String,
    /// e.g. `PRF_HMAC_SHA2_384`.
    pub prf_alg: String,
    /// e.g. `ECP_384`, `MODP_2048`, `CURVE_25519`.
    pub dh_group: String,
    /// charon believes the peer is behind NAT (always with kernel-libipsec).
    pub nat_remote: bool,
    /// The CHILD_SAs.
    pub children: Vec<ChildInfo>,
    /// Every `key = value` of the IKE_SA as printed (scalars only).
    pub fields: Vec<(String, String)>,
}

impl IkeSaInfo {
    /// The value of `key` as printed by swanctl.
    pub fn field(&self, key: &str) -> Option<&str> {
        lookup(&self.fields, key)
    }

    /// The CHILD_SA named `name`.
    pub fn child(&self, name: &str) -> Option<&ChildInfo> {
        self.children.iter().find(|c| c.name == name)
    }
}

/// One CHILD_SA from `swanctl --list-sas`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChildInfo {
    /// Child config name.
    pub name: String,
    /// charon's unique ID (`net{N}`).
    pub uniqueid: u32,
    /// reqid.
    pub reqid: u32,
    /// e.g. `INSTALLED`, `REKEYED`, `DELETING`.
    pub state: String,
    /// `state == "INSTALLED"`.
    pub installed: bool,
    /// `TUNNEL` / `TRANSPORT`.
    pub mode: String,
    /// `ESP` / `AH`.
    pub protocol: String,
    /// UDP encapsulated (always with kernel-libipsec).
    pub encap: bool,
    /// Inbound SPI (the one the peer sends with).
    pub spi_in: u32,
    /// Outbound SPI.
    pub spi_out: u32,
    /// e.g. `AES_GCM_16`, `AES_CBC`.
    pub encr_alg: String,
    /// Key size in bits.
    pub encr_keysize: u32,
    /// e.g. `HMAC_SHA2_256_128`; empty for AEAD.
    pub integ_alg: String,
    /// PFS group if any.
    pub dh_group: String,
    /// Whether ESN is used.
    pub esn: bool,
    /// Decrypted bytes received.
    pub bytes_in: u64,
    /// Bytes sent.
    pub bytes_out: u64,
    /// Packets received.
    pub packets_in: u64,
    /// Packets sent.
    pub packets_out: u64,
    /// Local traffic selectors.
    pub local_ts: Vec<String>,
    /// Remote traffic selectors.
    pub remote_ts: Vec<String>,
    /// Every scalar `key = value` as printed.
    pub fields: Vec<(String, String)>,
}

impl ChildInfo {
    /// The value of `key` as printed by swanctl.
    pub fn field(&self, key: &str) -> Option<&str> {
        lookup(&self.fields, key)
    }
}

fn lookup<'a>(fields: &'a [(String, String)], key: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// A node of a vici message as printed by `swanctl --pretty`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ViciNode {
    /// `key = value`
    Value(String),
    /// `key = [ item... ]`
    List(Vec<String>),
    /// `name { ... }`
    Section(Vec<(String, ViciNode)>),
}

/// Parses `swanctl ... --pretty` output into its top-level sections
/// (`("list-sa event", Section(..))`, `("list-sas reply", ..)`, ...). Lines
/// that fit no pattern (swanctl's own messages) are skipped.
pub fn parse_vici_pretty(text: &str) -> Vec<(String, ViciNode)> {
    // Stack of open sections: (name, entries).
    let mut stack: Vec<(String, Vec<(String, ViciNode)>)> = vec![(String::new(), Vec::new())];
    let mut list: Option<(String, Vec<String>)> = None;
    for raw in text.lines() {
        let line = raw.trim();
        if line.is_empty() {
            continue;
        }
        if let Some((key, items)) = list.as_mut() {
            if line == "]" {
                let node = ViciNode::List(std::mem::take(items));
                let key = std::mem::take(key);
                list = None;
                stack.last_mut().expect("root").1.push((key, node));
            } else {
                items.push(line.to_string());
            }
            continue;
        }
        if line == "}" {
            if stack.len() > 1 {
                let (name, entries) = stack.pop().expect("len > 1");
                stack
                    .last_mut()
                    .expect("root")
                    .1
                    .push((name, ViciNode::Section(entries)));
            }
            continue;
        }
        if let Some((k, v)) = line.split_once(" = ") {
            if v == "[" {
                list = Some((k.to_string(), Vec::new()));
            } else {
                stack
                    .last_mut()
                    .expect("root")
                    .1
                    .push((k.to_string(), ViciNode::Value(v.to_string())));
            }
        } else if let Some(k) = line.strip_suffix(" =") {
            stack
                .last_mut()
                .expect("root")
                .1
                .push((k.to_string(), ViciNode::Value(String::new())));
        } else if let Some(name) = line.strip_suffix(" {") {
            stack.push((name.to_string(), Vec::new()));
        }
    }
    // Close anything left open by truncated output.
    while stack.len() > 1 {
        let (name, entries) = stack.pop().expect("len > 1");
        stack
            .last_mut()
            .expect("root")
            .1
            .push((name, ViciNode::Section(entries)));
    }
    stack.pop().expect("root").1
}

/// Parses `swanctl --list-sas --pretty` output.
pub fn parse_list_sas(text: &str) -> Vec<IkeSaInfo> {
    let mut sas = Vec::new();
    for (msg, node) in parse_vici_pretty(text) {
        let ViciNode::Section(ikes) = node else {
            continue;
        };
        if msg != "list-sa event" {
            continue;
        }
        for (name, ike) in ikes {
            if let ViciNode::Section(entries) = ike {
                sas.push(ike_sa(name, &entries));
            }
        }
    }
    sas
}

fn scalars(entries: &[(String, ViciNode)]) -> Vec<(String, String)> {
    entries
        .iter()
        .filter_map(|(k, v)| match v {
            ViciNode::Value(s) => Some((k.clone(), s.clone())),
            _ => None,
        })
        .collect()
}

fn ike_sa(name: String, entries: &[(String, ViciNode)]) -> IkeSaInfo {
    let fields = scalars(entries);
    let s = |k: &str| lookup(&fields, k).unwrap_or_default().to_string();
    let n = |k: &str| lookup(&fields, k).and_then(|v| v.parse().ok()).unwrap_or(0);
    let children = entries
        .iter()
        .filter(|(k, _)| k == "child-sas")
        .flat_map(|(_, v)| match v {
            ViciNode::Section(c) => c.clone(),
            _ => Vec::new(),
        })
        .filter_map(|(_, v)| match v {
            ViciNode::Section(c) => Some(child_sa(&c)),
            _ => None,
        })
        .collect();
    let state = s("state");
    IkeSaInfo {
        name,
        uniqueid: n("uniqueid"),
        established: state == "ESTABLISHED",
        state,
        local_host: s("local-host"),
        local_port: lookup(&fields, "local-port")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0),
        remote_host: s("remote-host"),
        remote_port: lookup(&fields, "remote-port")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0),
        local_id: s("local-id"),
        remote_id: s("remote-id"),
        initiator: s("initiator") == "yes",
        initiator_spi: s("initiator-spi"),
        responder_spi: s("responder-spi"),
        encr_alg: s("encr-alg"),
        encr_keysize: n("encr-keysize"),
        integ_alg: s("integ-alg"),
        prf_alg: s("prf-alg"),
        dh_group: s("dh-group"),
        nat_remote: s("nat-remote") == "yes",
        children,
        fields,
    }
}

fn child_sa(entries: &[(String, ViciNode)]) -> ChildInfo {
    let fields = scalars(entries);
    let s = |k: &str| lookup(&fields, k).unwrap_or_default().to_string();
    let n = |k: &str| -> u64 { lookup(&fields, k).and_then(|v| v.parse().ok()).unwrap_or(0) };
    let spi = |k: &str| {
        lookup(&fields, k)
            .and_then(|v| u32::from_str_radix(v, 16).ok())
            .unwrap_or(0)
    };
    let list = |k: &str| {
        entries
            .iter()
            .find_map(|(key, v)| match v {
                ViciNode::List(items) if key == k => Some(items.clone()),
                _ => None,
            })
            .unwrap_or_default()
    };
    let state = s("state");
    ChildInfo {
        name: s("name"),
        uniqueid: n("uniqueid") as u32,
        reqid: n("reqid") as u32,
        installed: state == "INSTALLED",
        state,
        mode: s("mode"),
        protocol: s("protocol"),
        encap: s("encap") == "yes",
        spi_in: spi("spi-in"),
        spi_out: spi("spi-out"),
        encr_alg: s("encr-alg"),
        encr_keysize: n("encr-keysize") as u32,
        integ_alg: s("integ-alg"),
        dh_group: s("dh-group"),
        esn: s("esn") == "1" || s("esn") == "yes",
        bytes_in: n("bytes-in"),
        bytes_out: n("bytes-out"),
        packets_in: n("packets-in"),
        packets_out: n("packets-out"),
        local_ts: list("local-ts"),
        remote_ts: list("remote-ts"),
        fields,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
list-sa event {
  s2s {
    uniqueid = 1
    version = 2
    state = ESTABLISHED
    local-host = 192.0.2.2
    local-port = 4500
    local-id = 192.0.2.2
    remote-host = 192.0.2.1
    remote-port = 4500
    remote-id = C=CH, O=strongSwan, CN=peer
    initiator-spi = 44eb56804d17c0b6
    responder-spi = 3b36a21f8258ed4a
    nat-remote = yes
    nat-any = yes
    encr-alg = AES_GCM_16
    encr-keysize = 256
    prf-alg = PRF_HMAC_SHA2_384
    dh-group = ECP_384
    established = 3
    rekey-time = 14043
    child-sas {
      net-1 {
        name = net
        uniqueid = 1
        reqid = 1
        state = INSTALLED
        mode = TUNNEL
        protocol = ESP
        encap = yes
        spi-in = 02ed76ee
        spi-out = 5b4118ea
        encr-alg = AES_GCM_16
        encr-keysize = 256
        bytes-in = 420
        packets-in = 5
        bytes-out = 0
        packets-out = 0
        rekey-time = 3271
        life-time = 3957
        install-time = 3
        local-ts = [
          10.51.0.0/16
          10.52.0.0/16
        ]
        remote-ts = [
          10.1.0.0/16
        ]
      }
    }
  }
}
list-sas reply {
}
";

    #[test]
    fn parses_pretty_list_sas() {
        let sas = parse_list_sas(SAMPLE);
        assert_eq!(sas.len(), 1);
        let sa = &sas[0];
        assert_eq!(sa.name, "s2s");
        assert!(sa.established);
        assert_eq!(sa.local_port, 4500);
        assert_eq!(sa.remote_id, "C=CH, O=strongSwan, CN=peer");
        assert_eq!(sa.dh_group, "ECP_384");
        assert!(sa.nat_remote);
        assert_eq!(sa.field("rekey-time"), Some("14043"));
        let c = sa.child("net").expect("child");
        assert!(c.installed && c.encap);
        assert_eq!(c.spi_in, 0x02ed_76ee);
        assert_eq!(c.spi_out, 0x5b41_18ea);
        assert_eq!((c.bytes_in, c.packets_in), (420, 5));
        assert_eq!(c.local_ts, ["10.51.0.0/16", "10.52.0.0/16"]);
        assert_eq!(c.remote_ts, ["10.1.0.0/16"]);
        assert_eq!(c.field("life-time"), Some("3957"));
    }

    #[test]
    fn parses_empty_list() {
        assert!(parse_list_sas("list-sas reply {\n}\n").is_empty());
        assert!(parse_list_sas("").is_empty());
    }
}
