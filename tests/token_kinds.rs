//! Every kind of token the identity server issues has a `typ` of its own and
//! a verifier that requires it: an `id_token`, an access token and a widget
//! token are never accepted as one another, even under one signing key.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use base64::Engine as _;
use kb_sso::TokenType;
use kb_sso::store::memory::{MemoryCodeStore, MemoryConfigStore};
use kb_sso::{ACCESS_TOKEN_TYPE, ID_TOKEN_TYPE, id_token_validation};
use kb_sso::{
    AccessTokenClaims, ClientCredentials, CodeIssuer, IdTokenClaims, IdentityServer, JwtConfig, KeySet, Project,
    ProjectSettings, SettableClock, SigningKey, TokenSigner, UntrustedToken, Verifier, VerifyError, WidgetClaims,
    WidgetProject, WidgetTokenIssuer, WidgetTokenRequest, verify_widget_token,
};
use kb_sso::{WIDGET_TOKEN_TYPE, widget_validation};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::macros::datetime;

const ISSUER: &str = "https://kb.example.com";
const T0: OffsetDateTime = datetime!(2026-01-01 00:00 UTC);

type Identity = IdentityServer<MemoryConfigStore, MemoryCodeStore, Arc<SettableClock>>;

struct Tokens {
    identity: Identity,
    config: JwtConfig,
    code: String,
    id_token: String,
    access_token: String,
    widget_token: String,
    keys: KeySet,
    pem: String,
}

/// One Ed25519 key signs every kind of token here (id_token, access token
/// and widget token), so only the type and the audience tell them apart.
fn tokens() -> Tokens {
    let key = SigningKey::generate_ed25519("kb-sso-1").unwrap();
    let pem = key.to_pkcs8_pem().unwrap();
    let same = || TokenSigner::new(SigningKey::ed25519_from_pkcs8_pem("kb-sso-1", &pem).unwrap());
    let keys = KeySet::from_keys([key.verification_key()]).unwrap();

    let clock = Arc::new(SettableClock::new(T0));
    let (config, secrets) = JwtConfig::builder("Portal", "https://app.example.com/login")
        .build()
        .unwrap();
    let project = Project::new(ProjectSettings::default(), vec![config.clone()], vec![]).unwrap();
    let identity = IdentityServer::new(
        MemoryConfigStore::new(project),
        CodeIssuer::new(MemoryCodeStore::new(), clock.clone()),
        TokenSigner::new(key),
        ISSUER,
    )
    .with_access_signer(same());

    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let creds = ClientCredentials::new(config.client_id().as_str(), secrets.primary.clone());
    let body = br#"{"username":"john.doe","firstName":"John","lastName":"Doe","emailId":"john@example.com","readerGroupIds":["g1"]}"#;
    let code = rt.block_on(identity.issue_code(&creds, body)).unwrap();
    let answer = rt.block_on(identity.exchange(code.expose(), None)).unwrap();

    let (widgets, widget_secret) = WidgetProject::builder("project-1").widget("widget-1").build().unwrap();
    let payload = json!({
        "username": "john.doe", "firstName": "John", "lastName": "Doe",
        "emailId": "john@example.com", "readerGroupIds": ["g1"], "tokenValidity": 900,
        "widgetId": "widget-1", "projectId": "project-1",
    })
    .to_string();
    let form = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "Widget")
        .append_pair("payload", &payload)
        .append_pair("client_id", "project-1")
        .append_pair("client_secret", widget_secret.expose())
        .finish();
    let request = WidgetTokenRequest::parse(std::iter::empty::<&[u8]>(), form.as_bytes()).unwrap();
    let widget_token = WidgetTokenIssuer::new(same(), ISSUER, clock)
        .issue(Some(&widgets), &request)
        .unwrap()
        .access_token;

    Tokens {
        identity,
        config,
        code: code.expose().to_owned(),
        id_token: answer.id_token,
        access_token: answer.access_token,
        widget_token,
        keys,
        pem: pem.to_string(),
    }
}

fn header_of(token: &str) -> Value {
    let header = token.split('.').next().unwrap();
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap()
}

#[test]
fn each_kind_of_token_names_its_type() {
    let t = tokens();
    assert_eq!(header_of(&t.id_token)["typ"], "kb-sso.id+jwt");
    assert_eq!(header_of(&t.access_token)["typ"], "kb-sso.access+jwt");
    assert_eq!(header_of(&t.widget_token)["typ"], "kb-sso.widget+jwt");
    assert_eq!(ID_TOKEN_TYPE.as_str(), "kb-sso.id+jwt");
    assert_eq!(ACCESS_TOKEN_TYPE.as_str(), "kb-sso.access+jwt");
    assert_eq!(WIDGET_TOKEN_TYPE.as_str(), "kb-sso.widget+jwt");
    assert_eq!(UntrustedToken::parse(&t.id_token).unwrap().typ(), Some("kb-sso.id+jwt"));
}

#[test]
fn each_verifier_accepts_its_own_kind() {
    let t = tokens();
    let client = t.config.client_id();
    let id = t.identity.verify_id_token(&t.id_token, client, T0).unwrap();
    assert_eq!(id.claims().aud, client.as_str());
    t.identity
        .access_verifier()
        .verify_str::<AccessTokenClaims>(&t.access_token, T0)
        .unwrap();
    verify_widget_token(&t.keys, ISSUER, &t.widget_token, T0).unwrap();
}

