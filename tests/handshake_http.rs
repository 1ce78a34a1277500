//! Handshake tokens over HTTP against the reference server: the customer
//! app signs a short JWT (EdDSA or HS256) and the KB opens a session from it
//! on `/api/auth/jwt/callback`, `?jwt=` on any page, a `jwt` cookie or a form
//! `POST`; failures go back to the login URL with `jwt_error`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../examples/common/mod.rs"]
mod common;

use std::net::SocketAddr;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::Signer as _;
use ed25519_dalek::pkcs8::DecodePrivateKey as _;
use kb_sso::{ClientId, ClientSecret, Clock, SystemClock};
use reqwest::StatusCode;
use serde_json::{Value, json};

const ISSUER: &str = "https://app.example.com";
const AUDIENCE: &str = "kb-sub";

struct Kb {
    server: common::server::Running<SystemClock>,
    ed_private_pem: String,
    ed_public_pem: String,
    hs_secret: String,
}

async fn kb() -> Kb {
    let (private, public) = kb_sso::generate_ed25519_key_pair().unwrap();
    let hs_secret = ClientSecret::generate().expose().to_owned();
    let project = json!({
        "settings": {"direct_jwt_login": false},
        "jwt": [
            {
                "name": "Docs (EdDSA)", "client_id": ClientId::generate().to_string(),
                "login_url": "https://a.example.com/login",
                "primary_secret": ClientSecret::generate().expose(),
                "secondary_secret": ClientSecret::generate().expose(),
                "handshake": {"alg": "EdDSA", "public_key_pem": public}
            },
            {
                "name": "Help (HS256)", "client_id": ClientId::generate().to_string(),
                "login_url": "https://b.example.com/login",
                "primary_secret": hs_secret,
                "secondary_secret": ClientSecret::generate().expose(),
                "handshake": {"alg": "HS256", "issuer": ISSUER, "audience": AUDIENCE,
                              "session_duration_minutes": 60, "max_age_seconds": 300}
            }
        ]
    });
    let path = std::env::temp_dir().join(format!("kb-sso-hs-{}.json", ClientId::generate()));
    std::fs::write(&path, project.to_string()).unwrap();
    let loaded = common::server::load_project_file(path.to_str().unwrap()).unwrap();
    let _ = std::fs::remove_file(&path);
    let server = common::server::start_project(SocketAddr::from(([127, 0, 0, 1], 0)), loaded, SystemClock)
        .await
        .unwrap();
    Kb {
        server,
        ed_private_pem: private.to_string(),
        ed_public_pem: public,
        hs_secret,
    }
}

fn now() -> i64 {
    SystemClock.now().unix_timestamp()
}

/// A token exactly as the spec's Node `jose` snippet makes it: protected
/// header `{"alg":"EdDSA"}` and nothing else, `iat` now, `exp` in 30 s.
fn jose_eddsa(private_pem: &str, claims: Value) -> String {
    let key = ed25519_dalek::SigningKey::from_pkcs8_pem(private_pem).unwrap();
    let mut claims = claims;
    claims["iat"] = json!(now());
    claims["exp"] = json!(now() + 30);
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"EdDSA"}"#),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let sig = key.sign(signing_input.as_bytes());
    format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(sig.to_bytes()))
}

/// An HS256 token made by another JWT implementation (`jsonwebtoken`).
fn hs256(secret: &str, claims: Value) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

