//! Property tests of the login page and domain routing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use kb_sso::*;
use proptest::prelude::*;

fn jwt_configs() -> impl Strategy<Value = Vec<JwtConfig>> {
    prop::collection::vec((any::<bool>(), any::<bool>(), 0u32..10), 0..=5).prop_map(|specs| {
        specs
            .into_iter()
            .enumerate()
            .map(|(i, (enabled, button, cta))| {
                let mut b = JwtConfig::builder(format!("J{i}"), format!("https://app{i}.example.com/login"))
                    .enabled(enabled)
                    .cta_position(cta);
                if button {
                    b = b.show_login_button(true).login_button_text("Go");
                }
                b.build().unwrap().0
            })
            .collect()
    })
}

fn sso_providers() -> impl Strategy<Value = Vec<SsoProvider>> {
    prop::collection::vec((any::<bool>(), 0u32..10), 0..9).prop_map(|specs| {
        specs
            .into_iter()
            .enumerate()
            .map(|(i, (enabled, cta))| SsoProvider {
                name: format!("S{i}"),
                kind: SsoKind::Saml,
                enabled,
                cta_position: cta,
            })
            .collect()
    })
}

proptest! {
    #[test]
    fn the_page_keeps_every_rule(direct in any::<bool>(), toggle in any::<bool>(), jwt in jwt_configs(), sso in sso_providers()) {
        let active_jwt: Vec<&JwtConfig> = jwt.iter().filter(|c| c.is_enabled()).collect();
        match LoginPage::from_parts(direct, toggle, &jwt, &sso) {
            LoginPage::Redirect { client_id, .. } => {
                prop_assert!(direct);
                prop_assert_eq!(active_jwt.len(), 1);
                prop_assert_eq!(active_jwt[0].client_id(), &client_id);
            }
            LoginPage::Options(o) => {
                prop_assert!(o.jwt_buttons.len() <= 3);
                prop_assert!(o.sso_buttons.len() <= 5);
                for b in &o.jwt_buttons {
                    let c = jwt.iter().find(|c| c.client_id() == &b.client_id).unwrap();
                    prop_assert!(c.is_enabled() && c.shows_login_button());
                }
                for b in &o.sso_buttons {
                    prop_assert!(sso.iter().any(|p| p.name == b.name && p.enabled));
                }
                if toggle && !active_jwt.is_empty() {
                    prop_assert!(o.domain_field, "toggle ON with an active JWT configuration");
                }
                // Every active configuration stays reachable: by button or by domain.
                for c in &active_jwt {
                    let has_button = o.jwt_buttons.iter().any(|b| &b.client_id == c.client_id());
                    prop_assert!(has_button || o.domain_field);
                }
                if active_jwt.is_empty() {
                    prop_assert!(!o.domain_field);
                }
                // Buttons come in CTA order.
                let ctas: Vec<u32> = o.jwt_buttons.iter().map(|b| jwt.iter().find(|c| c.client_id() == &b.client_id).unwrap().cta_position()).collect();
                prop_assert!(ctas.windows(2).all(|w| w[0] <= w[1]));
                let jwt_only = direct && active_jwt.len() > 1;
                prop_assert_eq!(o.email_password_form, !(toggle || jwt_only));
                let nothing = active_jwt.is_empty() && !sso.iter().any(|p| p.enabled);
                prop_assert_eq!(o.message.is_some(), toggle && nothing);
            }
        }
    }

    #[test]
    fn routing_is_case_insensitive_label_bounded_and_longest_match(
        labels in prop::collection::vec("[a-z]{1,6}", 1..5),
        extra in prop::collection::vec("[a-z]{1,6}", 0..3),
        prefix in "[a-z]{1,3}",
        upper in any::<bool>(),
        dot in any::<bool>(),
    ) {
        // Configure every suffix of `labels` (a.b.c, b.c, c), all active.
        let domains: Vec<String> = (0..labels.len()).map(|i| labels[i..].join(".")).collect();
        let configs: Vec<JwtConfig> = domains
            .iter()
            .map(|d| JwtConfig::builder(d.clone(), format!("https://{d}/login")).build().unwrap().0)
            .collect();
        let router = DomainRouter::new(&configs);
        let mut input = extra.iter().cloned().chain(labels.iter().cloned()).collect::<Vec<_>>().join(".");
        if upper { input = input.to_uppercase(); }
        if dot { input.push('.'); }
        // The longest configured domain is the full `labels` join.
        prop_assert_eq!(router.route(&input), Route::Config(configs[0].client_id().clone()));
        // Gluing a prefix onto the first label crosses no label boundary.
        let glued = format!("{prefix}{}", domains[domains.len() - 1]);
        let expect = configs.iter().find(|c| c.domain() == glued).map(|c| Route::Config(c.client_id().clone()));
        prop_assert_eq!(router.route(&glued), expect.unwrap_or(Route::DefaultOptions));
    }
}
