//! `kill -9` in the middle of a burst of writes, then a restart on the same
//! store: every write the server acknowledged is there with its audit row,
//! every write it refused left nothing, and every write whose answer never
//! came (the connection died with the server) is whole or absent, never
//! half there (a token without its audit row, a revocation without its
//! event, or the reverse).
//!
//! Runs against SQLite, and against PostgreSQL when one is reachable
//! (skipped loudly otherwise, a failure under `CI=true`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{json, Value};
use support::process::{Api, Outcome, Served};

/// Writes planned in the burst; the server is killed once half are acknowledged.
const PLANNED: usize = 400;
const KILL_AFTER_ACKNOWLEDGED: usize = PLANNED / 2;
const IN_FLIGHT: usize = 8;

/// What the client learned about one write.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Seen {
    Acknowledged,
    Refused(u16),
    /// No answer: the server died with the request in flight (or before it).
    Unknown,
}

fn seen(outcome: &Outcome) -> Seen {
    match outcome {
        Outcome::Answered(status, _) if (200..300).contains(status) => Seen::Acknowledged,
        Outcome::Answered(status, _) => Seen::Refused(*status),
        Outcome::NoAnswer(_) => Seen::Unknown,
    }
}

#[derive(Debug, Clone)]
struct Record {
    name: String,
    created: Seen,
    /// Known only when the creation was acknowledged.
    id_and_secret: Option<(String, String)>,
    revoked: Option<Seen>,
    /// The new name, and what became of the rename.
    renamed: Option<(String, Seen)>,
}

struct Burst {
    api: Api,
    keyspace: String,
    writes: AtomicUsize,
    acknowledged: AtomicUsize,
    records: Mutex<Vec<Record>>,
}

