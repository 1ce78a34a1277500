//! Live administration: an admin change made through `Admin` takes effect
//! for the very next request the KB site and the identity server serve,
//! with no rebuild or restart, because both read the same `ConfigStore`
//! revision by revision. The replay cache survives every change.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;
use support::route::{Handle as _, Outcome};

use std::sync::Arc;

use http::{Request, Response, StatusCode, header};
use kb_sso::server::SsoService;
use kb_sso::store::memory::{MemoryAuditSink, MemoryCodeStore, MemoryConfigStore, MemoryNotifier};
use kb_sso::*;
use serde_json::json;
use time::OffsetDateTime;
use url::Url;

const T0: OffsetDateTime = time::macros::datetime!(2026-05-01 10:00 UTC);
const BODY: &[u8] = br#"{"username":"ada","firstName":"Ada","lastName":"Lovelace","emailId":"ada@example.com"}"#;
const LOGIN: &str = "https://app.example.com/login";

type Store = Arc<MemoryConfigStore>;
type Service = SsoService<Store, MemoryCodeStore, Arc<SettableClock>>;

struct Kb {
    service: Service,
    admin: Admin<Store, MemoryAuditSink, MemoryNotifier>,
    clock: Arc<SettableClock>,
    id: ClientId,
    primary: ClientSecret,
    secondary: ClientSecret,
    widget_id: String,
    widget_secret: ClientSecret,
}

fn who() -> Administrator {
    Administrator("alice@kb.example.com".into())
}

impl Kb {
    /// One configuration taking codes and HS256 handshake tokens signed
    /// with either secret; one JWT-enabled widget.
    fn new() -> Self {
        let (config, secrets) = JwtConfig::builder("Portal", LOGIN).build().unwrap();
        let id = config.client_id().clone();
        let key = HandshakeKey::hs256(&secrets.primary, Some(&secrets.secondary)).unwrap();
        let settings = HandshakeSettings::builder(key).build().unwrap();
        let (widget, widget_secret) = WidgetProject::builder("project-1").widget("widget-1").build().unwrap();
        let project = Project::new(ProjectSettings::default(), vec![config], vec![])
            .unwrap()
            .with_handshake(&id, settings)
            .unwrap()
            .with_widget(widget);
        let store: Store = Arc::new(MemoryConfigStore::new(project));
        let clock = Arc::new(SettableClock::new(T0));
        let identity = IdentityServer::new(
            store.clone(),
            CodeIssuer::new(MemoryCodeStore::new(), clock.clone()),
            TokenSigner::new(SigningKey::generate_ed25519("kb-1").unwrap()),
            "https://kb.example.com",
        );
        let sessions = SessionCodec::new(&[5u8; 32]).unwrap();
        let service = SsoService::new(identity, sessions, &Url::parse("https://kb.example.com").unwrap()).unwrap();
        let admin = Admin::new(
            store,
            MemoryAuditSink::new(CheckpointKey::new(&[7; 32]).unwrap()),
            MemoryNotifier::default(),
            clock.clone(),
        );
        Self {
            service,
            admin,
            clock,
            id,
            primary: secrets.primary,
            secondary: secrets.secondary,
            widget_id: "widget-1".into(),
            widget_secret,
        }
    }

    async fn response(&self, req: Request<Vec<u8>>) -> Response<Vec<u8>> {
        match self.service.handle(req).await {
            Outcome::Response(r) => r,
            Outcome::Page(p) => panic!("a page for {}", p.path),
        }
    }

    /// `POST /api/jwt/generate-code` with this secret: the status.
    async fn code_status(&self, secret: &ClientSecret) -> StatusCode {
        let creds = ClientCredentials::new(self.id.as_str(), secret.clone());
        let req = Request::post("/api/jwt/generate-code")
            .header(header::AUTHORIZATION, creds.to_basic_header().as_str())
            .header(header::CONTENT_TYPE, "application/json")
            .body(BODY.to_vec())
            .unwrap();
        self.response(req).await.status()
    }

    /// An HS256 handshake token signed with `secret`, with this `jti`.
    fn hs256_token(&self, secret: &str, jti: &str) -> String {
        let signer = TokenSigner::new(SigningKey::hs256(self.id.as_str(), secret.as_bytes()).unwrap());
        let now = self.clock.now().unix_timestamp();
        signer
            .sign(&json!({"sub": "ada", "iat": now, "exp": now + 300, "jti": jti}))
            .unwrap()
    }

