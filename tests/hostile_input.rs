//! No input gets a 5xx, a panic, or a redirect off the KB: malformed Basic
//! headers, wrong secrets, broken or huge JSON, odd `tokenValidity` values
//! and hostile `redirectUrl`s, through `SsoService::serve` and `guard` as a host routes them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;
use support::route::{Handle as _, Outcome};

#[path = "../examples/common/mod.rs"]
mod common;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::{Request, Response, StatusCode, header};
use kb_sso::server::MAX_BODY_BYTES;
use kb_sso::{ClientCredentials, ClientSecret, SystemClock};
use proptest::prelude::*;
use serde_json::Value;
use url::Url;

const KB: &str = "https://kb.example.com/";
const LOGIN: &str = "https://app.example.com/login";

struct Fixture {
    service: common::server::Service<SystemClock>,
    project: common::server::DemoProject,
    rt: tokio::runtime::Runtime,
}

impl Fixture {
    fn new() -> Self {
        let (service, project) = common::server::demo_service(&Url::parse(KB).unwrap(), LOGIN, SystemClock).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        Self { service, project, rt }
    }

    fn basic(&self) -> String {
        ClientCredentials::new(
            self.project.client_id.clone(),
            ClientSecret::new(self.project.primary_secret.clone()),
        )
        .to_basic_header()
        .to_string()
    }

    fn send(&self, req: Request<Vec<u8>>) -> Response<Vec<u8>> {
        match self.rt.block_on(self.service.handle(req)) {
            Outcome::Response(r) => r,
            Outcome::Page(p) => panic!("unexpected page {p:?}"),
        }
    }

    fn generate(&self, auth: Option<&str>, body: Vec<u8>) -> Response<Vec<u8>> {
        let mut req = Request::post("/api/jwt/generate-code").header(header::CONTENT_TYPE, "application/json");
        if let Some(a) = auth {
            req = req.header(header::AUTHORIZATION, a);
        }
        self.send(req.body(body).unwrap())
    }

    fn code(&self) -> String {
        let resp = self.generate(
            Some(&self.basic()),
            br#"{"username":"u","firstName":"F","lastName":"L","emailId":"u@example.com"}"#.to_vec(),
        );
        assert_eq!(resp.status(), StatusCode::OK);
        json(&resp)["code"].as_str().unwrap().to_owned()
    }
}

fn json(resp: &Response<Vec<u8>>) -> Value {
    serde_json::from_slice(resp.body()).unwrap_or_else(|_| panic!("not JSON: {:?}", resp.body()))
}

/// The invariants every answer keeps.
fn check(resp: &Response<Vec<u8>>) {
    let status = resp.status();
    assert!(!status.is_server_error(), "5xx: {status}");
    if status.is_client_error() {
        let body = json(resp);
        assert!(
            body["error"].is_string() && body["error_description"].is_string(),
            "{body}"
        );
    }
    if status.is_redirection() {
        let location = Url::parse(resp.headers()[header::LOCATION].to_str().unwrap()).unwrap();
        let origin = location.origin();
        assert!(
            origin == Url::parse(KB).unwrap().origin() || origin == Url::parse(LOGIN).unwrap().origin(),
            "redirect off the KB: {location}"
        );
    }
}

#[test]
fn malformed_basic_headers_get_401_with_www_authenticate() {
    let f = Fixture::new();
    let body = br#"{"username":"u","firstName":"","lastName":"","emailId":"u@x"}"#.to_vec();
    let wrong_secret = format!("Basic {}", STANDARD.encode(format!("{}:wrong", f.project.client_id)));
    let unknown_id = format!(
        "Basic {}",
        STANDARD.encode(format!(
            "00000000-0000-4000-8000-000000000000:{}",
            f.project.primary_secret
        ))
    );
    let empty_secret = format!("Basic {}", STANDARD.encode(format!("{}:", f.project.client_id)));
    let cases = [
        None,
        Some("Basic"),
        Some("Basic !!!!"),
        Some("Bearer abc"),
        Some("Basic Og=="),
        Some(wrong_secret.as_str()),
        Some(unknown_id.as_str()),
        Some(empty_secret.as_str()),
    ];
    for auth in cases {
        let resp = f.generate(auth, body.clone());
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "{auth:?}");
        assert!(
            resp.headers()[header::WWW_AUTHENTICATE]
                .to_str()
                .unwrap()
                .starts_with("Basic")
        );
        assert_eq!(json(&resp)["error"], "invalid_client");
        check(&resp);
    }
}

#[test]
fn the_secondary_secret_works_too() {
    let f = Fixture::new();
    let secondary = ClientCredentials::new(
        f.project.client_id.clone(),
        ClientSecret::new(f.project.secondary_secret.clone()),
    )
    .to_basic_header();
    let resp = f.generate(
        Some(&secondary),
        br#"{"username":"u","firstName":"","lastName":"","emailId":"u@x"}"#.to_vec(),
    );
    assert_eq!(resp.status(), StatusCode::OK);
}

