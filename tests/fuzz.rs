//! Fuzzing by property: arbitrary and structure-aware hostile input for
//! every parser that faces the network — Basic credentials, code request
//! bodies, redirect targets, typed domains and tokens. Nothing panics, and
//! no token that was not signed by a configured key verifies.
//!
//! The properties live in `fuzz/checks.rs`, shared with the libFuzzer
//! targets under `fuzz/` (`fuzz/run-short.sh` runs them).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../fuzz/checks.rs"]
mod checks;

use proptest::prelude::*;

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
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
#[test]
fn every_edit_kind_on_every_token_fails_to_verify() {
    let fixture = checks::token_fixture();
    for base in 0..fixture.valid.len() {
        for kind in 0u8..16 {
            for arg in [0u8, 1, 2, 3, 7, 100, 255] {
                // One round, segment 0..3, edit `kind`, then its arguments.
                for seg in 0u8..3 {
                    let ops = [0, 0, seg, kind, arg, arg, arg, arg.wrapping_mul(7), 1, 2, 3, 4];
                    checks::check_mutated_token(fixture, u8::try_from(base).unwrap(), &ops);
                }
            }
        }
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
