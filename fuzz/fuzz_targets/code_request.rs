//! `CodeRequest::from_json` on arbitrary bodies and on hostile JSON shapes: no
//! panic, and an accepted request obeys the field rules.
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    checks::check_code_request(data);
    if let Some((&pick, rest)) = data.split_first() {
        checks::check_code_request(&checks::hostile_code_request(pick, &String::from_utf8_lossy(rest)));
    }
});
