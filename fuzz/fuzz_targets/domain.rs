//! `routing::normalize_domain` and `DomainRouter::route`: no panic, lower-case
//! ASCII output, routing only to the typed domain or a parent of it.
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    checks::check_domain(&String::from_utf8_lossy(data));
    let (picks, text) = data.split_at(data.len() / 2);
    checks::check_domain(&checks::hostile_domain(picks, &String::from_utf8_lossy(text)));
});
