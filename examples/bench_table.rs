//! A quick table of the hot operations beside the raw cryptography each
//! cannot avoid: `cargo run --release --example bench_table`.
//!
//! One tab-separated line per operation: `operation`, median ns, baseline
//! name, baseline median ns, ratio of the two medians; then
//! `round_ratio_median`, `round_ratio_iqr` and `rounds`: the operation and
//! its baseline are timed in short batches, each round four of them
//! (A B B A) and its ratio the operation's two over the baseline's two, so
//! that each round compares batches timed moments apart and neither side
//! is favoured by going first; the median of those ratios over hundreds of
//! rounds holds still on a busy machine. Rows whose per-round ratios spread
//! wider than 10% of their median (interquartile range) are named on
//! stderr as too noisy to trust. Each section of the table runs in a fresh
//! process of its own, so that no section inherits the heap another left
//! behind. The `peer_` rows time `jsonwebtoken` on the operations we share
//! with it, beside the same raw primitive as our own row.
//!
//! `memory_store_2_threads` (only with `--scaling` or `--only
//! memory_store`; see [`NOT_BY_DEFAULT`] for why) asks whether the memory
//! code store scales across threads (does not serialize on one lock). Each round times
//! redemptions of one configuration's codes (digest + atomic take +
//! unpack) on one thread and the same number split over two, and a
//! control, SHA-256 work that shares nothing, on one thread and on two,
//! the store's two-thread run between two of the control's. A round counts
//! only when both control runs beside it went at least 1.4 times as fast
//! on two threads as on one (the second core was free); rounds are taken
//! until 100 count or 4 s have passed. Threads start together by spinning,
//! not from a sleeping barrier (whose wake-up can put both on one core).
//! The row's ratio is the store's two-thread speed-up over the control's
//! in the same round, its scaling
//! efficiency: 1.0 when it scales as far as anything can on this machine,
//! 0.5 when two threads get no more done than one. Its "ns" columns are
//! operations per second: the store's on two threads, and its one-thread
//! rate times the control's speed-up (the ideal). On a machine whose
//! second core is free in fewer than 20 rounds (someone else keeps it
//! busy) the row says `unknown`: nothing can be said about scaling then.
//!
//! The SQLite rows run in a child process held to one core (`taskset -c
//! 0`), on a database on a RAM file system (`/dev/shm`, where there is
//! one), in batches of about 2 ms: every statement is a hop to its
//! connection's thread, and whether that thread shares the caller's core
//! is settled once per thread, which in one unpinned process made two
//! identical pools differ threefold; on a disk, the fsync on commit (the
//! same on both sides) added milliseconds of the disk's own noise. Both
//! sides use pools configured alike (WAL, `synchronous = FULL`, four
//! connections, no statement logging). `sqlite_config_lookup` is the
//! store's `current()` (one indexed read of the revision; the project is
//! parsed only when it moved) beside that same read sent straight through
//! sqlx; `sqlite_audit_append` is the store's `append` beside the same
//! `BEGIN IMMEDIATE` transaction sent straight through sqlx (read the head,
//! insert the entry, write the head, commit), so the ratio is the store's
//! own work (JSON, the chain hash, the checkpoint MAC) over the engine's.
//!
//! `memory_bytes_per_code` and `memory_bytes_per_revoked_session` are the
//! resident-memory growth per outstanding code and per revoked session id
//! over 1,000,000 of each (Linux only), each in a fresh process; one over
//! 400 MB is named on stderr. The benches lift the limit of outstanding
//! codes per configuration, so that they can issue ahead.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::Future;
use std::hint::black_box;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::Signer as _;
use hmac::{Hmac, Mac};
use kb_sso::MultiProjectRouter;
use kb_sso::server::{Guard, SsoService};
use kb_sso::store::memory::{MemoryCodeStore, MemoryConfigStore, MemoryReplayCache};
use kb_sso::*;
use kb_sso::{HandshakeKey, HandshakeSettings, HandshakeVerifier, generate_ed25519_key_pair};
use rand_core::{OsRng, RngCore};
use sha2::{Digest, Sha256};

/// The spec's code request body.
pub(crate) const BODY: &[u8] = br#"{"username":"john.doe","firstName":"John","lastName":"Doe","emailId":"john.doe@example.com","readerGroupIds":["group1","group2"],"tokenValidity":15}"#;

/// Runs a future that the memory stores answer at once.
pub(crate) fn now_or_never<F: Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("a memory store answered later"),
    }
}

/// An operation's timing from [`paired_ns`]: its median nanoseconds per
/// call and, round by round, its time over the baseline's in that round.
pub(crate) struct Timed {
    /// Median nanoseconds per call over the rounds.
    ns: f64,
    /// Per-round ratios, operation over baseline.
    ratios: Vec<f64>,
}

/// Longest a timed batch is meant to take: a shared machine preempts a
/// long batch more often, which spoils its round's ratio.
const BATCH_NS: f64 = 50_000.0;

/// Shortest a timed batch is cut to when [`MIN_ROUNDS`] asks for more,
/// shorter rounds: well above the cost of reading the clock.
const MIN_BATCH_NS: f64 = 5_000.0;

/// The fewest rounds a row is cut into while its batches stay above
/// [`MIN_BATCH_NS`]: a row's median ratio comes from many rounds spread
/// over its whole run, not from a few that one busy moment can sway.
const MIN_ROUNDS: usize = 250;

/// Median nanoseconds per call of `f` (with its per-round ratios) and of
/// `base`, over the work of `batches` batches of `batch` calls each. The
/// work is cut into short rounds (each batch about [`BATCH_NS`] or less,
/// and shorter, down to [`MIN_BATCH_NS`], to make at least [`MIN_ROUNDS`]
/// rounds), each round four batches, A B B A, and its ratio the two of `f`
/// over the two of `base`: load from other processes and drift weigh on
/// both alike, each round compares batches timed moments apart, and
/// whatever one batch leaves behind for the next (caches, the allocator)
/// falls on both sides alike, so no round order is favoured. One warm-up
/// batch of each comes first. `f` and `base` are called at most
/// `batch * (batches + 1)` times each (callers prepare inputs).
pub(crate) fn paired_ns(batch: usize, batches: usize, f: impl FnMut(), base: impl FnMut()) -> (Timed, f64) {
    paired_ns_refilled(batch, batches, f, base, |_| {})
}

/// [`paired_ns`], calling `refill(calls)` untimed before each round, with
/// the number of calls each closure is about to make: for operations that
/// use up prepared inputs, so that the inputs need not all be made ahead.
pub(crate) fn paired_ns_refilled(
    batch: usize,
    batches: usize,
    f: impl FnMut(),
    base: impl FnMut(),
    refill: impl FnMut(usize),
) -> (Timed, f64) {
    paired_ns_paced(BATCH_NS, batch, batches, f, base, refill)
}

