//! Property tests of redirect targets: whatever is accepted stays on the
//! KB's origin, is safe for a `Location` header and survives a round trip
//! through its relative form; and percent-encoding a refused target does
//! not get it accepted.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use kb_sso::{RedirectPolicy, SafeRedirect};
use proptest::prelude::*;
use url::Url;

const BASES: &[&str] = &[
    "https://kb.example.com/",
    "https://kb.example.com/base/",
    "http://localhost:8080/kb/page?x=1",
    "https://bücher.example/hilfe/",
    "http://127.0.0.1/",
];

/// Pieces that browsers, decoders or URL parsers treat specially.
const PIECES: &[&str] = &[
    "/",
    "\\",
    "//",
    "/\\",
    "\\/",
    "%2f",
    "%2F",
    "%5c",
    "%5C",
    "..",
    ".",
    "%2e",
    "%2E%2e",
    "@",
    ":",
    "evil.com",
    "evil",
    "%0a",
    "%0d",
    "%0D%0A",
    "%09",
    "%00",
    "\t",
    "\r",
    "\n",
    " ",
    "%20",
    "\u{3002}",
    "%E3%80%82",
    "\u{ff0e}",
    "\u{2028}",
    "\u{85}",
    "%C2%85",
    "%E2%80%A8",
    "?",
    "#",
    "&",
    "=",
    "%",
    "%25",
    "%252f",
    "%zz",
    "%c3",
    "ü",
    "http:",
    "https:",
    "javascript:",
    "docs",
    "a",
    "-",
    "_",
    "~",
    ";",
    "\u{feff}",
    "%ff",
    "[",
    "]",
    "[::1]",
    "127.0.0.1",
    "kb.example.com",
];

fn base() -> impl Strategy<Value = Url> {
    prop::sample::select(BASES).prop_map(|b| Url::parse(b).unwrap())
}

fn adversarial() -> impl Strategy<Value = String> {
    (
        prop::option::of(Just("/")),
        prop::collection::vec(prop::sample::select(PIECES), 0..12),
    )
        .prop_map(|(lead, pieces)| {
            let mut s = String::from(lead.unwrap_or(""));
            for p in pieces {
                s.push_str(p);
            }
            s
        })
}

fn target() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        any::<String>().prop_map(|s| format!("/{s}")),
        adversarial(),
        adversarial(),
    ]
}

/// Pieces of dot-segment attacks, as they read decoded.
const DOT_PIECES: &[&str] = &[
    "/", "//", "..", ".", "evil.com", "docs", "a.b", "\\", "?", "#", " ", "@",
];

/// Targets as they read once decoded: mostly dot-segment attacks, or the
/// general pieces without a `%`.
fn decoded_target() -> impl Strategy<Value = String> {
    let pieces: Vec<&'static str> = PIECES.iter().copied().filter(|p| !p.contains('%')).collect();
    let general = prop::collection::vec(prop::sample::select(pieces), 0..12);
    let dots = prop::collection::vec(prop::sample::select(DOT_PIECES), 0..8);
    (
        prop::option::weighted(0.9, Just("/")),
        prop_oneof![3 => dots, 1 => general],
    )
        .prop_map(|(lead, pieces)| {
            let mut s = String::from(lead.unwrap_or(""));
            for p in pieces {
                s.push_str(p);
            }
            s
        })
}

