//! Admin operations take effect on the code flow at once: a regenerated
//! secret stops working for the next request while the other keeps
//! working, and a disabled configuration issues nothing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;
use support::route::{Handle as _, Outcome};

#[path = "../examples/common/mod.rs"]
mod common;

use http::{Request, StatusCode, header};
use kb_sso::{Administrator, ClientCredentials, ClientId, ClientSecret, Clock, SystemClock};
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
        .block_on(support::edit_project(service.identity().configs(), |p| {
            p.regenerate_primary_secret(&admin, SystemClock.now(), &id)
                .map(|c| c.value)
        }))
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

    rt.block_on(support::edit_project(service.identity().configs(), |p| {
        p.set_enabled(&admin, SystemClock.now(), &id, false).map(|_| ())
    }))
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

#[test]
fn the_host_can_require_client_credentials_on_the_back_channel() {
    use kb_sso::server::ClientAuthentication;
    let (service, project) = common::server::demo_service(
        &Url::parse("https://kb.example.com").unwrap(),
        "https://app.example.com/login",
        SystemClock,
    )
    .unwrap();
    let service = service.client_authentication(ClientAuthentication::Required);
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let send = |req: Request<Vec<u8>>| match rt.block_on(service.handle(req)) {
        Outcome::Response(r) => r,
        Outcome::Page(_) => panic!("page"),
    };
    let basic = ClientCredentials::new(
        project.client_id.as_str(),
        ClientSecret::new(project.primary_secret.as_str()),
    )
    .to_basic_header();
    let code = |send: &dyn Fn(Request<Vec<u8>>) -> http::Response<Vec<u8>>| {
        let resp = send(
            Request::post("/api/jwt/generate-code")
                .header(header::AUTHORIZATION, basic.as_str())
                .body(br#"{"username":"u","firstName":"","lastName":"","emailId":"u@x"}"#.to_vec())
                .unwrap(),
        );
        let v: serde_json::Value = serde_json::from_slice(resp.body()).unwrap();
        v["code"].as_str().unwrap().to_owned()
    };
    let token = |body: String, auth: Option<&str>| {
        let mut req = Request::post("/api/jwt/token");
        if let Some(a) = auth {
            req = req.header(header::AUTHORIZATION, a);
        }
        req.body(body.into_bytes()).unwrap()
    };
    let c = code(&send);
    let resp = send(token(format!("grant_type=authorization_code&code={c}"), None));
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert!(resp.headers().contains_key(header::WWW_AUTHENTICATE));
    let c = code(&send);
    let resp = send(token(
        format!("grant_type=authorization_code&code={c}"),
        Some(basic.as_str()),
    ));
    assert_eq!(resp.status(), StatusCode::OK);
    let c = code(&send);
    let form = format!(
        "grant_type=authorization_code&code={c}&client_id={}&client_secret=wrong",
        project.client_id
    );
    assert_eq!(send(token(form, None)).status(), StatusCode::UNAUTHORIZED);
}
