//! The SQLite store on a real database file: compare-and-swap saves, two
//! store values on one file, one audit chain under concurrent appends,
//! query pages, purge retention, the outbox's leases, reopening, and
//! refusing a file that is not kb-sso's without changing it.
#![cfg(feature = "sqlite")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::sync::Arc;

use kb_sso::store::SqlError;
use kb_sso::store::sqlite::SqliteStore;
use kb_sso::*;
use support::store_contract::{self as contract, TempDir, key};

async fn two_stores(dir: &TempDir) -> (Arc<SqliteStore>, Arc<SqliteStore>) {
    let path = dir.path().join("kb.db");
    let a = SqliteStore::open(&path, key()).await.unwrap();
    let b = SqliteStore::open(&path, key()).await.unwrap();
    (Arc::new(a), Arc::new(b))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_file_holds_the_default_project_at_revision_one() {
    let dir = TempDir::new("sqlite");
    let store = SqliteStore::open(dir.path().join("kb.db"), key()).await.unwrap();
    let current = store.current().await.unwrap();
    assert_eq!(current.revision, Revision(1));
    assert!(current.project.jwt_configs().is_empty());
    assert!(store.read(&contract::access()).await.unwrap().entries.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_with_stores_the_initial_project_only_into_an_empty_database() {
    let dir = TempDir::new("sqlite");
    let path = dir.path().join("kb.db");
    let (_, initial) = contract::with_config(&memory_project(), "first").await;
    let store = SqliteStore::open_with(&path, key(), initial).await.unwrap();
    assert_eq!(contract::names(&store.current().await.unwrap().project).len(), 1);
    store.close().await;
    let (_, other) = contract::with_config(&memory_project(), "other").await;
    let again = SqliteStore::open_with(&path, key(), other).await.unwrap();
    let current = again.current().await.unwrap();
    assert_eq!(current.revision, Revision(1));
    assert!(
        contract::names(&current.project).contains("first"),
        "the stored project is kept"
    );
}

fn memory_project() -> kb_sso::store::memory::MemoryConfigStore {
    kb_sso::store::memory::MemoryConfigStore::new(Project::default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_writers_from_one_revision_one_wins_and_nothing_is_lost() {
    let dir = TempDir::new("sqlite");
    let (a, b) = two_stores(&dir).await;
    contract::compare_and_swap(&*a, &*b).await;
    contract::concurrent_saves(a, b).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appends_from_two_stores_make_one_chain() {
    let dir = TempDir::new("sqlite");
    let (a, b) = two_stores(&dir).await;
    contract::one_chain_under_concurrent_appends(a, b).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queries_page_newest_first_from_the_index() {
    let dir = TempDir::new("sqlite");
    let (a, _) = two_stores(&dir).await;
    contract::query_pages(&*a).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purge_keeps_ninety_days_and_the_rest_verifies() {
    let dir = TempDir::new("sqlite");
    let (a, _) = two_stores(&dir).await;
    contract::purge_keeps_retention(&*a).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbox_claims_across_two_stores_never_hand_out_one_entry_twice() {
    let dir = TempDir::new("sqlite");
    let (a, b) = two_stores(&dir).await;
    contract::outbox_across_stores(a, b).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reopening_keeps_the_project_the_chain_and_pending_notifications() {
    let dir = TempDir::new("sqlite");
    let path = dir.path().join("kb.db");
    let store = SqliteStore::open(&path, key()).await.unwrap();
    let saved = contract::leave_state(&store).await;
    store.close().await;
    drop(store);
    let reopened = SqliteStore::open(&path, key()).await.unwrap();
    contract::finds_state(&reopened, &saved).await;
}

/// Opens `path` expecting a refusal, and checks the file is byte for byte
/// what it was.
async fn refused(path: &std::path::Path) -> SqlError {
    let before = std::fs::read(path).unwrap();
    let err = SqliteStore::open(path, key()).await.unwrap_err();
    assert_eq!(std::fs::read(path).unwrap(), before, "the file is unchanged");
    let dir = path.parent().unwrap();
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names.len(), 1, "no journal or WAL file left beside it: {names:?}");
    err
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_that_is_not_a_database_is_refused_and_unchanged() {
    let dir = TempDir::new("sqlite");
    let path = dir.path().join("kb.db");
    std::fs::write(
        &path,
        b"{\"this\": \"is a JSON project file, not a database\"}\n".repeat(40),
    )
    .unwrap();
    let err = refused(&path).await;
    assert!(matches!(err, SqlError::NotADatabase { .. }), "{err:?}");
    assert!(err.to_string().contains("is not a SQLite database"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_database_is_refused_and_unchanged() {
    let dir = TempDir::new("sqlite");
    let path = dir.path().join("kb.db");
    let store = SqliteStore::open(&path, key()).await.unwrap();
    contract::leave_state(&store).await;
    store.close().await;
    drop(store);
    // Move the WAL's pages into the file, then damage every page but the
    // header's.
    {
        use sqlx::{ConnectOptions, Connection};
        let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(&path)
            .connect()
            .await
            .unwrap();
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&mut conn)
            .await
            .unwrap();
        sqlx::query("PRAGMA journal_mode = DELETE")
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
    }
    let mut bytes = std::fs::read(&path).unwrap();
    assert!(bytes.len() > 4096, "more than one page");
    for b in bytes.iter_mut().skip(100) {
        *b ^= 0x5a;
    }
    for f in ["kb.db-wal", "kb.db-shm"] {
        let _ = std::fs::remove_file(dir.path().join(f));
    }
    std::fs::write(&path, &bytes).unwrap();
    let err = refused(&path).await;
    assert!(matches!(err, SqlError::Corrupt { .. }), "{err:?}");
    assert!(err.to_string().contains("is damaged"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_applications_database_is_refused_and_unchanged() {
    let dir = TempDir::new("sqlite");
    let path = dir.path().join("app.db");
    {
        use sqlx::{ConnectOptions, Connection};
        let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true)
            .connect()
            .await
            .unwrap();
        sqlx::query("CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT)")
            .execute(&mut conn)
            .await
            .unwrap();
        sqlx::query("INSERT INTO users (email) VALUES ('a@example.com')")
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
    }
    let err = refused(&path).await;
    assert!(matches!(err, SqlError::Foreign { .. }), "{err:?}");
    assert!(err.to_string().contains("another application's database"), "{err}");
}
