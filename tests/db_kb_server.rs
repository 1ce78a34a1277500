//! `kb_server --db`, `--audit-key-file` and `--smtp` with the example
//! binary as a child process, on real engines: a restart keeps the
//! configurations, the secrets' digests, the audit log and the pending
//! notifications; SIGKILL in the middle of a stream of admin operations
//! loses no answered change and no audit entry; a database file that is not
//! kb-sso's, or a key that is not the database's, makes it exit 2 naming
//! the problem with the file unchanged; two instances on one PostgreSQL and
//! one Redis see each other's admin changes at once; a notification arrives
//! by email.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

crate::test_main!(
    a_restart_keeps_configurations_secret_digests_the_audit_log_and_pending_notifications,
    sigkill_during_a_stream_of_admin_operations_loses_no_answered_change_nor_audit_entry,
    a_database_file_that_is_not_kb_ssos_exits_2_naming_the_problem_and_is_unchanged,
    an_audit_key_that_is_not_the_databases_or_that_others_may_read_is_refused,
    #[cfg(all(feature = "postgres", feature = "redis"))]
    two_instances_on_one_postgres_and_one_redis_see_an_admin_change_at_once,
    #[cfg(feature = "email")]
    an_admin_operations_notification_arrives_by_email,
);

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use kb_sso::store::sqlite::SqliteStore;
use kb_sso::{AuditSink as _, CheckpointKey, ClientCredentials, ClientId, ClientSecret};
use reqwest::StatusCode;
use serde_json::{Value, json};
use support::store_contract::{TempDir, access};

const WAIT: Duration = Duration::from_secs(60);

/// The `kb_server` example binary `cargo test` built beside this test.
fn kb_server() -> PathBuf {
    support::example_binary("kb_server")
}

/// A running `kb_server`, killed (SIGKILL) on drop.
struct Server {
    child: Child,
    base: String,
    token: String,
    http: reqwest::Client,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Starts `kb_server` with `args` and waits for its ready line.
    async fn start(args: &[&str]) -> Self {
        let mut child = Command::new(kb_server())
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let pid = child.id();
        let line = tokio::time::timeout(
            WAIT,
            tokio::task::spawn_blocking(move || {
                let mut line = String::new();
                BufReader::new(stdout).read_line(&mut line).unwrap();
                line
            }),
        )
        .await;
        let Ok(line) = line else {
            let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
            panic!("kb_server printed no ready line in time");
        };
        let line = line.unwrap();
        let ready: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("ready line {line:?}: {e}"));
        Self {
            child,
            base: ready["listening"].as_str().unwrap().to_owned(),
            token: ready["admin_token"].as_str().unwrap().to_owned(),
            http: reqwest::Client::builder().timeout(WAIT).build().unwrap(),
        }
    }

    /// Kills the server with SIGKILL and reaps it.
    fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    async fn admin(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        admin_call(&self.http, &self.base, &self.token, method, path, body)
            .await
            .unwrap()
    }

    async fn get(&self, path: &str) -> Value {
        let (status, body) = self.admin(reqwest::Method::GET, path, None).await;
        assert_eq!(status, StatusCode::OK, "GET {path}: {body}");
        body
    }

    /// The status of a code request with these client credentials.
    async fn generate_code(&self, client_id: &str, secret: &str) -> StatusCode {
        let basic =
            ClientCredentials::new(client_id.to_owned(), ClientSecret::new(secret.to_owned())).to_basic_header();
        self.http
            .post(format!("{}/api/jwt/generate-code", self.base))
            .header("authorization", basic.as_str())
            .header("content-type", "application/json")
            .body(r#"{"username":"u","firstName":"","lastName":"","emailId":"u@example.com"}"#)
            .send()
            .await
            .unwrap()
            .status()
    }
}

