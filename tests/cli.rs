//! The `kb-sso` command line, run as the built binary: every command,
//! including bad input (a malformed token, a wrong key, a missing file, an
//! unreachable KB), each a clear message and a documented non-zero exit,
//! never a panic. `doctor` and `admin` run against `kb-sso serve` started
//! as a child process on a free loopback port.
#![cfg(feature = "cli")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command as StdCommand, Stdio};

use assert_cmd::Command;
use serde_json::Value;
use support::store_contract::TempDir;

/// Exit codes, as documented.
const FAILED: i32 = 1;
const USAGE: i32 = 2;
const IO: i32 = 3;

fn kb_sso() -> Command {
    let mut cmd = assert_cmd::cargo::cargo_bin_cmd!("kb-sso");
    cmd.env_remove("KB_SSO_ADMIN_TOKEN").env("NO_COLOR", "1");
    cmd
}

/// A fresh temporary directory, removed when the test is done.
fn temp_dir(name: &str) -> TempDir {
    TempDir::new(&format!("cli-{name}"))
}

/// Runs `kb-sso ARGS --json` and answers the exit code and the JSON object.
fn json_run(args: &[&str]) -> (i32, Value) {
    let output = kb_sso().args(args).arg("--json").output().unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    let value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"));
    (output.status.code().unwrap(), value)
}

