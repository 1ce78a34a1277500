//! scratch profile of the authorize step.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code, unused_imports)]
#[path = "bench_table.rs"]
mod bt;
use bt::*;
use kb_sso::*;
use kb_sso::server::SsoService;
fn main() {
    if std::env::var("MICRO").is_ok() { micro(); return; }
    let (server, config, secrets) = identity(SigningKey::generate_ed25519("k1").unwrap());
    let creds = ClientCredentials::new(config.client_id().as_str(), secrets.primary.clone());
    let key = SessionCodec::generate_key();
    let service = SsoService::new(server, SessionCodec::new(key.as_ref()).unwrap(), &url::Url::parse("https://kb.example.com").unwrap()).unwrap();
    let n = 300_000;
    let t0 = std::time::Instant::now();
    let codes: Vec<String> = (0..n).map(|_| now_or_never(service.identity().issue_code(&creds, BODY)).unwrap().expose().to_owned()).collect();
    let reqs: Vec<_> = codes.iter().map(|c| ::http::Request::get(format!("/jwt/authorize?code={c}&redirectUrl=%2Fdocs%2Fpage")).body(Vec::<u8>::new()).unwrap()).collect();
    eprintln!("go {:?}", t0.elapsed());
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let t = std::time::Instant::now();
    for r in &reqs { std::hint::black_box(now_or_never(service.site().authorize(r))); }
    eprintln!("{:?}/op", t.elapsed() / n);
}
#[allow(dead_code)]
fn micro() {
    let codec = SessionCodec::new(&[7u8; 32]).unwrap();
    let s = ReaderSession { username: "john.doe".into(), email: "john.doe@example.com".into(), first_name: "John".into(), last_name: "Doe".into(), groups: vec!["group1".into(), "group2".into()], client_id: ClientId::generate(), jti: "uJ7dG3b4wP0c1xQzN5sV8kYhT2aR6mLfE9oIiWnZqXg".into(), expires_at: time::OffsetDateTime::now_utc() + time::Duration::minutes(15) };
    let cookie = codec.encode(&s).unwrap();
    let now = time::OffsetDateTime::now_utc();
    for _ in 0..3 {
        let (e, d) = paired_ns(2000, 41, || { std::hint::black_box(codec.encode(std::hint::black_box(&s)).unwrap()); }, || { std::hint::black_box(codec.decode(std::hint::black_box(&cookie), now).unwrap()); });
        eprintln!("encode {e:.0} decode {d:.0} len {}", cookie.len());
    }
}