/// `text` with some characters percent-encoded: `mask[i]` bit 0 says
/// whether the i-th character (cycling) is encoded, bit 1 in lower-case
/// hex.
fn encode_some(text: &str, mask: &[u8]) -> String {
    let mut out = String::new();
    for (i, c) in text.chars().enumerate() {
        let m = mask.get(i % mask.len().max(1)).copied().unwrap_or(0);
        if m & 1 == 1 {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                if m & 2 == 2 {
                    out.push_str(&format!("%{b:02x}"));
                } else {
                    out.push_str(&format!("%{b:02X}"));
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// `text` decoded once, if every `%` starts a valid escape and the bytes
/// are UTF-8.
fn decode_once(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The decoded form as a target: a plain space is the one character
/// accepted only when encoded, so it is written `%20`.
fn as_target(decoded: &str) -> String {
    decoded.replace(' ', "%20")
}

fn same_origin(url: &Url, base: &Url) -> bool {
    url.scheme() == base.scheme()
        && url.host() == base.host()
        && url.port_or_known_default() == base.port_or_known_default()
        && url.username().is_empty()
        && url.password().is_none()
}

fn assert_safe(r: &SafeRedirect, base: &Url) {
    assert!(same_origin(r.as_url(), base), "{} left {}", r.as_str(), base);
    let s = r.as_str();
    assert!(s.is_ascii(), "{s:?}");
    assert!(!s.chars().any(|c| c.is_control() || c.is_whitespace()), "{s:?}");
    let rel = r.path_and_query();
    assert!(rel.starts_with('/') && !rel.starts_with("//"), "{rel:?}");
    assert!(!rel.contains('\\'), "{rel:?}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn accepted_targets_stay_on_the_base_origin(base in base(), t in target()) {
        let policy = RedirectPolicy::new(&base).unwrap();
        if let Ok(r) = policy.check(&t) {
            assert_safe(&r, &base);
            let again = policy.check(r.path_and_query());
            prop_assert_eq!(again.as_ref(), Ok(&r), "relative form of {:?}", t);
        }
    }

    #[test]
    fn resolve_or_home_stays_on_the_base_origin(
        base in base(),
        t in prop::option::of(target()),
    ) {
        let policy = RedirectPolicy::new(&base).unwrap();
        let r = policy.resolve_or_home(t.as_deref());
        assert_safe(&r, &base);
    }

    #[test]
    fn plain_paths_are_accepted(base in base(), t in "/([a-z0-9_-][a-z0-9/_-]{0,80})?") {
        let policy = RedirectPolicy::new(&base).unwrap();
        let r = policy.check(&t).unwrap();
        assert_safe(&r, &base);
        prop_assert_eq!(r.path_and_query(), t.as_str());
    }

    #[test]
    fn refused_targets_fall_back_home(base in base(), t in target()) {
        let policy = RedirectPolicy::new(&base).unwrap().with_home("/home?x=1").unwrap();
        let r = policy.resolve_or_home(Some(&t));
        match policy.check(&t) {
            Ok(checked) => prop_assert_eq!(r, checked),
            Err(_) => prop_assert_eq!(r, policy.home()),
        }
    }

    #[test]
    fn redirect_path_survives_the_login_url(base in base(), t in target()) {
        let policy = RedirectPolicy::new(&base).unwrap();
        if let Ok(r) = policy.check(&t) {
            let login = Url::parse("https://app.example.com/login?tenant=7#/x").unwrap();
            // As the KB builds login URLs: the pair appended, form-encoded.
            let mut out = login.clone();
            out.query_pairs_mut().append_pair("redirectPath", r.path_and_query());
            let back = out
                .query_pairs()
                .find(|(k, _)| k == "redirectPath")
                .map(|(_, v)| v.into_owned())
                .unwrap();
            prop_assert_eq!(policy.check(&back), Ok(r));
            prop_assert_eq!(out.fragment(), Some("/x"));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    /// Encoding any characters of a refused target, in any case, does not
    /// get it accepted; an accepted encoded target stays on the origin.
    #[test]
    fn encoding_a_refused_target_keeps_it_refused(
        base in base(),
        decoded in decoded_target(),
        mask in prop::collection::vec(0u8..4, 1..16),
    ) {
        let policy = RedirectPolicy::new(&base).unwrap();
        let encoded = encode_some(&decoded, &mask);
        prop_assert_eq!(decode_once(&encoded), Some(decoded.clone()));
        let plain = policy.check(&as_target(&decoded));
        if let Ok(r) = policy.check(&encoded) {
            assert_safe(&r, &base);
            prop_assert!(plain.is_ok(), "{:?} accepted, its decoded form {:?} refused: {:?}", encoded, decoded, plain);
        }
    }

    /// The same for any target: if its decoded form (without a `%` left
    /// to decode) is refused, so is the target.
    #[test]
    fn targets_whose_decoded_form_is_refused_are_refused(base in base(), t in target()) {
        let policy = RedirectPolicy::new(&base).unwrap();
        let decoded = decode_once(&t).filter(|d| !d.contains('%'));
        if let Some(decoded) = decoded.filter(|d| policy.check(&as_target(d)).is_err()) {
            prop_assert!(policy.check(&t).is_err(), "{:?} accepted, its decoded form {:?} refused", t, decoded);
        }
        if let Ok(r) = policy.check(&t) {
            assert_safe(&r, &base);
        }
    }
}
