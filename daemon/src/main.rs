//! vwand: a userspace IPsec endpoint for Azure Virtual WAN over
//! ExpressRoute private peering.

mod bgp_plane;
mod control;
mod dataplane;
mod droplog;
mod notify;
mod run;
mod status;
mod underlay;

use clap::{Parser, Subcommand};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "vwand", version, about)]
struct Cli {
    /// Configuration file.
    #[arg(short, long, global = true, default_value = "/etc/vwand/vwand.toml")]
    config: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the daemon.
    Run,
    /// Check the configuration file the way the daemon would, and exit.
    Check,
    /// Print the running daemon's status as JSON.
    Status {
        /// Status socket (default: the one the configuration names).
        #[arg(long)]
        socket: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("VWAND_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    match cli.command {
        Command::Run => {
            let rt = match tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    tracing::error!(error = %e, "cannot start the runtime");
                    return ExitCode::FAILURE;
                }
            };
            match rt.block_on(run::run(&cli.config)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!("{e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Check => match config::load(&cli.config) {
            Ok(c) => {
                for w in &c.warnings {
                    let _ = writeln!(std::io::stderr(), "warning: {w}");
                }
                let _ = writeln!(
                    std::io::stdout(),
                    "{}: OK ({} tunnel(s))",
                    cli.config.display(),
                    c.tunnels.len()
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                let _ = writeln!(std::io::stderr(), "{e}");
                ExitCode::FAILURE
            }
        },
        Command::Status { socket } => {
            let path = match socket {
                Some(p) => p,
                None => match config::load(&cli.config) {
                    Ok(c) => c.daemon.status_socket,
                    Err(e) => {
                        let _ = writeln!(std::io::stderr(), "{e}");
                        return ExitCode::FAILURE;
                    }
                },
            };
            match status::query(&path) {
                Ok(doc) => {
                    let _ = write!(std::io::stdout(), "{doc}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    let _ = writeln!(std::io::stderr(), "{}: {e}", path.display());
                    ExitCode::FAILURE
                }
            }
        }
    }
}
