//! Two or more `keyward serve` processes on one PostgreSQL database, and an
//! HTTP client for them: shared by the multi-instance test and the
//! revocation propagation benchmark.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

pub const BIN: &str = env!("CARGO_BIN_EXE_keyward");

/// How long the test waits for a revocation to reach the other instance
/// before calling it lost. Generous on purpose: the suite never asserts
/// speed (the propagation time is measured by `cargo bench -p keyward --bench propagation`).
pub const GIVE_UP_AFTER: Duration = Duration::from_secs(10);

pub struct Instance {
    child: Child,
    pub base: String,
    log: Arc<Mutex<String>>,
}

impl Instance {
    pub fn start(url: &str, admin_token_file: Option<&Path>) -> Instance {
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
    pub async fn logged(&self, what: &str, times: usize) {
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

pub struct Client {
    pub http: reqwest::Client,
    pub admin: String,
}

impl Client {
    pub async fn post(&self, instance: &Instance, path: &str, body: Value) -> Value {
        self.send(reqwest::Method::POST, instance, path, body).await
    }

    pub async fn patch(&self, instance: &Instance, path: &str, body: Value) -> Value {
        self.send(reqwest::Method::PATCH, instance, path, body).await
    }

    /// Sends `body` as the admin and answers the JSON of a successful response.
    async fn send(&self, method: reqwest::Method, instance: &Instance, path: &str, body: Value) -> Value {
        let response = self
            .http
            .request(method, format!("{}{path}", instance.base))
            .bearer_auth(&self.admin)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success(), "{path}: {}", response.status());
        if response.status() == reqwest::StatusCode::NO_CONTENT {
            return Value::Null;
        }
        response.json().await.unwrap()
    }

    pub async fn delete(&self, instance: &Instance, path: &str) {
        self.send(reqwest::Method::DELETE, instance, path, Value::Null).await;
    }

    /// Polls `instance` until `token` answers `expected` (within 10 s).
    pub async fn until_code(&self, instance: &Instance, token: &str, expected: &str) {
        let started = Instant::now();
        loop {
            let code = self.verify(instance, token).await;
            if code == expected {
                return;
            }
            assert!(started.elapsed() < Duration::from_secs(10), "still {code}, never {expected}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    pub async fn verify(&self, instance: &Instance, token: &str) -> String {
        let answer = self.post(instance, "/v1/verify", json!({"token": token})).await;
        answer["code"].as_str().unwrap().to_owned()
    }

    /// Polls `instance` until `token` stops verifying; how many checks that took.
    pub async fn until_rejected(&self, instance: &Instance, token: &str) -> usize {
        self.until_answer(instance, token, "REVOKED").await
    }

    /// Polls `instance` until `token` stops verifying, answering `expected`.
    pub async fn until_answer(&self, instance: &Instance, token: &str, expected: &str) -> usize {
        let started = Instant::now();
        for checks in 1.. {
            let code = self.verify(instance, token).await;
            if code != "VALID" {
                assert_eq!(code, expected);
                return checks;
            }
            assert!(started.elapsed() < GIVE_UP_AFTER, "the other instance still accepts a token it should not");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        unreachable!()
    }

    pub async fn create(&self, instance: &Instance, keyspace: &str, name: &str) -> (String, String) {
        let created =
            self.post(instance, "/v1/tokens", json!({"keyspace_id": keyspace, "name": name, "scopes": []})).await;
        (created["token"].as_str().unwrap().to_owned(), created["id"].as_str().unwrap().to_owned())
    }
}
