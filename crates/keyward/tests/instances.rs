//! Two `keyward serve` processes on one PostgreSQL database: a revocation
//! through one is seen by the other without waiting for any cache to age.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_keyward");

/// How long the test waits for a revocation to reach the other instance
/// before calling it lost. Generous on purpose: the suite never asserts
/// speed (the propagation time is measured by `bench/revocation-propagation.sh`).
const GIVE_UP_AFTER: Duration = Duration::from_secs(10);

struct Instance {
    child: Child,
    base: String,
    log: Arc<Mutex<String>>,
}

impl Instance {
    fn start(url: &str, admin_token_file: Option<&Path>) -> Instance {
        let mut command = Command::new(BIN);
        command.args(["serve", "--listen", "127.0.0.1:0", "--database-url", url]);
        if let Some(file) = admin_token_file {
            command.arg("--admin-token-file").arg(file);
        }
        let mut child = command.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let mut startup = String::new();
        let addr = loop {
            let mut line = String::new();
            assert!(stderr.read_line(&mut line).unwrap() > 0, "server exited early: {startup}");
            startup.push_str(&line);
            if let Some(rest) = line.split("listening on ").nth(1) {
                break rest.split_whitespace().next().unwrap().to_owned();
            }
        };
        let log = Arc::new(Mutex::new(startup));
        let sink = log.clone();
        // Keep draining the log so the server never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in stderr.lines().map_while(Result::ok) {
                let mut log = sink.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                log.push_str(&line);
                log.push('\n');
            }
        });
        Instance { child, base: addr, log }
    }

    /// Waits until the log has said `what` `times` times.
    async fn logged(&self, what: &str, times: usize) {
        let started = Instant::now();
        loop {
            let log = self.log.lock().unwrap().clone();
            if log.matches(what).count() >= times {
                return;
            }
            assert!(started.elapsed() < GIVE_UP_AFTER, "never logged {what:?}: {log}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let _ = self.child.wait();
    }
}

struct Client {
    http: reqwest::Client,
    admin: String,
}

impl Client {
    async fn post(&self, instance: &Instance, path: &str, body: Value) -> Value {
        let response = self
            .http
            .post(format!("{}{path}", instance.base))
            .bearer_auth(&self.admin)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success(), "{path}: {}", response.status());
        response.json().await.unwrap()
    }

    async fn verify(&self, instance: &Instance, token: &str) -> String {
        let answer = self.post(instance, "/v1/verify", json!({"token": token})).await;
        answer["code"].as_str().unwrap().to_owned()
    }

    /// Polls `instance` until `token` stops verifying; how many checks that took.
    async fn until_rejected(&self, instance: &Instance, token: &str) -> usize {
        let started = Instant::now();
        for checks in 1.. {
            let code = self.verify(instance, token).await;
            if code != "VALID" {
                assert_eq!(code, "REVOKED");
                return checks;
            }
            assert!(started.elapsed() < GIVE_UP_AFTER, "the other instance still accepts a revoked token");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        unreachable!()
    }

    async fn create(&self, instance: &Instance, keyspace: &str, name: &str) -> (String, String) {
        let created =
            self.post(instance, "/v1/tokens", json!({"keyspace_id": keyspace, "name": name, "scopes": []})).await;
        (created["token"].as_str().unwrap().to_owned(), created["id"].as_str().unwrap().to_owned())
    }
}

async fn sqlx_admin(url: &str) -> sqlx::PgPool {
    sqlx::postgres::PgPoolOptions::new().max_connections(1).connect(url).await.unwrap()
}

#[test]
fn a_revocation_through_one_instance_reaches_the_other() {
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
    });
    drop(first);
    drop(second);
    runtime.block_on(schema.drop_schema()).unwrap();
}
