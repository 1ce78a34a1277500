//! Fuzzing by property: arbitrary and structure-aware hostile input for
//! every parser that faces the network — Basic credentials, code request
//! bodies, redirect targets, typed domains, tokens and session cookies.
//! Nothing panics, no token that was not signed by a configured key
//! verifies, tokens and cookies re-signed with the real keys get exactly
//! the answer their edit calls for, and no cookie the KB did not make opens
//! a session.
//!
//! The properties live in `fuzz/checks.rs`, shared with the libFuzzer
//! targets under `fuzz/` (`fuzz/run-short.sh` runs them).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../fuzz/checks.rs"]
mod checks;

use proptest::prelude::*;

/// `cases` cases; a failing case is saved to `tests/fuzz.proptest-regressions`
/// and tried first on every later run (commit that file with the fix).
fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: Some(Box::new(proptest::test_runner::FileFailurePersistence::SourceParallel(
            "proptest-regressions",
        ))),
        ..ProptestConfig::default()
    }
}

/// Text mixing ASCII, separators and awkward Unicode.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[ -~]{0,40}",
        "[a-zA-Z0-9%+:=/._\\-\u{fffd}\u{0}\u{a0}\u{130}\u{df}]{0,40}",
    ]
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn basic_header_parsing_never_panics(value in prop::collection::vec(any::<u8>(), 0..1100)) {
        checks::check_basic_header(&value);
    }

    #[test]
    fn basic_header_like_values_never_panic(
        scheme in "(?i:basic)|Bearer|",
        spaces in "[ \t]{0,3}",
        payload in "[A-Za-z0-9+/=%: ]{0,80}",
    ) {
        checks::check_basic_header(format!("{scheme}{spaces}{payload}").as_bytes());
    }

    #[test]
    fn basic_credentials_round_trip(client_id in text(), secret in text()) {
        checks::check_basic_round_trip(&client_id, &secret);
    }

    #[test]
    fn base64_of_arbitrary_credentials_never_panics(inner in prop::collection::vec(any::<u8>(), 0..200)) {
        use base64::Engine as _;
        let value = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(&inner));
        checks::check_basic_header(value.as_bytes());
    }

    #[test]
    fn code_request_bodies_never_panic(body in prop::collection::vec(any::<u8>(), 0..400)) {
        checks::check_code_request(&body);
    }

    #[test]
    fn hostile_code_requests_never_panic(pick in any::<u8>(), text in text()) {
        checks::check_code_request(&checks::hostile_code_request(pick, &text));
    }

    #[test]
    fn arbitrary_redirect_targets_stay_on_the_origin(policy in 0usize..4, target in any::<String>()) {
        checks::check_redirect(&checks::redirect_policies()[policy], &target);
    }

    #[test]
    fn hostile_redirect_targets_stay_on_the_origin(
        policy in 0usize..4,
        picks in prop::collection::vec(any::<u8>(), 0..10),
        text in text(),
    ) {
        checks::check_redirect(&checks::redirect_policies()[policy], &checks::hostile_redirect(&picks, &text));
    }

    #[test]
    fn arbitrary_domains_normalise_to_lower_case_ascii(input in any::<String>()) {
        checks::check_domain(&input);
    }

    #[test]
    fn hostile_domains_normalise_and_route_safely(
        picks in prop::collection::vec(any::<u8>(), 0..12),
        text in text(),
    ) {
        checks::check_domain(&checks::hostile_domain(&picks, &text));
    }
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn arbitrary_strings_never_verify(token in prop_oneof![
        any::<String>(),
        "[A-Za-z0-9_\\-]{1,60}\\.[A-Za-z0-9_\\-]{1,60}\\.[A-Za-z0-9_\\-]{1,90}",
    ]) {
        checks::check_token(checks::token_fixture(), &token);
    }

    #[test]
    fn mutated_tokens_never_verify(base in any::<u8>(), ops in prop::collection::vec(any::<u8>(), 1..40)) {
        checks::check_mutated_token(checks::token_fixture(), base, &ops);
    }
}

/// Every edit kind, on every valid token, at least once: the mutation
/// reader is deterministic, so this covers what random `ops` might miss.
/// The trace proves every token edit and every JSON edit of the header and
/// of the payload ran.
#[test]
fn every_edit_kind_on_every_token_fails_to_verify() {
    use checks::{Edit, JSON_EDITS, TOKEN_EDITS};
    let fixture = checks::token_fixture();
    let mut seen = std::collections::BTreeSet::new();
    for base in 0..fixture.valid.len() {
        let base = u8::try_from(base).unwrap();
        for seg in 0u8..3 {
            for kind in 0..TOKEN_EDITS {
                for arg in [0u8, 1, 2, 3, 7, 100, 255] {
                    // One round, segment `seg`, edit `kind`, then its arguments.
                    let ops = [0, 0, seg, kind, arg, arg, arg, arg.wrapping_mul(7), 1, 2, 3, 4];
                    let mut trace = Vec::new();
                    let mutated = checks::mutate_traced(fixture, &fixture.valid[usize::from(base)], &ops, &mut trace);
                    checks::check_token(fixture, &mutated);
                    seen.extend(trace);
                }
            }
            // Edits 8 and 9 edit JSON: header (0) or payload (1), key index,
            // then the JSON edit kind.
            for which in 0u8..2 {
                for json_kind in 0..JSON_EDITS {
                    for key in 0u8..4 {
                        let ops = [0, 0, seg, 8, which, 0, key, json_kind, 1, 2, 3, 4];
                        let mut trace = Vec::new();
                        let mutated =
                            checks::mutate_traced(fixture, &fixture.valid[usize::from(base)], &ops, &mut trace);
                        checks::check_token(fixture, &mutated);
                        seen.extend(trace);
                    }
                }
            }
        }
    }
    let mut all: std::collections::BTreeSet<Edit> = (0..TOKEN_EDITS).map(Edit::Token).collect();
    for payload in [false, true] {
        all.extend((0..JSON_EDITS).map(|kind| Edit::Json { payload, kind }));
    }
    let missing: Vec<_> = all.difference(&seen).collect();
    assert!(missing.is_empty(), "edit kinds never run: {missing:?}");
}

