//! Other implementations against the reference server: the spec's curl
//! command, and the `id_token` checked by another language's JWT library
//! with the key from `/.well-known/jwks.json`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../examples/common/mod.rs"]
mod common;
mod support;

crate::test_main!(
    the_specs_curl_command_gets_a_code_that_works_once,
    the_id_token_verifies_in_pyjwt_with_the_published_jwks,
);

use std::net::SocketAddr;
use std::process::Command;

use kb_sso::{ClientCredentials, ClientSecret, SystemClock};
use serde_json::Value;

fn any_port() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

const SPEC_BODY: &str = common::SPEC_CODE_REQUEST;

fn curl_available() -> bool {
    Command::new("curl")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

async fn curl(args: Vec<String>) -> (String, String) {
    let out = tokio::task::spawn_blocking(move || Command::new("curl").args(&args).output().unwrap())
        .await
        .unwrap();
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The spec's test, as written (over cleartext, so `--tls-max` has nothing
/// to do): HTTP/2 with prior knowledge, Basic auth, the JSON body.
async fn the_specs_curl_command_gets_a_code_that_works_once() {
    if !curl_available() {
        support::skip_or_fail("the_specs_curl_command_gets_a_code_that_works_once", "curl");
    }
    let server = common::server::start(any_port(), common::server::DEFAULT_LOGIN_URL, SystemClock)
        .await
        .unwrap();
    let basic = ClientCredentials::new(
        server.project.client_id.clone(),
        ClientSecret::new(server.project.primary_secret.clone()),
    )
    .to_basic_header()
    .to_string();
    let (out, err) = curl(vec![
        "-sS".into(),
        "-X".into(),
        "POST".into(),
        format!("{}/api/jwt/generate-code", server.base),
        "-H".into(),
        format!("Authorization: {basic}"),
        "-H".into(),
        "Content-Type: application/json".into(),
        "--http2-prior-knowledge".into(),
        "-w".into(),
        "\n%{http_version} %{http_code}".into(),
        "-d".into(),
        SPEC_BODY.into(),
    ])
    .await;
    let (body, status) = out.rsplit_once('\n').unwrap_or_else(|| panic!("curl: {out} {err}"));
    assert_eq!(status, "2 200", "HTTP/2 and 200; stderr: {err}");
    let code = serde_json::from_str::<Value>(body).unwrap()["code"]
        .as_str()
        .unwrap()
        .to_owned();

    let authorize = format!("{}/jwt/authorize?code={code}&redirectUrl=/docs", server.base);
    let first = curl(vec![
        "-sS".into(),
        "--http2-prior-knowledge".into(),
        "-o".into(),
        "/dev/null".into(),
        "-w".into(),
        "%{http_code}".into(),
        authorize.clone(),
    ])
    .await;
    assert_eq!(first.0, "302");
    let second = curl(vec!["-sS".into(), "--http2-prior-knowledge".into(), authorize]).await;
    assert_eq!(
        serde_json::from_str::<Value>(&second.0).unwrap()["error"],
        "invalid_grant"
    );
    server.stop().await;
}

const PYTHON_CHECK: &str = r#"
import json, sys
import jwt
from jwt import PyJWK
token, jwks, aud, iss = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3], sys.argv[4]
kid = jwt.get_unverified_header(token)["kid"]
key = next(k for k in jwks["keys"] if k["kid"] == kid)
claims = jwt.decode(token, PyJWK(key).key, algorithms=["EdDSA"], audience=aud, issuer=iss,
                    options={"require": ["exp", "iat", "aud", "iss", "sub"]})
try:
    jwt.decode(token, PyJWK(key).key, algorithms=["EdDSA"], audience="someone-else", issuer=iss)
    print("WRONG-AUDIENCE-ACCEPTED")
except jwt.InvalidAudienceError:
    pass
print(json.dumps(claims))
"#;

fn pyjwt_available() -> bool {
    Command::new("python3")
        .args(["-c", "import jwt, cryptography"])
        .output()
        .is_ok_and(|o| o.status.success())
}

async fn the_id_token_verifies_in_pyjwt_with_the_published_jwks() {
    if !pyjwt_available() {
        support::skip_or_fail(
            "the_id_token_verifies_in_pyjwt_with_the_published_jwks",
            "python3 with PyJWT[crypto] (pip install 'PyJWT[crypto]')",
        );
    }
    let server = common::server::start(any_port(), common::server::DEFAULT_LOGIN_URL, SystemClock)
        .await
        .unwrap();
    let client = reqwest::Client::new();
    let basic = ClientCredentials::new(
        server.project.client_id.clone(),
        ClientSecret::new(server.project.primary_secret.clone()),
    )
    .to_basic_header()
    .to_string();
    let code: Value = client
        .post(format!("{}/api/jwt/generate-code", server.base))
        .header("authorization", basic)
        .header("content-type", "application/json")
        .body(SPEC_BODY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let tokens: Value = client
        .post(format!("{}/api/jwt/token", server.base))
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
    let jwks = client
        .get(format!("{}/.well-known/jwks.json", server.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let args = vec![
        "-c".to_owned(),
        PYTHON_CHECK.to_owned(),
        tokens["id_token"].as_str().unwrap().to_owned(),
        jwks,
        server.project.client_id.clone(),
        server.base.clone(),
    ];
    let out = tokio::task::spawn_blocking(move || Command::new("python3").args(&args).output().unwrap())
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "PyJWT refused the token: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!stdout.contains("WRONG-AUDIENCE-ACCEPTED"));
    let claims: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(claims["sub"], "john.doe");
    assert_eq!(claims["email"], "john.doe@example.com");
    assert_eq!(claims["groups"], serde_json::json!(["group1", "group2"]));
    assert_eq!(claims["aud"], server.project.client_id.as_str());
    assert_eq!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(), 900);
    server.stop().await;
}
