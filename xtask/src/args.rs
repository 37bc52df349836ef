//! Command-line options shared by several commands.

use crate::error::{Failure, Result};

/// Parses the value of `--name N` (or `--name=N`) at `args[*i]`, advancing `*i` past it.
/// `Ok(None)` means `args[*i]` is not this option.
pub fn number_option(args: &[String], i: &mut usize, name: &str) -> Result<Option<u64>> {
    let arg = &args[*i];
    let value = if arg == name {
        *i += 1;
        args.get(*i).ok_or_else(|| format!("{name} needs a value"))?.as_str()
    } else if let Some(v) = arg.strip_prefix(name).and_then(|rest| rest.strip_prefix('=')) {
        v
    } else {
        return Ok(None);
    };
    *i += 1;
    value.parse().map(Some).map_err(|_| Failure(format!("{name}: `{value}` is not a whole number")))
}