/// [`paired_ns_refilled`] with batches of about `batch_ns` (at most
/// `batch` calls): longer batches for operations whose single calls vary
/// widely (a hop to a database thread), so that each batch averages many.
pub(crate) fn paired_ns_paced(
    batch_ns: f64,
    batch: usize,
    batches: usize,
    mut f: impl FnMut(),
    mut base: impl FnMut(),
    mut refill: impl FnMut(usize),
) -> (Timed, f64) {
    let time = |g: &mut dyn FnMut(), calls: usize| {
        let start = Instant::now();
        for _ in 0..calls {
            g();
        }
        start.elapsed().as_nanos() as f64 / calls as f64
    };
    refill(batch);
    let warm = time(&mut f, batch).max(time(&mut base, batch));
    let total = batch * batches;
    let longest = ((batch_ns / warm) as usize).clamp(1, batch);
    let shortest = ((MIN_BATCH_NS / warm) as usize).clamp(1, longest);
    let calls = (total / (2 * MIN_ROUNDS)).clamp(shortest, longest);
    let rounds = (total / (2 * calls)).max(1);
    let (mut a, mut b): (Vec<f64>, Vec<f64>) = (0..rounds)
        .map(|_| {
            refill(2 * calls);
            let a1 = time(&mut f, calls);
            let b1 = time(&mut base, calls);
            let b2 = time(&mut base, calls);
            let a2 = time(&mut f, calls);
            ((a1 + a2) / 2.0, (b1 + b2) / 2.0)
        })
        .unzip();
    let ratios = a.iter().zip(&b).map(|(a, b)| a / b).collect();
    let ns = median(&mut a);
    (Timed { ns, ratios }, median(&mut b))
}

/// The median of `v`.
pub(crate) fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The `q` quantile of `v` (0 to 1), interpolated between ranks.
pub(crate) fn quantile(v: &mut [f64], q: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    let rank = q * (v.len() - 1) as f64;
    let (lo, hi) = (rank.floor() as usize, rank.ceil() as usize);
    v[lo] + (v[hi] - v[lo]) * (rank - lo as f64)
}

/// A row whose per-round ratios spread wider than this share of their
/// median (interquartile range over median) is named on stderr as too
/// noisy to trust.
pub(crate) const NOISY_IQR: f64 = 0.10;

/// Prints one table line: the first five columns as always (the ratio of
/// the two medians), then the median of the per-round ratios, their
/// interquartile range and the number of rounds. A row too noisy to trust
/// is also named on stderr.
pub(crate) fn line(op: &str, timed: Timed, baseline: &str, baseline_ns: f64) {
    let Timed { ns, mut ratios } = timed;
    let (q1, q2, q3) = (
        quantile(&mut ratios, 0.25),
        quantile(&mut ratios, 0.5),
        quantile(&mut ratios, 0.75),
    );
    println!(
        "{op}\t{ns:.0}\t{baseline}\t{baseline_ns:.0}\t{:.2}\t{q2:.2}\t{:.2}\t{}",
        ns / baseline_ns,
        q3 - q1,
        ratios.len()
    );
    let spread = (q3 - q1) / q2;
    if spread > NOISY_IQR {
        eprintln!(
            "noisy: {op}: per-round ratios {q1:.2}..{q3:.2} (IQR {:.0}% of the median {q2:.2}); do not steer by this row",
            spread * 100.0
        );
    }
}

/// The header of the table.
pub(crate) const HEADER: &str =
    "operation\tmedian_ns\tbaseline\tbaseline_ns\tratio\tround_ratio_median\tround_ratio_iqr\trounds";

/// The fields of a code request, parsed the way the crate does (borrowing
/// where it can): the JSON parse part of the issuance baseline.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[allow(dead_code)]
pub(crate) struct RawRequest<'a> {
    username: String,
    first_name: String,
    last_name: String,
    email_id: String,
    reader_group_ids: Option<Vec<String>>,
    #[serde(borrow)]
    token_validity: Option<&'a serde_json::value::RawValue>,
    code_challenge: Option<String>,
}

/// A configuration whose login URL is on `host`.
pub(crate) fn config(host: &str) -> (JwtConfig, IssuedSecrets) {
    JwtConfig::builder(host, format!("https://{host}/login"))
        // At most three configurations show a button.
        .show_login_button(host.ends_with(".com"))
        .login_button_text(format!("Sign in with {host}"))
        .build()
        .unwrap()
}

/// An identity server over memory stores with one configuration.
pub(crate) fn identity(
    key: SigningKey,
) -> (
    IdentityServer<MemoryConfigStore, MemoryCodeStore, SystemClock>,
    JwtConfig,
    IssuedSecrets,
) {
    let (config, secrets) = config("app.example.com");
    let project = Project::new(ProjectSettings::default(), vec![config.clone()], vec![]).unwrap();
    let server = IdentityServer::new(
        MemoryConfigStore::new(project),
        CodeIssuer::new(MemoryCodeStore::new(), SystemClock).with_max_outstanding(usize::MAX),
        TokenSigner::new(key),
        "https://kb.example.com",
    );
    (server, config, secrets)
}

/// Resident memory of this process, in bytes (Linux), if known.
pub(crate) fn rss_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

/// Code issuance beside its parts: the digest of the presented secret, 32
/// random bytes and the digest of their base64url text (the code), the
/// JSON parse of the body, and keeping the grant under the code's digest:
/// one copy of the grant's text (the body) inserted into a hash map that
/// grows with the run as the issuer's store does. Whatever the store adds
/// to that (expiry, the per-configuration limit, locking) is the
/// operation's own.
/// Codes issued (and entries kept) before `code_issue` is timed: past a
/// growth of every shard's table (at 7/8 of 2,048 buckets for the store's
/// 64 shards, of 131,072 for the baseline's one map) and with room for the
/// run's own codes before the next.
const WARM_CODES: usize = 120_000;

