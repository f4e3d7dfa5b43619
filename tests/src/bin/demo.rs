//! The vwand demo (`sudo scripts/demo.sh`): an on-premises edge and an
//! emulated Azure Virtual WAN hub with two gateway instances, reached over
//! an emulated ExpressRoute circuit, all in network namespaces.
//!
//! ```text
//!  lan 172.24.10.10 ── edge: vwand ── ul0 172.24.127.211 ══ er (the circuit's router) ══╦═ hub0 10.51.230.4: charon + BIRD ─┐
//!                                                                                       ╚═ hub1 10.51.230.5: charon + BIRD ─┴─ vnet 10.51.231.10
//! ```
//!
//! It writes an Azure-style "Download VPN Config" file for this hub,
//! imports it with `vwand import-azure`, fills in the two values Azure's
//! file lacks, checks it (and shows the encryption guard refusing a bad
//! one), starts vwand, shows its status, runs a numbered stream from the
//! LAN over both tunnels, kills instance 0's gateway, shows the flows
//! moving and the measured gap, brings the instance back, and tears
//! everything down (also on failure or Ctrl-C: every process and namespace
//! is owned by a guard).

use netns::bird::Bird;
use netns::hub_bed::{instance_bird_options, instance_hub_options, PSK};
use netns::seqstream::{SeqStream, SeqStreamOptions};
use netns::vwand::{start_daemon, Side};
use netns::{poll_until, scratch_dir, veth_pair, workspace_bin, Netns, StrongswanHub};
use std::process::Command;
use std::time::{Duration, Instant};

const SITE_IP: &str = "172.24.127.211";
/// The site's BGP address (BGP_ONPREM of the harness: BIRD's neighbor).
const SITE_BGP: &str = netns::hub_bed::BGP_ONPREM;
const LAN_HOST: &str = "172.24.10.10";
const INSTANCES: [&str; 2] = ["10.51.230.4", "10.51.230.5"];
const BGP: [&str; 2] = ["10.51.230.12", "10.51.230.13"];
const ER_SIDE: [&str; 2] = ["10.51.230.254", "10.51.230.253"];
const VNET_HOST: &str = "10.51.231.10";
const TUNNELS: [&str; 2] = ["contoso-dc1-instance0", "contoso-dc1-instance1"];

fn say(what: &str) {
    println!("\n== {what}");
}

fn run(ns: &Netns, argv: &[&str]) -> String {
    let out = ns.exec(argv);
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn vwand_cli(args: &[&str]) -> (bool, String) {
    let out = Command::new(workspace_bin("vwand"))
        .args(args)
        .output()
        .expect("run vwand");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// Azure's export for this hub, in the portal's shape.
fn azure_export() -> String {
    format!(
        r#"[{{
  "configurationVersion": {{ "LastUpdatedTime": "2026-12-03T09:00:00Z", "Version": "demo" }},
  "vpnSiteConfiguration": {{
    "Name": "contoso-dc1", "IPAddress": "{SITE_IP}", "LinkName": "er-link-1",
    "BgpSetting": {{ "Asn": 65010, "BgpPeeringAddress": "{SITE_BGP}", "PeerWeight": 32768 }}
  }},
  "vpnSiteConnections": [{{
    "hubConfiguration": {{ "AddressSpace": "10.51.230.0/24", "Region": "West Europe",
                           "ConnectedSubnets": ["10.51.231.0/24"] }},
    "gatewayConfiguration": {{
      "IpAddresses": {{ "Instance0": "{}", "Instance1": "{}" }},
      "BgpSetting": {{ "Asn": 65515, "BgpPeeringAddresses": {{ "Instance0": "{}", "Instance1": "{}" }}, "PeerWeight": 0 }}
    }},
    "connectionConfiguration": {{
      "IsBgpEnabled": true, "PSK": "{PSK}",
      "IPsecParameters": {{ "SADataSizeInKilobytes": 102400000, "SALifeTimeInSeconds": 3600 }}
    }}
  }}]
}}]"#,
        INSTANCES[0], INSTANCES[1], BGP[0], BGP[1]
    )
}

struct Hub {
    // Drop order: BIRD, charon, namespace (BIRD is only kept alive).
    _bird: Bird,
    charon: StrongswanHub,
    ns: Netns,
    dir: std::path::PathBuf,
}

