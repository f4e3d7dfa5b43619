//! The README's first command must keep working: the demo binary
//! (`scripts/demo.sh` builds and runs it) runs here end to end and tells
//! its story: the import, the guard, both tunnels, the failover with its
//! gap under a second, the return, and a circuit without clear traffic.

use netns::workspace_bin;
use std::process::Command;

#[test]
fn the_demo_runs_and_tells_its_story() {
    let out = Command::new(workspace_bin("demo"))
        .output()
        .expect("run the demo");
    let text = String::from_utf8_lossy(&out.stdout);
    println!("{text}");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for line in [
        "replace this placeholder from `vwand import-azure`",
        "encryption guard: 172.24.0.0/16 is also advertised over ExpressRoute",
        "2/2 tunnels up, 2/2 BGP sessions established",
        "its flows move to instance 1",
        "instance 0 carries flows again",
        "packets between the LAN and VNet hosts in clear on the circuit: 0",
    ] {
        assert!(text.contains(line), "{line:?} missing");
    }
    let gap: f64 = text
        .split("the longest any flow waited: ")
        .nth(1)
        .and_then(|s| s.split(" ms").next())
        .and_then(|s| s.parse().ok())
        .expect("the gap");
    assert!(gap < 1000.0, "{gap} ms");
}