fn help_claims() -> Value {
    json!({"sub": "bob", "email": "bob@example.com", "groups": ["support"],
           "iss": ISSUER, "aud": [AUDIENCE], "iat": now(), "exp": now() + 60})
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn session_cookie(resp: &reqwest::Response) -> Option<String> {
    resp.headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .find(|c| c.starts_with("kb_session=") && !c.starts_with("kb_session=;"))
        .map(|c| c.split(';').next().unwrap().to_owned())
}

async fn reader(kb: &Kb, path: &str, cookie: &str) -> Value {
    let resp = client()
        .get(format!("{}{path}", kb.server.base))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    resp.json().await.unwrap()
}

#[tokio::test]
async fn a_token_signed_like_the_specs_jose_snippet_opens_a_session_with_groups_from_access_roles() {
    let kb = kb().await;
    let token = jose_eddsa(
        &kb.ed_private_pem,
        json!({"host": "docs.example.com", "firstname": "Alice", "company": "Acme Inc",
               "accessRoles": ["engineering", "sre"]}),
    );
    let mut url = url::Url::parse(&format!("{}/api/auth/jwt/callback", kb.server.base)).unwrap();
    url.query_pairs_mut()
        .append_pair("token", &token)
        .append_pair("redirect", "/docs/a");
    let resp = client().get(url.as_str()).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::FOUND);
    assert_eq!(resp.headers()["location"], format!("{}/docs/a", kb.server.base));
    assert_eq!(resp.headers()["referrer-policy"], "no-referrer");
    let cookie = session_cookie(&resp).expect("a session");
    let page = reader(&kb, "/docs/a", &cookie).await;
    assert_eq!(page["reader"]["groups"], json!(["engineering", "sre"]));
    assert_eq!(page["reader"]["first_name"], "Alice");
    kb.server.stop().await;
}

