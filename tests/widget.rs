//! The widget flow: token requests as the spec's C# sample sends them,
//! credentials, payload rules, secret regeneration and audience separation.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use kb_sso::store::memory::{MemoryCodeStore, MemoryConfigStore};
use kb_sso::{
    ClientCredentials, ClientSecret, CodeIssuer, IdentityServer, JwtConfig, KeySet, PayloadError, Project,
    ProjectSettings, SettableClock, SigningKey, TokenSigner, Validation, Verifier, VerifyError, WidgetClaims,
};
use kb_sso::{WidgetError, WidgetProject, WidgetTokenIssuer, WidgetTokenRequest, verify_widget_token, widget_audience};
use proptest::prelude::*;
use time::{Duration, OffsetDateTime, macros::datetime};

const ISSUER: &str = "https://identity.example.com";
const PROJECT: &str = "your-project-id";
const WIDGET: &str = "your-widget-id";
const T0: OffsetDateTime = datetime!(2026-01-01 00:00 UTC);

/// The Postman body of the spec, with `tokenValidity` in seconds.
fn spec_payload(token_validity: &str) -> String {
    format!(
        r#"{{
  "username": "john.doe",
  "firstName": "John",
  "lastName": "Doe",
  "emailId": "john.doe@example.com",
  "readerGroupIds": ["group1", "group2"],
  "tokenValidity": {token_validity},
  "widgetId": "your-widget-id",
  "projectId": "your-project-id"
}}"#
    )
}

struct Fixture {
    project: WidgetProject,
    secret: ClientSecret,
    issuer: WidgetTokenIssuer<TokenSigner, SettableClock>,
    keys: KeySet,
}

fn fixture() -> Fixture {
    let (project, secret) = WidgetProject::builder(PROJECT)
        .widgets([WIDGET, "second-widget"])
        .build()
        .unwrap();
    let signer = TokenSigner::new(SigningKey::generate_ed25519("idp-1").unwrap());
    let keys = KeySet::from_keys([signer.key().verification_key()]).unwrap();
    let issuer = WidgetTokenIssuer::new(signer, ISSUER, SettableClock::new(T0));
    Fixture {
        project,
        secret,
        issuer,
        keys,
    }
}

fn form(pairs: &[(&str, &str)]) -> Vec<u8> {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
        .into_bytes()
}

/// The C# sample's request: Basic credentials, `grant_type=Widget`,
/// `payload`, `id` = the project id.
fn sample_body(payload: &str) -> Vec<u8> {
    form(&[("grant_type", "Widget"), ("payload", payload), ("id", PROJECT)])
}

fn basic(id: &str, secret: &str) -> String {
    ClientCredentials::new(id, ClientSecret::new(secret))
        .to_basic_header()
        .to_string()
}

impl Fixture {
    fn basic(&self) -> String {
        basic(PROJECT, self.secret.expose())
    }

    /// Serves one request as an HTTP handler would: parse, look up, issue.
    fn serve(&self, authorization: Option<&str>, body: &[u8]) -> Result<kb_sso::WidgetTokenResponse, WidgetError> {
        let request = WidgetTokenRequest::parse(authorization.map(str::as_bytes), body)?;
        let project = (request.client_id() == self.project.project_id()).then_some(&self.project);
        self.issuer.issue(project, &request)
    }

    fn serve_payload(&self, payload: &str) -> Result<kb_sso::WidgetTokenResponse, WidgetError> {
        self.serve(Some(&self.basic()), &sample_body(payload))
    }

    fn verify(&self, token: &str) -> Result<WidgetClaims, VerifyError> {
        verify_widget_token(&self.keys, ISSUER, token, T0)
    }
}

#[test]
fn the_specs_postman_body_gets_a_900_second_bearer_token() {
    let f = fixture();
    let answer = f.serve_payload(&spec_payload("900")).unwrap();
    assert_eq!(answer.token_type, "Bearer");
    assert_eq!(answer.expires_in, 900);
    let claims = f.verify(&answer.access_token).unwrap();
    assert_eq!(claims.sub, "john.doe");
    assert_eq!(claims.email, "john.doe@example.com");
    assert_eq!(claims.given_name, "John");
    assert_eq!(claims.family_name, "Doe");
    assert_eq!(claims.name, "John Doe");
    assert_eq!(claims.groups, ["group1", "group2"]);
    assert_eq!(claims.widget_id, WIDGET);
    assert_eq!(claims.project_id, PROJECT);
    assert_eq!(claims.iss, ISSUER);
    assert_eq!(claims.aud, format!("{ISSUER}/widget"));
    assert_eq!(claims.aud, widget_audience(ISSUER));
    assert_eq!(claims.iat, T0.unix_timestamp());
    assert_eq!(claims.exp, T0.unix_timestamp() + 900);
    assert_eq!(claims.jti.len(), 43);
    // The JSON answer has the RFC 6749 5.1 field names.
    let json = serde_json::to_value(&answer).unwrap();
    let mut keys: Vec<_> = json.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    assert_eq!(keys, ["access_token", "expires_in", "token_type"]);
    assert!(!format!("{answer:?}").contains(&answer.access_token));
}

