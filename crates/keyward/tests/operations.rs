//! What an operator relies on around the embedded store, with the real
//! binary: one server per data directory (and a killed one is no obstacle),
//! `keyward backup` while writes go on, private file modes, and restarts
//! with `--admin-token-file`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{json, Value};
use support::process::{serve_args, Api, Served, BIN};

/// Runs `keyward ARGS` to its end; a refused command must end by itself.
fn run(args: &[String]) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .env_remove("KEYWARD_TOKEN")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("keyward {args:?} did not exit: it should have been refused");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| (*s).to_owned()).collect()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A refusal: non-zero, and exactly one line on stderr.
fn refused_in_one_line(output: &Output) -> String {
    assert!(!output.status.success(), "should have been refused: {}", stderr(output));
    let text = stderr(output);
    assert_eq!(text.trim_end().lines().count(), 1, "one line: {text}");
    text
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

#[test]
fn a_second_server_on_one_data_directory_is_refused_and_a_killed_one_is_no_obstacle() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data_arg = data.to_str().unwrap();
    let token_file = dir.path().join("admin");
    let first = Served::start(&["--data-dir", data_arg], &["--admin-token-file", token_file.to_str().unwrap()]);
    let api = Api::new(&first.base, &token_file);
    let runtime = runtime();

    let second = run(&serve_args(&["--data-dir", data_arg], &[]));
    let said = refused_in_one_line(&second);
    assert!(said.contains(&format!("PID {}", first.pid())), "names the holder: {said}");
    assert!(said.contains(data_arg), "names the directory: {said}");
    for verb in ["migrate", "init"] {
        let output = run(&strings(&[verb, "--data-dir", data_arg]));
        let said = refused_in_one_line(&output);
        assert!(said.contains(&format!("PID {}", first.pid())), "{verb}: {said}");
    }
    // The first one never noticed.
    assert_eq!(runtime.block_on(api.verify(&api.admin)), "VALID");

    // kill -9 leaves keyward.lock behind with a dead PID in it; the kernel
    // has released the lock itself, and only the lock counts.
    first.kill9();
    assert!(data.join("keyward.lock").exists());
    let restarted = Served::start(&["--data-dir", data_arg], &[]);
    let api = Api::new(&restarted.base, &token_file);
    assert_eq!(runtime.block_on(api.verify(&api.admin)), "VALID");
    assert_eq!(std::fs::read_to_string(data.join("keyward.lock")).unwrap().trim(), restarted.pid().to_string());
}

#[test]
fn an_explicit_sqlite_url_is_locked_beside_its_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("k.db");
    let url = format!("sqlite://{}", file.display());
    let token_file = dir.path().join("admin");
    let first = Served::start(&["--database-url", &url], &["--admin-token-file", token_file.to_str().unwrap()]);
    let said = refused_in_one_line(&run(&strings(&["migrate", "--database-url", &url])));
    assert!(said.contains(&format!("PID {}", first.pid())), "{said}");
    assert!(dir.path().join("k.lock").exists());
    assert_eq!(mode(&file), 0o600);
}

#[test]
fn data_files_are_private_and_a_loose_directory_is_tightened() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    let token_file = dir.path().join("admin");
    let server =
        Served::start(&["--data-dir", data.to_str().unwrap()], &["--admin-token-file", token_file.to_str().unwrap()]);
    assert!(server.log().contains("was open to other users (mode 0755); changed it to 0700"), "{}", server.log());
    assert_eq!(mode(&data), 0o700);
    for file in ["keyward.db", "keyward.db-wal", "keyward.db-shm", "master.key", "keyward.lock"] {
        assert_eq!(mode(&data.join(file)), 0o600, "{file}");
    }
    assert_eq!(mode(&token_file), 0o600);
}

#[test]
fn restarting_with_an_admin_token_file_keeps_it_and_a_fresh_install_never_overwrites_one() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let token_file = dir.path().join("admin");
    let store = ["--data-dir", data.to_str().unwrap()];
    let extra = ["--admin-token-file", token_file.to_str().unwrap()];
    let first = Served::start(&store, &extra);
    let written = std::fs::read(&token_file).unwrap();
    assert_eq!(first.terminate(), 0);

    // What a systemd unit carrying the setting does on every restart.
    let second = Served::start(&store, &extra);
    assert!(second.log().contains("already initialized; the admin token file is left as it is"), "{}", second.log());
    assert_eq!(std::fs::read(&token_file).unwrap(), written, "unchanged");
    let api = Api::new(&second.base, &token_file);
    assert_eq!(runtime().block_on(api.verify(&api.admin)), "VALID");
    drop(second);

    // A fresh install whose token file already holds something refuses
    // rather than clobber it, and mints nothing.
    let fresh = dir.path().join("fresh");
    std::fs::write(&token_file, b"someone else's\n").unwrap();
    let output = run(&serve_args(&["--data-dir", fresh.to_str().unwrap()], &extra));
    assert!(!output.status.success());
    // (The log may say the master key was made first; the refusal is one line.)
    let said: Vec<String> =
        stderr(&output).lines().filter(|l| l.starts_with("keyward: error")).map(Into::into).collect();
    assert_eq!(said.len(), 1, "{}", stderr(&output));
    let said = &said[0];
    assert!(said.contains("already exists") && said.contains("never overwritten"), "{said}");
    assert_eq!(std::fs::read(&token_file).unwrap(), b"someone else's\n");
}

