//! Label matchers in PromQL's selector syntax: `{job="node", instance=~"10\\..*"}`.

use wal_format::record::LabelsRef;

/// One matcher.
#[derive(Debug)]
pub struct Matcher {
    name: String,
    op: Op,
}

#[derive(Debug)]
enum Op {
    Eq(String),
    Ne(String),
    Re(regex::Regex),
    NotRe(regex::Regex),
}

impl Matcher {
    fn matches(&self, labels: &LabelsRef<'_>) -> bool {
        // A missing label matches as the empty string, as in PromQL.
        let value = labels.get(self.name.as_bytes()).unwrap_or(b"");
        let value = String::from_utf8_lossy(value);
        match &self.op {
            Op::Eq(v) => value == v.as_str(),
            Op::Ne(v) => value != v.as_str(),
            Op::Re(r) => r.is_match(&value),
            Op::NotRe(r) => !r.is_match(&value),
        }
    }
}

/// Whether every matcher matches.
pub fn matches_all(matchers: &[Matcher], labels: &LabelsRef<'_>) -> bool {
    matchers.iter().all(|m| m.matches(labels))
}

/// Parses `{name="value", …}` (the braces may be omitted; a bare metric name `up{…}` is allowed).
pub fn parse(input: &str) -> Result<Vec<Matcher>, String> {
    let s = input.trim();
    let (metric, body) = match s.find('{') {
        Some(i) => {
            let body = s[i + 1..].strip_suffix('}').ok_or_else(|| format!("{input:?}: missing closing brace"))?;
            (s[..i].trim(), body)
        }
        None => (s, ""),
    };
    let mut out = Vec::new();
    if !metric.is_empty() {
        out.push(Matcher { name: "__name__".into(), op: Op::Eq(metric.into()) });
    }
    let mut rest = body.trim();
    while !rest.is_empty() {
        let name_end = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(rest.len());
        let name = &rest[..name_end];
        if name.is_empty() {
            return Err(format!("{input:?}: expected a label name at {rest:?}"));
        }
        rest = rest[name_end..].trim_start();
        let (op, len) = ["=~", "!~", "!=", "="]
            .iter()
            .find(|op| rest.starts_with(**op))
            .map(|op| (*op, op.len()))
            .ok_or_else(|| format!("{input:?}: expected =, !=, =~ or !~ after {name}"))?;
        rest = rest[len..].trim_start();
        let (value, after) =
            quoted(rest).ok_or_else(|| format!("{input:?}: expected a quoted value after {name}{op}"))?;
        let anchored = |v: &str| regex::Regex::new(&format!("^(?:{v})$")).map_err(|e| format!("{input:?}: {e}"));
        let op = match op {
            "=" => Op::Eq(value),
            "!=" => Op::Ne(value),
            "=~" => Op::Re(anchored(&value)?),
            _ => Op::NotRe(anchored(&value)?),
        };
        out.push(Matcher { name: name.into(), op });
        rest = after.trim_start();
        rest = rest.strip_prefix(',').unwrap_or(rest).trim_start();
    }
    Ok(out)
}

/// A double-quoted string with backslash escapes; returns it and what follows.
fn quoted(s: &str) -> Option<(String, &str)> {
    let mut chars = s.strip_prefix('"')?.char_indices();
    let mut out = String::new();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((out, &s[i + 2..])),
            '\\' => match chars.next()?.1 {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                other => out.push(other),
            },
            c => out.push(c),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use wal_format::record::Labels;

    #[test]
    fn selector_syntax() {
        let l = Labels::from_pairs([("__name__", "up"), ("job", "node"), ("instance", "10.0.0.1:9100")]);
        let yes = [
            "{job=\"node\"}",
            "up",
            "up{job!=\"x\"}",
            "{instance=~\"10\\\\..*\"}",
            "{job!~\"pro.*\"}",
            "{missing=\"\"}",
        ];
        for m in yes {
            assert!(matches_all(&parse(m).unwrap(), &l.as_ref()), "{m}");
        }
        let no = ["{job=\"nod\"}", "down", "{job=~\"no\"}", "{instance!~\".*\"}"];
        for m in no {
            assert!(!matches_all(&parse(m).unwrap(), &l.as_ref()), "{m}");
        }
        for bad in ["{job}", "{job=node}", "{job=\"node\"", "{=\"x\"}"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
