//! Attacks the spec does not talk about: brute force on client secrets and
//! on codes, and telling an unknown client from a wrong secret.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;
use support::route::{Handle as _, Outcome};

#[path = "../examples/common/mod.rs"]
mod common;

use std::net::IpAddr;
use std::sync::Arc;

use http::{Request, Response, StatusCode, header};
use kb_sso::server::RemoteAddr;
use kb_sso::{ClientCredentials, ClientSecret, SettableClock};
use url::Url;

/// A service on a settable clock that never moves unless a test moves it,
/// so that rate limits count attempts, not how fast a loop runs.
struct Fixture {
    service: common::server::Service<Arc<SettableClock>>,
    clock: Arc<SettableClock>,
    project: common::server::DemoProject,
    rt: tokio::runtime::Runtime,
}

impl Fixture {
    fn new() -> Self {
        let clock = Arc::new(SettableClock::default());
        let (service, project) = common::server::demo_service(
            &Url::parse("https://kb.example.com").unwrap(),
            "https://app.example.com/login",
            clock.clone(),
        )
        .unwrap();
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        Self {
            service,
            clock,
            project,
            rt,
        }
    }

    fn send(&self, mut req: Request<Vec<u8>>, from: &str) -> Response<Vec<u8>> {
        req.extensions_mut().insert(RemoteAddr(from.parse::<IpAddr>().unwrap()));
        match self.rt.block_on(self.service.handle(req)) {
            Outcome::Response(r) => r,
            Outcome::Page(_) => panic!("page"),
        }
    }

    fn generate(&self, client_id: &str, secret: &str, from: &str) -> Response<Vec<u8>> {
        let basic = ClientCredentials::new(client_id, ClientSecret::new(secret)).to_basic_header();
        let req = Request::post("/api/jwt/generate-code")
            .header(header::AUTHORIZATION, basic.as_str())
            .body(br#"{"username":"u","firstName":"","lastName":"","emailId":"u@x"}"#.to_vec())
            .unwrap();
        self.send(req, from)
    }
}

#[test]
fn wrong_secrets_in_a_row_are_limited_and_the_right_secret_from_elsewhere_still_works() {
    let f = Fixture::new();
    let id = f.project.client_id.clone();
    let mut first_429 = None;
    for i in 0..200 {
        let resp = f.generate(&id, "wrong-secret", "203.0.113.7");
        if resp.status() == StatusCode::TOO_MANY_REQUESTS {
            assert!(
                resp.headers()[header::RETRY_AFTER]
                    .to_str()
                    .unwrap()
                    .parse::<u64>()
                    .unwrap()
                    >= 1
            );
            first_429.get_or_insert(i);
        } else {
            assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
        }
    }
    let first = first_429.expect("429 before the 200th attempt");
    assert!(first < 199, "first 429 at attempt {first}");
    assert_eq!(first, 20, "20 failures a minute are allowed");
    // Even the right secret is held back at the limited address...
    let resp = f.generate(&id, &f.project.primary_secret, "203.0.113.7");
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    // ...but works from another address.
    let resp = f.generate(&id, &f.project.primary_secret, "198.51.100.1");
    assert_eq!(resp.status(), StatusCode::OK);
}

#[test]
fn honest_traffic_is_never_limited() {
    let f = Fixture::new();
    for _ in 0..300 {
        let resp = f.generate(&f.project.client_id, &f.project.primary_secret, "203.0.113.8");
        assert_eq!(resp.status(), StatusCode::OK);
    }
}

fn back_channel_redemption(code: &str) -> Request<Vec<u8>> {
    Request::post("/api/jwt/token")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(format!("grant_type=authorization_code&code={code}").into_bytes())
        .unwrap()
}

#[test]
fn guessing_codes_on_the_back_channel_is_limited_per_address() {
    let f = Fixture::new();
    let mut limited_at = None;
    for i in 0..130 {
        let resp = f.send(back_channel_redemption(&"A".repeat(43)), "203.0.113.9");
        if resp.status() == StatusCode::TOO_MANY_REQUESTS {
            limited_at.get_or_insert(i);
        }
    }
    assert_eq!(limited_at, Some(120));
    let req = back_channel_redemption(&"A".repeat(43));
    assert_eq!(
        f.send(req, "198.51.100.2").status(),
        StatusCode::BAD_REQUEST,
        "other addresses unaffected"
    );
}

#[test]
fn an_unknown_client_and_a_wrong_secret_get_the_same_answer() {
    let f = Fixture::new();
    let wrong = f.generate(&f.project.client_id, "wrong", "203.0.113.10");
    let unknown = f.generate("6f1c2a4e-8d3b-4e5f-9a7b-1c2d3e4f5a6b", "wrong", "203.0.113.11");
    let garbage = f.generate("not-a-uuid", "wrong", "203.0.113.12");
    for other in [&unknown, &garbage] {
        assert_eq!(wrong.status(), other.status());
        assert_eq!(wrong.body(), other.body());
        assert_eq!(
            wrong.headers().get(header::WWW_AUTHENTICATE),
            other.headers().get(header::WWW_AUTHENTICATE)
        );
    }
}

/// The verifier cookie value and the challenge from a redirect to sign in.
fn binding_of(resp: &Response<Vec<u8>>) -> (String, String) {
    let location = Url::parse(resp.headers()[header::LOCATION].to_str().unwrap()).unwrap();
    let challenge = location
        .query_pairs()
        .find(|(k, _)| k == "codeChallenge")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    let cookie = resp
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap())
        .find(|c| c.starts_with("__Host-kb_login_verifier="))
        .unwrap();
    (cookie.split(';').next().unwrap().to_owned(), challenge)
}

