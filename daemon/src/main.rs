//! vwand: a userspace IPsec endpoint for Azure Virtual WAN over
//! ExpressRoute private peering.

mod bgp_plane;
mod control;
mod dataplane;
mod droplog;
mod metrics;
mod notify;
mod reload;
mod run;
mod service;
mod setup;
mod status;
mod status_view;
mod underlay;

use clap::{Parser, Subcommand};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

// Never a daemon with the fuzzers' stand-in for Diffie-Hellman.
const _: () = assert!(
    !ike::crypto::INSECURE_TEST_CRYPTO,
    "vwand-ike's insecure-test-crypto feature is for fuzzing only"
);

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
    /// Show the running daemon's tunnels, SAs, BGP sessions and routes.
    Status {
        /// Status socket (default: the one the configuration names).
        #[arg(long)]
        socket: Option<PathBuf>,
        /// The whole status document as JSON, for programs.
        #[arg(long)]
        json: bool,
    },
    /// Check the configuration file, then make the running daemon re-read
    /// it (SIGHUP); its log says what changed.
    Reload {
        /// Status socket (default: the one the configuration names).
        #[arg(long)]
        socket: Option<PathBuf>,
    },
    /// Turn the Azure portal's "Download VPN Config" file into a vwand
    /// configuration (stdout, or a new file of mode 0600).
    ImportAzure {
        /// The downloaded JSON file.
        file: PathBuf,
        /// The site to import, when the file holds several.
        #[arg(long)]
        site: Option<String>,
        /// The connection (index, hub address space or region), when the
        /// site has several.
        #[arg(long)]
        connection: Option<String>,
        /// Write here (mode 0600) instead of stdout.
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
}

/// `VWAND_LOG`, else `RUST_LOG`, else `info` (tracing's EnvFilter syntax,
/// e.g. `debug` or `info,vwand::ike=debug`). The netlink crates' trace
/// chatter stays at warn unless the filter names them.
fn log_filter() -> tracing_subscriber::EnvFilter {
    let spec = ["VWAND_LOG", "RUST_LOG"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|s| !s.trim().is_empty()))
        .unwrap_or_else(|| "info".into());
    let quiet = if spec.contains("netlink") {
        String::new()
    } else {
        ",netlink_proto=warn,netlink_sys=warn,rtnetlink=warn".into()
    };
    tracing_subscriber::EnvFilter::try_new(format!("{spec}{quiet}"))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(log_filter())
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
        Command::Status { socket, json } => {
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
                Ok(doc) if json => {
                    let _ = write!(std::io::stdout(), "{doc}");
                    ExitCode::SUCCESS
                }
                Ok(doc) => match serde_json::from_str(&doc) {
                    Ok(v) => {
                        let _ = write!(std::io::stdout(), "{}", status_view::render(&v));
                        ExitCode::SUCCESS
                    }
                    Err(e) => {
                        let _ = writeln!(
                            std::io::stderr(),
                            "{}: not a status document: {e}",
                            path.display()
                        );
                        ExitCode::FAILURE
                    }
                },
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
                    ) =>
                {
                    let _ = writeln!(
                        std::io::stderr(),
                        "vwand is not running (no status socket at {}: {e})",
                        path.display()
                    );
                    ExitCode::FAILURE
                }
                Err(e) => {
                    let _ = writeln!(std::io::stderr(), "{}: {e}", path.display());
                    ExitCode::FAILURE
                }
            }
        }
        Command::Reload { socket } => reload(&cli.config, socket),
        Command::ImportAzure {
            file,
            site,
            connection,
            output,
        } => import_azure(&file, site, connection, output.as_deref()),
    }
}

/// `vwand reload`: the file must pass `check` first; then the daemon named
/// by the status socket gets SIGHUP.
fn reload(config_path: &std::path::Path, socket: Option<PathBuf>) -> ExitCode {
    let fail = |msg: String| {
        let _ = writeln!(std::io::stderr(), "{msg}");
        ExitCode::FAILURE
    };
    let cfg = match config::load(config_path) {
        Ok(c) => c,
        Err(e) => {
            return fail(format!(
                "{e}\nnot reloaded: the daemon keeps its configuration"
            ))
        }
    };
    let path = socket.unwrap_or(cfg.daemon.status_socket);
    let doc = match status::query(&path) {
        Ok(d) => d,
        Err(e) => {
            return fail(format!(
                "vwand is not running (no status socket at {}: {e})",
                path.display()
            ))
        }
    };
    let pid = serde_json::from_str::<serde_json::Value>(&doc)
        .ok()
        .and_then(|v| v["pid"].as_u64())
        .and_then(|p| i32::try_from(p).ok());
    let Some(pid) = pid else {
        return fail(format!("{}: the status names no process", path.display()));
    };
    match nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGHUP,
    ) {
        Ok(()) => {
            let _ = writeln!(
                std::io::stdout(),
                "{}: OK; vwand (pid {pid}) re-reads it; its log says what changed",
                config_path.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => fail(format!("cannot signal vwand (pid {pid}): {e}")),
    }
}

/// `vwand import-azure`.
fn import_azure(
    file: &std::path::Path,
    site: Option<String>,
    connection: Option<String>,
    output: Option<&std::path::Path>,
) -> ExitCode {
    let fail = |msg: String| {
        let _ = writeln!(std::io::stderr(), "{msg}");
        ExitCode::FAILURE
    };
    let text = match std::fs::read_to_string(file) {
        Ok(t) => zeroize::Zeroizing::new(t),
        Err(e) => return fail(format!("{}: cannot read: {e}", file.display())),
    };
    let sel = config::azure::Selection { site, connection };
    let name = file.display().to_string();
    let out = match config::azure::import(&name, &text, &sel) {
        Ok(o) => o,
        Err(e) => return fail(e.to_string()),
    };
    let Some(path) = output else {
        let _ = write!(std::io::stdout(), "{}", out.as_str());
        return ExitCode::SUCCESS;
    };
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut f| {
            f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
            f.write_all(out.as_bytes())
        });
    match written {
        Ok(()) => {
            let _ = writeln!(
                std::io::stderr(),
                "wrote {} (mode 0600); fill in the lines marked {}, then `vwand -c {} check`",
                path.display(),
                config::azure::PLACEHOLDER,
                path.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => fail(format!("{}: cannot write: {e}", path.display())),
    }
}
