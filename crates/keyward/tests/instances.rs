//! Two `keyward serve` processes on one PostgreSQL database: a revocation
//! through one is seen by the other without waiting for any cache to age,
//! and so is a rotation and the end of its grace period.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::cluster::{Client, Instance, GIVE_UP_AFTER};

async fn sqlx_admin(url: &str) -> sqlx::PgPool {
    sqlx::postgres::PgPoolOptions::new().max_connections(1).connect(url).await.unwrap()
}

#[test]
fn revocations_and_rotations_through_one_instance_reach_the_other() {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let Some(schema) = runtime.block_on(keyward_store_postgres::testing::isolated_schema()) else { return };
    let url = schema.url_with_schema();
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("admin");
    // One after the other: the first migrates and bootstraps.
    let first = Instance::start(&url, Some(&token_file));
    let second = Instance::start(&url, None);
    let client =
        Client { http: reqwest::Client::new(), admin: std::fs::read_to_string(&token_file).unwrap().trim().to_owned() };
    runtime.block_on(async {
        let keyspace = client.post(&first, "/v1/keyspaces", json!({"name": "payments", "environment": "live"})).await;
        let keyspace = keyspace["id"].as_str().unwrap().to_owned();
        let mut immediate = 0;
        let rounds = 30;
        for round in 0..rounds {
            let (creator, revoker) = if round % 2 == 0 { (&first, &second) } else { (&second, &first) };
            let (token, id) = client.create(creator, &keyspace, &format!("round {round}")).await;
            // Both instances now hold it in their caches.
            assert_eq!(client.verify(&first, &token).await, "VALID");
            assert_eq!(client.verify(&second, &token).await, "VALID");
            if round % 3 == 0 {
                // A revoke racing verifications on the other instance: each
                // answer is VALID (before) or REVOKED (after), and once
                // REVOKED, never VALID again.
                let racing = async {
                    let mut seen_revoked = false;
                    for _ in 0..50 {
                        let code = client.verify(creator, &token).await;
                        assert!(!(seen_revoked && code == "VALID"), "VALID again after REVOKED");
                        seen_revoked |= code == "REVOKED";
                    }
                };
                let path = format!("/v1/tokens/{id}/revoke");
                let revoke = client.post(revoker, &path, json!({}));
                let ((), _) = tokio::join!(racing, revoke);
            } else {
                client.post(revoker, &format!("/v1/tokens/{id}/revoke"), json!({})).await;
            }
            assert_eq!(client.verify(revoker, &token).await, "REVOKED", "immediate where it was revoked");
            if client.until_rejected(creator, &token).await == 1 {
                immediate += 1;
            }
        }
        eprintln!("{immediate} of {rounds} revocations were already visible on the other instance at the first check");

        // Fail closed: cut the second instance's listening connection. From
        // the moment it notices, it verifies from the store, so a revocation
        // it cannot hear about is still seen at once; then it listens again.
        let (token, id) = client.create(&first, &keyspace, "across a broken feed").await;
        assert_eq!(client.verify(&second, &token).await, "VALID");
        second.logged("token change feed listening", 1).await;
        let admin = sqlx_admin(&url).await;
        let cut: i64 = sqlx::query_scalar(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE query LIKE 'LISTEN%' AND query LIKE $1",
        )
        .bind(format!("%{}%", schema.schema))
        .fetch_one(&admin)
        .await
        .unwrap();
        assert_eq!(cut, 2, "both instances' listeners");
        second.logged("token change feed lost", 1).await;
        client.post(&first, &format!("/v1/tokens/{id}/revoke"), json!({})).await;
        assert_eq!(client.verify(&second, &token).await, "REVOKED", "no stale answer while the feed is down");
        second.logged("token change feed listening", 2).await;
        let (token, id) = client.create(&second, &keyspace, "after the feed is back").await;
        assert_eq!(client.verify(&first, &token).await, "VALID");
        client.post(&second, &format!("/v1/tokens/{id}/revoke"), json!({})).await;
        client.until_rejected(&first, &token).await;
        admin.close().await;

        // Rotation across instances: rotated through one, both tokens verify
        // on the other, which also learns the old one is in its grace; the
        // grace ended through the other, the first rejects the old one.
        for round in 0..10 {
            let (rotator, other) = if round % 2 == 0 { (&first, &second) } else { (&second, &first) };
            let (old, id) = client.create(other, &keyspace, &format!("rotated {round}")).await;
            assert_eq!(client.verify(other, &old).await, "VALID", "cached before the rotation");
            let rotated = client.post(rotator, &format!("/v1/tokens/{id}/rotate"), json!({"grace_period": 3600})).await;
            let new = rotated["token"].as_str().unwrap();
            assert_eq!(client.verify(other, new).await, "VALID");
            let started = Instant::now();
            loop {
                let answer = client.post(other, "/v1/verify", json!({"token": old, "user_agent": "deploy-bot/2"})).await;
                assert_eq!(answer["code"], "VALID", "the old token works through its grace");
                if answer["in_rotation_grace"] == true {
                    break;
                }
                assert!(started.elapsed() < GIVE_UP_AFTER, "the rotation never reached the other instance");
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            if round == 0 {
                // The other instance's note of who still uses it reaches
                // the rotating one through the store (flushed every second).
                let started = Instant::now();
                loop {
                    let clients: Value = client
                        .http
                        .get(format!("{}/v1/tokens/{id}/clients", rotator.base))
                        .bearer_auth(&client.admin)
                        .send()
                        .await
                        .unwrap()
                        .json()
                        .await
                        .unwrap();
                    if clients["data"][0]["user_agent"] == "deploy-bot/2" {
                        break;
                    }
                    assert!(started.elapsed() < Duration::from_secs(10), "clients never listed: {clients}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
            client.post(other, &format!("/v1/tokens/{id}/grace"), json!({"ends_in": 0})).await;
            assert_eq!(client.verify(other, &old).await, "EXPIRED", "immediate where the grace was ended");
            client.until_answer(rotator, &old, "EXPIRED").await;
            assert_eq!(client.verify(rotator, new).await, "VALID");
        }

        // Disabling, enabling and deleting reach the other instance too.
        for round in 0..10 {
            let (changer, other) = if round % 2 == 0 { (&first, &second) } else { (&second, &first) };
            let (token, id) = client.create(changer, &keyspace, &format!("paused {round}")).await;
            assert_eq!(client.verify(other, &token).await, "VALID");
            client.post(changer, &format!("/v1/tokens/{id}/disable"), json!({})).await;
            assert_eq!(client.verify(changer, &token).await, "DISABLED");
            client.until_code(other, &token, "DISABLED").await;
            client.post(changer, &format!("/v1/tokens/{id}/enable"), json!({})).await;
            client.until_code(other, &token, "VALID").await;
            client.delete(changer, &format!("/v1/tokens/{id}")).await;
            assert_eq!(client.verify(changer, &token).await, "NOT_FOUND");
            client.until_code(other, &token, "NOT_FOUND").await;
        }
    });
    drop(first);
    drop(second);
    runtime.block_on(schema.drop_schema()).unwrap();
}
