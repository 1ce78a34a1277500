//! The admin API over real localhost HTTP against the reference server:
//! each route's effect, roles and bearer tokens, and bad input refused with
//! a 400 naming the field while the project stays as it was.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

#[path = "../examples/common/mod.rs"]
mod common;

use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use kb_sso::server::admin::{AdminToken, AdminTokens};
use kb_sso::{AuditSink as _, MAX_LOGO_BYTES};
use kb_sso::{ClientCredentials, ClientSecret, Principal, SystemClock};
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use serde_json::{Value, json};

type Running = common::server::Running<SystemClock>;

fn any_port() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// A reference server with the demo project and the demo admin token.
async fn demo() -> (Running, String) {
    let server = common::server::start(any_port(), "https://app.example.com/login", SystemClock)
        .await
        .unwrap();
    let token = server.admin_token.as_ref().unwrap().expose().to_owned();
    (server, token)
}

/// An HTTP client of the admin API with one bearer token.
struct Api {
    base: String,
    token: Option<String>,
    http: reqwest::Client,
}

impl Api {
    fn new(server: &Running, token: Option<&str>) -> Self {
        Self {
            base: format!("{}/api/admin", server.base),
            token: token.map(str::to_owned),
            http: reqwest::Client::new(),
        }
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<String>,
    ) -> (StatusCode, reqwest::header::HeaderMap, Value) {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = &self.token {
            req = req.header(AUTHORIZATION, format!("Bearer {t}"));
        }
        if let Some(b) = body {
            req = req.header(CONTENT_TYPE, "application/json").body(b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.bytes().await.unwrap();
        let value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap()
        };
        (status, headers, value)
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        let (s, _, v) = self.send(reqwest::Method::GET, path, None).await;
        (s, v)
    }

    async fn post(&self, path: &str, body: Value) -> (StatusCode, reqwest::header::HeaderMap, Value) {
        self.send(reqwest::Method::POST, path, Some(body.to_string())).await
    }

    async fn patch(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let (s, _, v) = self.send(reqwest::Method::PATCH, path, Some(body.to_string())).await;
        (s, v)
    }

    async fn put(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let (s, _, v) = self.send(reqwest::Method::PUT, path, Some(body.to_string())).await;
        (s, v)
    }

    async fn project(&self) -> Value {
        let (s, v) = self.get("/project").await;
        assert_eq!(s, StatusCode::OK, "{v}");
        v
    }
}

/// `POST /api/jwt/generate-code` with these credentials: its status.
async fn generate_code(server: &Running, client_id: &str, secret: &str) -> StatusCode {
    let basic = ClientCredentials::new(client_id, ClientSecret::new(secret)).to_basic_header();
    reqwest::Client::new()
        .post(format!("{}/api/jwt/generate-code", server.base))
        .header(AUTHORIZATION, basic.as_str())
        .header(CONTENT_TYPE, "application/json")
        .body(common::SPEC_CODE_REQUEST)
        .send()
        .await
        .unwrap()
        .status()
}

fn config(name: &str, host: &str) -> Value {
    json!({"name": name, "login_url": format!("https://{host}/login")})
}

fn button(name: &str, host: &str) -> Value {
    json!({
        "name": name,
        "login_url": format!("https://{host}/login"),
        "show_login_button": true,
        "login_button_text": format!("Sign in with {name}"),
    })
}

/// A PNG's first bytes padded to `len` bytes.
fn png(len: usize) -> Vec<u8> {
    let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
    bytes.resize(len, 0);
    bytes
}

/// How many audit entries the server holds.
async fn audit_len(server: &Running) -> usize {
    let access = Principal {
        id: "auditor".into(),
        security_audit: true,
    }
    .security_audit_access()
    .unwrap();
    server.admin.audit().read(&access).await.unwrap().entries.len()
}

#[tokio::test]
async fn each_route_has_its_effect() {
    let (server, token) = demo().await;
    let api = Api::new(&server, Some(&token));

    let project = api.project().await;
    assert_eq!(project["jwt"].as_array().unwrap().len(), 1);
    assert_eq!(project["settings"]["direct_jwt_login"], true);
    let text = project.to_string();
    assert!(
        !text.contains(&server.project.primary_secret),
        "no secret in the project"
    );
    assert!(!text.contains("digest"), "no digest in the project");

    // Create: 201 with both secrets, once, not cached.
    let logo = format!("data:image/png;base64,{}", STANDARD.encode(png(100)));
    let mut body = button("Portal", "portal.example.com");
    body["login_button_logo"] = json!(logo);
    body["logout_url"] = json!("https://portal.example.com/bye");
    let (status, headers, created) = api.post("/jwt-configs", body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(headers["cache-control"], "no-store");
    let id = created["client_id"].as_str().unwrap().to_owned();
    assert_eq!(headers["location"], format!("/api/admin/jwt-configs/{id}"));
    assert_eq!(created["domain"], "portal.example.com");
    assert_eq!(created["login_button_logo"]["media_type"], "image/png");
    assert_eq!(created["login_button_logo"]["size"], 100);
    let primary = created["primary_secret"].as_str().unwrap().to_owned();
    let secondary = created["secondary_secret"].as_str().unwrap().to_owned();
    assert_eq!(generate_code(&server, &id, &primary).await, StatusCode::OK);
    assert_eq!(generate_code(&server, &id, &secondary).await, StatusCode::OK);
    let (status, one) = api.get(&format!("/jwt-configs/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(one.get("primary_secret").is_none(), "a secret is shown once");

    // Patch: only the fields given change.
    let (status, patched) = api
        .patch(
            &format!("/jwt-configs/{id}"),
            json!({"name": "Portal 2", "logout_url": null}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(patched["name"], "Portal 2");
    assert_eq!(patched["logout_url"], Value::Null);
    assert_eq!(patched["login_url"], "https://portal.example.com/login");
    assert_eq!(patched["show_login_button"], true);
    assert_eq!(patched["login_button_text"], "Sign in with Portal");
    assert_eq!(patched["login_button_logo"]["size"], 100);

    // Disable and enable.
    let (status, _, off) = api.post(&format!("/jwt-configs/{id}/disable"), json!({})).await;
    assert_eq!((status, &off["enabled"]), (StatusCode::OK, &json!(false)));
    assert_eq!(generate_code(&server, &id, &primary).await, StatusCode::FORBIDDEN);
    let (status, _, on) = api
        .send(reqwest::Method::POST, &format!("/jwt-configs/{id}/enable"), None)
        .await;
    assert_eq!((status, &on["enabled"]), (StatusCode::OK, &json!(true)));
    assert_eq!(generate_code(&server, &id, &primary).await, StatusCode::OK);

    // Regenerate the secondary secret: only it changes.
    let (status, headers, regenerated) = api
        .post(&format!("/jwt-configs/{id}/regenerate-secondary-secret"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["cache-control"], "no-store");
    let new_secondary = regenerated["secret"].as_str().unwrap();
    assert_eq!(generate_code(&server, &id, new_secondary).await, StatusCode::OK);
    assert_eq!(generate_code(&server, &id, &secondary).await, StatusCode::UNAUTHORIZED);
    assert_eq!(generate_code(&server, &id, &primary).await, StatusCode::OK);

    // Settings: Direct JWT login with confirmation, the login page toggle.
    let (status, settings) = api
        .put(
            "/settings",
            json!({"direct_jwt_login": false, "disable_default_login_page": true, "confirm": true}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{settings}");
    assert_eq!(
        settings,
        json!({"direct_jwt_login": false, "disable_default_login_page": true,
               "visibility": "private", "public_paths": [], "home_published": true})
    );
    let (status, settings) = api.put("/settings", json!({"disable_default_login_page": false})).await;
    assert_eq!(status, StatusCode::OK, "no confirmation needed for this toggle");
    assert_eq!(settings["disable_default_login_page"], false);
    assert_eq!(settings["direct_jwt_login"], false);

    // Delete.
    let (status, _, gone) = api
        .send(reqwest::Method::DELETE, &format!("/jwt-configs/{id}"), None)
        .await;
    assert_eq!((status, gone), (StatusCode::NO_CONTENT, Value::Null));
    assert_eq!(api.get(&format!("/jwt-configs/{id}")).await.0, StatusCode::NOT_FOUND);
    assert_eq!(generate_code(&server, &id, &primary).await, StatusCode::UNAUTHORIZED);
    assert_eq!(api.project().await["jwt"].as_array().unwrap().len(), 1);

    // Every change was audited and notified: create, update, disable,
    // enable, regenerate, two settings, the third toggle, delete.
    assert_eq!(audit_len(&server).await, 9);
    assert!(
        kb_sso::NotificationOutbox::list(server.admin.notifier(), 100)
            .await
            .unwrap()
            .len()
            >= 9
    );
    server.stop().await;
}

#[tokio::test]
async fn a_regenerated_primary_secret_works_at_once_and_the_old_one_gets_401() {
    let (server, token) = demo().await;
    let api = Api::new(&server, Some(&token));
    let p = server.project.clone();
    assert_eq!(
        generate_code(&server, &p.client_id, &p.primary_secret).await,
        StatusCode::OK
    );
    let (status, headers, body) = api
        .post(
            &format!("/jwt-configs/{}/regenerate-primary-secret", p.client_id),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["cache-control"], "no-store");
    let new = body["secret"].as_str().unwrap();
    assert_eq!(generate_code(&server, &p.client_id, new).await, StatusCode::OK);
    assert_eq!(
        generate_code(&server, &p.client_id, &p.primary_secret).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        generate_code(&server, &p.client_id, &p.secondary_secret).await,
        StatusCode::OK,
        "the secondary secret keeps working"
    );
    server.stop().await;
}

fn token_file(admins: &[(&str, &AdminToken, &[&str])]) -> String {
    json!({
        "admins": admins
            .iter()
            .map(|(name, token, roles)| json!({"name": name, "token_sha256": token.sha256_hex(), "roles": roles}))
            .collect::<Vec<_>>()
    })
    .to_string()
}

#[tokio::test]
async fn roles_decide_what_an_administrator_may_do_and_tokens_who_is_heard() {
    let (admin, owner, auditor) = (AdminToken::generate(), AdminToken::generate(), AdminToken::generate());
    let tokens = AdminTokens::from_json(
        token_file(&[
            ("alice", &admin, &["admin"]),
            ("owen", &owner, &["owner"]),
            ("audrey", &auditor, &["security_audit"]),
        ])
        .as_bytes(),
    )
    .unwrap();
    let options = common::server::Options {
        admin_tokens: Some(tokens),
        ..common::server::Options::default()
    };
    let server = common::server::start_demo_with(any_port(), "https://app.example.com/login", SystemClock, options)
        .await
        .unwrap();
    assert!(server.admin_token.is_none(), "no demo token beside a token file");
    assert!(!server.ready_line().contains("admin_token"));

    let alice = Api::new(&server, Some(admin.expose()));
    let owen = Api::new(&server, Some(owner.expose()));
    let audrey = Api::new(&server, Some(auditor.expose()));
    let before = alice.project().await;

    // The auditor reads but changes nothing.
    assert_eq!(audrey.get("/project").await.0, StatusCode::OK);
    let id = server.project.client_id.clone();
    for (method, path, body) in [
        (
            reqwest::Method::POST,
            "/jwt-configs".to_owned(),
            Some(config("A", "a.example.com").to_string()),
        ),
        (
            reqwest::Method::PATCH,
            format!("/jwt-configs/{id}"),
            Some(r#"{"name":"x"}"#.to_owned()),
        ),
        (reqwest::Method::DELETE, format!("/jwt-configs/{id}"), None),
        (reqwest::Method::POST, format!("/jwt-configs/{id}/disable"), None),
        (
            reqwest::Method::POST,
            format!("/jwt-configs/{id}/regenerate-primary-secret"),
            None,
        ),
        (
            reqwest::Method::PUT,
            "/settings".to_owned(),
            Some(r#"{"direct_jwt_login":false,"confirm":true}"#.to_owned()),
        ),
    ] {
        let (status, _, body) = audrey.send(method.clone(), &path, body).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path}");
        assert_eq!(body["error"], "access_denied");
    }
    assert_eq!(alice.project().await, before, "nothing changed");
    assert_eq!(audit_len(&server).await, 0);

    // Admin and owner manage; the audit log names who did it.
    let (status, _, _) = alice.post("/jwt-configs", config("A", "a.example.com")).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _, _) = owen.post("/jwt-configs", config("B", "b.example.com")).await;
    assert_eq!(status, StatusCode::CREATED);
    let access = Principal {
        id: "auditor".into(),
        security_audit: true,
    }
    .security_audit_access()
    .unwrap();
    let log = server.admin.audit().read(&access).await.unwrap();
    let who: Vec<&str> = log.entries.iter().map(|e| e.event.administrator().0.as_str()).collect();
    assert_eq!(who, ["alice", "owen"]);

    // No token, a wrong token, another scheme: 401 with a Bearer challenge.
    let wrong = AdminToken::generate();
    for api in [Api::new(&server, None), Api::new(&server, Some(wrong.expose()))] {
        for path in ["/project", "/jwt-configs", "/no-such-route"] {
            let (status, headers, body) = api.send(reqwest::Method::GET, path, None).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}");
            assert!(headers["www-authenticate"].to_str().unwrap().starts_with("Bearer "));
            assert_eq!(body["error"], "invalid_token");
        }
    }
    let resp = reqwest::Client::new()
        .get(format!("{}/api/admin/project", server.base))
        .header(
            AUTHORIZATION,
            format!("Basic {}", STANDARD.encode(format!("alice:{}", admin.expose()))),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    server.stop().await;
}

/// Sends `body` with `method` to `path` and checks the 400 names `field`
/// and leaves the project as it was.
async fn refused(api: &Api, method: reqwest::Method, path: &str, body: String, error: &str, field: Option<&str>) {
    let before = api.project().await;
    let (status, headers, answer) = api.send(method.clone(), path, Some(body)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{method} {path}: {answer}");
    assert_eq!(answer["error"], error, "{answer}");
    if let Some(field) = field {
        assert_eq!(answer["field"], field, "{answer}");
        let description = answer["error_description"].as_str().unwrap();
        assert!(description.starts_with(&format!("{field}:")), "{description}");
    }
    assert!(headers.get("cache-control").is_none_or(|v| v == "no-store"));
    assert_eq!(api.project().await, before, "{method} {path}: the project is unchanged");
}

#[tokio::test]
async fn bad_input_is_a_400_naming_the_field_and_changes_nothing() {
    use reqwest::Method;
    let (server, token) = demo().await;
    let api = Api::new(&server, Some(&token));
    let id = server.project.client_id.clone();
    let one = format!("/jwt-configs/{id}");
    let audited = audit_len(&server).await;

    let with = |mut v: Value, k: &str, x: Value| {
        v[k] = x;
        v.to_string()
    };
    let a = config("A", "a.example.com");
    refused(
        &api,
        Method::POST,
        "/jwt-configs",
        with(a.clone(), "secret", json!("x")),
        "invalid_request",
        Some("secret"),
    )
    .await;
    refused(
        &api,
        Method::POST,
        "/jwt-configs",
        r#"{"name":"A","login_url":"#.into(),
        "invalid_request",
        None,
    )
    .await;
    refused(&api, Method::POST, "/jwt-configs", "[]".into(), "invalid_request", None).await;
    refused(
        &api,
        Method::POST,
        "/jwt-configs",
        r#"{"name":"A"}"#.into(),
        "invalid_request",
        Some("login_url"),
    )
    .await;
    refused(
        &api,
        Method::POST,
        "/jwt-configs",
        with(a.clone(), "enabled", json!("yes")),
        "invalid_request",
        Some("enabled"),
    )
    .await;
    refused(
        &api,
        Method::POST,
        "/jwt-configs",
        with(a.clone(), "cta_position", json!(-1)),
        "invalid_request",
        Some("cta_position"),
    )
    .await;
    refused(
        &api,
        Method::POST,
        "/jwt-configs",
        with(a.clone(), "login_url", json!("ftp://a.example.com/")),
        "invalid_request",
        Some("login_url"),
    )
    .await;
    refused(
        &api,
        Method::POST,
        "/jwt-configs",
        with(a.clone(), "login_url", json!("https://*.example.com/")),
        "invalid_request",
        Some("login_url"),
    )
    .await;
    refused(
        &api,
        Method::POST,
        "/jwt-configs",
        with(a.clone(), "show_login_button", json!(true)),
        "invalid_request",
        Some("login_button_text"),
    )
    .await;
    // The demo configuration's domain is app.example.com.
    refused(
        &api,
        Method::POST,
        "/jwt-configs",
        config("Dup", "APP.example.com").to_string(),
        "invalid_request",
        Some("login_url"),
    )
    .await;
    // Logos: over 512 KB, not an image, not base64.
    let big = STANDARD.encode(png(MAX_LOGO_BYTES + 1));
    refused(
        &api,
        Method::POST,
        "/jwt-configs",
        with(a.clone(), "login_button_logo", json!(big)),
        "invalid_request",
        Some("login_button_logo"),
    )
    .await;
    let gif = format!("data:image/png;base64,{}", STANDARD.encode(b"GIF89a....."));
    refused(
        &api,
        Method::POST,
        "/jwt-configs",
        with(a.clone(), "login_button_logo", json!(gif)),
        "invalid_request",
        Some("login_button_logo"),
    )
    .await;
    refused(
        &api,
        Method::POST,
        "/jwt-configs",
        with(a.clone(), "login_button_logo", json!("%%%")),
        "invalid_request",
        Some("login_button_logo"),
    )
    .await;
    refused(
        &api,
        Method::PATCH,
        &one,
        r#"{"name":null}"#.into(),
        "invalid_request",
        Some("name"),
    )
    .await;
    refused(
        &api,
        Method::PATCH,
        &one,
        r#"{"client_id":"x"}"#.into(),
        "invalid_request",
        Some("client_id"),
    )
    .await;
    refused(
        &api,
        Method::POST,
        &format!("{one}/disable"),
        r#"{"now":true}"#.into(),
        "invalid_request",
        Some("now"),
    )
    .await;
    refused(
        &api,
        Method::PUT,
        "/settings",
        r#"{"direct_jwt_login":false}"#.into(),
        "confirmation_required",
        Some("direct_jwt_login"),
    )
    .await;
    refused(
        &api,
        Method::PUT,
        "/settings",
        r#"{"direct_jwt_login":false,"confirm":false}"#.into(),
        "confirmation_required",
        Some("direct_jwt_login"),
    )
    .await;
    refused(
        &api,
        Method::PUT,
        "/settings",
        r#"{"visibility":"secret"}"#.into(),
        "invalid_request",
        Some("visibility"),
    )
    .await;

    // Fill the project: three buttons, five configurations.
    for (name, host) in [("A", "a.example.com"), ("B", "b.example.com"), ("C", "c.example.com")] {
        assert_eq!(
            api.post("/jwt-configs", button(name, host)).await.0,
            StatusCode::CREATED
        );
    }
    let (status, _, d) = api.post("/jwt-configs", config("D", "d.example.com")).await;
    assert_eq!(status, StatusCode::CREATED);
    let d = format!("/jwt-configs/{}", d["client_id"].as_str().unwrap());
    let audited = audited + 4;
    refused(
        &api,
        Method::POST,
        "/jwt-configs",
        config("E", "e.example.com").to_string(),
        "invalid_request",
        Some("jwt"),
    )
    .await;
    refused(
        &api,
        Method::PATCH,
        &d,
        r#"{"show_login_button":true,"login_button_text":"D"}"#.into(),
        "invalid_request",
        Some("show_login_button"),
    )
    .await;
    refused(
        &api,
        Method::PATCH,
        &d,
        r#"{"login_url":"https://A.example.com/x"}"#.into(),
        "invalid_request",
        Some("login_url"),
    )
    .await;
    assert_eq!(audit_len(&server).await, audited, "a refused request is not audited");

    // An unknown client id, an unknown path, another method.
    let unknown = format!("/jwt-configs/{}", kb_sso::ClientId::generate());
    assert_eq!(api.patch(&unknown, json!({"name": "x"})).await.0, StatusCode::NOT_FOUND);
    assert_eq!(
        api.post(&format!("{unknown}/enable"), json!({})).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        api.patch("/jwt-configs/not-a-uuid", json!({"name": "x"})).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(api.get("/nothing-here").await.0, StatusCode::NOT_FOUND);
    let (status, headers, _) = api.send(Method::GET, "/settings", None).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(headers["allow"], "PUT");
    server.stop().await;
}

#[tokio::test]
async fn a_512_kb_logo_fits_and_larger_bodies_get_413() {
    let (server, token) = demo().await;
    let api = Api::new(&server, Some(&token));
    let mut body = button("Logo", "logo.example.com");
    body["login_button_logo"] = json!(STANDARD.encode(png(MAX_LOGO_BYTES)));
    let (status, _, created) = api.post("/jwt-configs", body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["login_button_logo"]["size"], MAX_LOGO_BYTES);

    let before = api.project().await;
    let mut huge = config("Huge", "huge.example.com");
    huge["login_button_logo"] = json!("A".repeat(1024 * 1024));
    let (status, _, answer) = api.post("/jwt-configs", huge).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{answer}");
    let padding = " ".repeat(70 * 1024);
    let (status, _, _) = api
        .send(
            reqwest::Method::PUT,
            "/settings",
            Some(format!(r#"{{"disable_default_login_page":true{padding}}}"#)),
        )
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "other routes take 64 KiB");
    assert_eq!(api.project().await, before);
    server.stop().await;
}

/// The `kb_server` example binary `cargo test` built beside this test.
fn kb_server() -> PathBuf {
    support::example_binary("kb_server")
}

struct ServerProcess(Child);

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `kb_server` with `args` and returns its ready line.
async fn kb_server_ready(args: &[&str]) -> (ServerProcess, Value) {
    let mut child = Command::new(kb_server())
        .args(["--listen", "127.0.0.1:0"])
        .args(args)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let child = ServerProcess(child);
    let line = tokio::time::timeout(
        std::time::Duration::from_secs(60),
        tokio::task::spawn_blocking(move || {
            let mut line = String::new();
            BufReader::new(stdout).read_line(&mut line).unwrap();
            line
        }),
    )
    .await
    .expect("kb_server printed no ready line in time")
    .unwrap();
    (child, serde_json::from_str(&line).unwrap())
}

#[tokio::test]
async fn kb_server_shows_a_demo_admin_token_or_takes_a_token_file() {
    let (_child, ready) = kb_server_ready(&[]).await;
    for field in [
        "listening",
        "client_id",
        "primary_secret",
        "secondary_secret",
        "login_url",
        "admin_token",
    ] {
        assert!(ready[field].is_string(), "{field} in {ready}");
    }
    let base = ready["listening"].as_str().unwrap();
    let get = |token: String| {
        reqwest::Client::new()
            .get(format!("{base}/api/admin/project"))
            .header(AUTHORIZATION, format!("Bearer {token}"))
            .send()
    };
    assert_eq!(
        get(ready["admin_token"].as_str().unwrap().to_owned())
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );

    let token = AdminToken::generate();
    let dir = std::env::temp_dir().join(format!("kb-sso-admin-http-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("admins.json");
    std::fs::write(&path, token_file(&[("alice", &token, &["admin"])])).unwrap();
    let (_child, ready) = kb_server_ready(&["--admin-token-file", path.to_str().unwrap()]).await;
    assert!(ready.get("admin_token").is_none(), "{ready}");
    assert!(ready["client_id"].is_string());
    let base = ready["listening"].as_str().unwrap();
    let resp = reqwest::Client::new()
        .get(format!("{base}/api/admin/project"))
        .header(AUTHORIZATION, format!("Bearer {}", token.expose()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);

    // A bad token file: exit 2, naming the entry and field.
    std::fs::write(
        &path,
        r#"{"admins":[{"name":"a","token_sha256":"00","roles":["admin"]}]}"#,
    )
    .unwrap();
    let out = Command::new(kb_server())
        .args(["--listen", "127.0.0.1:0", "--admin-token-file", path.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("admins[0].token_sha256"));
    let help = Command::new(kb_server()).arg("--help").output().unwrap();
    assert_eq!(help.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&help.stdout).contains("--admin-token-file"));
    let usage = Command::new(kb_server()).arg("--nope").output().unwrap();
    assert_eq!(usage.status.code(), Some(2));
}
