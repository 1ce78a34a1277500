//! `Verifier::verify` on `UntrustedToken::parse`, and
//! `HandshakeVerifier::verify_str`: a random or mutated token never verifies,
//! and an edit re-signed with the fixture's real key gets exactly the
//! answer it calls for (so the checks behind the signature are reached).
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let fixture = checks::token_fixture();
    match data {
        // Edits re-signed with the real keys.
        [0xc0..=0xff, base, kind, arg, ..] => checks::check_resigned_token(fixture, *base, *kind, *arg),
        // Structure-aware edits of a valid token.
        [base @ 0..=0x7f, ops @ ..] => checks::check_mutated_token(fixture, *base, ops),
        // Arbitrary text.
        _ => checks::check_token(fixture, &String::from_utf8_lossy(data)),
    }
});
