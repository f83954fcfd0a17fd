//! A running server whose disk fails never claims a write that did not
//! happen, says so in `/readyz` and once in its log, and writes again as
//! soon as the fault ends, without a restart.
//!
//! Three real faults: the kernel refusing to grow any file of the server
//! (`RLIMIT_FSIZE` set on the running process, no root needed); every
//! `fsync` and `fdatasync` failing with `EIO` (libfiu's `fiu-run`, from
//! Debian's `fiu-utils`); and a genuinely full file system (a 6 MiB tmpfs,
//! which needs root). Each is skipped loudly when it cannot be made, and
//! that is a failure under `CI=true`. After each, the server is killed and
//! started again on the same files, and everything it acknowledged must be
//! there: tokens, revocations and their audit events.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use reqwest::Method;
use serde_json::json;
use support::process::{Api, Served};

/// What the server answered to each write.
#[derive(Default)]
struct Ledger {
    live: Vec<(String, String)>,
    created: Vec<(String, String)>,
    revoked: Vec<(String, String)>,
    refused_creations: Vec<String>,
    refused_revocations: Vec<(String, String)>,
}

impl Ledger {
    /// Two creations and one revocation (so a token is always left to
    /// revoke); answers how many of the three were refused.
    async fn write_three(&mut self, api: &Api, keyspace: &str, n: usize) -> usize {
        self.create(api, keyspace, &format!("token {n}a")).await
            + self.create(api, keyspace, &format!("token {n}b")).await
            + self.revoke(api).await
    }

    async fn create(&mut self, api: &Api, keyspace: &str, name: &str) -> usize {
        let mut refused = 0;
        let body = json!({"keyspace_id": keyspace, "name": name, "scopes": [], "metadata": {"pad": "p".repeat(3000)}});
        let (status, created) = api.answer(Method::POST, "/v1/tokens", Some(body)).await;
        match status {
            201 => {
                let pair = (created["id"].as_str().unwrap().to_owned(), created["token"].as_str().unwrap().to_owned());
                self.live.push(pair.clone());
                self.created.push(pair);
            }
            503 | 507 => {
                refused += 1;
                self.refused_creations.push(name.to_owned());
            }
            other => panic!("creation answered {other}: {created}"),
        }
        refused
    }

    async fn revoke(&mut self, api: &Api) -> usize {
        let mut refused = 0;
        if !self.live.is_empty() {
            let (id, token) = self.live.remove(0);
            let path = format!("/v1/tokens/{id}/revoke");
            let (status, body) = api.answer(Method::POST, &path, Some(json!({"reason": "leaked"}))).await;
            match status {
                200 => self.revoked.push((id, token)),
                503 | 507 => {
                    refused += 1;
                    self.refused_revocations.push((id.clone(), token.clone()));
                    self.live.push((id, token));
                }
                other => panic!("revocation answered {other}: {body}"),
            }
        }
        refused
    }

    /// What a restarted server must show.
    async fn check(&self, api: &Api, refused: Refused) {
        let revoked: HashSet<&str> = self.revoked.iter().map(|(id, _)| id.as_str()).collect();
        for (_, token) in &self.created {
            let code = api.verify(token).await;
            assert!(code == "VALID" || code == "REVOKED", "an acknowledged creation was lost: {code}");
        }
        for (id, token) in &self.revoked {
            assert_eq!(api.verify(token).await, "REVOKED", "the acknowledged revocation of {id} was lost");
        }
        for (id, token) in self.refused_revocations.iter().filter(|_| refused == Refused::Absent) {
            let expected = if revoked.contains(id.as_str()) { "REVOKED" } else { "VALID" };
            assert_eq!(api.verify(token).await, expected, "a refused revocation of {id} took effect");
        }
        let events: Vec<(String, String)> = api
            .all("/v1/audit")
            .await
            .iter()
            .map(|e| (e["action"].as_str().unwrap().to_owned(), e["target_id"].as_str().unwrap_or("").to_owned()))
            .collect();
        for (id, _) in &self.created {
            assert!(events.contains(&("token.created".into(), id.clone())), "the creation of {id} has no audit event");
        }
        for (id, _) in &self.revoked {
            assert!(
                events.contains(&("token.revoked".into(), id.clone())),
                "the revocation of {id} has no audit event"
            );
        }
        let tokens = api.all("/v1/tokens").await;
        let names: HashSet<&str> = tokens.iter().filter_map(|t| t["name"].as_str()).collect();
        for name in self.refused_creations.iter().filter(|_| refused == Refused::Absent) {
            assert!(!names.contains(name.as_str()), "the refused creation of {name:?} exists");
        }
    }
}

/// `/readyz`'s status.
async fn readiness(api: &Api) -> u16 {
    api.http.get(format!("{}/readyz", api.base)).send().await.unwrap().status().as_u16()
}

/// Drives writes through a fault and after it, then restarts the server
/// on the same files and checks every answer it gave.
async fn writes_through_a_fault(data_dir: &Path, start_fault: impl FnOnce(&Served), end_fault: impl FnOnce(&Served)) {
    writes_through_a_fault_under(&[], Refused::Absent, data_dir, start_fault, end_fault).await;
}

/// What a restarted server may show of a write it refused.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Refused {
    /// Nothing: the write never reached the file.
    Absent,
    /// Anything: its bytes reached the file but their flush failed, so the
    /// write is in doubt, as after any failed fsync. Only acknowledged
    /// writes are then checked.
    InDoubt,
}

