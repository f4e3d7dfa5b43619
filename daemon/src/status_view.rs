//! `vwand status` for people: the status document as a compact table, in
//! the spirit of `swanctl --list-sas` and `birdc show protocols`.
//! `vwand status --json` prints the document itself.

use serde_json::Value;
use std::fmt::Write;

fn now_ms() -> u64 {
    crate::status::unix_ms(std::time::SystemTime::now())
}

/// "3m12s", "2h04m", "1d03h" for a duration in seconds.
pub fn span(secs: f64) -> String {
    let s = secs.max(0.0) as u64;
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        3600..=86_399 => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d{:02}h", s / 86_400, (s % 86_400) / 3600),
    }
}

/// The age of a Unix-ms timestamp, or "-" if unset.
fn age(v: &Value) -> String {
    match v.as_u64().filter(|&t| t > 0) {
        Some(t) => span(now_ms().saturating_sub(t) as f64 / 1000.0),
        None => "-".into(),
    }
}

/// How long until a Unix-ms timestamp, or "-".
fn until(v: &Value) -> String {
    match v.as_u64().filter(|&t| t > 0) {
        Some(t) => span(t.saturating_sub(now_ms()) as f64 / 1000.0),
        None => "-".into(),
    }
}

fn n(v: &Value) -> u64 {
    v.as_u64().unwrap_or(0)
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

/// 1234567 → "1.2 MB".
fn bytes(b: u64) -> String {
    match b {
        0..=9_999 => format!("{b} B"),
        10_000..=9_999_999 => format!("{:.1} kB", b as f64 / 1e3),
        10_000_000..=9_999_999_999 => format!("{:.1} MB", b as f64 / 1e6),
        _ => format!("{:.2} GB", b as f64 / 1e9),
    }
}

/// The non-zero counters of `obj` among `names`, as "name n".
fn nonzero(obj: &Value, names: &[&str]) -> String {
    let parts: Vec<String> = names
        .iter()
        .filter(|k| n(&obj[**k]) > 0)
        .map(|k| format!("{k} {}", n(&obj[*k])))
        .collect();
    if parts.is_empty() {
        "none".into()
    } else {
        parts.join(", ")
    }
}

fn tunnel(out: &mut String, name: &str, t: &Value) {
    let health = s(&t["health"]);
    let reason = match s(&t["health_reason"]) {
        "" => String::new(),
        r => format!(" ({r})"),
    };
    let rtt = t["liveness_rtt_ms"]
        .as_f64()
        .map(|r| format!(", liveness rtt {r:.1} ms"))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "{name}: {health}{reason} for {}, peer {}, {}{rtt}",
        span(t["health_age_s"].as_f64().unwrap_or(0.0)),
        s(&t["peer"]),
        s(&t["transport"]),
    );
    let ike = &t["ike"];
    if ike.is_object() {
        let nat = if ike["nat"] == true { ", NAT-T" } else { "" };
        let _ = writeln!(
            out,
            "  IKE  {} {}, {}{nat}, SPIs {}_i {}_r, rekey in {}, {} rekeys{}",
            s(&ike["state"]),
            age(&ike["established_ms"]),
            s(&ike["suite"]),
            s(&ike["spi_i"]),
            s(&ike["spi_r"]),
            until(&ike["ike_rekey_at_ms"]),
            n(&ike["ike_rekeys"]),
            match (s(&ike["last_error"]), s(&ike["last_incoming_error"])) {
                ("", "") => String::new(),
                (e, "") => format!(", last error: {e}"),
                ("", i) => format!(", last failed attempt from the peer's address: {i}"),
                (e, i) =>
                    format!(", last error: {e}, last failed attempt from the peer's address: {i}"),
            }
        );
    }
    let (o, i) = (&t["outbound"], &t["inbound"]);
    if !s(&o["spi"]).is_empty() || !s(&i["spi"]).is_empty() {
        let esn = if t["esn"] == true { "/ESN" } else { "" };
        let _ = writeln!(
            out,
            "  ESP  {}{esn}, SPIs in {} out {}, age {}, rekey in {}, {} Child SAs so far ({} by lifetime)",
            s(&t["transform"]),
            s(&i["spi"]),
            s(&o["spi"]),
            age(&ike["child_installed_ms"]),
            until(&ike["child_rekey_at_ms"]),
            n(&ike["child_sas"]),
            n(&ike["lifetime_rekeys"]),
        );
        let _ = writeln!(
            out,
            "       out {} packets {}, in {} packets {}; last second {} packets, ~{} flows",
            n(&o["packets"]),
            bytes(n(&o["bytes"])),
            n(&i["packets"]),
            bytes(n(&i["bytes"])),
            n(&t["interval_packets"]),
            n(&t["interval_flows"]),
        );
        let _ = writeln!(
            out,
            "       drops: {}",
            nonzero(
                i,
                &[
                    "replay",
                    "too_old",
                    "icv_failure",
                    "bad_padding",
                    "malformed",
                    "expired",
                    "policy",
                    "wrong_peer",
                    "selectors"
                ]
            )
        );
        if !s(&t["selectors"]).is_empty() {
            let _ = writeln!(out, "       selectors {}", s(&t["selectors"]));
        }
    }
    let b = &t["bgp"];
    if b.is_object() {
        let _ = writeln!(out, "  BGP  {}", session(b));
    }
}

