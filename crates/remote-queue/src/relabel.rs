//! `write_relabel_configs`: Prometheus's relabelling rules over byte-string label sets
//! (Prometheus's `model/relabel/relabel.go`).
//!
//! Regexes are fully anchored and let `.` match newlines, as Prometheus 3.x does
//! (`^(?s:<regex>)$`). Labels are bytes, so matching uses `regex::bytes`.

use crate::{Error, Result};
use md5::{Digest, Md5};
use regex::bytes::Regex;

/// A relabel action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Action {
    /// Set `target_label` to the expanded `replacement` when the regex matches.
    #[default]
    Replace,
    /// Drop the series unless the regex matches.
    Keep,
    /// Drop the series when the regex matches.
    Drop,
    /// Drop the series unless the joined source value equals `target_label`'s value.
    KeepEqual,
    /// Drop the series when the joined source value equals `target_label`'s value.
    DropEqual,
    /// Set `target_label` to `md5(value) mod modulus`.
    HashMod,
    /// Copy every label whose name matches to the name given by `replacement`.
    LabelMap,
    /// Remove every label whose name matches.
    LabelDrop,
    /// Remove every label whose name does not match.
    LabelKeep,
    /// Set `target_label` to the lower-cased value.
    Lowercase,
    /// Set `target_label` to the upper-cased value.
    Uppercase,
}

impl Action {
    /// Parses an action name, case-insensitively, as Prometheus's configuration does.
    pub fn parse(s: &str) -> Result<Action> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "replace" => Action::Replace,
            "keep" => Action::Keep,
            "drop" => Action::Drop,
            "keepequal" => Action::KeepEqual,
            "dropequal" => Action::DropEqual,
            "hashmod" => Action::HashMod,
            "labelmap" => Action::LabelMap,
            "labeldrop" => Action::LabelDrop,
            "labelkeep" => Action::LabelKeep,
            "lowercase" => Action::Lowercase,
            "uppercase" => Action::Uppercase,
            other => return Err(Error::Config(format!("unknown relabel action {other:?}"))),
        })
    }
}

/// The regex Prometheus uses when none is configured.
pub const DEFAULT_REGEX: &str = "(.*)";

/// One relabel rule as configured. [`Default`] gives Prometheus's defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct RelabelConfig {
    /// Labels whose values are joined with `separator` to form the value the regex sees.
    pub source_labels: Vec<String>,
    /// Join separator. Default `;`.
    pub separator: String,
    /// The regex (unanchored text; anchoring is added). Default `(.*)`.
    pub regex: String,
    /// Modulus for `hashmod`.
    pub modulus: u64,
    /// Label written by `replace`, `hashmod`, `lowercase`, `uppercase`; compared by `keepequal`/`dropequal`.
    pub target_label: String,
    /// Replacement template (`$1`, `${name}`, `$$`). Default `$1`.
    pub replacement: String,
    /// What to do.
    pub action: Action,
}

impl Default for RelabelConfig {
    fn default() -> Self {
        RelabelConfig {
            source_labels: Vec::new(),
            separator: ";".into(),
            regex: DEFAULT_REGEX.into(),
            modulus: 0,
            target_label: String::new(),
            replacement: "$1".into(),
            action: Action::Replace,
        }
    }
}

/// A label set under relabelling: `(name, value)` pairs sorted by name, no empty values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelSet {
    labels: Vec<(Vec<u8>, Vec<u8>)>,
}

impl LabelSet {
    /// Builds a set from pairs in any order; later duplicates win, empty values are skipped.
    pub fn from_pairs<N: AsRef<[u8]>, V: AsRef<[u8]>>(pairs: impl IntoIterator<Item = (N, V)>) -> LabelSet {
        let mut s = LabelSet::default();
        for (n, v) in pairs {
            s.set(n.as_ref(), v.as_ref());
        }
        s
    }

