//! One line per event, as Prometheus logs: logfmt by default, JSON on request.

use crate::time::now_rfc3339;
use std::fmt::{Display, Write as _};
use std::io::Write;
use std::sync::OnceLock;

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// `ts=… level=info msg="…" key=value`
    Logfmt,
    /// `{"ts":"…","level":"info","msg":"…","key":"value"}`
    Json,
}

/// Severity, least first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub enum Level {
    /// Details for debugging.
    Debug,
    /// Normal events.
    Info,
    /// Something an operator should look at.
    Warn,
    /// Something failed.
    Error,
}

impl Level {
    fn name(self) -> &'static str {
        match self {
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        }
    }
}

static CONFIG: OnceLock<(Format, Level)> = OnceLock::new();

/// Sets the format and minimum level (first call wins), and routes the `log` crate — which the
/// library crates log through (remote-queue's retries and send failures) — into the same lines.
pub fn init(format: Format, level: Level) {
    let _ = CONFIG.set((format, level));
    if ::log::set_logger(&Bridge).is_ok() {
        ::log::set_max_level(match level {
            Level::Debug => ::log::LevelFilter::Debug,
            Level::Info => ::log::LevelFilter::Info,
            Level::Warn => ::log::LevelFilter::Warn,
            Level::Error => ::log::LevelFilter::Error,
        });
    }
}

/// Writes records of the `log` crate as walship log lines, with the emitting module as `component`.
struct Bridge;

impl ::log::Log for Bridge {
    fn enabled(&self, metadata: &::log::Metadata<'_>) -> bool {
        // The HTTP library's debug lines quote request header values (API keys, tenant ids):
        // no secret in any log line at any level.
        !remote_queue::logging::may_hold_secrets(metadata)
    }

    fn log(&self, record: &::log::Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let level = match record.level() {
            ::log::Level::Error => Level::Error,
            ::log::Level::Warn => Level::Warn,
            ::log::Level::Info => Level::Info,
            ::log::Level::Debug | ::log::Level::Trace => Level::Debug,
        };
        let component = record.module_path().unwrap_or("").split("::").next().unwrap_or("").to_string();
        log(level, &record.args().to_string(), &[("component", &component)]);
    }

    fn flush(&self) {}
}

fn logfmt_value(v: &str) -> String {
    if !v.is_empty() && v.chars().all(|c| c.is_ascii_graphic() && c != '"' && c != '=' && c != '\\') {
        v.to_string()
    } else {
        format!("{v:?}")
    }
}

/// Writes one event with `fields` at `level`.
pub fn log(level: Level, msg: &str, fields: &[(&str, &dyn Display)]) {
    let (format, min) = CONFIG.get().copied().unwrap_or((Format::Logfmt, Level::Info));
    if level < min {
        return;
    }
    let mut line = String::new();
    match format {
        Format::Logfmt => {
            let _ = write!(line, "ts={} level={} msg={}", now_rfc3339(), level.name(), logfmt_value(msg));
            for (k, v) in fields {
                let _ = write!(line, " {k}={}", logfmt_value(&v.to_string()));
            }
        }
        Format::Json => {
            let mut o = serde_json::Map::new();
            o.insert("ts".into(), now_rfc3339().into());
            o.insert("level".into(), level.name().into());
            o.insert("msg".into(), msg.into());
            for (k, v) in fields {
                o.insert((*k).into(), v.to_string().into());
            }
            line = serde_json::Value::Object(o).to_string();
        }
    }
    line.push('\n');
    // Above the progress bar when one is drawn, so that neither garbles the other.
    if !crate::progress::print_above(&line) {
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }
}

/// Logs at info.
pub fn info(msg: &str, fields: &[(&str, &dyn Display)]) {
    log(Level::Info, msg, fields)
}

/// Logs at warn.
pub fn warn(msg: &str, fields: &[(&str, &dyn Display)]) {
    log(Level::Warn, msg, fields)
}

/// Logs at error.
pub fn error(msg: &str, fields: &[(&str, &dyn Display)]) {
    log(Level::Error, msg, fields)
}

/// Logs at debug.
pub fn debug(msg: &str, fields: &[(&str, &dyn Display)]) {
    log(Level::Debug, msg, fields)
}

#[cfg(test)]
mod tests {
    #[test]
    fn logfmt_quotes_what_needs_it() {
        assert_eq!(super::logfmt_value("abc"), "abc");
        assert_eq!(super::logfmt_value("a b"), "\"a b\"");
        assert_eq!(super::logfmt_value(""), "\"\"");
    }
}