async fn writes_through_a_fault_under(
    wrapper: &[&str],
    refused_writes: Refused,
    data_dir: &Path,
    start_fault: impl FnOnce(&Served),
    end_fault: impl FnOnce(&Served),
) {
    let token_file = data_dir.with_file_name("admin-token");
    let store = ["--data-dir", data_dir.to_str().unwrap()];
    let served = Served::start_under(wrapper, &store, &["--admin-token-file", token_file.to_str().unwrap()]);
    let api = Api::new(&served.base, &token_file);
    let keyspace = api.must(Method::POST, "/v1/keyspaces", Some(json!({"name": "ks", "environment": "live"}))).await;
    let keyspace = keyspace["id"].as_str().unwrap().to_owned();
    let mut ledger = Ledger::default();
    for n in 0..10 {
        assert_eq!(ledger.write_three(&api, &keyspace, n).await, 0, "the disk is fine yet");
    }
    assert_eq!(readiness(&api).await, 200);

    start_fault(&served);
    let mut refused = 0;
    for n in 10..40 {
        refused += ledger.write_three(&api, &keyspace, n).await;
    }
    assert!(
        refused >= 60,
        "only {refused} of 90 writes were refused on a failing disk: {} revoked, {} created",
        ledger.revoked.len(),
        ledger.created.len()
    );
    for _ in 0..5 {
        assert_eq!(readiness(&api).await, 503, "not ready while writes fail");
    }
    // Verifications of cached tokens go on.
    let (_, token) = ledger.live.last().cloned().unwrap();
    assert_eq!(api.verify(&token).await, "VALID");

    end_fault(&served);
    assert_eq!(readiness(&api).await, 200, "ready again once the fault ends, without a restart");
    for n in 40..60 {
        assert_eq!(ledger.write_three(&api, &keyspace, n).await, 0, "writes are refused after the fault");
    }
    let log = served.log();
    assert_eq!(log.matches("not ready: the token store cannot commit writes").count(), 1, "once per episode: {log}");
    assert_eq!(log.matches("ready again").count(), 1, "{log}");
    assert_eq!(
        log.matches("requests needing the store answer 503").count(),
        1,
        "one line for 60 refused writes: {log}"
    );
    served.kill9();

    let restarted = Served::start(&store, &[]);
    ledger.check(&Api { base: restarted.base.clone(), ..api }, refused_writes).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disk_that_refuses_writes_never_turns_into_silent_success() {
    use rustix::process::{prlimit, Pid, Resource, Rlimit};
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let pid = |served: &Served| Pid::from_raw(i32::try_from(served.pid()).unwrap());
    writes_through_a_fault(
        &data_dir,
        |served| {
            prlimit(pid(served), Resource::Fsize, Rlimit { current: Some(1), maximum: None }).unwrap();
        },
        |served| {
            prlimit(pid(served), Resource::Fsize, Rlimit { current: None, maximum: None }).unwrap();
        },
    )
    .await;
}

/// A tmpfs of `size` mounted on a fresh directory for as long as it lives.
struct Tmpfs {
    path: PathBuf,
    _dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fs");
        std::fs::create_dir(&path).unwrap();
        let mounted =
            Command::new("mount").args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"]).arg(&path).status();
        if mounted.is_ok_and(|status| status.success()) {
            return Some(Tmpfs { path, _dir: dir });
        }
        let why = "SKIPPED: cannot mount a small tmpfs (needs root) for the full-disk test";
        assert!(std::env::var("CI").as_deref() != Ok("true"), "{why}, and CI=true makes that a failure");
        eprintln!("\n*** {why} ***\n");
        None
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.path).status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_never_turns_into_silent_success() {
    let Some(tmpfs) = Tmpfs::mount("6m") else { return };
    let data_dir = tmpfs.path.join("data");
    let filler = tmpfs.path.join("filler");
    writes_through_a_fault(
        &data_dir,
        |_| {
            // Fill every byte that is left.
            let status =
                Command::new("dd").args(["if=/dev/zero", "bs=64k"]).arg(format!("of={}", filler.display())).status();
            assert!(status.is_ok(), "dd could not run");
        },
        |_| std::fs::remove_file(&filler).unwrap(),
    )
    .await;
}

/// `fiu-run` (libfiu) makes chosen libc calls fail in a running process.
fn fault_injector() -> Option<&'static str> {
    if Command::new("fiu-run").arg("-h").output().is_ok() {
        return Some("fiu-run");
    }
    let why = "SKIPPED: fiu-run (apt-get install fiu-utils) is needed to make fsync fail";
    assert!(std::env::var("CI").as_deref() != Ok("true"), "{why}, and CI=true makes that a failure");
    eprintln!("\n*** {why} ***\n");
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_fsync_never_turns_into_silent_success() {
    let Some(fiu_run) = fault_injector() else { return };
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let control = dir.path().join("fiu");
    let control = control.to_str().unwrap();
    // Every fsync and fdatasync the server makes fails with EIO while enabled.
    let fiu_ctrl = |served: &Served, command: &str| {
        for name in ["posix/io/sync/fsync", "posix/io/sync/fdatasync"] {
            let status = Command::new("fiu-ctrl")
                .args(["-f", control, "-c", &format!("{command} name={name}")])
                .arg(served.pid().to_string())
                .status()
                .unwrap();
            assert!(status.success(), "fiu-ctrl {command} {name}");
        }
    };
    writes_through_a_fault_under(
        &[fiu_run, "-x", "-f", control],
        Refused::InDoubt,
        &data_dir,
        |served| fiu_ctrl(served, "enable"),
        |served| fiu_ctrl(served, "disable"),
    )
    .await;
}