#[test]
fn broken_or_huge_bodies_get_4xx_naming_the_problem() {
    let f = Fixture::new();
    let auth = f.basic();
    for body in [
        &b""[..],
        b"{",
        b"[]",
        b"\xff\xfe",
        br#"{"username":"u","username":"v","firstName":"","lastName":"","emailId":"u@x"}"#,
        br#"{"username":"u","firstName":"","lastName":"","emailId":"u@x","tokenValidity":"15"}"#,
        br#"{"username":"u","firstName":"","lastName":"","emailId":"u@x","admin":true}"#,
    ] {
        let resp = f.generate(Some(&auth), body.to_vec());
        assert_eq!(
            resp.status(),
            StatusCode::BAD_REQUEST,
            "{:?}",
            String::from_utf8_lossy(body)
        );
        assert_eq!(json(&resp)["error"], "invalid_request");
        check(&resp);
    }
    let huge = vec![b' '; MAX_BODY_BYTES + 1];
    let resp = f.generate(Some(&auth), huge);
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    check(&resp);
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let resp = f.generate(Some(&auth), deep.into_bytes());
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
}

#[test]
fn wrong_methods_and_media_types_are_4xx() {
    let f = Fixture::new();
    let resp = f.send(Request::get("/api/jwt/generate-code").body(Vec::new()).unwrap());
    assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(resp.headers()[header::ALLOW], "POST");
    let resp = f.send(Request::post("/docs").body(Vec::new()).unwrap());
    assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
    let resp = f.send(
        Request::post("/api/jwt/generate-code")
            .header(header::CONTENT_TYPE, "text/plain")
            .header(header::AUTHORIZATION, f.basic())
            .body(b"{}".to_vec())
            .unwrap(),
    );
    assert_eq!(resp.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    check(&resp);
}

#[test]
fn the_legacy_alias_serves_code_generation() {
    let f = Fixture::new();
    let resp = f.send(
        Request::post("/jwt/generateCode")
            .header(header::AUTHORIZATION, f.basic())
            .body(br#"{"username":"u","firstName":"","lastName":"","emailId":"u@x"}"#.to_vec())
            .unwrap(),
    );
    assert_eq!(resp.status(), StatusCode::OK);
}

#[test]
fn the_jwks_has_the_signing_key_and_no_secret() {
    let f = Fixture::new();
    let resp = f.send(Request::get("/.well-known/jwks.json").body(Vec::new()).unwrap());
    assert_eq!(resp.status(), StatusCode::OK);
    let keys = json(&resp);
    let key = &keys["keys"][0];
    assert_eq!(
        (key["kty"].as_str(), key["crv"].as_str(), key["alg"].as_str()),
        (Some("OKP"), Some("Ed25519"), Some("EdDSA"))
    );
    assert!(key.get("d").is_none(), "no private part");
}

fn hostile_redirects() -> impl Strategy<Value = String> {
    let pieces = prop::sample::select(vec![
        "/",
        "\\",
        "//",
        "/\\",
        "%2f",
        "%2F",
        "%5c",
        "..",
        "@",
        ":",
        "evil.com",
        "%0d%0a",
        "\t",
        "\u{3002}",
        "https:",
        "javascript:",
        "docs",
        "?",
        "#",
        "%",
        "%00",
        " ",
        "%E3%80%82",
        "\r\n",
        "\u{2028}",
    ]);
    prop_oneof![
        any::<String>(),
        prop::collection::vec(pieces, 0..8).prop_map(|v| v.concat()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn hostile_redirect_urls_never_leave_the_kb(target in hostile_redirects()) {
        let f = Fixture::new();
        let code = f.code();
        let mut url = Url::parse("https://kb.example.com/jwt/authorize").unwrap();
        url.query_pairs_mut().append_pair("code", &code).append_pair("redirectUrl", &target);
        let resp = f.send(Request::get(&url[url::Position::BeforePath..]).body(Vec::new()).unwrap());
        prop_assert_eq!(resp.status(), StatusCode::FOUND);
        check(&resp);
        let location = Url::parse(resp.headers()[header::LOCATION].to_str().unwrap()).unwrap();
        prop_assert_eq!(location.host_str(), Some("kb.example.com"));
    }

    #[test]
    fn arbitrary_bodies_and_headers_never_get_a_5xx(
        body in prop::collection::vec(any::<u8>(), 0..512),
        auth in prop_oneof![any::<String>(), "[A-Za-z0-9+/=]{0,80}".prop_map(|s| format!("Basic {s}"))],
        validity in prop_oneof![
            any::<f64>().prop_map(|v| if v.is_finite() { v.to_string() } else { "1e999".into() }),
            any::<i64>().prop_map(|v| v.to_string()),
            Just("\"15\"".to_owned()), Just("null".to_owned()), Just("[]".to_owned()), Just("-0".to_owned()),
            Just("1e400".to_owned()), Just("-1e400".to_owned()), Just("0.0000001".to_owned()),
        ],
    ) {
        let f = Fixture::new();
        let valid_auth = f.basic();
        if let Ok(value) = http::HeaderValue::from_str(&auth) {
            let req = Request::post("/api/jwt/generate-code")
                .header(header::AUTHORIZATION, value)
                .body(body.clone())
                .unwrap();
            check(&f.send(req));
        }
        check(&f.generate(Some(&valid_auth), body));
        let json_body = format!(
            r#"{{"username":"u","firstName":"","lastName":"","emailId":"u@x","tokenValidity":{validity}}}"#
        );
        let resp = f.generate(Some(&valid_auth), json_body.into_bytes());
        check(&resp);
        prop_assert!(resp.status() == StatusCode::OK || resp.status() == StatusCode::BAD_REQUEST);
    }
}
