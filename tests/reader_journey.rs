//! The reader's journey over real localhost HTTP against the reference
//! server, driven by the spec documents' own samples as they send them:
//! the reader asks for a page, is sent to sign in, comes back through the
//! sample's redirect and ends on the page first asked for, signed in.
//! Then one test per point of the journey: a code on any URL, the
//! return-target cookie, the signed-out page, handshake session modes,
//! what a session remembers, the widget API, visibility and the login
//! page's controls (DESIGN 3.16-3.22).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../examples/common/mod.rs"]
mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ed25519_dalek::Signer as _;
use ed25519_dalek::pkcs8::DecodePrivateKey as _;
use kb_sso::{ClientId, ClientSecret, Clock, SettableClock};
use reqwest::StatusCode;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE, WWW_AUTHENTICATE};
use serde_json::{Value, json};
use time::Duration;

type Server = common::server::Running<Arc<SettableClock>>;

const LOGIN_URL: &str = "https://app.example.com/login";
const PAGE: &str = "/docs/5-basic-things-to-get-started?x=1";

fn any_port() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

fn clock() -> Arc<SettableClock> {
    Arc::new(SettableClock::new(time::OffsetDateTime::now_utc()))
}

async fn demo() -> Server {
    common::server::start(any_port(), LOGIN_URL, clock()).await.unwrap()
}

async fn demo_at(clock: Arc<SettableClock>) -> Server {
    common::server::start(any_port(), LOGIN_URL, clock).await.unwrap()
}

/// Serves a project file (written to a temporary file and loaded as
/// `kb_server --project` does).
async fn serve(project: Value, clock: Arc<SettableClock>) -> Server {
    let path = std::env::temp_dir().join(format!("kb-sso-journey-{}.json", ClientId::generate()));
    std::fs::write(&path, project.to_string()).unwrap();
    let loaded = common::server::load_project_file(path.to_str().unwrap()).unwrap();
    let _ = std::fs::remove_file(&path);
    common::server::start_project(any_port(), loaded, clock).await.unwrap()
}

/// A browser: a cookie jar (host-only cookies of the KB) and no automatic
/// redirects, so that each hop can be checked.
struct Browser {
    client: reqwest::Client,
    jar: Mutex<BTreeMap<String, String>>,
}

impl Browser {
    fn new() -> Self {
        Self {
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            jar: Mutex::new(BTreeMap::new()),
        }
    }

    fn set(&self, name: &str, value: &str) {
        self.jar.lock().unwrap().insert(name.to_owned(), value.to_owned());
    }

    fn cookie(&self, name: &str) -> Option<String> {
        self.jar.lock().unwrap().get(name).cloned()
    }

    async fn get_with(&self, url: &str, accept: &str) -> reqwest::Response {
        let cookies: Vec<String> = self
            .jar
            .lock()
            .unwrap()
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let mut req = self.client.get(url).header(ACCEPT, accept);
        if !cookies.is_empty() {
            req = req.header(COOKIE, cookies.join("; "));
        }
        let resp = req.send().await.unwrap();
        let mut jar = self.jar.lock().unwrap();
        for line in resp.headers().get_all(SET_COOKIE) {
            let line = line.to_str().unwrap();
            let (pair, attributes) = line.split_once(';').unwrap_or((line, ""));
            let (name, value) = pair.split_once('=').unwrap();
            if attributes.contains("Max-Age=0") {
                jar.remove(name);
            } else {
                jar.insert(name.to_owned(), value.to_owned());
            }
        }
        resp
    }

    async fn get(&self, url: &str) -> reqwest::Response {
        self.get_with(url, "text/html,application/xhtml+xml,*/*;q=0.8").await
    }

    /// Follows the KB's own redirects from `url`; answers the last
    /// response and its URL (a redirect off the KB stops there).
    async fn follow(&self, server: &Server, url: &str) -> (String, reqwest::Response) {
        let mut url = url.to_owned();
        for _ in 0..5 {
            let resp = self.get(&url).await;
            if resp.status() != StatusCode::FOUND {
                return (url, resp);
            }
            let next = location(&resp);
            let next = if next.starts_with('/') {
                format!("{}{next}", server.base)
            } else {
                next
            };
            if !next.starts_with(&server.base) {
                return (url, resp);
            }
            url = next;
        }
        panic!("a redirect loop from {url}");
    }
}

fn location(resp: &reqwest::Response) -> String {
    resp.headers()[LOCATION].to_str().unwrap().to_owned()
}

fn set_cookie(resp: &reqwest::Response, name: &str) -> Option<String> {
    resp.headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with(&format!("{name}=")))
}

fn query_of(url: &str) -> BTreeMap<String, String> {
    url::Url::parse(url).unwrap().query_pairs().into_owned().collect()
}

/// The reader on a page, as the reference server's `/docs` pages show it.
async fn page_reader(browser: &Browser, url: &str) -> Value {
    let resp = browser.get(url).await;
    assert_eq!(
        resp.status(),
        StatusCode::OK,
        "{url}: {:?}",
        resp.headers().get(LOCATION)
    );
    resp.json::<Value>().await.unwrap()
}

