//! Hot operations beside the raw cost of the cryptography each cannot
//! avoid, each in the same group as its baseline, so the overhead reads as
//! a ratio. `cargo bench` runs them all in a few minutes; the quick table
//! is `cargo run --release --example bench_table`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
// criterion_group! generates an undocumented public function.
#![allow(missing_docs)]

use std::future::Future;
use std::hint::black_box;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use ed25519_dalek::Signer as _;
use hmac::{Hmac, Mac};
use kb_sso::MultiProjectRouter;
use kb_sso::server::{Guard, SsoService};
use kb_sso::store::memory::{MemoryCodeStore, MemoryConfigStore, MemoryReplayCache};
use kb_sso::*;
use kb_sso::{HandshakeKey, HandshakeSettings, HandshakeVerifier, generate_ed25519_key_pair};
use rand_core::{OsRng, RngCore};
use sha2::{Digest, Sha256};

const BODY: &[u8] = br#"{"username":"john.doe","firstName":"John","lastName":"Doe","emailId":"john.doe@example.com","readerGroupIds":["group1","group2"],"tokenValidity":15}"#;

/// Runs a future that the memory stores answer at once.
fn now_or_never<F: Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("a memory store answered later"),
    }
}

/// Short runs: the whole suite stays within a few minutes on two cores.
fn quick<'c>(c: &'c mut Criterion, name: &str) -> criterion::BenchmarkGroup<'c, criterion::measurement::WallTime> {
    let mut g = c.benchmark_group(name);
    g.sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    g
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[allow(dead_code)]
struct RawRequest<'a> {
    username: String,
    first_name: String,
    last_name: String,
    email_id: String,
    reader_group_ids: Option<Vec<String>>,
    #[serde(borrow)]
    token_validity: Option<&'a serde_json::value::RawValue>,
    code_challenge: Option<String>,
}

fn config(host: &str) -> (JwtConfig, IssuedSecrets) {
    JwtConfig::builder(host, format!("https://{host}/login"))
        // At most three configurations show a button.
        .show_login_button(host.ends_with(".com"))
        .login_button_text(format!("Sign in with {host}"))
        .build()
        .unwrap()
}

type Server = IdentityServer<MemoryConfigStore, MemoryCodeStore, SystemClock>;

fn identity(key: SigningKey) -> (Server, ClientCredentials) {
    let (config, secrets) = config("app.example.com");
    let creds = ClientCredentials::new(config.client_id().as_str(), secrets.primary.clone());
    let project = Project::new(ProjectSettings::default(), vec![config], vec![]).unwrap();
    let server = IdentityServer::new(
        MemoryConfigStore::new(project),
        CodeIssuer::new(MemoryCodeStore::new(), SystemClock),
        TokenSigner::new(key),
        "https://kb.example.com",
    );
    (server, creds)
}

