//! The sign-in flows over real localhost HTTP, shared by the tests of the
//! axum app (`tests/axum_app.rs`) and the hyper example
//! (`tests/hyper_server.rs`). Both apps have a public `/`, private pages
//! under `/docs/` answering `{"reader":{..},"path":..}`, and a private
//! `/api/me` answering `{"username":..}`; the crate's endpoints live
//! under `prefix`.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use kb_sso::client::{CodeRequestBuilder, HandshakeClaimsBuilder, HandshakeSigner, SignInRequest};
use kb_sso::{ClientCredentials, ClientSecret, Clock, SystemClock};
use reqwest::StatusCode;
use reqwest::header::{ACCEPT, COOKIE, LOCATION};
use serde_json::Value;

/// The app under test.
pub(crate) struct App {
    /// `http://127.0.0.1:PORT`.
    pub(crate) base: String,
    /// The crate's mount prefix ("" or e.g. `/sso`).
    pub(crate) prefix: String,
    /// The one JWT configuration's login URL (the customer app, played
    /// by the test).
    pub(crate) login_url: String,
    pub(crate) client_id: String,
    pub(crate) secret: String,
}

pub(crate) fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The value of cookie `name` set (not cleared) by `resp`.
pub(crate) fn set_cookie(resp: &reqwest::Response, name: &str) -> Option<String> {
    resp.headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .filter_map(|c| c.split(';').next())
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, v)| *k == name && !v.is_empty())
        .map(|(_, v)| v.to_owned())
}

/// Whether `resp` clears cookie `name`.
pub(crate) fn clears_cookie(resp: &reqwest::Response, name: &str) -> bool {
    resp.headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .any(|c| c.starts_with(&format!("{name}=;")) && c.contains("Max-Age=0"))
}

fn location(resp: &reqwest::Response) -> String {
    assert_eq!(resp.status(), StatusCode::FOUND, "expected a redirect");
    resp.headers()[LOCATION].to_str().unwrap().to_owned()
}

impl App {
    fn ours(&self, path: &str) -> String {
        format!("{}{}{path}", self.base, self.prefix)
    }

    async fn get(&self, path: &str, cookie: Option<&str>) -> reqwest::Response {
        let mut req = browser()
            .get(format!("{}{path}", self.base))
            .header(ACCEPT, "text/html,application/xhtml+xml,*/*;q=0.8");
        if let Some(c) = cookie {
            req = req.header(COOKIE, c);
        }
        req.send().await.unwrap()
    }

    /// A signed-in reader's page, as JSON.
    async fn page(&self, path: &str, session: &str) -> Value {
        let resp = self.get(path, Some(&format!("kb_session={session}"))).await;
        assert_eq!(resp.status(), StatusCode::OK, "{path} with a session");
        resp.json().await.unwrap()
    }

    /// The code flow from a private page to that page, signed in; returns
    /// the session cookie's value.
    pub(crate) async fn sign_in_with_a_code(&self, page: &str) -> String {
        // 1. A private page without a session: to the customer app's login.
        let resp = self.get(page, None).await;
        let to_login = url::Url::parse(&location(&resp)).unwrap();
        assert!(to_login.as_str().starts_with(&self.login_url), "{to_login}");
        let verifier = set_cookie(&resp, "kb_login_verifier").expect("the login binding cookie");
        let sign_in = SignInRequest::from_url(&to_login);
        assert_eq!(sign_in.redirect_path(), Some(page));

        // 2. The customer app's backend asks for a code bound to this browser.
        let creds = ClientCredentials::new(self.client_id.clone(), ClientSecret::new(self.secret.clone()));
        let request = CodeRequestBuilder::for_sign_in(self.ours("/api/jwt/generate-code"), creds, &sign_in)
            .username("john.doe")
            .first_name("John")
            .last_name("Doe")
            .email("john.doe@example.com")
            .reader_groups(["group1"])
            .build()
            .unwrap();
        let resp = browser()
            .execute(reqwest::Request::try_from(request).unwrap())
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        let code = resp.json::<Value>().await.unwrap()["code"].as_str().unwrap().to_owned();

        // 3. The reader comes back to the KB's callback with the code.
        let authorize = url::Url::parse_with_params(
            &self.ours("/jwt/authorize"),
            [("code", code.as_str()), ("redirectUrl", page)],
        )
        .unwrap();
        let resp = browser()
            .get(authorize)
            .header(COOKIE, format!("kb_login_verifier={verifier}"))
            .send()
            .await
            .unwrap();
        assert_eq!(location(&resp), format!("{}{page}", self.base));
        let session = set_cookie(&resp, "kb_session").expect("a session cookie");

        // 4. Back on the private page, signed in.
        let body = self.page(page, &session).await;
        assert_eq!(body["reader"]["username"], "john.doe");
        assert_eq!(body["reader"]["groups"], serde_json::json!(["group1"]));
        assert_eq!(body["path"], page);
        session
    }

