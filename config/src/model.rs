//! The configuration file's shape. Every table refuses unknown fields.

use esp::{SecretBytes, Transform};
use ipnet::IpNet;
use serde::{de, Deserialize, Deserializer};
use std::net::IpAddr;
use std::path::PathBuf;
use toml::Spanned;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub daemon: DaemonSection,
    pub tun: TunSection,
    #[serde(default, rename = "tunnel")]
    pub tunnels: Vec<Spanned<TunnelSection>>,
    /// The embedded BGP speaker.
    pub bgp: Option<crate::bgp_section::BgpSection>,
    /// Failover: liveness checks, suspicion, hold-down, retries.
    #[serde(default)]
    pub liveness: crate::liveness::LivenessSection,
    /// Findings that do not stop the daemon (e.g. the encryption guard's
    /// warnings), each with its place in the file.
    #[serde(skip)]
    pub warnings: Vec<crate::ConfigError>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DaemonSection {
    /// Read-only status socket.
    #[serde(default = "default_status_socket")]
    pub status_socket: PathBuf,
    /// Data-plane socket receive buffer, bytes.
    #[serde(default = "default_socket_buffer")]
    pub socket_buffer: usize,
    /// RFC 7296 §2.6: IKE_SA_INIT requests need a cookie once this many
    /// responder SAs are half-open (answered, not yet authenticated); 0:
    /// always.
    #[serde(default = "default_cookie_threshold")]
    pub ike_cookie_threshold: usize,
    /// No new half-open responder SA above this many (1 or more).
    #[serde(default = "default_half_open_max")]
    pub ike_half_open_max: usize,
    /// A half-open responder SA is dropped after this many seconds.
    #[serde(default = "default_half_open_seconds")]
    pub ike_half_open_seconds: u64,
    /// Prometheus metrics over HTTP at this address (off unless set;
    /// meant for localhost, e.g. "127.0.0.1:9713").
    pub metrics_listen: Option<std::net::SocketAddr>,
}

impl Default for DaemonSection {
    fn default() -> Self {
        Self {
            status_socket: default_status_socket(),
            socket_buffer: default_socket_buffer(),
            ike_cookie_threshold: default_cookie_threshold(),
            ike_half_open_max: default_half_open_max(),
            ike_half_open_seconds: default_half_open_seconds(),
            metrics_listen: None,
        }
    }
}

fn default_cookie_threshold() -> usize {
    8
}

fn default_half_open_max() -> usize {
    64
}

fn default_half_open_seconds() -> u64 {
    30
}

fn default_status_socket() -> PathBuf {
    PathBuf::from("/run/vwand/status.sock")
}

