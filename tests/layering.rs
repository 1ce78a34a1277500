//! One home per concept: a code error names the party that failed (the
//! configuration store, the code store, the signer) and tells its OAuth
//! code and status; every form endpoint reads client credentials by one set
//! of rules; a project file error keeps its typed cause.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;
use support::route::{Handle as _, Outcome};

#[path = "../examples/common/mod.rs"]
mod common;

use std::error::Error as _;
use std::future::{Future, ready};
use std::io;

use http::{Request, Response, StatusCode, header};
use kb_sso::Insertion;
use kb_sso::project_file::{ProjectFile, ProjectFileProblem};
use kb_sso::store::memory::{MemoryCodeStore, MemoryConfigStore};
use kb_sso::{
    ClientCredentials, ClientId, ClientSecret, CodeDigest, CodeError, CodeGrant, CodeIssuer, CodeStore, ConfigError,
    ConfigStore, IdentityServer, JwtConfig, Project, ProjectSettings, ProjectSnapshot, Redemption, Revision,
    SigningKey, StaleRevision, SystemClock, TokenSigner, WidgetError, WidgetTokenRequest,
};
use time::OffsetDateTime;
use url::Url;

const BODY: &[u8] = br#"{"username":"u","firstName":"F","lastName":"L","emailId":"u@example.com"}"#;

fn down() -> io::Error {
    io::Error::other("the store is down")
}

/// A configuration store that never answers.
struct DownConfigs;

impl ConfigStore for DownConfigs {
    type Error = io::Error;

    fn current(&self) -> impl Future<Output = Result<ProjectSnapshot, io::Error>> + Send {
        ready(Err(down()))
    }

    fn save(
        &self,
        _: Revision,
        _: Project,
    ) -> impl Future<Output = Result<Result<Revision, StaleRevision>, io::Error>> + Send {
        ready(Err(down()))
    }
}

/// A code store that never answers.
struct DownCodes;

impl CodeStore for DownCodes {
    type Error = io::Error;

    fn insert_limited(
        &self,
        _: CodeDigest,
        _: CodeGrant,
        _: usize,
    ) -> impl Future<Output = Result<Insertion, io::Error>> + Send {
        ready(Err(down()))
    }

    fn redeem(&self, _: CodeDigest, _: OffsetDateTime) -> impl Future<Output = Result<Redemption, io::Error>> + Send {
        ready(Err(down()))
    }
}

fn signer() -> TokenSigner {
    TokenSigner::new(SigningKey::generate_ed25519("k1").unwrap())
}

fn block_on<T>(fut: impl Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(fut)
}

#[test]
fn a_failing_configuration_store_is_a_config_store_error_not_a_code_store_error() {
    let identity = IdentityServer::new(
        DownConfigs,
        CodeIssuer::new(MemoryCodeStore::new(), SystemClock),
        signer(),
        "https://kb.example.com",
    );
    let creds = ClientCredentials::new(ClientId::generate().as_str(), ClientSecret::generate());
    let err = block_on(identity.issue_code(&creds, BODY)).unwrap_err();
    assert!(matches!(err, CodeError::ConfigStore(_)), "{err:?}");
    assert_eq!(err.to_string(), "the configuration store failed");
    assert_eq!(
        err.source().map(ToString::to_string).as_deref(),
        Some("the store is down")
    );
    assert_eq!((err.oauth_error(), err.status()), ("temporarily_unavailable", 503));
}

#[test]
fn a_failing_code_store_is_a_code_store_error() {
    let (config, secrets) = JwtConfig::builder("Portal", "https://app.example.com/login")
        .build()
        .unwrap();
    let project = Project::new(ProjectSettings::default(), vec![config.clone()], vec![]).unwrap();
    let identity = IdentityServer::new(
        MemoryConfigStore::new(project),
        CodeIssuer::new(DownCodes, SystemClock),
        signer(),
        "https://kb.example.com",
    );
    let creds = ClientCredentials::new(config.client_id().as_str(), secrets.primary);
    let err = block_on(identity.issue_code(&creds, BODY)).unwrap_err();
    assert!(matches!(err, CodeError::CodeStore(_)), "{err:?}");
    assert_eq!(err.to_string(), "the code store failed");
    assert_eq!((err.oauth_error(), err.status()), ("temporarily_unavailable", 503));
    let err = block_on(identity.exchange(&"A".repeat(43), None)).unwrap_err();
    assert!(matches!(err, CodeError::CodeStore(_)), "{err:?}");
}

#[test]
fn code_errors_tell_their_oauth_code_and_status() {
    let cases = [
        (CodeError::InvalidClient, "invalid_client", 401),
        (CodeError::Disabled, "access_denied", 403),
        (
            CodeError::InvalidGrant(kb_sso::GrantProblem::Expired),
            "invalid_grant",
            400,
        ),
        (
            CodeError::TooManyCodes {
                retry_after: time::Duration::SECOND,
            },
            "too_many_requests",
            429,
        ),
    ];
    for (e, code, status) in cases {
        assert_eq!((e.oauth_error(), e.status()), (code, status), "{e:?}");
    }
}