/// Each kind's claims re-signed under one key with another kind's `typ`:
/// right audience, wrong type.
fn retyped<C: serde::Serialize>(claims: &C, typ: TokenType, key_pem: &str) -> String {
    TokenSigner::new(SigningKey::ed25519_from_pkcs8_pem("kb-sso-1", key_pem).unwrap())
        .sign_typed(typ, claims)
        .unwrap()
}

#[test]
fn a_widget_token_presented_where_an_id_token_is_expected_is_refused() {
    let t = tokens();
    let client = t.config.client_id();
    for token in [&t.widget_token, &t.access_token] {
        assert_eq!(
            t.identity.verify_id_token(token, client, T0).unwrap_err(),
            VerifyError::WrongAudience
        );
    }
    // The rules the KB site's session verifier applies (http::SsoService):
    // type id_token, this issuer, audience the grant's client id.
    let kb = Verifier::new(t.keys.clone(), id_token_validation(ISSUER, client));
    for token in [&t.widget_token, &t.access_token] {
        assert_eq!(
            kb.verify_str::<IdTokenClaims>(token, T0).unwrap_err(),
            VerifyError::WrongAudience
        );
    }
    // The type alone refuses a token whose audience would pass.
    let claims: IdTokenClaims = kb.verify_str(&t.id_token, T0).unwrap().into_claims();
    for typ in [WIDGET_TOKEN_TYPE, ACCESS_TOKEN_TYPE, TokenType::JWT] {
        let token = retyped(&claims, typ, &t.pem);
        assert_eq!(
            kb.verify_str::<IdTokenClaims>(&token, T0).unwrap_err(),
            VerifyError::WrongType,
            "{typ}"
        );
    }
}

#[test]
fn an_id_token_for_another_configuration_is_refused() {
    let t = tokens();
    let other = kb_sso::ClientId::generate();
    assert_eq!(
        t.identity.verify_id_token(&t.id_token, &other, T0).unwrap_err(),
        VerifyError::WrongAudience
    );
}

#[test]
fn an_id_token_presented_where_a_widget_or_access_token_is_expected_is_refused() {
    let t = tokens();
    let access = t.identity.access_verifier();
    for token in [&t.id_token, &t.access_token] {
        assert_eq!(
            verify_widget_token(&t.keys, ISSUER, token, T0).unwrap_err(),
            VerifyError::WrongAudience
        );
    }
    for token in [&t.id_token, &t.widget_token] {
        assert_eq!(
            access.verify_str::<AccessTokenClaims>(token, T0).unwrap_err(),
            VerifyError::WrongAudience
        );
    }
    // The type alone refuses a token whose audience would pass.
    let widget = Verifier::new(t.keys.clone(), widget_validation(ISSUER));
    let widget_claims: WidgetClaims = widget.verify_str(&t.widget_token, T0).unwrap().into_claims();
    let access_claims: AccessTokenClaims = access.verify_str(&t.access_token, T0).unwrap().into_claims();
    for typ in [ID_TOKEN_TYPE, ACCESS_TOKEN_TYPE, TokenType::JWT] {
        let token = retyped(&widget_claims, typ, &t.pem);
        assert_eq!(
            verify_widget_token(&t.keys, ISSUER, &token, T0).unwrap_err(),
            VerifyError::WrongType,
            "{typ}"
        );
    }
    for typ in [ID_TOKEN_TYPE, WIDGET_TOKEN_TYPE, TokenType::JWT] {
        let token = retyped(&access_claims, typ, &t.pem);
        assert_eq!(
            access.verify_str::<AccessTokenClaims>(&token, T0).unwrap_err(),
            VerifyError::WrongType,
            "{typ}"
        );
    }
}

#[test]
fn a_token_without_typ_is_refused_where_a_type_is_required() {
    let t = tokens();
    // The generic signer writes `typ: JWT`.
    let signer = TokenSigner::new(SigningKey::generate_ed25519("kb-sso-1").unwrap());
    let keys = KeySet::from_keys([signer.key().verification_key()]).unwrap();
    let claims: IdTokenClaims = t
        .identity
        .verify_id_token(&t.id_token, t.config.client_id(), T0)
        .unwrap()
        .into_claims();
    let claims = IdTokenClaims {
        aud: t.config.client_id().to_string(),
        ..claims
    };
    let plain = signer.sign(&claims).unwrap();
    let kb = Verifier::new(keys.clone(), id_token_validation(ISSUER, t.config.client_id()));
    assert_eq!(
        kb.verify_str::<IdTokenClaims>(&plain, T0).unwrap_err(),
        VerifyError::WrongType
    );
    let typed = signer.sign_typed(ID_TOKEN_TYPE, &claims).unwrap();
    kb.verify_str::<IdTokenClaims>(&typed, T0).unwrap();
}

#[test]
fn the_access_tokens_jti_is_derived_from_the_code_like_the_id_tokens() {
    let t = tokens();
    let expected = Identity::token_id_for_code(&t.code);
    let access: AccessTokenClaims = t
        .identity
        .access_verifier()
        .verify_str(&t.access_token, T0)
        .unwrap()
        .into_claims();
    assert_eq!(access.jti, expected);
    let id = t
        .identity
        .verify_id_token(&t.id_token, t.config.client_id(), T0)
        .unwrap();
    assert_eq!(id.claims().jti, expected);
}
