//! The JOSE layer stays generic and light: `jsonwebtoken` is only a
//! dev-dependency (its interop tests), and `src/jose/` imports no protocol
//! module.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

/// The dependency table a `name = ...` line of Cargo.toml sits in.
fn table_of<'a>(manifest: &'a str, name: &str) -> Option<&'a str> {
    let mut table = "";
    for line in manifest.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            table = line;
        } else if line.split(['=', ' ']).next() == Some(name) {
            return Some(table);
        }
    }
    None
}

#[test]
fn jsonwebtoken_is_a_dev_dependency_only() {
    let manifest = include_str!("../Cargo.toml");
    assert_eq!(table_of(manifest, "jsonwebtoken"), Some("[dev-dependencies]"));
    assert_eq!(table_of(manifest, "ed25519-dalek"), Some("[dependencies]"));
}

#[test]
fn jose_imports_no_protocol_module() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/jose");
    let mut files = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        files += 1;
        for line in text.lines().filter(|l| !l.trim_start().starts_with("//")) {
            for at in line.match_indices("crate::").map(|(i, _)| i) {
                let rest = &line[at + "crate::".len()..];
                assert!(
                    rest.starts_with("jose::") || rest.starts_with("jose}") || rest.starts_with("{jose"),
                    "{}: {line}",
                    path.display()
                );
            }
        }
    }
    assert!(files >= 8, "src/jose has {files} files");
}
