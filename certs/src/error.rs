//! The one error type of this crate.

use std::path::PathBuf;
use thiserror::Error;

/// Why a PKI operation or a TLS configuration failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum CertError {
    /// A file or directory could not be read or written.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done (`"reading"`, `"writing"`, ...).
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A PEM file or a certificate did not parse.
    #[error("{what} is not valid: {reason}")]
    Parse {
        /// What was parsed (a file name or "the CA certificate PEM").
        what: String,
        /// Why it failed.
        reason: String,
    },
    /// A scanner or gateway name breaks the naming rules.
    #[error("invalid name {name:?}: {reason}")]
    InvalidName {
        /// The refused name (already checked to be printable and short, or elided).
        name: String,
        /// The rule it breaks.
        reason: &'static str,
    },
    /// A file that would be created already exists; nothing is overwritten.
    #[error("{path} already exists; remove it first to replace it")]
    AlreadyExists {
        /// The existing file.
        path: PathBuf,
    },
    /// The directory holds half of a pair (a certificate without its key or
    /// the reverse), or a gateway certificate without its CA.
    #[error("the PKI in {dir} is incomplete: {problem}")]
    Inconsistent {
        /// The PKI directory.
        dir: PathBuf,
        /// What is missing, naming the files.
        problem: String,
    },
    /// A PKI file that an operation needs does not exist (run `init` first).
    #[error("{path} does not exist (run `scangate certs init` first)")]
    Missing {
        /// The missing file.
        path: PathBuf,
    },
    /// Certificate generation failed.
    #[error("generating {what}: {source}")]
    Generate {
        /// What was generated.
        what: &'static str,
        /// The underlying error.
        #[source]
        source: rcgen::Error,
    },
    /// rustls refused the configuration (bad key, bad chain, no usable root).
    #[error("TLS configuration: {0}")]
    Tls(String),
}

impl CertError {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        CertError::Io {
            op,
            path: path.into(),
            source,
        }
    }

    pub(crate) fn parse(what: impl Into<String>, reason: impl std::fmt::Display) -> Self {
        CertError::Parse {
            what: what.into(),
            reason: reason.to_string(),
        }
    }
}
