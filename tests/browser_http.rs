//! What a real browser sends, at the HTTP level: Fetch Metadata, `Accept`
//! with q-values, several sign-in attempts at once, the domain form under
//! the login page's `form-action 'self'`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;
use support::route::{Handle as _, Outcome};

#[path = "../examples/common/mod.rs"]
mod common;

use http::{Request, Response, StatusCode, header};
use kb_sso::project_file::ProjectFile;
use kb_sso::{ClientId, ClientSecret, SystemClock};
use url::Url;

const KB: &str = "https://kb.example.com";
const APP_LOGIN: &str = "https://app.example.com/login";
const CHROME_ACCEPT: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8";

/// A KB with one customer app, the login page shown (Direct JWT login
/// off) with its domain field.
fn service() -> common::server::Service<SystemClock> {
    let file = serde_json::json!({
        "settings": {"direct_jwt_login": false, "disable_default_login_page": true},
        "jwt": [{
            "name": "App", "client_id": ClientId::generate().to_string(), "login_url": APP_LOGIN,
            "primary_secret": ClientSecret::generate().expose(),
            "secondary_secret": ClientSecret::generate().expose(),
            "show_login_button": true, "login_button_text": "Sign in with App",
        }],
    });
    let project = ProjectFile::parse(&file.to_string()).unwrap().into_project().unwrap();
    common::server::project_service(
        &Url::parse(KB).unwrap(),
        project,
        SystemClock,
        common::server::Options::default(),
    )
    .unwrap()
}

fn send(service: &common::server::Service<SystemClock>, req: Request<Vec<u8>>) -> Response<Vec<u8>> {
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    match rt.block_on(service.handle(req)) {
        Outcome::Response(r) => r,
        Outcome::Page(_) => panic!("the page itself, not an answer"),
    }
}