/// Runs `kb-sso ARGS` and answers the exit code, stdout and stderr.
fn text_run(args: &[&str]) -> (i32, String, String) {
    let output = kb_sso().args(args).output().unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(!stderr.contains("panicked"), "{stderr}");
    (
        output.status.code().unwrap(),
        String::from_utf8(output.stdout).unwrap(),
        stderr,
    )
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

// ---------------------------------------------------------------------------
// keygen
// ---------------------------------------------------------------------------

#[test]
fn keygen_ed25519_writes_a_pkcs8_private_key_with_mode_0600_and_an_spki_public_key() {
    let dir = temp_dir("ed25519");
    let prefix = dir.join("handshake");
    let (code, out) = json_run(&["keygen", "ed25519", "--out", prefix.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    let private = std::fs::read_to_string(dir.join("handshake.key")).unwrap();
    let public = std::fs::read_to_string(dir.join("handshake.pub")).unwrap();
    assert!(private.starts_with("-----BEGIN PRIVATE KEY-----"), "{private}");
    assert!(public.starts_with("-----BEGIN PUBLIC KEY-----"), "{public}");
    assert!(kb_sso::SigningKey::ed25519_from_pkcs8_pem("k", &private).is_ok());
    assert!(kb_sso::HandshakeKey::ed25519_from_spki_pem(&public).is_ok());
    #[cfg(unix)]
    assert_eq!(mode(&dir.join("handshake.key")), 0o600);
    // The JSON names the files and never holds the private key.
    assert!(!out.to_string().contains("PRIVATE KEY"), "{out}");
    // A second run refuses to replace the files: an I/O failure.
    let (code, out) = json_run(&["keygen", "ed25519", "--out", prefix.to_str().unwrap()]);
    assert_eq!(code, IO, "{out}");
    assert!(out["error"].as_str().unwrap().contains("exists"), "{out}");
}

#[test]
fn keygen_hs256_writes_a_generated_secret_with_mode_0600_and_prints_one_only_without_a_file() {
    let dir = temp_dir("hs256");
    let file = dir.join("secret.txt");
    let (code, out) = json_run(&["keygen", "hs256", "--out", file.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    let secret = std::fs::read_to_string(&file).unwrap();
    assert!(kb_sso::ClientSecret::parse_generated(secret.trim()).is_ok());
    assert!(
        !out.to_string().contains(secret.trim()),
        "the written secret is not printed"
    );
    #[cfg(unix)]
    assert_eq!(mode(&file), 0o600);
    let (code, out) = json_run(&["keygen", "hs256"]);
    assert_eq!(code, 0);
    assert!(kb_sso::ClientSecret::parse_generated(out["secret"].as_str().unwrap()).is_ok());
}

#[test]
fn keygen_ring_writes_a_key_ring_the_server_loads_and_rotates_it() {
    let dir = temp_dir("ring");
    let file = dir.join("keys.json");
    let (code, out) = json_run(&["keygen", "ring", "--out", file.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    #[cfg(unix)]
    assert_eq!(mode(&file), 0o600);
    let ring = kb_sso::keys::KeyRing::load(&file).unwrap();
    assert_eq!(out["token_kids"][0].as_str(), ring.token_kids().first().copied());
    let (code, rotated) = json_run(&["keygen", "ring", "--rotate", file.to_str().unwrap()]);
    assert_eq!(code, 0, "{rotated}");
    assert_eq!(
        rotated["token_kids"][0], out["token_kids"][1],
        "the next key is current"
    );
    assert!(
        rotated["token_kids"]
            .as_array()
            .unwrap()
            .contains(&out["token_kids"][0]),
        "the old current key is kept: {rotated}"
    );
    let (code, _) = json_run(&["keygen", "ring", "--rotate", dir.join("none.json").to_str().unwrap()]);
    assert_eq!(code, IO);
}

// ---------------------------------------------------------------------------
// token
// ---------------------------------------------------------------------------

/// A fresh HS256 secret in a file.
fn secret_file(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, format!("{}\n", kb_sso::ClientSecret::generate().expose())).unwrap();
    path
}

fn sign(args: &[&str]) -> String {
    let (code, out) = json_run(&[&["token", "sign"], args].concat());
    assert_eq!(code, 0, "{out}");
    out["token"].as_str().unwrap().to_owned()
}

#[test]
fn token_inspect_shows_header_and_claims_unverified_with_times_in_utc() {
    let dir = temp_dir("inspect");
    let secret = secret_file(&dir, "s");
    let token = sign(&[
        "--secret-file",
        secret.to_str().unwrap(),
        "--kid",
        "k1",
        "--sub",
        "jdoe",
        "--lifetime",
        "120",
    ]);
    let (code, out) = json_run(&["token", "inspect", &token]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(out["verified"], false);
    assert_eq!(out["header"]["kid"], "k1");
    assert_eq!(out["claims"]["sub"], "jdoe");
    assert_eq!(out["lifetime_seconds"], 120);
    assert!(out["times"]["exp"]["utc"].as_str().unwrap().ends_with('Z'), "{out}");
    let (code, text, _) = text_run(&["token", "inspect", &token]);
    assert_eq!(code, 0);
    assert!(text.starts_with("UNVERIFIED"), "{text}");
    assert!(text.contains("(in 2m 0s)") || text.contains("(in 1m 59s)"), "{text}");
    // From stdin.
    let output = kb_sso()
        .args(["token", "inspect", "-", "--json"])
        .write_stdin(format!("{token}\n"))
        .output()
        .unwrap();
    assert!(output.status.success());
}

#[test]
fn a_malformed_token_is_a_clear_message_and_exit_2() {
    for bad in ["nope", "a.b", "!!!.???.###", "eyJhbGciOiJub25lIn0.e30"] {
        let (code, _, err) = text_run(&["token", "inspect", bad]);
        assert_eq!(code, USAGE, "{bad}");
        assert!(err.contains("not a JWT"), "{err}");
    }
    let dir = temp_dir("malformed");
    let secret = secret_file(&dir, "s");
    let (code, out) = json_run(&[
        "token",
        "verify",
        "abc.def.ghi",
        "--secret-file",
        secret.to_str().unwrap(),
    ]);
    assert_eq!(code, USAGE, "{out}");
    assert_eq!(out["jwt_error"], "malformed");
    let (code, _, err) = text_run(&["token", "inspect", ""]);
    assert_eq!(code, USAGE);
    assert!(err.contains("no token"), "{err}");
}

#[test]
fn token_verify_accepts_the_right_key_and_names_the_kbs_jwt_error_for_a_wrong_one() {
    let dir = temp_dir("verify");
    let secret = secret_file(&dir, "s");
    let other = secret_file(&dir, "other");
    let token = sign(&[
        "--secret-file",
        secret.to_str().unwrap(),
        "--kid",
        "k1",
        "--sub",
        "jdoe",
        "--audience",
        "https://kb.example.com",
    ]);
    let s = secret.to_str().unwrap();
    let (code, out) = json_run(&[
        "token",
        "verify",
        &token,
        "--secret-file",
        s,
        "--audience",
        "https://kb.example.com",
    ]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(out["valid"], true);
    assert_eq!(out["claims"]["sub"], "jdoe");
    // A wrong key: bad_signature, as the KB site reports it.
    let (code, out) = json_run(&["token", "verify", &token, "--secret-file", other.to_str().unwrap()]);
    assert_eq!(code, FAILED, "{out}");
    assert_eq!(out["jwt_error"], "bad_signature");
    // Another audience, another issuer.
    let (code, out) = json_run(&[
        "token",
        "verify",
        &token,
        "--secret-file",
        s,
        "--audience",
        "https://other.example.com",
    ]);
    assert_eq!(code, FAILED);
    assert_eq!(out["jwt_error"], "wrong_audience");
    let (code, out) = json_run(&[
        "token",
        "verify",
        &token,
        "--secret-file",
        s,
        "--issuer",
        "https://app.example.com",
    ]);
    assert_eq!(code, FAILED);
    assert_eq!(out["jwt_error"], "wrong_issuer");
    // A KB that requires jti refuses a token without one.
    let no_jti = sign(&["--secret-file", s, "--kid", "k1", "--no-jti"]);
    let (code, out) = json_run(&["token", "verify", &no_jti, "--secret-file", s, "--require-jti"]);
    assert_eq!(code, FAILED);
    assert_eq!(out["jwt_error"], "malformed");
    // Human output names the reason too.
    let (code, text, _) = text_run(&["token", "verify", &token, "--secret-file", other.to_str().unwrap()]);
    assert_eq!(code, FAILED);
    assert!(text.contains("jwt_error=bad_signature"), "{text}");
}

#[test]
fn token_sign_and_verify_eddsa_with_a_keygen_pair() {
    let dir = temp_dir("eddsa");
    let prefix = dir.join("hs");
    assert_eq!(json_run(&["keygen", "ed25519", "--out", prefix.to_str().unwrap()]).0, 0);
    let key = dir.join("hs.key");
    let public = dir.join("hs.pub");
    let token = sign(&[
        "--key",
        key.to_str().unwrap(),
        "--kid",
        "app",
        "--email",
        "a@example.com",
    ]);
    let (code, out) = json_run(&["token", "verify", &token, "--pem", public.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(out["claims"]["email"], "a@example.com");
    // Another pair's public key: bad_signature.
    let other = dir.join("other");
    assert_eq!(json_run(&["keygen", "ed25519", "--out", other.to_str().unwrap()]).0, 0);
    let (code, out) = json_run(&[
        "token",
        "verify",
        &token,
        "--pem",
        dir.join("other.pub").to_str().unwrap(),
    ]);
    assert_eq!(code, FAILED);
    assert_eq!(out["jwt_error"], "bad_signature");
    // Not a PEM: bad input.
    let (code, out) = json_run(&["token", "verify", &token, "--pem", dir.join("hs.key").to_str().unwrap()]);
    assert_eq!(code, USAGE, "{out}");
    // The callback URL.
    let (code, out) = json_run(&[
        "token",
        "sign",
        "--key",
        key.to_str().unwrap(),
        "--kid",
        "app",
        "--kb",
        "https://kb.example.com",
    ]);
    assert_eq!(code, 0);
    assert!(
        out["callback_url"]
            .as_str()
            .unwrap()
            .starts_with("https://kb.example.com/api/auth/jwt/callback?token=")
    );
}

#[test]
fn a_missing_key_file_is_an_io_failure_naming_the_file() {
    let (code, out) = json_run(&["token", "verify", "a.b.c", "--pem", "/nonexistent/kb-sso/key.pub"]);
    assert_eq!(code, IO, "{out}");
    assert!(
        out["error"].as_str().unwrap().contains("/nonexistent/kb-sso/key.pub"),
        "{out}"
    );
    let (code, _, err) = text_run(&["token", "sign", "--secret-file", "/nonexistent/s", "--kid", "k"]);
    assert_eq!(code, IO);
    assert!(err.contains("/nonexistent/s"), "{err}");
}

// ---------------------------------------------------------------------------
// project check
// ---------------------------------------------------------------------------

fn config_json(name: &str, host: &str) -> String {
    format!(
        r#"{{"name":"{name}","client_id":"{}","login_url":"https://{host}/login","primary_secret":"{}","secondary_secret":"{}"}}"#,
        kb_sso::ClientId::generate(),
        kb_sso::ClientSecret::generate().expose(),
        kb_sso::ClientSecret::generate().expose()
    )
}

#[test]
fn project_check_passes_a_valid_file() {
    let dir = temp_dir("project-ok");
    let file = dir.join("project.json");
    std::fs::write(
        &file,
        format!(
            r#"{{"kb_url":"https://kb.example.com","jwt":[{}]}}"#,
            config_json("A", "a.example.com")
        ),
    )
    .unwrap();
    let (code, out) = json_run(&["project", "check", file.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(out["jwt_configs"], 1);
}

#[test]
fn project_check_reports_every_problem_with_its_field_path() {
    let dir = temp_dir("project-bad");
    let file = dir.join("project.json");
    let bad_secret =
        config_json("A", "a.example.com").replacen(r#""primary_secret":""#, r#""primary_secret":"short","x":""#, 1);
    assert!(bad_secret.contains("\"x\""));
    let text = format!(
        r#"{{"extra":1,"settings":{{"visibility":"sideways"}},"jwt":[{},{},{}],"widget":{{"client_id":"w","client_secret":"bad"}}}}"#,
        config_json("B", "b.example.com").replace("https://b.example.com/login", "ftp://b.example.com/"),
        config_json("C", "c.example.com").replace(r#""name":"C""#, r#""name":"C","enabled":"yes""#),
        config_json("D", "d.example.com").replacen(
            r#""primary_secret":""#,
            r#""handshake":{"alg":"RS256"},"primary_secret":"x"#,
            1
        ),
    );
    std::fs::write(&file, text).unwrap();
    let (code, out) = json_run(&["project", "check", file.to_str().unwrap()]);
    assert_eq!(code, FAILED, "{out}");
    let fields: Vec<&str> = out["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["field"].as_str().unwrap())
        .collect();
    for expected in [
        "extra",
        "settings.visibility",
        "jwt[0].login_url",
        "jwt[1].enabled",
        "jwt[2].primary_secret",
        "jwt[2].handshake.alg",
        "widget.client_secret",
    ] {
        assert!(fields.contains(&expected), "{expected} missing from {fields:?}");
    }
    // The text output names them too.
    let (code, text, _) = text_run(&["project", "check", file.to_str().unwrap()]);
    assert_eq!(code, FAILED);
    assert!(text.contains("jwt[1].enabled: "), "{text}");
}

#[test]
fn project_check_names_a_rule_between_configurations() {
    let dir = temp_dir("project-dup");
    let file = dir.join("project.json");
    std::fs::write(
        &file,
        format!(
            r#"{{"jwt":[{},{}]}}"#,
            config_json("A", "a.example.com"),
            config_json("B", "A.Example.com")
        ),
    )
    .unwrap();
    let (code, out) = json_run(&["project", "check", file.to_str().unwrap()]);
    assert_eq!(code, FAILED, "{out}");
    assert_eq!(out["problems"][0]["field"], "jwt[1]", "{out}");
    assert!(
        out["problems"][0]["message"]
            .as_str()
            .unwrap()
            .contains("a.example.com"),
        "{out}"
    );
}

#[test]
fn project_check_of_a_missing_file_or_broken_json() {
    let (code, out) = json_run(&["project", "check", "/nonexistent/project.json"]);
    assert_eq!(code, IO, "{out}");
    let output = kb_sso()
        .args(["project", "check", "-", "--json"])
        .write_stdin("{\"jwt\": [")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(FAILED));
    let out: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(
        out["problems"][0]["field"].as_str().unwrap().starts_with("line 1"),
        "{out}"
    );
}

// ---------------------------------------------------------------------------
// serve, doctor, admin
// ---------------------------------------------------------------------------

/// `kb-sso serve` on a free loopback port, stopped on drop.
struct Server {
    child: Child,
    ready: Value,
}

impl Server {
    fn start() -> Self {
        let mut child = StdCommand::new(assert_cmd::cargo::cargo_bin!("kb-sso"))
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--login-url",
                "http://127.0.0.1:9/login",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let ready: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("ready line {line:?}: {e}"));
        Self { child, ready }
    }

    fn url(&self) -> &str {
        self.ready["listening"].as_str().unwrap()
    }

    fn client_id(&self) -> &str {
        self.ready["client_id"].as_str().unwrap()
    }

    fn write(&self, dir: &Path, field: &str) -> PathBuf {
        let path = dir.join(field);
        std::fs::write(&path, format!("{}\n", self.ready[field].as_str().unwrap())).unwrap();
        path
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn serve_prints_the_kb_server_ready_line() {
    let server = Server::start();
    assert!(server.url().starts_with("http://127.0.0.1:"));
    for field in [
        "client_id",
        "primary_secret",
        "secondary_secret",
        "login_url",
        "admin_token",
    ] {
        assert!(server.ready[field].is_string(), "{field}: {}", server.ready);
    }
    // Another login URL than the customer app's default: no logout URL is
    // guessed for it.
    assert!(server.ready.get("logout_url").is_none(), "{}", server.ready);
}

/// With the default login URL (the customer app's), the demo configuration
/// also sends readers who sign out to the customer app's `/logout`, so that
/// signing out of the KB is not undone by the app's own session.
#[test]
fn serve_with_the_default_login_url_signs_readers_out_of_the_customer_app_too() {
    let mut child = StdCommand::new(assert_cmd::cargo::cargo_bin!("kb-sso"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    let ready: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(ready["login_url"], "http://127.0.0.1:3000/login");
    assert_eq!(ready["logout_url"], "http://127.0.0.1:3000/logout");
}

#[test]
fn doctor_passes_against_the_reference_server() {
    let server = Server::start();
    let dir = temp_dir("doctor-ok");
    let secret = server.write(&dir, "primary_secret");
    let args = [
        "doctor",
        "--kb",
        server.url(),
        "--client-id",
        server.client_id(),
        "--client-secret-file",
        secret.to_str().unwrap(),
    ];
    let (code, out) = json_run(&args);
    assert_eq!(code, 0, "{out}");
    assert_eq!(out["ok"], true);
    let names: Vec<&str> = out["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "inputs",
            "jwks",
            "generate code",
            "redeem code",
            "verify id_token",
            "claims"
        ]
    );
    let (code, text, _) = text_run(&args);
    assert_eq!(code, 0);
    assert!(text.contains("passes the spec's test"), "{text}");
    assert!(
        !text.contains(server.ready["primary_secret"].as_str().unwrap()),
        "the secret is never printed"
    );
}

#[test]
fn doctor_names_a_wrong_secret() {
    let server = Server::start();
    let dir = temp_dir("doctor-secret");
    let wrong = secret_file(&dir, "wrong");
    let (code, out) = json_run(&[
        "doctor",
        "--kb",
        server.url(),
        "--client-id",
        server.client_id(),
        "--client-secret-file",
        wrong.to_str().unwrap(),
    ]);
    assert_eq!(code, FAILED, "{out}");
    let step = out["steps"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(step["name"], "generate code");
    assert!(step["detail"].as_str().unwrap().contains("401"), "{step}");
    assert!(step["cause"].as_str().unwrap().starts_with("Wrong secret"), "{step}");
}

#[test]
fn doctor_names_a_disabled_configuration() {
    let server = Server::start();
    let dir = temp_dir("doctor-disabled");
    let token = server.write(&dir, "admin_token");
    let secret = server.write(&dir, "primary_secret");
    let (code, out) = json_run(&[
        "admin",
        "--kb",
        server.url(),
        "--token-file",
        token.to_str().unwrap(),
        "config",
        "disable",
        server.client_id(),
    ]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(out["body"]["enabled"], false, "{out}");
    let (code, out) = json_run(&[
        "doctor",
        "--kb",
        server.url(),
        "--client-id",
        server.client_id(),
        "--client-secret-file",
        secret.to_str().unwrap(),
    ]);
    assert_eq!(code, FAILED, "{out}");
    let step = out["steps"].as_array().unwrap().last().unwrap().clone();
    assert!(step["detail"].as_str().unwrap().contains("403"), "{step}");
    assert!(step["cause"].as_str().unwrap().contains("disabled"), "{step}");
}

#[test]
fn doctor_warns_that_token_validity_is_in_minutes() {
    let server = Server::start();
    let dir = temp_dir("doctor-validity");
    let secret = server.write(&dir, "primary_secret");
    let payload = dir.join("payload.json");
    std::fs::write(
        &payload,
        r#"{"username":"jdoe","firstName":"J","lastName":"Doe","emailId":"jdoe@example.com","tokenValidity":3600}"#,
    )
    .unwrap();
    let (code, out) = json_run(&[
        "doctor",
        "--kb",
        server.url(),
        "--client-id",
        server.client_id(),
        "--client-secret-file",
        secret.to_str().unwrap(),
        "--payload",
        payload.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}");
    let warning = out["steps"][0]["warning"].as_str().unwrap();
    assert!(warning.contains("MINUTES") && warning.contains("1440"), "{warning}");
}

#[test]
fn doctor_against_an_unreachable_kb_is_an_io_failure() {
    let dir = temp_dir("doctor-unreachable");
    let secret = secret_file(&dir, "s");
    // A port that was free a moment ago.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let kb = format!("http://127.0.0.1:{port}");
    let args = [
        "doctor",
        "--kb",
        kb.as_str(),
        "--client-id",
        "93ef716b-d99c-4b74-8f61-67e73c106cf0",
        "--client-secret-file",
        secret.to_str().unwrap(),
    ];
    let (code, out) = json_run(&args);
    assert_eq!(code, IO, "{out}");
    assert!(out["error"].as_str().unwrap().contains("cannot reach"), "{out}");
    let (code, text, _) = text_run(&args);
    assert_eq!(code, IO);
    assert!(text.contains("Nothing answered"), "{text}");
    // Not a URL at all: bad input.
    let (code, _) = json_run(&[
        "doctor",
        "--kb",
        "not a url",
        "--client-id",
        "x",
        "--client-secret-file",
        "/dev/null",
    ]);
    assert_eq!(code, USAGE);
}

#[test]
fn admin_shows_the_project_creates_a_configuration_with_secrets_once_and_refuses_a_wrong_token() {
    let server = Server::start();
    let dir = temp_dir("admin");
    let token = server.write(&dir, "admin_token");
    let t = token.to_str().unwrap();
    let (code, out) = json_run(&["admin", "--kb", server.url(), "--token-file", t, "project"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(out["body"]["jwt"][0]["client_id"], server.client_id());
    assert!(
        !out.to_string()
            .contains(server.ready["primary_secret"].as_str().unwrap())
    );
    // Create, the secrets to 0600 files.
    let prefix = dir.join("portal");
    let (code, out) = json_run(&[
        "admin",
        "--kb",
        server.url(),
        "--token-file",
        t,
        "config",
        "create",
        "--name",
        "Portal",
        "--login-url",
        "https://portal.example.com/login",
        "--out",
        prefix.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out["body"].get("primary_secret").is_none(),
        "written, not printed: {out}"
    );
    let primary = dir.join("portal.primary");
    assert!(kb_sso::ClientSecret::parse_generated(std::fs::read_to_string(&primary).unwrap().trim()).is_ok());
    #[cfg(unix)]
    assert_eq!(mode(&primary), 0o600);
    // The new configuration passes the doctor with its written secret.
    let id = out["body"]["client_id"].as_str().unwrap().to_owned();
    let (code, out) = json_run(&[
        "doctor",
        "--kb",
        server.url(),
        "--client-id",
        &id,
        "--client-secret-file",
        primary.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}");
    // Regenerating the primary secret: printed once; the old one fails.
    let (code, out) = json_run(&[
        "admin",
        "--kb",
        server.url(),
        "--token-file",
        t,
        "config",
        "regenerate-secret",
        &id,
        "--which",
        "primary",
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(out["body"]["secret"].is_string());
    let (code, _) = json_run(&[
        "doctor",
        "--kb",
        server.url(),
        "--client-id",
        &id,
        "--client-secret-file",
        primary.to_str().unwrap(),
    ]);
    assert_eq!(code, FAILED);
    // A wrong token: refused, exit 1; no token at all: usage.
    let wrong = secret_file(&dir, "wrong-token");
    let (code, out) = json_run(&[
        "admin",
        "--kb",
        server.url(),
        "--token-file",
        wrong.to_str().unwrap(),
        "project",
    ]);
    assert_eq!(code, FAILED, "{out}");
    assert_eq!(out["status"], 401);
    let (code, _) = json_run(&["admin", "--kb", server.url(), "project"]);
    assert_eq!(code, USAGE);
}

#[test]
fn admin_and_token_verify_against_an_unreachable_kb_are_io_failures() {
    let dir = temp_dir("admin-unreachable");
    let token = secret_file(&dir, "t");
    let (code, out) = json_run(&[
        "admin",
        "--kb",
        "http://127.0.0.1:9",
        "--token-file",
        token.to_str().unwrap(),
        "project",
    ]);
    assert_eq!(code, IO, "{out}");
    let (code, out) = json_run(&[
        "token",
        "verify",
        "a.b.c",
        "--jwks",
        "http://127.0.0.1:9/.well-known/jwks.json",
    ]);
    assert_eq!(code, IO, "{out}");
}

#[test]
fn token_verify_with_the_kbs_jwks_url() {
    let server = Server::start();
    let dir = temp_dir("jwks");
    let secret = secret_file(&dir, "s");
    let token = sign(&["--secret-file", secret.to_str().unwrap(), "--kid", "k1"]);
    let jwks = format!("{}/.well-known/jwks.json", server.url());
    let (code, out) = json_run(&["token", "verify", &token, "--jwks", &jwks]);
    assert_eq!(code, FAILED, "{out}");
    assert_eq!(out["jwt_error"], "bad_signature", "a key the KB does not know");
}

// ---------------------------------------------------------------------------
// help, completions, usage
// ---------------------------------------------------------------------------

#[test]
fn every_command_has_help_with_examples() {
    for command in [
        &["--help"][..],
        &["keygen", "--help"],
        &["token", "--help"],
        &["project", "--help"],
        &["doctor", "--help"],
        &["admin", "--help"],
        &["completions", "--help"],
        &["serve", "--help"],
    ] {
        let (code, text, _) = text_run(command);
        assert_eq!(code, 0, "{command:?}");
        assert!(text.contains("Examples:"), "{command:?}: {text}");
    }
    let (code, text, _) = text_run(&["--help"]);
    assert_eq!(code, 0);
    assert!(text.contains("Exit codes:"), "{text}");
    let (code, text, _) = text_run(&["serve", "--help"]);
    assert_eq!(code, 0);
    assert!(text.contains("--new-keys"), "the kb_server flags: {text}");
}

#[test]
fn completions_are_generated_for_each_shell() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let (code, text, _) = text_run(&["completions", shell]);
        assert_eq!(code, 0, "{shell}");
        assert!(text.contains("kb-sso"), "{shell}");
    }
}

#[test]
fn usage_errors_exit_2() {
    let (code, _, err) = text_run(&["token", "frobnicate"]);
    assert_eq!(code, USAGE);
    assert!(err.contains("frobnicate"), "{err}");
    let (code, _, _) = text_run(&["token", "verify", "a.b.c"]);
    assert_eq!(code, USAGE, "a key source is required");
}

/// `kb-sso ... | head` closes the pipe early: the command ends quietly,
/// never with a panic.
#[test]
fn a_closed_output_pipe_is_not_a_panic() {
    for args in [&["completions", "bash"][..], &["keygen", "hs256"][..]] {
        let mut child = StdCommand::new(assert_cmd::cargo::cargo_bin!("kb-sso"))
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Close the reading end before the command writes.
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert!(out.status.code().is_some_and(|c| c < 100), "{args:?}: {:?}", out.status);
    }
}