/// One BGP session on a line.
fn session(b: &Value) -> String {
    format!(
        "{} {}, peer {} AS {}, hold {} s, prefixes in {} out {}{}",
        s(&b["state"]),
        age(&b["since_ms"]),
        s(&b["peer"]),
        n(&b["peer_as"]),
        n(&b["hold_time"]),
        n(&b["learned_count"]),
        advertised(b),
        match s(&b["last_error"]) {
            "" => String::new(),
            e => format!(", last error: {e}"),
        }
    )
}

fn advertised(b: &Value) -> u64 {
    b["advertised_count"]
        .as_u64()
        .unwrap_or_else(|| b["advertised"].as_array().map_or(0, |a| a.len() as u64))
}

/// The mode, the LAN routers, the guard's notes and which path on-premises
/// routers prefer for each Azure prefix.
fn routing(out: &mut String, doc: &Value) {
    let r = &doc["routing"];
    let lan = doc["bgp_lan"].as_object();
    if !r.is_object() || (lan.is_none_or(|l| l.is_empty()) && s(&r["mode"]) == "encrypt") {
        return;
    }
    let _ = writeln!(
        out,
        "
routing: mode {}, LAN routers {}/{} established, {} prefixes advertised to Azure",
        s(&r["mode"]),
        n(&r["lan_established"]),
        n(&r["lan_sessions"]),
        n(&r["advertised_to_azure"]),
    );
    for b in lan.into_iter().flat_map(|l| l.values()) {
        let _ = writeln!(out, "  LAN  {}", session(b));
    }
    for (what, key) in [("NOT sent to Azure", "refused"), ("shadowed", "shadowed")] {
        for g in r[key].as_array().into_iter().flatten() {
            let _ = writeln!(
                out,
                "  guard: {} {what}: {}",
                s(&g["prefix"]),
                s(&g["reason"])
            );
        }
    }
    if let Some(p) = r["azure_prefixes"].as_object().filter(|p| !p.is_empty()) {
        let _ = writeln!(out, "  Azure prefixes (path on-premises routers prefer):");
        for (prefix, pref) in p {
            let _ = writeln!(out, "    {prefix:<20} {}", pref.as_str().unwrap_or(""));
        }
    }
}

