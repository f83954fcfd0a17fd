//! A running server on PostgreSQL while the database misbehaves: a table
//! locked for seconds, then every connection killed under it.
//!
//! Cached verifications never wait on the database; a flood of unknown
//! tokens cannot take every pooled connection; nothing hangs without a
//! timeout; and once the database is back the server works again without a
//! restart. One test function, because killing connections would disturb
//! any test running beside it on the same database.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::{Duration, Instant};

use keyward_core::{Environment, OsRng, TokenPrefix};
use reqwest::Method;
use serde_json::json;
use support::process::{Api, Served};

fn unknown_token() -> String {
    let prefix = TokenPrefix::new("kw").unwrap();
    keyward_core::token::generate(&prefix, Environment::Live, &OsRng).unwrap().expose().to_owned()
}

#[test]
fn a_slow_or_vanishing_database_never_stalls_cached_verifications() {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let Some(schema) = runtime.block_on(keyward_store_postgres::testing::isolated_schema()) else { return };
    let url = schema.url_with_schema();
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("admin");
    let served = Served::start(&["--database-url", &url], &["--admin-token-file", token_file.to_str().unwrap()]);
    let api = Api::new(&served.base, &token_file);
    runtime.block_on(async {
        let keyspace = api.must(Method::POST, "/v1/keyspaces", Some(json!({"name": "payments", "environment": "live"}))).await;
        let keyspace = keyspace["id"].as_str().unwrap().to_owned();
        let create = |name: &'static str| {
            let body = json!({"keyspace_id": keyspace, "name": name, "scopes": []});
            async { api.must(Method::POST, "/v1/tokens", Some(body)).await }
        };
        let token = create("cached").await["token"].as_str().unwrap().to_owned();
        assert_eq!(api.verify(&token).await, "VALID", "now cached");

        // A migration or a careless operator locks the tokens table.
        let locker = sqlx::postgres::PgPoolOptions::new().max_connections(1).connect(&url).await.unwrap();
        let mut lock = locker.begin().await.unwrap();
        sqlx::query("LOCK TABLE tokens IN ACCESS EXCLUSIVE MODE").execute(&mut *lock).await.unwrap();
        let held_since = Instant::now();

        // 40 unknown tokens at once: more than the pool has connections.
        let mut flood = tokio::task::JoinSet::new();
        for _ in 0..40 {
            let (api, token) = (api.clone(), unknown_token());
            flood.spawn(async move { api.answer(Method::POST, "/v1/verify", Some(json!({"token": token}))).await });
        }
        let flood = flood.join_all();
        let cached = async {
            let mut answers = Vec::new();
            while held_since.elapsed() < Duration::from_secs(4) {
                let (status, body) = api.answer(Method::POST, "/v1/verify", Some(json!({"token": token}))).await;
                answers.push((status, body["code"].as_str().unwrap_or("").to_owned()));
                // Management that does not touch the locked table is served too.
                let (status, _) = api.answer(Method::GET, "/v1/keyspaces", None).await;
                assert_eq!(status, 200, "the pool was starved: {}", served.log());
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            answers
        };
        let (flood, cached) = tokio::join!(flood, cached);
        lock.rollback().await.unwrap();
        assert!(cached.len() >= 5);
        for (status, code) in &cached {
            assert_eq!((*status, code.as_str()), (200, "VALID"), "a cached token waited on the database");
        }
        for (status, body) in &flood {
            let answered = (*status == 200 && body["code"] == "NOT_FOUND")
                || (*status == 503 && body["code"] == "store_unavailable");
            assert!(answered, "an unknown token got {status}: {body}");
        }
        assert!(flood.iter().any(|(status, _)| *status == 503), "the budget never ran out");
        assert_eq!(api.verify(&unknown_token()).await, "NOT_FOUND");

        // Every connection the server holds is killed, as a database
        // restart or failover would.
        let killed: Vec<i32> = sqlx::query_scalar(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()",
        )
        .fetch_all(&locker)
        .await
        .unwrap();
        assert!(!killed.is_empty());
        sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")
            .execute(&locker)
            .await
            .unwrap();
        // Writes right after: each either succeeds and is kept, or is refused.
        let mut created = Vec::new();
        for n in 0..20 {
            let body = json!({"keyspace_id": keyspace, "name": format!("after {n}"), "scopes": []});
            match api.answer(Method::POST, "/v1/tokens", Some(body)).await {
                (201, answer) => created.push(answer["token"].as_str().unwrap().to_owned()),
                (503, _) => {}
                (other, answer) => panic!("creation after the kill answered {other}: {answer}"),
            }
        }
        assert!(!created.is_empty(), "the server never wrote again after its connections were killed");
        for token in &created {
            assert_eq!(api.verify(token).await, "VALID");
        }
        let started = Instant::now();
        while api.answer(Method::GET, "/readyz", None).await.0 != 200 {
            assert!(started.elapsed() < Duration::from_secs(10), "never ready again");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // The change feed listens again: a revocation written straight into
        // the database reaches the cache of a token verified just before.
        let fresh = create("after the kill").await;
        let (secret, id) = (fresh["token"].as_str().unwrap(), fresh["id"].as_str().unwrap());
        assert_eq!(api.verify(secret).await, "VALID");
        sqlx::query("UPDATE tokens SET revoked_at = (extract(epoch FROM now()) * 1000000)::bigint, revoked_reason = 'leaked' WHERE id = $1")
            .bind(id)
            .execute(&locker)
            .await
            .unwrap();
        let started = Instant::now();
        while api.verify(secret).await != "REVOKED" {
            assert!(started.elapsed() < Duration::from_secs(10), "the change feed never delivered the revocation");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        locker.close().await;
    });
    drop(served);
    runtime.block_on(schema.drop_schema()).unwrap();
}
