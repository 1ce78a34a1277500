//! `RedirectPolicy::check` and `resolve_or_home`: no panic, and an accepted
//! target stays on the KB's origin.
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let policies = checks::redirect_policies();
    let policy = &policies[usize::from(pick) % policies.len()];
    checks::check_redirect(policy, &String::from_utf8_lossy(rest));
    // Pieces that browsers parse leniently, chosen by the bytes.
    let (picks, text) = rest.split_at(rest.len() / 2);
    checks::check_redirect(policy, &checks::hostile_redirect(picks, &String::from_utf8_lossy(text)));
});
