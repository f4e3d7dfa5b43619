//! A file sent over TCP and hashed on both hosts (SHA-256): the end-to-end
//! check that bytes cross a tunnel intact (`offload`, `multi_queue`).

use crate::{poll_until, Netns, ScratchDir};
use std::time::Duration;

/// Receives one connection, prints `received N SHA256`.
pub const SERVER: &str = r#"
import hashlib, socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2])))
s.listen(1)
print("listening", flush=True)
c, _ = s.accept()
h, n = hashlib.sha256(), 0
while True:
    d = c.recv(1 << 20)
    if not d:
        break
    h.update(d)
    n += len(d)
print("received", n, h.hexdigest(), flush=True)
"#;

/// Sends N seeded-random bytes, prints `sent N SHA256`.
pub const CLIENT: &str = r#"
import hashlib, random, socket, sys
data = random.Random(7).randbytes(int(sys.argv[3]))
c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=30)
c.sendall(data)
c.close()
print("sent", len(data), hashlib.sha256(data).hexdigest(), flush=True)
"#;

/// Sends `size` bytes from `from` to `to_addr:port` in `to`; returns what
/// the sender and the receiver printed (`sent N HASH`, `received N HASH`).
///
/// # Panics
/// If either end fails or the transfer takes over 120 s.
pub fn transfer(
    scratch: &ScratchDir,
    tag: &str,
    from: &Netns,
    to: &Netns,
    to_addr: &str,
    (port, size): (u16, usize),
) -> (String, String) {
    let port = port.to_string();
    let mut server = to.spawn(
        "python3",
        &["-c", SERVER, to_addr, &port],
        scratch.join(format!("server-{tag}.log")),
    );
    server.wait_for_log("listening", Duration::from_secs(10));
    let size = size.to_string();
    let out = from
        .exec_timeout(
            &["python3", "-c", CLIENT, to_addr, &port, &size],
            Duration::from_secs(120),
        )
        .expect("the transfer ends within 120 s");
    let sent = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(
        out.status.success(),
        "client: {sent} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let received = poll_until(Duration::from_secs(30), || {
        let log = server.log();
        log.lines()
            .find(|l| l.starts_with("received"))
            .map(str::to_string)
    })
    .expect("the receiver reports within 30 s");
    (sent, received)
}
