//! Several TUN queues (`[tun] queues`): one outbound worker per queue. The
//! kernel keeps a flow on one queue, so a flow's packets stay in order;
//! the workers share each tunnel's SA (`Arc<OutboundSa>`, one atomic
//! sequence counter) and take turns to seal and send (`Outbound::egress`),
//! so the peer sees one SA whose packets arrive in sequence order.
//!
//! The control plane keeps talking to one command channel; `fan_out` gives
//! every worker its own copy of each command and answers a command that
//! changes SAs once every worker has it in effect (make-before-break
//! holds across queues).

use super::outbound::OutCommand;
use tokio::sync::{mpsc, oneshot};

/// Copies `cmd` for each worker; SA changes get one answer per worker.
fn copies(cmd: &OutCommand, n: usize) -> (Vec<OutCommand>, Vec<oneshot::Receiver<()>>) {
    let mut acks = Vec::new();
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let c = match cmd {
            OutCommand::Install {
                tunnel,
                sa,
                socket,
                dest,
                ..
            } => {
                let (done, rx) = oneshot::channel();
                acks.push(rx);
                OutCommand::Install {
                    tunnel: *tunnel,
                    sa: sa.clone(),
                    socket: *socket,
                    dest: *dest,
                    done,
                }
            }
            OutCommand::Remove { tunnel, spi, .. } => {
                let (done, rx) = oneshot::channel();
                acks.push(rx);
                OutCommand::Remove {
                    tunnel: *tunnel,
                    spi: *spi,
                    done,
                }
            }
            OutCommand::Health { tunnel, carry } => OutCommand::Health {
                tunnel: *tunnel,
                carry: *carry,
            },
            OutCommand::Routes(r) => OutCommand::Routes(r.clone()),
            OutCommand::AddTunnel(t) => OutCommand::AddTunnel(t.clone()),
            OutCommand::RemoveTunnel { tunnel } => OutCommand::RemoveTunnel { tunnel: *tunnel },
            OutCommand::AddSocket(s) => OutCommand::AddSocket(s.clone()),
        };
        out.push(c);
    }
    (out, acks)
}

/// Forwards every command to every worker, in order, until the control
/// plane's side closes.
pub async fn fan_out(mut rx: mpsc::Receiver<OutCommand>, workers: Vec<mpsc::Sender<OutCommand>>) {
    while let Some(cmd) = rx.recv().await {
        let (copies, acks) = copies(&cmd, workers.len());
        for (w, c) in workers.iter().zip(copies) {
            // A worker that has stopped (shutdown) takes nothing more.
            let _ = w.send(c).await;
        }
        let done = match cmd {
            OutCommand::Install { done, .. } | OutCommand::Remove { done, .. } => Some(done),
            _ => None,
        };
        if let Some(done) = done {
            for a in acks {
                let _ = a.await;
            }
            let _ = done.send(());
        }
    }
}