/// One admin API call; `Err` when no answer came (the server died).
async fn admin_call(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> Result<(StatusCode, Value), reqwest::Error> {
    let mut req = http
        .request(method, format!("{base}/api/admin{path}"))
        .bearer_auth(token);
    if let Some(body) = body {
        req = req.json(&body);
    }
    let resp = req.send().await?;
    let status = resp.status();
    let text = resp.text().await?;
    Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
}

/// Runs `kb_server` with `args`, expecting it to refuse to start.
fn refused(args: &[&str]) -> Output {
    let child = Command::new(kb_server())
        .args(["--listen", "127.0.0.1:0"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let (done, waited) = std::sync::mpsc::channel::<()>();
    let watchdog = std::thread::spawn(move || {
        if waited.recv_timeout(WAIT).is_err() {
            let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
        }
    });
    let out = child.wait_with_output().unwrap();
    let _ = done.send(());
    watchdog.join().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.stdout.is_empty(), "no ready line");
    out
}

/// A project file with one configuration; its client id and primary
/// secret.
fn project_file(dir: &Path) -> (PathBuf, String, String) {
    let client_id = ClientId::generate().to_string();
    let secret = ClientSecret::generate().expose().to_owned();
    let file = json!({"jwt": [{
        "name": "Portal", "client_id": client_id, "login_url": "https://app.example.com/login",
        "primary_secret": secret, "secondary_secret": ClientSecret::generate().expose()
    }]});
    let path = dir.join("project.json");
    std::fs::write(&path, file.to_string()).unwrap();
    (path, client_id, secret)
}

/// The audit key in a key file (64 hex digits).
fn read_key(path: &Path) -> CheckpointKey {
    let text = std::fs::read_to_string(path).unwrap();
    let text = text.trim();
    let bytes: Vec<u8> = (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect();
    CheckpointKey::new(&bytes).unwrap()
}

/// Opens the SQLite file with the key beside it and verifies the whole
/// audit log; answers its length.
async fn verified_log_len(db: &Path) -> usize {
    let key = read_key(&PathBuf::from(format!("{}.audit-key", db.display())));
    let store = SqliteStore::open(db, key.clone()).await.unwrap();
    let log = store.read(&access()).await.unwrap();
    log.verify(&key).expect("the audit chain verifies");
    store.close().await;
    log.entries.len()
}

fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

async fn a_restart_keeps_configurations_secret_digests_the_audit_log_and_pending_notifications() {
    let dir = TempDir::new("db-restart");
    let (project, client_id, old_secret) = project_file(dir.path());
    let db = PathBuf::from(format!("{}.db", project.display()));

    let a = Server::start(&["--project", s(&project)]).await;
    assert!(db.exists(), "the default database is beside the project file");
    let key_file = PathBuf::from(format!("{}.audit-key", db.display()));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the audit key file is the owner's only");
    }
    let (status, created) = a
        .admin(
            reqwest::Method::POST,
            "/jwt-configs",
            Some(json!({"name": "Docs", "login_url": "https://docs.example.com/login"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let docs_id = created["client_id"].as_str().unwrap().to_owned();
    let docs_secret = created["primary_secret"].as_str().unwrap().to_owned();
    let (status, regenerated) = a
        .admin(
            reqwest::Method::POST,
            &format!("/jwt-configs/{client_id}/regenerate-primary-secret"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let new_secret = regenerated["secret"].as_str().unwrap().to_owned();
    assert_eq!(a.generate_code(&client_id, &new_secret).await, StatusCode::OK);
    assert_eq!(a.generate_code(&client_id, &old_secret).await, StatusCode::UNAUTHORIZED);
    let project_before = a.get("/project").await;
    let audit_before = a.get("/audit?limit=100").await;
    let notes_before = a.get("/notifications").await;
    assert_eq!(audit_before["entries"].as_array().unwrap().len(), 2);
    assert!(!notes_before["notifications"].as_array().unwrap().is_empty());
    a.kill();

    // The project file still holds the old secret: the database, not the
    // file, is the source of truth after the first start.
    let b = Server::start(&["--project", s(&project)]).await;
    assert_eq!(b.get("/project").await, project_before);
    assert_eq!(b.generate_code(&client_id, &new_secret).await, StatusCode::OK);
    assert_eq!(
        b.generate_code(&client_id, &old_secret).await,
        StatusCode::UNAUTHORIZED,
        "the regenerated secret stays regenerated"
    );
    assert_eq!(b.generate_code(&docs_id, &docs_secret).await, StatusCode::OK);
    assert_eq!(b.get("/audit?limit=100").await, audit_before);
    assert_eq!(
        b.get("/notifications").await,
        notes_before,
        "undelivered notifications kept"
    );
    // A change after the restart chains onto the log from before it.
    let (status, _) = b
        .admin(reqwest::Method::POST, &format!("/jwt-configs/{docs_id}/disable"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    b.kill();
    assert_eq!(verified_log_len(&db).await, 3, "the chain verifies across the restart");
}

async fn sigkill_during_a_stream_of_admin_operations_loses_no_answered_change_nor_audit_entry() {
    let dir = TempDir::new("db-crash");
    let (project, client_id, _) = project_file(dir.path());
    let db = PathBuf::from(format!("{}.db", project.display()));
    let server = Server::start(&["--project", s(&project)]).await;
    // Two more configurations, so that three writers change three rows.
    let mut ids = vec![client_id];
    for name in ["Docs", "Help"] {
        let (status, created) = server
            .admin(
                reqwest::Method::POST,
                "/jwt-configs",
                Some(json!({"name": name, "login_url": format!("https://{}.example.com/login", name.to_lowercase())})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        ids.push(created["client_id"].as_str().unwrap().to_owned());
    }
    let answered = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let writers: Vec<_> = ids
        .iter()
        .enumerate()
        .map(|(k, id)| {
            let (http, base, token, id) = (
                server.http.clone(),
                server.base.clone(),
                server.token.clone(),
                id.clone(),
            );
            let answered = answered.clone();
            tokio::spawn(async move {
                // The last renaming answered 2xx, and the last one sent.
                let (mut last_ok, mut last_sent) = (None, 0);
                for i in 1.. {
                    last_sent = i;
                    let body = json!({"name": format!("w{k}-{i}")});
                    match admin_call(
                        &http,
                        &base,
                        &token,
                        reqwest::Method::PATCH,
                        &format!("/jwt-configs/{id}"),
                        Some(body),
                    )
                    .await
                    {
                        Ok((status, _)) if status.is_success() => {
                            last_ok = Some(i);
                            answered.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        }
                        // Another writer saved first: not applied.
                        Ok((StatusCode::CONFLICT, _)) => {}
                        Ok((status, body)) => panic!("{status} {body}"),
                        Err(_) => break,
                    }
                }
                (id, last_ok, last_sent)
            })
        })
        .collect();
    while answered.load(std::sync::atomic::Ordering::SeqCst) < 60 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // In the middle of the stream: requests are in flight.
    server.kill();
    let mut total_answered = 0;
    let mut results = Vec::new();
    for w in writers {
        let (id, last_ok, last_sent) = w.await.unwrap();
        let last_ok = last_ok.expect("every writer had an answer");
        total_answered += last_ok;
        results.push((id, last_ok, last_sent));
    }

    let logged = verified_log_len(&db).await;
    let restarted = Server::start(&["--project", s(&project)]).await;
    let project_now = restarted.get("/project").await;
    for (id, last_ok, last_sent) in results {
        let config = project_now["jwt"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["client_id"] == id.as_str())
            .unwrap();
        let name = config["name"].as_str().unwrap();
        let n: usize = name.split_once('-').unwrap().1.parse().unwrap();
        assert!(
            (last_ok..=last_sent).contains(&n),
            "{id}: renaming {n} stored, {last_ok} answered, {last_sent} sent"
        );
    }
    // Two creations, then every answered renaming, each with its entry
    // (an unanswered one may have committed too).
    assert!(
        logged >= 2 + total_answered,
        "{logged} entries for {total_answered} answered"
    );
    // The restarted server serves the same log, page by page.
    let (mut served, mut cursor) = (0, String::new());
    loop {
        let page = restarted.get(&format!("/audit?limit=100&cursor={cursor}")).await;
        served += page["entries"].as_array().unwrap().len();
        match page["next_cursor"].as_str() {
            Some(next) => cursor = next.to_owned(),
            None => break,
        }
    }
    assert_eq!(served, logged);
    restarted.kill();
}

async fn a_database_file_that_is_not_kb_ssos_exits_2_naming_the_problem_and_is_unchanged() {
    let dir = TempDir::new("db-refused");
    // Not a database at all.
    let garbage = dir.path().join("garbage.db");
    std::fs::write(&garbage, b"{\"a\": \"JSON file, not a database\"}\n".repeat(40)).unwrap();
    // Another application's database.
    let foreign = dir.path().join("app.db");
    {
        use sqlx::{ConnectOptions, Connection};
        let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(&foreign)
            .create_if_missing(true)
            .connect()
            .await
            .unwrap();
        sqlx::query("CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT)")
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
    }
    // A kb-sso database, damaged: every page but the header's flipped.
    let damaged = dir.path().join("damaged.db");
    {
        let store = SqliteStore::open(&damaged, CheckpointKey::new(&[7; 32]).unwrap())
            .await
            .unwrap();
        for i in 0..40 {
            kb_sso::Notifier::notify(&store, support::store_contract::notification(&format!("n{i}")))
                .await
                .unwrap();
        }
        store.close().await;
        use sqlx::{ConnectOptions, Connection};
        let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(&damaged)
            .connect()
            .await
            .unwrap();
        for sql in ["PRAGMA wal_checkpoint(TRUNCATE)", "PRAGMA journal_mode = DELETE"] {
            sqlx::query(sql).execute(&mut conn).await.unwrap();
        }
        conn.close().await.unwrap();
        let mut bytes = std::fs::read(&damaged).unwrap();
        assert!(bytes.len() > 4096, "more than one page");
        for b in bytes.iter_mut().skip(100) {
            *b ^= 0x5a;
        }
        std::fs::write(&damaged, &bytes).unwrap();
    }
    for (file, problem) in [
        (&garbage, "is not a SQLite database"),
        (&foreign, "another application's database"),
        (&damaged, "is damaged"),
    ] {
        let before = std::fs::read(file).unwrap();
        let out = refused(&["--db", &format!("sqlite:{}", s(file))]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(problem) && err.contains(s(file)), "{err}");
        assert!(!err.contains("panicked"), "{err}");
        assert_eq!(std::fs::read(file).unwrap(), before, "{} unchanged", file.display());
        let key = PathBuf::from(format!("{}.audit-key", file.display()));
        assert!(!key.exists(), "no key file is left for a refused database");
    }
}

async fn an_audit_key_that_is_not_the_databases_or_that_others_may_read_is_refused() {
    let dir = TempDir::new("db-key");
    let (project, _, _) = project_file(dir.path());
    let db = PathBuf::from(format!("{}.db", project.display()));
    let server = Server::start(&["--project", s(&project)]).await;
    let (status, _) = server
        .admin(
            reqwest::Method::PUT,
            "/settings",
            Some(json!({"disable_default_login_page": true})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    server.kill();

    // Another key.
    let other = dir.path().join("other.key");
    {
        use std::io::Write as _;
        use std::os::unix::fs::OpenOptionsExt as _;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&other)
            .unwrap();
        writeln!(f, "{}", "ab".repeat(32)).unwrap();
    }
    let out = refused(&["--project", s(&project), "--audit-key-file", s(&other)]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("does not verify with the audit key"), "{err}");
    // The key file went missing: a new one is not kept.
    let key_file = PathBuf::from(format!("{}.audit-key", db.display()));
    let saved = dir.path().join("saved.key");
    std::fs::rename(&key_file, &saved).unwrap();
    let out = refused(&["--project", s(&project)]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("was missing"), "{err}");
    assert!(!key_file.exists(), "the key made for the start is removed");
    // A key file its group may read.
    std::fs::rename(&saved, &key_file).unwrap();
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o640)).unwrap();
    }
    let out = refused(&["--project", s(&project)]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("chmod 600"), "{err}");
    // With its key back, it starts and its log verifies.
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    Server::start(&["--project", s(&project)]).await.kill();
    assert_eq!(verified_log_len(&db).await, 1);
}

#[cfg(all(feature = "postgres", feature = "redis"))]
async fn two_instances_on_one_postgres_and_one_redis_see_an_admin_change_at_once() {
    use support::postgres::PostgresServer;
    use support::redis::RedisServer;
    const TEST: &str = "two_instances_on_one_postgres_and_one_redis_see_an_admin_change_at_once";
    let pg = PostgresServer::shared(TEST);
    let redis = RedisServer::start(TEST);
    let url = pg.database("kb_two_instances").await;
    let dir = TempDir::new("db-two");
    let (project, client_id, old_secret) = project_file(dir.path());
    let key = dir.path().join("audit.key");
    let args = [
        "--project",
        s(&project),
        "--db",
        &url,
        "--redis",
        &redis.url(),
        "--audit-key-file",
        s(&key),
    ];
    // Without a key file PostgreSQL is refused: instances must share one.
    let out = refused(&["--db", &url]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("--audit-key-file"));
    let a = Server::start(&args).await;
    let b = Server::start(&args).await;
    assert_eq!(b.generate_code(&client_id, &old_secret).await, StatusCode::OK);

    let (status, body) = a
        .admin(
            reqwest::Method::POST,
            &format!("/jwt-configs/{client_id}/regenerate-primary-secret"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let new_secret = body["secret"].as_str().unwrap().to_owned();
    assert_eq!(
        b.generate_code(&client_id, &old_secret).await,
        StatusCode::UNAUTHORIZED,
        "the old secret is refused on B at once"
    );
    assert_eq!(b.generate_code(&client_id, &new_secret).await, StatusCode::OK);

    // And back: a change through B applies on A; both append to one chain.
    let (status, _) = b
        .admin(
            reqwest::Method::POST,
            &format!("/jwt-configs/{client_id}/disable"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(a.generate_code(&client_id, &new_secret).await, StatusCode::FORBIDDEN);
    assert_eq!(a.get("/audit").await, b.get("/audit").await);
    a.kill();
    b.kill();
    let store = kb_sso::store::postgres::PostgresStore::connect(&url, read_key(&key))
        .await
        .unwrap();
    let log = store.read(&access()).await.unwrap();
    log.verify(&read_key(&key)).expect("one chain from two instances");
    assert_eq!(log.entries.len(), 2);
    store.close().await;
}

#[cfg(feature = "email")]
async fn an_admin_operations_notification_arrives_by_email() {
    use support::smtp::SmtpSink;
    let sink = SmtpSink::start().await;
    let dir = TempDir::new("db-smtp");
    let (project, client_id, _) = project_file(dir.path());
    let smtp = sink.url();
    let server = Server::start(&[
        "--project",
        s(&project),
        "--smtp",
        &smtp,
        "--admin-email",
        "admin@kb.example.com",
        "--owner-email",
        "owner@kb.example.com",
        "--mail-from",
        "KB <kb@kb.example.com>",
    ])
    .await;
    let (status, _) = server
        .admin(
            reqwest::Method::POST,
            &format!("/jwt-configs/{client_id}/regenerate-primary-secret"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let deadline = tokio::time::Instant::now() + WAIT;
    let message = loop {
        if let Some(m) = sink.messages().into_iter().next() {
            break m;
        }
        assert!(tokio::time::Instant::now() < deadline, "no email arrived");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let mut rcpt = message.rcpt.clone();
    rcpt.sort();
    assert_eq!(
        rcpt,
        ["admin@kb.example.com", "owner@kb.example.com"],
        "a secret's regeneration goes to owners too"
    );
    assert!(
        message.header("Subject").unwrap().contains("Portal"),
        "{}",
        message.data
    );
    assert!(message.header("From").unwrap().contains("kb@kb.example.com"));
    // The outbox says it was sent.
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let notes = server.get("/notifications").await;
        if notes["notifications"][0]["state"] == "sent" {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "not marked sent: {notes}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Without an admin address there is nobody to send to.
    let out = Command::new(kb_server())
        .args(["--listen", "127.0.0.1:0", "--smtp", &smtp])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--admin-email"));
    server.kill();
}
