//! Admin operations take effect on the code flow at once: a regenerated
//! secret stops working for the next request while the other keeps
//! working, and a disabled configuration issues nothing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../examples/common/mod.rs"]
mod common;

use http::{Request, StatusCode, header};
use kb_sso::http::Outcome;
use kb_sso::{Administrator, ClientCredentials, ClientId, ClientSecret, Clock, ConfigStore, SystemClock};
use url::Url;

fn generate(service: &common::server::Service<SystemClock>, client_id: &str, secret: &str) -> StatusCode {
    let basic = ClientCredentials::new(client_id, ClientSecret::new(secret)).to_basic_header();
    let req = Request::post("/api/jwt/generate-code")
        .header(header::AUTHORIZATION, basic.as_str())
        .body(br#"{"username":"u","firstName":"","lastName":"","emailId":"u@x"}"#.to_vec())
        .unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    match rt.block_on(service.handle(req)) {
        Outcome::Response(r) => r.status(),
        Outcome::Page(_) => panic!("page"),
    }
}

#[test]
fn regenerating_a_secret_invalidates_it_alone_at_once() {
    let (service, project) = common::server::demo_service(
        &Url::parse("https://kb.example.com").unwrap(),
        "https://app.example.com/login",
        SystemClock,
    )
    .unwrap();
    let id = ClientId::parse(&project.client_id).unwrap();
    assert_eq!(
        generate(&service, &project.client_id, &project.primary_secret),
        StatusCode::OK
    );
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let admin = Administrator("alice".into());
    let new_primary = rt
        .block_on(service.identity().configs().modify(|p| {
            p.regenerate_primary_secret(&admin, SystemClock.now(), &id)
                .map(|c| c.value)
        }))
        .unwrap()
        .unwrap();
    assert_eq!(
        generate(&service, &project.client_id, &project.primary_secret),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        generate(&service, &project.client_id, &project.secondary_secret),
        StatusCode::OK
    );
    assert_eq!(
        generate(&service, &project.client_id, new_primary.expose()),
        StatusCode::OK
    );

    rt.block_on(
        service
            .identity()
            .configs()
            .modify(|p| p.set_enabled(&admin, SystemClock.now(), &id, false).map(|_| ())),
    )
    .unwrap()
    .unwrap();
    assert_eq!(
        generate(&service, &project.client_id, new_primary.expose()),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        generate(&service, &project.client_id, "wrong-secret"),
        StatusCode::UNAUTHORIZED,
        "403 only for correct credentials"
    );
}
