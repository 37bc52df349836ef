//! `cargo xtask cycles`: no two files of a crate may depend on each other, directly or round a
//! circle. A cycle means neither file can be read, tested or moved without the other; one
//! concept a file only holds when the files form a hierarchy.
//!
//! A file *refers to* another when it names a module the other file holds: `crate::x::…`
//! (in `use` or in code), `super::…`, `self::…` or a child module's name at the start of a path.
//! A path that names an item a module re-exports (`pub use shard::Shard;` then
//! `crate::Shard`) leads to the file that defines it, so re-exports alone never make a cycle.
//! Declaring a module (`mod x;`) is not a reference. Tokens only, no full parser: enough for
//! our own code, and it needs no dependency.

use crate::error::{Failure, Result};
use crate::workspace;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs;
use std::path::{Path, PathBuf};

pub fn run(args: &[String]) -> Result {
    if let Some(arg) = args.first() {
        return Err(Failure(format!("cycles: unknown argument `{arg}`")));
    }
    check()
}

/// Crates whose files still form cycles, to be untied next (issue "A house you can carry on"):
/// their cycles are listed but do not fail the check yet. A crate here that has none left fails
/// the check, so that the list only shrinks.
const NOT_YET_UNTIED: &[&str] = &[];

/// Checks every crate under `crates/` and `xtask/`; fails listing each cycle (see
/// [`NOT_YET_UNTIED`]).
pub fn check() -> Result {
    let mut dirs: Vec<(String, PathBuf)> = workspace::crates().into_iter().map(|c| (c.name, c.dir)).collect();
    dirs.push(("xtask".into(), workspace::root().join("xtask")));
    let (mut report, mut pending) = (String::new(), String::new());
    for (name, dir) in &dirs {
        let files = read_sources(&dir.join("src"))?;
        let cycles = find_cycles(&files);
        let not_yet = NOT_YET_UNTIED.contains(&name.as_str());
        if not_yet && cycles.is_empty() {
            report.push_str(&format!("\n  {name} has no cycle left: take it out of NOT_YET_UNTIED"));
        }
        for cycle in cycles {
            let line = format!("\n  {name}: {}", cycle.describe(&files));
            if not_yet {
                pending.push_str(&line);
            } else {
                report.push_str(&line);
            }
        }
    }
    if !pending.is_empty() {
        println!("cycles still to untie (not failing yet):{pending}");
    }
    if report.is_empty() {
        println!(
            "cycles: none between the files of the {} crates that must have none",
            dirs.len() - NOT_YET_UNTIED.len()
        );
        Ok(())
    } else {
        Err(Failure(format!("files that depend on each other round a circle:{report}")))
    }
}

/// One source file: its path under `src/`, the module it holds and its text.
#[derive(Debug)]
pub struct SourceFile {
    pub path: String,
    pub module: Vec<String>,
    pub text: String,
}

/// Every `.rs` file under `src`, each with the module it holds (`#[path]` attributes followed).
fn read_sources(src: &Path) -> Result<Vec<SourceFile>> {
    let mut paths = Vec::new();
    collect_rs(src, src, &mut paths)?;
    paths.sort();
    let mut files = Vec::new();
    for rel in paths {
        let text = fs::read_to_string(src.join(&rel)).map_err(|e| Failure(format!("reading {rel}: {e}")))?;
        // Files under src/bin are crates of their own.
        if rel.starts_with("bin/") {
            continue;
        }
        files.push(SourceFile { module: module_of_path(&rel), path: rel, text });
    }
    apply_path_attributes(&mut files);
    Ok(files)
}

fn collect_rs(root: &Path, dir: &Path, out: &mut Vec<String>) -> Result {
    let entries = fs::read_dir(dir).map_err(|e| Failure(format!("reading {}: {e}", dir.display())))?;
    for entry in entries.filter_map(|e| e.ok()) {
        let path = entry.path();
        if path.is_dir() {
            collect_rs(root, &path, out)?;
        } else if path.extension().is_some_and(|x| x == "rs") {
            let rel = path.strip_prefix(root).unwrap_or(&path);
            out.push(rel.to_string_lossy().replace('\\', "/"));
        }
    }
    Ok(())
}

