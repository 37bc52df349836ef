//! `cargo xtask release`: a later issue builds it.

use crate::{Failure, Result};

pub fn run(_args: &[String]) -> Result {
    Err(Failure("release: not implemented yet".into()))
}
