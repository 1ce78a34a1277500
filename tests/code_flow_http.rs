//! The code flow over real localhost HTTP against the reference server.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../examples/common/mod.rs"]
mod common;

use std::net::SocketAddr;
use std::sync::Arc;

use kb_sso::{ClientCredentials, ClientSecret, SettableClock, SystemClock};
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};
use serde_json::{Value, json};
use time::Duration;

const SPEC_BODY: &str = common::SPEC_CODE_REQUEST;

fn any_port() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn basic(project: &common::server::DemoProject) -> String {
    ClientCredentials::new(
        project.client_id.clone(),
        ClientSecret::new(project.primary_secret.clone()),
    )
    .to_basic_header()
    .to_string()
}

async fn code_for<C>(server: &common::server::Running<C>, client: &reqwest::Client) -> String {
    let resp = client
        .post(format!("{}/api/jwt/generate-code", server.base))
        .header(AUTHORIZATION, basic(&server.project))
        .header(CONTENT_TYPE, "application/json")
        .body(SPEC_BODY)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["cache-control"], "no-store");
    let body: Value = resp.json().await.unwrap();
    body["code"].as_str().unwrap().to_owned()
}

/// Redeems a fresh code at `/jwt/authorize` and returns the response.
async fn authorize<C>(server: &common::server::Running<C>, client: &reqwest::Client) -> reqwest::Response {
    let code = code_for(server, client).await;
    client
        .get(format!("{}/jwt/authorize?code={code}", server.base))
        .send()
        .await
        .unwrap()
}

/// The `name=value` part of a response's session cookie.
fn session_of(resp: &reqwest::Response) -> String {
    resp.headers()[SET_COOKIE]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn spec_request_over_http2_prior_knowledge_gets_a_code_that_opens_a_session_once() {
    // A clock that stands still: `Max-Age` is exactly the token's 900 s
    // however long the requests take.
    let clock = Arc::new(SettableClock::default());
    let server = common::server::start(any_port(), common::server::DEFAULT_LOGIN_URL, clock)
        .await
        .unwrap();
    let h2 = reqwest::Client::builder()
        .http2_prior_knowledge()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let resp = h2
        .post(format!("{}/api/jwt/generate-code", server.base))
        .header(AUTHORIZATION, basic(&server.project))
        .header(CONTENT_TYPE, "application/json")
        .body(SPEC_BODY)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.version(), reqwest::Version::HTTP_2);
    assert_eq!(resp.status(), StatusCode::OK);
    let code = resp.json::<Value>().await.unwrap()["code"].as_str().unwrap().to_owned();
    assert_eq!(code.len(), 43);

    let authorize = format!(
        "{}/jwt/authorize?code={code}&redirectUrl=/docs/5-basic-things-to-get-started",
        server.base
    );
    let resp = h2.get(&authorize).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::FOUND);
    assert_eq!(
        resp.headers()[LOCATION],
        format!("{}/docs/5-basic-things-to-get-started", server.base)
    );
    assert_eq!(resp.headers()["referrer-policy"], "no-referrer");
    let cookie = resp.headers()[SET_COOKIE].to_str().unwrap().to_owned();
    for attr in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=900"] {
        assert!(cookie.contains(attr), "{cookie} lacks {attr}");
    }
    assert!(!cookie.contains("Secure"), "http KB: no Secure flag");
    let session = cookie.split(';').next().unwrap().to_owned();

    let resp = h2
        .get(format!("{}/docs/5-basic-things-to-get-started", server.base))
        .header(COOKIE, &session)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let page: Value = resp.json().await.unwrap();
    assert_eq!(
        page,
        json!({
            "reader": {
                "username": "john.doe",
                "email": "john.doe@example.com",
                "first_name": "John",
                "last_name": "Doe",
                "name": "John Doe",
                "groups": ["group1", "group2"],
                "claims": {}
            },
            "path": "/docs/5-basic-things-to-get-started"
        })
    );

    let again = h2.get(&authorize).send().await.unwrap();
    assert_eq!(again.status(), StatusCode::BAD_REQUEST);
    assert!(again.headers().get(SET_COOKIE).is_none());
    assert_eq!(again.json::<Value>().await.unwrap()["error"], "invalid_grant");
    server.stop().await;
}

