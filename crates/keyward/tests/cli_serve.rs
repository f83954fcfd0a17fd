//! `keyward serve`, `init` and `migrate` as an operator runs them: startup
//! refusals in one line, the lifecycle scheduler, PostgreSQL, and logs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::cli::{keyward, start_with_admin, stdout, Server, BIN};

#[test]
fn init_prints_the_token_alone_when_piped_and_only_once() {
    let dir = tempfile::tempdir().unwrap();
    let first = Command::new(BIN).args(["init", "--data-dir"]).arg(dir.path()).output().unwrap();
    let token = stdout(&first);
    assert_eq!(token.lines().count(), 1);
    assert!(token.starts_with("kw_live_"));
    let second = Command::new(BIN).args(["init", "--data-dir"]).arg(dir.path()).output().unwrap();
    assert!(stdout(&second).is_empty());
    assert!(String::from_utf8_lossy(&second.stderr).contains("already initialized"));
    let migrate = Command::new(BIN).args(["migrate", "--data-dir"]).arg(dir.path()).output().unwrap();
    assert!(migrate.status.success());
}

#[test]
fn usage_errors_are_one_line_with_exit_code_2() {
    let dir = tempfile::tempdir().unwrap();
    let existing = dir.path().join("exists");
    std::fs::write(&existing, "x").unwrap();
    let clobber = Command::new(BIN)
        .args(["init", "--data-dir"])
        .arg(dir.path())
        .arg("--admin-token-file")
        .arg(&existing)
        .output()
        .unwrap();
    assert_eq!(clobber.status.code(), Some(2));
    assert_eq!(std::fs::read_to_string(&existing).unwrap(), "x", "an existing file is never overwritten");

    let bad_url = Command::new(BIN).args(["migrate", "--database-url", "mysql://x"]).output().unwrap();
    assert_eq!(bad_url.status.code(), Some(2));
    assert_eq!(String::from_utf8_lossy(&bad_url.stderr).lines().count(), 1);

    let no_token = Command::new(BIN)
        .args(["token", "list"])
        .env_remove("KEYWARD_TOKEN")
        .env_remove("KEYWARD_TOKEN_FILE")
        .output()
        .unwrap();
    assert_eq!(no_token.status.code(), Some(2));
    let bad_flag = Command::new(BIN).args(["token", "list", "--frobnicate"]).output().unwrap();
    assert_eq!(bad_flag.status.code(), Some(2));

    // A bad trusted proxy stops `serve` before it touches the store.
    let data_dir = dir.path().join("never-created");
    let bad_proxy = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&data_dir)
        .env("KEYWARD_TRUSTED_PROXIES", "10.0.0.0/8, 10.0.0.1/8")
        .output()
        .unwrap();
    assert_eq!(bad_proxy.status.code(), Some(2));
    let message = String::from_utf8_lossy(&bad_proxy.stderr);
    assert!(message.contains("trusted_proxies") && message.contains("10.0.0.0/8?"), "{message}");
    assert_eq!(message.lines().filter(|line| line.starts_with("keyward: error")).count(), 1, "{message}");
    assert!(!data_dir.exists(), "nothing half-made");

    // Lifecycle settings out of range stop `serve` with the setting named.
    for (variable, value, setting) in [
        ("KEYWARD_EXPIRY_LEEWAY_SECONDS", "301", "expiry_leeway_seconds"),
        ("KEYWARD_LIFECYCLE_INTERVAL_SECONDS", "0", "lifecycle_interval_seconds"),
    ] {
        let refused = Command::new(BIN)
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir.path().join("lifecycle"))
            .env(variable, value)
            .output()
            .unwrap();
        assert_eq!(refused.status.code(), Some(2), "{variable}={value}");
        let message = String::from_utf8_lossy(&refused.stderr);
        assert!(message.contains(setting), "{message}");
        assert_eq!(message.lines().filter(|line| line.starts_with("keyward: error")).count(), 1, "{message}");
    }
}