    /// The value of `name`, if present.
    pub fn get(&self, name: &[u8]) -> Option<&[u8]> {
        self.find(name).ok().map(|i| self.labels[i].1.as_slice())
    }

    /// Sets `name` to `value`; an empty value deletes the label, as in Prometheus's label builder.
    pub fn set(&mut self, name: &[u8], value: &[u8]) {
        match (self.find(name), value.is_empty()) {
            (Ok(i), true) => {
                self.labels.remove(i);
            }
            (Ok(i), false) => {
                self.labels[i].1.clear();
                self.labels[i].1.extend_from_slice(value);
            }
            (Err(_), true) => {}
            (Err(i), false) => self.labels.insert(i, (name.to_vec(), value.to_vec())),
        }
    }

    /// Removes `name`.
    pub fn delete(&mut self, name: &[u8]) {
        if let Ok(i) = self.find(name) {
            self.labels.remove(i);
        }
    }

    /// The labels, sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.labels.iter().map(|(n, v)| (n.as_slice(), v.as_slice()))
    }

    /// Number of labels.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are no labels.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Removes every label (keeps the allocation).
    pub fn clear(&mut self) {
        self.labels.clear();
    }

    fn find(&self, name: &[u8]) -> std::result::Result<usize, usize> {
        self.labels.binary_search_by(|(n, _)| n.as_slice().cmp(name))
    }
}

/// A compiled rule.
#[derive(Debug, Clone)]
struct Rule {
    cfg: RelabelConfig,
    regex: Regex,
    /// Newest Prometheus skips the regex for `replace` with default regex and literal templates.
    literal_replace: bool,
}

/// A compiled, validated list of rules.
#[derive(Debug, Clone, Default)]
pub struct Relabeler {
    rules: Vec<Rule>,
}

impl Relabeler {
    /// Validates and compiles `configs`, as `relabel.Config.Validate` does.
    pub fn new(configs: &[RelabelConfig]) -> Result<Relabeler> {
        let mut rules = Vec::with_capacity(configs.len());
        for (index, cfg) in configs.iter().enumerate() {
            let fail = |reason: String| Error::Relabel { index, reason };
            validate(cfg).map_err(fail)?;
            let regex = Regex::new(&format!("^(?s:{})$", cfg.regex)).map_err(|e| fail(e.to_string()))?;
            let literal_replace = cfg.action == Action::Replace
                && cfg.regex == DEFAULT_REGEX
                && !cfg.target_label.contains('$')
                && !cfg.replacement.contains('$');
            rules.push(Rule { cfg: cfg.clone(), regex, literal_replace });
        }
        Ok(Relabeler { rules })
    }

    /// Whether there are no rules.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Applies every rule in order. Returns `false` when the series is dropped (by a rule, or
    /// because no label is left — walship treats an empty result as dropped, like Prometheus 2.42).
    pub fn apply(&self, labels: &mut LabelSet) -> bool {
        let mut value = Vec::new();
        let mut scratch = Vec::new();
        for rule in &self.rules {
            if !apply_rule(rule, labels, &mut value, &mut scratch) {
                return false;
            }
        }
        !labels.is_empty()
    }
}

