//! Attacks the spec does not talk about: brute force on client secrets and
//! on codes, and telling an unknown client from a wrong secret.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../examples/common/mod.rs"]
mod common;

use std::net::IpAddr;

use http::{Request, Response, StatusCode, header};
use kb_sso::http::{Outcome, RemoteAddr};
use kb_sso::{ClientCredentials, ClientSecret, SystemClock};
use url::Url;

struct Fixture {
    service: common::server::Service<SystemClock>,
    project: common::server::DemoProject,
    rt: tokio::runtime::Runtime,
}

impl Fixture {
    fn new() -> Self {
        let (service, project) = common::server::demo_service(
            &Url::parse("https://kb.example.com").unwrap(),
            "https://app.example.com/login",
            SystemClock,
        )
        .unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        Self {
            service,
            project,
            rt,
        }
    }

    fn send(&self, mut req: Request<Vec<u8>>, from: &str) -> Response<Vec<u8>> {
        req.extensions_mut()
            .insert(RemoteAddr(from.parse::<IpAddr>().unwrap()));
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
        let resp = f.generate(
            &f.project.client_id,
            &f.project.primary_secret,
            "203.0.113.8",
        );
        assert_eq!(resp.status(), StatusCode::OK);
    }
}

#[test]
fn guessing_codes_is_limited_per_address() {
    let f = Fixture::new();
    let mut limited_at = None;
    for i in 0..130 {
        let req = Request::get(format!("/jwt/authorize?code={}", "A".repeat(43)))
            .body(Vec::new())
            .unwrap();
        let resp = f.send(req, "203.0.113.9");
        if resp.status() == StatusCode::TOO_MANY_REQUESTS {
            limited_at.get_or_insert(i);
        }
    }
    assert_eq!(limited_at, Some(120));
    let req = Request::get(format!("/jwt/authorize?code={}", "A".repeat(43)))
        .body(Vec::new())
        .unwrap();
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
    let unknown = f.generate(
        "6f1c2a4e-8d3b-4e5f-9a7b-1c2d3e4f5a6b",
        "wrong",
        "203.0.113.11",
    );
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