fn code_issue() {
    let (config, secrets) = config("app.example.com");
    let issuer = CodeIssuer::new(MemoryCodeStore::new(), SystemClock).with_max_outstanding(usize::MAX);
    let secret = secrets.primary.expose().as_bytes().to_vec();
    let mut kept: std::collections::HashMap<[u8; 32], Box<[u8]>> = std::collections::HashMap::new();
    // Both stores start warm, as a busy KB's would be, and far enough from
    // their next table growth that the run crosses none: growing a table
    // (64 shards of the store's, one of the baseline's) lands in some
    // rounds and not others, and spread the row by a fifth.
    for i in 0..WARM_CODES {
        black_box(now_or_never(issuer.issue_json(Some(&config), &secret, BODY)).unwrap());
        kept.insert(Sha256::digest(i.to_le_bytes()).into(), Box::from(BODY));
    }
    let (ns, base) = paired_ns(
        1000,
        41,
        || {
            black_box(now_or_never(issuer.issue_json(Some(&config), &secret, black_box(BODY))).unwrap());
        },
        || {
            black_box(Sha256::digest(black_box(&secret)));
            let mut code = [0u8; 32];
            OsRng.fill_bytes(&mut code);
            let digest: [u8; 32] = Sha256::digest(URL_SAFE_NO_PAD.encode(code)).into();
            black_box(serde_json::from_slice::<RawRequest<'_>>(black_box(BODY)).unwrap());
            kept.insert(black_box(digest), Box::from(black_box(BODY)));
        },
    );
    line("code_issue", ns, "sha256x2+rand32+json_parse+map_insert", base);
}

fn code_redeem(name: &str, key: SigningKey, baseline: &str, raw: &dyn Fn(&[u8])) {
    let (server, config, secrets) = identity(key);
    let creds = ClientCredentials::new(config.client_id().as_str(), secrets.primary.clone());
    let (batch, batches) = (100, 60);
    let mut codes: Vec<AuthCode> = (0..batch * (batches + 1) * 2 + 1)
        .map(|_| now_or_never(server.issue_code(&creds, BODY)).unwrap())
        .collect();
    let next = |codes: &mut Vec<AuthCode>| codes.pop().unwrap();
    let token = now_or_never(server.exchange(next(&mut codes).expose(), None))
        .unwrap()
        .id_token;
    let input = token.rsplit_once('.').unwrap().0.as_bytes().to_vec();
    let mut next = || codes.pop().unwrap();
    let (ns, base) = paired_ns(
        batch,
        batches,
        || {
            black_box(now_or_never(server.exchange(next().expose(), None)).unwrap());
        },
        || raw(black_box(&input)),
    );
    // One token only: redeem and sign the id_token, as `exchange` does.
    let (id_only, id_base) = paired_ns(
        batch,
        batches,
        || {
            let grant = now_or_never(server.codes().redeem(next().expose(), None)).unwrap();
            let now = SystemClock.now().unix_timestamp();
            let claims = IdTokenClaims {
                iss: server.issuer().to_owned(),
                sub: grant.identity.username.clone(),
                aud: grant.client_id.to_string(),
                iat: now,
                exp: now + grant.token_validity_seconds,
                jti: "j".into(),
                given_name: grant.identity.first_name.clone(),
                family_name: grant.identity.last_name.clone(),
                name: grant.identity.full_name_for_bench(),
                email: grant.identity.email.clone(),
                groups: grant.identity.reader_group_ids.clone(),
            };
            black_box(server.signer().sign(&claims).unwrap());
        },
        || raw(black_box(&input)),
    );
    line(name, ns, baseline, base);
    line(&format!("{name}_id_token_only"), id_only, baseline, id_base);
}

/// `ReaderIdentity::full_name` is crate-internal; the same text.
pub(crate) trait FullName {
    /// `first last`, trimmed.
    fn full_name_for_bench(&self) -> String;
}

impl FullName for ReaderIdentity {
    fn full_name_for_bench(&self) -> String {
        format!("{} {}", self.first_name, self.last_name).trim().to_owned()
    }
}

fn session_verify() {
    let key = SessionCodec::generate_key();
    let codec = SessionCodec::new(key.as_ref()).unwrap();
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
    let (ns, base) = paired_ns(
        2000,
        41,
        || {
            black_box(codec.decode(black_box(&cookie), now).unwrap());
        },
        || {
            let mut m = Hmac::<Sha256>::new_from_slice(key.as_ref()).unwrap();
            m.update(black_box(cookie.as_bytes()));
            black_box(m.finalize());
        },
    );
    line("session_verify", ns, "hmac_sha256(cookie)", base);
}

fn handshake_claims(now: i64) -> serde_json::Value {
    serde_json::json!({
        "sub": "alice", "email": "Alice@Example.com", "firstname": "Alice",
        "accessRoles": ["engineering", "sre"], "aud": "docs.example.com",
        "iss": "https://app.example.com", "iat": now, "exp": now + 3600,
    })
}

fn handshake_verify() {
    let now = SystemClock.now();
    let claims = handshake_claims(now.unix_timestamp());
    let cache = MemoryReplayCache::new();
    let settings = |key| {
        HandshakeSettings::builder(key)
            .audience("docs.example.com")
            .issuer("https://app.example.com")
            .build()
            .unwrap()
    };
    let b64 = |v: &serde_json::Value| URL_SAFE_NO_PAD.encode(v.to_string());

    // EdDSA
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
    let (ns, base) = paired_ns(
        200,
        41,
        || {
            black_box(now_or_never(verifier.verify_str(black_box(&token), now, &cache)).unwrap());
        },
        || public.verify_strict(black_box(input.as_bytes()), &sig).unwrap(),
    );
    line("handshake_verify_eddsa", ns, "ed25519_verify", base);
}

fn handshake_verify_hs256() {
    let now = SystemClock.now();
    let claims = handshake_claims(now.unix_timestamp());
    let cache = MemoryReplayCache::new();
    let settings = |key| {
        HandshakeSettings::builder(key)
            .audience("docs.example.com")
            .issuer("https://app.example.com")
            .build()
            .unwrap()
    };
    let b64 = |v: &serde_json::Value| URL_SAFE_NO_PAD.encode(v.to_string());
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
    let (ns, base) = paired_ns(
        2000,
        41,
        || {
            black_box(now_or_never(verifier.verify_str(black_box(&token), now, &cache)).unwrap());
        },
        || {
            let mut m = Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes()).unwrap();
            m.update(black_box(input.as_bytes()));
            black_box(m.finalize());
        },
    );
    line("handshake_verify_hs256", ns, "hmac_sha256(token)", base);
}

fn routing_and_login_page() {
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
    let (ns5, base) = paired_ns(
        2000,
        41,
        || {
            black_box(five.route(black_box(input)));
        },
        || {
            black_box(one.route(black_box(input)));
        },
    );
    line("route_5_configs", ns5, "route_1_config", base);

    // Before the million-project router: its freed memory would leave
    // the allocator in a state of its own for the allocations timed here.
    let project = |configs: Vec<JwtConfig>| Project::new(ProjectSettings::default(), configs, vec![]).unwrap();
    // Sixteen copies of each project, taken in turn: where one copy lies
    // in memory (which differs from run to run) does not decide the row.
    let p1: Vec<Project> = (0..16).map(|_| project(configs[..1].to_vec())).collect();
    let p5: Vec<Project> = (0..16).map(|_| project(configs.clone())).collect();
    let (mut i1, mut i5) = (0, 0);
    let (ns, base) = paired_ns(
        2000,
        200,
        || {
            i5 = (i5 + 1) % 16;
            black_box(LoginPage::resolve(black_box(&p5[i5])));
        },
        || {
            i1 = (i1 + 1) % 16;
            black_box(LoginPage::resolve(black_box(&p1[i1])));
        },
    );
    line("login_page", ns, "login_page_1_config", base);

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
    let (ns, ns5) = paired_ns(
        2000,
        41,
        || {
            black_box(many.route(black_box("project-424242"), black_box(input)));
        },
        || {
            black_box(five.route(black_box(input)));
        },
    );
    line("route_1m_projects", ns, "route_5_configs", ns5);
    drop(many);
}