fn set_cookies(resp: &Response<Vec<u8>>) -> Vec<String> {
    resp.headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

fn verifier_cookie(resp: &Response<Vec<u8>>) -> Option<String> {
    set_cookies(resp)
        .into_iter()
        .find(|c| c.starts_with("__Host-kb_login_verifier="))
        .map(|c| c.split(';').next().unwrap().to_owned())
}

fn navigation(path: &str) -> http::request::Builder {
    Request::get(path)
        .header(header::ACCEPT, CHROME_ACCEPT)
        .header("sec-fetch-mode", "navigate")
        .header("sec-fetch-dest", "document")
}

/// A browser's favicon, image or script fetch of a private page starts no
/// sign-in attempt: no login binding, no page to return to.
#[test]
fn only_a_top_level_navigation_starts_a_sign_in_attempt() {
    let s = service();
    let page = send(&s, navigation("/login").body(Vec::new()).unwrap());
    assert_eq!(page.status(), StatusCode::OK);
    assert!(verifier_cookie(&page).is_some());
    for (path, dest, mode) in [
        ("/favicon.ico", "image", "no-cors"),
        ("/login", "image", "no-cors"),
        ("/login", "script", "no-cors"),
        ("/login", "iframe", "navigate"),
    ] {
        let req = Request::get(path)
            .header(header::ACCEPT, "image/avif,image/webp,*/*;q=0.8")
            .header("sec-fetch-dest", dest)
            .header("sec-fetch-mode", mode)
            .body(Vec::new())
            .unwrap();
        let resp = send(&s, req);
        assert!(
            set_cookies(&resp)
                .iter()
                .all(|c| !c.contains("login_verifier") && !c.contains("kb_return")),
            "{path}: {:?}",
            set_cookies(&resp)
        );
    }
}

/// Each navigation adds its attempt's verifier beside those still open,
/// the newest four kept; a code bound to any of them is redeemed.
#[test]
fn several_sign_in_attempts_coexist() {
    let s = service();
    let mut jar: Option<String> = None;
    let mut seen = Vec::new();
    for _ in 0..6 {
        let mut req = navigation("/login");
        if let Some(c) = &jar {
            req = req.header(header::COOKIE, c.as_str());
        }
        let resp = send(&s, req.body(Vec::new()).unwrap());
        let cookie = verifier_cookie(&resp).unwrap();
        let value = cookie.split_once('=').unwrap().1.to_owned();
        seen.push(value.split('.').next().unwrap().to_owned());
        jar = Some(cookie);
    }
    let value = jar.unwrap();
    let held: Vec<&str> = value.split_once('=').unwrap().1.split('.').collect();
    assert_eq!(held.len(), 4, "bounded");
    let newest: Vec<&str> = seen.iter().rev().take(4).map(String::as_str).collect();
    assert_eq!(held, newest, "the newest four, newest first");
}

/// RFC 9110 q-values decide between HTML and JSON, for pages and errors.
#[test]
fn accept_q_values_choose_html_or_json() {
    let s = service();
    for (accept, html) in [
        ("text/html,application/json;q=0.9", true),
        ("application/json,text/html;q=0.9", false),
        (CHROME_ACCEPT, true),
        ("application/json", false),
        ("text/*;q=0.5,application/json;q=0.4", true),
        ("text/html;q=0,*/*", false),
    ] {
        let req = Request::get("/jwt/authorize?code=junk")
            .header(header::ACCEPT, accept)
            .body(Vec::new())
            .unwrap();
        let resp = send(&s, req);
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{accept}");
        let ty = resp.headers()[header::CONTENT_TYPE].to_str().unwrap();
        assert_eq!(ty.starts_with("text/html"), html, "{accept}: {ty}");
        if html {
            let body = String::from_utf8(resp.body().clone()).unwrap();
            assert!(body.contains("href=\"/login\">Back to sign in</a>"), "{body}");
        }
    }
    // No Accept at all: JSON, as before, for API clients.
    let resp = send(&s, Request::get("/jwt/authorize?code=junk").body(Vec::new()).unwrap());
    assert!(
        resp.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
}

fn domain_post(domain: &str, browser: bool) -> Request<Vec<u8>> {
    let mut req = Request::post("/login/domain").header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    if browser {
        req = req
            .header(header::ACCEPT, CHROME_ACCEPT)
            .header("sec-fetch-mode", "navigate")
            .header("sec-fetch-dest", "document");
    }
    req.body(format!("domain={domain}&redirectPath=%2Fdocs%2Fa").into_bytes())
        .unwrap()
}

/// A browser's domain form gets a page of the KB that moves on to the
/// matched login URL (a cross-origin redirect would break `form-action
/// 'self'`); other clients keep the 302.
#[test]
fn the_domain_form_answers_a_browser_with_a_continue_page() {
    let s = service();
    let resp = send(&s, domain_post("me%40app.example.com", true));
    assert_eq!(resp.status(), StatusCode::OK);
    let body = String::from_utf8(resp.body().clone()).unwrap();
    assert!(
        body.contains("<meta http-equiv=\"refresh\" content=\"0; url=https://app.example.com/login?"),
        "{body}"
    );
    assert!(body.contains("Continue to https://app.example.com"), "{body}");
    assert!(verifier_cookie(&resp).is_some());
    let resp = send(&s, domain_post("app.example.com", false));
    assert_eq!(resp.status(), StatusCode::FOUND);
    assert!(
        resp.headers()[header::LOCATION]
            .to_str()
            .unwrap()
            .starts_with(APP_LOGIN)
    );
}

/// An unmatched domain keeps what was typed and says why.
#[test]
fn an_unmatched_domain_is_kept_with_a_message() {
    let s = service();
    let resp = send(&s, domain_post("nobody.example", true));
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = String::from_utf8(resp.body().clone()).unwrap();
    assert!(body.contains("value=\"nobody.example\""), "{body}");
    assert!(
        body.contains("role=\"alert\"") && body.contains("nobody.example\u{201d}"),
        "{body}"
    );
    assert!(body.contains("aria-invalid=\"true\""), "{body}");
}
