//! Configuration errors: always the file, the line and the reason.

use std::fmt;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: PathBuf,
    /// 1-based line and column, when the error has a place in the file.
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub reason: String,
}

impl ConfigError {
    pub fn whole_file(file: &Path, reason: impl Into<String>) -> Self {
        Self {
            file: file.to_path_buf(),
            line: None,
            column: None,
            reason: reason.into(),
        }
    }

    /// An error at byte `offset` of `source`.
    pub fn at(file: &Path, source: &str, offset: usize, reason: impl Into<String>) -> Self {
        let (line, column) = line_column(source, offset);
        Self {
            file: file.to_path_buf(),
            line: Some(line),
            column: Some(column),
            reason: reason.into(),
        }
    }

    /// Wraps a TOML syntax or type error, keeping only its message (the
    /// snippet toml prints could echo a secret).
    pub(crate) fn from_toml(file: &Path, source: &str, e: &toml::de::Error) -> Self {
        let reason = e.message().trim().to_string();
        match e.span() {
            Some(span) => Self::at(file, source, span.start, reason),
            None => Self::whole_file(file, reason),
        }
    }
}

fn line_column(source: &str, offset: usize) -> (usize, usize) {
    let before = &source.as_bytes()[..offset.min(source.len())];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let column = before.iter().rev().take_while(|&&b| b != b'\n').count() + 1;
    (line, column)
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(col) = self.column {
                write!(f, ":{col}")?;
            }
        }
        write!(f, ": {}", self.reason)
    }
}

impl std::error::Error for ConfigError {}
