//! The example customer app and the reference KB server together, over real
//! loopback HTTP: the code flow (with login binding), a handshake token, and
//! the widget token endpoint.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../examples/common/mod.rs"]
mod common;

use std::net::SocketAddr;

use kb_sso::SystemClock;
use reqwest::StatusCode;
use serde_json::Value;

struct Pair {
    kb: common::server::Running<SystemClock>,
    customer: String,
    app: tokio::task::JoinHandle<()>,
}

async fn pair() -> Pair {
    let (listener, customer) = common::customer::bind().await.unwrap();
    let kb = common::server::start(
        SocketAddr::from(([127, 0, 0, 1], 0)),
        &format!("{customer}/login"),
        SystemClock,
    )
    .await
    .unwrap();
    let link = common::customer::KbLink {
        kb_url: url::Url::parse(&kb.base).unwrap(),
        client_id: kb.project.client_id.clone(),
        client_secret: kb.project.primary_secret.clone(),
        widget_client_id: kb.project.widget_client_id.clone(),
        widget_client_secret: kb.project.widget_client_secret.clone(),
        widget_id: kb.project.widget_id.clone(),
    };
    let app = common::customer::serve(listener, link);
    Pair { kb, customer, app }
}

/// A browser with a cookie jar of its own, one request at a time.
struct Browser {
    http: reqwest::Client,
    cookies: Vec<(String, String)>,
}

impl Browser {
    fn new() -> Self {
        Self {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookies: Vec::new(),
        }
    }

    fn keep(&mut self, resp: &reqwest::Response) {
        for c in resp.headers().get_all("set-cookie") {
            let pair = c.to_str().unwrap().split(';').next().unwrap();
            let (k, v) = pair.split_once('=').unwrap();
            self.cookies.retain(|(name, _)| name != k);
            if !v.is_empty() {
                self.cookies.push((k.to_owned(), v.to_owned()));
            }
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn get(&mut self, url: &str) -> reqwest::Response {
        let resp = self
            .http
            .get(url)
            .header("cookie", self.cookie_header())
            .send()
            .await
            .unwrap();
        self.keep(&resp);
        resp
    }

    async fn post_form(&mut self, url: &str, form: &[(&str, &str)]) -> reqwest::Response {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let resp = self
            .http
            .post(url)
            .header("cookie", self.cookie_header())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();
        self.keep(&resp);
        resp
    }
}

fn location(resp: &reqwest::Response) -> String {
    assert_eq!(resp.status(), StatusCode::FOUND, "expected a redirect");
    resp.headers()["location"].to_str().unwrap().to_owned()
}

#[tokio::test]
async fn the_code_flow_through_the_customer_apps_login() {
    let p = pair().await;
    let mut browser = Browser::new();
    // 1. A private page sends the reader to the customer app's login.
    let to_login = location(&browser.get(&format!("{}/docs/getting-started", p.kb.base)).await);
    assert!(to_login.starts_with(&format!("{}/login?", p.customer)));
    let login = url::Url::parse(&to_login).unwrap();
    let q: Vec<(String, String)> = login.query_pairs().into_owned().collect();
    let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()).unwrap();
    // 2. The customer app's own login form.
    let form = browser.get(&to_login).await;
    assert_eq!(form.status(), StatusCode::OK);
    // 3. Signing in there: the app gets a code and sends the reader back.
    let back = browser
        .post_form(
            &format!("{}/login", p.customer),
            &[
                ("username", common::customer::DEMO_USER),
                ("password", common::customer::DEMO_PASSWORD),
                ("redirectPath", &get("redirectPath")),
                ("codeChallenge", &get("codeChallenge")),
            ],
        )
        .await;
    let authorize = location(&back);
    assert!(authorize.starts_with(&format!("{}/jwt/authorize?code=", p.kb.base)));
    assert!(authorize.contains("redirectUrl=%2Fdocs%2Fgetting-started"));
    // 4. The KB redeems the code (bound to this browser) and opens a session.
    let landing = location(&browser.get(&authorize).await);
    assert_eq!(landing, format!("{}/docs/getting-started", p.kb.base));
    let page = browser.get(&landing).await;
    assert_eq!(page.status(), StatusCode::OK);
    let page: Value = page.json().await.unwrap();
    assert_eq!(page["reader"]["username"], "john.doe");
    assert_eq!(page["reader"]["groups"], serde_json::json!(["group1", "group2"]));
    p.app.abort();
    p.kb.stop().await;
}

#[tokio::test]
async fn a_handshake_token_and_the_widget_endpoint_through_the_customer_app() {
    let p = pair().await;
    let mut browser = Browser::new();
    let logged_in = browser
        .post_form(
            &format!("{}/login", p.customer),
            &[
                ("username", common::customer::DEMO_USER),
                ("password", common::customer::DEMO_PASSWORD),
                ("redirectPath", "/"),
            ],
        )
        .await;
    assert_eq!(logged_in.status(), StatusCode::FOUND);

    let callback = location(
        &browser
            .get(&format!("{}/kb/handshake?redirect=/docs/faq", p.customer))
            .await,
    );
    assert!(callback.starts_with(&format!("{}/api/auth/jwt/callback?token=", p.kb.base)));
    let landing = location(&browser.get(&callback).await);
    assert_eq!(landing, format!("{}/docs/faq", p.kb.base));
    let page: Value = browser.get(&landing).await.json().await.unwrap();
    assert_eq!(page["reader"]["username"], "john.doe");
    assert_eq!(page["reader"]["groups"], serde_json::json!(["group1"]));

    let widget = browser.post_form(&format!("{}/widget-token", p.customer), &[]).await;
    assert_eq!(widget.status(), StatusCode::OK);
    let answer: Value = widget.json().await.unwrap();
    assert_eq!(answer["expiresIn"], 900);
    assert!(answer["accessToken"].as_str().unwrap().split('.').count() == 3);
    p.app.abort();
    p.kb.stop().await;
}