fn code_issue(c: &mut Criterion) {
    let (config, secrets) = config("app.example.com");
    let secret = secrets.primary.expose().as_bytes().to_vec();
    let issuer = CodeIssuer::new(MemoryCodeStore::new(), SystemClock);
    let mut g = quick(c, "code_issue");
    g.bench_function("baseline: sha256 x2 + 32 random bytes + JSON parse", |b| {
        b.iter(|| {
            black_box(Sha256::digest(black_box(&secret)));
            let mut code = [0u8; 32];
            OsRng.fill_bytes(&mut code);
            black_box(Sha256::digest(URL_SAFE_NO_PAD.encode(code)));
            black_box(serde_json::from_slice::<RawRequest<'_>>(black_box(BODY)).unwrap());
        })
    });
    g.bench_function("issue_json (auth + parse + clamp + code + store)", |b| {
        b.iter(|| now_or_never(issuer.issue_json(Some(&config), &secret, black_box(BODY))).unwrap())
    });
    g.finish();
}

fn code_redeem(c: &mut Criterion) {
    for (group, key, hs) in [
        (
            "code_redeem_sign_eddsa",
            SigningKey::generate_ed25519("k1").unwrap(),
            false,
        ),
        (
            "code_redeem_sign_hs256",
            SigningKey::hs256("k2", &[0x5a; 32]).unwrap(),
            true,
        ),
    ] {
        let (server, creds) = identity(key);
        let code = now_or_never(server.issue_code(&creds, BODY)).unwrap();
        let token = now_or_never(server.exchange(code.expose(), None)).unwrap().id_token;
        let input = token.rsplit_once('.').unwrap().0.as_bytes().to_vec();
        let raw = ed25519_dalek::SigningKey::from_bytes(&[7u8; 32]);
        let mut g = quick(c, group);
        if hs {
            g.bench_function("baseline: hmac-sha256 of the token", |b| {
                b.iter(|| {
                    let mut m = Hmac::<Sha256>::new_from_slice(&[0x5a; 32]).unwrap();
                    m.update(black_box(&input));
                    m.finalize()
                })
            });
        } else {
            g.bench_function("baseline: ed25519 sign", |b| b.iter(|| raw.sign(black_box(&input))));
        }
        g.bench_function("exchange (redeem + id_token + access_token)", |b| {
            b.iter_batched(
                || now_or_never(server.issue_code(&creds, BODY)).unwrap(),
                |code| now_or_never(server.exchange(code.expose(), None)).unwrap(),
                BatchSize::SmallInput,
            )
        });
        g.finish();
    }
}

fn session_verify(c: &mut Criterion) {
    let key = [9u8; 32];
    let codec = SessionCodec::new(&key).unwrap();
    let session = ReaderSession {
        username: "john.doe".into(),
        email: "john.doe@example.com".into(),
        first_name: "John".into(),
        last_name: "Doe".into(),
        groups: vec!["group1".into(), "group2".into()],
        client_id: ClientId::generate(),
        jti: "uJ7dG3b4wP0c1xQzN5sV8kYhT2aR6mLfE9oIiWnZqXg".into(),
        expires_at: SystemClock.now() + time::Duration::minutes(15),
        name: String::new(),
        claims: serde_json::Map::new(),
        binding: None,
    };
    let cookie = codec.encode(&session).unwrap();
    let now = SystemClock.now();
    let mut g = quick(c, "session_verify");
    g.bench_function("baseline: hmac-sha256 of the cookie", |b| {
        b.iter(|| {
            let mut m = Hmac::<Sha256>::new_from_slice(&key).unwrap();
            m.update(black_box(cookie.as_bytes()));
            m.finalize()
        })
    });
    g.bench_function("SessionCodec::decode", |b| {
        b.iter(|| codec.decode(black_box(&cookie), now).unwrap())
    });
    g.finish();
}

fn handshake_verify(c: &mut Criterion) {
    let now = SystemClock.now();
    let t = now.unix_timestamp();
    let claims = serde_json::json!({
        "sub": "alice", "email": "Alice@Example.com", "firstname": "Alice",
        "accessRoles": ["engineering", "sre"], "aud": "docs.example.com",
        "iss": "https://app.example.com", "iat": t, "exp": t + 3600,
    });
    let cache = MemoryReplayCache::new();
    let settings = |key| {
        HandshakeSettings::builder(key)
            .audience("docs.example.com")
            .issuer("https://app.example.com")
            .build()
            .unwrap()
    };
    let b64 = |v: &serde_json::Value| URL_SAFE_NO_PAD.encode(v.to_string());

    let (private_pem, public_pem) = generate_ed25519_key_pair().unwrap();
    use ed25519_dalek::pkcs8::DecodePrivateKey as _;
    let private = ed25519_dalek::SigningKey::from_pkcs8_pem(&private_pem).unwrap();
    let mut verifier = HandshakeVerifier::new();
    let id = ClientId::generate();
    verifier
        .insert(
            id.clone(),
            settings(HandshakeKey::ed25519_from_spki_pem(&public_pem).unwrap()),
        )
        .unwrap();
    let input = format!(
        "{}.{}",
        b64(&serde_json::json!({"alg": "EdDSA", "typ": "JWT", "kid": id.as_str()})),
        b64(&claims)
    );
    let sig = private.sign(input.as_bytes());
    let token = format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.to_bytes()));
    let public = private.verifying_key();
    let mut g = quick(c, "handshake_verify_eddsa");
    g.bench_function("baseline: ed25519 verify", |b| {
        b.iter(|| public.verify_strict(black_box(input.as_bytes()), &sig).unwrap())
    });
    g.bench_function("HandshakeVerifier::verify_str", |b| {
        b.iter(|| now_or_never(verifier.verify_str(black_box(&token), now, &cache)).unwrap())
    });
    g.finish();

    let secret = ClientSecret::generate();
    let mut verifier = HandshakeVerifier::new();
    let id = ClientId::generate();
    verifier
        .insert(id.clone(), settings(HandshakeKey::hs256(&secret, None).unwrap()))
        .unwrap();
    let input = format!(
        "{}.{}",
        b64(&serde_json::json!({"alg": "HS256", "typ": "JWT", "kid": id.as_str()})),
        b64(&claims)
    );
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes()).unwrap();
    mac.update(input.as_bytes());
    let token = format!("{input}.{}", URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()));
    let mut g = quick(c, "handshake_verify_hs256");
    g.bench_function("baseline: hmac-sha256 of the token", |b| {
        b.iter(|| {
            let mut m = Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes()).unwrap();
            m.update(black_box(input.as_bytes()));
            m.finalize()
        })
    });
    g.bench_function("HandshakeVerifier::verify_str", |b| {
        b.iter(|| now_or_never(verifier.verify_str(black_box(&token), now, &cache)).unwrap())
    });
    g.finish();
}