/// The reader asks for a private page and is sent to the customer app's
/// login URL; answers the `redirectPath` the KB passed.
async fn asks_for_the_page(server: &Server, browser: &Browser, page: &str) -> String {
    let resp = browser.get(&format!("{}{page}", server.base)).await;
    assert_eq!(resp.status(), StatusCode::FOUND);
    let login = location(&resp);
    assert!(login.starts_with(LOGIN_URL), "{login}");
    let query = query_of(&login);
    assert_eq!(query["redirectPath"], page);
    assert!(browser.cookie("kb_return").is_some(), "the page is remembered");
    query["redirectPath"].clone()
}

/// The reader follows the sample's redirect and ends on `page`, signed in
/// as john.doe.
async fn comes_back_signed_in(server: &Server, browser: &Browser, sample_url: &str, page: &str) {
    let (last, resp) = browser.follow(server, sample_url).await;
    assert_eq!(
        last,
        format!("{}{page}", server.base),
        "ends on the page first asked for"
    );
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["reader"]["username"], "john.doe");
    assert_eq!(body["reader"]["groups"], json!(["group1", "group2"]));
    assert_eq!(body["path"], page);
    assert!(browser.cookie("kb_return").is_none(), "the remembered page is spent");
}

// ---------------------------------------------------------------------------
// The code-flow samples of document360-jwt-sso, as sent
// ---------------------------------------------------------------------------

