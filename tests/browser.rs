//! The browser suite: the reference KB server and the customer app driven
//! in headless Chromium over WebDriver (`fantoccini` and Debian's
//! `chromium` with `chromium-driver`), as readers meet them.
//!
//! It has its own harness (`harness = false`, libtest-mimic): one
//! `kb_server` (serving a project file), one `customer_app --kb` and one
//! chromedriver for the run, a browser session for every scenario, one
//! scenario at a time. Without `chromium` or `chromedriver` every
//! scenario is reported as ignored, with the reason, in the summary; with
//! `KB_SSO_REQUIRE_SERVERS=1` (CI) that is a failure instead. Screenshots
//! of each page state go to `target/browser-screenshots/`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::future::Future;
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use kb_sso::client::{HandshakeClaimsBuilder, HandshakeSigner};
use kb_sso::{ClientId, ClientSecret, Clock, SystemClock};
use libtest_mimic::{Arguments, Completion, Trial};
use serde_json::{Value, json};

type Scenario = for<'a> fn(&'a Env) -> Pin<Box<dyn Future<Output = ()> + 'a>>;

/// Every scenario, by name.
const SCENARIOS: &[(&str, Scenario)] = &[
    ("the_code_flow_returns_to_the_private_page_first_asked_for", |e| {
        Box::pin(code_flow(e))
    }),
    ("two_tabs_both_end_signed_in_on_their_own_pages", |e| {
        Box::pin(two_tabs(e))
    }),
    ("the_domain_field_reaches_the_matched_login_url", |e| {
        Box::pin(domain_matched(e))
    }),
    ("an_unmatched_domain_keeps_what_was_typed_and_says_why", |e| {
        Box::pin(domain_unmatched(e))
    }),
    ("logout_stays_signed_out", |e| Box::pin(logout(e))),
    ("a_handshake_token_by_query_opens_a_session", |e| {
        Box::pin(handshake_query(e))
    }),
    ("a_handshake_token_by_cookie_opens_a_session", |e| {
        Box::pin(handshake_cookie(e))
    }),
    ("the_login_page_in_each_state_by_keyboard_and_at_375_px", |e| {
        Box::pin(login_page_states(e))
    }),
    ("errors_are_pages_with_a_way_back", |e| Box::pin(error_pages(e))),
    (
        "the_readme_walk_through_two_tabs_then_logout_that_stays_signed_out",
        |e| Box::pin(readme_walk_through(e)),
    ),
];

const USER: &str = "john.doe";
const PASSWORD: &str = "correct horse battery staple";

fn main() -> ExitCode {
    let mut args = Arguments::from_args();
    // One browser at a time: scenarios in parallel would compete for the
    // two cores and make the waits flaky.
    args.test_threads.get_or_insert(1);
    let tools = match (find_tool("chromium"), find_tool("chromedriver")) {
        (Some(c), Some(d)) => Some((c, d)),
        _ => None,
    };
    let anything_runs = !args.list
        && SCENARIOS
            .iter()
            .any(|(name, _)| !args.is_filtered_out(&Trial::test(*name, || Ok(()))));
    let env = match tools {
        Some((chromium, chromedriver)) if anything_runs => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .unwrap();
            Some(rt.block_on(Env::start(&chromium, &chromedriver)))
        }
        _ => None,
    };
    let trials = SCENARIOS
        .iter()
        .map(|&(name, scenario)| {
            let this = env.as_ref().map(Env::clone_parts);
            Trial::ignorable_test(name, move || {
                let Some(mut this) = this else {
                    if support::servers_required() {
                        return Err("chromium or chromedriver is missing and KB_SSO_REQUIRE_SERVERS=1 is set".into());
                    }
                    return Ok(Completion::ignored_with(
                        "needs chromium and chromedriver (apt-get install chromium chromium-driver)",
                    ));
                };
                // Each scenario in its own runtime and browser: a panic is
                // its failure, the others go on.
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async move {
                    this.client = Some(this.browser().await);
                    let done = tokio::time::timeout(Duration::from_secs(120), scenario(&this)).await;
                    if let Some(c) = this.client.take() {
                        c.close().await.ok();
                    }
                    done.expect("timed out");
                });
                Ok(Completion::Completed)
            })
        })
        .collect();
    let conclusion = libtest_mimic::run(&args, trials);
    drop(env);
    conclusion.exit_code()
}

