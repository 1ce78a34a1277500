//! Live administration over real localhost HTTP against the reference
//! server: a secret regenerated through the admin API stops working at once
//! for code requests and HS256 handshake tokens, with no restart; a token
//! used before the change stays refused; the audit query shows the event
//! (and an update's field changes) without any secret; the outbox holds the
//! notifications for the right recipients. Also the admin API's handshake,
//! widget, SSO provider, audit and notification routes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../examples/common/mod.rs"]
mod common;

use std::net::SocketAddr;

use kb_sso::{ClientCredentials, ClientSecret, SigningKey, SystemClock, TokenSigner};
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, LOCATION};
use serde_json::{Value, json};

type Running = common::server::Running<SystemClock>;

struct Kb {
    server: Running,
    token: String,
    http: reqwest::Client,
}

impl Kb {
    async fn start() -> Self {
        let server = common::server::start(
            SocketAddr::from(([127, 0, 0, 1], 0)),
            "https://app.example.com/login",
            SystemClock,
        )
        .await
        .unwrap();
        let token = server.admin_token.as_ref().unwrap().expose().to_owned();
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Self { server, token, http }
    }

    async fn admin(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut req = self
            .http
            .request(method, format!("{}/api/admin{path}", self.server.base))
            .header(AUTHORIZATION, format!("Bearer {}", self.token));
        if let Some(b) = body {
            req = req.header(CONTENT_TYPE, "application/json").body(b.to_string());
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let bytes = resp.bytes().await.unwrap();
        let value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap()
        };
        (status, value)
    }

    async fn code_status(&self, secret: &str) -> StatusCode {
        let p = &self.server.project;
        let basic = ClientCredentials::new(p.client_id.clone(), ClientSecret::new(secret)).to_basic_header();
        self.http
            .post(format!("{}/api/jwt/generate-code", self.server.base))
            .header(AUTHORIZATION, basic.as_str())
            .header(CONTENT_TYPE, "application/json")
            .body(common::SPEC_CODE_REQUEST)
            .send()
            .await
            .unwrap()
            .status()
    }

    /// An HS256 handshake token for the demo configuration, as its
    /// settings ask (`aud` the KB, a `jti`, at most 5 minutes).
    fn hs256(&self, secret: &str, jti: &str) -> String {
        let p = &self.server.project;
        let signer = TokenSigner::new(SigningKey::hs256(p.client_id.as_str(), secret.as_bytes()).unwrap());
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        signer
            .sign(
                &json!({"sub": "ada", "email": "ada@example.com", "aud": p.handshake_audience,
                "iat": now, "exp": now + 120, "jti": jti}),
            )
            .unwrap()
    }