/// The Node (express + axios) sample: `POST` to the legacy
/// `/jwt/generateCode`, `Authorization: Basic` from
/// `Buffer.from(`${clientId}:${clientSecret}`).toString('base64')`, JSON
/// with `tokenValidity: 3600`, then `res.redirect(`${kbLoginUrl}?code=${tokenCode}`)`
/// with `kbLoginUrl` the KB's `/jwt/authorize`.
async fn node_sample(server: &Server) -> String {
    let p = &server.project;
    let auth_header = STANDARD.encode(format!("{}:{}", p.client_id, p.primary_secret));
    let payload = json!({
        "username": "john.doe",
        "firstName": "John",
        "lastName": "Doe",
        "emailId": "john.doe@example.com",
        "readerGroupIds": ["group1", "group2"],
        "tokenValidity": 3600
    });
    let resp = reqwest::Client::new()
        .post(format!("{}/jwt/generateCode", server.base))
        .header(AUTHORIZATION, format!("Basic {auth_header}"))
        .header(CONTENT_TYPE, "application/json")
        .header(ACCEPT, "application/json")
        .body(payload.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let code = resp.json::<Value>().await.unwrap()["code"].as_str().unwrap().to_owned();
    format!("{}/jwt/authorize?code={code}", server.base)
}

/// The Java (Spring `RestTemplate`) sample: `POST /api/jwt/generate-code`,
/// a `HashMap` payload (no field order), then
/// `UriComponentsBuilder.fromHttpUrl(kbLoginUrl).queryParam("code", tokenCode)`.
async fn java_sample(server: &Server) -> String {
    let p = &server.project;
    let encoded_auth = STANDARD.encode(format!("{}:{}", p.client_id, p.primary_secret).as_bytes());
    let body = r#"{"readerGroupIds":["group1","group2"],"lastName":"Doe","emailId":"john.doe@example.com","firstName":"John","tokenValidity":3600,"username":"john.doe"}"#;
    let resp = reqwest::Client::new()
        .post(format!("{}/api/jwt/generate-code", server.base))
        .header(CONTENT_TYPE, "application/json")
        .header(AUTHORIZATION, format!("Basic {encoded_auth}"))
        .header(ACCEPT, "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let code = resp.json::<Value>().await.unwrap()["code"].as_str().unwrap().to_owned();
    let mut url = url::Url::parse(&format!("{}/jwt/authorize", server.base)).unwrap();
    url.query_pairs_mut().append_pair("code", &code);
    url.to_string()
}

/// The C# (`HttpClient`) sample: ASCII `clientId:clientSecret` in Basic,
/// `StringContent(JsonConvert.SerializeObject(payload), Encoding.UTF8,
/// "application/json")` with `tokenValidity = 3600`, and then
/// `Redirect($"{kbLoginUrl}?code={tokenCode}")` where `kbLoginUrl` is the
/// KB's root, `https://{your subdomain}.document360.io`.
async fn csharp_sample(server: &Server, username: &str) -> String {
    let p = &server.project;
    let auth_token = format!("{}:{}", p.client_id, p.primary_secret);
    let body = format!(
        r#"{{"username":"{username}","firstName":"FirstName","lastName":"LastName","emailId":"user@example.com","readerGroupIds":["group1","group2"],"tokenValidity":3600}}"#
    );
    let resp = reqwest::Client::new()
        .post(format!("{}/api/jwt/generate-code", server.base))
        .header(
            AUTHORIZATION,
            format!("Basic {}", STANDARD.encode(auth_token.as_bytes())),
        )
        .header(CONTENT_TYPE, "application/json; charset=utf-8")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let content = resp.text().await.unwrap();
    let token_code = serde_json::from_str::<Value>(&content).unwrap()["code"]
        .as_str()
        .unwrap()
        .to_owned();
    let kb_login_url = server.base.clone();
    format!("{kb_login_url}?code={token_code}")
}

/// The spec's curl test, byte for byte (HTTP/2 prior knowledge, Basic
/// `BASE64(CLIENTID:CLIENTSECRET)`, the multi-line body); answers the code.
async fn curl_sample(server: &Server) -> String {
    let p = &server.project;
    let h2 = reqwest::Client::builder().http2_prior_knowledge().build().unwrap();
    let resp = h2
        .post(format!("{}/api/jwt/generate-code", server.base))
        .header(
            AUTHORIZATION,
            format!(
                "Basic {}",
                STANDARD.encode(format!("{}:{}", p.client_id, p.primary_secret))
            ),
        )
        .header(CONTENT_TYPE, "application/json")
        .body(common::SPEC_CODE_REQUEST)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.version(), reqwest::Version::HTTP_2);
    assert_eq!(resp.status(), StatusCode::OK);
    resp.json::<Value>().await.unwrap()["code"].as_str().unwrap().to_owned()
}

/// The spec's Postman steps: Basic Auth with the client id and secret,
/// raw JSON body on one line; answers the code.
async fn postman_sample(server: &Server) -> String {
    let p = &server.project;
    let resp = reqwest::Client::new()
        .post(format!("{}/api/jwt/generate-code", server.base))
        .basic_auth(&p.client_id, Some(&p.primary_secret))
        .header(CONTENT_TYPE, "application/json")
        .body(r#"{ "username": "john.doe", "firstName": "John", "lastName": "Doe", "emailId": "john.doe@example.com", "readerGroupIds": ["group1", "group2"], "tokenValidity": 15 }"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    resp.json::<Value>().await.unwrap()["code"].as_str().unwrap().to_owned()
}

/// Node and Java send no `redirectUrl`: the KB's return-target cookie
/// brings the reader back to the page first asked for.
#[tokio::test]
async fn node_and_java_samples_end_on_the_page_first_asked_for() {
    let server = demo().await;
    for sample in ["node", "java"] {
        let browser = Browser::new();
        asks_for_the_page(&server, &browser, PAGE).await;
        let url = match sample {
            "node" => node_sample(&server).await,
            _ => java_sample(&server).await,
        };
        assert!(!url.contains("redirectUrl"), "{url}");
        comes_back_signed_in(&server, &browser, &url, PAGE).await;
    }
    server.stop().await;
}

/// The C# sample sends the reader to the KB root with `?code=`: it is
/// redeemed there (no loop back to the login URL), and the reader lands
/// on the page first asked for.
#[tokio::test]
async fn the_csharp_sample_code_on_the_kb_root_ends_on_the_page_first_asked_for() {
    let server = demo().await;
    let browser = Browser::new();
    asks_for_the_page(&server, &browser, PAGE).await;
    let url = csharp_sample(&server, "john.doe").await;
    assert!(url.contains(&format!("{}?code=", server.base)), "{url}");
    let first = browser.get(&url).await;
    assert_eq!(first.status(), StatusCode::FOUND);
    assert_eq!(location(&first), format!("{}{PAGE}", server.base));
    let body = page_reader(&browser, &format!("{}{PAGE}", server.base)).await;
    assert_eq!(body["reader"]["username"], "john.doe");
    assert_eq!(body["reader"]["name"], "FirstName LastName");

    // Without a remembered page, the root with a code opens the session
    // and lands on the home page, signed in.
    let fresh = Browser::new();
    let url = csharp_sample(&server, "jane").await;
    let (last, resp) = fresh.follow(&server, &url).await;
    assert_eq!(last, format!("{}/", server.base));
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.text().await.unwrap().contains("Signed in as FirstName LastName"));
    server.stop().await;
}

/// curl and Postman get the code; the reader is sent back with the
/// documented `redirectUrl`, or the legacy document's `RedirectUrl`, set
/// to the `redirectPath` the KB passed.
#[tokio::test]
async fn curl_and_postman_codes_return_with_redirect_url_and_its_legacy_spelling() {
    let server = demo().await;
    for (sample, param) in [("curl", "RedirectUrl"), ("postman", "redirectUrl")] {
        let browser = Browser::new();
        let redirect_path = asks_for_the_page(&server, &browser, PAGE).await;
        // The remembered page is not what brings the reader back here.
        browser.jar.lock().unwrap().remove("kb_return");
        let code = match sample {
            "curl" => curl_sample(&server).await,
            _ => postman_sample(&server).await,
        };
        let mut url = url::Url::parse(&format!("{}/jwt/authorize", server.base)).unwrap();
        url.query_pairs_mut()
            .append_pair("code", &code)
            .append_pair(param, &redirect_path);
        let (last, resp) = browser.follow(&server, url.as_str()).await;
        assert_eq!(last, format!("{}{PAGE}", server.base), "{sample}");
        assert_eq!(resp.json::<Value>().await.unwrap()["reader"]["username"], "john.doe");
    }
    server.stop().await;
}

// ---------------------------------------------------------------------------
// HelpSite (session mode `token`)
// ---------------------------------------------------------------------------

struct Help {
    server: Server,
    clock: Arc<SettableClock>,
    secret: String,
    client_id: String,
}

async fn helpsite() -> Help {
    let clock = clock();
    let secret = ClientSecret::generate().expose().to_owned();
    let client_id = ClientId::generate().to_string();
    let server = serve(
        json!({
            "jwt": [{
                "name": "HelpSite app", "client_id": client_id,
                "login_url": LOGIN_URL,
                "primary_secret": secret,
                "secondary_secret": ClientSecret::generate().expose(),
                "handshake": {"alg": "HS256", "audience": "yoursubdomain", "session_mode": "token"}
            }]
        }),
        clock.clone(),
    )
    .await;
    Help {
        server,
        clock,
        secret,
        client_id,
    }
}

/// An HS256 token as a JWT library makes it from HelpSite's fields.
fn hs256(secret: &str, claims: &Value) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

/// HelpSite's sample payload, exactly: `iat`, `exp: 9999999999`, `aud`
/// an array.
fn helpsite_sample() -> Value {
    json!({"iat": 1516239022, "exp": 9999999999i64, "aud": ["yoursubdomain"]})
}

/// HelpSite's token, by query string and by cookie: the reader ends on the
/// page asked for, signed in, the token gone from the URL.
#[tokio::test]
async fn helpsite_sample_token_by_query_and_by_cookie_ends_on_the_page_signed_in() {
    let h = helpsite().await;
    let token = hs256(&h.secret, &helpsite_sample());
    let page = format!("{}/docs/faq?lang=en", h.server.base);

    let by_query = Browser::new();
    let resp = by_query.get(&format!("{page}&jwt={token}")).await;
    assert_eq!(resp.status(), StatusCode::FOUND);
    assert_eq!(location(&resp), page, "the token is taken out of the URL");
    let body = page_reader(&by_query, &page).await;
    assert_eq!(body["path"], "/docs/faq?lang=en");
    let username = body["reader"]["username"].as_str().unwrap().to_owned();
    assert!(
        username.starts_with("jwt-"),
        "neither sub nor email: a derived id, {username}"
    );

    let by_cookie = Browser::new();
    by_cookie.set("jwt", &token);
    let resp = by_cookie.get(&page).await;
    assert_eq!(resp.status(), StatusCode::FOUND);
    assert_eq!(location(&resp), page);
    assert!(by_cookie.cookie("jwt").is_none(), "the jwt cookie is cleared");
    let body = page_reader(&by_cookie, &page).await;
    assert_eq!(body["reader"]["username"], username, "the same claims, the same reader");
    h.server.stop().await;
}

/// A first visit without a token goes to the login URL with HelpSite's
/// `jwt_error=missing`, `expected_aud` and the absolute `from_url`, beside
/// `redirectPath`.
#[tokio::test]
async fn a_token_less_visit_redirects_with_jwt_error_expected_aud_and_from_url() {
    let h = helpsite().await;
    let resp = Browser::new().get(&format!("{}/docs/faq?lang=en", h.server.base)).await;
    assert_eq!(resp.status(), StatusCode::FOUND);
    let login = location(&resp);
    assert!(login.starts_with(LOGIN_URL), "{login}");
    let q = query_of(&login);
    assert_eq!(q["jwt_error"], "missing");
    assert_eq!(q["expected_aud"], "yoursubdomain");
    assert_eq!(q["from_url"], format!("{}/docs/faq?lang=en", h.server.base));
    assert_eq!(q["redirectPath"], "/docs/faq?lang=en");
    h.server.stop().await;
}

/// Session mode `token`: the session ends at the token's `exp`; the `jwt`
/// cookie of another reader replaces the session while the same cookie
/// sent again keeps it; a reset secret ends the sessions opened with the
/// old one.
#[tokio::test]
async fn token_mode_sessions_follow_their_token() {
    let h = helpsite().await;
    let now = h.clock.now().unix_timestamp();
    let page = format!("{}/docs/a", h.server.base);
    let claims = |sub: &str, ttl: i64| json!({"sub": sub, "iat": now, "exp": now + ttl, "aud": ["yoursubdomain"]});

    // Ends at exp.
    let browser = Browser::new();
    let resp = browser
        .get(&format!("{page}?jwt={}", hs256(&h.secret, &claims("ann", 120))))
        .await;
    assert!(set_cookie(&resp, "kb_session").unwrap().contains("Max-Age=120"));
    assert_eq!(page_reader(&browser, &page).await["reader"]["username"], "ann");
    h.clock.advance(Duration::seconds(121));
    let resp = browser.get(&page).await;
    assert_eq!(resp.status(), StatusCode::FOUND);
    assert!(location(&resp).starts_with(LOGIN_URL));

    // Another reader's cookie replaces the session; the same cookie again
    // keeps it.
    let now = h.clock.now().unix_timestamp();
    let claims = |sub: &str| json!({"sub": sub, "iat": now, "exp": now + 3600, "aud": ["yoursubdomain"]});
    let browser = Browser::new();
    let ann = hs256(&h.secret, &claims("ann"));
    browser.set("jwt", &ann);
    assert_eq!(browser.get(&page).await.status(), StatusCode::FOUND);
    assert_eq!(page_reader(&browser, &page).await["reader"]["username"], "ann");
    browser.set("jwt", &ann);
    assert_eq!(
        page_reader(&browser, &page).await["reader"]["username"],
        "ann",
        "the same token, not cleared from a parent domain: the session stays"
    );
    browser.set("jwt", &hs256(&h.secret, &claims("bob")));
    let resp = browser.get(&page).await;
    assert_eq!(resp.status(), StatusCode::FOUND);
    assert_eq!(location(&resp), page);
    assert_eq!(page_reader(&browser, &page).await["reader"]["username"], "bob");

    // A reset secret ends the session at once.
    let admin = h.server.admin_token.as_ref().unwrap().expose().to_owned();
    let reset = reqwest::Client::new()
        .post(format!(
            "{}/api/admin/jwt-configs/{}/regenerate-primary-secret",
            h.server.base, h.client_id
        ))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(reset.status(), StatusCode::OK);
    let new_secret = reset.json::<Value>().await.unwrap()["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let resp = browser.get(&page).await;
    assert_eq!(resp.status(), StatusCode::FOUND);
    assert!(
        location(&resp).starts_with(LOGIN_URL),
        "the old secret's session is over"
    );
    // The new secret signs the reader in again.
    let resp = browser
        .get(&format!("{page}?jwt={}", hs256(&new_secret, &claims("bob"))))
        .await;
    assert_eq!(location(&resp), page);
    assert_eq!(page_reader(&browser, &page).await["reader"]["username"], "bob");
    h.server.stop().await;
}

// ---------------------------------------------------------------------------
// Documentation.AI (session mode `fixed`)
// ---------------------------------------------------------------------------

struct Docs {
    server: Server,
    private_pem: String,
    client_id: String,
}

async fn documentation_ai() -> Docs {
    let (private, public) = kb_sso::generate_ed25519_key_pair().unwrap();
    let client_id = ClientId::generate().to_string();
    let server = serve(
        json!({
            "jwt": [{
                "name": "Docs", "client_id": client_id,
                "login_url": LOGIN_URL,
                "primary_secret": ClientSecret::generate().expose(),
                "secondary_secret": ClientSecret::generate().expose(),
                "handshake": {"alg": "EdDSA", "public_key_pem": public}
            }]
        }),
        clock(),
    )
    .await;
    Docs {
        server,
        private_pem: private.to_string(),
        client_id,
    }
}

/// The spec's `jose` snippet: `new SignJWT({host, firstname, company,
/// accessRoles}).setProtectedHeader({alg: 'EdDSA'}).setIssuedAt()
/// .setExpirationTime('30s')`.
fn jose_snippet(private_pem: &str, now: i64) -> String {
    let key = ed25519_dalek::SigningKey::from_pkcs8_pem(private_pem).unwrap();
    let claims = json!({
        "host": "docs.example.com",
        "firstname": "Alice",
        "company": "Acme Inc",
        "accessRoles": ["engineering", "sre"],
        "iat": now,
        "exp": now + 30,
    });
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"EdDSA"}"#),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let sig = key.sign(signing_input.as_bytes());
    format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(sig.to_bytes()))
}