#[test]
fn token_validity_is_seconds_clamped_to_300_through_86400() {
    let f = fixture();
    let expires = |v: &str| f.serve_payload(&spec_payload(v)).unwrap().expires_in;
    assert_eq!(expires("60"), 300, "the spec's example: 60 becomes 300");
    assert_eq!(expires("86401"), 86_400);
    assert_eq!(expires("3600"), 3600);
    assert_eq!(expires("-5"), 300);
    assert_eq!(expires("1e400"), 86_400);
    assert_eq!(expires("null"), 900, "null means the default");
    let without = spec_payload("1").replace("  \"tokenValidity\": 1,\n", "");
    assert!(!without.contains("tokenValidity"));
    assert_eq!(f.serve_payload(&without).unwrap().expires_in, 900);
    for bad in ["\"900\"", "true", "[900]"] {
        let e = f.serve_payload(&spec_payload(bad)).unwrap_err();
        assert_eq!(e, WidgetError::InvalidTokenValidity, "{bad}");
        assert_eq!((e.oauth_error(), e.status()), ("invalid_request", 400));
    }
}

#[test]
fn at_least_one_reader_group_is_required() {
    let f = fixture();
    let groups = r#"["group1", "group2"]"#;
    for replacement in ["[]", "null"] {
        let payload = spec_payload("900").replace(groups, replacement);
        let e = f.serve_payload(&payload).unwrap_err();
        assert_eq!(e, WidgetError::NoReaderGroups, "{replacement}");
        assert_eq!(e.oauth_error(), "invalid_request");
        assert!(e.to_string().contains("at least one reader group"));
    }
    let payload = spec_payload("900").replace(&format!("  \"readerGroupIds\": {groups},\n"), "");
    assert!(!payload.contains("readerGroupIds"));
    assert_eq!(f.serve_payload(&payload).unwrap_err(), WidgetError::NoReaderGroups);
    let payload = spec_payload("900").replace(groups, r#"["group1", " "]"#);
    assert_eq!(
        f.serve_payload(&payload).unwrap_err(),
        WidgetError::InvalidField(PayloadError::Empty("readerGroupIds"))
    );
}

#[test]
fn a_grant_type_other_than_widget_is_unsupported() {
    let f = fixture();
    for grant in ["authorization_code", "client_credentials", "widget", "WIDGET"] {
        let body = form(&[("grant_type", grant), ("payload", &spec_payload("900"))]);
        let e = f.serve(Some(&f.basic()), &body).unwrap_err();
        assert_eq!(e, WidgetError::UnsupportedGrantType, "{grant}");
        assert_eq!((e.oauth_error(), e.status()), ("unsupported_grant_type", 400));
    }
    let body = form(&[("payload", &spec_payload("900"))]);
    assert_eq!(
        f.serve(Some(&f.basic()), &body).unwrap_err(),
        WidgetError::MissingParameter("grant_type")
    );
}

#[test]
fn credentials_work_in_a_basic_header_or_in_the_form_but_not_both() {
    let f = fixture();
    let payload = spec_payload("900");
    // Basic (the sample).
    assert_eq!(
        f.serve(Some(&f.basic()), &sample_body(&payload)).unwrap().expires_in,
        900
    );
    // Form fields.
    let in_form = form(&[
        ("grant_type", "Widget"),
        ("client_id", PROJECT),
        ("client_secret", f.secret.expose()),
        ("payload", &payload),
        ("id", PROJECT),
    ]);
    assert_eq!(f.serve(None, &in_form).unwrap().expires_in, 900);
    // Both: refused whatever the values.
    let e = f.serve(Some(&f.basic()), &in_form).unwrap_err();
    assert_eq!(e, WidgetError::MultipleClientAuthentication);
    assert_eq!((e.oauth_error(), e.status()), ("invalid_request", 400));
    // Neither.
    let e = f.serve(None, &sample_body(&payload)).unwrap_err();
    assert_eq!(e, WidgetError::MissingClientAuthentication);
    assert_eq!((e.oauth_error(), e.status()), ("invalid_client", 401));
}

#[test]
fn wrong_secret_and_unknown_project_are_the_same_invalid_client() {
    let f = fixture();
    let body = sample_body(&spec_payload("900"));
    let wrong_secret = f.serve(Some(&basic(PROJECT, "not-the-secret")), &body).unwrap_err();
    let unknown = f
        .serve(Some(&basic("other-project", f.secret.expose())), &body)
        .unwrap_err();
    assert_eq!(wrong_secret, WidgetError::InvalidClient);
    assert_eq!(unknown, WidgetError::InvalidClient);
    assert_eq!(wrong_secret.to_string(), unknown.to_string());
    assert_eq!((unknown.oauth_error(), unknown.status()), ("invalid_client", 401));

    // A host that hands over the wrong project still gets invalid_client.
    let (other, other_secret) = WidgetProject::builder("other-project").widget(WIDGET).build().unwrap();
    let request = WidgetTokenRequest::parse([basic(PROJECT, other_secret.expose()).as_bytes()], &body).unwrap();
    assert_eq!(
        f.issuer.issue(Some(&other), &request).unwrap_err(),
        WidgetError::InvalidClient
    );

    // Credentials come first: a bad payload from a bad client says nothing
    // about the payload.
    let e = f
        .serve(Some(&basic(PROJECT, "nope")), &sample_body("{not json"))
        .unwrap_err();
    assert_eq!(e, WidgetError::InvalidClient);
}

#[test]
fn a_regenerated_secret_replaces_the_old_one_at_once_for_every_widget() {
    let mut f = fixture();
    let old = f.secret.clone();
    let new = f.project.regenerate_secret();
    f.secret = new.clone();
    let second = spec_payload("900").replace(WIDGET, "second-widget");
    for payload in [spec_payload("900"), second] {
        let body = sample_body(&payload);
        assert_eq!(
            f.serve(Some(&basic(PROJECT, old.expose())), &body).unwrap_err(),
            WidgetError::InvalidClient
        );
        assert!(f.serve(Some(&basic(PROJECT, new.expose())), &body).is_ok());
    }
    assert!(!f.project.accepts_secret(old.expose().as_bytes()));
}

#[test]
fn project_id_and_id_must_name_the_authenticated_project() {
    let f = fixture();
    let payload = spec_payload("900").replace(
        "\"projectId\": \"your-project-id\"",
        "\"projectId\": \"another-project\"",
    );
    assert_eq!(
        f.serve_payload(&payload).unwrap_err(),
        WidgetError::ProjectMismatch("projectId")
    );
    let body = form(&[
        ("grant_type", "Widget"),
        ("payload", &spec_payload("900")),
        ("id", WIDGET),
    ]);
    let e = f.serve(Some(&f.basic()), &body).unwrap_err();
    assert_eq!(e, WidgetError::ProjectMismatch("id"));
    assert_eq!(e.oauth_error(), "invalid_request");
    // `id` is optional (the Postman check sends none).
    let body = form(&[("grant_type", "Widget"), ("payload", &spec_payload("900"))]);
    assert!(f.serve(Some(&f.basic()), &body).is_ok());
}

#[test]
fn an_unknown_or_removed_widget_is_an_invalid_request() {
    let mut f = fixture();
    let payload = spec_payload("900").replace(WIDGET, "no-such-widget");
    let e = f.serve_payload(&payload).unwrap_err();
    assert_eq!(e, WidgetError::UnknownWidget);
    assert_eq!((e.oauth_error(), e.status()), ("invalid_request", 400));
    assert!(f.project.remove_widget(WIDGET));
    assert_eq!(
        f.serve_payload(&spec_payload("900")).unwrap_err(),
        WidgetError::UnknownWidget
    );
}

#[test]
fn the_payload_is_parsed_strictly() {
    let f = fixture();
    let base = spec_payload("900");
    let cases = [
        base.replace("\"username\"", "\"userName\""),
        base.replace("\"widgetId\"", "\"username\": \"x\", \"widgetId\""),
        base.replace("\"projectId\"", "\"extra\": 1, \"projectId\""),
        base.replace("  \"firstName\": \"John\",\n", ""),
        base.replace("  \"widgetId\": \"your-widget-id\",\n", ""),
        "[]".to_owned(),
        "{".to_owned(),
        format!("{base} trailing"),
    ];
    for payload in cases {
        let e = f.serve_payload(&payload).unwrap_err();
        assert!(matches!(e, WidgetError::InvalidPayload(_)), "{payload}: {e:?}");
        assert_eq!(e.oauth_error(), "invalid_request");
    }
    let dup = f
        .serve_payload(&base.replace("\"widgetId\"", "\"username\": \"x\", \"widgetId\""))
        .unwrap_err();
    assert!(dup.to_string().contains("duplicate field `username`"), "{dup}");
    let e = f
        .serve_payload(&base.replace("john.doe@example.com", "not-an-email"))
        .unwrap_err();
    assert_eq!(e, WidgetError::InvalidField(PayloadError::InvalidEmail));
    // A form parameter given twice.
    let mut body = sample_body(&base);
    body.extend_from_slice(b"&grant_type=Widget");
    assert_eq!(
        f.serve(Some(&f.basic()), &body).unwrap_err(),
        WidgetError::DuplicateParameter
    );
    // No payload at all.
    let body = form(&[("grant_type", "Widget"), ("payload", "")]);
    assert_eq!(
        f.serve(Some(&f.basic()), &body).unwrap_err(),
        WidgetError::MissingParameter("payload")
    );
}

#[test]
fn widget_tokens_are_refused_wherever_other_tokens_are_expected() {
    let f = fixture();
    let token = f.serve_payload(&spec_payload("900")).unwrap().access_token;
    // An id_token verifier: audience = a client id.
    let id_verifier = Verifier::new(
        f.keys.clone(),
        Validation::new()
            .issuer(ISSUER)
            .audience("0b9f4c1e-5f7a-4c55-9d1e-3f1f2a6c7d80"),
    );
    assert_eq!(
        id_verifier.verify_str::<serde_json::Value>(&token, T0).unwrap_err(),
        VerifyError::WrongAudience
    );
    // The KB API's access tokens: `<issuer>/kb`.
    let kb_verifier = Verifier::new(f.keys.clone(), Validation::new().audience(format!("{ISSUER}/kb")));
    assert_eq!(
        kb_verifier.verify_str::<serde_json::Value>(&token, T0).unwrap_err(),
        VerifyError::WrongAudience
    );
    // Another issuer's widget audience.
    assert_eq!(
        verify_widget_token(&f.keys, "https://other.example.com", &token, T0).unwrap_err(),
        VerifyError::WrongIssuer
    );
    // Expired after its validity (plus leeway).
    assert_eq!(
        verify_widget_token(&f.keys, ISSUER, &token, T0 + Duration::seconds(900 + 31)).unwrap_err(),
        VerifyError::Expired
    );
}

#[test]
fn code_flow_tokens_are_refused_as_widget_tokens() {
    let signer = TokenSigner::new(SigningKey::generate_ed25519("idp-1").unwrap());
    let keys = KeySet::from_keys([signer.key().verification_key()]).unwrap();
    let (config, secrets) = JwtConfig::builder("Portal", "https://app.example.com/login")
        .build()
        .unwrap();
    let credentials = ClientCredentials::new(config.client_id().as_str(), secrets.primary.clone());
    let identity = IdentityServer::new(
        MemoryConfigStore::new(Project::new(ProjectSettings::default(), vec![config], vec![]).unwrap()),
        CodeIssuer::new(MemoryCodeStore::new(), SettableClock::new(T0)),
        signer,
        ISSUER,
    );
    let tokens = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(async {
            let body = br#"{"username":"u","firstName":"","lastName":"","emailId":"u@x","readerGroupIds":["g"]}"#;
            let code = identity.issue_code(&credentials, body).await.unwrap();
            identity.exchange(code.expose(), None).await.unwrap()
        });
    // The access token is signed with the KB's own key: with every key at
    // hand, both tokens are still refused for their audience.
    let keys = KeySet::from_keys(keys.iter().cloned().chain([identity.access_verification_key()])).unwrap();
    for token in [&tokens.id_token, &tokens.access_token] {
        assert_eq!(
            verify_widget_token(&keys, ISSUER, token, T0).unwrap_err(),
            VerifyError::WrongAudience
        );
    }
}

#[test]
fn one_signer_can_serve_the_code_flow_and_the_widget_flow() {
    let signer = std::sync::Arc::new(TokenSigner::new(SigningKey::generate_ed25519("k").unwrap()));
    let issuer = WidgetTokenIssuer::new(signer.clone(), ISSUER, SettableClock::new(T0));
    let borrowed = WidgetTokenIssuer::new(&*signer, ISSUER, SettableClock::new(T0));
    assert_eq!(issuer.signer().key().kid(), borrowed.signer().key().kid());
    assert_eq!(issuer.audience(), widget_audience(ISSUER));
}

proptest! {
    #[test]
    fn validity_through_the_widget_payload_stays_in_the_band(v in prop_oneof![
        any::<i64>().prop_map(|i| i.to_string()),
        any::<f64>().prop_filter("JSON numbers are finite", |f| f.is_finite()).prop_map(|f| format!("{f:e}")),
        (0i64..100_000).prop_map(|i| i.to_string()),
    ]) {
        let f = fixture();
        let answer = f.serve_payload(&spec_payload(&v)).unwrap();
        prop_assert!((300..=86_400).contains(&answer.expires_in), "{v} -> {}", answer.expires_in);
        let claims = f.verify(&answer.access_token).unwrap();
        prop_assert_eq!(claims.exp - claims.iat, answer.expires_in);
        let n: f64 = v.parse().unwrap();
        if (300.0..=86_400.0).contains(&n) {
            prop_assert_eq!(answer.expires_in, n.floor() as i64);
        }
    }
}
