//! The login page and domain routing over HTTP, from project files served
//! by the reference server: every state of the spec's table, Direct JWT
//! login, and `POST /login/domain`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../examples/common/mod.rs"]
mod common;

use std::net::SocketAddr;

use kb_sso::{ClientId, ClientSecret, SystemClock};
use reqwest::StatusCode;
use serde_json::{Value, json};

fn jwt(name: &str, host: &str, enabled: bool, button: bool, cta: u32) -> Value {
    json!({
        "name": name,
        "client_id": ClientId::generate().to_string(),
        "login_url": format!("https://{host}/login"),
        "primary_secret": ClientSecret::generate().expose(),
        "secondary_secret": ClientSecret::generate().expose(),
        "enabled": enabled,
        "show_login_button": button,
        "login_button_text": if button { Some(format!("Sign in with {name}")) } else { None },
        "cta_position": cta,
    })
}

fn sso(name: &str, enabled: bool) -> Value {
    json!({"name": name, "kind": "saml", "enabled": enabled, "cta_position": 0})
}

async fn serve(project: Value) -> common::server::Running<SystemClock> {
    let path = std::env::temp_dir().join(format!("kb-sso-login-{}-{}.json", std::process::id(), rand_suffix()));
    std::fs::write(&path, project.to_string()).unwrap();
    let loaded = common::server::load_project_file(path.to_str().unwrap()).unwrap();
    let _ = std::fs::remove_file(&path);
    common::server::start_project(SocketAddr::from(([127, 0, 0, 1], 0)), loaded, SystemClock)
        .await
        .unwrap()
}

