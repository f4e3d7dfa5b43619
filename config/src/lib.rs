//! vwand's configuration.
//!
//! One TOML file, parsed strictly (`deny_unknown_fields` everywhere) and then
//! checked as a whole. Every refusal names the file, the line and the
//! reason, and never echoes a secret. `vwand check` and the daemon use the
//! same [`load`], so what `check` accepts is what the daemon runs.

#![forbid(unsafe_code)]

pub mod azure;
mod bgp_lan;
mod bgp_section;
pub mod diff;
mod error;
mod ike;
mod liveness;
mod model;
mod validate;

pub use bgp_lan::{parse_community, LanSection, RoutingMode};
pub use bgp_section::{BgpSection, TunnelBgpSection, FAILOVER_PREPEND};
pub use error::ConfigError;
pub use ike::IkeSettings;
pub use liveness::LivenessSection;
pub use model::{
    Config, DaemonSection, HexSecret, IkeSection, ManualSa, ManualSection, Named, TextSecret,
    Transport, TunSection, TunnelSection,
};

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use zeroize::Zeroizing;

/// Reads, parses and validates a configuration file.
///
/// The file must not be writable by group or others. When it holds secrets
/// (manual keys) it must not be readable by them either: mode 0600.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let meta = std::fs::metadata(path)
        .map_err(|e| ConfigError::whole_file(path, format!("cannot read: {e}")))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o022 != 0 {
        return Err(ConfigError::whole_file(
            path,
            format!("refusing a file writable by group or others (mode {mode:04o}); chmod 0600 it"),
        ));
    }
    let text = Zeroizing::new(
        std::fs::read_to_string(path)
            .map_err(|e| ConfigError::whole_file(path, format!("cannot read: {e}")))?,
    );
    let config = parse(path, &text)?;
    if config.has_secrets() && mode & 0o077 != 0 {
        return Err(ConfigError::whole_file(
            path,
            format!("the file holds keys, so it must be mode 0600, not {mode:04o}"),
        ));
    }
    Ok(config)
}

/// Parses and validates configuration text; `path` is only for messages.
pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
    refuse_placeholders(path, text)?;
    let mut config: Config =
        toml::from_str(text).map_err(|e| ConfigError::from_toml(path, text, &e))?;
    validate::check(&config, path, text)?;
    config.liveness.check(path, text)?;
    let err = |offset: usize, reason: String| ConfigError::at(path, text, offset, reason);
    config.warnings = bgp_section::check(&config, &err)?;
    let legacy = ike::legacy_warnings(&config.tunnels, &err);
    config.warnings.extend(legacy);
    Ok(config)
}

/// `vwand import-azure` writes `"FILL-IN: …"` for what Azure's file
/// lacks; such a file is refused until every one is replaced.
fn refuse_placeholders(path: &Path, text: &str) -> Result<(), ConfigError> {
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let code = line.split('#').next().unwrap_or("");
        if let Some(at) = code.find(&format!("\"{}", azure::PLACEHOLDER)) {
            let what = code[at + 1..].split('"').next().unwrap_or("").trim();
            return Err(ConfigError::at(
                path,
                text,
                offset + at,
                format!(
                    "{what}: replace this placeholder from `vwand import-azure` with real values"
                ),
            ));
        }
        offset += line.len();
    }
    Ok(())
}

impl Config {
    pub fn has_secrets(&self) -> bool {
        self.tunnels.iter().any(|t| {
            let t = t.get_ref();
            t.manual.is_some()
                || t.ike.is_some()
                || t.bgp.as_ref().is_some_and(|b| b.md5_password.is_some())
        })
    }
}
