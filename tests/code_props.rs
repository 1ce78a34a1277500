//! Property tests: token validity clamping, and single use of codes under
//! any interleaving of redemptions and clock moves.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use kb_sso::store::memory::MemoryCodeStore;
use kb_sso::{
    Clock, CodeError, CodeIssuer, CodeRequest, GrantProblem, JwtConfig, SettableClock, TokenValidity, ValidityBand,
};
use proptest::prelude::*;
use time::{Duration, macros::datetime};

fn band_props(band: ValidityBand, v: f64) {
    let got = band.clamp(Some(v));
    assert!((band.min..=band.max).contains(&got), "{v} -> {got}");
    if v.is_finite() && v.fract() == 0.0 && v >= band.min as f64 && v <= band.max as f64 {
        assert_eq!(got, v as i64, "identity inside the band");
    }
    if v < band.min as f64 {
        assert_eq!(got, band.min);
    }
    if v > band.max as f64 {
        assert_eq!(got, band.max);
    }
}

proptest! {
    #[test]
    fn minutes_clamping_never_leaves_the_band_and_is_identity_inside(v in prop_oneof![
        any::<f64>(),
        (-10_000i64..10_000).prop_map(|i| i as f64),
        (5i64..=1440).prop_map(|i| i as f64),
    ]) {
        band_props(ValidityBand::CODE_FLOW_MINUTES, v);
        let t = TokenValidity::from_minutes(Some(v));
        prop_assert!(t.whole_seconds() >= 300 && t.whole_seconds() <= 86_400);
    }

    #[test]
    fn seconds_clamping_never_leaves_the_band_and_is_identity_inside(v in prop_oneof![
        any::<f64>(),
        (-200_000i64..200_000).prop_map(|i| i as f64),
        (300i64..=86_400).prop_map(|i| i as f64),
    ]) {
        band_props(ValidityBand::WIDGET_SECONDS, v);
    }

    #[test]
    fn json_token_validity_is_clamped_like_the_number(v in any::<i64>()) {
        let body = format!(
            r#"{{"username":"u","firstName":"","lastName":"","emailId":"u@x","tokenValidity":{v}}}"#
        );
        let r = CodeRequest::from_json(body.as_bytes()).unwrap();
        prop_assert_eq!(r.validity.whole_minutes(), v.clamp(5, 1440));
    }
}

#[derive(Debug, Clone)]
enum Op {
    Redeem(usize),
    Advance(i64),
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(
        prop_oneof![
            4 => (0usize..4).prop_map(Op::Redeem),
            1 => (-120i64..400).prop_map(Op::Advance),
        ],
        1..40,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Whatever the order of redemptions and clock moves (even backwards), a
    /// code is redeemed at most once, never after its 5 minutes, and every
    /// later attempt says why it failed.
    #[test]
    fn a_code_redeems_at_most_once_under_any_interleaving(ops in ops()) {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        rt.block_on(async {
            let t0 = datetime!(2026-06-01 12:00 UTC);
            let clock = Arc::new(SettableClock::new(t0));
            let issuer = CodeIssuer::new(MemoryCodeStore::new(), clock.clone());
            let (config, secrets) = JwtConfig::builder("P", "https://app.example.com/login").build().unwrap();
            let secret = secrets.primary;
            let body = br#"{"username":"u","firstName":"","lastName":"","emailId":"u@x"}"#;
            let mut codes = Vec::new();
            for _ in 0..4 {
                let code = issuer.issue_json(Some(&config), secret.expose().as_bytes(), body).await.unwrap();
                codes.push(code);
            }
            let mut redeemed = [false; 4];
            let mut touched = [false; 4];
            for op in ops {
                match op {
                    Op::Advance(s) => clock.advance(Duration::seconds(s)),
                    Op::Redeem(i) => {
                        let now = clock.now();
                        let result = issuer.redeem(codes[i].expose(), None).await;
                        match result {
                            Ok(grant) => {
                                assert!(!touched[i], "redeemed after an earlier attempt");
                                assert!(now < grant.expires_at);
                                redeemed[i] = true;
                            }
                            Err(CodeError::InvalidGrant(p)) => {
                                if redeemed[i] {
                                    assert_eq!(p, GrantProblem::AlreadyUsed);
                                } else if !touched[i] {
                                    assert_eq!(p, GrantProblem::Expired);
                                    assert!(now >= t0 + Duration::minutes(5));
                                }
                            }
                            Err(e) => panic!("{e}"),
                        }
                        touched[i] = true;
                    }
                }
            }
        });
    }
}