/// The snippet's token through the callback URL, with and without the
/// optional `redirect`: the reader ends on the page first asked for, with
/// a non-empty username and the personalization claims; the session lasts
/// 14 days whatever the token's 30 s.
#[tokio::test]
async fn documentation_ai_jose_snippet_ends_on_the_page_with_its_claims() {
    let d = documentation_ai().await;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let mut usernames = Vec::new();
    for with_redirect in [true, false] {
        let browser = Browser::new();
        let resp = browser.get(&format!("{}/docs/getting-started", d.server.base)).await;
        assert!(location(&resp).starts_with(LOGIN_URL));
        let token = jose_snippet(&d.private_pem, now);
        let mut callback = format!("{}/api/auth/jwt/callback?token={token}", d.server.base);
        if with_redirect {
            callback.push_str("&redirect=/docs/getting-started");
        }
        let first = browser.get(&callback).await;
        assert_eq!(first.status(), StatusCode::FOUND);
        assert_eq!(location(&first), format!("{}/docs/getting-started", d.server.base));
        let max_age = format!("Max-Age={}", 14 * 24 * 3600);
        assert!(set_cookie(&first, "kb_session").unwrap().contains(&max_age));
        let body = page_reader(&browser, &format!("{}/docs/getting-started", d.server.base)).await;
        let r = &body["reader"];
        assert_eq!(r["name"], "Alice");
        assert_eq!(r["first_name"], "Alice");
        assert_eq!(r["groups"], json!(["engineering", "sre"]));
        assert_eq!(r["claims"], json!({"host": "docs.example.com", "company": "Acme Inc"}));
        let username = r["username"].as_str().unwrap().to_owned();
        assert!(username.starts_with("jwt-") && username.len() > 4, "{username}");
        usernames.push(username);
    }
    assert_eq!(usernames[0], usernames[1], "the derived id is stable");
    d.server.stop().await;
}

