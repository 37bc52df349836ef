//! The one error type of every command: a line for the terminal.

/// Why a command failed: one readable line for the terminal.
#[derive(Debug)]
pub struct Failure(pub String);

impl<T: Into<String>> From<T> for Failure {
    fn from(message: T) -> Self {
        Failure(message.into())
    }
}

pub type Result<T = ()> = std::result::Result<T, Failure>;
