//! Table tests for every action, with results worked out from Prometheus's documented semantics.

use super::*;

fn set(pairs: &[(&str, &str)]) -> LabelSet {
    LabelSet::from_pairs(pairs.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes())))
}

fn rule(action: Action) -> RelabelConfig {
    RelabelConfig { action, ..Default::default() }
}

fn src(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

/// Runs `rules` over `input`; `None` means dropped.
fn run(rules: Vec<RelabelConfig>, input: &[(&str, &str)]) -> Option<LabelSet> {
    let r = Relabeler::new(&rules).unwrap_or_else(|e| panic!("{e}"));
    let mut l = set(input);
    r.apply(&mut l).then_some(l)
}

#[test]
fn table() {
    struct Case {
        name: &'static str,
        rules: Vec<RelabelConfig>,
        input: &'static [(&'static str, &'static str)],
        want: Option<&'static [(&'static str, &'static str)]>,
    }
    let cases = vec![
        Case {
            name: "replace with groups in replacement",
            rules: vec![RelabelConfig {
                source_labels: src(&["a"]),
                regex: "f(.*)".into(),
                target_label: "d".into(),
                replacement: "ch${1}-ch${1}".into(),
                ..rule(Action::Replace)
            }],
            input: &[("a", "foo"), ("b", "bar")],
            want: Some(&[("a", "foo"), ("b", "bar"), ("d", "choo-choo")]),
        },
        Case {
            name: "replace joins sources; missing label joins as empty",
            rules: vec![RelabelConfig {
                source_labels: src(&["a", "zz", "b"]),
                regex: "(.*);;(.*)".into(),
                target_label: "c".into(),
                replacement: "$2-$1".into(),
                ..rule(Action::Replace)
            }],
            input: &[("a", "x"), ("b", "y")],
            want: Some(&[("a", "x"), ("b", "y"), ("c", "y-x")]),
        },
        Case {
            name: "replace: no match changes nothing (anchored)",
            rules: vec![RelabelConfig {
                source_labels: src(&["a"]),
                regex: "oo".into(),
                target_label: "d".into(),
                ..rule(Action::Replace)
            }],
            input: &[("a", "foo")],
            want: Some(&[("a", "foo")]),
        },
        Case {
            name: "replace with empty result deletes the target",
            rules: vec![RelabelConfig {
                source_labels: src(&["a"]),
                regex: "foo".into(),
                target_label: "b".into(),
                replacement: "".into(),
                ..rule(Action::Replace)
            }],
            input: &[("a", "foo"), ("b", "bar")],
            want: Some(&[("a", "foo")]),
        },
        Case {
            name: "replace with templated target; invalid (empty) target does nothing",
            rules: vec![
                RelabelConfig {
                    source_labels: src(&["a"]),
                    regex: "some-([^-]+)-(.*)".into(),
                    target_label: "${1}".into(),
                    replacement: "${2}".into(),
                    ..rule(Action::Replace)
                },
                RelabelConfig {
                    source_labels: src(&["a"]),
                    regex: "(.*)".into(),
                    target_label: "${9}".into(),
                    replacement: "x".into(),
                    ..rule(Action::Replace)
                },
            ],
            input: &[("a", "some-name-value")],
            want: Some(&[("a", "some-name-value"), ("name", "value")]),
        },
        Case {
            name: "replace literal shortcut without source labels",
            rules: vec![RelabelConfig {
                target_label: "env".into(),
                replacement: "prod".into(),
                ..rule(Action::Replace)
            }],
            input: &[("a", "1")],
            want: Some(&[("a", "1"), ("env", "prod")]),
        },
        Case {
            name: "named group and $$",
            rules: vec![RelabelConfig {
                source_labels: src(&["a"]),
                regex: "(?P<x>\\w+)".into(),
                target_label: "b".into(),
                replacement: "$$${x}".into(),
                ..rule(Action::Replace)
            }],
            input: &[("a", "abc")],
            want: Some(&[("a", "abc"), ("b", "$abc")]),
        },
        Case {
            name: "dot matches newline",
            rules: vec![RelabelConfig { source_labels: src(&["a"]), regex: "a.b".into(), ..rule(Action::Drop) }],
            input: &[("a", "a\nb")],
            want: None,
        },
        Case {
            name: "keep matching",
            rules: vec![RelabelConfig { source_labels: src(&["a"]), regex: "f.*".into(), ..rule(Action::Keep) }],
            input: &[("a", "foo")],
            want: Some(&[("a", "foo")]),
        },
        Case {
            name: "keep: partial match is no match",
            rules: vec![RelabelConfig { source_labels: src(&["a"]), regex: "f".into(), ..rule(Action::Keep) }],
            input: &[("a", "foo")],
            want: None,
        },
        Case {
            name: "drop matching",
            rules: vec![RelabelConfig {
                source_labels: src(&["__name__"]),
                regex: "go_.*".into(),
                ..rule(Action::Drop)
            }],
            input: &[("__name__", "go_goroutines")],
            want: None,
        },
        Case {
            name: "drop not matching keeps",
            rules: vec![RelabelConfig {
                source_labels: src(&["__name__"]),
                regex: "go_.*".into(),
                ..rule(Action::Drop)
            }],
            input: &[("__name__", "up")],
            want: Some(&[("__name__", "up")]),
        },
        Case {
            name: "keepequal equal",
            rules: vec![RelabelConfig {
                source_labels: src(&["a"]),
                target_label: "b".into(),
                ..rule(Action::KeepEqual)
            }],
            input: &[("a", "x"), ("b", "x")],
            want: Some(&[("a", "x"), ("b", "x")]),
        },
        Case {
            name: "keepequal different",
            rules: vec![RelabelConfig {
                source_labels: src(&["a"]),
                target_label: "b".into(),
                ..rule(Action::KeepEqual)
            }],
            input: &[("a", "x"), ("b", "y")],
            want: None,
        },
        Case {
            name: "dropequal equal",
            rules: vec![RelabelConfig {
                source_labels: src(&["a"]),
                target_label: "b".into(),
                ..rule(Action::DropEqual)
            }],
            input: &[("a", "x"), ("b", "x")],
            want: None,
        },
        Case {
            name: "dropequal: missing target is empty, missing source is empty",
            rules: vec![RelabelConfig {
                source_labels: src(&["q"]),
                target_label: "b".into(),
                ..rule(Action::DropEqual)
            }],
            input: &[("a", "x")],
            want: None,
        },
        Case {
            name: "hashmod: last 8 bytes of md5, big-endian",
            rules: vec![RelabelConfig {
                source_labels: src(&["a"]),
                modulus: 1000,
                target_label: "h".into(),
                ..rule(Action::HashMod)
            }],
            input: &[("a", "foo")],
            want: Some(&[("a", "foo"), ("h", "696")]),
        },
        Case {
            name: "hashmod over joined labels",
            rules: vec![RelabelConfig {
                source_labels: src(&["a", "b"]),
                modulus: 16,
                target_label: "h".into(),
                ..rule(Action::HashMod)
            }],
            input: &[("a", "bar"), ("b", "baz")],
            want: Some(&[("a", "bar"), ("b", "baz"), ("h", "10")]),
        },
        Case {
            name: "labelmap copies, keeps originals",
            rules: vec![RelabelConfig {
                regex: "__meta_(.+)".into(),
                replacement: "m_$1".into(),
                ..rule(Action::LabelMap)
            }],
            input: &[("__meta_zone", "z1"), ("a", "1")],
            want: Some(&[("__meta_zone", "z1"), ("a", "1"), ("m_zone", "z1")]),
        },
        Case {
            name: "labeldrop",
            rules: vec![RelabelConfig { regex: "tmp_.*".into(), ..rule(Action::LabelDrop) }],
            input: &[("tmp_a", "1"), ("tmp_b", "2"), ("keep", "3")],
            want: Some(&[("keep", "3")]),
        },
        Case {
            name: "labelkeep (may remove __name__)",
            rules: vec![RelabelConfig { regex: "job|instance".into(), ..rule(Action::LabelKeep) }],
            input: &[("__name__", "up"), ("job", "j"), ("instance", "i"), ("x", "y")],
            want: Some(&[("instance", "i"), ("job", "j")]),
        },
        Case {
            name: "labelkeep of nothing leaves an empty set: dropped",
            rules: vec![RelabelConfig { regex: "nomatch".into(), ..rule(Action::LabelKeep) }],
            input: &[("a", "1")],
            want: None,
        },
        Case {
            name: "lowercase",
            rules: vec![RelabelConfig {
                source_labels: src(&["a", "b"]),
                target_label: "l".into(),
                ..rule(Action::Lowercase)
            }],
            input: &[("a", "FoO"), ("b", "ÄB")],
            want: Some(&[("a", "FoO"), ("b", "ÄB"), ("l", "foo;äb")]),
        },
        Case {
            name: "uppercase",
            rules: vec![RelabelConfig {
                source_labels: src(&["a"]),
                target_label: "u".into(),
                ..rule(Action::Uppercase)
            }],
            input: &[("a", "foo")],
            want: Some(&[("a", "foo"), ("u", "FOO")]),
        },
        Case {
            name: "rules run in order and see earlier results",
            rules: vec![
                RelabelConfig { target_label: "env".into(), replacement: "prod".into(), ..rule(Action::Replace) },
                RelabelConfig { source_labels: src(&["env"]), regex: "prod".into(), ..rule(Action::Drop) },
            ],
            input: &[("a", "1")],
            want: None,
        },
    ];
    for c in cases {
        let got = run(c.rules, c.input);
        let want = c.want.map(set);
        assert_eq!(got, want, "case {:?}", c.name);
    }
}

#[test]
fn validation_errors() {
    let bad = vec![
        rule(Action::Replace),
        RelabelConfig { target_label: "h".into(), ..rule(Action::HashMod) },
        RelabelConfig { target_label: "l".into(), replacement: "x".into(), ..rule(Action::Lowercase) },
        RelabelConfig { target_label: "b".into(), regex: "x".into(), ..rule(Action::KeepEqual) },
        RelabelConfig { regex: "x".into(), source_labels: src(&["a"]), ..rule(Action::LabelDrop) },
        RelabelConfig { regex: "(".into(), ..rule(Action::Drop) },
        RelabelConfig { target_label: "${1}".into(), ..rule(Action::Uppercase) },
    ];
    for (i, cfg) in bad.into_iter().enumerate() {
        assert!(Relabeler::new(&[cfg]).is_err(), "case {i}");
    }
    assert!(Action::parse("LabelMap").is_ok());
    assert!(Action::parse("nope").is_err());
}

#[test]
fn label_set_semantics() {
    let mut l = set(&[("b", "2"), ("a", "1"), ("c", "")]);
    assert_eq!(l.len(), 2, "empty values never exist");
    l.set(b"a", b"");
    assert_eq!(l.get(b"a"), None);
    let names: Vec<_> = set(&[("b", "1"), ("__name__", "x"), ("B", "2")]).iter().map(|(n, _)| n.to_vec()).collect();
    assert_eq!(names, vec![b"B".to_vec(), b"__name__".to_vec(), b"b".to_vec()], "byte order");
}
