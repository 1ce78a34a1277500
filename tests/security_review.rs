//! What an adversarial review of the HTTP layer found, pinned down: each
//! test names the attack and shows it no longer works.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;
use support::route::{Handle as _, Outcome};

#[path = "../examples/common/mod.rs"]
mod common;

use std::net::IpAddr;

use http::{Request, Response, StatusCode, header};
use kb_sso::client::{HandshakeClaimsBuilder, HandshakeSigner};
use kb_sso::project_file::ProjectFile;
use kb_sso::server::RemoteAddr;
use kb_sso::store::memory::MemoryReplayCache;
use kb_sso::{ClientCredentials, ClientId, ClientSecret, Clock, SystemClock};
use kb_sso::{HandshakeKey, HandshakeSettings, HandshakeVerifier};
use url::Url;

const KB: &str = "https://kb.example.com";
const APP_LOGIN: &str = "https://app.example.com/login";

/// The demo project's service on an https KB, driven in process.
struct Fixture {
    service: common::server::Service<SystemClock>,
    project: common::server::DemoProject,
    rt: tokio::runtime::Runtime,
}

impl Fixture {
    fn new() -> Self {
        let (service, project) =
            common::server::demo_service(&Url::parse(KB).unwrap(), APP_LOGIN, SystemClock).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        Self { service, project, rt }
    }

    fn outcome(&self, mut req: Request<Vec<u8>>, from: &str) -> Outcome {
        req.extensions_mut().insert(RemoteAddr(from.parse::<IpAddr>().unwrap()));
        self.rt.block_on(self.service.handle(req))
    }

    fn send(&self, req: Request<Vec<u8>>, from: &str) -> Response<Vec<u8>> {
        match self.outcome(req, from) {
            Outcome::Response(r) => r,
            Outcome::Page(p) => panic!("a page for {}", p.path),
        }
    }

    fn get(&self, path: &str, cookie: Option<&str>, from: &str) -> Response<Vec<u8>> {
        let mut req = Request::get(path);
        if let Some(c) = cookie {
            req = req.header(header::COOKIE, c);
        }
        self.send(req.body(Vec::new()).unwrap(), from)
    }

    fn code_request(&self, client_id: &str, secret: &str, body: &str) -> Request<Vec<u8>> {
        let basic = ClientCredentials::new(client_id, ClientSecret::new(secret)).to_basic_header();
        Request::post("/api/jwt/generate-code")
            .header(header::AUTHORIZATION, basic.as_str())
            .body(body.as_bytes().to_vec())
            .unwrap()
    }

    /// A fresh, unbound code for the demo configuration.
    fn code(&self) -> String {
        let body = r#"{"username":"u","firstName":"","lastName":"","emailId":"u@x"}"#;
        let req = self.code_request(&self.project.client_id, &self.project.primary_secret, body);
        let resp = self.send(req, "192.0.2.200");
        assert_eq!(resp.status(), StatusCode::OK);
        let v: serde_json::Value = serde_json::from_slice(resp.body()).unwrap();
        v["code"].as_str().unwrap().to_owned()
    }

    /// Whether `cookie` opens the private page `/docs`.
    fn signed_in(&self, cookie: &str) -> bool {
        let req = Request::get("/docs")
            .header(header::COOKIE, cookie)
            .body(Vec::new())
            .unwrap();
        matches!(self.outcome(req, "192.0.2.1"), Outcome::Page(_))
    }

    /// An HS256 handshake token for the demo configuration, as the
    /// customer app signs it.
    fn handshake_token(&self, claims: HandshakeClaimsBuilder) -> String {
        let secret = ClientSecret::new(self.project.primary_secret.clone());
        let signer = HandshakeSigner::hs256(self.project.client_id.clone(), &secret).unwrap();
        signer.sign(&claims, SystemClock.now()).unwrap()
    }
}