/// Every re-signed edit of every `id_token`, with several arguments: the
/// checks behind the signature answer exactly as expected.
#[test]
fn every_resigned_edit_gets_its_expected_answer() {
    let fixture = checks::token_fixture();
    for base in 0u8..4 {
        for kind in 0..checks::RESIGN_EDITS {
            for arg in [0u8, 1, 2, 3, 4, 5, 30, 255] {
                checks::check_resigned_token(fixture, base, kind, arg);
            }
        }
    }
}

/// Every re-signed session edit, and the session cookies themselves.
#[test]
fn every_resigned_session_edit_gets_its_expected_answer() {
    let fixture = checks::session_fixture();
    for (cookie, _) in &fixture.valid {
        checks::check_session_cookie(fixture, cookie);
    }
    for base in 0u8..2 {
        for kind in 0..checks::SESSION_RESIGN_EDITS {
            for arg in [0u8, 1, 2, 3, 4, 5, 6, 7, 99, 100, 254, 255] {
                checks::check_resigned_session_cookie(fixture, base, kind, arg);
            }
        }
    }
}

/// The committed seeds of the `session_cookie` target replay as the target
/// reads them, and its `valid-*` seeds are the fixture's own cookies, in
/// the current layout.
#[test]
fn the_committed_session_seeds_replay() {
    let fixture = checks::session_fixture();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/session_cookie");
    let mut valid = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        match data.as_slice() {
            [0x80..=0xbf, base, kind, arg, ..] => checks::check_resigned_session_cookie(fixture, *base, *kind, *arg),
            [base @ 0..=0x7f, ops @ ..] => checks::check_mutated_session_cookie(fixture, *base, ops),
            [0xc0..=0xff, cookie @ ..] => {
                let cookie = String::from_utf8_lossy(cookie);
                checks::check_session_cookie(fixture, &cookie);
                if path.file_name().unwrap().to_str().unwrap().starts_with("valid-") {
                    assert!(fixture.valid.iter().any(|(c, _)| *c == cookie), "{path:?}");
                    valid += 1;
                }
            }
            _ => checks::check_session_cookie(fixture, &String::from_utf8_lossy(&data)),
        }
    }
    assert_eq!(valid, fixture.valid.len());
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn resigned_tokens_get_exactly_the_expected_answer(base in 0u8..4, kind in any::<u8>(), arg in any::<u8>()) {
        checks::check_resigned_token(checks::token_fixture(), base, kind, arg);
    }

    #[test]
    fn arbitrary_session_cookies_are_refused(cookie in prop_oneof![
        any::<String>(),
        "[A-Za-z0-9_\\-]{0,400}",
        "v1\\.[A-Za-z0-9_\\-]{0,300}\\.[A-Za-z0-9_\\-]{0,50}",
    ]) {
        checks::check_session_cookie(checks::session_fixture(), &cookie);
    }

    #[test]
    fn mutated_session_cookies_are_refused(base in any::<u8>(), ops in prop::collection::vec(any::<u8>(), 1..40)) {
        checks::check_mutated_session_cookie(checks::session_fixture(), base, &ops);
    }

    #[test]
    fn resigned_session_cookies_get_exactly_the_expected_answer(
        base in any::<u8>(),
        kind in any::<u8>(),
        arg in any::<u8>(),
    ) {
        checks::check_resigned_session_cookie(checks::session_fixture(), base, kind, arg);
    }
}

/// The fixture's tokens verify, so a refusal above is the mutation's doing.
#[test]
fn the_fixture_tokens_verify() {
    let fixture = checks::token_fixture();
    assert_eq!(fixture.valid.len(), 6);
    for token in &fixture.valid {
        assert!(fixture.accepts(token));
    }
}

/// A percent-encoded wildcard must not survive normalisation (the libFuzzer
/// `domain` target found `t%2A.4.&` -> `t*.4.&`).
#[test]
fn a_percent_encoded_wildcard_is_not_a_domain() {
    for input in ["t%2A.4.&", "%2A.example.com", "%2a.support.example.com"] {
        if let Ok(d) = kb_sso::normalize_domain(input) {
            assert!(!d.contains('*'), "{input:?} -> {d:?}");
        }
    }
}