impl Fixture {
    fn get(&self, path: &str, cookie: Option<&str>) -> Response<Vec<u8>> {
        let mut req = Request::get(path);
        if let Some(c) = cookie {
            req = req.header(header::COOKIE, c);
        }
        self.send(req.body(Vec::new()).unwrap(), "192.0.2.1")
    }

    fn code_with(&self, challenge: Option<&str>) -> Response<Vec<u8>> {
        let basic = ClientCredentials::new(
            self.project.client_id.clone(),
            ClientSecret::new(self.project.primary_secret.clone()),
        )
        .to_basic_header();
        let body = match challenge {
            Some(c) => {
                format!(r#"{{"username":"u","firstName":"","lastName":"","emailId":"u@x","codeChallenge":"{c}"}}"#)
            }
            None => r#"{"username":"u","firstName":"","lastName":"","emailId":"u@x"}"#.to_owned(),
        };
        let req = Request::post("/api/jwt/generate-code")
            .header(header::AUTHORIZATION, basic.as_str())
            .body(body.into_bytes())
            .unwrap();
        self.send(req, "192.0.2.1")
    }

    fn bound_code(&self, challenge: &str) -> String {
        let resp = self.code_with(Some(challenge));
        assert_eq!(resp.status(), StatusCode::OK);
        let v: serde_json::Value = serde_json::from_slice(resp.body()).unwrap();
        v["code"].as_str().unwrap().to_owned()
    }
}

fn session_cookie(resp: &Response<Vec<u8>>) -> Option<String> {
    resp.headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap())
        .find(|c| c.starts_with("__Host-kb_session=") && !c.starts_with("__Host-kb_session=;"))
        .map(|c| c.split(';').next().unwrap().to_owned())
}

#[test]
fn a_bound_code_opens_a_session_only_in_the_browser_that_holds_the_verifier() {
    let f = Fixture::new();
    let to_login = f.get("/docs/private", None);
    assert_eq!(to_login.status(), StatusCode::FOUND);
    let (verifier, challenge) = binding_of(&to_login);

    // Without the verifier cookie the bound code fails, and is used up.
    let code = f.bound_code(&challenge);
    let resp = f.get(&format!("/jwt/authorize?code={code}"), None);
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(session_cookie(&resp).is_none());

    // With it, a fresh bound code works and the verifier cookie is cleared.
    let code = f.bound_code(&challenge);
    let resp = f.get(
        &format!("/jwt/authorize?code={code}&redirectUrl=/docs/private"),
        Some(&verifier),
    );
    assert_eq!(resp.status(), StatusCode::FOUND);
    assert!(session_cookie(&resp).is_some());
    assert!(
        resp.headers()
            .get_all(header::SET_COOKIE)
            .iter()
            .any(|c| c.to_str().unwrap().starts_with("__Host-kb_login_verifier=;"))
    );
}