#[test]
fn the_running_server_announces_an_expiry_from_its_lifecycle_scheduler() {
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("admin-token");
    let server = Server::start_with_env(
        &dir.path().join("data"),
        &["--admin-token-file", token_file.to_str().unwrap()],
        &[("KEYWARD_LIFECYCLE_INTERVAL_SECONDS", "1")],
    );
    let admin = std::fs::read_to_string(&token_file).unwrap().trim().to_owned();
    let addr = server.addr.clone();
    let keyspace: Value = serde_json::from_str(&stdout(&keyward(
        &addr,
        &admin,
        &["keyspace", "create", "--name", "short lived", "--environment", "test", "--json"],
        None,
    )))
    .unwrap();
    let keyspace_id = keyspace["id"].as_str().unwrap();
    let secret = stdout(&keyward(
        &addr,
        &admin,
        &["token", "create", "--keyspace", keyspace_id, "--name", "two seconds", "--no-scopes", "--expires-in", "2s"],
        None,
    ));
    // The real clock runs here: wait (bounded) for a scheduler pass after the expiry.
    let deadline = Instant::now() + Duration::from_secs(30);
    let announced = loop {
        let audit = stdout(&keyward(&addr, &admin, &["audit", "--action", "token.expired", "--json"], None));
        let audit: Value = serde_json::from_str(&audit).unwrap();
        if let Some(event) = audit["data"].as_array().and_then(|events| events.first()).cloned() {
            break event;
        }
        assert!(Instant::now() < deadline, "no token.expired within 30 s");
        std::thread::sleep(Duration::from_millis(250));
    };
    assert_eq!(announced["actor"], "system");
    assert_eq!(announced["details"]["name"], "two seconds");
    let (code, log) = server.stop();
    assert_eq!(code, 0, "{log}");
    assert!(!log.contains(secret.trim()) && !announced.to_string().contains(secret.trim()), "the secret stays out");
}

#[test]
fn serve_help_explains_every_option() {
    let help = stdout(&Command::new(BIN).args(["serve", "--help"]).output().unwrap());
    for option in ["--config", "--data-dir", "--database-url", "--admin-token-file", "--listen"] {
        assert!(help.contains(option), "{option} missing from serve --help");
    }
}

#[test]
fn serve_on_postgres() {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let Some(schema) = runtime.block_on(keyward_store_postgres::testing::isolated_schema()) else { return };
    let url = schema.url_with_schema();
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("admin");
    let mut child = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--database-url", &url, "--admin-token-file"])
        .arg(&token_file)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let addr = loop {
        let mut line = String::new();
        assert!(stderr.read_line(&mut line).unwrap() > 0, "server exited early");
        if let Some(rest) = line.split("listening on ").nth(1) {
            break rest.split_whitespace().next().unwrap().to_owned();
        }
    };
    let admin = std::fs::read_to_string(&token_file).unwrap().trim().to_owned();
    let keyspaces = stdout(&keyward(&addr, &admin, &["keyspace", "list", "--json"], None));
    assert!(keyspaces.contains("\"management\": true"));
    Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(child.wait().unwrap().success());
    runtime.block_on(schema.drop_schema()).unwrap();
}

#[test]
fn with_json_logs_every_stderr_line_is_json_startup_lines_included() {
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("admin-token");
    // `Yes` is how people write booleans; it used to stop the server.
    let server = Server::start_with_env(
        &dir.path().join("data"),
        &["--admin-token-file", token_file.to_str().unwrap()],
        &[("KEYWARD_LOG_FORMAT", "json"), ("KEYWARD_OPEN_SIGNUP", "Yes"), ("KEYWARD_BOGUS", "1")],
    );
    let missing = keyward(&server.addr, "kw_live_nothing", &["token", "list"], None);
    assert!(!missing.status.success());
    let (_, log) = server.stop();
    let mut messages = Vec::new();
    for line in log.lines().filter(|line| !line.is_empty()) {
        let event: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line:?}\n{log}"));
        messages.push(event["fields"]["message"].as_str().unwrap_or_default().to_owned());
        assert!(!line.contains('\u{1b}'), "{line}");
    }
    let said = |what: &str| messages.iter().any(|message| message.contains(what));
    assert!(said("listening on http://"), "{log}");
    assert!(said("created the first admin token"), "{log}");
    assert!(said("KEYWARD_BOGUS"), "the unknown-variable warning too: {log}");
    assert!(said("keyward stopped"), "{log}");
    let setup = log.lines().find(|line| line.contains("setup_url")).unwrap_or_else(|| panic!("{log}"));
    let setup: Value = serde_json::from_str(setup).unwrap();
    assert!(setup["fields"]["setup_url"].as_str().unwrap().contains("/setup?code="), "{setup}");
}