fn default_socket_buffer() -> usize {
    8 << 20
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TunSection {
    #[serde(default = "default_tun_name")]
    pub name: String,
    /// Azure recommends 1400 on the tunnel interface.
    #[serde(default = "default_mtu")]
    pub mtu: u32,
    /// Addresses of the TUN device, with prefix length.
    #[serde(default)]
    pub addresses: Vec<IpNet>,
    /// TCP SYNs crossing the tunnels, either way, get their MSS lowered to
    /// this (Azure recommends 1350); 0 turns clamping off.
    #[serde(default = "default_mss")]
    pub mss_clamp: u16,
    /// The MTU of the underlay (ExpressRoute: 1500). A packet that would
    /// not fit it once encrypted, and may not be fragmented, is answered
    /// with ICMP "fragmentation needed" / "packet too big".
    #[serde(default = "default_underlay_mtu")]
    pub underlay_mtu: u16,
    /// TUN offloads (IFF_VNET_HDR): the kernel hands over TCP and UDP
    /// super-packets of up to 64 KiB that vwand splits before sealing,
    /// and takes coalesced TCP segments after opening, one system call
    /// for many packets. Off: one packet per read and write.
    #[serde(default = "default_true")]
    pub offload: bool,
    /// TUN queues, each read by its own worker (IFF_MULTI_QUEUE); the
    /// kernel keeps a flow on one queue. Workers share each tunnel's SA
    /// (one atomic sequence counter). 1..=64; more than the cores helps
    /// nothing.
    #[serde(default = "default_queues")]
    pub queues: u16,
}

fn default_queues() -> u16 {
    1
}

fn default_true() -> bool {
    true
}

fn default_mss() -> u16 {
    1350
}

fn default_underlay_mtu() -> u16 {
    1500
}

fn default_tun_name() -> String {
    "vwand0".into()
}

fn default_mtu() -> u32 {
    1400
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// ESP directly over IP (protocol 50), as over ExpressRoute.
    Raw,
    /// ESP in UDP (RFC 3948).
    Udp,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TunnelSection {
    pub name: String,
    /// Our outer address.
    pub local: IpAddr,
    /// The peer's outer address.
    pub peer: IpAddr,
    pub transport: Transport,
    /// UDP port for `transport = "udp"`, ours and the peer's.
    #[serde(default = "default_udp_port")]
    pub udp_port: u16,
    /// Prefixes behind the peer: routed into this tunnel, and the only
    /// inner sources accepted from it (RFC 4301 §5.2).
    pub routes: Vec<Spanned<IpNet>>,
    /// RFC 4301 §4.5 manual keying.
    pub manual: Option<ManualSection>,
    /// IKEv2 keying: the usual way.
    pub ike: Option<IkeSection>,
    /// The BGP session to this instance, carried by this tunnel.
    pub bgp: Option<crate::bgp_section::TunnelBgpSection>,
}

/// IKEv2 (RFC 7296) with a pre-shared key. ESP goes raw unless a NAT is
/// detected or the tunnel's transport is "udp", which forces
/// encapsulation.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IkeSection {
    /// The pre-shared key, as Azure's VPN configuration prints it.
    pub psk: Spanned<TextSecret>,
    /// Our ID: an IP address, an FQDN, or `keyid:text` / `keyid:#hex`;
    /// defaults to `local`.
    pub local_id: Option<Spanned<String>>,
    /// The peer's ID; defaults to `peer`.
    pub remote_id: Option<Spanned<String>>,
    /// IKE proposals in strongSwan syntax, preferred first.
    #[serde(default = "default_ike_proposals")]
    pub proposals: Vec<Spanned<String>>,
    /// ESP proposals in strongSwan syntax, preferred first.
    #[serde(default = "default_esp_proposals")]
    pub esp_proposals: Vec<Spanned<String>>,
    /// Allow MODP-1024 (Azure's default policy). Logged as a warning.
    #[serde(default)]
    pub allow_legacy: bool,
    /// Start the IKE SA (and restart it when it fails); otherwise wait for
    /// the peer.
    #[serde(default = "yes")]
    pub initiate: bool,
    /// Liveness check after this many idle seconds (0: off).
    #[serde(default = "default_dpd")]
    pub dpd_seconds: u64,
    /// First retransmission after this many milliseconds, doubling, at
    /// most `retransmits` times: a dead peer is noticed within their sum.
    #[serde(default = "default_retransmit_ms")]
    pub retransmit_ms: u64,
    #[serde(default = "default_retransmits")]
    pub retransmits: u32,
    #[serde(default = "default_replay_window")]
    pub replay_window: Spanned<u32>,
    /// Rekey the Child SA after this many seconds (less up to 10%); 0:
    /// never. Azure's SA lifetime is 3600 s, so the default rekeys first.
    #[serde(default = "default_child_rekey")]
    pub child_rekey_seconds: u64,
    /// Rekey the IKE SA after this many seconds (less up to 10%); 0:
    /// never. Azure's IKE SA lifetime is 28,800 s.
    #[serde(default = "default_ike_rekey")]
    pub ike_rekey_seconds: u64,
    /// IKE fragmentation (RFC 7383): the largest IP datagram an IKE
    /// fragment makes; 0 turns fragmentation off.
    #[serde(default = "default_fragment_size")]
    pub fragment_size: Spanned<usize>,
    /// Rekey a Child SA after this many inner bytes in either direction;
    /// it stops 10% later. 0: by time only. Azure's "SA data size" is
    /// 102,400,000 KB.
    #[serde(default)]
    pub child_rekey_bytes: u64,
    /// Traffic selectors we propose: our side and the peer's. Azure's
    /// route-based gateways use 0.0.0.0/0 both ways (the default); the
    /// peer may narrow them, and the SA then carries only what they allow.
    #[serde(default = "default_ts")]
    pub local_ts: Vec<Spanned<IpNet>>,
    #[serde(default = "default_ts")]
    pub remote_ts: Vec<Spanned<IpNet>>,
}

fn default_ts() -> Vec<Spanned<IpNet>> {
    vec![Spanned::new(0..0, IpNet::V4(Default::default()))]
}

fn default_fragment_size() -> Spanned<usize> {
    Spanned::new(0..0, ike::sa::DEFAULT_FRAGMENT_SIZE)
}

fn default_ike_rekey() -> u64 {
    25200
}

fn default_child_rekey() -> u64 {
    3000
}

fn default_ike_proposals() -> Vec<Spanned<String>> {
    vec![Spanned::new(0..0, "aes256gcm16-prfsha384-ecp384".into())]
}

fn default_esp_proposals() -> Vec<Spanned<String>> {
    vec![Spanned::new(0..0, "aes256gcm16".into())]
}

fn yes() -> bool {
    true
}

fn default_dpd() -> u64 {
    10
}

fn default_retransmit_ms() -> u64 {
    1000
}

fn default_retransmits() -> u32 {
    3
}

/// A secret written as text (a PSK). The error never repeats it.
#[derive(Debug, Clone)]
pub struct TextSecret(pub SecretBytes);

impl<'de> Deserialize<'de> for TextSecret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = zeroize::Zeroizing::new(String::deserialize(d)?);
        if s.is_empty() {
            return Err(de::Error::custom("the pre-shared key is empty"));
        }
        Ok(TextSecret(SecretBytes::new(s.as_bytes().to_vec())))
    }
}

fn default_udp_port() -> u16 {
    4500
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManualSection {
    pub transform: Spanned<Named<Transform>>,
    #[serde(default)]
    pub esn: bool,
    #[serde(default = "default_replay_window")]
    pub replay_window: Spanned<u32>,
    pub outbound: ManualSa,
    pub inbound: ManualSa,
}

fn default_replay_window() -> Spanned<u32> {
    Spanned::new(0..0, esp::replay::DEFAULT_WINDOW)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManualSa {
    pub spi: Spanned<u32>,
    /// Encryption key; for AEADs the 4-byte salt follows the key.
    pub key: Spanned<HexSecret>,
    /// Integrity key, for CBC transforms.
    pub auth_key: Option<Spanned<HexSecret>>,
}

/// A value parsed from a string with `FromStr`, with the parser's message
/// as the error.
#[derive(Debug, Clone, Copy)]
pub struct Named<T>(pub T);

impl<'de, T> Deserialize<'de> for Named<T>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map(Named).map_err(de::Error::custom)
    }
}

/// A secret written in hex. The error never repeats the text.
#[derive(Debug, Clone)]
pub struct HexSecret(pub SecretBytes);

impl<'de> Deserialize<'de> for HexSecret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = zeroize::Zeroizing::new(String::deserialize(d)?);
        SecretBytes::from_hex(&s)
            .map(HexSecret)
            .map_err(|e| de::Error::custom(format!("key is not valid hex: {e}")))
    }
}
