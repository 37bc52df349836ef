//! The crate's one error type.

use std::path::PathBuf;

/// Everything that can go wrong in this crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A configuration value is invalid; the message says which and why.
    #[error("invalid remote-write configuration: {0}")]
    Config(String),
    /// A relabel rule is invalid (bad regex, missing field for its action, …).
    #[error("invalid relabel rule {index}: {reason}")]
    Relabel {
        /// Position of the rule in `write_relabel_configs`.
        index: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// A file named in the configuration (CA, certificate, key, token, password) could not be read or parsed.
    #[error("cannot use {what} file {path}: {reason}")]
    File {
        /// Which setting named the file (`ca_file`, `cert_file`, …).
        what: &'static str,
        /// The path as configured.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// TLS could not be set up.
    #[error("TLS configuration: {0}")]
    Tls(String),
    /// The queue is stopping or stopped; nothing more is accepted.
    #[error("the queue is stopped")]
    Stopped,
}

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
