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
use reqwest::StatusCode;
use serde_json::{json, Value};
use support::cluster::{Client, Instance};

async fn post(client: &Client, instance: &Instance, path: &str, body: Value) -> (StatusCode, Value) {
    let response = client
        .http
        .post(format!("{}{path}", instance.base))
        .bearer_auth(&client.admin)
        .json(&body)
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .unwrap();
    let status = response.status();
    if status == StatusCode::SERVICE_UNAVAILABLE {
        assert!(response.headers().contains_key("retry-after"), "a 503 says when to retry");
    }
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn get(client: &Client, instance: &Instance, path: &str) -> StatusCode {
    let request = client.http.get(format!("{}{path}", instance.base)).bearer_auth(&client.admin);
    request.timeout(Duration::from_secs(30)).send().await.unwrap().status()
}

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
    let instance = Instance::start(&url, Some(&token_file));
    let client =
        Client { http: reqwest::Client::new(), admin: std::fs::read_to_string(&token_file).unwrap().trim().to_owned() };
    runtime.block_on(async {
        let keyspace = client.post(&instance, "/v1/keyspaces", json!({"name": "payments", "environment": "live"})).await;
        let keyspace = keyspace["id"].as_str().unwrap().to_owned();
        let (token, _) = client.create(&instance, &keyspace, "cached").await;
        assert_eq!(client.verify(&instance, &token).await, "VALID", "now cached");

        // A migration or a careless operator locks the tokens table.
        let locker = sqlx::postgres::PgPoolOptions::new().max_connections(1).connect(&url).await.unwrap();
        let mut lock = locker.begin().await.unwrap();
        sqlx::query("LOCK TABLE tokens IN ACCESS EXCLUSIVE MODE").execute(&mut *lock).await.unwrap();
        let held_since = Instant::now();

        // 40 unknown tokens at once: more than the pool has connections.
        let mut flood = tokio::task::JoinSet::new();
        for _ in 0..40 {
            let (http, base, admin, token) =
                (client.http.clone(), instance.base.clone(), client.admin.clone(), unknown_token());
            flood.spawn(async move {
                let response = http
                    .post(format!("{base}/v1/verify"))
                    .bearer_auth(admin)
                    .json(&json!({"token": token}))
                    .timeout(Duration::from_secs(30))
                    .send()
                    .await
                    .unwrap();
                let status = response.status();
                let retry_after = response.headers().contains_key("retry-after");
                (status, retry_after, response.json::<Value>().await.unwrap_or(Value::Null))
            });
        }
        let flood = flood.join_all();
        let cached = async {
            let mut answers = Vec::new();
            while held_since.elapsed() < Duration::from_secs(4) {
                let (status, body) = post(&client, &instance, "/v1/verify", json!({"token": token})).await;
                answers.push((status, body["code"].as_str().unwrap_or("").to_owned()));
                // Management that does not touch the locked table is served too.
                assert_eq!(get(&client, &instance, "/v1/keyspaces").await, StatusCode::OK, "the pool was starved: {}", instance.log());
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            answers
        };
        let (flood, cached) = tokio::join!(flood, cached);
        lock.rollback().await.unwrap();
        assert!(cached.len() >= 5);
        for (status, code) in &cached {
            assert_eq!((*status, code.as_str()), (StatusCode::OK, "VALID"), "a cached token waited on the database");
        }
        for (status, retry_after, body) in &flood {
            assert!(*status != StatusCode::SERVICE_UNAVAILABLE || *retry_after, "a 503 says when to retry");
            let answered = (*status == StatusCode::OK && body["code"] == "NOT_FOUND")
                || (*status == StatusCode::SERVICE_UNAVAILABLE && body["code"] == "store_unavailable");
            assert!(answered, "an unknown token got {status}: {body}");
        }
        assert!(flood.iter().any(|(status, _, _)| *status == StatusCode::SERVICE_UNAVAILABLE), "the budget never ran out");
        assert_eq!(post(&client, &instance, "/v1/verify", json!({"token": unknown_token()})).await.1["code"], "NOT_FOUND");

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
            let (status, answer) = post(&client, &instance, "/v1/tokens", body).await;
            match status {
                StatusCode::CREATED => created.push(answer["token"].as_str().unwrap().to_owned()),
                StatusCode::SERVICE_UNAVAILABLE => {}
                other => panic!("creation after the kill answered {other}: {answer}"),
            }
        }
        assert!(!created.is_empty(), "the server never wrote again after its connections were killed");
        for token in &created {
            assert_eq!(client.verify(&instance, token).await, "VALID");
        }
        // Back to ready, and the change feed listens again: a revocation
        // made straight in the database reaches the cache.
        let started = Instant::now();
        while get(&client, &instance, "/readyz").await != StatusCode::OK {
            assert!(started.elapsed() < Duration::from_secs(10), "never ready again");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let (fresh, fresh_id) = client.create(&instance, &keyspace, "after the kill").await;
        assert_eq!(client.verify(&instance, &fresh).await, "VALID");
        client.post(&instance, &format!("/v1/tokens/{fresh_id}/revoke"), json!({})).await;
        assert_eq!(client.verify(&instance, &fresh).await, "REVOKED");
        locker.close().await;
    });
    drop(instance);
    runtime.block_on(schema.drop_schema()).unwrap();
}
