//! Release versions: `x.y.z` or `x.y.z-pre`, as cargo accepts them, and their order.

use crate::error::{Failure, Result};
use std::cmp::Ordering;
use std::fmt;

/// A semantic version without build metadata (crates.io ignores it, so a release never needs it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    pub major: u64,
    pub minor: u64,
    pub patch: u64,
    /// The pre-release identifiers after `-`, e.g. `["rc", "1"]`; empty for a release.
    pub pre: Vec<String>,
}

impl Version {
    pub fn parse(text: &str) -> Result<Version> {
        let bad = |why: &str| Failure(format!("`{text}` is not a version x.y.z or x.y.z-pre: {why}"));
        let (core, pre) = match text.split_once('-') {
            Some((core, pre)) => (core, Some(pre)),
            None => (text, None),
        };
        let numbers: Vec<&str> = core.split('.').collect();
        let [major, minor, patch] = numbers[..] else { return Err(bad("it needs three numbers")) };
        let number = |part: &str| -> Result<u64> {
            let plain = !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
            // Semver forbids leading zeros, so `01` and `1` cannot both name a release.
            if !plain || (part.len() > 1 && part.starts_with('0')) {
                return Err(bad(&format!("`{part}` is not a number without leading zeros")));
            }
            part.parse().map_err(|_| bad(&format!("`{part}` is too large")))
        };
        let pre = match pre {
            None => Vec::new(),
            Some(pre) => {
                let ids: Vec<String> = pre.split('.').map(str::to_string).collect();
                let valid = |id: &String| !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
                if !ids.iter().all(valid) {
                    return Err(bad("the pre-release part takes dot-separated [0-9A-Za-z-] identifiers"));
                }
                ids
            }
        };
        Ok(Version { major: number(major)?, minor: number(minor)?, patch: number(patch)?, pre })
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)?;
        if !self.pre.is_empty() {
            write!(f, "-{}", self.pre.join("."))?;
        }
        Ok(())
    }
}

impl Ord for Version {
    /// Semver precedence: a pre-release sorts before its release; numeric identifiers compare
    /// as numbers and before alphanumeric ones.
    fn cmp(&self, other: &Self) -> Ordering {
        let core = (self.major, self.minor, self.patch).cmp(&(other.major, other.minor, other.patch));
        core.then_with(|| match (self.pre.is_empty(), other.pre.is_empty()) {
            (true, true) => Ordering::Equal,
            (true, false) => Ordering::Greater,
            (false, true) => Ordering::Less,
            (false, false) => {
                let id = |s: &String| s.parse::<u64>().map_or(Err(s.clone()), Ok);
                self.pre.iter().map(id).cmp(other.pre.iter().map(id))
            }
        })
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_releases_and_pre_releases() {
        assert_eq!(Version::parse("0.1.0").unwrap().to_string(), "0.1.0");
        assert_eq!(Version::parse("10.20.30-rc.1").unwrap().pre, ["rc", "1"]);
    }

    #[test]
    fn refuses_what_cargo_would_refuse() {
        for bad in
            ["", "1", "1.2", "1.2.3.4", "v1.2.3", "01.2.3", "1.2.x", "1.2.3-", "1.2.3-a..b", "1.2.3-a_b", "1.2.3+b"]
        {
            assert!(Version::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn orders_by_semver_precedence() {
        let v = |s| Version::parse(s).unwrap();
        assert!(v("0.1.0") < v("0.2.0"));
        assert!(v("0.10.0") > v("0.9.9"));
        assert!(v("1.0.0-rc.1") < v("1.0.0"));
        assert!(v("1.0.0-rc.2") < v("1.0.0-rc.10"));
        assert!(v("1.0.0-1") < v("1.0.0-alpha"));
    }
}