fn validate(cfg: &RelabelConfig) -> std::result::Result<(), String> {
    use Action::*;
    let needs_target = matches!(cfg.action, Replace | HashMod | Lowercase | Uppercase | KeepEqual | DropEqual);
    if needs_target && cfg.target_label.is_empty() {
        return Err(format!("relabel configuration for {:?} action requires 'target_label' value", cfg.action));
    }
    if cfg.action == HashMod && cfg.modulus == 0 {
        return Err("relabel configuration for hashmod requires non-zero modulus".into());
    }
    if matches!(cfg.action, Lowercase | Uppercase | KeepEqual | DropEqual) && cfg.replacement != "$1" {
        return Err(format!("'replacement' can not be set for {:?} action", cfg.action));
    }
    if matches!(cfg.action, KeepEqual | DropEqual)
        && (cfg.regex != DEFAULT_REGEX || cfg.modulus != 0 || cfg.separator != ";")
    {
        return Err(format!("{:?} action requires only 'source_labels' and `target_label`", cfg.action));
    }
    if matches!(cfg.action, LabelDrop | LabelKeep)
        && (!cfg.source_labels.is_empty()
            || !cfg.target_label.is_empty()
            || cfg.modulus != 0
            || cfg.separator != ";"
            || cfg.replacement != "$1")
    {
        return Err(format!("{:?} action requires only 'regex', and no other fields", cfg.action));
    }
    if cfg.action != Replace && cfg.target_label.contains('$') {
        return Err(format!("{:?} is invalid 'target_label' for {:?} action", cfg.target_label, cfg.action));
    }
    Ok(())
}

/// Label names are any non-empty UTF-8 (Prometheus 3.x's default name validation).
fn valid_label_name(name: &[u8]) -> bool {
    !name.is_empty() && std::str::from_utf8(name).is_ok()
}

fn apply_rule(rule: &Rule, labels: &mut LabelSet, value: &mut Vec<u8>, scratch: &mut Vec<u8>) -> bool {
    let cfg = &rule.cfg;
    value.clear();
    for (i, name) in cfg.source_labels.iter().enumerate() {
        if i > 0 {
            value.extend_from_slice(cfg.separator.as_bytes());
        }
        value.extend_from_slice(labels.get(name.as_bytes()).unwrap_or_default());
    }
    match cfg.action {
        Action::Drop => return !rule.regex.is_match(value),
        Action::Keep => return rule.regex.is_match(value),
        Action::DropEqual => return labels.get(cfg.target_label.as_bytes()).unwrap_or_default() != value.as_slice(),
        Action::KeepEqual => return labels.get(cfg.target_label.as_bytes()).unwrap_or_default() == value.as_slice(),
        Action::Replace => {
            if rule.literal_replace && value.is_empty() {
                labels.set(cfg.target_label.as_bytes(), cfg.replacement.as_bytes());
                return true;
            }
            let Some(caps) = rule.regex.captures(value) else { return true };
            let mut target = Vec::new();
            caps.expand(cfg.target_label.as_bytes(), &mut target);
            if !valid_label_name(&target) {
                return true;
            }
            scratch.clear();
            caps.expand(cfg.replacement.as_bytes(), scratch);
            labels.set(&target, scratch);
        }
        Action::Lowercase => {
            let lower = String::from_utf8_lossy(value).to_lowercase();
            labels.set(cfg.target_label.as_bytes(), lower.as_bytes());
        }
        Action::Uppercase => {
            let upper = String::from_utf8_lossy(value).to_uppercase();
            labels.set(cfg.target_label.as_bytes(), upper.as_bytes());
        }
        Action::HashMod => {
            let digest = Md5::digest(value.as_slice());
            let mut tail = [0u8; 8];
            tail.copy_from_slice(&digest[8..16]);
            let m = u64::from_be_bytes(tail) % cfg.modulus;
            labels.set(cfg.target_label.as_bytes(), m.to_string().as_bytes());
        }
        Action::LabelMap => {
            let snapshot: Vec<(Vec<u8>, Vec<u8>)> = labels.iter().map(|(n, v)| (n.to_vec(), v.to_vec())).collect();
            for (name, v) in snapshot {
                if let Some(caps) = rule.regex.captures(&name) {
                    scratch.clear();
                    caps.expand(cfg.replacement.as_bytes(), scratch);
                    labels.set(scratch, &v);
                }
            }
        }
        Action::LabelDrop => labels.labels.retain(|(n, _)| !rule.regex.is_match(n)),
        Action::LabelKeep => labels.labels.retain(|(n, _)| rule.regex.is_match(n)),
    }
    true
}

#[cfg(test)]
mod tests;