fn http_flow() {
    let (server, config, secrets) = identity(SigningKey::generate_ed25519("k1").unwrap());
    let creds = ClientCredentials::new(config.client_id().as_str(), secrets.primary.clone());
    let basic = creds.to_basic_header();
    let key = SessionCodec::generate_key();
    let service = SsoService::new(
        server,
        SessionCodec::new(key.as_ref()).unwrap(),
        &url::Url::parse("https://kb.example.com").unwrap(),
    )
    .unwrap();
    let flow = || {
        let req = ::http::Request::post("/api/jwt/generate-code")
            .header(::http::header::AUTHORIZATION, basic.as_str())
            .header(::http::header::CONTENT_TYPE, "application/json")
            .body(BODY.to_vec())
            .unwrap();
        let resp = now_or_never(service.serve(req)).expect("generate-code is an endpoint");
        let code: serde_json::Value = serde_json::from_slice(resp.body()).unwrap();
        let code = code["code"].as_str().unwrap();
        let req = ::http::Request::get(format!("/jwt/authorize?code={code}&redirectUrl=%2Fdocs%2Fpage"))
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
        assert!(service.endpoint(req.uri().path()).is_none(), "a page is the host's");
        let Guard::Reader(reader) = now_or_never(service.guard(&req)) else {
            panic!("the page opens")
        };
        black_box(reader);
    };
    let raw = ed25519_dalek::SigningKey::from_bytes(&[7u8; 32]);
    let msg = [b'x'; 300];
    let sig = raw.sign(&msg);
    let public = raw.verifying_key();
    let (ns, base) = paired_ns(50, 21, flow, || {
        black_box(raw.sign(black_box(&msg)));
        black_box(raw.sign(black_box(&msg)));
        public.verify_strict(black_box(&msg), &sig).unwrap();
    });
    line("http_code_flow", ns, "ed25519_sign_x2+verify", base);
}

/// The session cookie (`name=value`) an answer sets.
fn session_cookie(resp: &::http::Response<Vec<u8>>) -> String {
    resp.headers()
        .get_all(::http::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("__Host-kb_session=") || v.starts_with("kb_session="))
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned()
}

/// The in-process sign-in (`/jwt/authorize`: redeem, session from the
/// grant, session cookie; no sockets) beside what it cannot avoid: the
/// code's digest, the store's atomic take and the cookie's HMAC. Then the
/// guard of a private page beside the raw HMAC of its session cookie.
fn site_sign_in() {
    let (server, config, secrets) = identity(SigningKey::generate_ed25519("k1").unwrap());
    let creds = ClientCredentials::new(config.client_id().as_str(), secrets.primary.clone());
    let key = SessionCodec::generate_key();
    let service = SsoService::new(
        server,
        SessionCodec::new(key.as_ref()).unwrap(),
        &url::Url::parse("https://kb.example.com").unwrap(),
    )
    .unwrap();
    // The inputs are made a round ahead, untimed, and used oldest first,
    // so that the row can run as many rounds as it needs while both stores
    // hold about as many codes as before.
    let (batch, batches) = (100, 200);
    let outstanding = 2300;
    let issue = || now_or_never(service.identity().issue_code(&creds, BODY)).unwrap();
    // The baseline takes grants from a store of its own, filled with the
    // same grant under fresh codes.
    let grant = now_or_never(service.identity().codes().redeem(issue().expose(), None)).unwrap();
    let store = MemoryCodeStore::new();
    let raw_code = || {
        let code = issue().expose().to_owned();
        now_or_never(store.insert(CodeDigest::of(&code), grant.clone())).unwrap();
        code
    };
    // The requests are built ahead, like the page request below: the row
    // times the authorize step, not the making of its request.
    let request = |code: &AuthCode| {
        ::http::Request::get(format!(
            "/jwt/authorize?code={}&redirectUrl=%2Fdocs%2Fpage",
            code.expose()
        ))
        .body(Vec::<u8>::new())
        .unwrap()
    };
    let requests: RefCell<VecDeque<_>> = RefCell::new((0..outstanding).map(|_| request(&issue())).collect());
    let raw_codes: RefCell<VecDeque<String>> = RefCell::new((0..outstanding).map(|_| raw_code()).collect());
    let refill = |calls: usize| {
        let (mut requests, mut raw_codes) = (requests.borrow_mut(), raw_codes.borrow_mut());
        while requests.len() < outstanding.max(calls) {
            requests.push_back(request(&issue()));
        }
        while raw_codes.len() < outstanding.max(calls) {
            raw_codes.push_back(raw_code());
        }
    };
    let authorize = |req: &::http::Request<Vec<u8>>| now_or_never(service.site().authorize(req));
    let first = authorize(&requests.borrow_mut().pop_front().unwrap());
    assert_eq!(first.status(), ::http::StatusCode::FOUND);
    let cookie = session_cookie(&first);
    let value = cookie.split_once('=').unwrap().1.to_owned();
    let hmac = || {
        let mut m = Hmac::<Sha256>::new_from_slice(key.as_ref()).unwrap();
        m.update(black_box(value.as_bytes()));
        black_box(m.finalize());
    };
    let now = SystemClock.now();
    // Batches of about 100 us: a sign-in allocates a dozen times, and
    // longer batches average over where those allocations fall.
    let (ns, base) = paired_ns_paced(
        100_000.0,
        batch,
        batches,
        || {
            let resp = authorize(&requests.borrow_mut().pop_front().unwrap());
            debug_assert_eq!(resp.status(), ::http::StatusCode::FOUND);
            black_box(resp);
        },
        || {
            let code = raw_codes.borrow_mut().pop_front().unwrap();
            let digest = CodeDigest::of(black_box(&code));
            black_box(now_or_never(store.redeem(digest, now)).unwrap());
            hmac();
        },
        refill,
    );
    line(
        "site_sign_in_inprocess",
        ns,
        "code_digest+store_take+hmac(cookie)",
        base,
    );
    let page = ::http::Request::get("/docs/page")
        .header(::http::header::COOKIE, cookie.as_str())
        .body(Vec::<u8>::new())
        .unwrap();
    let (ns, base) = paired_ns(
        2000,
        41,
        || {
            let Guard::Reader(reader) = now_or_never(service.guard(black_box(&page))) else {
                panic!("the page opens")
            };
            black_box(reader);
        },
        hmac,
    );
    line("guarded_page", ns, "hmac_sha256(cookie)", base);
}