/// Fixed mode: a regenerated key pair refuses the old key's tokens but
/// leaves sessions opened with it alone, as Documentation.AI says.
#[tokio::test]
async fn fixed_mode_sessions_survive_a_regenerated_key_pair() {
    let d = documentation_ai().await;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let browser = Browser::new();
    let page = format!("{}/docs/a", d.server.base);
    let callback = format!(
        "{}/api/auth/jwt/callback?token={}&redirect=/docs/a",
        d.server.base,
        jose_snippet(&d.private_pem, now)
    );
    assert_eq!(location(&browser.get(&callback).await), page);
    let admin = d.server.admin_token.as_ref().unwrap().expose().to_owned();
    let regenerated = reqwest::Client::new()
        .post(format!(
            "{}/api/admin/jwt-configs/{}/handshake-key",
            d.server.base, d.client_id
        ))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(regenerated.status(), StatusCode::OK);
    assert_eq!(page_reader(&browser, &page).await["reader"]["name"], "Alice");
    let refused = Browser::new()
        .get(&format!(
            "{}/api/auth/jwt/callback?token={}",
            d.server.base,
            jose_snippet(&d.private_pem, now)
        ))
        .await;
    assert!(query_of(&location(&refused)).contains_key("jwt_error"));
    d.server.stop().await;
}

