//! The whole code flow over real localhost HTTP, narrated.
//!
//! ```text
//! cargo run --example demo
//! ```
//!
//! Starts the reference KB server in-process on a free port, then plays the
//! customer app: the reader asks for a private page, is sent to the
//! customer app's login, the app's backend asks the identity server for a
//! one-time code (HTTP Basic + JSON), redirects the reader to
//! `/jwt/authorize`, and the reader's browser follows the session cookie to
//! the page. Finally it shows that the code cannot be used twice.

mod common;

use std::net::SocketAddr;
use std::process::ExitCode;

use kb_sso::{ClientCredentials, ClientSecret, SystemClock};
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};
use serde_json::{Value, json};

type Error = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main]
async fn main() -> ExitCode {
    if std::env::args().skip(1).any(|a| a == "--help" || a == "-h") {
        println!(
            "demo: the whole code flow over real localhost HTTP, narrated.\n\n\
             usage: cargo run --example demo\n\n\
             Starts the reference KB server on a free port, plays the reader's browser and the\n\
             customer app (login binding, code request, /jwt/authorize, the private page), then\n\
             shows a reused code and a hostile redirect refused. Exits 0 when every step holds.\n\
             It takes no options."
        );
        return ExitCode::SUCCESS;
    }
    match run().await {
        Ok(()) => {
            println!("\nThe code flow works end to end.");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("\ndemo failed: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Error> {
    let any_port = SocketAddr::from(([127, 0, 0, 1], 0));
    let server = common::server::start(any_port, common::server::DEFAULT_LOGIN_URL, SystemClock).await?;
    let kb = server.base.clone();
    let project = server.project.clone();
    println!("KB server listening on {kb}");
    println!("  JWT configuration: client id {}", project.client_id);
    println!("  login URL:         {}\n", project.login_url);

    // A browser that does not follow redirects, so each step shows.
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;

    step(1, "The reader opens a private page without a session");
    let page = format!("{kb}/docs/getting-started");
    let resp = browser.get(&page).send().await?;
    expect(resp.status().as_u16() == 302, "a redirect to the login URL")?;
    let login = header(&resp, LOCATION)?;
    println!("  GET {page}\n  -> 302 Location: {login}");
    let binding = set_cookie(&resp, "kb_login_verifier")?;
    println!("     Set-Cookie: kb_login_verifier=<random verifier>; Path=/jwt/authorize; HttpOnly");
    let login = url::Url::parse(&login)?;
    let param = |name: &str| {
        login
            .query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
            .ok_or_else(|| format!("the login URL carries no {name}"))
    };
    let redirect_path = param("redirectPath")?;
    let challenge = param("codeChallenge")?;
    println!("  (the customer app will hand back redirectPath = {redirect_path} and codeChallenge:");
    println!("   the SHA-256 of the verifier the KB just left in this browser, so the code it");
    println!("   gets can open a session only here, never in a browser an attacker lures)\n");

    step(2, "The customer app's backend asks for a one-time code");
    let credentials = ClientCredentials::new(
        project.client_id.clone(),
        ClientSecret::new(project.primary_secret.clone()),
    );
    let payload = json!({
        "username": "john.doe",
        "firstName": "John",
        "lastName": "Doe",
        "emailId": "john.doe@example.com",
        "readerGroupIds": ["group1", "group2"],
        "tokenValidity": 15,
        "codeChallenge": challenge
    });
    let backend = reqwest::Client::new();
    let code = request_code(&backend, &kb, &credentials, &payload).await?;
    println!("  POST {kb}/api/jwt/generate-code  (Authorization: Basic <client id:secret>)");
    println!("  body {payload}");
    println!("  -> 200 {{\"code\": \"{code}\"}}\n");

    step(3, "The customer app redirects the reader to the callback URL");
    let mut callback = url::Url::parse(&format!("{kb}/jwt/authorize"))?;
    callback
        .query_pairs_mut()
        .append_pair("code", &code)
        .append_pair("redirectUrl", &redirect_path);
    let resp = browser.get(callback.as_str()).header(COOKIE, &binding).send().await?;
    expect(resp.status().as_u16() == 302, "a redirect to the page")?;
    let landing = header(&resp, LOCATION)?;
    let cookie = resp
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("kb_session="))
        .ok_or("no session cookie")?
        .to_owned();
    println!("  GET {callback}\n      Cookie: kb_login_verifier=<the verifier>\n  -> 302 Location: {landing}");
    println!("     Set-Cookie: {}\n", redact_cookie(&cookie));
    let session = cookie.split(';').next().unwrap_or_default().to_owned();

    step(4, "The browser follows the redirect with its session cookie");
    let resp = browser.get(&landing).header(COOKIE, &session).send().await?;
    expect(resp.status().as_u16() == 200, "the private page")?;
    let body: Value = resp.json().await?;
    println!(
        "  GET {landing}\n  -> 200 {}\n",
        serde_json::to_string_pretty(&body)?.replace('\n', "\n     ")
    );
    expect(body["reader"]["username"] == "john.doe", "the reader john.doe")?;

    step(5, "The same code, used a second time, is refused");
    let resp = browser.get(callback.as_str()).header(COOKIE, &binding).send().await?;
    let status = resp.status();
    let body: Value = resp.json().await?;
    println!("  GET {callback}\n  -> {} {body}", status.as_u16());
    expect(
        status.as_u16() == 400 && body["error"] == "invalid_grant",
        "400 invalid_grant",
    )?;

    step(6, "A hostile redirectUrl cannot send the reader off the KB");
    let fresh = request_code(&backend, &kb, &credentials, &payload).await?;
    let mut hostile = url::Url::parse(&format!("{kb}/jwt/authorize"))?;
    hostile
        .query_pairs_mut()
        .append_pair("code", &fresh)
        .append_pair("redirectUrl", "//evil.example/phish");
    let resp = browser.get(hostile.as_str()).header(COOKIE, &binding).send().await?;
    let landing = header(&resp, LOCATION)?;
    println!("  redirectUrl=//evil.example/phish -> 302 Location: {landing}");
    expect(landing == format!("{kb}/"), "the KB's home page")?;

    server.stop().await;
    Ok(())
}

/// The customer app's backend call: Basic credentials, JSON body, `{"code"}`.
async fn request_code(
    backend: &reqwest::Client,
    kb: &str,
    credentials: &ClientCredentials,
    payload: &Value,
) -> Result<String, Error> {
    let resp = backend
        .post(format!("{kb}/api/jwt/generate-code"))
        .header(AUTHORIZATION, credentials.to_basic_header().as_str())
        .header(CONTENT_TYPE, "application/json")
        .body(payload.to_string())
        .send()
        .await?;
    let status = resp.status();
    let body: Value = resp.json().await?;
    expect(status.as_u16() == 200, "200 with a code")?;
    Ok(body["code"].as_str().ok_or("no code in the answer")?.to_owned())
}

fn step(n: u32, what: &str) {
    println!("== {n}. {what}");
}

fn expect(ok: bool, what: &str) -> Result<(), Error> {
    if ok {
        Ok(())
    } else {
        Err(format!("expected {what}").into())
    }
}

/// The `name=value` pair of the cookie `name` that `resp` sets.
fn set_cookie(resp: &reqwest::Response, name: &str) -> Result<String, Error> {
    resp.headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with(&format!("{name}=")))
        .and_then(|c| c.split(';').next())
        .map(str::to_owned)
        .ok_or_else(|| format!("no {name} cookie").into())
}

fn header(resp: &reqwest::Response, name: reqwest::header::HeaderName) -> Result<String, Error> {
    Ok(resp
        .headers()
        .get(&name)
        .ok_or_else(|| format!("no {name} header"))?
        .to_str()?
        .to_owned())
}

/// Shows a cookie's attributes but not its value.
fn redact_cookie(cookie: &str) -> String {
    match cookie.split_once(';') {
        Some((pair, attrs)) => {
            let name = pair.split('=').next().unwrap_or_default();
            format!("{name}=<signed session>;{attrs}")
        }
        None => "<signed session>".to_owned(),
    }
}