#[test]
fn an_attackers_code_planted_in_a_victims_browser_opens_no_session() {
    let f = Fixture::new();
    // The attacker starts a login in their own browser and gets a code for
    // their own account, bound to their own verifier.
    let (attacker_verifier, attacker_challenge) = binding_of(&f.get("/docs", None));
    // The victim's browser holds its own verifier (or none at all). Each
    // round plants a fresh code, so a refusal is the binding's doing and
    // not an earlier round's use of the code.
    let (victim_verifier, _) = binding_of(&f.get("/docs", None));
    for cookie in [Some(victim_verifier.as_str()), None] {
        let planted = f.bound_code(&attacker_challenge);
        let resp = f.get(&format!("/jwt/authorize?code={planted}"), cookie);
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
        let body: serde_json::Value = serde_json::from_slice(resp.body()).unwrap();
        assert_eq!(body["error_description"], "the code is not valid", "{cookie:?}");
        assert!(session_cookie(&resp).is_none());
    }
    // The control: the same kind of code opens a session in the attacker's
    // own browser.
    let own = f.bound_code(&attacker_challenge);
    let resp = f.get(&format!("/jwt/authorize?code={own}"), Some(&attacker_verifier));
    assert_eq!(resp.status(), StatusCode::FOUND);
    assert!(session_cookie(&resp).is_some());
}

#[test]
fn a_configuration_can_require_login_binding() {
    let admin = kb_sso::Administrator("alice".into());
    let f = Fixture::new();
    let id = kb_sso::ClientId::parse(&f.project.client_id).unwrap();
    f.rt.block_on(support::edit_project(f.service.identity().configs(), |p| {
        let c = p.jwt_config(&id).unwrap().clone();
        p.update(
            &admin,
            kb_sso::Clock::now(&*f.clock),
            &id,
            c.to_builder().require_login_binding(true),
        )
        .map(|_| ())
    }))
    .unwrap();
    let resp = f.code_with(None);
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let body: serde_json::Value = serde_json::from_slice(resp.body()).unwrap();
    assert!(body["error_description"].as_str().unwrap().contains("codeChallenge"));
    let resp = f.code_with(Some("not-a-challenge"));
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
}

#[test]
fn redeeming_a_code_twice_leaves_no_valid_session_from_it() {
    let f = Fixture::new();
    let resp = f.code_with(None);
    let v: serde_json::Value = serde_json::from_slice(resp.body()).unwrap();
    let code = v["code"].as_str().unwrap().to_owned();
    let first = f.get(&format!("/jwt/authorize?code={code}"), None);
    let session = session_cookie(&first).unwrap();
    let page = |f: &Fixture| {
        let req = Request::get("/docs")
            .header(header::COOKIE, &session)
            .body(Vec::new())
            .unwrap();
        let mut req = req;
        req.extensions_mut().insert(RemoteAddr("192.0.2.1".parse().unwrap()));
        f.rt.block_on(f.service.handle(req))
    };
    assert!(matches!(page(&f), Outcome::Page(_)), "the first use opened a session");
    let second = f.get(&format!("/jwt/authorize?code={code}"), None);
    assert_eq!(second.status(), StatusCode::BAD_REQUEST);
    assert!(session_cookie(&second).is_none());
    match page(&f) {
        Outcome::Response(r) => assert_eq!(r.status(), StatusCode::FOUND, "revoked: back to sign-in"),
        Outcome::Page(_) => panic!("the session of a reused code must be revoked"),
    }
}