/// Claims over 1 KiB are cut to what fits; a session too large for a
/// cookie is refused with a clear error rather than issued and dropped.
#[tokio::test]
async fn session_claims_are_bounded_and_an_oversized_session_is_refused_clearly() {
    let d = documentation_ai().await;
    let key = ed25519_dalek::SigningKey::from_pkcs8_pem(&d.private_pem).unwrap();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let sign = |claims: Value| {
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(br#"{"alg":"EdDSA"}"#),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let sig = key.sign(input.as_bytes());
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.to_bytes()))
    };
    let browser = Browser::new();
    let mut claims = json!({"sub": "ann", "iat": now, "exp": now + 30, "a_small": "kept"});
    claims["b_large"] = json!("x".repeat(600));
    claims["c_larger"] = json!("y".repeat(600));
    let resp = browser
        .get(&format!(
            "{}/api/auth/jwt/callback?token={}&redirect=/docs/a",
            d.server.base,
            sign(claims)
        ))
        .await;
    assert_eq!(resp.status(), StatusCode::FOUND);
    let body = page_reader(&browser, &format!("{}/docs/a", d.server.base)).await;
    let kept = body["reader"]["claims"].as_object().unwrap();
    assert!(serde_json::to_string(kept).unwrap().len() <= kb_sso::MAX_SESSION_CLAIMS_BYTES);
    assert_eq!(kept["a_small"], "kept");
    assert!(
        kept.contains_key("b_large") && !kept.contains_key("c_larger"),
        "{kept:?}"
    );

    let groups: Vec<String> = (0..30).map(|i| format!("{i:0>100}")).collect();
    let big = json!({"sub": "ann", "iat": now, "exp": now + 30, "groups": groups});
    // Asked as an API client: the error as JSON (a browser gets a page).
    let resp = Browser::new()
        .get_with(
            &format!("{}/api/auth/jwt/callback?token={}", d.server.base, sign(big)),
            "application/json",
        )
        .await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(set_cookie(&resp, "kb_session").is_none());
    let error: Value = resp.json().await.unwrap();
    assert!(
        error["error_description"]
            .as_str()
            .unwrap()
            .contains("a cookie can hold"),
        "{error}"
    );
    d.server.stop().await;
}

// ---------------------------------------------------------------------------
// One test per point
// ---------------------------------------------------------------------------

async fn code(server: &Server) -> String {
    postman_sample(server).await
}

/// DESIGN 3.16: `?code=` on any KB page is redeemed and the reader
/// redirected to the same URL without `code`; the code is then spent.
#[tokio::test]
async fn a_code_on_any_kb_url_is_redeemed_and_removed() {
    let server = demo().await;
    let browser = Browser::new();
    let code = code(&server).await;
    let url = format!("{}/docs/a?lang=en&code={code}&b=2", server.base);
    let resp = browser.get(&url).await;
    assert_eq!(resp.status(), StatusCode::FOUND);
    assert_eq!(location(&resp), format!("{}/docs/a?lang=en&b=2", server.base));
    assert!(set_cookie(&resp, "kb_session").is_some());
    assert_eq!(
        page_reader(&browser, &format!("{}/docs/a?lang=en&b=2", server.base)).await["reader"]["username"],
        "john.doe"
    );
    let again = Browser::new().get_with(&url, "application/json").await;
    assert_eq!(again.status(), StatusCode::BAD_REQUEST);
    assert_eq!(again.json::<Value>().await.unwrap()["error"], "invalid_grant");
    server.stop().await;
}

