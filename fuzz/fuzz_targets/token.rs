//! `Verifier::verify` on `UntrustedToken::parse`, and
//! `HandshakeVerifier::verify_str`: a random or mutated token never verifies.
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let fixture = checks::token_fixture();
    match data.split_first() {
        // Structure-aware edits of a valid token.
        Some((&base, ops)) if base & 0x80 == 0 => checks::check_mutated_token(fixture, base, ops),
        // Arbitrary text.
        _ => checks::check_token(fixture, &String::from_utf8_lossy(data)),
    }
});
