//! `SessionCodec::decode` on arbitrary cookie values, on blind edits of
//! valid cookies, and on layout edits re-signed with the real key: no
//! panic, no cookie the codec did not make opens a session, and every
//! re-signed edit gets exactly the answer it calls for.
//!
//! The first byte picks the input: `0x00..=0x7f` a blind edit of a valid
//! cookie (the rest are the edits), `0x80..=0xbf` a re-signed edit
//! (`base`, `kind`, `arg`), `0xc0..=0xff` a cookie value (the rest, as
//! text; the committed seeds `valid-*` hold the fixture's own cookies).
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let fixture = checks::session_fixture();
    match data {
        [0x80..=0xbf, base, kind, arg, ..] => checks::check_resigned_session_cookie(fixture, *base, *kind, *arg),
        [base @ 0..=0x7f, ops @ ..] => checks::check_mutated_session_cookie(fixture, *base, ops),
        [0xc0..=0xff, cookie @ ..] => checks::check_session_cookie(fixture, &String::from_utf8_lossy(cookie)),
        _ => checks::check_session_cookie(fixture, &String::from_utf8_lossy(data)),
    }
});