/// Wall time of `work(thread, inputs)` on `threads` threads started
/// together, each on a thread of its own with the inputs it made itself
/// with `prepare(thread)` (untimed, so that every thread's inputs are as
/// warm in its cache as a lone thread's), from the first start to the last
/// end; each thread reads the clock itself, so spawning is not timed.
fn wall_ns(
    threads: usize,
    prepare: &(dyn Fn(usize) -> Vec<String> + Sync),
    work: &(dyn Fn(usize, &[String]) + Sync),
) -> f64 {
    // A spinning start: a sleeping barrier's wake-up would have the
    // scheduler pull the woken thread onto the waker's core, so that two
    // threads could run on one core even with the other one free.
    let arrived = std::sync::atomic::AtomicUsize::new(0);
    let spans: Vec<(Instant, Instant)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let arrived = &arrived;
                s.spawn(move || {
                    let inputs = prepare(t);
                    arrived.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
                    while arrived.load(std::sync::atomic::Ordering::Acquire) < threads {
                        std::hint::spin_loop();
                    }
                    let start = Instant::now();
                    work(t, &inputs);
                    (start, Instant::now())
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let first = spans.iter().map(|s| s.0).min().unwrap();
    let last = spans.iter().map(|s| s.1).max().unwrap();
    (last - first).as_nanos() as f64
}

/// Rounds (with the second core free) of the thread-scaling row.
const SCALING_ROUNDS: usize = 100;

/// Fewest rounds with the second core free that the thread-scaling row
/// reports a number from; with fewer, the machine is too busy to say
/// anything about scaling, and the row says `unknown`.
const SCALING_ROUNDS_NEEDED: usize = 20;

/// Longest the thread-scaling row keeps looking for rounds with the
/// second core free.
const SCALING_TIME: std::time::Duration = std::time::Duration::from_secs(4);

/// The control's two-thread speed-up, before and after the store's
/// two-thread run, that shows the second core was free for it.
const FREE_CORE_SPEEDUP: f64 = 1.4;

/// Does the memory code store scale across two threads? Each round times,
/// back to back in alternating order, redemptions (digest + atomic take +
/// unpack) on one thread and the same number split over two, and the
/// control, pure SHA-256 work that shares nothing, on one thread and on
/// two. The store's speed-up over the control's in the same round is its
/// scaling efficiency: 1.0 when it scales as far as this machine's free
/// cores let anything scale, 0.5 when two threads serialize on one lock
/// (while the second core is free). The row's ns columns are operations
/// per second: the store's on two threads, and its one-thread rate times
/// the control's speed-up (the ideal).
fn memory_store() {
    let issuer = CodeIssuer::new(MemoryCodeStore::new(), SystemClock).with_max_outstanding(usize::MAX);
    let (config, secrets) = config("app.example.com");
    let secret = secrets.primary.expose().as_bytes().to_vec();
    // Redemptions per measurement: about two milliseconds on one thread.
    // With a few hundred per thread, the start of each fresh thread (its
    // first touches of the store's shared lines from another core) weighed
    // so much that two threads often did less than one.
    let per_run = 2000;
    let issue = |n: usize| -> Vec<String> {
        (0..n)
            .map(|_| {
                now_or_never(issuer.issue_json(Some(&config), &secret, BODY))
                    .unwrap()
                    .expose()
                    .to_owned()
            })
            .collect()
    };
    let store = |threads: usize| -> f64 {
        wall_ns(threads, &|_| issue(per_run / threads), &|_, codes| {
            for code in codes {
                black_box(now_or_never(issuer.redeem(code, None)).unwrap());
            }
        })
    };
    let sha = |n: usize, threads: usize| {
        move |t: usize, _: &[String]| {
            let mut block = [0u8; 64];
            block[0] = t as u8;
            for i in 0..n * per_run / threads {
                block[1..9].copy_from_slice(&i.to_le_bytes());
                black_box(Sha256::digest(black_box(block)));
            }
        }
    };
    // The control does about as long a job as the store: digests per
    // redemption, from one warm-up of each.
    store(1);
    let redeem_ns = store(1) / per_run as f64;
    let digest_ns = wall_ns(1, &|_| Vec::new(), &sha(1, 1)) / per_run as f64;
    let n = ((redeem_ns / digest_ns).round() as usize).max(1);
    let control = |threads: usize| wall_ns(threads, &|_| Vec::new(), &sha(n, threads));

    let (mut two, mut ideal, mut ratios) = (vec![], vec![], vec![]);
    let (started, mut rounds) = (Instant::now(), 0);
    while ratios.len() < SCALING_ROUNDS && started.elapsed() < SCALING_TIME {
        rounds += 1;
        // The store's two-thread run between two of the control's: the
        // round counts only when both show the second core free.
        let (s1, c1) = if rounds % 2 == 0 {
            (store(1), control(1))
        } else {
            let c1 = control(1);
            (store(1), c1)
        };
        let (before, s2, after) = (control(2), store(2), control(2));
        let c2 = before.max(after);
        if c1 / c2 < FREE_CORE_SPEEDUP {
            continue;
        }
        let per_s = |ns: f64| per_run as f64 * 1e9 / ns;
        two.push(per_s(s2));
        ideal.push(per_s(s1) * c1 / c2);
        ratios.push((s1 / s2) / (c1 / c2));
    }
    if ratios.len() < SCALING_ROUNDS_NEEDED {
        println!(
            "memory_store_2_threads\tunknown (the second core was free in only {} of {rounds} rounds; run it on a quieter machine)",
            ratios.len()
        );
        return;
    }
    if ratios.len() < SCALING_ROUNDS {
        eprintln!(
            "memory_store_2_threads: only {} of {rounds} rounds had the second core free",
            ratios.len()
        );
    }
    line(
        "memory_store_2_threads",
        Timed {
            ns: median(&mut two),
            ratios,
        },
        "ideal_2_threads(1_thread_x_control_speedup)",
        median(&mut ideal),
    );
}

/// Prints a memory row: bytes per item and the total for 1,000,000 items,
/// naming it on stderr when the total is over the 400 MB budget.
fn memory_line(op: &str, per_item: f64) {
    let total_mb = per_item; // bytes per item x 1e6 items / 1e6 bytes per MB
    println!("{op}\t{per_item:.0}\ttotal_mb_for_1m\t{total_mb:.0}\t-\t-\t-\t-");
    if total_mb > MEMORY_BUDGET_MB {
        eprintln!("over budget: {op}: {total_mb:.0} MB for 1,000,000 (budget {MEMORY_BUDGET_MB} MB)");
    }
}

/// The memory budget for 1,000,000 outstanding codes or revoked sessions.
const MEMORY_BUDGET_MB: f64 = 400.0;

/// Resident-memory growth per outstanding code, in a fresh process so that
/// memory freed by the other measurements does not hide it.
fn memory_per_code() {
    let (config, secrets) = config("app.example.com");
    let secret = secrets.primary.expose().as_bytes().to_vec();

    // Resident memory per outstanding code.
    let Some(before) = rss_bytes() else {
        println!("memory_bytes_per_code\tunknown (no /proc/self/statm)");
        return;
    };
    let issuer = CodeIssuer::new(MemoryCodeStore::new(), SystemClock).with_max_outstanding(usize::MAX);
    let n = 1_000_000u64;
    for _ in 0..n {
        now_or_never(issuer.issue_json(Some(&config), &secret, BODY)).unwrap();
    }
    let after = rss_bytes().unwrap_or(before);
    memory_line("memory_bytes_per_code", after.saturating_sub(before) as f64 / n as f64);
    black_box(issuer.store().len());
}

/// Resident-memory growth per revoked session id in
/// `MemorySessionRevocations` (each a 43-character `jti`, revoked for 14
/// days), in a fresh process as above.
fn memory_per_revocation() {
    use kb_sso::store::memory::MemorySessionRevocations;
    let Some(before) = rss_bytes() else {
        println!("memory_bytes_per_revoked_session\tunknown (no /proc/self/statm)");
        return;
    };
    let revocations = MemorySessionRevocations::new();
    let now = SystemClock.now();
    let until = now + time::Duration::days(14);
    let n = 1_000_000u64;
    let mut id = [0u8; 32];
    for _ in 0..n {
        OsRng.fill_bytes(&mut id);
        now_or_never(revocations.revoke(&URL_SAFE_NO_PAD.encode(id), until, now)).unwrap();
    }
    let after = rss_bytes().unwrap_or(before);
    memory_line(
        "memory_bytes_per_revoked_session",
        after.saturating_sub(before) as f64 / n as f64,
    );
    black_box(now_or_never(revocations.is_revoked("x", now)).unwrap());
}

/// Runs this program again with `flag` (a fresh process) and prints what
/// it prints, or `op` as unknown.
fn in_child(flag: &str, op: &str) {
    let child = std::env::current_exe()
        .ok()
        .and_then(|exe| std::process::Command::new(exe).arg(flag).output().ok());
    match child {
        Some(out) => {
            print!("{}", String::from_utf8_lossy(&out.stdout));
            eprint!("{}", String::from_utf8_lossy(&out.stderr));
        }
        None => println!("{op}\tunknown"),
    }
}

/// The peers: `jsonwebtoken`, the crate users would otherwise pick, on the
/// two operations we share with it, each beside the same raw primitive as
/// our own row: signing an EdDSA id_token, and verifying an HS256
/// handshake-shaped token into the same typed claims with the same checks
/// (signature, `exp`, `iss`, `aud`).
fn peers() {
    use ed25519_dalek::pkcs8::EncodePrivateKey as _;
    let now = SystemClock.now().unix_timestamp();
    let claims = IdTokenClaims {
        iss: "https://kb.example.com".into(),
        sub: "john.doe".into(),
        aud: ClientId::generate().to_string(),
        iat: now,
        exp: now + 900,
        jti: "uJ7dG3b4wP0c1xQzN5sV8kYhT2aR6mLfE9oIiWnZqXg".into(),
        given_name: "John".into(),
        family_name: "Doe".into(),
        name: "John Doe".into(),
        email: "john.doe@example.com".into(),
        groups: vec!["group1".into(), "group2".into()],
    };
    let seed = [9u8; 32];
    let raw = ed25519_dalek::SigningKey::from_bytes(&seed);
    let ours = TokenSigner::new(SigningKey::ed25519_from_seed("k1", &seed).unwrap());
    let token = ours.sign(&claims).unwrap();
    let input = token.rsplit_once('.').unwrap().0.as_bytes().to_vec();
    let (ns, base) = paired_ns(
        200,
        41,
        || {
            black_box(ours.sign(black_box(&claims)).unwrap());
        },
        || {
            black_box(raw.sign(black_box(&input)));
        },
    );
    line("id_token_sign_eddsa", ns, "ed25519_sign", base);
    let der = raw.to_pkcs8_der().unwrap();
    let encoding = jsonwebtoken::EncodingKey::from_ed_der(der.as_bytes());
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
    header.kid = Some("k1".into());
    let (ns, base) = paired_ns(
        200,
        41,
        || {
            black_box(jsonwebtoken::encode(&header, black_box(&claims), &encoding).unwrap());
        },
        || {
            black_box(raw.sign(black_box(&input)));
        },
    );
    line("peer_jsonwebtoken_id_token_sign_eddsa", ns, "ed25519_sign", base);

    // HS256 handshake-shaped token, verified by jsonwebtoken into the same
    // claims type with the same checks.
    let now = SystemClock.now();
    let secret = ClientSecret::generate();
    let id = ClientId::generate();
    let b64 = |v: &serde_json::Value| URL_SAFE_NO_PAD.encode(v.to_string());
    let input = format!(
        "{}.{}",
        b64(&serde_json::json!({"alg": "HS256", "typ": "JWT", "kid": id.as_str()})),
        b64(&handshake_claims(now.unix_timestamp()))
    );
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes()).unwrap();
    mac.update(input.as_bytes());
    let token = format!("{input}.{}", URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()));
    let decoding = jsonwebtoken::DecodingKey::from_secret(secret.expose().as_bytes());
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.set_audience(&["docs.example.com"]);
    validation.set_issuer(&["https://app.example.com"]);
    validation.leeway = 30;
    let (ns, base) = paired_ns(
        2000,
        41,
        || {
            black_box(jsonwebtoken::decode::<HandshakeClaims>(black_box(&token), &decoding, &validation).unwrap());
        },
        || {
            let mut m = Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes()).unwrap();
            m.update(black_box(input.as_bytes()));
            black_box(m.finalize());
        },
    );
    line(
        "peer_jsonwebtoken_handshake_verify_hs256",
        ns,
        "hmac_sha256(token)",
        base,
    );
}

