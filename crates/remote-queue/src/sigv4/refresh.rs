//! Temporary credentials (web identity, container, instance role, `role_arn`) kept until shortly before
//! they expire.

use super::credentials::{Credentials, Temporary};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

/// New credentials are fetched this long before the old ones expire (at most half their life)…
const REFRESH_EARLY: Duration = Duration::from_secs(300);
/// …or after this long when the source named no expiry.
const NO_EXPIRY_REFRESH: Duration = Duration::from_secs(900);
/// Credentials this close to their expiry are not signed with any more.
const EXPIRY_MARGIN: Duration = Duration::from_secs(10);
/// While a refresh fails and the old credentials are still good, the source is asked again
/// after this long, not at every request (each of which would wait for a hanging source).
const RETRY_WHILE_VALID: Duration = Duration::from_secs(10);

struct Entry {
    /// The source, as [`super::Remote::describe`] names it.
    source: String,
    creds: Credentials,
    expires: Option<SystemTime>,
    refresh_at: SystemTime,
    warned: bool,
}

/// The last credentials of one remote source.
#[derive(Default)]
pub(crate) struct Cache {
    slot: Mutex<Option<Entry>>,
}

impl Cache {
    /// The credentials of `source` at `now`: the cached ones until their refresh time, else
    /// those `fetch` returns. When `fetch` fails while the cached ones are still valid, those
    /// are used (with one warning) and `fetch` is tried again a little later; otherwise the
    /// error is returned, and the caller holds its data back.
    pub(crate) fn get(
        &self,
        source: &str,
        now: SystemTime,
        fetch: impl FnOnce() -> Result<Temporary, String>,
    ) -> Result<Credentials, String> {
        let mut slot = crate::lock::lock(&self.slot);
        let same = slot.as_ref().is_some_and(|e| e.source == source);
        if let Some(e) = slot.as_ref().filter(|_| same) {
            if now < e.refresh_at {
                return Ok(e.creds.clone());
            }
        }
        match fetch() {
            Ok(t) => {
                let first = !same;
                let until = t.expires.map(|x| format!(", valid for {}s", secs_between(now, x)));
                if first {
                    log::info!("sigv4: credentials from {}{}", t.creds.source, until.unwrap_or_default());
                } else {
                    log::debug!("sigv4: new credentials from {}{}", t.creds.source, until.unwrap_or_default());
                }
                let creds = t.creds.clone();
                *slot = Some(Entry {
                    source: source.to_string(),
                    refresh_at: refresh_time(now, t.expires),
                    creds: t.creds,
                    expires: t.expires,
                    warned: false,
                });
                Ok(creds)
            }
            Err(err) => match slot.as_mut().filter(|_| same) {
                Some(e) if e.expires.is_none_or(|x| now + EXPIRY_MARGIN < x) => {
                    if !e.warned {
                        log::warn!(
                            "{err}; signing with the credentials fetched before until shortly before they expire"
                        );
                        e.warned = true;
                    }
                    e.refresh_at = now + RETRY_WHILE_VALID;
                    Ok(e.creds.clone())
                }
                _ => Err(err),
            },
        }
    }
}

fn secs_between(a: SystemTime, b: SystemTime) -> u64 {
    b.duration_since(a).map_or(0, |d| d.as_secs())
}

/// When credentials fetched at `now` that expire at `expires` are replaced.
fn refresh_time(now: SystemTime, expires: Option<SystemTime>) -> SystemTime {
    match expires {
        None => now + NO_EXPIRY_REFRESH,
        Some(x) => {
            let life = x.duration_since(now).unwrap_or(Duration::ZERO);
            now + life - REFRESH_EARLY.min(life / 2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::credentials::parse_time;
    use super::*;
    use std::time::UNIX_EPOCH;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn times_as_aws_writes_them() {
        assert_eq!(parse_time("1970-01-01T00:00:00Z"), Some(at(0)));
        // `date -u -d 2026-12-01T16:46:11Z +%s`
        assert_eq!(parse_time("2026-12-01T16:46:11Z"), Some(at(1_796_143_571)));
        assert_eq!(parse_time("2000-02-29T12:00:00.123456Z"), Some(at(951_825_600)));
        assert_eq!(parse_time("2026-12-01T18:46:11+02:00"), Some(at(1_796_143_571)));
        assert_eq!(parse_time("2026-12-01T15:16:11-01:30"), Some(at(1_796_143_571)));
        for bad in [
            "",
            "2026-12-01",
            "2026-13-01T00:00:00Z",
            "2026-12-01T00:00:00",
            "2026-12-01T00:00:00.Z",
            "x026-12-01T00:00:00Z",
        ] {
            assert_eq!(parse_time(bad), None, "{bad:?}");
        }
    }

    fn temp(key: &str, expires: Option<SystemTime>) -> Temporary {
        Temporary {
            creds: Credentials {
                access_key: key.into(),
                secret_key: "s".into(),
                session_token: Some("t".into()),
                source: "a test".into(),
            },
            expires,
        }
    }

    #[test]
    fn kept_until_shortly_before_expiry_and_kept_through_a_failing_refresh() {
        let cache = Cache::default();
        let calls = std::cell::Cell::new(0);
        let get = |now: u64, answer: Result<Temporary, String>| {
            cache
                .get("src", at(now), || {
                    calls.set(calls.get() + 1);
                    answer
                })
                .map(|c| c.access_key)
        };
        // An hour's credentials: replaced five minutes before they expire.
        assert_eq!(get(1000, Ok(temp("A", Some(at(4600))))), Ok("A".into()));
        assert_eq!(get(4299, Ok(temp("B", Some(at(9000))))), Ok("A".into()));
        assert_eq!(calls.get(), 1);
        assert_eq!(get(4300, Ok(temp("B", Some(at(8000))))), Ok("B".into()));
        assert_eq!(calls.get(), 2);
        // The refresh fails: B still serves, and the source is asked again 10 s later, not before.
        assert_eq!(get(7700, Err("down".into())), Ok("B".into()));
        assert_eq!(get(7705, Err("down".into())), Ok("B".into()));
        assert_eq!(calls.get(), 3);
        assert_eq!(get(7710, Err("down".into())), Ok("B".into()));
        assert_eq!(calls.get(), 4);
        // Too close to expiry: the failure holds the data back.
        assert_eq!(get(7995, Err("down".into())), Err("down".into()));
        assert_eq!(get(7996, Ok(temp("C", Some(at(7996 + 120)))),), Ok("C".into()));
        // Short-lived credentials are replaced at half their life.
        assert_eq!(get(8055, Ok(temp("D", None))), Ok("C".into()));
        assert_eq!(get(8056, Ok(temp("D", None))), Ok("D".into()));
        // Without an expiry: asked again after 15 minutes.
        assert_eq!(get(8056 + 899, Ok(temp("E", None))), Ok("D".into()));
        assert_eq!(get(8056 + 900, Ok(temp("E", None))), Ok("E".into()));
        // Another source is never served the cached credentials.
        let other = cache.get("other", at(9000), || Err("nope".into()));
        assert_eq!(other.map(|c| c.access_key), Err("nope".into()));
    }
}
