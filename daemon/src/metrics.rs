//! Prometheus metrics (text exposition format 0.0.4), from the same
//! status board as `vwand status`, on an opt-in TCP listener
//! (`[daemon] metrics_listen`, meant for localhost): any GET answers with
//! the metrics. One client at a time, each with a deadline.

use crate::status::{Board, Status};
use std::fmt::Write;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// One metric family: its help text, type, and samples.
struct Family<'a> {
    out: &'a mut String,
}

impl Family<'_> {
    fn head(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(
            self.out,
            "# HELP vwand_{name} {help}\n# TYPE vwand_{name} {kind}"
        );
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], v: impl std::fmt::Display) {
        let _ = write!(self.out, "vwand_{name}");
        if !labels.is_empty() {
            let l: Vec<String> = labels
                .iter()
                .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
                .collect();
            let _ = write!(self.out, "{{{}}}", l.join(","));
        }
        let _ = writeln!(self.out, " {v}");
    }
}

/// Label values escape backslash, quote and newline.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The board as Prometheus text.
pub fn render(s: &Status) -> String {
    let mut out = String::new();
    let mut f = Family { out: &mut out };
    f.head("info", "gauge", "vwand's version.");
    f.sample("info", &[("version", s.version)], 1);

    f.head(
        "tunnel_up",
        "gauge",
        "1 if the tunnel carries flows, by health (up, suspect, rejoining, down).",
    );
    for (name, t) in &s.tunnels {
        for h in ["up", "suspect", "rejoining", "down"] {
            f.sample(
                "tunnel_up",
                &[("tunnel", name), ("health", h)],
                u8::from(t.health == h),
            );
        }
    }
    f.head(
        "tunnel_health_age_seconds",
        "gauge",
        "Seconds since the tunnel's health last changed.",
    );
    let now = crate::status::unix_ms(std::time::SystemTime::now());
    for (name, t) in &s.tunnels {
        let age = now.saturating_sub(t.health_since_ms) as f64 / 1000.0;
        f.sample("tunnel_health_age_seconds", &[("tunnel", name)], age);
    }
    f.head(
        "liveness_rtt_seconds",
        "gauge",
        "Round trip of the tunnel's last liveness check.",
    );
    for (name, t) in &s.tunnels {
        if let Some(r) = t.liveness_rtt_ms {
            f.sample("liveness_rtt_seconds", &[("tunnel", name)], r / 1000.0);
        }
    }
    f.head(
        "esp_packets_total",
        "counter",
        "ESP packets over the tunnel's life.",
    );
    for (name, t) in &s.tunnels {
        f.sample(
            "esp_packets_total",
            &[("tunnel", name), ("direction", "out")],
            t.esp_packets_out,
        );
        f.sample(
            "esp_packets_total",
            &[("tunnel", name), ("direction", "in")],
            t.esp_packets_in,
        );
    }
    f.head(
        "sa_bytes",
        "gauge",
        "Inner bytes of the current Child SA (it restarts with each SA).",
    );
    for (name, t) in &s.tunnels {
        f.sample(
            "sa_bytes",
            &[("tunnel", name), ("direction", "out")],
            t.outbound.bytes,
        );
        f.sample(
            "sa_bytes",
            &[("tunnel", name), ("direction", "in")],
            t.inbound.bytes,
        );
    }
    f.head(
        "esp_drops",
        "gauge",
        "Inbound ESP packets dropped by the current SA, by reason.",
    );
    for (name, t) in &s.tunnels {
        let i = &t.inbound;
        for (reason, v) in [
            ("replay", i.replay),
            ("too_old", i.too_old),
            ("icv_failure", i.icv_failure),
            ("bad_padding", i.bad_padding),
            ("malformed", i.malformed),
            ("expired", i.expired),
            ("policy", i.policy),
            ("wrong_peer", i.wrong_peer),
            ("selectors", i.selectors),
        ] {
            f.sample("esp_drops", &[("tunnel", name), ("reason", reason)], v);
        }
    }
    f.head(
        "ike_established",
        "gauge",
        "1 if the tunnel's IKE SA is established.",
    );
    f.head("ike_rekeys_total", "counter", "IKE SA rekeys.");
    f.head(
        "child_sas_total",
        "counter",
        "Child SAs installed (the first and every rekey).",
    );
    for (name, t) in &s.tunnels {
        if let Some(ike) = &t.ike {
            f.sample(
                "ike_established",
                &[("tunnel", name)],
                u8::from(ike.state == "established"),
            );
            f.sample("ike_rekeys_total", &[("tunnel", name)], ike.ike_rekeys);
            f.sample("child_sas_total", &[("tunnel", name)], ike.child_sas);
        }
    }
    f.head(
        "bgp_established",
        "gauge",
        "1 if the tunnel's BGP session is Established.",
    );
    f.head(
        "bgp_prefixes",
        "gauge",
        "Prefixes learned and advertised on the session.",
    );
    for (name, t) in &s.tunnels {
        if let Some(b) = &t.bgp {
            f.sample(
                "bgp_established",
                &[("tunnel", name), ("peer", &b.peer)],
                u8::from(b.state == "Established"),
            );
            f.sample(
                "bgp_prefixes",
                &[("tunnel", name), ("direction", "learned")],
                b.learned_count,
            );
            f.sample(
                "bgp_prefixes",
                &[("tunnel", name), ("direction", "advertised")],
                b.advertised_count,
            );
        }
    }
    f.head(
        "bgp_lan_established",
        "gauge",
        "Whether the session with an on-premises router is Established.",
    );
    for (peer, b) in &s.bgp_lan {
        f.sample(
            "bgp_lan_established",
            &[("peer", peer)],
            u8::from(b.state == "Established"),
        );
    }
    f.head(
        "guard_refused_prefixes",
        "gauge",
        "Prefixes learned on-premises that the encryption guard keeps from Azure.",
    );
    f.sample("guard_refused_prefixes", &[], s.routing.refused.len());
    f.head("routes", "gauge", "Prefixes routed into the tunnels.");
    f.sample("routes", &[], s.routes_count);
    let tun = &s.tun;
    f.head(
        "tun_packets_read_total",
        "counter",
        "Packets read from the TUN.",
    );
    f.sample("tun_packets_read_total", &[], tun.packets_read);
    f.head(
        "tun_drops_total",
        "counter",
        "Packets from the TUN not sent, by reason.",
    );
    for (reason, v) in [
        ("no_route", tun.no_route),
        ("no_sa", tun.no_sa),
        ("selectors", tun.selectors),
        ("malformed", tun.malformed),
        ("refused", tun.refused),
        ("send_error", tun.send_errors),
    ] {
        f.sample("tun_drops_total", &[("reason", reason)], v);
    }
    let ike = &s.ike;
    f.head(
        "ike_half_open",
        "gauge",
        "Responder IKE SAs waiting for IKE_AUTH.",
    );
    f.sample("ike_half_open", &[], ike.half_open);
    f.head(
        "ike_dropped_total",
        "counter",
        "IKE datagrams dropped before reaching an SA, by reason.",
    );
    for (reason, v) in [
        ("undecodable", ike.undecodable),
        ("unknown_spi", ike.unknown_spi),
        ("unconfigured", ike.unconfigured),
        ("refused", ike.refused),
        ("unexpected", ike.unexpected),
        ("half_open_cap", ike.half_open_refused),
    ] {
        f.sample("ike_dropped_total", &[("reason", reason)], v);
    }
    f.head(
        "ike_cookies_sent_total",
        "counter",
        "IKE_SA_INIT requests answered with a cookie.",
    );
    f.sample("ike_cookies_sent_total", &[], ike.cookies_sent);
    f.head(
        "liveness_checks_total",
        "counter",
        "Liveness checks started because ESP went out unanswered.",
    );
    f.sample("liveness_checks_total", &[], ike.liveness_checks);
    f.head(
        "suspects_total",
        "counter",
        "Times a tunnel became suspect.",
    );
    f.sample("suspects_total", &[], ike.suspects);
    f.head(
        "transport_datagrams_total",
        "counter",
        "Datagrams received per ESP socket, by what they were.",
    );
    for (socket, t) in &s.transports {
        for (kind, v) in [
            ("received", t.datagrams),
            ("unknown_spi", t.unknown_spi),
            ("malformed", t.malformed),
            ("ike", t.ike_forwarded),
            ("nat_keepalive", t.nat_keepalives),
        ] {
            f.sample(
                "transport_datagrams_total",
                &[("socket", socket), ("kind", kind)],
                v,
            );
        }
    }
    out
}

/// Serves the metrics until the task is aborted.
pub async fn serve(listener: TcpListener, board: Board) {
    let mut failures = 0u32;
    loop {
        let (mut stream, _) = match listener.accept().await {
            Ok(c) => {
                failures = 0;
                c
            }
            Err(e) => {
                failures = failures.saturating_add(1);
                if failures == 1 {
                    tracing::warn!(error = %e, "metrics: accept failed; backing off");
                }
                tokio::time::sleep(crate::status::accept_backoff(failures)).await;
                continue;
            }
        };
        let body = {
            let guard = board.lock().unwrap_or_else(|p| p.into_inner());
            render(&guard)
        };
        let exchange = async {
            // The request itself does not matter; read what came.
            let mut req = [0u8; 1024];
            let _ = stream.read(&mut req).await?;
            let head = format!(
                "HTTP/1.0 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            stream.write_all(head.as_bytes()).await?;
            stream.write_all(body.as_bytes()).await?;
            stream.shutdown().await
        };
        if let Err(e) = tokio::time::timeout(Duration::from_secs(2), exchange).await {
            tracing::debug!(error = %e, "metrics client too slow");
        }
    }
}