/// The flag that runs one section in this process.
const SECTION_HERE: &str = "--section-here";

/// Fresh processes each timing section runs in; each row is printed from
/// the process whose `round_ratio_median` is the middle one. Some rows
/// move by a tenth from one process to the next and hold still within one
/// (where the heap and the physical pages fall differs from run to run),
/// so the middle of three holds still where any single one need not.
const PROCESSES: usize = 3;

/// Sections run in one process only: their rows are not timed in rounds
/// (the memory rows), already take their rounds across many states of the
/// machine (the thread-scaling row), or run pinned on their own (SQLite).
const ONE_PROCESS: &[&str] = &["memory_store", "sqlite", "memory"];

/// Runs the section `name` in fresh processes of this program (see
/// [`PROCESSES`]) and prints each row from the middle one: each section
/// starts from a fresh heap, not from what the sections before it left
/// behind (a million-entry router or a store of thousands of codes, freed,
/// leave the allocator in a state that slows some later allocations by a
/// tenth or more). A row's "noisy" warning is the one its chosen process
/// gave.
fn section_in_child(name: &str) {
    let runs = if ONE_PROCESS.contains(&name) { 1 } else { PROCESSES };
    // Per process: its table lines, and its stderr warnings by row.
    let mut outs: Vec<(String, Vec<String>)> = Vec::new();
    for _ in 0..runs {
        let child = std::env::current_exe().ok().and_then(|exe| {
            std::process::Command::new(exe)
                .arg(SECTION_HERE)
                .arg(name)
                .output()
                .ok()
        });
        let Some(out) = child else {
            eprintln!("section {name}: could not start a child process; running it here");
            if let Some((_, section)) = SECTIONS.iter().find(|(n, _)| *n == name) {
                section();
            }
            return;
        };
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let (noisy, other): (Vec<&str>, Vec<&str>) = stderr.lines().partition(|l| l.starts_with("noisy: "));
        for l in other {
            eprintln!("{l}");
        }
        if !out.status.success() {
            eprintln!("section {name} failed: {}", out.status);
        }
        outs.push((
            String::from_utf8_lossy(&out.stdout).into_owned(),
            noisy.into_iter().map(str::to_owned).collect(),
        ));
    }
    let Some((first, _)) = outs.first() else { return };
    for row in first.lines() {
        let op = row.split('\t').next().unwrap_or_default();
        let mut candidates: Vec<(f64, &str, &[String])> = outs
            .iter()
            .filter_map(|(out, noisy)| {
                let line = out.lines().find(|l| l.split('\t').next() == Some(op))?;
                let key = line.split('\t').nth(5).and_then(|f| f.parse().ok()).unwrap_or(f64::NAN);
                Some((key, line, noisy.as_slice()))
            })
            .collect();
        candidates.sort_by(|a, b| a.0.total_cmp(&b.0));
        let (_, line, noisy) = candidates[candidates.len() / 2];
        println!("{line}");
        let prefix = format!("noisy: {op}: ");
        for warning in noisy.iter().filter(|w| w.starts_with(&prefix)) {
            eprintln!("{warning}");
        }
    }
}

