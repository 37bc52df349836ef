//! CHANGELOG.md: an `## Unreleased` section on top, collecting changes as they land; a release
//! moves its content under `## <version> - <date>` and leaves `## Unreleased` empty above it.

use std::time::{SystemTime, UNIX_EPOCH};

const UNRELEASED: &str = "## Unreleased";

/// The text of the Unreleased section, trimmed; `None` when there is no such heading.
pub fn unreleased(changelog: &str) -> Option<&str> {
    let (start, end) = unreleased_body(changelog)?;
    Some(changelog[start..end].trim())
}

/// Whether a section for `version` exists already.
pub fn has_version(changelog: &str, version: &str) -> bool {
    changelog
        .lines()
        .any(|line| line.strip_prefix("## ").is_some_and(|h| h == version || h.starts_with(&format!("{version} "))))
}

/// `changelog` with the Unreleased section's content moved under a new `## <version> - <date>`
/// heading, and an empty Unreleased section above it. `None` when there is no Unreleased heading.
pub fn release(changelog: &str, version: &str, date: &str) -> Option<String> {
    let (start, end) = unreleased_body(changelog)?;
    let notes = changelog[start..end].trim();
    let mut out = String::with_capacity(changelog.len() + 64);
    out.push_str(&changelog[..start]);
    out.push_str(&format!("\n## {version} - {date}\n\n"));
    if !notes.is_empty() {
        out.push_str(notes);
        out.push('\n');
    }
    if end < changelog.len() {
        out.push('\n');
        out.push_str(&changelog[end..]);
    }
    Some(out)
}

/// Byte range of the Unreleased section's body: from after its heading line to the next `## `
/// heading or the end.
fn unreleased_body(changelog: &str) -> Option<(usize, usize)> {
    let mut offset = 0;
    let mut start = None;
    for line in changelog.split_inclusive('\n') {
        let heading = line.trim_end();
        if let Some(start) = start {
            if heading.starts_with("## ") {
                return Some((start, offset));
            }
        } else if heading == UNRELEASED {
            start = Some(offset + line.len());
        }
        offset += line.len();
    }
    start.map(|start| (start, changelog.len()))
}

/// Today's date (UTC) as `YYYY-MM-DD`.
pub fn today() -> String {
    let days = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() / 86_400);
    let (y, m, d) = civil_date(days as i64);
    format!("{y:04}-{m:02}-{d:02}")
}

/// The proleptic Gregorian date `days` after 1970-01-01: the usual era arithmetic (eras of
/// 400 years, 146,097 days, starting on 1 March so that the leap day comes last).
fn civil_date(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era = (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_from_march + 2) / 5 + 1) as u32;
    let month = if month_from_march < 10 { month_from_march + 3 } else { month_from_march - 9 } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHANGELOG: &str = "# Changelog\n\nIntro.\n\n## Unreleased\n\n- Added a thing.\n- Fixed another.\n\n## 0.1.0 - 2025-01-02\n\n- First.\n";

    #[test]
    fn release_moves_unreleased_notes_under_the_version() {
        let out = release(CHANGELOG, "0.2.0", "2025-03-04").unwrap();
        assert_eq!(
            out,
            "# Changelog\n\nIntro.\n\n## Unreleased\n\n## 0.2.0 - 2025-03-04\n\n- Added a thing.\n- Fixed another.\n\n\
             ## 0.1.0 - 2025-01-02\n\n- First.\n"
        );
        assert_eq!(unreleased(&out), Some(""));
        assert!(has_version(&out, "0.2.0") && has_version(&out, "0.1.0") && !has_version(&out, "0.1"));
    }

    #[test]
    fn unreleased_section_at_the_end() {
        let text = "# Changelog\n\n## Unreleased\n\n- Only.\n";
        assert_eq!(unreleased(text), Some("- Only."));
        assert_eq!(
            release(text, "0.1.0", "2025-01-01").unwrap(),
            "# Changelog\n\n## Unreleased\n\n## 0.1.0 - 2025-01-01\n\n- Only.\n"
        );
        assert_eq!(release("# Changelog\n", "0.1.0", "2025-01-01"), None);
    }

    #[test]
    fn civil_dates() {
        assert_eq!(civil_date(0), (1970, 1, 1));
        assert_eq!(civil_date(11_016), (2000, 2, 29));
        assert_eq!(civil_date(19_782), (2024, 2, 29));
        assert_eq!(civil_date(20_454), (2026, 1, 1));
    }
}
