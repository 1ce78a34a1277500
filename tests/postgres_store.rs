//! The PostgreSQL store on a real server that the test run starts itself
//! (initdb into a temporary directory, a free loopback port): the same
//! contract as on SQLite, with two store values (two app instances) on
//! one database.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

crate::test_main!(
    pg_a_new_database_holds_the_default_project_at_revision_one,
    pg_two_writers_from_one_revision_one_wins_and_nothing_is_lost,
    pg_concurrent_appends_from_two_instances_make_one_chain,
    pg_queries_page_newest_first_from_the_index,
    pg_purge_keeps_ninety_days_and_the_rest_verifies,
    pg_outbox_claims_across_two_instances_never_hand_out_one_entry_twice,
    pg_reconnecting_keeps_the_project_the_chain_and_pending_notifications,
    pg_tables_live_in_their_own_schema_beside_the_hosts,
);

use std::sync::Arc;

use kb_sso::store::postgres::PostgresStore;
use kb_sso::*;
use support::postgres::PostgresServer;
use support::store_contract::{self as contract, key};

/// Two stores on a new database of `server`'s, named after the test.
async fn two_stores(server: &PostgresServer, test: &str) -> (Arc<PostgresStore>, Arc<PostgresStore>) {
    let url = server.database(test).await;
    let (a, b) = tokio::join!(PostgresStore::connect(&url, key()), PostgresStore::connect(&url, key()));
    (Arc::new(a.unwrap()), Arc::new(b.unwrap()))
}

macro_rules! server_or_skip {
    ($test:literal) => {
        PostgresServer::shared($test)
    };
}

async fn pg_a_new_database_holds_the_default_project_at_revision_one() {
    let server = server_or_skip!("pg_a_new_database_holds_the_default_project_at_revision_one");
    let (a, _) = two_stores(&server, "pg_new").await;
    let current = a.current().await.unwrap();
    assert_eq!(current.revision, Revision(1));
    assert!(current.project.jwt_configs().is_empty());
}

async fn pg_two_writers_from_one_revision_one_wins_and_nothing_is_lost() {
    let server = server_or_skip!("pg_two_writers_from_one_revision_one_wins_and_nothing_is_lost");
    let (a, b) = two_stores(&server, "pg_cas").await;
    contract::compare_and_swap(&*a, &*b).await;
    contract::concurrent_saves(a, b).await;
}

async fn pg_concurrent_appends_from_two_instances_make_one_chain() {
    let server = server_or_skip!("pg_concurrent_appends_from_two_instances_make_one_chain");
    let (a, b) = two_stores(&server, "pg_chain").await;
    contract::one_chain_under_concurrent_appends(a, b).await;
}

async fn pg_queries_page_newest_first_from_the_index() {
    let server = server_or_skip!("pg_queries_page_newest_first_from_the_index");
    let (a, _) = two_stores(&server, "pg_query").await;
    contract::query_pages(&*a).await;
}

async fn pg_purge_keeps_ninety_days_and_the_rest_verifies() {
    let server = server_or_skip!("pg_purge_keeps_ninety_days_and_the_rest_verifies");
    let (a, _) = two_stores(&server, "pg_purge").await;
    contract::purge_keeps_retention(&*a).await;
}

async fn pg_outbox_claims_across_two_instances_never_hand_out_one_entry_twice() {
    let server = server_or_skip!("pg_outbox_claims_across_two_instances_never_hand_out_one_entry_twice");
    let (a, b) = two_stores(&server, "pg_outbox").await;
    contract::outbox_across_stores(a, b).await;
}

async fn pg_reconnecting_keeps_the_project_the_chain_and_pending_notifications() {
    let server = server_or_skip!("pg_reconnecting_keeps_the_project_the_chain_and_pending_notifications");
    let url = server.database("pg_reopen").await;
    let store = PostgresStore::connect(&url, key()).await.unwrap();
    let saved = contract::leave_state(&store).await;
    store.close().await;
    drop(store);
    let again = PostgresStore::connect(&url, key()).await.unwrap();
    contract::finds_state(&again, &saved).await;
}

async fn pg_tables_live_in_their_own_schema_beside_the_hosts() {
    use sqlx::Connection;
    let server = server_or_skip!("pg_tables_live_in_their_own_schema_beside_the_hosts");
    let url = server.database("pg_schema").await;
    let mut host = sqlx::PgConnection::connect(&url).await.unwrap();
    // The host's own sqlx migrations table and a table named like ours.
    sqlx::query("CREATE TABLE _sqlx_migrations (version BIGINT PRIMARY KEY, note TEXT)")
        .execute(&mut host)
        .await
        .unwrap();
    sqlx::query("CREATE TABLE kb_sso_project (id INT, name TEXT)")
        .execute(&mut host)
        .await
        .unwrap();
    let store = PostgresStore::connect(&url, key()).await.unwrap();
    assert_eq!(store.current().await.unwrap().revision, Revision(1));
    let ours: i64 = sqlx::query_scalar("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'kb_sso'")
        .fetch_one(&mut host)
        .await
        .unwrap();
    assert_eq!(ours, 5, "four tables and the migrations' own");
    let untouched: Option<String> = sqlx::query_scalar("SELECT note FROM public._sqlx_migrations LIMIT 1")
        .fetch_optional(&mut host)
        .await
        .unwrap();
    assert_eq!(untouched, None, "the host's tables are left alone");
}