/// The sections of the table, by name, in order.
/// Sections left out of the default run (`--scaling` adds them): the
/// thread-scaling row asks where the host puts this VM's two vCPUs as much
/// as it asks the store. On the 2-vCPU VMs the table is run on, the same
/// binary read 0.47 and 0.86 minutes apart, each run tight: a row that
/// cannot hold still between runs is not one to steer by. What it asked,
/// whether redemptions of one configuration's codes serialize on a lock,
/// is checked by counting in
/// `store::memory::tests::redemptions_take_a_clients_lock_once_per_batch_at_most`.
const NOT_BY_DEFAULT: &[&str] = &["memory_store"];

const SECTIONS: &[(&str, fn())] = &[
    ("code_issue", code_issue),
    ("code_redeem", code_redeem_rows),
    ("session", session_verify),
    ("handshake_eddsa", handshake_verify),
    ("handshake_hs256", handshake_verify_hs256),
    ("peers", peers),
    ("routing", routing_and_login_page),
    ("http", http_flow),
    ("site", site_sign_in),
    ("memory_store", memory_store),
    ("sqlite", sqlite_store),
    ("memory", memory_rows),
];

fn code_redeem_rows() {
    let raw = ed25519_dalek::SigningKey::from_bytes(&[7u8; 32]);
    code_redeem(
        "code_redeem_sign",
        SigningKey::generate_ed25519("k1").unwrap(),
        "ed25519_sign",
        &|m| {
            black_box(raw.sign(m));
        },
    );
    let hs_secret = [0x5au8; 32];
    code_redeem(
        "code_redeem_sign_hs256",
        SigningKey::hs256("k2", &hs_secret).unwrap(),
        "hmac_sha256(token)",
        &|m| {
            let mut mac = Hmac::<Sha256>::new_from_slice(&hs_secret).unwrap();
            mac.update(m);
            black_box(mac.finalize());
        },
    );
}

/// A configuration lookup and an audit append on the SQLite store, each
/// beside the same statements sent straight through sqlx to the same file
/// (the engine's own cost): for the lookup, the one indexed read of the
/// revision (the project is parsed only when it moved); for the append,
/// the `BEGIN IMMEDIATE` transaction that reads the head, inserts the entry
/// and writes the head back, with SQLite's fsync on commit.
///
/// The rows run in a child process held to one core (`taskset -c 0`):
/// every statement is a hop to its connection's thread and back, and
/// whether that thread shares the caller's core (a quick switch) or waits
/// for the other one to be free (tens of microseconds more) is settled
/// once per thread, so two pools in one process would often differ by
/// where their threads landed rather than by what they do. Without
/// `taskset` they run here, unpinned.
#[cfg(feature = "sqlite")]
fn sqlite_store() {
    let pinned = std::env::current_exe().ok().and_then(|exe| {
        std::process::Command::new("taskset")
            .arg("-c")
            .arg("0")
            .arg(exe)
            .arg(SQLITE_HERE)
            .output()
            .ok()
            .filter(|out| out.status.success())
    });
    match pinned {
        Some(out) => {
            print!("{}", String::from_utf8_lossy(&out.stdout));
            eprint!("{}", String::from_utf8_lossy(&out.stderr));
        }
        None => {
            eprintln!("sqlite: taskset failed; the SQLite rows run unpinned");
            sqlite_store_here();
        }
    }
}

/// The flag that runs the SQLite rows in this process, as it is.
const SQLITE_HERE: &str = "--sqlite-here";

