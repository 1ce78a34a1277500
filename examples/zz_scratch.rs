#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use kb_sso::store::memory::MemoryReplayCache;
use kb_sso::*;
use sha2::Sha256;
use std::hint::black_box;
use std::time::Instant;

fn t(name: &str, mut f: impl FnMut()) {
    let mut v = vec![];
    for _ in 0..200 {
        let s = Instant::now();
        for _ in 0..200 {
            f();
        }
        v.push(s.elapsed().as_nanos() as f64 / 200.0);
    }
    v.sort_by(f64::total_cmp);
    println!("{name}\t{:.0}", v[v.len() / 2]);
}

fn main() {
    let now = SystemClock.now();
    let n = now.unix_timestamp();
    let claims = serde_json::json!({
        "sub": "alice", "email": "Alice@Example.com", "firstname": "Alice",
        "accessRoles": ["engineering", "sre"], "aud": "docs.example.com",
        "iss": "https://app.example.com", "iat": n, "exp": n + 3600,
    });
    let secret = ClientSecret::generate();
    let id = ClientId::generate();
    let mut verifier = HandshakeVerifier::new();
    verifier
        .insert(
            id.clone(),
            HandshakeSettings::builder(HandshakeKey::hs256(&secret, None).unwrap())
                .audience("docs.example.com")
                .issuer("https://app.example.com")
                .build()
                .unwrap(),
        )
        .unwrap();
    let b64 = |v: &serde_json::Value| URL_SAFE_NO_PAD.encode(v.to_string());
    let input = format!(
        "{}.{}",
        b64(&serde_json::json!({"alg": "HS256", "typ": "JWT", "kid": id.as_str()})),
        b64(&claims)
    );
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes()).unwrap();
    mac.update(input.as_bytes());
    let token = format!("{input}.{}", URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()));
    println!("token len {}", token.len());
    if std::env::var("REDEEM").is_ok() {
        use kb_sso::store::memory::{MemoryCodeStore, MemoryConfigStore};
        const BODY: &[u8] = br#"{"username":"john.doe","firstName":"John","lastName":"Doe","emailId":"john.doe@example.com","readerGroupIds":["group1","group2"],"tokenValidity":15}"#;
        let (config, secrets) = JwtConfig::builder("app.example.com", "https://app.example.com/login")
            .build()
            .unwrap();
        let project = Project::new(ProjectSettings::default(), vec![config.clone()], vec![]).unwrap();
        let server = IdentityServer::new(
            MemoryConfigStore::new(project),
            CodeIssuer::new(MemoryCodeStore::new(), SystemClock).with_max_outstanding(usize::MAX),
            TokenSigner::new(SigningKey::generate_ed25519("k1").unwrap()),
            "https://kb.example.com",
        );
        let creds = ClientCredentials::new(config.client_id().as_str(), secrets.primary.clone());
        let codes: Vec<AuthCode> = (0..100_000)
            .map(|_| futures_now(server.issue_code(&creds, BODY)).unwrap())
            .collect();
        let s = Instant::now();
        for c in &codes {
            black_box(futures_now(server.exchange(c.expose(), None)).unwrap());
        }
        println!("exchange {:.0} ns", s.elapsed().as_nanos() as f64 / 100_000.0);
        return;
    }
    if std::env::var("ISSUE").is_ok() {
        use kb_sso::store::memory::MemoryCodeStore;
        const BODY: &[u8] = br#"{"username":"john.doe","firstName":"John","lastName":"Doe","emailId":"john.doe@example.com","readerGroupIds":["group1","group2"],"tokenValidity":15}"#;
        let (config, secrets) = JwtConfig::builder("app.example.com", "https://app.example.com/login")
            .build()
            .unwrap();
        let secret = secrets.primary.expose().as_bytes().to_vec();
        for _ in 0..5 {
            let issuer = CodeIssuer::new(MemoryCodeStore::new(), SystemClock).with_max_outstanding(usize::MAX);
            let s = Instant::now();
            for _ in 0..200_000 {
                black_box(futures_now(issuer.issue_json(Some(&config), &secret, black_box(BODY))).unwrap());
            }
            println!("issue {:.0} ns", s.elapsed().as_nanos() as f64 / 200_000.0);
        }
        return;
    }
    if std::env::var("PARSE").is_ok() {
        for _ in 0..5_000_000 {
            black_box(UntrustedToken::parse(black_box(&token)).unwrap());
        }
        return;
    }
    if std::env::var("ONLY").is_ok() {
        let cache = MemoryReplayCache::new();
        for _ in 0..2_000_000 {
            black_box(futures_now(verifier.verify_str(black_box(&token), now, &cache)).unwrap());
        }
        return;
    }
    let cache = MemoryReplayCache::new();
    let keyed = Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes()).unwrap();
    t("hmac_full", || {
        let mut m = Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes()).unwrap();
        m.update(black_box(input.as_bytes()));
        black_box(m.finalize());
    });
    t("hmac_prekeyed", || {
        let mut m = keyed.clone();
        m.update(black_box(input.as_bytes()));
        black_box(m.finalize());
    });
    t("parse", || {
        black_box(UntrustedToken::parse(black_box(&token)).unwrap());
    });
    let payload = input.split('.').nth(1).unwrap();
    t("b64_payload", || {
        black_box(URL_SAFE_NO_PAD.decode(black_box(payload)).unwrap());
    });
    let pj = URL_SAFE_NO_PAD.decode(payload).unwrap();
    t("json_value", || {
        black_box(serde_json::from_slice::<serde_json::Value>(black_box(&pj)).unwrap());
    });
    t("json_ignored", || {
        black_box(serde_json::from_slice::<serde::de::IgnoredAny>(black_box(&pj)).unwrap());
    });
    t("is_b64_fold", || {
        black_box(is_b64(black_box(&token)));
    });
    t("is_b64_all", || {
        black_box(
            black_box(&token)
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.'),
        );
    });
    let header = token.split('.').next().unwrap();
    t("b64_header", || {
        black_box(URL_SAFE_NO_PAD.decode(black_box(header)).unwrap());
    });
    let hj = URL_SAFE_NO_PAD.decode(header).unwrap();
    t("json_header_value", || {
        black_box(serde_json::from_slice::<serde_json::Value>(black_box(&hj)).unwrap());
    });
    let parsed = UntrustedToken::parse(&token).unwrap();
    t("verify_parsed", || {
        black_box(futures_now(verifier.verify(black_box(&parsed), now, &cache)).unwrap());
    });
    t("verify_str", || {
        black_box(futures_now(verifier.verify_str(black_box(&token), now, &cache)).unwrap());
    });
    let v = futures_now(verifier.verify_str(&token, now, &cache)).unwrap();
    t("drop_clone", || {
        black_box(v.clone());
    });
}

fn futures_now<F: std::future::Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    match f
        .as_mut()
        .poll(&mut std::task::Context::from_waker(std::task::Waker::noop()))
    {
        std::task::Poll::Ready(o) => o,
        _ => panic!(),
    }
}

fn is_b64(segment: &str) -> bool {
    segment.bytes().fold(true, |ok, b| {
        ok & (b.is_ascii_alphanumeric() | (b == b'-') | (b == b'_') | (b == b'.'))
    })
}
