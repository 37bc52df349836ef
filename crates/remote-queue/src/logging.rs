//! Keeping secrets out of logs.
//!
//! This crate's own log lines never hold a secret: URLs are logged with the password of their
//! userinfo replaced by `xxxxx`, header values and credentials are never logged. The HTTP
//! library it uses (ureq 2) logs through the same `log` facade, at debug level, under targets
//! starting with `ureq`: the request URL (this crate hands it URLs without userinfo, so no
//! password) and, in its "writing prelude" line, every request header except `Authorization` —
//! so the values of configured `headers` (API keys, tenant ids) would reach any logger that
//! lets ureq's debug lines through. A program that logs at debug or trace level must therefore
//! drop the records [`may_hold_secrets`] flags; walship's logger does.
//!
//! The SigV4 signer (`aws-sigv4`) traces the canonical request, session token included, through
//! the `tracing` crate; this crate installs no `tracing` subscriber and does not enable
//! `tracing`'s `log` feature, so those lines are never written. A program that installs a
//! `tracing` subscriber must filter the `aws_sigv4` target out.

/// Whether a log record may quote a secret: a debug or trace record of the HTTP library.
pub fn may_hold_secrets(metadata: &log::Metadata<'_>) -> bool {
    let t = metadata.target();
    metadata.level() >= log::Level::Debug && (t == "ureq" || t.starts_with("ureq::"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_http_debug_records_only() {
        let m = |target, level| log::Metadata::builder().target(target).level(level).build();
        assert!(may_hold_secrets(&m("ureq::unit", log::Level::Debug)));
        assert!(may_hold_secrets(&m("ureq", log::Level::Trace)));
        assert!(!may_hold_secrets(&m("ureq::unit", log::Level::Warn)));
        assert!(!may_hold_secrets(&m("remote_queue::send", log::Level::Debug)));
        assert!(!may_hold_secrets(&m("ureqx", log::Level::Debug)));
    }
}