/// The SQLite rows, in this process (see [`sqlite_store`]).
#[cfg(feature = "sqlite")]
fn sqlite_store_here() {
    use kb_sso::store::sqlite::SqliteStore;
    use sqlx::ConnectOptions as _;
    use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // On a RAM file system where there is one: the fsync on commit, the
    // same for both sides of each row, then costs next to nothing instead
    // of the disk's varying milliseconds, and the rows compare the work
    // each side does.
    let shm = std::path::Path::new("/dev/shm");
    let parent = if shm.is_dir() {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    };
    let dir = parent.join(format!("kb-sso-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bench.db");
    let store = rt
        .block_on(SqliteStore::open(&path, CheckpointKey::new(&[7; 32]).unwrap()))
        .unwrap();
    let raw = rt
        .block_on(
            SqlitePoolOptions::new().max_connections(4).connect_with(
                SqliteConnectOptions::new()
                    .filename(&path)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Full)
                    .busy_timeout(std::time::Duration::from_secs(10))
                    .disable_statement_logging(),
            ),
        )
        .unwrap();
    let (ns, base) = paired_ns_paced(
        SQLITE_BATCH_NS,
        200,
        100,
        || {
            black_box(rt.block_on(store.current()).unwrap());
        },
        || {
            let r: i64 = rt
                .block_on(sqlx::query_scalar("SELECT revision FROM kb_sso_project WHERE id = 1").fetch_one(&raw))
                .unwrap();
            black_box(r);
        },
        |_| {},
    );
    line("sqlite_config_lookup", ns, "sqlite_select_revision", base);

    // The baseline's own tables, shaped as the store's.
    for sql in [
        "CREATE TABLE bench_entry (seq INTEGER PRIMARY KEY, at INTEGER NOT NULL, action TEXT NOT NULL, entry TEXT NOT NULL)",
        "CREATE TABLE bench_head (id INTEGER PRIMARY KEY, checkpoint TEXT NOT NULL)",
        "INSERT INTO bench_head VALUES (1, '')",
    ] {
        rt.block_on(sqlx::query(sql).execute(&raw)).unwrap();
    }
    let admin = Administrator("bench@kb.example.com".into());
    let event = Project::default()
        .set_default_login_page_disabled(&admin, time::OffsetDateTime::now_utc(), true)
        .event;
    let entry_json = serde_json::to_string(&event).unwrap();
    let action = event.action().name();
    let mut seq = 0i64;
    let (ns, base) = paired_ns_paced(
        SQLITE_BATCH_NS,
        50,
        40,
        || {
            black_box(rt.block_on(store.append(event.clone())).unwrap());
        },
        || {
            rt.block_on(async {
                let mut tx = raw.begin_with("BEGIN IMMEDIATE").await.unwrap();
                let cp: String = sqlx::query_scalar("SELECT checkpoint FROM bench_head WHERE id = 1")
                    .fetch_one(&mut *tx)
                    .await
                    .unwrap();
                sqlx::query("INSERT INTO bench_entry (seq, at, action, entry) VALUES ($1, $2, $3, $4)")
                    .bind(seq)
                    .bind(0i64)
                    .bind(action)
                    .bind(&entry_json)
                    .execute(&mut *tx)
                    .await
                    .unwrap();
                sqlx::query("UPDATE bench_head SET checkpoint = $1 WHERE id = 1")
                    .bind(cp)
                    .execute(&mut *tx)
                    .await
                    .unwrap();
                tx.commit().await.unwrap();
            });
            seq += 1;
        },
        |_| {},
    );
    line("sqlite_audit_append", ns, "sqlite_same_tx_raw", base);
    rt.block_on(async {
        raw.close().await;
        store.close().await;
    });
    let _ = std::fs::remove_dir_all(&dir);
}

/// Batches of the SQLite rows: each call hops to the connection's thread
/// and back, which takes from a few to a hundred microseconds depending on
/// what else the machine runs, so each batch averages some hundred calls.
#[cfg(feature = "sqlite")]
const SQLITE_BATCH_NS: f64 = 2_000_000.0;

/// Without the `sqlite` feature there are no SQLite rows.
#[cfg(not(feature = "sqlite"))]
fn sqlite_store_here() {
    sqlite_store();
}

/// Without the `sqlite` feature there are no SQLite rows.
#[cfg(not(feature = "sqlite"))]
fn sqlite_store() {
    println!("sqlite_config_lookup\tunavailable (build with --features sqlite)");
}

fn memory_rows() {
    in_child("--memory-per-code", "memory_bytes_per_code");
    in_child("--memory-per-revocation", "memory_bytes_per_revoked_session");
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!(
            "bench_table: each hot operation beside the cryptography it cannot avoid.\n\n\
             usage: cargo run --release --example bench_table [-- --site | --sqlite | --scaling | --only SECTION,.. | --memory-per-code | --memory-per-revocation]\n\n\
             Prints one tab-separated line per operation: operation, median ns, baseline,\n\
             baseline ns, ratio (of the two medians), then the median of the per-round\n\
             ratios, their interquartile range and the number of rounds. Each round\n\
             times four short batches, operation, baseline, baseline, operation, and\n\
             its ratio is the operation's two over the baseline's two. Rows whose\n\
             per-round ratios spread wider than 10% of their median are named on\n\
             stderr as too noisy to trust. Each section runs in a fresh process.\n\n\
             memory_store_2_threads (only with --scaling or --only memory_store: on a\n\
             shared VM it depends on where the host places the vCPUs, so it is not in\n\
             the default table): the memory code store's speed-up from one thread\n\
             to two over a SHA-256 control's in the same round (1.0: scales as well\n\
             as work that shares nothing; 0.5: two threads do no more than one),\n\
             counting only rounds where the control showed the second core free\n\
             (unknown when fewer than 20 did: the machine is too busy to tell).\n\
             The SQLite rows run pinned to one core (taskset) on /dev/shm, each side\n\
             through a pool configured alike: the store's config lookup beside the\n\
             same revision read, its audit append beside the same transaction.\n\n\
               --site                    only the KB-site rows (site_sign_in_inprocess, guarded_page)\n\
               --sqlite                  only the SQLite store rows (config lookup, audit append)\n\
               --scaling                 add the thread-scaling row (memory_store_2_threads)\n\
               --only SECTION,..         only these sections: {}\n\
               --memory-per-code         only the memory of 1,000,000 outstanding codes\n\
               --memory-per-revocation   only the memory of 1,000,000 revoked session ids\n\
               -h, --help                this text",
            SECTIONS.iter().map(|(name, _)| *name).collect::<Vec<_>>().join(", ")
        );
        return;
    }
    if args.iter().any(|a| a == "--memory-per-code") {
        memory_per_code();
        return;
    }
    if args.iter().any(|a| a == "--memory-per-revocation") {
        memory_per_revocation();
        return;
    }
    if args.iter().any(|a| a == "--site") {
        // Only the KB site rows, for quick runs while working on them.
        site_sign_in();
        return;
    }
    if args.iter().any(|a| a == SQLITE_HERE) {
        sqlite_store_here();
        return;
    }
    if args.iter().any(|a| a == "--sqlite") {
        sqlite_store();
        return;
    }
    let only: Option<Vec<&str>> = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1))
        .map(|list| list.split(',').collect());
    if let Some(name) = args
        .iter()
        .position(|a| a == SECTION_HERE)
        .and_then(|i| args.get(i + 1))
    {
        if let Some((_, section)) = SECTIONS.iter().find(|(n, _)| n == name) {
            section();
        }
        return;
    }
    let started = Instant::now();
    println!("{HEADER}");
    let scaling = args.iter().any(|a| a == "--scaling");
    for (name, _) in SECTIONS {
        let chosen = match &only {
            Some(only) => only.contains(name),
            None => scaling || !NOT_BY_DEFAULT.contains(name),
        };
        if chosen {
            section_in_child(name);
        }
    }
    eprintln!("total: {:.1} s", started.elapsed().as_secs_f64());
}