fn routing(c: &mut Criterion) {
    let hosts = [
        "example.com",
        "support.example.com",
        "docs.example.org",
        "kb.example.net",
        "help.example.io",
    ];
    let configs: Vec<JwtConfig> = hosts.iter().map(|h| config(h).0).collect();
    let input = "alice@eu.support.example.com";
    let one = DomainRouter::new(&configs[1..2]);
    let five = DomainRouter::new(&configs);
    let mut many = MultiProjectRouter::new();
    for p in 0..1_000_000u32 {
        many.insert(
            &format!("project-{p}"),
            &format!("support{}.example.com", p % 1000),
            ClientId::generate(),
            true,
        )
        .unwrap();
    }
    many.insert_configs("project-424242", &configs);
    let mut g = quick(c, "routing");
    g.bench_function("baseline: DomainRouter, 1 configuration", |b| {
        b.iter(|| one.route(black_box(input)))
    });
    g.bench_function("DomainRouter, 5 configurations", |b| {
        b.iter(|| five.route(black_box(input)))
    });
    g.bench_function("MultiProjectRouter, 1,000,000 projects", |b| {
        b.iter(|| many.route(black_box("project-424242"), black_box(input)))
    });
    g.finish();
    drop(many);

    let project = |configs: Vec<JwtConfig>| Project::new(ProjectSettings::default(), configs, vec![]).unwrap();
    let p1 = project(configs[..1].to_vec());
    let p5 = project(configs);
    let mut g = quick(c, "login_page");
    g.bench_function("baseline: LoginPage::resolve, 1 configuration", |b| {
        b.iter(|| LoginPage::resolve(black_box(&p1)))
    });
    g.bench_function("LoginPage::resolve, 5 configurations", |b| {
        b.iter(|| LoginPage::resolve(black_box(&p5)))
    });
    g.finish();
}

fn http_flow(c: &mut Criterion) {
    let (server, creds) = identity(SigningKey::generate_ed25519("k1").unwrap());
    let basic = creds.to_basic_header();
    let service = SsoService::new(
        server,
        SessionCodec::new(&[3u8; 32]).unwrap(),
        &url::Url::parse("https://kb.example.com").unwrap(),
    )
    .unwrap();
    let raw = ed25519_dalek::SigningKey::from_bytes(&[7u8; 32]);
    let msg = [b'x'; 300];
    let sig = raw.sign(&msg);
    let public = raw.verifying_key();
    let mut g = quick(c, "http_code_flow");
    g.bench_function("baseline: ed25519 sign x2 + verify", |b| {
        b.iter(|| {
            black_box(raw.sign(black_box(&msg)));
            black_box(raw.sign(black_box(&msg)));
            public.verify_strict(black_box(&msg), &sig).unwrap();
        })
    });
    g.bench_function("SsoService: generate-code, authorize, guarded page", |b| {
        b.iter(|| {
            let req = ::http::Request::post("/api/jwt/generate-code")
                .header(::http::header::AUTHORIZATION, basic.as_str())
                .header(::http::header::CONTENT_TYPE, "application/json")
                .body(BODY.to_vec())
                .unwrap();
            let resp = now_or_never(service.serve(req)).expect("generate-code is an endpoint");
            let code: serde_json::Value = serde_json::from_slice(resp.body()).unwrap();
            let req = ::http::Request::get(format!(
                "/jwt/authorize?code={}&redirectUrl=%2Fdocs%2Fpage",
                code["code"].as_str().unwrap()
            ))
            .body(Vec::new())
            .unwrap();
            let resp = now_or_never(service.serve(req)).expect("authorize is an endpoint");
            let cookie = resp
                .headers()
                .get_all(::http::header::SET_COOKIE)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .find(|v| v.starts_with("__Host-kb_session=") || v.starts_with("kb_session="))
                .unwrap()
                .split(';')
                .next()
                .unwrap()
                .to_owned();
            let req = ::http::Request::get("/docs/page")
                .header(::http::header::COOKIE, cookie)
                .body(Vec::<u8>::new())
                .unwrap();
            let Guard::Reader(reader) = now_or_never(service.guard(&req)) else {
                panic!("the page opens")
            };
            reader
        })
    });
    g.finish();
}

criterion_group!(
    benches,
    code_issue,
    code_redeem,
    session_verify,
    handshake_verify,
    routing,
    http_flow
);
criterion_main!(benches);
