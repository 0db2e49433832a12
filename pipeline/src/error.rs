//! Folio's errors and the one table that maps them to exit codes, so
//! scripts driving `folio` can tell "fix the config" from "look at the
//! quarantine" from "the database is down".

use std::path::PathBuf;
use thiserror::Error;

/// Exit codes of the `folio` binary. Stable: scripts depend on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ExitCode {
    /// Everything done (documents packaged or waiting for keying).
    Ok = 0,
    /// An unexpected internal error.
    Internal = 1,
    /// Bad command line or configuration.
    Usage = 2,
    /// The input folder or file cannot be read.
    Input = 3,
    /// The batch finished, but files were quarantined or pages failed.
    Attention = 4,
    /// The database cannot be reached or refused a write.
    Store = 5,
    /// The output folder cannot be written, or there is not enough space.
    Output = 6,
    /// Stopped by SIGINT/SIGTERM before the batch was finished; leases
    /// were given back and any worker continues it.
    Interrupted = 130,
}

/// Why a Folio command failed as a whole.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum FolioError {
    #[error("configuration {file}: {reason}")]
    Config { file: PathBuf, reason: String },
    #[error("{0}")]
    Usage(String),
    #[error("unknown document class '{name}' (known: {known})")]
    UnknownClass { name: String, known: String },
    #[error("input {path}: {reason}")]
    Input { path: PathBuf, reason: String },
    #[error("output {path}: {reason}")]
    Output { path: PathBuf, reason: String },
    #[error(
        "not enough free space on {path}: need {need} bytes, have {have}; nothing was taken in (free some space or point objects_dir / --out elsewhere)"
    )]
    Space { path: PathBuf, need: u64, have: u64 },
    #[error("interrupted: {0}")]
    Interrupted(String),
    /// `transient`: the failure may pass on its own (a connection cut
    /// off, a busy or restarting server), so work may wait and retry.
    #[error("database {url}: {reason}")]
    Store {
        url: String,
        reason: String,
        transient: bool,
    },
    #[error("batch {batch}: cannot go from {from} to {to}")]
    IllegalTransition {
        batch: String,
        from: String,
        to: String,
    },
    /// A thing named on the command line or in a request is not in the
    /// store (a page id, a batch): exit 3, HTTP 404.
    #[error("{0}")]
    NotFound(String),
    /// The request contradicts the thing's state (a decision on a page
    /// of a document already packaged): exit 2, HTTP 409.
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Internal(String),
}

impl FolioError {
    /// The exit code this error ends the process with.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            FolioError::Config { .. } | FolioError::UnknownClass { .. } | FolioError::Usage(_) => {
                ExitCode::Usage
            }
            FolioError::Input { .. } | FolioError::NotFound(_) => ExitCode::Input,
            FolioError::Conflict(_) => ExitCode::Usage,
            FolioError::Output { .. } | FolioError::Space { .. } => ExitCode::Output,
            FolioError::Interrupted(_) => ExitCode::Interrupted,
            FolioError::Store { .. } => ExitCode::Store,
            FolioError::IllegalTransition { .. } | FolioError::Internal(_) => ExitCode::Internal,
        }
    }

    /// Whether the failure may pass on its own: a worker waits and
    /// retries instead of stopping (see `FolioError::Store`).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            FolioError::Store {
                transient: true,
                ..
            }
        )
    }

    /// Wraps an I/O error on an output path.
    pub fn output(path: impl Into<PathBuf>, e: impl std::fmt::Display) -> Self {
        FolioError::Output {
            path: path.into(),
            reason: e.to_string(),
        }
    }

    /// Wraps an I/O error on an input path.
    pub fn input(path: impl Into<PathBuf>, e: impl std::fmt::Display) -> Self {
        FolioError::Input {
            path: path.into(),
            reason: e.to_string(),
        }
    }
}