fn set_cookies(resp: &Response<Vec<u8>>) -> Vec<String> {
    resp.headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

/// The `name=value` of the session cookie `resp` sets, if any.
fn session_cookie(resp: &Response<Vec<u8>>) -> Option<String> {
    set_cookies(resp)
        .into_iter()
        .find(|c| c.starts_with("__Host-kb_session=") && !c.starts_with("__Host-kb_session=;"))
        .map(|c| c.split(';').next().unwrap().to_owned())
}

fn reader_claims() -> HandshakeClaimsBuilder {
    HandshakeClaimsBuilder::new()
        .subject("john.doe")
        .email("john.doe@example.com")
        .audience(KB)
}

// 1. Lockout by junk codes -------------------------------------------------

#[test]
fn junk_codes_from_a_hostile_page_never_stop_a_readers_valid_code() {
    let f = Fixture::new();
    let office = "203.0.113.50";
    // A page full of <img src=".../jwt/authorize?code=junkN">, in every
    // shape: too short, the right length, the right alphabet.
    for i in 0..300 {
        let junk = match i % 3 {
            0 => format!("junk{i}"),
            1 => format!("{:A>43}", i),
            _ => format!("{:_<43}", i),
        };
        let resp = f.get(&format!("/jwt/authorize?code={junk}"), None, office);
        assert_eq!(
            resp.status(),
            StatusCode::BAD_REQUEST,
            "junk {i} is refused, not limited"
        );
        assert!(resp.headers().get(header::RETRY_AFTER).is_none());
    }
    // A reader behind the same address, and one elsewhere, still sign in.
    for from in [office, "198.51.100.50"] {
        let code = f.code();
        let resp = f.get(&format!("/jwt/authorize?code={code}"), None, from);
        assert_eq!(resp.status(), StatusCode::FOUND, "from {from}");
        assert!(session_cookie(&resp).is_some());
    }
}

// 2. Login CSRF: the binding cookie on https ----------------------------

/// The login binding verifier and challenge the KB hands a browser that
/// asks for a private page.
fn binding(f: &Fixture) -> (Vec<String>, String) {
    let resp = f.get("/docs/private", None, "192.0.2.1");
    assert_eq!(resp.status(), StatusCode::FOUND);
    let location = Url::parse(resp.headers()[header::LOCATION].to_str().unwrap()).unwrap();
    let challenge = location
        .query_pairs()
        .find(|(k, _)| k == "codeChallenge")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    (set_cookies(&resp), challenge)
}

#[test]
fn on_https_the_binding_cookie_is_host_prefixed_and_an_unprefixed_one_is_ignored() {
    let f = Fixture::new();
    let (cookies, challenge) = binding(&f);
    let cookie = cookies
        .iter()
        .find(|c| c.contains("login_verifier="))
        .expect("a binding cookie");
    assert!(cookie.starts_with("__Host-kb_login_verifier="), "{cookie}");
    let attributes: Vec<&str> = cookie.split(';').map(str::trim).collect();
    for wanted in ["Path=/", "Secure", "HttpOnly", "SameSite=Lax"] {
        assert!(attributes.contains(&wanted), "{wanted} in {cookie}");
    }
    assert!(!cookie.to_ascii_lowercase().contains("domain="), "{cookie}");
    let verifier = cookie.split(';').next().unwrap().split_once('=').unwrap().1.to_owned();

    // A sibling subdomain can set `kb_login_verifier` (no prefix) for the
    // whole site: that cookie binds nothing on an https KB.
    let body =
        format!(r#"{{"username":"u","firstName":"","lastName":"","emailId":"u@x","codeChallenge":"{challenge}"}}"#);
    let bound = |f: &Fixture| {
        let req = f.code_request(&f.project.client_id, &f.project.primary_secret, &body);
        let resp = f.send(req, "192.0.2.1");
        let v: serde_json::Value = serde_json::from_slice(resp.body()).unwrap();
        v["code"].as_str().unwrap().to_owned()
    };
    let code = bound(&f);
    let planted = format!("kb_login_verifier={verifier}");
    let resp = f.get(&format!("/jwt/authorize?code={code}"), Some(&planted), "192.0.2.1");
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(session_cookie(&resp).is_none());
    // The prefixed cookie, which only the KB itself can set, does.
    let code = bound(&f);
    let genuine = format!("__Host-kb_login_verifier={verifier}");
    let resp = f.get(&format!("/jwt/authorize?code={code}"), Some(&genuine), "192.0.2.1");
    assert_eq!(resp.status(), StatusCode::FOUND);
    assert!(session_cookie(&resp).is_some());
}

#[test]
fn on_plain_http_the_binding_cookie_is_not_secure_and_reaches_the_login_page() {
    let (service, _) =
        common::server::demo_service(&Url::parse("http://127.0.0.1:9").unwrap(), APP_LOGIN, SystemClock).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let req = Request::get("/docs").body(Vec::new()).unwrap();
    let Outcome::Response(resp) = rt.block_on(service.handle(req)) else {
        panic!("a page without a session")
    };
    let cookie = set_cookies(&resp)
        .into_iter()
        .find(|c| c.contains("login_verifier="))
        .unwrap();
    assert!(cookie.starts_with("kb_login_verifier="), "{cookie}");
    assert!(
        // `Path=/`: the login page must read the attempts already open, so
        // that a second tab adds one instead of replacing the first.
        cookie.contains("Path=/;") && !cookie.contains("Secure"),
        "{cookie}"
    );
}

// 4. Logout revokes ---------------------------------------------------------

#[test]
fn a_copied_session_cookie_is_refused_after_logout() {
    let f = Fixture::new();
    let code = f.code();
    let session = session_cookie(&f.get(&format!("/jwt/authorize?code={code}"), None, "192.0.2.1")).unwrap();
    assert!(f.signed_in(&session));
    let out = f.get("/jwt/logout", Some(&session), "192.0.2.1");
    assert_eq!(out.status(), StatusCode::FOUND);
    let cleared = set_cookies(&out);
    assert!(
        cleared.iter().any(|c| c.starts_with("__Host-kb_session=;")),
        "{cleared:?}"
    );
    assert!(
        cleared
            .iter()
            .any(|c| c.starts_with("jwt=;") && c.contains("Max-Age=0")),
        "the handshake cookie is cleared too: {cleared:?}"
    );
    // Somebody kept a copy of the cookie: it no longer opens anything.
    assert!(!f.signed_in(&session), "the session is revoked on the server");
}

// 5. Handshake form posts ---------------------------------------------------

fn post_handshake(f: &Fixture, token: &str, headers: &[(&str, &str)]) -> Response<Vec<u8>> {
    let mut req =
        Request::post("/api/auth/jwt/callback").header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    f.send(
        req.body(format!("jwt={token}&redirect=%2Fdocs").into_bytes()).unwrap(),
        "192.0.2.1",
    )
}

#[test]
fn a_handshake_token_posted_from_another_site_opens_no_session() {
    let f = Fixture::new();
    let refused: [&[(&str, &str)]; 6] = [
        &[("origin", "https://evil.example")],
        // A sibling subdomain (another tenant, say) is same-site, not ours.
        &[
            ("sec-fetch-site", "same-site"),
            ("origin", "https://tenant.example.com"),
        ],
        &[("sec-fetch-site", "same-site")],
        &[("origin", "https://evil.example"), ("sec-fetch-site", "cross-site")],
        &[("sec-fetch-site", "cross-site")],
        &[("origin", "null")],
    ];
    for headers in refused {
        let resp = post_handshake(&f, &f.handshake_token(reader_claims()), headers);
        assert_eq!(resp.status(), StatusCode::FORBIDDEN, "{headers:?}");
        assert!(session_cookie(&resp).is_none(), "{headers:?}");
    }
    let allowed: [&[(&str, &str)]; 5] = [
        &[],
        &[("sec-fetch-site", "same-origin"), ("origin", KB)],
        &[("sec-fetch-site", "same-site"), ("origin", "https://app.example.com")],
        &[("origin", "https://app.example.com"), ("sec-fetch-site", "cross-site")],
        &[("origin", KB)],
    ];
    for headers in allowed {
        let resp = post_handshake(&f, &f.handshake_token(reader_claims()), headers);
        assert_eq!(resp.status(), StatusCode::FOUND, "{headers:?}");
        assert!(session_cookie(&resp).is_some(), "{headers:?}");
    }
}

#[test]
fn a_handshake_token_posted_to_any_other_page_is_not_a_sign_in() {
    let f = Fixture::new();
    let req = Request::post("/docs/anything")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(format!("jwt={}", f.handshake_token(reader_claims())).into_bytes())
        .unwrap();
    let resp = f.send(req, "192.0.2.1");
    assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert!(session_cookie(&resp).is_none());
}

// 6. Limiter keys -----------------------------------------------------------

#[test]
fn every_spelling_of_a_client_id_shares_one_failed_auth_limit() {
    let f = Fixture::new();
    let id = f.project.client_id.clone();
    let spellings = [
        id.clone(),
        id.to_ascii_uppercase(),
        id.replace('-', ""),
        id.replace('-', "").to_ascii_uppercase(),
        format!("{}{}", &id[..8].to_ascii_uppercase(), &id[8..]),
    ];
    let body = r#"{"username":"u","firstName":"","lastName":"","emailId":"u@x"}"#;
    let mut allowed = 0;
    for round in 0..10 {
        for spelling in &spellings {
            let resp = f.send(f.code_request(spelling, "wrong-secret", body), "203.0.113.60");
            match resp.status() {
                StatusCode::UNAUTHORIZED => allowed += 1,
                StatusCode::TOO_MANY_REQUESTS => {}
                other => panic!("round {round}: {other}"),
            }
        }
    }
    assert_eq!(allowed, 20, "20 wrong secrets a minute, whatever the spelling");
    // Ids that are not ids at all share one key per address, too.
    let mut junk_allowed = 0;
    for i in 0..40 {
        let resp = f.send(f.code_request(&format!("junk-{i}"), "x", body), "203.0.113.61");
        if resp.status() == StatusCode::UNAUTHORIZED {
            junk_allowed += 1;
        }
    }
    assert_eq!(junk_allowed, 20);
}

// 7. Oversized identities ---------------------------------------------------

#[test]
fn a_handshake_identity_too_large_for_a_cookie_gets_a_400_not_a_cookie_a_browser_drops() {
    let f = Fixture::new();
    // Under the 8 KiB token limit, over what a cookie holds.
    let groups: Vec<String> = (0..100).map(|i| format!("reader-group-{i:028}")).collect();
    let token = f.handshake_token(reader_claims().groups(groups));
    assert!(token.len() < 8 * 1024, "{}", token.len());
    let resp = f.get(&format!("/api/auth/jwt/callback?token={token}"), None, "192.0.2.1");
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(session_cookie(&resp).is_none());
    let body: serde_json::Value = serde_json::from_slice(resp.body()).unwrap();
    assert!(body["error_description"].as_str().unwrap().contains("cookie"), "{body}");
    for cookie in set_cookies(&resp) {
        assert!(cookie.len() < 4096, "no cookie over 4 KiB is ever set");
    }
}

// 10. Smaller points --------------------------------------------------------

#[test]
fn a_kid_naming_a_disabled_configuration_is_told_only_with_a_valid_signature() {
    let secret = ClientSecret::generate();
    let id = ClientId::generate();
    let mut verifier = HandshakeVerifier::new();
    let settings = HandshakeSettings::builder(HandshakeKey::hs256(&secret, None).unwrap())
        .enabled(false)
        .build()
        .unwrap();
    verifier.insert(id.clone(), settings).unwrap();
    let cache = MemoryReplayCache::new();
    let now = SystemClock.now();
    let sign = |secret: &ClientSecret| {
        HandshakeSigner::hs256(id.to_string(), secret)
            .unwrap()
            .sign(&reader_claims(), now)
            .unwrap()
    };
    let reason = |token: &str| {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        rt.block_on(verifier.verify_str(token, now, &cache))
            .unwrap_err()
            .reason()
    };
    // Someone guessing ids without the key learns nothing about the
    // configuration's state.
    assert_eq!(reason(&sign(&ClientSecret::generate())), "bad_signature");
    // The customer, who holds the key, is told it is disabled.
    assert_eq!(reason(&sign(&secret)), "disabled");
}

#[test]
fn project_files_can_require_a_jti() {
    let secret = ClientSecret::generate();
    let id = ClientId::generate();
    let file: ProjectFile = serde_json::from_value(serde_json::json!({
        "jwt": [{
            "name": "Help", "client_id": id.to_string(), "login_url": APP_LOGIN,
            "primary_secret": secret.expose(),
            "secondary_secret": ClientSecret::generate().expose(),
            "handshake": {"alg": "HS256", "require_jti": true}
        }]
    }))
    .unwrap();
    let verifier = file.handshakes().unwrap();
    let cache = MemoryReplayCache::new();
    let now = SystemClock.now();
    let signer = HandshakeSigner::hs256(id.to_string(), &secret).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let without = signer.sign(&reader_claims().without_jti(), now).unwrap();
    assert!(rt.block_on(verifier.verify_str(&without, now, &cache)).is_err());
    let with = signer.sign(&reader_claims(), now).unwrap();
    assert!(rt.block_on(verifier.verify_str(&with, now, &cache)).is_ok());
}

#[test]
fn the_demo_configuration_refuses_replayable_and_everlasting_handshake_tokens() {
    let f = Fixture::new();
    assert_eq!(f.project.handshake_audience, KB);
    let callback = |token: &str| f.get(&format!("/api/auth/jwt/callback?token={token}"), None, "192.0.2.1");
    let error_of = |resp: &Response<Vec<u8>>| {
        let location = Url::parse(resp.headers()[header::LOCATION].to_str().unwrap()).unwrap();
        location
            .query_pairs()
            .find(|(k, _)| k == "jwt_error")
            .map(|(_, v)| v.into_owned())
    };
    // No jti: a copy could be replayed.
    let resp = callback(&f.handshake_token(reader_claims().without_jti()));
    assert!(session_cookie(&resp).is_none());
    assert_eq!(error_of(&resp).as_deref(), Some("malformed"));
    // No audience: a token made for another service.
    let resp = callback(&f.handshake_token(HandshakeClaimsBuilder::new().subject("john.doe")));
    assert!(session_cookie(&resp).is_none());
    assert_eq!(error_of(&resp).as_deref(), Some("wrong_audience"));
    // Valid for an hour: over the 5-minute maximum age.
    let resp = callback(&f.handshake_token(reader_claims().lifetime(time::Duration::hours(1))));
    assert!(session_cookie(&resp).is_none());
    assert!(error_of(&resp).is_some());
    // A short, addressed, single-use token works once.
    let token = f.handshake_token(reader_claims());
    assert!(session_cookie(&callback(&token)).is_some());
    let replay = callback(&token);
    assert!(session_cookie(&replay).is_none());
    assert_eq!(error_of(&replay).as_deref(), Some("replayed"));
}

#[test]
fn every_code_issued_opens_a_session_whose_cookie_a_browser_keeps() {
    let f = Fixture::new();
    let mut refused = 0;
    for n in 0..=100 {
        let groups: Vec<String> = (0..n).map(|i| format!("\"group-{i:024}\"")).collect();
        let body = format!(
            r#"{{"username":"john.doe","firstName":"John","lastName":"Doe","emailId":"john.doe@example.com","readerGroupIds":[{}]}}"#,
            groups.join(",")
        );
        let req = f.code_request(&f.project.client_id, &f.project.primary_secret, &body);
        let resp = f.send(req, "192.0.2.2");
        if resp.status() == StatusCode::BAD_REQUEST {
            // Refused up front, with the reason, and no code to burn.
            let v: serde_json::Value = serde_json::from_slice(resp.body()).unwrap();
            assert!(v["error_description"].as_str().unwrap().contains("too large"), "{v}");
            refused += 1;
            continue;
        }
        assert_eq!(resp.status(), StatusCode::OK, "{n} groups");
        let v: serde_json::Value = serde_json::from_slice(resp.body()).unwrap();
        let code = v["code"].as_str().unwrap();
        let resp = f.get(&format!("/jwt/authorize?code={code}"), None, "192.0.2.2");
        assert_eq!(resp.status(), StatusCode::FOUND, "{n} groups: the code opens a session");
        let cookie = set_cookies(&resp)
            .into_iter()
            .find(|c| c.starts_with("__Host-kb_session="))
            .unwrap();
        assert!(cookie.len() < 4096, "{n} groups: {} bytes", cookie.len());
        assert!(f.signed_in(cookie.split(';').next().unwrap()));
    }
    assert!(refused > 0, "the largest group lists do not fit a cookie");
    assert!(refused < 100, "ordinary group lists do");
}
