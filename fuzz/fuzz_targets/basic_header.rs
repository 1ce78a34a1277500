//! `ClientCredentials::from_basic_header` on arbitrary bytes: no panic, and
//! parsed credentials round-trip through `to_basic_header`.
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    checks::check_basic_header(data);
    // The same bytes as a client id and a secret, split at the first U+0001.
    if let Ok(text) = std::str::from_utf8(data) {
        let (id, secret) = text.split_once('\u{1}').unwrap_or((text, ""));
        checks::check_basic_round_trip(id, secret);
    }
});