/// DESIGN 3.17: the return-target cookie's attributes (http and https),
/// and the order query parameter, cookie, home; an unsafe parameter or a
/// forged cookie falls through.
#[tokio::test]
async fn the_return_target_survives_the_round_trip_in_a_signed_cookie() {
    let server = demo().await;
    let browser = Browser::new();
    let resp = browser.get(&format!("{}/docs/a", server.base)).await;
    let line = set_cookie(&resp, "kb_return").unwrap();
    for attr in ["Path=/", "HttpOnly", "SameSite=Lax", "Max-Age=600"] {
        assert!(line.contains(attr), "{line} lacks {attr}");
    }
    assert!(!line.contains("Secure") && !line.contains("Domain"), "{line}");

    // The query parameter first (RedirectPath too), the cookie second.
    for (param, want) in [
        ("redirectUrl=/docs/b", "/docs/b"),
        ("RedirectPath=/docs/c", "/docs/c"),
        ("redirectUrl=//evil.example/x", "/docs/a"),
        ("", "/docs/a"),
    ] {
        let b = Browser::new();
        b.set("kb_return", &browser.cookie("kb_return").unwrap());
        let resp = b
            .get(&format!(
                "{}/jwt/authorize?code={}&{param}",
                server.base,
                code(&server).await
            ))
            .await;
        assert_eq!(location(&resp), format!("{}{want}", server.base), "{param}");
        assert!(set_cookie(&resp, "kb_return").unwrap().contains("Max-Age=0"));
    }
    // A forged or foreign cookie: home.
    let b = Browser::new();
    b.set("kb_return", "AAAA");
    let resp = b
        .get(&format!("{}/jwt/authorize?code={}", server.base, code(&server).await))
        .await;
    assert_eq!(location(&resp), format!("{}/", server.base));
    server.stop().await;

    // On https: `__Host-` prefixed and Secure.
    let https = serve(
        json!({"kb_url": "https://kb.example.com", "jwt": [{
            "name": "App", "client_id": ClientId::generate().to_string(), "login_url": LOGIN_URL,
            "primary_secret": ClientSecret::generate().expose(),
            "secondary_secret": ClientSecret::generate().expose()}]}),
        clock(),
    )
    .await;
    let resp = Browser::new().get(&format!("{}/docs/a", https.base)).await;
    let line = set_cookie(&resp, "__Host-kb_return").unwrap();
    for attr in ["Path=/", "HttpOnly", "SameSite=Lax", "Max-Age=600", "Secure"] {
        assert!(line.contains(attr), "{line} lacks {attr}");
    }
    https.stop().await;
}

/// DESIGN 3.18: logout without a logout URL ends on the public signed-out
/// page, which does not send the reader back to sign in; HTML with a
/// "Sign in again" link, or JSON.
#[tokio::test]
async fn signing_out_stays_signed_out() {
    let server = demo().await;
    let browser = Browser::new();
    let url = format!("{}/jwt/authorize?code={}", server.base, code(&server).await);
    browser.get(&url).await;
    let out = browser.get(&format!("{}/jwt/logout", server.base)).await;
    assert_eq!(out.status(), StatusCode::FOUND);
    assert_eq!(location(&out), format!("{}/jwt/signed-out", server.base));
    assert!(browser.cookie("kb_session").is_none());

    let page = browser.get(&format!("{}/jwt/signed-out", server.base)).await;
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.headers().get(LOCATION).is_none());
    assert!(set_cookie(&page, "kb_login_verifier").is_none(), "no sign-in starts");
    let html = page.text().await.unwrap();
    assert!(html.contains("href=\"/login\">Sign in again</a>"), "{html}");

    let json: Value = browser
        .get_with(&format!("{}/jwt/signed-out", server.base), "application/json")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        json,
        json!({"signed_out": true, "sign_in_url": format!("{}/login", server.base)})
    );
    server.stop().await;
}