/// The status document as text.
pub fn render(doc: &Value) -> String {
    let mut out = String::new();
    let tunnels = doc["tunnels"].as_object();
    let count = tunnels.map_or(0, |t| t.len());
    let up = tunnels.map_or(0, |t| t.values().filter(|x| x["health"] == "up").count());
    let bgp: Vec<&Value> = tunnels
        .map(|t| t.values().filter(|x| x["bgp"].is_object()).collect())
        .unwrap_or_default();
    let established = bgp
        .iter()
        .filter(|x| x["bgp"]["state"] == "Established")
        .count();
    let _ = writeln!(
        out,
        "vwand {}: {up}/{count} tunnels up, {established}/{} BGP sessions established, {} prefixes routed",
        s(&doc["version"]),
        bgp.len(),
        n(&doc["routes_count"])
    );
    for (name, t) in tunnels.into_iter().flatten() {
        out.push('\n');
        tunnel(&mut out, name, t);
    }
    if let Some(routes) = doc["routes"].as_object().filter(|r| !r.is_empty()) {
        let _ = writeln!(out, "\nroutes (prefix: carried by; all paths by tier)");
        for (prefix, r) in routes {
            let carried: Vec<&str> = r["carried_by"]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let paths: Vec<String> = r["paths"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|p| format!("{}/{}", s(&p["tunnel"]), n(&p["tier"])))
                        .collect()
                })
                .unwrap_or_default();
            let carried = if carried.is_empty() {
                "NONE".to_string()
            } else {
                carried.join(" ")
            };
            let _ = writeln!(out, "  {prefix:<20} {carried:<16} [{}]", paths.join(" "));
        }
        let listed = routes.len() as u64;
        if n(&doc["routes_count"]) > listed {
            let _ = writeln!(out, "  ... {} more", n(&doc["routes_count"]) - listed);
        }
    }
    routing(&mut out, doc);
    let ike = &doc["ike"];
    let _ = writeln!(
        out,
        "\nIKE: {} half-open, cookies {}; dropped: {}; liveness checks {}, suspects {}",
        n(&ike["half_open"]),
        if ike["cookies_required"] == true {
            "required"
        } else {
            "not required"
        },
        nonzero(
            ike,
            &[
                "undecodable",
                "unknown_spi",
                "unconfigured",
                "refused",
                "unexpected",
                "half_open_refused",
                "half_open_expired"
            ]
        ),
        n(&ike["liveness_checks"]),
        n(&ike["suspects"]),
    );
    let tun = &doc["tun"];
    let _ = writeln!(
        out,
        "TUN: {} packets read; dropped: {}",
        n(&tun["packets_read"]),
        nonzero(
            tun,
            &[
                "no_route",
                "no_sa",
                "selectors",
                "malformed",
                "refused",
                "send_errors"
            ]
        )
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans() {
        assert_eq!(span(5.2), "5s");
        assert_eq!(span(192.0), "3m12s");
        assert_eq!(span(7440.0), "2h04m");
        assert_eq!(span(97_200.0), "1d03h");
    }

    #[test]
    fn renders_a_document() {
        let doc = serde_json::json!({
            "version": "0.1.0",
            "routes_count": 1,
            "tunnels": {"hub0": {
                "health": "suspect", "health_reason": "liveness check unanswered",
                "health_age_s": 2.0, "peer": "10.51.230.4", "transport": "udp 172.24.127.211:4500",
                "ike": {"state": "established", "suite": "aes256gcm16-prfsha384-ecp384", "spi_i": "01", "spi_r": "02"},
                "transform": "aes256gcm16", "outbound": {"spi": "0x1"}, "inbound": {"spi": "0x2", "replay": 3},
                "bgp": {"state": "Established", "peer": "10.51.230.12", "peer_as": 65515, "learned_count": 3, "advertised": ["a", "b"]}
            }},
            "routes": {"10.51.231.0/24": {"carried_by": [], "paths": [{"tunnel": "hub0", "tier": 0}]}},
            "ike": {"unconfigured": 5}, "tun": {},
            "bgp_lan": {"192.168.20.1": {"state": "Established", "peer": "192.168.20.1", "peer_as": 65010, "learned_count": 2, "advertised_count": 1}},
            "routing": {"mode": "encrypt", "lan_sessions": 1, "lan_established": 1, "advertised_to_azure": 3,
                "refused": [{"prefix": "192.168.0.0/16", "reason": "same as ExpressRoute"}],
                "azure_prefixes": {"10.52.0.0/16": "vpn"}}
        });
        let t = render(&doc);
        assert!(
            t.contains("0/1 tunnels up, 1/1 BGP sessions established"),
            "{t}"
        );
        assert!(
            t.contains("hub0: suspect (liveness check unanswered)"),
            "{t}"
        );
        assert!(t.contains("drops: replay 3"), "{t}");
        assert!(t.contains("prefixes in 3 out 2"), "{t}");
        assert!(t.contains("10.51.231.0/24       NONE"), "{t}");
        assert!(t.contains("dropped: unconfigured 5"), "{t}");
        assert!(
            t.contains("routing: mode encrypt, LAN routers 1/1 established, 3 prefixes"),
            "{t}"
        );
        assert!(t.contains("LAN  Established"), "{t}");
        assert!(t.contains("peer 192.168.20.1 AS 65010"), "{t}");
        assert!(
            t.contains("guard: 192.168.0.0/16 NOT sent to Azure: same as ExpressRoute"),
            "{t}"
        );
        assert!(t.contains("10.52.0.0/16         vpn"), "{t}");
    }
}