fn rand_suffix() -> String {
    ClientId::generate().to_string()
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn login_json(project: Value) -> Value {
    let server = serve(project).await;
    let resp = client()
        .get(format!("{}/login", server.base))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let body = resp.json().await.unwrap();
    server.stop().await;
    body
}

fn project(toggle: bool, jwt: Vec<Value>, sso: Vec<Value>) -> Value {
    json!({
        "settings": {"direct_jwt_login": false, "disable_default_login_page": toggle},
        "jwt": jwt,
        "sso": sso,
    })
}

fn names(v: &Value, key: &str) -> Vec<String> {
    v[key]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["name"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn state_1_off_sso_only() {
    let v = login_json(project(
        false,
        vec![jwt("J", "j.example.com", false, true, 0)],
        vec![sso("Okta", true)],
    ))
    .await;
    assert_eq!(v["email_password_form"], true);
    assert_eq!(v["domain_field"], false);
    assert_eq!(names(&v, "jwt_buttons"), Vec::<String>::new());
    assert_eq!(names(&v, "sso_buttons"), ["Okta"]);
    assert_eq!(v["message"], Value::Null);
}

#[tokio::test]
async fn state_2_off_jwt_and_sso() {
    let v = login_json(project(
        false,
        vec![jwt("J", "j.example.com", true, true, 0)],
        vec![sso("Okta", true)],
    ))
    .await;
    assert_eq!(v["email_password_form"], true);
    assert_eq!(names(&v, "jwt_buttons"), ["J"]);
    assert_eq!(names(&v, "sso_buttons"), ["Okta"]);
    let b = &v["jwt_buttons"][0];
    assert_eq!(b["text"], "Sign in with J");
    assert_eq!(
        without_challenge(b["login_url"].as_str().unwrap()),
        "https://j.example.com/login?redirectPath=%2F"
    );
}

#[tokio::test]
async fn state_3_off_jwt_only() {
    let v = login_json(project(false, vec![jwt("J", "j.example.com", true, true, 0)], vec![])).await;
    assert_eq!(v["email_password_form"], true);
    assert_eq!(names(&v, "jwt_buttons"), ["J"]);
    assert!(names(&v, "sso_buttons").is_empty());
}

#[tokio::test]
async fn state_4_on_sso_only() {
    let v = login_json(project(true, vec![], vec![sso("Okta", true)])).await;
    assert_eq!(v["email_password_form"], false);
    assert_eq!(v["domain_field"], false);
    assert_eq!(names(&v, "sso_buttons"), ["Okta"]);
}

#[tokio::test]
async fn state_5_on_jwt_only() {
    let v = login_json(project(true, vec![jwt("J", "j.example.com", true, true, 0)], vec![])).await;
    assert_eq!(v["email_password_form"], false);
    assert_eq!(v["domain_field"], true);
    assert_eq!(names(&v, "jwt_buttons"), ["J"]);
}

#[tokio::test]
async fn state_6_on_jwt_and_sso() {
    let v = login_json(project(
        true,
        vec![jwt("J", "j.example.com", true, true, 0)],
        vec![sso("Okta", true)],
    ))
    .await;
    assert_eq!(v["email_password_form"], false);
    assert_eq!(v["domain_field"], true);
    assert_eq!(names(&v, "jwt_buttons"), ["J"]);
    assert_eq!(names(&v, "sso_buttons"), ["Okta"]);
}

#[tokio::test]
async fn on_with_nothing_active_shows_the_message_and_off_shows_the_form_alone() {
    let v = login_json(project(
        true,
        vec![jwt("J", "j.example.com", false, true, 0)],
        vec![sso("Okta", false)],
    ))
    .await;
    assert_eq!(v["message"], "No login options are currently available.");
    assert_eq!(v["email_password_form"], false);
    let v = login_json(project(false, vec![], vec![])).await;
    assert_eq!(v["email_password_form"], true);
    assert_eq!(v["message"], Value::Null);
    assert_eq!(v["domain_field"], false);
}

#[tokio::test]
async fn direct_jwt_login_redirects_with_one_active_configuration() {
    let server = serve(json!({
        "settings": {"direct_jwt_login": true},
        "jwt": [jwt("J", "j.example.com", true, false, 0), jwt("K", "k.example.com", false, true, 1)],
        "sso": [sso("Okta", true)],
    }))
    .await;
    let c = client();
    let resp = c
        .get(format!("{}/login?redirectPath=/docs/a", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FOUND);
    assert_eq!(
        without_challenge(resp.headers()["location"].to_str().unwrap()),
        "https://j.example.com/login?redirectPath=%2Fdocs%2Fa"
    );
    let page = c.get(format!("{}/docs/b", server.base)).send().await.unwrap();
    assert_eq!(
        without_challenge(page.headers()["location"].to_str().unwrap()),
        "https://j.example.com/login?redirectPath=%2Fdocs%2Fb"
    );
    server.stop().await;
}

#[tokio::test]
async fn without_direct_login_a_protected_page_goes_to_the_login_page() {
    let server = serve(project(false, vec![jwt("J", "j.example.com", true, true, 0)], vec![])).await;
    let page = client().get(format!("{}/docs/b", server.base)).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::FOUND);
    assert_eq!(
        page.headers()["location"],
        format!("{}/login?redirectPath=%2Fdocs%2Fb", server.base)
    );
    server.stop().await;
}

#[tokio::test]
async fn the_html_page_has_labelled_fields_and_escaped_text() {
    let mut j = jwt("<b>J</b>", "j.example.com", true, true, 0);
    j["login_button_text"] = json!("Sign in <script>alert(1)</script>");
    let server = serve(project(true, vec![j], vec![sso("Okta & Co", true)])).await;
    let resp = client()
        .get(format!("{}/login?redirectPath=/docs/%22x", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = resp.text().await.unwrap();
    assert!(!html.contains("<script>alert"), "{html}");
    assert!(html.contains("Sign in &lt;script&gt;alert(1)&lt;/script&gt;"));
    // The reference server serves no SSO sign-in: no dead SSO button; the
    // configuration's name goes with its JWT button.
    assert!(!html.contains("Okta"), "{html}");
    assert!(
        html.contains("<span class=\"config\">(&lt;b&gt;J&lt;/b&gt;)</span>"),
        "{html}"
    );
    assert!(html.contains("<label for=\"domain\">Domain name</label>"));
    assert!(html.contains("action=\"/login/domain\""));
    assert!(html.contains("name=\"redirectPath\" value=\"/docs/%22x\""), "{html}");
    server.stop().await;
}

async fn post_domain(server: &common::server::Running<SystemClock>, domain: &str) -> String {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("domain", domain)
        .append_pair("redirectPath", "/docs/x")
        .finish();
    let resp = client()
        .post(format!("{}/login/domain", server.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FOUND);
    without_challenge(resp.headers()["location"].to_str().unwrap())
}

/// A customer login URL without its login binding `codeChallenge` (checked
/// to be 43 characters when present), for comparing the rest.
fn without_challenge(url: &str) -> String {
    let mut parsed = url::Url::parse(url).unwrap();
    let pairs: Vec<(String, String)> = parsed.query_pairs().into_owned().collect();
    let mut kept = Vec::new();
    for (k, v) in pairs {
        if k == "codeChallenge" {
            assert_eq!(v.len(), 43);
        } else {
            kept.push((k, v));
        }
    }
    parsed.query_pairs_mut().clear().extend_pairs(kept);
    parsed.to_string()
}

#[tokio::test]
async fn domain_entry_routes_to_the_most_specific_active_configuration() {
    let support = "https://support.example.com/login?redirectPath=%2Fdocs%2Fx";
    let server = serve(project(
        true,
        vec![
            jwt("Parent", "example.com", true, false, 0),
            jwt("Support", "support.example.com", true, false, 1),
        ],
        vec![],
    ))
    .await;
    for input in [
        "Support.Example.COM.",
        "alice@support.example.com",
        "eu.support.example.com",
    ] {
        assert_eq!(post_domain(&server, input).await, support, "{input}");
    }
    assert_eq!(
        post_domain(&server, "example.com").await,
        "https://example.com/login?redirectPath=%2Fdocs%2Fx"
    );
    let default = format!("{}/login?redirectPath=%2Fdocs%2Fx", server.base);
    assert_eq!(post_domain(&server, "badexample.com").await, default);
    assert_eq!(post_domain(&server, "").await, default);
    server.stop().await;

    let server = serve(project(
        true,
        vec![
            jwt("Parent", "example.com", true, false, 0),
            jwt("Support", "support.example.com", false, false, 1),
        ],
        vec![],
    ))
    .await;
    let default = format!("{}/login?redirectPath=%2Fdocs%2Fx", server.base);
    assert_eq!(
        post_domain(&server, "Support.Example.COM.").await,
        default,
        "disabled: default options"
    );
    assert_eq!(post_domain(&server, "eu.support.example.com").await, default);
    server.stop().await;
}