/// DESIGN 3.22: the widget's access token, from the spec's C# request,
/// reads the articles its reader groups allow; no token, another kind of
/// token, a forged one or an expired one gets 401 `invalid_token`.
#[tokio::test]
async fn the_widget_api_takes_the_csharp_samples_token_and_nothing_else() {
    let clock = clock();
    let server = demo_at(clock.clone()).await;
    let p = &server.project;
    // `client.RequestTokenAsync(new TokenRequest { ClientId, ClientSecret,
    // GrantType = "Widget", Parameters = { payload, id } })`: IdentityModel
    // sends the credentials in a Basic header by default.
    let read_groups: Vec<&str> = "group1,group2".split(',').map(str::trim).collect();
    let payload = json!({
        "username": "john.doe", "firstName": "John", "lastName": "Doe",
        "emailId": "john.doe@example.com", "readerGroupIds": read_groups,
        "tokenValidity": 900, "widgetId": p.widget_id, "projectId": p.widget_client_id,
    })
    .to_string();
    let form = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "Widget")
        .append_pair("payload", &payload)
        .append_pair("id", &p.widget_client_id)
        .finish();
    let basic = format!(
        "Basic {}",
        STANDARD.encode(format!("{}:{}", p.widget_client_id, p.widget_client_secret))
    );
    let answer: Value = reqwest::Client::new()
        .post(format!("{}/api/jwt/widget-token", server.base))
        .header(AUTHORIZATION, basic)
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let access_token = answer["access_token"].as_str().unwrap().to_owned();
    let articles = format!("{}/api/widget/articles", server.base);
    let call = |auth: Option<String>| {
        let mut req = reqwest::Client::new().get(&articles);
        if let Some(a) = auth {
            req = req.header(AUTHORIZATION, a);
        }
        req.send()
    };
    let resp = call(Some(format!("Bearer {access_token}"))).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await.unwrap();
    let slugs: Vec<&str> = body["articles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["slug"].as_str().unwrap())
        .collect();
    assert_eq!(slugs, ["getting-started", "billing", "api-reference"]);

    // An id_token of the code flow, a KB session cookie value, junk, none.
    let code = code(&server).await;
    let tokens: Value = reqwest::Client::new()
        .post(format!("{}/api/jwt/token", server.base))
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(format!("grant_type=authorization_code&code={code}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id_token = tokens["id_token"].as_str().unwrap();
    let kb_access = tokens["access_token"].as_str().unwrap();
    let mut forged = access_token.clone();
    forged.pop();
    forged.push(if access_token.ends_with('A') { 'B' } else { 'A' });
    for auth in [
        None,
        Some(format!("Bearer {id_token}")),
        Some(format!("Bearer {kb_access}")),
        Some(format!("Bearer {forged}")),
        Some("Bearer junk".to_owned()),
        Some(format!("Basic {access_token}")),
    ] {
        let resp = call(auth.clone()).await.unwrap();
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "{auth:?}");
        assert_eq!(
            resp.headers()[WWW_AUTHENTICATE].to_str().unwrap(),
            "Bearer realm=\"kb-sso\", error=\"invalid_token\""
        );
        assert_eq!(resp.json::<Value>().await.unwrap()["error"], "invalid_token");
    }
    // Expired.
    clock.advance(Duration::seconds(901 + 30));
    let resp = call(Some(format!("Bearer {access_token}"))).await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    server.stop().await;
}

fn plain_config() -> Value {
    json!({"name": "App", "client_id": ClientId::generate().to_string(), "login_url": LOGIN_URL,
           "primary_secret": ClientSecret::generate().expose(),
           "secondary_secret": ClientSecret::generate().expose()})
}

/// DESIGN 3.21: private (the default), public, mixed with segment-boundary
/// prefixes; an unpublished home page makes `/docs` the landing page.
#[tokio::test]
async fn visibility_private_public_mixed_and_an_unpublished_home() {
    let cases = [
        (json!({}), vec![("/", false), ("/docs/a", false)]),
        (
            json!({"visibility": "public"}),
            vec![("/", true), ("/docs", true), ("/docs/a/b", true)],
        ),
        (
            json!({"visibility": "mixed", "public_paths": ["/docs/public", "/docs/faq/"]}),
            vec![
                ("/docs/public", true),
                ("/docs/public/a?x=1", true),
                ("/docs/publicity", false),
                ("/docs/faq", true),
                ("/docs/faq/b", true),
                ("/docs/faqs", false),
                ("/docs/a", false),
                ("/", false),
            ],
        ),
    ];
    for (settings, pages) in cases {
        let server = serve(json!({"settings": settings, "jwt": [plain_config()]}), clock()).await;
        for (path, public) in pages {
            let resp = Browser::new().get(&format!("{}{path}", server.base)).await;
            if public {
                assert_eq!(resp.status(), StatusCode::OK, "{settings} {path}");
                if path.starts_with("/docs") {
                    assert_eq!(resp.json::<Value>().await.unwrap()["reader"], Value::Null);
                }
            } else {
                assert_eq!(resp.status(), StatusCode::FOUND, "{settings} {path}");
                assert!(location(&resp).starts_with(LOGIN_URL), "{settings} {path}");
            }
        }
        server.stop().await;
    }

    // Home unpublished: sign-in without a target lands on /docs, and the
    // home page sends readers there.
    let config = plain_config();
    let server = serve(
        json!({"settings": {"home_published": false}, "jwt": [config.clone()]}),
        clock(),
    )
    .await;
    let code: Value = reqwest::Client::new()
        .post(format!("{}/api/jwt/generate-code", server.base))
        .basic_auth(
            config["client_id"].as_str().unwrap(),
            Some(config["primary_secret"].as_str().unwrap()),
        )
        .header(CONTENT_TYPE, "application/json")
        .body(common::SPEC_CODE_REQUEST)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let browser = Browser::new();
    let resp = browser
        .get(&format!(
            "{}/jwt/authorize?code={}",
            server.base,
            code["code"].as_str().unwrap()
        ))
        .await;
    assert_eq!(location(&resp), format!("{}/docs", server.base));
    let home = browser.get(&format!("{}/", server.base)).await;
    assert_eq!(home.status(), StatusCode::FOUND);
    assert_eq!(location(&home), "/docs");
    server.stop().await;
}

/// No dead controls: the reference server serves neither the
/// email/password form nor SSO sign-in, so its login page shows neither;
/// each JWT button shows its configuration's name; the JSON says what is
/// served.
#[tokio::test]
async fn the_login_page_shows_only_controls_the_server_serves() {
    let mut config = plain_config();
    config["name"] = json!("Acme staff");
    config["show_login_button"] = json!(true);
    config["login_button_text"] = json!("Continue with Acme");
    let server = serve(
        json!({
            "settings": {"direct_jwt_login": false, "disable_default_login_page": false},
            "jwt": [config],
            "sso": [{"name": "Okta", "kind": "saml", "enabled": true, "cta_position": 0}]
        }),
        clock(),
    )
    .await;
    let browser = Browser::new();
    let html = browser
        .get(&format!("{}/login?redirectPath=/docs/a", server.base))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        !html.contains("type=\"password\"") && !html.contains("/login/password"),
        "{html}"
    );
    assert!(!html.contains("Okta") && !html.contains("/sso/"), "{html}");
    assert!(
        html.contains("Continue with Acme <span class=\"config\">(Acme staff)</span>"),
        "{html}"
    );
    let json: Value = browser
        .get_with(&format!("{}/login", server.base), "application/json")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(json["password_action"], Value::Null);
    assert_eq!(json["sso_start"], Value::Null);
    server.stop().await;
}