/// `lib.rs` → the crate root, `a.rs` and `a/mod.rs` → `a`, `a/b.rs` → `a::b`.
fn module_of_path(rel: &str) -> Vec<String> {
    let mut parts: Vec<String> = rel.trim_end_matches(".rs").split('/').map(String::from).collect();
    if parts.last().is_some_and(|p| p == "mod") || (parts.len() == 1 && (parts[0] == "lib" || parts[0] == "main")) {
        parts.pop();
    }
    parts
}

/// `#[path = "x.rs"] mod name;` in the file of module `m` makes `x.rs` (relative to that file's
/// directory) the module `m::name`.
fn apply_path_attributes(files: &mut [SourceFile]) {
    let mut moves = Vec::new();
    for f in files.iter() {
        let tokens = tokenize(&f.text);
        let dir = f.path.rsplit_once('/').map_or("", |(d, _)| d);
        for (i, t) in tokens.iter().enumerate() {
            if let Token::Attribute(attr) = t {
                let Some(target) = attr.strip_prefix("path").map(str::trim_start).and_then(|a| a.strip_prefix('='))
                else {
                    continue;
                };
                let target = target.trim().trim_matches('"');
                if let (Some(Token::Ident(kw)), Some(Token::Ident(name))) = (tokens.get(i + 1), tokens.get(i + 2)) {
                    if kw == "mod" {
                        let rel = if dir.is_empty() { target.to_string() } else { format!("{dir}/{target}") };
                        let mut module = f.module.clone();
                        module.push(name.clone());
                        moves.push((rel, module));
                    }
                }
            }
        }
    }
    for (rel, module) in moves {
        if let Some(f) = files.iter_mut().find(|f| f.path == rel) {
            f.module = module;
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Ident(String),
    /// `::`
    PathSep,
    /// The text inside `#[…]`, for `#[path = "…"]` (strings are blanked everywhere else).
    Attribute(String),
    Punct(char),
}

/// Identifiers and punctuation of Rust source, comments, strings and char literals left out.
fn tokenize(src: &str) -> Vec<Token> {
    let b = src.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'/' && b.get(i + 1) == Some(&b'/') {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if c == b'/' && b.get(i + 1) == Some(&b'*') {
            let mut depth = 0;
            while i < b.len() {
                if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
                    depth += 1;
                    i += 2;
                } else if b[i] == b'*' && b.get(i + 1) == Some(&b'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if c == b'#' && b.get(i + 1) == Some(&b'[') && src[i + 2..].starts_with("path") {
            let end = src[i..].find(']').map_or(b.len(), |e| i + e);
            tokens.push(Token::Attribute(src[i + 2..end].to_string()));
            i = end + 1;
        } else if c == b'"' || ((c == b'r' || c == b'b') && starts_raw_or_byte_string(&b[i..])) {
            i = skip_string(b, i);
        } else if c == b'\'' {
            i = skip_char_or_lifetime(b, i);
        } else if c.is_ascii_alphabetic() || c == b'_' {
            let start = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                i += 1;
            }
            tokens.push(Token::Ident(src[start..i].to_string()));
        } else if c.is_ascii_digit() {
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b'.') {
                i += 1;
            }
        } else if c == b':' && b.get(i + 1) == Some(&b':') {
            tokens.push(Token::PathSep);
            i += 2;
        } else {
            if !c.is_ascii_whitespace() {
                tokens.push(Token::Punct(c as char));
            }
            i += 1;
        }
    }
    tokens
}

/// `r"`, `r#"`, `b"`, `br"`, `br#"` (an identifier starting with r or b otherwise).
fn starts_raw_or_byte_string(b: &[u8]) -> bool {
    let rest = match b {
        [b'b', b'r', rest @ ..] => rest,
        [b'r' | b'b', rest @ ..] => rest,
        _ => return false,
    };
    let hashes = rest.iter().take_while(|&&c| c == b'#').count();
    rest.get(hashes) == Some(&b'"') && (hashes == 0 || b[0] == b'r' || b[1] == b'r')
}

/// Index just past the string literal starting at `i` (plain, byte or raw).
fn skip_string(b: &[u8], mut i: usize) -> usize {
    let mut raw = false;
    while b[i] != b'"' && b[i] != b'#' {
        raw |= b[i] == b'r';
        i += 1;
    }
    let hashes = b[i..].iter().take_while(|&&c| c == b'#').count();
    raw |= hashes > 0;
    i += hashes + 1;
    while i < b.len() {
        if !raw && b[i] == b'\\' {
            i += 2;
        } else if b[i] == b'"' && b[i + 1..].iter().take(hashes).filter(|&&c| c == b'#').count() == hashes {
            return i + 1 + hashes;
        } else {
            i += 1;
        }
    }
    i
}

/// Index just past `'x'`, `'\n'`, `'\u{…}'`, or past the quote of a lifetime `'a`.
fn skip_char_or_lifetime(b: &[u8], i: usize) -> usize {
    if b.get(i + 1) == Some(&b'\\') {
        let close = b[i + 2..].iter().position(|&c| c == b'\'').map_or(b.len(), |p| i + 2 + p);
        return close + 1;
    }
    // A char literal closes after one (possibly multi-byte) character; a lifetime does not.
    let ch_len = std::str::from_utf8(&b[i + 1..]).ok().and_then(|s| s.chars().next()).map_or(1, char::len_utf8);
    if b.get(i + 1 + ch_len) == Some(&b'\'') {
        i + 2 + ch_len
    } else {
        i + 1
    }
}

/// A path as written, from its first segment: `crate::a::{b, c::D}` gives `crate a b` and
/// `crate a c D`; `use x::Y as Z` gives `x Y` with the alias `Z`.
#[derive(Debug, Clone, PartialEq)]
struct WrittenPath {
    segments: Vec<String>,
    alias: Option<String>,
}

/// Parses a use tree (or a plain path) at `tokens[*i]`, appending every full path to `out`.
fn parse_tree(tokens: &[Token], i: &mut usize, prefix: &mut Vec<String>, out: &mut Vec<WrittenPath>) {
    let depth = prefix.len();
    loop {
        match tokens.get(*i) {
            Some(Token::Ident(s)) => {
                prefix.push(s.clone());
                *i += 1;
            }
            Some(Token::Punct('*')) => {
                prefix.push("*".into());
                *i += 1;
            }
            Some(Token::Punct('{')) => {
                *i += 1;
                loop {
                    match tokens.get(*i) {
                        Some(Token::Punct('}')) => {
                            *i += 1;
                            break;
                        }
                        Some(Token::Punct(',')) => *i += 1,
                        None => break,
                        _ => {
                            let before = *i;
                            parse_tree(tokens, i, prefix, out);
                            if *i == before {
                                *i += 1;
                            }
                        }
                    }
                }
                prefix.truncate(depth);
                return;
            }
            _ => break,
        }
        if tokens.get(*i) == Some(&Token::PathSep) {
            *i += 1;
        } else {
            break;
        }
    }
    let alias = match (tokens.get(*i), tokens.get(*i + 1)) {
        (Some(Token::Ident(kw)), Some(Token::Ident(a))) if kw == "as" => {
            *i += 2;
            Some(a.clone())
        }
        _ => None,
    };
    if prefix.len() > depth {
        out.push(WrittenPath { segments: prefix.clone(), alias });
    }
    prefix.truncate(depth);
}

/// A path found in a file: where it was written (module, inline modules included), what it
/// says, and whether it is the export of a `pub use`.
#[derive(Debug)]
struct FoundPath {
    scope: Vec<String>,
    path: WrittenPath,
    exported: bool,
}

/// Every multi-segment path of a file (`a::b`, `use a::{b, c}`), with the inline module it sits in.
fn paths_in(file: &SourceFile) -> Vec<FoundPath> {
    let tokens = tokenize(&file.text);
    let mut found = Vec::new();
    // Inline modules (`mod tests { … }`) open at a brace depth; they close when it drops back.
    let mut inline: Vec<(String, usize)> = Vec::new();
    let mut depth = 0usize;
    let mut i = 0;
    while i < tokens.len() {
        match &tokens[i] {
            Token::Punct('{') => {
                depth += 1;
                i += 1;
            }
            Token::Punct('}') => {
                depth = depth.saturating_sub(1);
                while inline.last().is_some_and(|&(_, d)| d > depth) {
                    inline.pop();
                }
                i += 1;
            }
            Token::Ident(kw) if kw == "mod" => {
                if let (Some(Token::Ident(name)), Some(Token::Punct('{'))) = (tokens.get(i + 1), tokens.get(i + 2)) {
                    depth += 1;
                    inline.push((name.clone(), depth));
                    i += 3;
                } else {
                    i += 1;
                }
            }
            Token::Ident(kw) if kw == "use" => {
                let exported = i > 0 && is_pub_before(&tokens, i);
                i += 1;
                if tokens.get(i) == Some(&Token::PathSep) {
                    i += 1;
                }
                let mut paths = Vec::new();
                parse_tree(&tokens, &mut i, &mut Vec::new(), &mut paths);
                let scope = scope_of(&file.module, &inline);
                found.extend(paths.into_iter().map(|path| FoundPath { scope: scope.clone(), path, exported }));
            }
            Token::Ident(_)
                if tokens.get(i + 1) == Some(&Token::PathSep) && (i == 0 || tokens[i - 1] != Token::PathSep) =>
            {
                let mut paths = Vec::new();
                parse_tree(&tokens, &mut i, &mut Vec::new(), &mut paths);
                let scope = scope_of(&file.module, &inline);
                found.extend(paths.into_iter().map(|path| FoundPath { scope: scope.clone(), path, exported: false }));
            }
            _ => i += 1,
        }
    }
    found
}

/// Whether the `use` at `tokens[i]` is `pub use` or `pub(…) use`.
fn is_pub_before(tokens: &[Token], i: usize) -> bool {
    let is_pub = |t: &Token| matches!(t, Token::Ident(s) if s == "pub");
    if is_pub(&tokens[i - 1]) {
        return true;
    }
    // pub ( crate ) use  /  pub ( in a :: b ) use
    tokens[i - 1] == Token::Punct(')')
        && tokens[..i - 1]
            .iter()
            .rposition(|t| *t == Token::Punct('('))
            .is_some_and(|p| p > 0 && is_pub(&tokens[p - 1]))
}

fn scope_of(module: &[String], inline: &[(String, usize)]) -> Vec<String> {
    module.iter().cloned().chain(inline.iter().map(|(n, _)| n.clone())).collect()
}

/// The absolute module path a written path means, if it starts inside the crate.
fn absolute(scope: &[String], segments: &[String], modules: &BTreeSet<Vec<String>>) -> Option<Vec<String>> {
    let first = segments.first()?;
    match first.as_str() {
        "crate" => Some(segments[1..].to_vec()),
        "self" => Some(scope.iter().chain(&segments[1..]).cloned().collect()),
        "super" => {
            let ups = segments.iter().take_while(|s| *s == "super").count();
            let base = scope.get(..scope.len().checked_sub(ups)?)?;
            Some(base.iter().chain(&segments[ups..]).cloned().collect())
        }
        // A child module's name (2018 paths); anything else is another crate or a local item.
        _ => {
            let mut child = scope.to_vec();
            child.push(first.clone());
            modules.contains(&child).then(|| scope.iter().chain(segments).cloned().collect())
        }
    }
}

/// The file-held modules of a crate and what each re-exports.
struct Crate<'a> {
    files: &'a [SourceFile],
    by_module: HashMap<Vec<String>, usize>,
    /// `(module, exported name)` → the absolute path it re-exports.
    exports: HashMap<(Vec<String>, String), Vec<String>>,
}