#[test]
fn a_backup_taken_while_writes_go_on_restores_every_token_and_its_audit_trail() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let token_file = dir.path().join("admin");
    let server =
        Served::start(&["--data-dir", data.to_str().unwrap()], &["--admin-token-file", token_file.to_str().unwrap()]);
    let api = Api::new(&server.base, &token_file);
    let runtime = runtime();
    let backup = dir.path().join("backups").join("keyward-backup.db");
    std::fs::create_dir(backup.parent().unwrap()).unwrap();

    let (keyspace, tokens, revoked) = runtime.block_on(async {
        let keyspace = api
            .must(Method::POST, "/v1/keyspaces", Some(json!({"name": "payments", "environment": "live"})))
            .await["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let mut tokens = Vec::new();
        for i in 0..20 {
            let body = json!({"keyspace_id": keyspace, "name": format!("before {i}"), "scopes": []});
            let created = api.must(Method::POST, "/v1/tokens", Some(body)).await;
            tokens.push((created["id"].as_str().unwrap().to_owned(), created["token"].as_str().unwrap().to_owned()));
        }
        let revoked = tokens[3].0.clone();
        api.must(Method::POST, &format!("/v1/tokens/{revoked}/revoke"), Some(json!({}))).await;
        (keyspace, tokens, revoked)
    });
    // Everything so far sits in the WAL: keyward.db alone would not be a backup.
    assert!(std::fs::metadata(data.join("keyward.db-wal")).unwrap().len() > 0);

    // Writes keep coming while the backup runs.
    let writing = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let writer = {
        let api = api.clone();
        let writing = writing.clone();
        let keyspace = keyspace.clone();
        runtime.spawn(async move {
            let mut i = 0;
            while writing.load(std::sync::atomic::Ordering::Relaxed) {
                let body = json!({"keyspace_id": keyspace, "name": format!("during {i}"), "scopes": []});
                api.must(Method::POST, "/v1/tokens", Some(body)).await;
                i += 1;
            }
            i
        })
    };
    std::thread::sleep(Duration::from_millis(100));
    let to = strings(&["backup", "--data-dir", data.to_str().unwrap(), "--to", backup.to_str().unwrap()]);
    let output = run(&to);
    writing.store(false, std::sync::atomic::Ordering::Relaxed);
    let during = runtime.block_on(writer).unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(during > 0, "writes went on during the backup");
    let said = stderr(&output);
    assert!(said.contains(&data.join("master.key").display().to_string()), "says where the master key is: {said}");
    assert_eq!(mode(&backup), 0o600);
    let leftovers: Vec<_> = std::fs::read_dir(backup.parent().unwrap()).unwrap().collect();
    assert_eq!(leftovers.len(), 1, "no temporary file is left behind");

    // An existing file is never replaced.
    let before = std::fs::read(&backup).unwrap();
    let said = refused_in_one_line(&run(&to));
    assert!(said.contains("already exists"), "{said}");
    assert_eq!(std::fs::read(&backup).unwrap(), before);
    drop(server);

    // Restore: the backup as keyward.db of a new data directory, and the
    // master key, kept separately, beside it.
    let restored = dir.path().join("restored");
    std::fs::create_dir(&restored).unwrap();
    std::fs::copy(&backup, restored.join("keyward.db")).unwrap();
    std::fs::copy(data.join("master.key"), restored.join("master.key")).unwrap();
    let server = Served::start(&["--data-dir", restored.to_str().unwrap()], &[]);
    let api = Api::new(&server.base, &token_file);
    runtime.block_on(async {
        for (id, secret) in &tokens {
            let expected = if *id == revoked { "REVOKED" } else { "VALID" };
            assert_eq!(api.verify(secret).await, expected, "{id}");
        }
        let audit: Vec<Value> = api.all("/v1/audit").await;
        let has = |action: &str, id: &str| audit.iter().any(|e| e["action"] == action && e["target_id"] == id);
        for (id, _) in &tokens {
            assert!(has("token.created", id), "creation of {id} is audited");
        }
        assert!(has("token.revoked", &revoked));
    });
}

#[test]
fn backup_on_postgresql_points_to_pg_dump_and_a_missing_database_is_no_backup() {
    let dir = tempfile::tempdir().unwrap();
    let to = dir.path().join("backup.db");
    let to = to.to_str().unwrap();
    // Nothing listens on port 1: the answer must not need the database.
    let said =
        refused_in_one_line(&run(&strings(&["backup", "--database-url", "postgres://127.0.0.1:1/k", "--to", to])));
    assert!(said.contains("pg_dump"), "{said}");
    let empty = dir.path().join("empty");
    let said = refused_in_one_line(&run(&strings(&["backup", "--data-dir", empty.to_str().unwrap(), "--to", to])));
    assert!(said.contains("no database"), "{said}");
    assert!(!empty.exists(), "a backup creates nothing where it reads");
    assert!(!Path::new(to).exists());
}
