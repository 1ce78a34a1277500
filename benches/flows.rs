//! Hot operations beside the raw cost of the primitive each cannot avoid,
//! so the overhead reads as a ratio.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
// criterion_group! generates an undocumented public function.
#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use ed25519_dalek::Signer as _;
use hmac::{Hmac, Mac};
use kb_sso::store::memory::MemoryCodeStore;
use kb_sso::*;
use sha2::{Digest, Sha256};

fn code_flow(c: &mut Criterion) {
    let (config, secrets) = JwtConfig::builder("P", "https://app.example.com/login")
        .build()
        .unwrap();
    let secret = secrets.primary;
    let issuer = CodeIssuer::new(MemoryCodeStore::new(), SystemClock);
    let body = br#"{"username":"john.doe","firstName":"John","lastName":"Doe","emailId":"john.doe@example.com","readerGroupIds":["group1","group2"],"tokenValidity":15}"#;
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();

    let mut g = c.benchmark_group("code");
    g.bench_function("baseline: sha256 x2 (secret digest + code digest)", |b| {
        b.iter(|| {
            black_box(Sha256::digest(black_box(secret.expose().as_bytes())));
            black_box(Sha256::digest(black_box(
                b"0123456789012345678901234567890123456789012",
            )));
        })
    });
    g.bench_function("issue (auth + parse + clamp + code + store)", |b| {
        b.iter(|| {
            rt.block_on(issuer.issue_json(Some(&config), secret.expose().as_bytes(), black_box(body)))
                .unwrap()
        })
    });
    g.bench_function("issue + redeem", |b| {
        b.iter(|| {
            rt.block_on(async {
                let code = issuer
                    .issue_json(Some(&config), secret.expose().as_bytes(), body)
                    .await
                    .unwrap();
                issuer.redeem(code.expose(), None).await.unwrap()
            })
        })
    });
    g.finish();
}

fn tokens(c: &mut Criterion) {
    let key = SigningKey::generate_ed25519("k1").unwrap();
    let signer = TokenSigner::new(key);
    let verifier = Verifier::new(
        KeySet::from_keys([signer.key().verification_key()]).unwrap(),
        Validation::new().issuer("https://kb.example.com").audience("aud-1"),
    );
    let now = SystemClock.now().unix_timestamp();
    let claims = IdTokenClaims {
        iss: "https://kb.example.com".into(),
        sub: "john.doe".into(),
        aud: "aud-1".into(),
        iat: now,
        exp: now + 900,
        jti: "j".into(),
        given_name: "John".into(),
        family_name: "Doe".into(),
        name: "John Doe".into(),
        email: "john.doe@example.com".into(),
        groups: vec!["group1".into(), "group2".into()],
    };
    let token = signer.sign(&claims).unwrap();
    let raw = ed25519_dalek::SigningKey::from_bytes(&[7u8; 32]);
    let raw_pub = raw.verifying_key();
    let signing_input = token.rsplit_once('.').unwrap().0.as_bytes().to_vec();
    let raw_sig = raw.sign(&signing_input);

    let mut g = c.benchmark_group("id_token");
    g.bench_function("baseline: ed25519 sign", |b| {
        b.iter(|| raw.sign(black_box(&signing_input)))
    });
    g.bench_function("sign", |b| b.iter(|| signer.sign(black_box(&claims)).unwrap()));
    g.bench_function("baseline: ed25519 verify", |b| {
        b.iter(|| raw_pub.verify_strict(black_box(&signing_input), &raw_sig).unwrap())
    });
    g.bench_function("verify", |b| {
        b.iter(|| {
            let t = UntrustedToken::parse(black_box(&token)).unwrap();
            verifier.verify::<IdTokenClaims>(&t, SystemClock.now()).unwrap()
        })
    });
    g.finish();
}

fn sessions(c: &mut Criterion) {
    let key = [9u8; 32];
    let codec = SessionCodec::new(&key).unwrap();
    let session = ReaderSession {
        username: "john.doe".into(),
        email: "john.doe@example.com".into(),
        first_name: "John".into(),
        last_name: "Doe".into(),
        groups: vec!["group1".into(), "group2".into()],
        client_id: ClientId::generate(),
        jti: "j".into(),
        expires_at: SystemClock.now() + time::Duration::minutes(15),
    };
    let cookie = codec.encode(&session);
    let mut g = c.benchmark_group("session cookie");
    g.bench_function("baseline: hmac-sha256 of the cookie", |b| {
        b.iter(|| {
            let mut m = Hmac::<Sha256>::new_from_slice(&key).unwrap();
            m.update(black_box(cookie.as_bytes()));
            m.finalize()
        })
    });
    g.bench_function("decode (check + parse + expiry)", |b| {
        b.iter(|| codec.decode(black_box(&cookie), SystemClock.now()).unwrap())
    });
    g.finish();
}

criterion_group!(benches, code_flow, tokens, sessions);
criterion_main!(benches);