fn main() {
    netns::require_netns_env();
    let started = Instant::now();
    let scratch = scratch_dir();
    let dir = scratch.path().to_path_buf();

    say("the Azure side: two gateway instances behind an ExpressRoute circuit, one VNet");
    let lan = Netns::new("lan");
    let edge = Netns::new("edge");
    let er = Netns::new("er");
    let vnet = Netns::new("vnet");
    veth_pair(
        &lan,
        "eth0",
        &format!("{LAN_HOST}/24"),
        &edge,
        "lan0",
        "172.24.10.1/24",
    );
    lan.add_route("default", "172.24.10.1");
    edge.enable_forwarding();
    veth_pair(
        &edge,
        "ul0",
        &format!("{SITE_IP}/24"),
        &er,
        "e0",
        "172.24.127.1/24",
    );
    // The circuit carries the hub's address space (the instances' own
    // addresses); vwand refuses to route it into its tunnels.
    edge.add_route("10.51.230.0/24", "172.24.127.1");
    er.enable_forwarding();
    vnet.add_addr("lo", &format!("{VNET_HOST}/32"));
    let hubs: Vec<Hub> = (0..2)
        .map(|i| {
            let ns = Netns::new(&format!("hub{i}"));
            let (link, inst, side) = (format!("h{i}"), INSTANCES[i], ER_SIDE[i]);
            er.ip(&[
                "link",
                "add",
                &link,
                "type",
                "veth",
                "peer",
                "name",
                "ul0",
                "netns",
                ns.name(),
            ]);
            er.ip(&[
                "addr",
                "add",
                &format!("{side}/32"),
                "peer",
                &format!("{inst}/32"),
                "dev",
                &link,
            ]);
            ns.ip(&[
                "addr",
                "add",
                &format!("{inst}/32"),
                "peer",
                &format!("{side}/32"),
                "dev",
                "ul0",
            ]);
            er.link_up(&link);
            ns.link_up("ul0");
            ns.ip(&["route", "add", "172.24.127.0/24", "via", side, "dev", "ul0"]);
            ns.enable_forwarding();
            let (hv, vv) = (format!("10.51.24{i}.1"), format!("10.51.24{i}.2"));
            veth_pair(
                &ns,
                "vn0",
                &format!("{hv}/30"),
                &vnet,
                &format!("g{i}"),
                &format!("{vv}/30"),
            );
            ns.add_route("10.51.231.0/24", &vv);
            ns.ip(&[
                "rule",
                "add",
                "to",
                "10.51.231.0/24",
                "lookup",
                "main",
                "pref",
                "100",
            ]);
            let dir = dir.join(format!("hub{i}"));
            let charon = StrongswanHub::start(
                &ns,
                instance_hub_options(inst, SITE_IP, BGP[i]),
                &dir.join("charon"),
            );
            let prefixes = vec!["10.51.230.0/24".to_string(), "10.51.231.0/24".to_string()];
            // The session goes to the site's BGP address (SITE_BGP).
            let b = instance_bird_options(BGP[i], 9, &prefixes);
            let bird = Bird::start(&ns, b, &dir.join("bird"));
            Hub {
                _bird: bird,
                charon,
                ns,
                dir,
            }
        })
        .collect();
    let route =
        "route add 172.24.0.0/16 nexthop via 10.51.240.1 dev g0 nexthop via 10.51.241.1 dev g1";
    vnet.ip(&route.split(' ').collect::<Vec<_>>());
    println!(
        "   hub0 {} (BGP {}), hub1 {} (BGP {}), VNet host {VNET_HOST}",
        INSTANCES[0], BGP[0], INSTANCES[1], BGP[1]
    );

    say("Azure's \"Download VPN Config\" file for this hub, imported");
    let json = dir.join("vpnconfig.json");
    std::fs::write(&json, azure_export()).expect("write the export");
    let imported = dir.join("imported.toml");
    let (ok, out) = vwand_cli(&[
        "import-azure",
        json.to_str().unwrap(),
        "-o",
        imported.to_str().unwrap(),
    ]);
    assert!(ok, "{out}");
    print!("   {out}");
    let text = std::fs::read_to_string(&imported).expect("read the import");
    for l in text
        .lines()
        .filter(|l| l.contains("FILL-IN") || l.starts_with("peer") || l.starts_with("name"))
    {
        println!("   {l}");
    }
    let (ok, out) = vwand_cli(&["-c", imported.to_str().unwrap(), "check"]);
    assert!(!ok);
    println!("   vwand check, as imported: {}", out.trim());

    say("the encryption guard: the ExpressRoute prefix itself over the VPN is refused");
    let fill = |advertise: &str| {
        text.replace(
            "\"FILL-IN: on-premises prefixes to advertise over the VPN\"",
            advertise,
        )
        .replace(
            "\"FILL-IN: prefixes advertised over ExpressRoute\"",
            "\"172.24.0.0/16\"",
        )
        .replace("/run/vwand/status.sock", "{status_socket}")
    };
    let bad = dir.join("bad.toml");
    std::fs::write(
        &bad,
        fill("\"172.24.0.0/16\"").replace("{status_socket}", "/tmp/x"),
    )
    .unwrap();
    std::fs::set_permissions(&bad, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let (ok, out) = vwand_cli(&["-c", bad.to_str().unwrap(), "check"]);
    assert!(!ok);
    println!("   {}", out.trim());
    say("filled in: 172.24.0.0/17 and 172.24.128.0/17 over the VPN, 172.24.0.0/16 over ExpressRoute");
    let good = fill("\"172.24.0.0/17\", \"172.24.128.0/17\"");
    let vwand: Side = start_daemon(&scratch, edge, "vwand", &good);
    let (ok, out) = vwand_cli(&["-c", vwand.config.to_str().unwrap(), "check"]);
    assert!(ok, "{out}");
    println!("   {}", out.trim());
    let ready = poll_until(Duration::from_secs(60), || {
        let s = vwand.status();
        TUNNELS
            .iter()
            .all(|t| {
                let x = &s["tunnels"][t];
                x["health"] == "up"
                    && x["bgp"]["state"] == "Established"
                    && x["bgp"]["learned_count"].as_u64().unwrap_or(0) > 0
            })
            .then(Instant::now)
    });
    assert!(ready.is_some(), "tunnels not up: {:#}", vwand.status());

    say("vwand status");
    let (_, out) = vwand_cli(&["status", "--socket", vwand.status_socket.to_str().unwrap()]);
    print!("{out}");

    say("a LAN host sends 16 flows, 1,000 datagrams/s, to the VNet host; instance 0's gateway is killed after 3 s");
    let mut o = SeqStreamOptions::new(LAN_HOST, VNET_HOST);
    (o.flows, o.secs, o.pps) = (16, 14, 1000);
    let carried = |s: &serde_json::Value| {
        TUNNELS.map(|t| s["tunnels"][t]["esp_packets_out"].as_u64().unwrap_or(0))
    };
    let before = carried(&vwand.status());
    let stream = SeqStream::start(&vnet, &lan, &o, &dir);
    poll_until(Duration::from_secs(5), || {
        let now = carried(&vwand.status());
        (now[0] > before[0] + 1000 && now[1] > before[1] + 1000).then_some(())
    });
    let now = carried(&vwand.status());
    println!(
        "   after 3 s: {} packets over instance 0, {} over instance 1",
        now[0] - before[0],
        now[1] - before[1]
    );
    let mut hubs = hubs;
    let killed = Instant::now();
    hubs[0].charon.kill();
    println!("   charon of instance 0 SIGKILLed");
    let moved = poll_until(Duration::from_secs(5), || {
        let s = vwand.status();
        (s["tunnels"][TUNNELS[0]]["health"] != "up").then(|| {
            (
                killed.elapsed(),
                s["tunnels"][TUNNELS[0]]["health_reason"].clone(),
            )
        })
    });
    if let Some((t, why)) = moved {
        println!(
            "   vwand: instance 0 {why} after {} ms; its flows move to instance 1",
            t.as_millis()
        );
    }
    let opts = hubs[0].charon.options().clone();
    hubs[0].charon = StrongswanHub::start(&hubs[0].ns, opts, &hubs[0].dir.join("charon"));
    println!("   instance 0's gateway restarted");
    let back = poll_until(Duration::from_secs(20), || {
        (vwand.status()["tunnels"][TUNNELS[0]]["health"] == "up").then(|| killed.elapsed())
    });
    if let Some(t) = back {
        println!(
            "   instance 0 carries flows again {:.1} s after it died (IKE, then a 2 s hold-down)",
            t.as_secs_f64()
        );
    }
    let r = stream.finish();
    let gap = r
        .flows
        .iter()
        .filter_map(|f| f.max_gap.map(|g| g.ms))
        .fold(0.0, f64::max);
    let lossy = r.flows.iter().filter(|f| f.lost_all() > 0).count();
    println!(
        "   stream: {} of {} datagrams arrived; {lossy} of 16 flows lost some (those on instance 0); the longest any flow waited: {gap:.0} ms",
        r.total.received,
        r.total.sent.unwrap_or(0)
    );

    say("vwand status after the failover");
    let (_, out) = vwand_cli(&["status", "--socket", vwand.status_socket.to_str().unwrap()]);
    print!("{out}");
    say("what the circuit carries: only ESP in UDP 4500 to the instances (tcpdump on the circuit's router)");
    let cap = netns::Capture::start(&er, "e0", dir.join("circuit.pcap"), &["not", "arp"]);
    let _ = run(&lan, &["ping", "-c", "2", "-i", "0.2", VNET_HOST]);
    let text = netns::pcap_text(&cap.stop(), &[]);
    for l in text.lines().take(6) {
        println!("   {l}");
    }
    let clear = text
        .lines()
        .filter(|l| l.contains(VNET_HOST) || l.contains(LAN_HOST))
        .count();
    println!("   packets between the LAN and VNet hosts in clear on the circuit: {clear}");
    say(&format!(
        "done in {:.0} s; tearing down",
        started.elapsed().as_secs_f64()
    ));
    drop(vwand);
    drop(hubs);
}
