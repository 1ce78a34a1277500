//! The widget token endpoint of the reference server, over real HTTP, with
//! the spec's Postman body as the `payload`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../examples/common/mod.rs"]
mod common;

use std::net::SocketAddr;

use kb_sso::{
    AccessTokenClaims, ClientCredentials, ClientSecret, Clock, IdTokenClaims, KeySet, SystemClock, Validation,
    Verifier, VerifyError,
};
use reqwest::StatusCode;
use serde_json::{Value, json};

fn postman_body(project: &common::server::DemoProject, validity: Value, groups: Value) -> String {
    json!({
        "username": "john.doe",
        "firstName": "John",
        "lastName": "Doe",
        "emailId": "john.doe@example.com",
        "readerGroupIds": groups,
        "tokenValidity": validity,
        "widgetId": project.widget_id,
        "projectId": project.widget_client_id,
    })
    .to_string()
}

async fn request(server: &common::server::Running<SystemClock>, payload: &str) -> (StatusCode, Value) {
    let p = &server.project;
    let basic = ClientCredentials::new(
        p.widget_client_id.clone(),
        ClientSecret::new(p.widget_client_secret.clone()),
    )
    .to_basic_header();
    let form = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "Widget")
        .append_pair("payload", payload)
        .append_pair("id", &p.widget_client_id)
        .finish();
    let resp = reqwest::Client::new()
        .post(format!("{}/api/jwt/widget-token", server.base))
        .header("authorization", basic.as_str())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    (status, resp.json().await.unwrap())
}

/// An `id_token` of the demo configuration, from the code flow.
async fn id_token(server: &common::server::Running<SystemClock>) -> String {
    let p = &server.project;
    let basic =
        ClientCredentials::new(p.client_id.clone(), ClientSecret::new(p.primary_secret.clone())).to_basic_header();
    let client = reqwest::Client::new();
    let code: Value = client
        .post(format!("{}/api/jwt/generate-code", server.base))
        .header("authorization", basic.as_str())
        .header("content-type", "application/json")
        .body(common::SPEC_CODE_REQUEST)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let tokens: Value = client
        .post(format!("{}/api/jwt/token", server.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "grant_type=authorization_code&code={}",
            code["code"].as_str().unwrap()
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    tokens["id_token"].as_str().unwrap().to_owned()
}

/// A widget token is neither an `id_token` nor an access token: the
/// verifiers a KB uses for those refuse it (while they accept the real
/// thing), and as a handshake token it opens no session.
async fn refused_where_id_and_access_tokens_are_expected(server: &common::server::Running<SystemClock>, widget: &str) {
    let identity = server.service.identity();
    let now = SystemClock.now();
    let signer_keys = KeySet::from_keys([identity.signer().key().verification_key()]).unwrap();
    let id_verifier = Verifier::new(
        signer_keys,
        Validation::new()
            .issuer(identity.issuer())
            .audience(server.project.client_id.as_str()),
    );
    assert!(
        id_verifier
            .verify_str::<IdTokenClaims>(&id_token(server).await, now)
            .is_ok()
    );
    assert_eq!(
        id_verifier.verify_str::<IdTokenClaims>(widget, now).unwrap_err(),
        VerifyError::WrongAudience
    );
    let access_verifier = Verifier::new(
        KeySet::from_keys([identity.access_verification_key()]).unwrap(),
        Validation::new()
            .issuer(identity.issuer())
            .audience(identity.access_audience()),
    );
    assert!(access_verifier.verify_str::<AccessTokenClaims>(widget, now).is_err());
    let resp = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!("{}/api/auth/jwt/callback", server.base))
        .query(&[("token", widget)])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FOUND);
    assert!(
        resp.headers().get("set-cookie").is_none(),
        "no session from a widget token"
    );
    assert!(resp.headers()["location"].to_str().unwrap().contains("jwt_error="));
}

#[tokio::test]
async fn the_specs_postman_body_gets_a_token_with_its_validity_clamped() {
    let server = common::server::start(
        SocketAddr::from(([127, 0, 0, 1], 0)),
        "https://app.example.com/login",
        SystemClock,
    )
    .await
    .unwrap();
    let ready: Value = serde_json::from_str(&server.ready_line()).unwrap();
    for field in ["widget_client_id", "widget_client_secret", "widget_id"] {
        assert!(
            ready[field].as_str().is_some_and(|v| !v.is_empty()),
            "ready line has {field}"
        );
    }

    let (status, body) = request(
        &server,
        &postman_body(&server.project, json!(900), json!(["group1", "group2"])),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["expires_in"], 900);
    assert_eq!(body["token_type"], "Bearer");
    let token = body["access_token"].as_str().unwrap();
    let keys = kb_sso::KeySet::from_keys([server.service.identity().signer().key().verification_key()]).unwrap();
    let claims =
        kb_sso::verify_widget_token(&keys, server.service.identity().issuer(), token, SystemClock.now()).unwrap();
    assert_eq!(claims.widget_id, server.project.widget_id);
    assert_eq!(claims.groups, ["group1", "group2"]);
    refused_where_id_and_access_tokens_are_expected(&server, token).await;

    let (status, body) = request(&server, &postman_body(&server.project, json!(60), json!(["group1"]))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["expires_in"], 300);

    let (status, body) = request(&server, &postman_body(&server.project, json!(900), json!([]))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_request");
    server.stop().await;
}
