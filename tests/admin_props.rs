//! Property tests of admin operations: any sequence leaves a project that
//! keeps every rule (or is refused with nothing changed), its audit chain
//! verifies against its checkpoint, any single edit or removal in the chain
//! (the newest entry included) is found, and no secret issued during the
//! run appears in the serialised log.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use kb_sso::store::memory::MemoryAuditSink;
use kb_sso::*;
use proptest::prelude::*;
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

#[derive(Debug, Clone)]
enum Op {
    Create { host: u8, button: bool, text: bool },
    Rename(u8, u8),
    Relocate(u8, u8),
    Button(u8, bool),
    Delete(u8),
    Enable(u8, bool),
    RegenPrimary(u8),
    RegenSecondary(u8),
    Direct(bool),
    DefaultPage(bool),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0u8..8, any::<bool>(), any::<bool>()).prop_map(|(host, button, text)| Op::Create { host, button, text }),
        1 => (0u8..6, 0u8..4).prop_map(|(i, n)| Op::Rename(i, n)),
        1 => (0u8..6, 0u8..8).prop_map(|(i, h)| Op::Relocate(i, h)),
        2 => (0u8..6, any::<bool>()).prop_map(|(i, b)| Op::Button(i, b)),
        1 => (0u8..6).prop_map(Op::Delete),
        1 => (0u8..6, any::<bool>()).prop_map(|(i, b)| Op::Enable(i, b)),
        1 => (0u8..6).prop_map(Op::RegenPrimary),
        1 => (0u8..6).prop_map(Op::RegenSecondary),
        1 => any::<bool>().prop_map(Op::Direct),
        1 => any::<bool>().prop_map(Op::DefaultPage),
    ]
}

/// The domain for a host index; indexes 0 and 4 differ only in case.
fn host(h: u8) -> String {
    [
        "a.example.com",
        "b.example.com",
        "example.com",
        "c.example.org",
        "A.EXAMPLE.COM",
        "d.example.net",
        "e.example.io",
        "f.example.dev",
    ][h as usize % 8]
        .to_owned()
}

fn rules_hold(p: &Project) {
    let jwt = p.jwt_configs();
    assert!(jwt.len() <= MAX_JWT_CONFIGS);
    assert!(jwt.iter().filter(|c| c.shows_login_button()).count() <= MAX_LOGIN_BUTTONS);
    for (i, a) in jwt.iter().enumerate() {
        if a.shows_login_button() {
            assert!(a.login_button_text().is_some_and(|t| !t.trim().is_empty()));
        }
        for b in &jwt[..i] {
            assert!(!a.domain().eq_ignore_ascii_case(b.domain()));
            assert_ne!(a.client_id(), b.client_id());
        }
    }
}

fn snapshot(p: &Project) -> String {
    serde_json::to_string(p).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn any_sequence_of_admin_operations_keeps_the_rules_and_a_verifiable_log(ops in prop::collection::vec(op(), 1..40)) {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let admin = Administrator("admin@kb.example.com".into());
        let mut p = Project::default();
        let key = CheckpointKey::new(&[7u8; 32]).unwrap();
        let sink = MemoryAuditSink::new(key.clone());
        let mut now: OffsetDateTime = datetime!(2026-03-01 09:00 UTC);
        let mut secrets: Vec<String> = Vec::new();
        for op in ops {
            now += Duration::minutes(1);
            let before = snapshot(&p);
            let nth = |i: u8, p: &Project| p.jwt_configs().get(i as usize).cloned();
            let result: Result<AuditEvent, ConfigError> = match op {
                Op::Create { host: h, button, text } => {
                    let mut b = JwtConfig::builder(format!("cfg {h}"), format!("https://{}/login", host(h))).show_login_button(button);
                    if text {
                        b = b.login_button_text("Sign in");
                    }
                    p.create(&admin, now, b).map(|c| {
                        secrets.push(c.value.1.primary.expose().to_owned());
                        secrets.push(c.value.1.secondary.expose().to_owned());
                        c.event
                    })
                }
                Op::Rename(i, n) => match nth(i, &p) {
                    Some(c) => p.update(&admin, now, c.client_id(), c.to_builder().name(format!("renamed {n}"))).map(|c| c.event),
                    None => Err(ConfigError::UnknownConfig),
                },
                Op::Relocate(i, h) => match nth(i, &p) {
                    Some(c) => p.update(&admin, now, c.client_id(), c.to_builder().login_url(format!("https://{}/in", host(h)))).map(|c| c.event),
                    None => Err(ConfigError::UnknownConfig),
                },
                Op::Button(i, on) => match nth(i, &p) {
                    Some(c) => p.update(&admin, now, c.client_id(), c.to_builder().show_login_button(on).login_button_text("Go")).map(|c| c.event),
                    None => Err(ConfigError::UnknownConfig),
                },
                Op::Delete(i) => match nth(i, &p) {
                    Some(c) => p.delete(&admin, now, c.client_id()).map(|c| c.event),
                    None => Err(ConfigError::UnknownConfig),
                },
                Op::Enable(i, on) => match nth(i, &p) {
                    Some(c) => p.set_enabled(&admin, now, c.client_id(), on).map(|c| c.event),
                    None => Err(ConfigError::UnknownConfig),
                },
                Op::RegenPrimary(i) => match nth(i, &p) {
                    Some(c) => p.regenerate_primary_secret(&admin, now, c.client_id()).map(|c| {
                        secrets.push(c.value.expose().to_owned());
                        c.event
                    }),
                    None => Err(ConfigError::UnknownConfig),
                },
                Op::RegenSecondary(i) => match nth(i, &p) {
                    Some(c) => p.regenerate_secondary_secret(&admin, now, c.client_id()).map(|c| {
                        secrets.push(c.value.expose().to_owned());
                        c.event
                    }),
                    None => Err(ConfigError::UnknownConfig),
                },
                Op::Direct(on) => p.set_direct_jwt_login(&admin, now, on, true).map(|c| c.event),
                Op::DefaultPage(on) => Ok(p.set_default_login_page_disabled(&admin, now, on).event),
            };
            match result {
                Ok(event) => {
                    prop_assert_eq!(event.at(), now);
                    rt.block_on(sink.append(event)).unwrap();
                }
                Err(_) => prop_assert_eq!(snapshot(&p), before, "a refused operation changes nothing"),
            }
            rules_hold(&p);
        }
        let access = Principal { id: "auditor".into(), security_audit: true }.security_audit_access().unwrap();
        let log = rt.block_on(sink.read(&access)).unwrap();
        prop_assert_eq!(log.verify(&key), Ok(()));
        let entries = &log.entries;

        // No secret issued in the run appears in the log.
        let text = serde_json::to_string(&log).unwrap();
        for s in &secrets {
            prop_assert!(!text.contains(s.as_str()));
        }

        // Any single edit or removal is found, the newest entry included.
        for i in 0..entries.len() {
            let mut edited = entries.clone();
            let text = serde_json::to_string(&edited[i].event).unwrap().replace("admin@kb.example.com", "mallory@evil.example");
            edited[i].event = serde_json::from_str(&text).unwrap();
            prop_assert!(log.checkpoint.verify(&key, &edited).is_err(), "edit at {} not found", i);
            let mut removed = entries.clone();
            removed.remove(i);
            prop_assert!(log.checkpoint.verify(&key, &removed).is_err(), "removal at {} not found", i);
        }
    }
}