impl Burst {
    fn count(&self, outcome: Seen) {
        self.writes.fetch_add(1, Ordering::SeqCst);
        if outcome == Seen::Acknowledged {
            self.acknowledged.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// One worker: create a token, then revoke or rename every other one;
    /// every tenth creation names a keyspace that does not exist and must be
    /// refused. Stops at the first unanswered request: the server is gone.
    async fn work(self: Arc<Self>, worker: usize) {
        for k in 0.. {
            if self.writes.load(Ordering::SeqCst) >= PLANNED {
                return;
            }
            let name = format!("w{worker}-{k}");
            let keyspace = if k % 10 == 9 { "ks_doesnotexist" } else { self.keyspace.as_str() };
            let body = json!({"keyspace_id": keyspace, "name": name, "scopes": []});
            let outcome = self.api.send(Method::POST, "/v1/tokens", Some(body)).await;
            let created = seen(&outcome);
            self.count(created);
            let mut record = Record { name, created, id_and_secret: None, revoked: None, renamed: None };
            if let Some(body) = outcome.ok() {
                let id = body["id"].as_str().unwrap().to_owned();
                let secret = body["token"].as_str().unwrap().to_owned();
                record.id_and_secret = Some((id.clone(), secret));
                if k % 3 == 1 {
                    let outcome =
                        self.api.send(Method::POST, &format!("/v1/tokens/{id}/revoke"), Some(json!({}))).await;
                    record.revoked = Some(seen(&outcome));
                    self.count(seen(&outcome));
                } else if k % 3 == 2 {
                    let new_name = format!("{}-renamed", record.name);
                    let body = json!({"name": new_name});
                    let outcome = self.api.send(Method::PATCH, &format!("/v1/tokens/{id}"), Some(body)).await;
                    record.renamed = Some((new_name, seen(&outcome)));
                    self.count(seen(&outcome));
                }
            }
            let stop = record.created == Seen::Unknown
                || record.revoked == Some(Seen::Unknown)
                || record.renamed.as_ref().is_some_and(|(_, s)| *s == Seen::Unknown);
            self.records.lock().unwrap().push(record);
            if stop {
                return;
            }
        }
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

/// The whole story against one store: `store` are the `serve` flags naming it.
fn crash_in_the_middle_of_writes(runtime: &tokio::runtime::Runtime, store: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("admin");
    let server = Served::start(store, &["--admin-token-file", token_file.to_str().unwrap()]);
    let api = Api::new(&server.base, &token_file);
    let keyspace = runtime.block_on(async {
        let body = json!({"name": "crash", "environment": "live"});
        api.must(Method::POST, "/v1/keyspaces", Some(body)).await["id"].as_str().unwrap().to_owned()
    });
    let burst = Arc::new(Burst {
        api,
        keyspace: keyspace.clone(),
        writes: AtomicUsize::new(0),
        acknowledged: AtomicUsize::new(0),
        records: Mutex::new(Vec::new()),
    });
    let workers: Vec<_> = (0..IN_FLIGHT).map(|w| runtime.spawn(burst.clone().work(w))).collect();

    let deadline = Instant::now() + Duration::from_secs(120);
    while burst.acknowledged.load(Ordering::SeqCst) < KILL_AFTER_ACKNOWLEDGED {
        assert!(Instant::now() < deadline, "the burst stalled: {}", server.log());
        std::thread::sleep(Duration::from_millis(1));
    }
    server.kill9();
    runtime.block_on(async {
        for worker in workers {
            worker.await.unwrap();
        }
    });
    let records = burst.records.lock().unwrap().clone();
    let acknowledged = burst.acknowledged.load(Ordering::SeqCst);
    let unknown = records
        .iter()
        .filter(|r| {
            r.created == Seen::Unknown
                || r.revoked == Some(Seen::Unknown)
                || r.renamed.as_ref().is_some_and(|(_, s)| *s == Seen::Unknown)
        })
        .count();
    eprintln!(
        "{} writes sent, {acknowledged} acknowledged, {unknown} unanswered when the server was killed",
        burst.writes.load(Ordering::SeqCst)
    );
    assert!(acknowledged >= KILL_AFTER_ACKNOWLEDGED);
    assert!(acknowledged < PLANNED, "the kill came in the middle of the burst, not after it");

    // The same store again: for SQLite this also proves the dead server's
    // lock did not outlive it.
    let server = Served::start(store, &[]);
    let api = Api::new(&server.base, &token_file);
    runtime.block_on(async {
        let tokens: HashMap<String, Value> = api
            .all(&format!("/v1/tokens?keyspace_id={keyspace}"))
            .await
            .into_iter()
            .map(|t| (t["id"].as_str().unwrap().to_owned(), t))
            .collect();
        let audit: HashSet<(String, String)> = api
            .all("/v1/audit")
            .await
            .into_iter()
            .map(|e| (e["action"].as_str().unwrap().to_owned(), e["target_id"].as_str().unwrap().to_owned()))
            .collect();
        let audited = |action: &str, id: &str| audit.contains(&(action.to_owned(), id.to_owned()));
        let by_name =
            |name: &str| tokens.values().find(|t| t["name"] == name || t["name"] == format!("{name}-renamed"));

        let mut ours = HashSet::new();
        for record in &records {
            match (&record.created, &record.id_and_secret) {
                (Seen::Acknowledged, Some((id, secret))) => {
                    ours.insert(id.clone());
                    let token = tokens.get(id).unwrap_or_else(|| panic!("acknowledged creation {id} is lost"));
                    assert!(audited("token.created", id), "acknowledged creation {id} has no audit row");
                    let revoked_in_log = audited("token.revoked", id);
                    let code = api.verify(secret).await;
                    match record.revoked {
                        Some(Seen::Acknowledged) => assert!(code == "REVOKED" && revoked_in_log, "{id}: {code}"),
                        Some(Seen::Unknown) => assert_eq!(code == "REVOKED", revoked_in_log, "{id} half revoked"),
                        Some(Seen::Refused(_)) | None => assert!(code == "VALID" && !revoked_in_log, "{id}: {code}"),
                    }
                    assert_eq!(token["state"] == "revoked", revoked_in_log, "{id}: state and log agree");
                    let renamed_in_log = audited("token.updated", id);
                    match &record.renamed {
                        Some((new_name, Seen::Acknowledged)) => {
                            assert!(token["name"] == new_name.as_str() && renamed_in_log, "{id} lost its rename");
                        }
                        Some((new_name, Seen::Unknown)) => {
                            assert_eq!(token["name"] == new_name.as_str(), renamed_in_log, "{id} half renamed");
                        }
                        Some((_, Seen::Refused(_))) | None => {
                            assert!(token["name"] == record.name.as_str() && !renamed_in_log, "{id}");
                        }
                    }
                }
                (Seen::Refused(status), _) => {
                    assert!(by_name(&record.name).is_none(), "{} was refused ({status}) yet exists", record.name);
                }
                (Seen::Unknown, _) => {
                    if let Some(token) = by_name(&record.name) {
                        let id = token["id"].as_str().unwrap();
                        ours.insert(id.to_owned());
                        assert!(audited("token.created", id), "{id} exists without its audit row");
                    }
                }
                (Seen::Acknowledged, None) => unreachable!(),
            }
        }
        // Nothing else appeared, and nothing audited is missing.
        for id in tokens.keys() {
            assert!(ours.contains(id), "{id} is no write of ours");
        }
        for (action, id) in &audit {
            if action == "token.created" && !tokens.contains_key(id) {
                let token_of_ours = records.iter().any(|r| r.id_and_secret.as_ref().is_some_and(|(i, _)| i == id));
                assert!(!token_of_ours, "{id}: an audit row for a token that is not there");
            }
        }
    });
    drop(server);
}

#[test]
fn sqlite_keeps_every_acknowledged_write_across_a_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    crash_in_the_middle_of_writes(&runtime(), &["--data-dir", data.to_str().unwrap()]);
}

#[test]
fn postgres_keeps_every_acknowledged_write_across_a_kill_9() {
    let runtime = runtime();
    let Some(schema) = runtime.block_on(keyward_store_postgres::testing::isolated_schema()) else { return };
    let url = schema.url_with_schema();
    crash_in_the_middle_of_writes(&runtime, &["--database-url", &url]);
    runtime.block_on(schema.drop_schema()).unwrap();
}