impl<'a> Crate<'a> {
    fn new(files: &'a [SourceFile], paths: &[Vec<FoundPath>]) -> Crate<'a> {
        let by_module: HashMap<Vec<String>, usize> =
            files.iter().enumerate().map(|(i, f)| (f.module.clone(), i)).collect();
        let modules: BTreeSet<Vec<String>> = by_module.keys().cloned().collect();
        let mut exports = HashMap::new();
        for found in paths.iter().flatten().filter(|p| p.exported) {
            let Some(target) = absolute(&found.scope, &found.path.segments, &modules) else { continue };
            let name = found.path.alias.clone().or_else(|| target.last().cloned());
            if let Some(name) = name.filter(|n| n != "*" && n != "self") {
                exports.insert((found.scope.clone(), name), target);
            }
        }
        Crate { files, by_module, exports }
    }

    /// The file that holds what `path` (absolute) names: the longest module prefix, followed
    /// through re-exports.
    fn file_of(&self, path: &[String]) -> Option<usize> {
        let mut path = path.to_vec();
        for _ in 0..8 {
            let held = (0..=path.len()).rev().find(|&n| self.by_module.contains_key(&path[..n]))?;
            let module = &path[..held];
            match path.get(held).and_then(|name| self.exports.get(&(module.to_vec(), name.clone()))) {
                Some(target) if target.as_slice() != &path[..=held] => {
                    path = target.iter().chain(&path[held + 1..]).cloned().collect();
                }
                _ => return self.by_module.get(module).copied(),
            }
        }
        None
    }

    /// Which files each file refers to, with the first path that shows it.
    fn edges(&self, paths: &[Vec<FoundPath>]) -> Vec<BTreeMap<usize, String>> {
        let modules: BTreeSet<Vec<String>> = self.by_module.keys().cloned().collect();
        let mut edges = vec![BTreeMap::new(); self.files.len()];
        for (from, found) in paths.iter().enumerate() {
            for p in found {
                // An export is followed through by `file_of`; it refers to nothing by itself.
                if p.exported {
                    continue;
                }
                let Some(target) = absolute(&p.scope, &p.path.segments, &modules) else { continue };
                if let Some(to) = self.file_of(&target).filter(|&to| to != from) {
                    edges[from].entry(to).or_insert_with(|| p.path.segments.join("::"));
                }
            }
        }
        edges
    }
}

/// Files that refer to each other round a circle: one strongly connected component.
#[derive(Debug, PartialEq)]
pub struct Cycle {
    /// Indices into the crate's files, sorted.
    pub files: Vec<usize>,
    /// Every reference between them: from, to, the path that shows it.
    pub references: Vec<(usize, usize, String)>,
}

impl Cycle {
    fn describe(&self, files: &[SourceFile]) -> String {
        let names: Vec<&str> = self.files.iter().map(|&i| files[i].path.as_str()).collect();
        let mut s = format!("{} files: {}", names.len(), names.join(", "));
        for (from, to, path) in &self.references {
            s.push_str(&format!("\n    {} -> {} ({path})", files[*from].path, files[*to].path));
        }
        s
    }
}

/// Every group of files that refer to each other round a circle (Tarjan's algorithm).
pub fn find_cycles(files: &[SourceFile]) -> Vec<Cycle> {
    let paths: Vec<Vec<FoundPath>> = files.iter().map(paths_in).collect();
    let krate = Crate::new(files, &paths);
    let edges = krate.edges(&paths);
    let components = strongly_connected(&edges);
    let mut cycles: Vec<Cycle> = components
        .into_iter()
        .filter(|c| c.len() > 1)
        .map(|mut c| {
            c.sort_unstable();
            let references = c
                .iter()
                .flat_map(|&from| {
                    edges[from].iter().filter(|(to, _)| c.contains(to)).map(move |(&to, path)| (from, to, path.clone()))
                })
                .collect();
            Cycle { files: c, references }
        })
        .collect();
    cycles.sort_by(|a, b| a.files.cmp(&b.files));
    cycles
}

fn strongly_connected(edges: &[BTreeMap<usize, String>]) -> Vec<Vec<usize>> {
    struct State<'e> {
        edges: &'e [BTreeMap<usize, String>],
        index: Vec<Option<usize>>,
        low: Vec<usize>,
        on_stack: Vec<bool>,
        stack: Vec<usize>,
        next: usize,
        out: Vec<Vec<usize>>,
    }
    fn visit(s: &mut State<'_>, v: usize) {
        s.index[v] = Some(s.next);
        s.low[v] = s.next;
        s.next += 1;
        s.stack.push(v);
        s.on_stack[v] = true;
        for &w in s.edges[v].keys() {
            match s.index[w] {
                None => {
                    visit(s, w);
                    s.low[v] = s.low[v].min(s.low[w]);
                }
                Some(iw) if s.on_stack[w] => s.low[v] = s.low[v].min(iw),
                Some(_) => {}
            }
        }
        if Some(s.low[v]) == s.index[v] {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack[w] = false;
                component.push(w);
                if w == v {
                    break;
                }
            }
            s.out.push(component);
        }
    }
    let n = edges.len();
    let mut s = State {
        edges,
        index: vec![None; n],
        low: vec![0; n],
        on_stack: vec![false; n],
        stack: Vec::new(),
        next: 0,
        out: Vec::new(),
    };
    for v in 0..n {
        if s.index[v].is_none() {
            visit(&mut s, v);
        }
    }
    s.out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn krate(files: &[(&str, &str)]) -> Vec<SourceFile> {
        let mut files: Vec<SourceFile> = files
            .iter()
            .map(|(path, text)| SourceFile {
                path: path.to_string(),
                module: module_of_path(path),
                text: text.to_string(),
            })
            .collect();
        apply_path_attributes(&mut files);
        files
    }

    fn cycle_files(files: &[SourceFile]) -> Vec<Vec<&str>> {
        find_cycles(files).iter().map(|c| c.files.iter().map(|&i| files[i].path.as_str()).collect()).collect()
    }

    #[test]
    fn modules_of_paths() {
        assert!(module_of_path("lib.rs").is_empty());
        assert_eq!(module_of_path("a.rs"), ["a"]);
        assert_eq!(module_of_path("a/mod.rs"), ["a"]);
        assert_eq!(module_of_path("a/b.rs"), ["a", "b"]);
    }

    #[test]
    fn use_trees_expand() {
        let tokens = tokenize("crate::a::{b, c::{D, E as F}, self}, x");
        let mut out = Vec::new();
        parse_tree(&tokens, &mut 0, &mut Vec::new(), &mut out);
        let got: Vec<String> = out.iter().map(|p| p.segments.join("::")).collect();
        assert_eq!(got, ["crate::a::b", "crate::a::c::D", "crate::a::c::E", "crate::a::self"]);
        assert_eq!(out[2].alias.as_deref(), Some("F"));
    }

    #[test]
    fn comments_strings_and_chars_are_not_code() {
        let tokens =
            tokenize("// crate::a\n/* crate::b /* nested */ */ \"crate::c\" r#\"crate::d\"# 'x' '\\'' b\"e\" f<'a>");
        let idents: Vec<&Token> = tokens.iter().filter(|t| matches!(t, Token::Ident(_))).collect();
        assert_eq!(idents, [&Token::Ident("f".into()), &Token::Ident("a".into())]);
    }

    #[test]
    fn a_circle_of_three_is_found_and_a_line_is_not() {
        let files = krate(&[
            ("lib.rs", "mod a; mod b; mod c;"),
            ("a.rs", "use crate::b::B; fn f() { crate::c::g() }"),
            ("b.rs", "pub struct B; fn h() -> crate::c::C { todo!() }"),
            ("c.rs", "pub struct C;\n#[cfg(test)] mod tests { use super::*; fn t() { let _ = super::C; } }"),
        ]);
        assert!(cycle_files(&files).is_empty(), "`super` in an inline module is the file itself");
        let files = krate(&[
            ("lib.rs", "mod a; mod b; mod c;"),
            ("a.rs", "use crate::b::B;"),
            ("b.rs", "pub struct B; fn h() { crate::c::g() }"),
            ("c.rs", "pub fn g() { let _ = super::a::f; }"),
        ]);
        assert_eq!(cycle_files(&files), [["a.rs", "b.rs", "c.rs"]]);
        let cycle = &find_cycles(&files)[0];
        assert_eq!(cycle.references.len(), 3);
        assert!(cycle.describe(&files).contains("c.rs -> a.rs (super::a::f)"));
    }

    #[test]
    fn reexports_lead_to_the_defining_file() {
        // `crate::Queue` is queue.rs's, not lib.rs's: lib re-exporting queue is no cycle.
        let files = krate(&[
            ("lib.rs", "mod error; mod queue; pub use error::Error; pub use queue::Queue;"),
            ("queue.rs", "use crate::Error; pub struct Queue;"),
            ("error.rs", "pub enum Error { A }"),
        ]);
        assert!(cycle_files(&files).is_empty());
        // An item the root itself defines does make one.
        let files = krate(&[
            ("main.rs", "mod ship; fn check() {} fn main() { ship::run() }"),
            ("ship.rs", "fn run() { crate::check() }"),
        ]);
        assert_eq!(cycle_files(&files), [["main.rs", "ship.rs"]]);
    }

    #[test]
    fn nested_modules_and_path_attributes() {
        let files = krate(&[
            ("lib.rs", "mod config; mod encode;"),
            ("config.rs", "mod schema; pub use schema::Schema; fn f() { schema::parse() }"),
            ("config/schema.rs", "pub struct Schema; fn g() { super::helper() }"),
            ("encode.rs", "use crate::config::Schema;\n#[cfg(test)]\n#[path = \"encode_tests.rs\"]\nmod tests;"),
            ("encode_tests.rs", "use super::*;"),
        ]);
        assert_eq!(files[4].module, ["encode", "tests"]);
        // config ↔ config/schema: the parent calls the child and the child calls the parent back.
        assert_eq!(cycle_files(&files), [["config.rs", "config/schema.rs"]]);
    }
}