    /// An EdDSA handshake token signed with this private key.
    fn eddsa_token(&self, private_pem: &str, jti: &str) -> String {
        let signer = TokenSigner::new(SigningKey::ed25519_from_pkcs8_pem(self.id.as_str(), private_pem).unwrap());
        let now = self.clock.now().unix_timestamp();
        signer
            .sign(&json!({"sub": "ada", "iat": now, "exp": now + 300, "jti": jti}))
            .unwrap()
    }

    /// The handshake callback with `token`: `Ok(())` when it opened a
    /// session, else the `jwt_error` it redirected with.
    async fn handshake(&self, token: &str) -> Result<(), String> {
        let req = Request::get(format!("/api/auth/jwt/callback?token={token}&redirect=/docs"))
            .body(Vec::new())
            .unwrap();
        let resp = self.response(req).await;
        assert_eq!(resp.status(), StatusCode::FOUND);
        let location = resp.headers()[header::LOCATION].to_str().unwrap().to_owned();
        let opened = resp.headers().get_all(header::SET_COOKIE).iter().any(|c| {
            let c = c.to_str().unwrap();
            c.starts_with("__Host-kb_session=") && !c.starts_with("__Host-kb_session=;")
        });
        if opened {
            assert!(location.ends_with("/docs"), "{location}");
            return Ok(());
        }
        let url = Url::parse(&location).unwrap();
        Err(url
            .query_pairs()
            .find(|(k, _)| k == "jwt_error")
            .map(|(_, v)| v.into_owned())
            .unwrap_or_else(|| panic!("no session and no jwt_error: {location}")))
    }

    /// `POST /api/jwt/widget-token` with this widget secret: the status.
    async fn widget_status(&self, secret: &ClientSecret) -> StatusCode {
        let creds = ClientCredentials::new("project-1", secret.clone());
        let payload = json!({
            "username": "ada", "firstName": "Ada", "lastName": "L", "emailId": "ada@example.com",
            "readerGroupIds": ["g1"], "tokenValidity": 15, "widgetId": self.widget_id, "projectId": "project-1",
        })
        .to_string();
        let form = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", "Widget")
            .append_pair("payload", &payload)
            .append_pair("id", "project-1")
            .finish();
        let req = Request::post("/api/jwt/widget-token")
            .header(header::AUTHORIZATION, creds.to_basic_header().as_str())
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(form.into_bytes())
            .unwrap();
        self.response(req).await.status()
    }
}

#[tokio::test]
async fn regenerating_the_primary_secret_stops_it_at_once_for_codes_and_hs256_handshakes() {
    let kb = Kb::new();
    assert_eq!(kb.code_status(&kb.primary).await, StatusCode::OK);
    assert_eq!(kb.handshake(&kb.hs256_token(kb.primary.expose(), "p1")).await, Ok(()));
    // A token signed with the secondary secret, used once before the change.
    let used = kb.hs256_token(kb.secondary.expose(), "s1");
    assert_eq!(kb.handshake(&used).await, Ok(()));

    let new_primary = kb.admin.regenerate_primary_secret(&who(), &kb.id).await.unwrap().value;

    assert_eq!(kb.code_status(&kb.primary).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        kb.handshake(&kb.hs256_token(kb.primary.expose(), "p2")).await,
        Err("bad_signature".into()),
        "the old primary secret signs no handshake any more"
    );
    assert_eq!(kb.code_status(&new_primary).await, StatusCode::OK);
    assert_eq!(kb.handshake(&kb.hs256_token(new_primary.expose(), "p3")).await, Ok(()));
    // Only the primary secret changed.
    assert_eq!(kb.code_status(&kb.secondary).await, StatusCode::OK);
    assert_eq!(kb.handshake(&kb.hs256_token(kb.secondary.expose(), "s2")).await, Ok(()));
    // The verifier was rebuilt for the new revision, the replay cache was
    // not: the token used before the change is still refused.
    assert_eq!(kb.handshake(&used).await, Err("replayed".into()));
}