#[tokio::test]
async fn an_hs256_token_with_an_audience_array_opens_a_session_via_jwt_and_leaves_no_token_in_the_url() {
    let kb = kb().await;
    let token = hs256(&kb.hs_secret, help_claims());
    let resp = client()
        .get(format!("{}/docs/guide?x=1&jwt={token}", kb.server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FOUND);
    let landing = resp.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(landing, format!("{}/docs/guide?x=1", kb.server.base));
    assert!(!landing.contains("jwt"));
    let cookie = session_cookie(&resp).expect("a session");
    assert!(
        resp.headers()["set-cookie"].to_str().unwrap().contains("Max-Age=3600"),
        "60-minute sessions"
    );
    let page = reader(&kb, "/docs/guide?x=1", &cookie).await;
    assert_eq!(page["reader"]["username"], "bob");
    assert_eq!(page["reader"]["groups"], json!(["support"]));
    kb.server.stop().await;
}

#[tokio::test]
async fn a_jwt_cookie_and_a_form_post_to_the_callback_also_open_sessions() {
    let kb = kb().await;
    let token = hs256(&kb.hs_secret, help_claims());
    let resp = client()
        .get(format!("{}/docs/c", kb.server.base))
        .header("cookie", format!("jwt={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FOUND);
    assert_eq!(resp.headers()["location"], format!("{}/docs/c", kb.server.base));
    assert!(session_cookie(&resp).is_some());
    assert!(
        resp.headers()
            .get_all("set-cookie")
            .iter()
            .any(|c| c.to_str().unwrap().starts_with("jwt=;")),
        "the token cookie is cleared"
    );

    let token = hs256(&kb.hs_secret, help_claims());
    let resp = client()
        .post(format!("{}/api/auth/jwt/callback", kb.server.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("jwt={token}&redirect=%2Fdocs%2Fd"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FOUND);
    assert_eq!(resp.headers()["location"], format!("{}/docs/d", kb.server.base));
    assert!(session_cookie(&resp).is_some());

    // A form post to any other page is not a sign-in.
    let token = hs256(&kb.hs_secret, help_claims());
    let resp = client()
        .post(format!("{}/docs/d", kb.server.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("jwt={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert!(session_cookie(&resp).is_none());
    kb.server.stop().await;
}

/// Sends `token` to the callback and returns the redirect's query pairs,
/// asserting that no session was opened.
async fn refused(kb: &Kb, token: &str) -> (String, Vec<(String, String)>) {
    let mut url = url::Url::parse(&format!("{}/api/auth/jwt/callback", kb.server.base)).unwrap();
    url.query_pairs_mut()
        .append_pair("token", token)
        .append_pair("redirect", "/docs/x");
    let resp = client().get(url.as_str()).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::FOUND);
    assert!(session_cookie(&resp).is_none(), "no session for a refused token");
    let location = url::Url::parse(resp.headers()["location"].to_str().unwrap()).unwrap();
    let base = format!(
        "{}://{}{}",
        location.scheme(),
        location.host_str().unwrap(),
        location.path()
    );
    (base, location.query_pairs().into_owned().collect())
}

fn param<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

#[tokio::test]
async fn refused_tokens_redirect_with_the_right_jwt_error_and_open_no_session() {
    let kb = kb().await;
    let help_login = "https://b.example.com/login";

    let mut c = help_claims();
    c["iat"] = json!(now() - 200);
    c["exp"] = json!(now() - 100);
    let (to, q) = refused(&kb, &hs256(&kb.hs_secret, c)).await;
    assert_eq!((to.as_str(), param(&q, "jwt_error")), (help_login, Some("expired")));
    assert_eq!(param(&q, "expected_aud"), Some(AUDIENCE));
    assert_eq!(
        param(&q, "from_url"),
        Some(format!("{}/docs/x", kb.server.base).as_str())
    );

    let mut c = help_claims();
    c["aud"] = json!(["someone-else"]);
    let (to, q) = refused(&kb, &hs256(&kb.hs_secret, c)).await;
    assert_eq!(
        (to.as_str(), param(&q, "jwt_error")),
        (help_login, Some("wrong_audience"))
    );

    let mut c = help_claims();
    c["iss"] = json!("https://evil.example");
    let (to, q) = refused(&kb, &hs256(&kb.hs_secret, c)).await;
    assert_eq!(
        (to.as_str(), param(&q, "jwt_error")),
        (help_login, Some("wrong_issuer"))
    );

    // Tampered: the payload changed after signing.
    let good = hs256(&kb.hs_secret, help_claims());
    let mut parts: Vec<String> = good.split('.').map(str::to_owned).collect();
    let mut claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&parts[1]).unwrap()).unwrap();
    claims["groups"] = json!(["admins"]);
    parts[1] = URL_SAFE_NO_PAD.encode(claims.to_string());
    let (_, q) = refused(&kb, &parts.join(".")).await;
    assert_eq!(param(&q, "jwt_error"), Some("bad_signature"));

    // alg: none.
    let none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(help_claims().to_string())
    );
    let (_, q) = refused(&kb, &none).await;
    assert_eq!(param(&q, "jwt_error"), Some("malformed"));

    // Algorithm swap: HS256 keyed with the EdDSA configuration's public key.
    let swapped = hs256(&kb.ed_public_pem, help_claims());
    let (_, q) = refused(&kb, &swapped).await;
    assert_eq!(param(&q, "jwt_error"), Some("bad_signature"));

    // Replayed: the same jti twice.
    let mut c = help_claims();
    c["jti"] = json!("once-only");
    let token = hs256(&kb.hs_secret, c);
    let mut url = url::Url::parse(&format!("{}/api/auth/jwt/callback", kb.server.base)).unwrap();
    url.query_pairs_mut().append_pair("token", &token);
    let first = client().get(url.as_str()).send().await.unwrap();
    assert!(session_cookie(&first).is_some());
    let (to, q) = refused(&kb, &token).await;
    assert_eq!((to.as_str(), param(&q, "jwt_error")), (help_login, Some("replayed")));

    // Missing.
    let (_, q) = refused(&kb, "").await;
    assert_eq!(param(&q, "jwt_error"), Some("missing"));
    kb.server.stop().await;
}

#[tokio::test]
async fn a_weak_or_malformed_public_key_is_refused_at_load() {
    let identity_point = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAAQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n-----END PUBLIC KEY-----\n";
    for pem in [identity_point, "not a pem"] {
        let file = json!({"jwt": [{
            "name": "x", "client_id": ClientId::generate().to_string(),
            "login_url": "https://a.example.com/login",
            "primary_secret": ClientSecret::generate().expose(),
            "secondary_secret": ClientSecret::generate().expose(),
            "handshake": {"alg": "EdDSA", "public_key_pem": pem}
        }]});
        let err = kb_sso::project_file::ProjectFile::parse(&file.to_string())
            .unwrap()
            .handshakes()
            .unwrap_err();
        assert_eq!(err.field, "jwt[0].handshake.public_key_pem", "{err}");
    }
}