    /// A handshake token as `?jwt=` on a private page opens a session and
    /// leaves no token in the URL; returns the session cookie's value.
    pub(crate) async fn sign_in_with_a_handshake(&self, page: &str) -> String {
        let signer = HandshakeSigner::hs256(self.client_id.clone(), &ClientSecret::new(self.secret.clone())).unwrap();
        let claims = HandshakeClaimsBuilder::new()
            .subject("bob")
            .email("bob@example.com")
            .groups(["support"])
            .audience(self.base.clone());
        let token = signer.sign(&claims, SystemClock.now()).unwrap();
        let resp = self.get(&format!("{page}?jwt={token}"), None).await;
        assert_eq!(location(&resp), format!("{}{page}", self.base));
        let session = set_cookie(&resp, "kb_session").expect("a session cookie");
        let body = self.page(page, &session).await;
        assert_eq!(body["reader"]["username"], "bob");
        assert_eq!(body["reader"]["groups"], serde_json::json!(["support"]));
        session
    }

    /// Logging out revokes the session: the old cookie no longer opens the
    /// page.
    pub(crate) async fn log_out(&self, session: &str, page: &str) {
        let resp = browser()
            .get(self.ours("/jwt/logout"))
            .header(COOKIE, format!("kb_session={session}"))
            .send()
            .await
            .unwrap();
        // No logout URL: the signed-out page, which does not sign in again.
        assert_eq!(location(&resp), self.ours("/jwt/signed-out"));
        assert!(clears_cookie(&resp, "kb_session"));
        let again = self.get(page, Some(&format!("kb_session={session}"))).await;
        assert!(
            location(&again).starts_with(&self.login_url),
            "revoked: back to sign-in"
        );
    }

    /// An API client (`Accept: application/json`) without a session gets
    /// 401 JSON naming the sign-in URL; with one, the answer.
    pub(crate) async fn api_client(&self, session: &str) {
        let resp = browser()
            .get(format!("{}/api/me", self.base))
            .header(ACCEPT, "application/json")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(resp.headers()["content-type"], "application/json");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"], "login_required");
        // The KB's own sign-in URL (its login page, which sends the reader on).
        let login = body["login_url"].as_str().unwrap();
        assert!(
            login.starts_with(&format!("{}{}/login?redirectPath=", self.base, self.prefix)),
            "{login}"
        );

        let resp = browser()
            .get(format!("{}/api/me", self.base))
            .header(ACCEPT, "application/json")
            .header(COOKIE, format!("kb_session={session}"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.json::<Value>().await.unwrap()["username"], "john.doe");
    }

    /// The public page needs no session; paths that are neither the
    /// host's nor the crate's (under its prefix) are 404.
    pub(crate) async fn public_and_unclaimed(&self) {
        let resp = self.get("/", None).await;
        assert_eq!(resp.status(), StatusCode::OK);
        assert!(resp.headers().get(LOCATION).is_none());
        assert_eq!(self.get("/nowhere", None).await.status(), StatusCode::NOT_FOUND);
        if !self.prefix.is_empty() {
            // The spec's path outside the prefix is not claimed.
            assert_eq!(self.get("/jwt/logout", None).await.status(), StatusCode::NOT_FOUND);
        }
        // The crate's endpoints keep their own checks: a body over 64 KiB.
        let resp = browser()
            .post(self.ours("/api/jwt/token"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(vec![b'a'; 64 * 1024 + 1])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
        // ... and methods.
        let resp = browser().post(self.ours("/jwt/logout")).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
    }

    /// Every flow, in order.
    pub(crate) async fn all_flows(&self) {
        self.public_and_unclaimed().await;
        let session = self.sign_in_with_a_code("/docs/getting-started").await;
        self.api_client(&session).await;
        self.log_out(&session, "/docs/getting-started").await;
        let session = self.sign_in_with_a_handshake("/docs/guide").await;
        self.log_out(&session, "/docs/guide").await;
    }
}