#[tokio::test]
async fn regenerating_the_secondary_secret_stops_only_it() {
    let kb = Kb::new();
    let new_secondary = kb
        .admin
        .regenerate_secondary_secret(&who(), &kb.id)
        .await
        .unwrap()
        .value;
    assert_eq!(kb.code_status(&kb.secondary).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        kb.handshake(&kb.hs256_token(kb.secondary.expose(), "s1")).await,
        Err("bad_signature".into())
    );
    assert_eq!(kb.code_status(&new_secondary).await, StatusCode::OK);
    assert_eq!(
        kb.handshake(&kb.hs256_token(new_secondary.expose(), "s2")).await,
        Ok(())
    );
    assert_eq!(kb.code_status(&kb.primary).await, StatusCode::OK);
    assert_eq!(kb.handshake(&kb.hs256_token(kb.primary.expose(), "p1")).await, Ok(()));
}

#[tokio::test]
async fn disabling_then_deleting_a_configuration_stops_its_handshakes_and_codes_at_once() {
    let kb = Kb::new();
    let _ = kb.admin.set_enabled(&who(), &kb.id, false).await.unwrap();
    assert_eq!(kb.code_status(&kb.primary).await, StatusCode::FORBIDDEN);
    assert_eq!(
        kb.handshake(&kb.hs256_token(kb.primary.expose(), "d1")).await,
        Err("disabled".into())
    );
    let _ = kb.admin.set_enabled(&who(), &kb.id, true).await.unwrap();
    assert_eq!(kb.handshake(&kb.hs256_token(kb.primary.expose(), "d2")).await, Ok(()));
    let _ = kb.admin.delete(&who(), &kb.id).await.unwrap();
    assert_eq!(kb.code_status(&kb.primary).await, StatusCode::UNAUTHORIZED);
    // No configuration takes handshake tokens any more: the callback is gone.
    let req = Request::get(format!(
        "/api/auth/jwt/callback?token={}",
        kb.hs256_token(kb.primary.expose(), "d3")
    ))
    .body(Vec::new())
    .unwrap();
    assert_eq!(kb.response(req).await.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_new_key_pair_takes_over_at_once_and_the_old_private_key_fails() {
    let kb = Kb::new();
    let first = kb.admin.generate_handshake_key(&who(), &kb.id).await.unwrap().value;
    // HS256 is replaced by Ed25519: secrets no longer sign handshakes.
    assert_eq!(
        kb.handshake(&kb.hs256_token(kb.primary.expose(), "h1")).await,
        Err("bad_signature".into())
    );
    assert_eq!(
        kb.handshake(&kb.eddsa_token(&first.private_key_pem, "e1")).await,
        Ok(())
    );
    let second = kb.admin.generate_handshake_key(&who(), &kb.id).await.unwrap().value;
    assert_ne!(first.public_key_pem, second.public_key_pem);
    assert_eq!(
        kb.handshake(&kb.eddsa_token(&first.private_key_pem, "e2")).await,
        Err("bad_signature".into()),
        "the old private key's tokens fail verification immediately"
    );
    assert_eq!(
        kb.handshake(&kb.eddsa_token(&second.private_key_pem, "e3")).await,
        Ok(())
    );
    // Codes still take the configuration's secrets.
    assert_eq!(kb.code_status(&kb.primary).await, StatusCode::OK);
}

#[tokio::test]
async fn handshake_options_set_by_an_admin_apply_to_the_next_token() {
    let kb = Kb::new();
    let options = HandshakeOptions {
        audience: Some("https://kb.example.com".into()),
        ..HandshakeOptions::new(HandshakeAlg::Hs256)
    };
    // Same algorithm: the key (the current secrets) is kept, nothing issued.
    let issued = kb
        .admin
        .set_handshake(&who(), &kb.id, Some(&options))
        .await
        .unwrap()
        .value;
    assert!(issued.secrets.is_none() && issued.key_pair.is_none());
    assert_eq!(
        kb.handshake(&kb.hs256_token(kb.primary.expose(), "a1")).await,
        Err("wrong_audience".into()),
        "a token without the audience now set is refused"
    );
    // Handshakes off: the callback is 404 at once.
    let _ = kb.admin.set_handshake(&who(), &kb.id, None).await.unwrap();
    let req = Request::get(format!(
        "/api/auth/jwt/callback?token={}",
        kb.hs256_token(kb.primary.expose(), "a2")
    ))
    .body(Vec::new())
    .unwrap();
    assert_eq!(kb.response(req).await.status(), StatusCode::NOT_FOUND);
    // HS256 again: new secrets are issued (only digests were kept), and the
    // old ones stop working for codes too.
    let issued = kb
        .admin
        .set_handshake(&who(), &kb.id, Some(&options))
        .await
        .unwrap()
        .value;
    let secrets = issued.secrets.expect("HS256 issues secrets");
    assert_eq!(kb.code_status(&kb.primary).await, StatusCode::UNAUTHORIZED);
    assert_eq!(kb.code_status(&secrets.primary).await, StatusCode::OK);
}

#[tokio::test]
async fn regenerating_the_widget_secret_stops_the_old_one_at_once() {
    let kb = Kb::new();
    assert_eq!(kb.widget_status(&kb.widget_secret).await, StatusCode::OK);
    let new_secret = kb.admin.regenerate_widget_secret(&who()).await.unwrap().value;
    assert_eq!(kb.widget_status(&kb.widget_secret).await, StatusCode::UNAUTHORIZED);
    assert_eq!(kb.widget_status(&new_secret).await, StatusCode::OK);
}

#[tokio::test]
async fn a_read_only_configuration_keeps_working_and_refuses_changes() {
    let (config, secrets) = JwtConfig::builder("Legacy", LOGIN).read_only(true).build().unwrap();
    let id = config.client_id().clone();
    let project = Project::new(ProjectSettings::default(), vec![config], vec![]).unwrap();
    let admin = Admin::new(
        MemoryConfigStore::new(project),
        MemoryAuditSink::new(CheckpointKey::new(&[7; 32]).unwrap()),
        MemoryNotifier::default(),
        SettableClock::new(T0),
    );
    let refused = |r: Result<_, AdminError>| matches!(r, Err(AdminError::Config(ConfigError::ReadOnly)));
    let update = JwtConfig::builder("Renamed", LOGIN);
    assert!(refused(admin.update(&who(), &id, update).await.map(|_| ())));
    assert!(refused(admin.regenerate_primary_secret(&who(), &id).await.map(|_| ())));
    assert!(refused(
        admin.regenerate_secondary_secret(&who(), &id).await.map(|_| ())
    ));
    assert!(refused(admin.generate_handshake_key(&who(), &id).await.map(|_| ())));
    let now = admin.project().await.unwrap();
    let config = now.project.jwt_config(&id).unwrap();
    assert_eq!(config.name(), "Legacy");
    assert!(
        config.accepts_secret(secrets.primary.expose().as_bytes()),
        "it keeps working"
    );
    // It can still be disabled and deleted.
    let _ = admin.set_enabled(&who(), &id, false).await.unwrap();
    let _ = admin.delete(&who(), &id).await.unwrap();
}

// ---------------------------------------------------------------------------
// Property: admin operations interleaved with sign-ins
// ---------------------------------------------------------------------------

use proptest::prelude::*;

/// One step: an admin operation or a sign-in attempt.
#[derive(Debug, Clone)]
enum Step {
    RegeneratePrimary,
    RegenerateSecondary,
    Disable,
    Enable,
    NewKeyPair,
    BackToHs256,
    Delete,
    /// A code request and its redemption with the n-th secret ever issued.
    Code(usize),
    /// A handshake signed with the n-th HS256 secret ever issued.
    Hs256(usize),
    /// A handshake signed with the n-th private key ever issued.
    EdDsa(usize),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        2 => Just(Step::RegeneratePrimary),
        2 => Just(Step::RegenerateSecondary),
        1 => Just(Step::Disable),
        2 => Just(Step::Enable),
        1 => Just(Step::NewKeyPair),
        1 => Just(Step::BackToHs256),
        1 => Just(Step::Delete),
        4 => (0usize..8).prop_map(Step::Code),
        4 => (0usize..8).prop_map(Step::Hs256),
        3 => (0usize..4).prop_map(Step::EdDsa),
    ]
}

/// What the test knows: every secret and private key ever issued, and which
/// of them the configuration must accept right now.
struct Model {
    secrets: Vec<ClientSecret>,
    /// Indices into `secrets`: the current primary and secondary.
    primary: usize,
    secondary: usize,
    private_keys: Vec<String>,
    /// `None`: HS256 handshakes; `Some(i)`: Ed25519 with `private_keys[i]`.
    ed25519: Option<usize>,
    enabled: bool,
    deleted: bool,
}

impl Model {
    fn live(&self) -> bool {
        self.enabled && !self.deleted
    }
    fn secret_alive(&self, i: usize) -> bool {
        i == self.primary || i == self.secondary
    }
}

async fn run_steps(steps: Vec<Step>) -> Result<(), TestCaseError> {
    let kb = Kb::new();
    let mut m = Model {
        secrets: vec![kb.primary.clone(), kb.secondary.clone()],
        primary: 0,
        secondary: 1,
        private_keys: Vec::new(),
        ed25519: None,
        enabled: true,
        deleted: false,
    };
    let who = who();
    for (n, step) in steps.into_iter().enumerate() {
        let jti = format!("j{n}");
        match step {
            Step::RegeneratePrimary | Step::RegenerateSecondary => {
                let primary = matches!(step, Step::RegeneratePrimary);
                let r = if primary {
                    kb.admin.regenerate_primary_secret(&who, &kb.id).await
                } else {
                    kb.admin.regenerate_secondary_secret(&who, &kb.id).await
                };
                if m.deleted {
                    prop_assert!(r.is_err());
                    continue;
                }
                m.secrets.push(r.unwrap().value);
                let i = m.secrets.len() - 1;
                if primary { m.primary = i } else { m.secondary = i }
            }
            Step::Disable | Step::Enable => {
                let on = matches!(step, Step::Enable);
                let r = kb.admin.set_enabled(&who, &kb.id, on).await;
                prop_assert_eq!(r.is_ok(), !m.deleted);
                if !m.deleted {
                    m.enabled = on;
                }
            }
            Step::NewKeyPair => {
                let r = kb.admin.generate_handshake_key(&who, &kb.id).await;
                if m.deleted {
                    prop_assert!(r.is_err());
                    continue;
                }
                m.private_keys.push(r.unwrap().value.private_key_pem.to_string());
                m.ed25519 = Some(m.private_keys.len() - 1);
            }
            Step::BackToHs256 => {
                let options = HandshakeOptions::new(HandshakeAlg::Hs256);
                let r = kb.admin.set_handshake(&who, &kb.id, Some(&options)).await;
                if m.deleted {
                    prop_assert!(r.is_err());
                    continue;
                }
                if m.ed25519.take().is_some() {
                    // Both secrets are issued anew.
                    let secrets = r.unwrap().value.secrets.expect("HS256 issues secrets");
                    m.secrets.push(secrets.primary);
                    m.secrets.push(secrets.secondary);
                    m.primary = m.secrets.len() - 2;
                    m.secondary = m.secrets.len() - 1;
                }
            }
            Step::Delete => {
                let r = kb.admin.delete(&who, &kb.id).await;
                prop_assert_eq!(r.is_ok(), !m.deleted);
                m.deleted = true;
            }
            Step::Code(i) => {
                let Some(secret) = m.secrets.get(i) else { continue };
                let status = kb.code_status(secret).await;
                let expected = m.live() && m.secret_alive(i);
                prop_assert_eq!(status == StatusCode::OK, expected, "code with secret {}: {}", i, status);
            }
            Step::Hs256(i) => {
                let Some(secret) = m.secrets.get(i) else { continue };
                if m.deleted {
                    continue; // the callback is gone (404); checked elsewhere
                }
                let opened = kb.handshake(&kb.hs256_token(secret.expose(), &jti)).await.is_ok();
                let expected = m.live() && m.ed25519.is_none() && m.secret_alive(i);
                prop_assert_eq!(opened, expected, "HS256 handshake with secret {}", i);
            }
            Step::EdDsa(i) => {
                let Some(key) = m.private_keys.get(i) else { continue };
                if m.deleted {
                    continue;
                }
                let opened = kb.handshake(&kb.eddsa_token(key, &jti)).await.is_ok();
                let expected = m.live() && m.ed25519 == Some(i);
                prop_assert_eq!(opened, expected, "EdDSA handshake with key {}", i);
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// No sign-in ever succeeds with a secret or key that was regenerated,
    /// replaced, disabled or deleted before it began; every sign-in with a
    /// current one succeeds.
    #[test]
    fn no_sign_in_outlives_the_admin_change_that_revoked_its_credential(
        steps in prop::collection::vec(step(), 1..40)
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        rt.block_on(run_steps(steps))?;
    }
}
