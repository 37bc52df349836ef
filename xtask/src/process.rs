//! Running other programs: echo the command line, inherit the terminal, turn a failure into one
//! line that says which command failed and how.

use crate::error::{Failure, Result};
use std::ffi::OsStr;
use std::process::{Child, Command, ExitStatus};
use std::thread;
use std::time::{Duration, Instant};

/// A `cargo` command: the cargo that runs us (`$CARGO`), so that the toolchain stays the same.
pub fn cargo<I, S>(args: I) -> Command
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.args(args).current_dir(crate::workspace::root());
    cmd
}

/// How a command is shown: program name and arguments, with the environment we set in front.
pub fn display(cmd: &Command) -> String {
    let mut parts: Vec<String> =
        cmd.get_envs().filter_map(|(k, v)| Some(format!("{}={}", k.to_string_lossy(), v?.to_string_lossy()))).collect();
    let program = cmd.get_program().to_string_lossy();
    // `$CARGO` is an absolute path; `cargo` reads better and means the same.
    let program = if program.ends_with("/cargo") { "cargo".into() } else { program };
    parts.push(program.into_owned());
    parts.extend(cmd.get_args().map(|a| quoted(&a.to_string_lossy())));
    parts.join(" ")
}

/// `arg` as a shell would need it, so that a shown command can be pasted back.
fn quoted(arg: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_./=,:@%+".contains(c);
    if !arg.is_empty() && arg.chars().all(plain) {
        arg.to_string()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

/// Runs `cmd` with the terminal inherited and fails unless it exits with status 0.
pub fn run(cmd: &mut Command) -> Result {
    let shown = display(cmd);
    println!("$ {shown}");
    let status = cmd.status().map_err(|e| Failure(format!("cannot start `{shown}`: {e}")))?;
    check(&shown, status)
}

/// As [`run`], but kills the command and fails if it is still running after `limit`.
pub fn run_with_time_limit(cmd: &mut Command, limit: Duration) -> Result {
    let shown = display(cmd);
    println!("$ {shown}");
    let mut child = cmd.spawn().map_err(|e| Failure(format!("cannot start `{shown}`: {e}")))?;
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().map_err(|e| Failure(format!("waiting for `{shown}`: {e}")))? {
            return check(&shown, status);
        }
        if started.elapsed() > limit {
            kill(&mut child);
            return Err(Failure(format!("`{shown}` still running after {}s; killed it", limit.as_secs())));
        }
        thread::sleep(Duration::from_millis(100));
    }
}

/// Runs `cmd` without showing it and returns its standard output, trimmed; stderr goes to the
/// terminal so that a failure explains itself.
pub fn output(cmd: &mut Command) -> Result<String> {
    let shown = display(cmd);
    let out = cmd
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|e| Failure(format!("cannot start `{shown}`: {e}")))?;
    check(&shown, out.status)?;
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Runs `cmd` quietly and tells whether it succeeded: for probes such as "is this installed?".
pub fn succeeds(cmd: &mut Command) -> bool {
    use std::process::Stdio;
    cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
    cmd.status().is_ok_and(|s| s.success())
}

fn check(shown: &str, status: ExitStatus) -> Result {
    if status.success() {
        Ok(())
    } else {
        Err(Failure(format!("`{shown}` failed ({status})")))
    }
}

fn kill(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// `1m05s` / `12.3s`, for step timings.
pub fn format_duration(d: Duration) -> String {
    let secs = d.as_secs_f64();
    if secs < 60.0 {
        format!("{secs:.1}s")
    } else {
        let whole = d.as_secs();
        format!("{}m{:02}s", whole / 60, whole % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shows_environment_then_command() {
        let mut cmd = Command::new("cargo");
        cmd.args(["fuzz", "run"]).env("RUSTC_BOOTSTRAP", "1");
        assert_eq!(display(&cmd), "RUSTC_BOOTSTRAP=1 cargo fuzz run");
        let mut cmd = Command::new("cargo");
        cmd.args(["bench", "--bench", "*", "it's"]);
        assert_eq!(display(&cmd), r"cargo bench --bench '*' 'it'\''s'");
    }

    #[test]
    fn durations_read_well() {
        assert_eq!(format_duration(Duration::from_millis(12_340)), "12.3s");
        assert_eq!(format_duration(Duration::from_secs(65)), "1m05s");
    }
}