// Several worker threads, so the server's handlers really run in parallel;
// every task connects first and all send together, released by a barrier.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_four_concurrent_redemptions_of_one_code_yield_one_session() {
    let server = common::server::start(any_port(), common::server::DEFAULT_LOGIN_URL, SystemClock)
        .await
        .unwrap();
    let client = browser();
    let code = code_for(&server, &client).await;
    let url = Arc::new(format!("{}/jwt/authorize?code={code}", server.base));
    let home = Arc::new(format!("{}/.well-known/jwks.json", server.base));
    let start = Arc::new(tokio::sync::Barrier::new(64));
    let tasks: Vec<_> = (0..64)
        .map(|_| {
            let (url, home, start) = (url.clone(), home.clone(), start.clone());
            // A fresh client per task: separate connections, real concurrency.
            tokio::spawn(async move {
                let client = browser();
                // Open the connection before the race.
                client.get(home.as_str()).send().await.unwrap();
                start.wait().await;
                client.get(url.as_str()).send().await.unwrap().status()
            })
        })
        .collect();
    let mut found = 0;
    let mut refused = 0;
    for t in tasks {
        match t.await.unwrap() {
            StatusCode::FOUND => found += 1,
            StatusCode::BAD_REQUEST => refused += 1,
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!((found, refused), (1, 63));
    server.stop().await;
}

#[tokio::test]
async fn the_back_channel_exchange_returns_an_oauth_token_response_once() {
    let server = common::server::start(any_port(), common::server::DEFAULT_LOGIN_URL, SystemClock)
        .await
        .unwrap();
    let client = browser();
    let code = code_for(&server, &client).await;
    let token_url = format!("{}/api/jwt/token", server.base);
    let form = format!("grant_type=authorization_code&code={code}");
    let resp = client
        .post(&token_url)
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(form.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["cache-control"], "no-store");
    assert_eq!(resp.headers()["pragma"], "no-cache");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    assert!(body["id_token"].as_str().unwrap().split('.').count() == 3);
    let again = client.post(&token_url).body(form).send().await.unwrap();
    assert_eq!(again.status(), StatusCode::BAD_REQUEST);
    assert_eq!(again.json::<Value>().await.unwrap()["error"], "invalid_grant");
    for (body, error) in [
        ("code=abc", "invalid_request"),
        ("grant_type=password&code=abc", "unsupported_grant_type"),
        ("grant_type=authorization_code", "invalid_request"),
        ("grant_type=authorization_code&code=a&code=b", "invalid_request"),
        ("grant_type=authorization_code&code=nope", "invalid_grant"),
    ] {
        let resp = client.post(&token_url).body(body).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(resp.json::<Value>().await.unwrap()["error"], error, "{body}");
    }
    server.stop().await;
}

#[tokio::test]
async fn a_protected_page_without_a_session_redirects_to_the_login_url_with_redirect_path() {
    let server = common::server::start(any_port(), "https://app.example.com/login?tenant=7", SystemClock)
        .await
        .unwrap();
    let resp = browser()
        .get(format!("{}/docs/a b?x=1", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FOUND);
    let location = resp.headers()[LOCATION].to_str().unwrap();
    let (kept, rest) = location.split_once("&codeChallenge=").unwrap();
    assert_eq!(
        kept,
        "https://app.example.com/login?tenant=7&redirectPath=%2Fdocs%2Fa%2520b%3Fx%3D1"
    );
    let (challenge, handshake) = rest.split_once('&').unwrap();
    assert_eq!(challenge.len(), 43, "the login binding challenge rides along");
    // The demo configuration also takes handshake tokens: HelpSite's
    // context for a token-less reader.
    let from = format!("{}/docs/a%20b?x=1", server.base);
    let want = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("jwt_error", "missing")
        .append_pair("from_url", &from)
        .append_pair("expected_aud", &server.project.handshake_audience)
        .finish();
    assert_eq!(handshake, want);
    let verifier = resp.headers()[SET_COOKIE].to_str().unwrap();
    assert!(verifier.starts_with("kb_login_verifier="), "{verifier}");
    assert!(verifier.contains("Path=/;") && verifier.contains("HttpOnly"));
    server.stop().await;
}

#[tokio::test]
async fn sessions_expire_with_the_token_and_the_next_page_goes_to_login_again() {
    let clock = Arc::new(SettableClock::default());
    let server = common::server::start(any_port(), common::server::DEFAULT_LOGIN_URL, clock.clone())
        .await
        .unwrap();
    let client = browser();
    let resp = authorize(&server, &client).await;
    assert_eq!(resp.headers()[LOCATION], format!("{}/", server.base));
    let session = session_of(&resp);
    let page = format!("{}/docs", server.base);
    let ok = client.get(&page).header(COOKIE, &session).send().await.unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    clock.advance(Duration::minutes(15));
    let expired = client.get(&page).header(COOKIE, &session).send().await.unwrap();
    assert_eq!(expired.status(), StatusCode::FOUND);
    assert!(
        expired.headers()[LOCATION]
            .to_str()
            .unwrap()
            .starts_with(common::server::DEFAULT_LOGIN_URL)
    );
    let cleared = expired
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .any(|c| c.to_str().unwrap().starts_with("kb_session=;") && c.to_str().unwrap().contains("Max-Age=0"));
    assert!(cleared, "the stale session cookie is cleared");
    server.stop().await;
}

#[tokio::test]
async fn codes_expire_after_five_minutes() {
    let clock = Arc::new(SettableClock::default());
    let server = common::server::start(any_port(), common::server::DEFAULT_LOGIN_URL, clock.clone())
        .await
        .unwrap();
    let client = browser();
    let code = code_for(&server, &client).await;
    clock.advance(Duration::minutes(5));
    let resp = client
        .get(format!("{}/jwt/authorize?code={code}", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "invalid_grant");
    assert_eq!(body["error_description"], "the code has expired");
    server.stop().await;
}

#[tokio::test]
async fn logout_clears_the_session() {
    let server = common::server::start(any_port(), common::server::DEFAULT_LOGIN_URL, SystemClock)
        .await
        .unwrap();
    let client = browser();
    let resp = authorize(&server, &client).await;
    let session = session_of(&resp);
    let out = client
        .get(format!("{}/jwt/logout", server.base))
        .header(COOKIE, &session)
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), StatusCode::FOUND);
    assert_eq!(out.headers()[LOCATION], format!("{}/jwt/signed-out", server.base));
    assert!(out.headers()[SET_COOKIE].to_str().unwrap().starts_with("kb_session=;"));
    server.stop().await;
}