struct Kb {
    service: common::server::Service<SystemClock>,
    project: common::server::DemoProject,
    rt: tokio::runtime::Runtime,
}

impl Kb {
    fn new() -> Self {
        let (service, project) = common::server::demo_service(
            &Url::parse("https://kb.example.com/").unwrap(),
            "https://app.example.com/login",
            SystemClock,
        )
        .unwrap();
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        Self { service, project, rt }
    }

    fn send(&self, req: Request<Vec<u8>>) -> Response<Vec<u8>> {
        match self.rt.block_on(self.service.handle(req)) {
            Outcome::Response(r) => r,
            Outcome::Page(p) => panic!("unexpected page {p:?}"),
        }
    }

    fn basic(&self) -> String {
        ClientCredentials::new(
            self.project.client_id.clone(),
            ClientSecret::new(self.project.primary_secret.clone()),
        )
        .to_basic_header()
        .to_string()
    }

    fn code(&self) -> String {
        let resp = self.send(
            Request::post("/api/jwt/generate-code")
                .header(header::AUTHORIZATION, self.basic())
                .header(header::CONTENT_TYPE, "application/json")
                .body(BODY.to_vec())
                .unwrap(),
        );
        assert_eq!(resp.status(), StatusCode::OK);
        let v: serde_json::Value = serde_json::from_slice(resp.body()).unwrap();
        v["code"].as_str().unwrap().to_owned()
    }

    fn token(&self, form: &str, basic: bool) -> Response<Vec<u8>> {
        let mut req = Request::post("/api/jwt/token").header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        if basic {
            req = req.header(header::AUTHORIZATION, self.basic());
        }
        self.send(req.body(form.as_bytes().to_vec()).unwrap())
    }
}

fn oauth_error(resp: &Response<Vec<u8>>) -> String {
    let v: serde_json::Value = serde_json::from_slice(resp.body()).unwrap();
    v["error"].as_str().unwrap().to_owned()
}

#[test]
fn the_token_endpoint_reads_client_credentials_by_the_widget_endpoints_rules() {
    let kb = Kb::new();
    // A form client_id naming the client of the Basic header is one
    // method (RFC 6749 section 4.1.3), as at the widget token endpoint.
    let id = kb.project.client_id.clone();
    let resp = kb.token(
        &format!("grant_type=authorization_code&code={}&client_id={id}", kb.code()),
        true,
    );
    assert_eq!(
        resp.status(),
        StatusCode::OK,
        "{:?}",
        String::from_utf8_lossy(resp.body())
    );
    // Another client_id beside the header: two methods.
    let other = ClientId::generate();
    let resp = kb.token(
        &format!("grant_type=authorization_code&code={}&client_id={other}", kb.code()),
        true,
    );
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(oauth_error(&resp), "invalid_request");
    // An empty client_secret beside the header is sent, so two methods.
    let resp = kb.token(
        &format!("grant_type=authorization_code&code={}&client_secret=", kb.code()),
        true,
    );
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(oauth_error(&resp), "invalid_request");
}

#[test]
fn the_widget_endpoint_reads_client_credentials_by_the_token_endpoints_rules() {
    let basic = ClientCredentials::new("p1", ClientSecret::new("s")).to_basic_header();
    let parse = |body: &str| WidgetTokenRequest::parse([basic.as_bytes()], body.as_bytes());
    // An empty client_secret beside a Basic header is a second method, as
    // at the token endpoint: never silently dropped.
    assert_eq!(
        parse("grant_type=Widget&payload=x&client_secret=").unwrap_err(),
        WidgetError::MultipleClientAuthentication
    );
    // The empty payload still counts as absent (RFC 6749 section 3.2).
    assert_eq!(
        parse("grant_type=Widget&payload=").unwrap_err(),
        WidgetError::MissingParameter("payload")
    );
}

#[test]
fn a_project_file_error_names_the_field_and_keeps_its_typed_cause() {
    let config = |host: &str| {
        serde_json::json!({
            "name": host, "client_id": ClientId::generate().to_string(),
            "login_url": format!("https://{host}/login"),
            "primary_secret": ClientSecret::generate().expose(),
            "secondary_secret": ClientSecret::generate().expose(),
        })
    };
    let file = serde_json::json!({"jwt": [config("a.example.com"), config("A.example.com")]});
    let err = ProjectFile::parse(&file.to_string())
        .unwrap()
        .into_project()
        .unwrap_err();
    assert_eq!(err.field, "jwt[1]");
    assert!(err.to_string().starts_with("jwt[1]: "), "{err}");
    assert!(
        matches!(&err.problem, ProjectFileProblem::Config(ConfigError::DuplicateDomain(d)) if d == "a.example.com"),
        "{err:?}"
    );
    let source = err.source().unwrap();
    assert_eq!(
        source.downcast_ref::<ProjectFileProblem>().map(ToString::to_string),
        Some(ConfigError::DuplicateDomain("a.example.com".into()).to_string())
    );
}