#[test]
fn text_logs_on_a_pipe_carry_no_colour_codes() {
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("admin-token");
    let server =
        Server::start_with_env(&dir.path().join("data"), &["--admin-token-file", token_file.to_str().unwrap()], &[]);
    // A call first, so the server is past installing its signal handlers.
    let missing = keyward(&server.addr, "kw_live_nothing", &["token", "list"], None);
    assert!(!missing.status.success());
    let (_, log) = server.stop();
    assert!(log.contains("keyward stopped"), "{log}");
    assert!(!log.contains("\u{1b}["), "ANSI escape codes in piped logs: {log:?}");
}

#[test]
fn an_unknown_log_format_is_refused_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let refused = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path().join("data"))
        .env("KEYWARD_LOG_FORMAT", "yaml")
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2));
    let message = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(message.lines().count(), 1, "{message}");
    assert!(message.contains("log_format") && message.contains("yaml") && message.contains("text, json"), "{message}");
}

#[test]
fn a_lost_admin_token_is_recovered_from_the_store_and_audited() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let recover = |extra: &[&str]| {
        Command::new(BIN)
            .args(["admin", "recover", "--data-dir"])
            .arg(&data)
            .args(extra)
            .env_remove("KEYWARD_TOKEN")
            .output()
            .unwrap()
    };
    let uninitialized = recover(&[]);
    assert_eq!(uninitialized.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&uninitialized.stderr).contains("no Keyward database"));
    assert!(!data.exists(), "nothing is created where no store was");

    let (server, lost) = start_with_admin(dir.path());
    let running = recover(&[]);
    assert!(!running.status.success(), "the embedded store has one server: recovering waits for it to stop");
    let (code, _) = server.stop();
    assert_eq!(code, 0);

    let bad = recover(&["--organization", "payments"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--organization"));
    let unknown = recover(&["--organization", "org_0000000000000000000000"]);
    assert_eq!(unknown.status.code(), Some(4), "{}", String::from_utf8_lossy(&unknown.stderr));

    let typo = Command::new(BIN)
        .args(["admin", "recover", "--data-dir"])
        .arg(dir.path().join("dta"))
        .env_remove("KEYWARD_TOKEN")
        .output()
        .unwrap();
    assert_eq!(typo.status.code(), Some(2));
    assert!(!dir.path().join("dta").exists(), "a mistyped directory does not become a new store");
    let taken = dir.path().join("admin-token");
    let kept = recover(&["--admin-token-file", taken.to_str().unwrap()]);
    assert_eq!(kept.status.code(), Some(2), "the file holding the lost token is never overwritten");
    assert_eq!(std::fs::read_to_string(&taken).unwrap().trim(), lost);
    let filed = dir.path().join("recovered-token");
    let written = recover(&["--admin-token-file", filed.to_str().unwrap()]);
    assert!(written.status.success() && written.stdout.is_empty(), "{}", String::from_utf8_lossy(&written.stderr));
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&filed).unwrap().permissions().mode() & 0o777, 0o600);
    assert!(std::fs::read_to_string(&filed).unwrap().starts_with("kw_live_"));

    let recovered = recover(&[]);
    let secret = stdout(&recovered).trim().to_owned();
    assert!(secret.starts_with("kw_live_") && secret != lost, "piped: the new secret alone");
    let server = Server::start(&data, &[]);
    let who: serde_json::Value =
        serde_json::from_str(&stdout(&keyward(&server.addr, &secret, &["whoami", "--json"], None))).unwrap();
    assert!(who["token_name"].as_str().unwrap().starts_with("admin (recovered "), "{who}");
    assert!(who["scopes"].as_array().unwrap().iter().any(|s| s == "keyward:members:write"), "{who}");
    let audit = stdout(&keyward(&server.addr, &secret, &["audit", "--action", "admin.recovered", "--json"], None));
    let audit: serde_json::Value = serde_json::from_str(&audit).unwrap();
    assert_eq!(audit["data"][0]["actor"], "system", "{audit}");
    assert_eq!(audit["data"][0]["target_id"], who["token_id"]);
    assert!(!audit.to_string().contains(&secret), "the secret is never in the log");
    server.stop();
}