    /// The callback with `token`: `Ok(())` when a session opened, else the
    /// `jwt_error`.
    async fn handshake(&self, token: &str) -> Result<(), String> {
        let resp = self
            .http
            .get(format!(
                "{}/api/auth/jwt/callback?token={token}&redirect=/docs",
                self.server.base
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::FOUND);
        let opened = resp.headers().get_all("set-cookie").iter().any(|c| {
            c.to_str().unwrap().starts_with("kb_session=") && !c.to_str().unwrap().starts_with("kb_session=;")
        });
        if opened {
            return Ok(());
        }
        let location = resp.headers()[LOCATION].to_str().unwrap();
        let url = url::Url::parse(location).unwrap();
        Err(url
            .query_pairs()
            .find(|(k, _)| k == "jwt_error")
            .map(|(_, v)| v.into_owned())
            .unwrap_or_else(|| panic!("no session and no jwt_error: {location}")))
    }
}

#[tokio::test]
async fn a_secret_regenerated_through_the_admin_api_stops_at_once_and_is_audited_and_notified() {
    let kb = Kb::start().await;
    let p = kb.server.project.clone();
    assert_eq!(kb.code_status(&p.primary_secret).await, StatusCode::OK);
    assert_eq!(kb.handshake(&kb.hs256(&p.primary_secret, "before-1")).await, Ok(()));
    let used = kb.hs256(&p.secondary_secret, "before-2");
    assert_eq!(kb.handshake(&used).await, Ok(()));

    let (status, body) = kb
        .admin(
            reqwest::Method::POST,
            &format!("/jwt-configs/{}/regenerate-primary-secret", p.client_id),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let new_primary = body["secret"].as_str().unwrap().to_owned();

    // No restart: the very next requests see the change.
    assert_eq!(kb.code_status(&p.primary_secret).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        kb.handshake(&kb.hs256(&p.primary_secret, "after-1")).await,
        Err("bad_signature".into())
    );
    assert_eq!(kb.code_status(&new_primary).await, StatusCode::OK);
    assert_eq!(kb.handshake(&kb.hs256(&new_primary, "after-2")).await, Ok(()));
    assert_eq!(
        kb.handshake(&used).await,
        Err("replayed".into()),
        "replayed across the change"
    );

    // An update too, for its field changes.
    let (status, body) = kb
        .admin(
            reqwest::Method::PATCH,
            &format!("/jwt-configs/{}", p.client_id),
            Some(json!({"name": "Renamed portal"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let (status, page) = kb.admin(reqwest::Method::GET, "/audit?event=jwt&limit=10", None).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let entries = page["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 2, "{page}");
    let (newest, regenerated) = (&entries[0], &entries[1]);
    assert_eq!(newest["event"]["action"], "Update", "{newest}");
    assert_eq!(newest["event"]["changes"][0]["field"], "name", "{newest}");
    assert_eq!(newest["event"]["changes"][0]["new"], "Renamed portal", "{newest}");
    assert_eq!(
        regenerated["event"]["action"], "RegeneratePrimaryToken",
        "{regenerated}"
    );
    assert_eq!(regenerated["event"]["config_name"], "Demo customer app");
    let text = page.to_string();
    for secret in [&p.primary_secret, &p.secondary_secret, &new_primary] {
        assert!(!text.contains(secret.as_str()), "no secret in the audit log");
    }
    // Only the regeneration event kind, by name.
    let (_, page) = kb
        .admin(reqwest::Method::GET, "/audit?event=regenerate_primary_token", None)
        .await;
    assert_eq!(page["entries"].as_array().unwrap().len(), 1, "{page}");

    let (status, outbox) = kb.admin(reqwest::Method::GET, "/notifications", None).await;
    assert_eq!(status, StatusCode::OK, "{outbox}");
    let list = outbox["notifications"].as_array().unwrap();
    let regeneration = list
        .iter()
        .find(|n| n["notification"]["event"]["action"] == "RegeneratePrimaryToken")
        .unwrap_or_else(|| panic!("{outbox}"));
    assert_eq!(regeneration["notification"]["recipients"], "project_admins_and_owners");
    assert_eq!(regeneration["state"], "pending");
    let update = list
        .iter()
        .find(|n| n["notification"]["event"]["action"] == "Update")
        .unwrap();
    assert_eq!(update["notification"]["recipients"], "project_admins");
    assert!(!outbox.to_string().contains(new_primary.as_str()));
}

#[tokio::test]
async fn the_audit_log_takes_the_security_audit_role_and_bad_parameters_name_themselves() {
    let kb = Kb::start().await;
    let (status, body) = kb.admin(reqwest::Method::GET, "/audit?since=yesterday", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["field"], "since", "{body}");
    let (status, body) = kb.admin(reqwest::Method::GET, "/audit?colour=red", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) = kb.admin(reqwest::Method::GET, "/audit?event=nothing", None).await;
    assert_eq!(
        (status, body["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("event"))
    );
}

#[tokio::test]
async fn handshake_keys_widget_secrets_and_sso_providers_over_the_admin_api() {
    let kb = Kb::start().await;
    let p = kb.server.project.clone();

    // A new Ed25519 key pair: the private key shown once, HS256 replaced.
    let (status, pair) = kb
        .admin(
            reqwest::Method::POST,
            &format!("/jwt-configs/{}/handshake-key", p.client_id),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{pair}");
    let private = pair["private_key_pem"].as_str().unwrap();
    assert!(private.starts_with("-----BEGIN PRIVATE KEY-----"));
    assert_eq!(
        kb.handshake(&kb.hs256(&p.primary_secret, "k1")).await,
        Err("bad_signature".into())
    );
    let (_, view) = kb
        .admin(reqwest::Method::GET, &format!("/jwt-configs/{}", p.client_id), None)
        .await;
    assert_eq!(view["handshake"]["alg"], "EdDSA", "{view}");
    assert_eq!(view["handshake"]["public_key_pem"], pair["public_key_pem"]);
    assert!(
        !view.to_string().contains("PRIVATE"),
        "the private key is never shown again"
    );

    // Handshake options by PATCH: back to HS256 issues new secrets.
    let (status, view) = kb
        .admin(
            reqwest::Method::PATCH,
            &format!("/jwt-configs/{}", p.client_id),
            Some(json!({"handshake": {"alg": "HS256", "audience": p.handshake_audience, "max_age_seconds": 300}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{view}");
    let primary = view["primary_secret"].as_str().unwrap().to_owned();
    assert_eq!(kb.handshake(&kb.hs256(&primary, "k2")).await, Ok(()));
    assert_eq!(kb.code_status(&p.primary_secret).await, StatusCode::UNAUTHORIZED);
    // An unknown handshake field is named.
    let (status, body) = kb
        .admin(
            reqwest::Method::PATCH,
            &format!("/jwt-configs/{}", p.client_id),
            Some(json!({"handshake": {"alg": "HS256", "colour": "red"}})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["field"].as_str().unwrap().starts_with("handshake"), "{body}");

    // The widget secret.
    let (status, body) = kb.admin(reqwest::Method::POST, "/widget/regenerate-secret", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_ne!(body["secret"].as_str().unwrap(), p.widget_client_secret);

    // SSO providers: create, rename, delete (a name with a space, by path).
    let okta = json!({"name": "Okta", "kind": "saml"});
    let (status, body) = kb.admin(reqwest::Method::POST, "/sso-providers", Some(okta)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let renamed = json!({"name": "Okta SAML", "kind": "saml", "enabled": false});
    let (status, body) = kb
        .admin(reqwest::Method::PUT, "/sso-providers/Okta", Some(renamed))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["sso"][0]["name"], "Okta SAML");
    let (status, _) = kb
        .admin(reqwest::Method::DELETE, "/sso-providers/Okta%20SAML", None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, project) = kb.admin(reqwest::Method::GET, "/project", None).await;
    assert_eq!(project["sso"], json!([]));
    assert!(project["widget"]["project_id"].is_string(), "{project}");
}

#[tokio::test]
async fn visibility_set_through_the_admin_api_opens_public_paths_at_once() {
    let kb = Kb::start().await;
    let page = |path: &'static str| {
        let http = kb.http.clone();
        let url = format!("{}{path}", kb.server.base);
        async move { http.get(url).send().await.unwrap().status() }
    };
    assert_eq!(
        page("/docs/public/intro").await,
        StatusCode::FOUND,
        "private by default"
    );
    // A path that is not a path is refused, naming the field; nothing changes.
    let (status, body) = kb
        .admin(
            reqwest::Method::PUT,
            "/settings",
            Some(json!({"visibility": "mixed", "public_paths": ["docs/public"]})),
        )
        .await;
    assert_eq!(
        (status, body["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("public_paths"))
    );
    let (_, project) = kb.admin(reqwest::Method::GET, "/project", None).await;
    assert_eq!(project["settings"]["visibility"], "private", "{project}");

    let (status, body) = kb
        .admin(
            reqwest::Method::PUT,
            "/settings",
            Some(json!({"visibility": "mixed", "public_paths": ["/docs/public"]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(page("/docs/public/intro").await, StatusCode::OK, "open at once");
    assert_eq!(
        page("/docs/publicity").await,
        StatusCode::FOUND,
        "on segment boundaries"
    );
    let (_, audit) = kb
        .admin(reqwest::Method::GET, "/audit?event=update_visibility", None)
        .await;
    let changes = &audit["entries"][0]["event"]["changes"];
    assert_eq!(changes[0]["field"], "visibility", "{audit}");
    assert_eq!(changes[1]["field"], "public_paths", "{audit}");
}
