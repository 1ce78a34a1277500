//! The crate's modules import one another in one direction only: no
//! module reaches, through any chain of `crate::` paths, back to itself.
//! Test modules (`#[cfg(test)] mod ... { }`) and comments are left out: a
//! test may use what it tests from anywhere, and a doc link imports nothing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `text` without its `#[cfg(test)] mod name { ... }` blocks.
fn without_test_modules(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find("#[cfg(test)]") {
        out.push_str(&rest[..at]);
        let after = &rest[at..];
        // Only a module block is skipped; anything else stays.
        let Some(open) = after.find('{') else {
            out.push_str(after);
            return out;
        };
        let head = &after[..open];
        if !head.contains("mod ") || head.contains(';') {
            out.push_str(&after[..open + 1]);
            rest = &after[open + 1..];
            continue;
        }
        let mut depth = 0usize;
        let mut end = after.len();
        for (i, c) in after[open..].char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = open + i + 1;
                        break;
                    }
                }
                _ => {}
            }
        }
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

/// The top-level modules `text` names through `crate::name` or
/// `crate::{name, ...}`.
fn imports(text: &str) -> BTreeSet<String> {
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    let mut out = BTreeSet::new();
    for (at, _) in text.match_indices("crate::") {
        let rest = &text[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 1;
            let mut item_start = true;
            let mut i = 0;
            let bytes = group.as_bytes();
            while i < bytes.len() && depth > 0 {
                match bytes[i] {
                    b'{' => depth += 1,
                    b'}' => depth -= 1,
                    b',' if depth == 1 => item_start = true,
                    c if depth == 1 && item_start && (c.is_ascii_alphanumeric() || c == b'_') => {
                        out.insert(ident(&group[i..]));
                        item_start = false;
                    }
                    _ => {}
                }
                i += 1;
            }
        } else {
            let name = ident(rest);
            let after = &rest[name.len()..];
            // `crate::f(...)` or `crate::m!` name items of the root, not modules.
            if !name.is_empty() && after.starts_with("::") {
                out.insert(name);
            }
        }
    }
    out
}

fn module_graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &files {
        let rel = file.strip_prefix(&src).unwrap();
        let top = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy()
            .into_owned();
        let top = top.trim_end_matches(".rs").to_owned();
        if top == "lib" {
            continue;
        }
        // Comments (doc links included) are not imports.
        let code: String = std::fs::read_to_string(file)
            .unwrap()
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .map(|l| format!("{l}\n"))
            .collect();
        let text = without_test_modules(&code);
        let uses = graph.entry(top.clone()).or_default();
        uses.extend(imports(&text).into_iter().filter(|m| *m != top));
    }
    let modules: BTreeSet<String> = graph.keys().cloned().collect();
    for uses in graph.values_mut() {
        uses.retain(|m| modules.contains(m));
    }
    graph
}

/// A chain of modules from `from` back to `from`, if there is one.
fn cycle_through(graph: &BTreeMap<String, BTreeSet<String>>, from: &str) -> Option<Vec<String>> {
    let mut stack = vec![(from.to_owned(), vec![from.to_owned()])];
    let mut seen = BTreeSet::new();
    while let Some((at, path)) = stack.pop() {
        for next in &graph[&at] {
            if next == from {
                let mut path = path.clone();
                path.push(next.clone());
                return Some(path);
            }
            if seen.insert(next.clone()) {
                let mut path = path.clone();
                path.push(next.clone());
                stack.push((next.clone(), path));
            }
        }
    }
    None
}

#[test]
fn no_module_imports_itself_through_others() {
    let graph = module_graph();
    assert!(graph.len() >= 20, "{} modules read", graph.len());
    for module in graph.keys() {
        if let Some(path) = cycle_through(&graph, module) {
            panic!("import cycle: {}", path.join(" -> "));
        }
    }
}

#[test]
fn the_checker_finds_a_cycle_and_skips_test_modules() {
    let a = "use crate::b::X;\n#[cfg(test)]\nmod tests { use crate::c::Y; fn f() { let _ = { 1 }; } }\nfn g() {}";
    assert_eq!(imports(&without_test_modules(a)), BTreeSet::from(["b".to_owned()]));
    assert_eq!(
        imports("use crate::{jose::{A, B}, secret::C};\nlet x = crate::f(1); crate::forward::m!(X);"),
        BTreeSet::from(["forward".to_owned(), "jose".to_owned(), "secret".to_owned()])
    );
    let graph = BTreeMap::from([
        ("a".to_owned(), BTreeSet::from(["b".to_owned()])),
        ("b".to_owned(), BTreeSet::from(["a".to_owned()])),
    ]);
    assert_eq!(cycle_through(&graph, "a").unwrap(), ["a", "b", "a"]);
}
