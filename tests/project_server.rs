//! `kb_server --project FILE`: a project with five configurations serves
//! the code flow for each; a file that breaks a rule makes it exit 2 with a
//! message naming the problem.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use kb_sso::{ClientCredentials, ClientId, ClientSecret};
use serde_json::{Value, json};

/// How long the server may take to start or to answer one request.
const WAIT: std::time::Duration = std::time::Duration::from_secs(60);

/// The `kb_server` example binary `cargo test` built beside this test.
fn kb_server() -> PathBuf {
    support::example_binary("kb_server")
}

struct Config {
    client_id: String,
    secret: String,
    value: Value,
}

fn config(i: usize, host: &str, button: bool) -> Config {
    let client_id = ClientId::generate().to_string();
    let secret = ClientSecret::generate().expose().to_owned();
    let value = json!({
        "name": format!("Config {i}"),
        "client_id": client_id,
        "login_url": format!("https://{host}/login"),
        "logout_url": null,
        "primary_secret": secret,
        "secondary_secret": ClientSecret::generate().expose(),
        "enabled": true,
        "show_login_button": button,
        "login_button_text": if button { Some(format!("Sign in {i}")) } else { None },
        "cta_position": i,
    });
    Config {
        client_id,
        secret,
        value,
    }
}

fn write_project(name: &str, configs: &[Config]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kb-sso-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    let project = json!({
        "settings": {"direct_jwt_login": true, "disable_default_login_page": false},
        "jwt": configs.iter().map(|c| c.value.clone()).collect::<Vec<_>>(),
        "sso": [{"name": "Okta", "kind": "saml", "enabled": true, "cta_position": 0}],
    });
    std::fs::write(&path, project.to_string()).unwrap();
    path
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn five_configurations_each_serve_the_code_flow() {
    let configs: Vec<Config> = (0..5)
        .map(|i| config(i, &format!("app{i}.example.com"), i < 3))
        .collect();
    let path = write_project("five.json", &configs);
    let mut child = Command::new(kb_server())
        .args(["--listen", "127.0.0.1:0", "--project"])
        .arg(&path)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let _server = Server(child);
    // A server that never says it is ready fails the test instead of
    // hanging it (dropping `_server` kills the child, which ends the read).
    let line = tokio::time::timeout(
        WAIT,
        tokio::task::spawn_blocking(move || {
            let mut line = String::new();
            BufReader::new(stdout).read_line(&mut line).unwrap();
            line
        }),
    )
    .await
    .expect("kb_server printed no ready line in time")
    .unwrap();
    let ready: Value = serde_json::from_str(&line).unwrap();
    let base = ready["listening"].as_str().unwrap().to_owned();
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(WAIT)
        .build()
        .unwrap();
    for c in &configs {
        let basic = ClientCredentials::new(c.client_id.clone(), ClientSecret::new(c.secret.clone())).to_basic_header();
        let resp = client
            .post(format!("{base}/api/jwt/generate-code"))
            .header("authorization", basic.as_str())
            .header("content-type", "application/json")
            .body(r#"{"username":"u","firstName":"","lastName":"","emailId":"u@example.com"}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "config {}", c.client_id);
        let code: Value = resp.json().await.unwrap();
        let resp = client
            .get(format!("{base}/jwt/authorize?code={}", code["code"].as_str().unwrap()))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 302);
        assert!(resp.headers().get("set-cookie").is_some());
    }
}

fn refused(name: &str, configs: &[Config]) -> String {
    let path = write_project(name, configs);
    let child = Command::new(kb_server())
        .args(["--listen", "127.0.0.1:0", "--project"])
        .arg(&path)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A server that starts instead of exiting is killed after WAIT, so the
    // test fails instead of hanging.
    let pid = child.id();
    let (done, waited) = std::sync::mpsc::channel();
    let watchdog = std::thread::spawn(move || {
        if waited.recv_timeout(WAIT).is_err() {
            let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
        }
    });
    let out = child.wait_with_output().unwrap();
    let _ = done.send(());
    watchdog.join().unwrap();
    assert_eq!(out.status.code(), Some(2), "{name} must exit 2");
    assert!(out.stdout.is_empty(), "no ready line");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_sixth_configuration_is_refused_with_exit_status_2() {
    let configs: Vec<Config> = (0..6)
        .map(|i| config(i, &format!("app{i}.example.com"), false))
        .collect();
    let err = refused("six.json", &configs);
    assert!(err.contains("jwt[5]") && err.contains("at most 5"), "{err}");
}

#[test]
fn a_duplicate_domain_in_any_case_is_refused_with_exit_status_2() {
    let configs = vec![
        config(0, "portal.example.com", false),
        config(1, "Portal.EXAMPLE.com", false),
    ];
    let err = refused("dup.json", &configs);
    assert!(err.contains("jwt[1]") && err.contains("portal.example.com"), "{err}");
}

#[test]
fn a_fourth_login_button_is_refused_with_exit_status_2() {
    let configs: Vec<Config> = (0..4)
        .map(|i| config(i, &format!("app{i}.example.com"), true))
        .collect();
    let err = refused("buttons.json", &configs);
    assert!(err.contains("jwt[3]") && err.contains("login buttons"), "{err}");
}

#[test]
fn a_malformed_secret_or_field_is_refused_with_exit_status_2() {
    let mut c = config(0, "app.example.com", false);
    c.value["primary_secret"] = json!("too-short");
    let err = refused("secret.json", &[c]);
    assert!(err.contains("jwt[0].primary_secret"), "{err}");
    let mut c = config(0, "app.example.com", false);
    c.value["login_url"] = json!("ftp://app.example.com/");
    let err = refused("url.json", &[c]);
    assert!(err.contains("jwt[0].login_url"), "{err}");
}
