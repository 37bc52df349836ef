//! Why a command failed, and what its exit code says.

/// Exit code: the command ran to the end, but some of the WAL was lost to damage or gaps.
pub(crate) const EXIT_DATA_LOST: u8 = 2;

/// Why a command failed; printed as one line.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Reading the WAL failed.
    #[error(transparent)]
    Wal(#[from] wal_reader::Error),
    /// Writing the output failed.
    #[error("writing output: {0}")]
    Output(#[from] std::io::Error),
    /// A bad argument.
    #[error("{0}")]
    Usage(String),
    /// The state directory.
    #[error(transparent)]
    State(#[from] crate::cursor::StateError),
    /// Something failed while running (a thread, signals): not the user's input.
    #[error("{0}")]
    Run(String),
}

/// A clear line for the two commonest mistakes: a wrong path, and a directory that is no WAL.
pub fn check_dir(dir: &std::path::Path) -> Result<(), CliError> {
    if !dir.is_dir() {
        return Err(CliError::Usage(format!("{}: no such directory", dir.display())));
    }
    let wal = wal_reader::resolve_wal_dir(dir);
    let segments = wal_reader::list_segments(&wal)?;
    if segments.is_empty() && wal_reader::last_checkpoint(&wal)?.is_none() {
        return Err(CliError::Usage(format!(
            "{}: not a WAL directory (no segment files 00000000… and no checkpoint.NNNNNNNN)",
            dir.display()
        )));
    }
    Ok(())
}