/// `name` in `/usr/bin` or on `PATH`.
fn find_tool(name: &str) -> Option<PathBuf> {
    let fixed = Path::new("/usr/bin").join(name);
    if fixed.is_file() {
        return Some(fixed);
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(name))
            .find(|p| p.is_file())
    })
}

/// A child process killed when dropped.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A free port on 127.0.0.1 (bound, then released).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The example binary `name` that `cargo test` built beside this test,
/// built each time (a no-op when up to date): `cargo test --test browser`
/// alone does not rebuild the examples.
fn example(name: &str) -> PathBuf {
    support::build_example(name);
    support::example_binary(name)
}

/// Starts `bin` with `args` and returns it with its first stdout line.
fn spawn_ready(bin: &Path, args: &[&str]) -> (Process, String) {
    let mut child = Command::new(bin)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut reader = BufReader::new(stdout);
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    // The rest is read and dropped, so that the child's later lines never
    // meet a closed pipe.
    std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));
    (Process(child), line)
}

/// Where screenshots go: `target/browser-screenshots/`.
fn screenshot_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    // target/debug/deps/browser-HASH
    let target = exe.ancestors().nth(3).unwrap().to_path_buf();
    let dir = target.join("browser-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The running KB, customer app and chromedriver, and one browser session.
struct Env {
    kb: String,
    customer: String,
    client_id: String,
    secret: String,
    driver_url: String,
    chromium: PathBuf,
    client: Option<Client>,
    _processes: std::sync::Arc<Vec<Process>>,
    _profile: std::sync::Arc<support::store_contract::TempDir>,
}

impl Env {
    async fn start(chromium: &Path, chromedriver: &Path) -> Self {
        let kb_port = free_port();
        let customer_port = free_port();
        let kb = format!("http://127.0.0.1:{kb_port}");
        // The customer app on `localhost`: its configuration's domain, typed
        // in the domain field.
        let customer = format!("http://localhost:{customer_port}");
        let client_id = ClientId::generate().to_string();
        let secret = ClientSecret::generate().expose().to_owned();
        let project = json!({
            "kb_url": kb,
            "settings": {"direct_jwt_login": false, "disable_default_login_page": true},
            "jwt": [{
                "name": "Customer app",
                "client_id": client_id,
                "login_url": format!("{customer}/login"),
                "primary_secret": secret,
                "secondary_secret": ClientSecret::generate().expose(),
                "show_login_button": true,
                "login_button_text": "Sign in with the customer app",
                "require_login_binding": true,
                "handshake": {"alg": "HS256", "audience": kb, "require_jti": true},
            }],
        });
        // Removed (with the browser profiles) when the last scenario is done.
        let dir = support::store_contract::TempDir::new("browser");
        let project_file = dir.path().join("project.json");
        std::fs::write(&project_file, project.to_string()).unwrap();
        let (kb_process, ready) = spawn_ready(
            &example("kb_server"),
            &[
                "--listen",
                &format!("127.0.0.1:{kb_port}"),
                "--project",
                project_file.to_str().unwrap(),
            ],
        );
        let ready: Value = serde_json::from_str(&ready).expect("kb_server's ready line");
        assert_eq!(ready["listening"], kb.as_str());
        let (customer_process, _) = spawn_ready(
            &example("customer_app"),
            &[
                "--kb",
                &kb,
                "--client-id",
                &client_id,
                "--client-secret",
                &secret,
                "--listen",
                &format!("127.0.0.1:{customer_port}"),
            ],
        );
        let driver_port = free_port();
        let driver = Command::new(chromedriver)
            .arg(format!("--port={driver_port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let driver_url = format!("http://127.0.0.1:{driver_port}");
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", driver_port)).is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Self {
            kb,
            customer,
            client_id,
            secret,
            driver_url,
            chromium: chromium.to_owned(),
            client: None,
            _processes: std::sync::Arc::new(vec![kb_process, customer_process, Process(driver)]),
            _profile: std::sync::Arc::new(dir),
        }
    }

    fn clone_parts(&self) -> Self {
        Self {
            kb: self.kb.clone(),
            customer: self.customer.clone(),
            client_id: self.client_id.clone(),
            secret: self.secret.clone(),
            driver_url: self.driver_url.clone(),
            chromium: self.chromium.clone(),
            client: None,
            _processes: self._processes.clone(),
            _profile: self._profile.clone(),
        }
    }

    /// A fresh headless Chromium with an empty profile (no cookies).
    async fn browser(&self) -> Client {
        let profile = self._profile.path().join(format!("profile-{}", ClientId::generate()));
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": self.chromium,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--disable-dev-shm-usage", "--window-size=1024,800",
                    format!("--user-data-dir={}", profile.display()),
                ],
            }),
        );
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(&self.driver_url)
            .await
            .expect("chromedriver starts a session")
    }

    fn c(&self) -> &Client {
        self.client.as_ref().unwrap()
    }

    async fn shot(&self, name: &str) {
        let png = self.c().screenshot().await.unwrap();
        std::fs::write(screenshot_dir().join(format!("{name}.png")), png).unwrap();
    }

    async fn url(&self) -> String {
        self.c().current_url().await.unwrap().to_string()
    }

    async fn text(&self) -> String {
        self.c().find(Locator::Css("body")).await.unwrap().text().await.unwrap()
    }

    /// The text of the first element matching `css`, once the page holds
    /// one: retried while a navigation is under way (a find in the middle
    /// of one is aborted by the browser).
    async fn element_text(&self, css: &str) -> String {
        for _ in 0..100 {
            if let Ok(el) = self.c().find(Locator::Css(css)).await
                && let Ok(text) = el.text().await
            {
                return text;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("no {css} at {}", self.url().await);
    }

    /// Waits until the page's URL starts with `prefix`.
    async fn wait_url(&self, prefix: &str) {
        for _ in 0..100 {
            if self.url().await.starts_with(prefix) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("never reached {prefix}: at {}: {}", self.url().await, self.text().await);
    }

    /// From the KB's login page: the JWT button, then the customer app's
    /// login form (skipped when already logged in there).
    async fn sign_in_by_button(&self, log_in_at_customer: bool) {
        self.c()
            .find(Locator::Css("a.button.jwt"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        if log_in_at_customer {
            self.wait_url(&format!("{}/login", self.customer)).await;
            self.log_in_at_customer().await;
        }
    }

    async fn log_in_at_customer(&self) {
        self.log_in_at_customer_with(PASSWORD).await;
    }

    /// The customer app's login form, sent with `password`.
    async fn log_in_at_customer_with(&self, password: &str) {
        let c = self.c();
        c.find(Locator::Id("u")).await.unwrap().send_keys(USER).await.unwrap();
        c.find(Locator::Id("p"))
            .await
            .unwrap()
            .send_keys(password)
            .await
            .unwrap();
        c.find(Locator::Css("button[type=submit]"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
    }

    /// Asserts the page is the KB's `path`, signed in.
    async fn assert_signed_in_on(&self, path: &str) {
        self.wait_url(&format!("{}{path}", self.kb)).await;
        let text = self.text().await;
        assert!(text.contains("Signed in as"), "{path}: {text}");
        assert_eq!(self.url().await, format!("{}{path}", self.kb));
    }

    /// A handshake token for the demo reader, HS256 with the
    /// configuration's secret, addressed to this KB.
    fn handshake_token(&self) -> String {
        let signer = HandshakeSigner::hs256(self.client_id.clone(), &ClientSecret::new(self.secret.clone())).unwrap();
        let claims = HandshakeClaimsBuilder::new()
            .subject(USER)
            .email("john.doe@example.com")
            .name("John Doe")
            .audience(self.kb.as_str());
        signer.sign(&claims, SystemClock.now()).unwrap()
    }
}

async fn code_flow(e: &Env) {
    e.c().goto(&format!("{}/docs/billing", e.kb)).await.unwrap();
    e.wait_url(&format!("{}/login", e.kb)).await;
    e.sign_in_by_button(true).await;
    e.assert_signed_in_on("/docs/billing").await;
    e.shot("signed-in-page").await;
}

async fn two_tabs(e: &Env) {
    let c = e.c();
    let first = c.window().await.unwrap();
    c.goto(&format!("{}/docs/billing", e.kb)).await.unwrap();
    e.wait_url(&format!("{}/login", e.kb)).await;
    let second = c.new_window(true).await.unwrap().handle;
    c.switch_to_window(second.clone()).await.unwrap();
    c.goto(&format!("{}/docs/getting-started", e.kb)).await.unwrap();
    e.wait_url(&format!("{}/login", e.kb)).await;
    // The first tab, opened first, finishes first.
    c.switch_to_window(first).await.unwrap();
    e.sign_in_by_button(true).await;
    e.assert_signed_in_on("/docs/billing").await;
    c.switch_to_window(second).await.unwrap();
    e.sign_in_by_button(false).await;
    e.assert_signed_in_on("/docs/getting-started").await;
}

/// The README's "In a browser" steps: `kb_server` with its demo project
/// (no project file), `customer_app --kb` with the ready line's client id
/// and secret, a private page in each of two tabs, signed in in each, then
/// "Sign out", which also ends the customer app's session (the demo
/// configuration's logout URL), so that a private page asks to sign in
/// again. Ports are free ones instead of the README's 8080 and 3000.
async fn readme_walk_through(e: &Env) {
    let (kb_port, customer_port) = (free_port(), free_port());
    let customer = format!("http://127.0.0.1:{customer_port}");
    let (kb_process, ready) = spawn_ready(
        &example("kb_server"),
        &[
            "--listen",
            &format!("127.0.0.1:{kb_port}"),
            "--login-url",
            &format!("{customer}/login"),
            "--logout-url",
            &format!("{customer}/logout"),
        ],
    );
    let ready: Value = serde_json::from_str(&ready).expect("kb_server's ready line");
    let kb = ready["listening"].as_str().unwrap().to_owned();
    let (customer_process, _) = spawn_ready(
        &example("customer_app"),
        &[
            "--kb",
            &kb,
            "--client-id",
            ready["client_id"].as_str().unwrap(),
            "--client-secret",
            ready["primary_secret"].as_str().unwrap(),
            "--listen",
            &format!("127.0.0.1:{customer_port}"),
        ],
    );
    let _processes = (kb_process, customer_process);
    let mut w = e.clone_parts();
    w.kb = kb.clone();
    w.customer = customer.clone();
    w.client = e.client.clone();
    let c = w.c();
    // Step 3: a private page in each of two tabs; each is sent to the
    // customer app's login.
    let first = c.window().await.unwrap();
    c.goto(&format!("{kb}/docs/billing")).await.unwrap();
    w.wait_url(&format!("{customer}/login")).await;
    let second = c.new_window(true).await.unwrap().handle;
    c.switch_to_window(second).await.unwrap();
    c.goto(&format!("{kb}/docs/getting-started")).await.unwrap();
    w.wait_url(&format!("{customer}/login")).await;
    // The second tab signs in first, then the first one.
    w.log_in_at_customer().await;
    w.assert_signed_in_on("/docs/getting-started").await;
    c.switch_to_window(first).await.unwrap();
    w.log_in_at_customer().await;
    w.assert_signed_in_on("/docs/billing").await;
    // Step 4: signing out ends both sessions and stays signed out.
    c.find(Locator::LinkText("Sign out"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    w.wait_url(&format!("{customer}/logout")).await;
    assert!(w.element_text("h1").await.contains("signed out"));
    w.shot("walk-through-signed-out").await;
    c.goto(&format!("{kb}/docs/billing")).await.unwrap();
    w.wait_url(&format!("{customer}/login")).await;
    assert!(!w.text().await.contains("Signed in as"));
    c.find(Locator::Id("u"))
        .await
        .expect("the login form: not signed straight back in");
    // Nothing of the scenario's browser is closed here: the suite does it.
    w.client = None;
}

async fn domain_matched(e: &Env) {
    let c = e.c();
    c.goto(&format!("{}/docs/billing", e.kb)).await.unwrap();
    e.wait_url(&format!("{}/login", e.kb)).await;
    c.find(Locator::Id("domain"))
        .await
        .unwrap()
        .send_keys("me@localhost")
        .await
        .unwrap();
    c.find(Locator::Css("form.domain button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    e.wait_url(&format!("{}/login?", e.customer)).await;
    let url = e.url().await;
    assert!(
        url.contains("codeChallenge=") && url.contains("redirectPath=%2Fdocs%2Fbilling"),
        "{url}"
    );
    e.log_in_at_customer().await;
    e.assert_signed_in_on("/docs/billing").await;
}

async fn domain_unmatched(e: &Env) {
    let c = e.c();
    c.goto(&format!("{}/login?redirectPath=/docs/billing", e.kb))
        .await
        .unwrap();
    c.find(Locator::Id("domain"))
        .await
        .unwrap()
        .send_keys("nobody.example")
        .await
        .unwrap();
    c.find(Locator::Css("form.domain button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let error = e.element_text("#domain-error").await;
    assert!(error.contains("nobody.example"), "{error}");
    let field = c.find(Locator::Id("domain")).await.unwrap();
    assert_eq!(field.prop("value").await.unwrap().as_deref(), Some("nobody.example"));
    assert_eq!(field.attr("aria-invalid").await.unwrap().as_deref(), Some("true"));
    e.shot("login-domain-unmatched").await;
    // Corrected, it goes on to sign in and back to the page asked for.
    field.clear().await.unwrap();
    field.send_keys("localhost").await.unwrap();
    c.find(Locator::Css("form.domain button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    e.wait_url(&format!("{}/login?", e.customer)).await;
    e.log_in_at_customer().await;
    e.assert_signed_in_on("/docs/billing").await;
}

async fn logout(e: &Env) {
    let c = e.c();
    c.goto(&format!("{}/docs/billing", e.kb)).await.unwrap();
    e.wait_url(&format!("{}/login", e.kb)).await;
    e.sign_in_by_button(true).await;
    e.assert_signed_in_on("/docs/billing").await;
    c.find(Locator::LinkText("Sign out"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    e.wait_url(&format!("{}/jwt/signed-out", e.kb)).await;
    e.shot("signed-out").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(e.url().await.starts_with(&format!("{}/jwt/signed-out", e.kb)));
    c.refresh().await.unwrap();
    assert!(e.url().await.starts_with(&format!("{}/jwt/signed-out", e.kb)));
    // A private page asks to sign in again: the session is over.
    c.goto(&format!("{}/docs/billing", e.kb)).await.unwrap();
    e.wait_url(&format!("{}/login", e.kb)).await;
    assert!(!e.text().await.contains("Signed in as"));
}

async fn handshake_query(e: &Env) {
    let c = e.c();
    // Logged in at the customer app (through the code flow), then signed
    // out of the KB alone by dropping its cookies.
    c.goto(&format!("{}/docs/billing", e.kb)).await.unwrap();
    e.wait_url(&format!("{}/login", e.kb)).await;
    e.sign_in_by_button(true).await;
    e.assert_signed_in_on("/docs/billing").await;
    c.delete_all_cookies().await.unwrap();
    // The customer app's link: a handshake token by query into the KB.
    c.goto(&format!("{}/", e.customer)).await.unwrap();
    e.shot("customer-app-home").await;
    c.find(Locator::LinkText("Open the KB with a handshake token"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    e.assert_signed_in_on("/docs/getting-started").await;
    // And the KB's `?jwt=` on a private page, in a fresh state.
    c.delete_all_cookies().await.unwrap();
    let token = e.handshake_token();
    c.goto(&format!("{}/docs/api-reference?jwt={token}", e.kb))
        .await
        .unwrap();
    e.assert_signed_in_on("/docs/api-reference").await;
}

async fn handshake_cookie(e: &Env) {
    let c = e.c();
    c.goto(&format!("{}/jwt/signed-out", e.kb)).await.unwrap();
    let token = e.handshake_token();
    c.execute(
        "document.cookie = 'jwt=' + arguments[0] + '; path=/'",
        vec![json!(token)],
    )
    .await
    .unwrap();
    c.goto(&format!("{}/docs/getting-started", e.kb)).await.unwrap();
    e.assert_signed_in_on("/docs/getting-started").await;
}

async fn login_page_states(e: &Env) {
    let c = e.c();
    c.goto(&format!("{}/login?redirectPath=/docs/billing", e.kb))
        .await
        .unwrap();
    assert_eq!(c.title().await.unwrap(), "Sign in \u{b7} the demo knowledge base");
    let h1 = c.find(Locator::Css("h1")).await.unwrap().text().await.unwrap();
    assert!(h1.starts_with("Sign in to "), "{h1}");
    e.shot("login-page").await;
    // Keyboard: Tab reaches the JWT button first, with a visible focus ring.
    let body = c.find(Locator::Css("body")).await.unwrap();
    body.send_keys("\u{E004}").await.unwrap();
    let active = c.active_element().await.unwrap();
    assert_eq!(active.attr("class").await.unwrap().as_deref(), Some("button jwt"));
    let outline = c
        .execute(
            "return getComputedStyle(document.activeElement).outlineStyle + ' ' + getComputedStyle(document.activeElement).outlineWidth",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(outline.as_str(), Some("solid 3px"), "focus ring");
    e.shot("login-page-focus-button").await;
    // Tab on to the domain field, type, Enter submits.
    body.send_keys("").await.ok();
    active.send_keys("\u{E004}").await.unwrap();
    let field = c.active_element().await.unwrap();
    assert_eq!(field.attr("id").await.unwrap().as_deref(), Some("domain"));
    assert_eq!(field.attr("autocomplete").await.unwrap().as_deref(), Some("email"));
    e.shot("login-page-focus-field").await;
    // Inputs and buttons share one font.
    let fonts = c
        .execute(
            "return [getComputedStyle(document.querySelector('#domain')).fontFamily, getComputedStyle(document.querySelector('form.domain button')).fontFamily]",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(fonts[0], fonts[1], "{fonts}");
    // At 375 px the card keeps a margin on both sides.
    c.set_window_size(375, 800).await.unwrap();
    let rect = c
        .execute(
            "const r = document.querySelector('main').getBoundingClientRect(); return [r.left, document.documentElement.clientWidth - r.right]",
            vec![],
        )
        .await
        .unwrap();
    assert!(
        rect[0].as_f64().unwrap() >= 8.0 && rect[1].as_f64().unwrap() >= 8.0,
        "{rect}"
    );
    e.shot("login-page-375px").await;
    c.set_window_size(1024, 800).await.unwrap();
    // The continue page a domain leads to, shown while it moves on.
    field.send_keys("localhost\u{E007}").await.unwrap();
    e.wait_url(&format!("{}/login?", e.customer)).await;
    e.shot("customer-app-login").await;
}

async fn error_pages(e: &Env) {
    let c = e.c();
    c.goto(&format!("{}/jwt/authorize?code=not-a-code", e.kb))
        .await
        .unwrap();
    let text = e.text().await;
    assert!(!text.trim_start().starts_with('{'), "JSON in the browser: {text}");
    let back = c.find(Locator::LinkText("Back to sign in")).await.unwrap();
    e.shot("error-page").await;
    back.click().await.unwrap();
    e.wait_url(&format!("{}/login", e.kb)).await;
    // The customer app's wrong password: the form again, with the message.
    c.goto(&format!("{}/login", e.customer)).await.unwrap();
    e.log_in_at_customer_with("wrong").await;
    let alert = e.element_text("[role=alert]").await;
    assert!(alert.contains("Wrong username or password"), "{alert}");
    e.shot("customer-app-wrong-password").await;
}
