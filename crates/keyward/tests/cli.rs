//! The `keyward` binary end to end: a real server process, real client verbs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_keyward");

struct Server {
    child: Child,
    addr: String,
    log: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Server {
    fn start(data_dir: &Path, extra: &[&str]) -> Server {
        Server::start_with_env(data_dir, extra, &[])
    }

    fn start_with_env(data_dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> Server {
        let mut child = Command::new(BIN)
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .args(extra)
            .envs(env.iter().copied())
            .env_remove("KEYWARD_TOKEN")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let deadline = Instant::now() + Duration::from_secs(30);
        let addr = loop {
            let mut line = String::new();
            assert!(stderr.read_line(&mut line).unwrap() > 0, "server exited early: {}", log.lock().unwrap());
            log.lock().unwrap().push_str(&line);
            if let Some(rest) = line.split("listening on ").nth(1) {
                break rest.split_whitespace().next().unwrap().to_owned();
            }
            assert!(Instant::now() < deadline, "server did not start");
        };
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in stderr.lines().map_while(Result::ok) {
                sink.lock().unwrap().push_str(&line);
                sink.lock().unwrap().push('\n');
            }
        });
        Server { child, addr, log }
    }

    fn stop(mut self) -> (i32, String) {
        Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap();
        let status = self.child.wait().unwrap();
        let mut stdout = String::new();
        self.child.stdout.take().unwrap().read_to_string(&mut stdout).unwrap();
        std::thread::sleep(Duration::from_millis(100));
        let log = self.log.lock().unwrap().clone();
        (status.code().unwrap_or(-1), log + &stdout)
    }
}

fn keyward(addr: &str, token: &str, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .env("KEYWARD_ADDR", addr)
        .env("KEYWARD_TOKEN", token)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).unwrap();
    }
    drop(input);
    child.wait_with_output().unwrap()
}

fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).unwrap()
}

#[test]
fn serve_then_drive_every_client_verb() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let token_file = dir.path().join("admin-token");
    let server = Server::start(&data, &["--admin-token-file", token_file.to_str().unwrap()]);
    let mode = std::fs::metadata(&token_file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let admin = std::fs::read_to_string(&token_file).unwrap().trim().to_owned();
    assert!(admin.starts_with("kw_live_"));
    let addr = server.addr.clone();

    let keyspace: Value = serde_json::from_str(&stdout(&keyward(
        &addr,
        &admin,
        &["keyspace", "create", "--name", "payments", "--environment", "test", "--prefix", "pay", "--json"],
        None,
    )))
    .unwrap();
    let keyspace_id = keyspace["id"].as_str().unwrap();
    assert!(stdout(&keyward(&addr, &admin, &["keyspace", "list"], None)).contains(keyspace_id));
    let piped_id =
        stdout(&keyward(&addr, &admin, &["keyspace", "create", "--name", "other", "--environment", "live"], None));
    assert!(piped_id.trim().starts_with("ks_") && piped_id.lines().count() == 1, "piped: the id alone");

    // Scope catalogs: scopes with descriptions, replaced whole.
    let catalogued = stdout(&keyward(
        &addr,
        &admin,
        &["keyspace", "create", "--name", "cat", "--environment", "live", "--scope", "invoices:read=Read invoices"],
        None,
    ));
    let catalogued = catalogued.trim();
    let replaced = stdout(&keyward(
        &addr,
        &admin,
        &[
            "keyspace",
            "scopes",
            catalogued,
            "--scope",
            "refunds:create=Issue refunds",
            "--scope",
            "refunds:read=See refunds",
        ],
        None,
    ));
    assert!(replaced.contains("refunds:create (Issue refunds), refunds:read (See refunds)"), "{replaced}");
    // A keyspace's own lifecycle rules, at creation and replaced whole.
    let ruled = stdout(&keyward(
        &addr,
        &admin,
        &["keyspace", "create", "--name", "ruled", "--environment", "live", "--rotate-every", "30d", "--json"],
        None,
    ));
    let ruled: Value = serde_json::from_str(&ruled).unwrap();
    assert_eq!(ruled["rotation_period_days"], 30, "{ruled}");
    let ruled_id = ruled["id"].as_str().unwrap();
    let changed =
        stdout(&keyward(&addr, &admin, &["keyspace", "lifecycle", ruled_id, "--disable-after-inactive", "90d"], None));
    assert!(changed.contains("disable_after_inactive_days") && changed.contains("90"), "{changed}");
    let shown = stdout(&keyward(&addr, &admin, &["keyspace", "show", ruled_id, "--json"], None));
    let shown: Value = serde_json::from_str(&shown).unwrap();
    assert_eq!(
        (shown["rotation_period_days"].clone(), shown["disable_after_inactive_days"].clone()),
        (Value::Null, 90.into())
    );
    let zero = keyward(&addr, &admin, &["keyspace", "lifecycle", ruled_id, "--rotate-every", "0"], None);
    assert_eq!(zero.status.code(), Some(2), "{}", String::from_utf8_lossy(&zero.stderr));

    let malformed = keyward(&addr, &admin, &["keyspace", "scopes", catalogued, "--scope", "refunds:read"], None);
    assert_eq!(malformed.status.code(), Some(2));
    let refused = keyward(&addr, &admin, &["keyspace", "scopes", catalogued, "--scope", "Refunds=x"], None);
    assert_eq!(refused.status.code(), Some(2));
    let message = String::from_utf8_lossy(&refused.stderr);
    assert!(message.contains("scopes:") && message.lines().count() == 1, "{message}");
    let opened = stdout(&keyward(&addr, &admin, &["keyspace", "scopes", catalogued, "--any"], None));
    assert!(
        opened.contains("scope_catalog") && opened.lines().any(|l| l.starts_with("scope_catalog") && l.ends_with('-'))
    );

    // Piped stdout: the secret alone on one line.
    let created = stdout(&keyward(
        &addr,
        &admin,
        &[
            "token",
            "create",
            "--keyspace",
            keyspace_id,
            "--name",
            "ci",
            "--scope",
            "invoices:read",
            "--expires-in",
            "30d",
        ],
        None,
    ));
    let secret = created.trim();
    assert_eq!(created.lines().count(), 1);
    assert!(secret.starts_with("pay_test_"), "{created}");

    // Verify reads the token from stdin, keeping it out of argv and shell history.
    let verdict = stdout(&keyward(&addr, &admin, &["verify", "--scope", "invoices:read", "--json"], Some(secret)));
    let verdict: Value = serde_json::from_str(&verdict).unwrap();
    assert_eq!(verdict["code"], "VALID");
    let token_id = verdict["token_id"].as_str().unwrap().to_owned();

    let denied = keyward(&addr, &admin, &["verify", "--scope", "refunds:create"], Some(secret));
    assert_eq!(denied.status.code(), Some(6), "an invalid verdict exits 6");

    // An IP allowlist, checked against the address the caller reports.
    let office = stdout(&keyward(
        &addr,
        &admin,
        &[
            "token",
            "create",
            "--keyspace",
            keyspace_id,
            "--name",
            "office",
            "--allow-ip",
            "192.0.2.0/24",
            "--allow-ip",
            "2001:db8::/32",
        ],
        None,
    ));
    let inside = keyward(
        &addr,
        &admin,
        &["verify", "--client-ip", "2001:db8::1", "--keyspace", keyspace_id],
        Some(office.trim()),
    );
    assert_eq!(inside.status.code(), Some(0), "{}", String::from_utf8_lossy(&inside.stderr));
    let outside = keyward(&addr, &admin, &["verify", "--client-ip", "198.51.100.1"], Some(office.trim()));
    assert_eq!(outside.status.code(), Some(6));
    assert!(String::from_utf8_lossy(&outside.stdout).contains("FORBIDDEN_IP"));
    let bad_cidr = keyward(
        &addr,
        &admin,
        &["token", "create", "--keyspace", keyspace_id, "--name", "x", "--allow-ip", "10.0.0.1/8"],
        None,
    );
    assert_eq!(bad_cidr.status.code(), Some(2), "bad input exits 2");
    let message = String::from_utf8_lossy(&bad_cidr.stderr);
    assert!(
        message.contains("allowed_ips") && message.contains("10.0.0.0/8") && message.lines().count() == 1,
        "{message}"
    );

    let listed = stdout(&keyward(&addr, &admin, &["token", "list", "--keyspace", keyspace_id], None));
    assert!(listed.contains(&token_id) && listed.contains("active") && !listed.contains(&secret[9..]));
    let by_name = stdout(&keyward(&addr, &admin, &["token", "list", "--order", "-name", "--json"], None));
    let names: Vec<String> = serde_json::from_str::<serde_json::Value>(&by_name).unwrap()["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_ascii_lowercase())
        .collect();
    let mut sorted = names.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert!(names.len() > 1 && names == sorted, "--order -name lists Z to A: {names:?}");
    let bad_order = keyward(&addr, &admin, &["token", "list", "--order", "popularity"], None);
    assert_eq!(bad_order.status.code(), Some(2), "bad input exits 2");
    assert!(String::from_utf8_lossy(&bad_order.stderr).contains("order"));
    let shown = stdout(&keyward(&addr, &admin, &["token", "show", &token_id], None));
    assert!(shown.contains("invoices:read") && !shown.contains(&secret[9..]));

    // Rotation: the new secret alone on a pipe, the old one's fate on stderr.
    let rotated = keyward(&addr, &admin, &["token", "rotate", &token_id, "--grace", "1h"], None);
    let new_secret = stdout(&rotated).trim().to_owned();
    assert!(new_secret.starts_with("pay_test_") && new_secret != secret, "a new token, alone on stdout");
    let fate = String::from_utf8_lossy(&rotated.stderr);
    assert!(fate.contains("keeps working until") && fate.contains(&token_id), "{fate}");
    assert_eq!(keyward(&addr, &admin, &["verify", "-"], Some(secret)).status.code(), Some(0), "old works in grace");
    assert_eq!(keyward(&addr, &admin, &["verify", "-"], Some(new_secret.as_str())).status.code(), Some(0));
    let again = keyward(&addr, &admin, &["token", "rotate", &token_id, "--grace", "0"], None);
    assert_eq!(again.status.code(), Some(5), "a second rotation is a conflict");
    assert!(String::from_utf8_lossy(&again.stderr).contains("already rotated"));
    let too_long = keyward(&addr, &admin, &["token", "rotate", &token_id, "--grace", "-3"], None);
    assert_eq!(too_long.status.code(), Some(2));
    let clients = stdout(&keyward(&addr, &admin, &["token", "clients", &token_id], None));
    assert!(clients.contains("USER AGENT"), "{clients}");
    let shown = stdout(&keyward(&addr, &admin, &["token", "show", &token_id], None));
    assert!(shown.contains("replaced_by") && shown.contains("in_rotation_grace"), "{shown}");
    let ended = stdout(&keyward(&addr, &admin, &["token", "grace", &token_id, "--ends-in", "0"], None));
    assert!(ended.contains("ended"), "{ended}");
    let expired = keyward(&addr, &admin, &["verify", "-"], Some(secret));
    assert_eq!(expired.status.code(), Some(6));
    assert!(String::from_utf8_lossy(&expired.stdout).contains("EXPIRED"));
    let new_id = {
        let listed = stdout(&keyward(&addr, &admin, &["token", "list", "--keyspace", keyspace_id, "--json"], None));
        let listed: serde_json::Value = serde_json::from_str(&listed).unwrap();
        listed["data"][0]["id"].as_str().unwrap().to_owned()
    };

    let counted = stdout(&keyward(&addr, &admin, &["token", "revoke-all", "--owner", "nobody", "--dry-run"], None));
    assert!(counted.starts_with("0 active tokens match"), "{counted}");
    let changed = keyward(&addr, &admin, &["token", "revoke-all", "--owner", "nobody", "--expect", "2"], None);
    assert_eq!(changed.status.code(), Some(5), "a count that no longer holds is a conflict");
    let unfiltered = keyward(&addr, &admin, &["token", "revoke-all", "--reason", "leaked"], None);
    assert_eq!(unfiltered.status.code(), Some(2));
    let revoked = stdout(&keyward(&addr, &admin, &["token", "revoke", &new_id, "--reason", "leaked"], None));
    assert!(revoked.contains("reason: leaked"), "{revoked}");
    // A management token's lineage: shown, and revoked with it.
    let keyspaces = stdout(&keyward(&addr, &admin, &["keyspace", "list", "--json"], None));
    let keyspaces: serde_json::Value = serde_json::from_str(&keyspaces).unwrap();
    let management = keyspaces["data"].as_array().unwrap().iter().find(|k| k["management"] == true).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mint = |bearer: &str, name: &str, more: &[&str]| {
        let args = ["token", "create", "--keyspace", &management, "--name", name, "--scope", "keyward:tokens:read"];
        let mut args: Vec<&str> = args.to_vec();
        args.extend(["--scope", "keyward:tokens:write"]);
        args.extend_from_slice(more);
        keyward(&addr, bearer, &args, None)
    };
    let ci = stdout(&mint(&admin, "ci", &["--expires-in", "1h"])).trim().to_owned();
    // A child asking to outlive its parent is refused with the bound named;
    // left open, the bound is inherited.
    let outliving = mint(&ci, "backdoor", &["--expires-in", "2h"]);
    assert!(!outliving.status.success());
    assert!(String::from_utf8_lossy(&outliving.stderr).contains("exceeds_parent_bounds"));
    let child = stdout(&mint(&ci, "ci child", &[])).trim().to_owned();
    let listed = stdout(&keyward(&addr, &admin, &["token", "list", "--keyspace", &management, "--json"], None));
    let listed: serde_json::Value = serde_json::from_str(&listed).unwrap();
    let id_of = |name: &str| {
        listed["data"].as_array().unwrap().iter().find(|t| t["name"] == name).unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let (ci_id, child_id) = (id_of("ci"), id_of("ci child"));
    let shown = stdout(&keyward(&addr, &admin, &["token", "show", &child_id], None));
    assert!(shown.contains("parent_token_id") && shown.contains(&ci_id), "{shown}");
    let lineage = stdout(&keyward(&addr, &admin, &["token", "revoke", &ci_id, "--with-descendants"], None));
    assert!(lineage.contains("1 descendant") && lineage.contains(&child_id), "{lineage}");
    assert_eq!(keyward(&addr, &admin, &["verify", "-"], Some(child.as_str())).status.code(), Some(6));
    let lonely = keyward(&addr, &admin, &["token", "revoke", &ci_id, "--customer-tokens"], None);
    assert_eq!(lonely.status.code(), Some(2), "--customer-tokens needs --with-descendants");
    assert_eq!(keyward(&addr, &admin, &["verify", "-"], Some(new_secret.as_str())).status.code(), Some(6));
    // Disable and enable: reversible, effective on the next verify.
    let paused =
        stdout(&keyward(&addr, &admin, &["token", "create", "--keyspace", keyspace_id, "--name", "paused"], None));
    let paused = paused.trim();
    let paused_id = {
        let listed = stdout(&keyward(&addr, &admin, &["token", "list", "--keyspace", keyspace_id, "--json"], None));
        let listed: serde_json::Value = serde_json::from_str(&listed).unwrap();
        listed["data"][0]["id"].as_str().unwrap().to_owned()
    };
    let disabled = stdout(&keyward(&addr, &admin, &["token", "disable", &paused_id], None));
    assert!(disabled.contains("now disabled"), "{disabled}");
    let refused = keyward(&addr, &admin, &["verify", "-"], Some(paused));
    assert_eq!(refused.status.code(), Some(6));
    assert!(String::from_utf8_lossy(&refused.stdout).contains("DISABLED"));
    let listed = stdout(&keyward(&addr, &admin, &["token", "list", "--state", "disabled"], None));
    assert!(listed.contains(&paused_id), "{listed}");
    assert!(stdout(&keyward(&addr, &admin, &["token", "enable", &paused_id], None)).contains("now active"));
    assert_eq!(keyward(&addr, &admin, &["verify", "-"], Some(paused)).status.code(), Some(0));
    // Deletion is permanent, so it asks for --yes.
    let unconfirmed = keyward(&addr, &admin, &["token", "delete", &paused_id], None);
    assert_eq!(unconfirmed.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&unconfirmed.stderr).contains("--yes"));
    assert_eq!(keyward(&addr, &admin, &["verify", "-"], Some(paused)).status.code(), Some(0), "nothing deleted");
    assert!(stdout(&keyward(&addr, &admin, &["token", "delete", &paused_id, "--yes"], None)).contains("Deleted"));
    assert_eq!(keyward(&addr, &admin, &["token", "show", &paused_id], None).status.code(), Some(4));
    let trail = stdout(&keyward(&addr, &admin, &["audit", "--target", &paused_id], None));
    assert!(trail.contains("token.deleted") && trail.contains("token.enabled"), "{trail}");

    stdout(&keyward(&addr, &admin, &["token", "revoke", &token_id], None));
    let after = keyward(&addr, &admin, &["verify", "-"], Some(secret));
    assert_eq!(after.status.code(), Some(6));
    assert!(String::from_utf8_lossy(&after.stdout).contains("REVOKED"));
    let audit = stdout(&keyward(&addr, &admin, &["audit", "--target", &token_id], None));
    assert!(audit.contains("token.revoked") && audit.contains("token.created"));

    // Exit codes a script can trust.
    assert_eq!(keyward(&addr, &admin, &["token", "show", "tok_0000000000000000000000"], None).status.code(), Some(4));
    assert_eq!(keyward(&addr, "kw_live_bogus", &["token", "list"], None).status.code(), Some(3));
    assert_eq!(
        keyward(&addr, &admin, &["token", "create", "--keyspace", keyspace_id, "--name", "x", "--scope", "BAD"], None)
            .status
            .code(),
        Some(2)
    );
    assert_eq!(
        keyward(
            &addr,
            &admin,
            &["token", "create", "--keyspace", keyspace_id, "--name", "x", "--expires-in", "5w"],
            None
        )
        .status
        .code(),
        Some(2)
    );
    let unreachable = keyward("http://127.0.0.1:9", &admin, &["token", "list"], None);
    assert_eq!(unreachable.status.code(), Some(7));
    let message = String::from_utf8_lossy(&unreachable.stderr);
    assert_eq!(message.lines().count(), 1, "one clear line: {message}");
    assert!(!message.contains(&admin[9..]));

    // Token policies: set, shown, enforced on creation, violations listed.
    let set = stdout(&keyward(
        &addr,
        &admin,
        &["policy", "set", "--require-expiry", "--max-lifetime", "30d", "--max-rotation-grace", "2h"],
        None,
    ));
    assert!(set.contains("max_lifetime_seconds") && set.contains("2592000"), "{set}");
    assert!(set.contains("max_rotation_grace_seconds") && set.contains("7200"), "{set}");
    let refused = keyward(&addr, &admin, &["token", "create", "--keyspace", keyspace_id, "--name", "forever"], None);
    assert_eq!(refused.status.code(), Some(2));
    let message = String::from_utf8_lossy(&refused.stderr);
    assert!(message.contains("policy_violation") && message.lines().count() == 1, "{message}");
    let violations = stdout(&keyward(&addr, &admin, &["policy", "violations"], None));
    assert!(violations.contains("expiry_required") && violations.contains("admin (bootstrap)"), "{violations}");
    let bad = keyward(&addr, &admin, &["policy", "set", "--max-active-per-owner", "0"], None);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("max_active_tokens_per_owner"));
    let lifecycle = stdout(&keyward(
        &addr,
        &admin,
        &[
            "policy",
            "set",
            "--disable-after-inactive",
            "90d",
            "--warn-before",
            "14",
            "--warn-before",
            "2d",
            "--rotation-period",
            "60",
        ],
        None,
    ));
    for expected in ["disable_after_inactive_days", "90", "warning_days", "14", "rotation_period_days", "60"] {
        assert!(lifecycle.contains(expected), "{expected} in {lifecycle}");
    }
    let bad_days = keyward(&addr, &admin, &["policy", "set", "--rotation-period", "12h"], None);
    assert_eq!(bad_days.status.code(), Some(2), "days are whole days");
    let rotating = stdout(&keyward(
        &addr,
        &admin,
        &["token", "create", "--keyspace", keyspace_id, "--name", "rotating", "--rotate-every", "30d"],
        None,
    ));
    let listed: serde_json::Value =
        serde_json::from_str(&stdout(&keyward(&addr, &admin, &["token", "list", "--json"], None))).unwrap();
    let rotating_id = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|token| token["name"] == "rotating")
        .map(|token| token["id"].as_str().unwrap().to_owned())
        .unwrap();
    let shown = stdout(&keyward(&addr, &admin, &["token", "show", &rotating_id], None));
    assert!(shown.contains("rotation_period_days") && shown.contains("30"), "{shown}");
    assert!(shown.contains("rotation_due") && rotating.trim().starts_with("pay_test_"), "{shown}");
    stdout(&keyward(&addr, &admin, &["policy", "set"], None));

    // Organizations: the operator founds one; its admin sees only its own.
    let tenant_admin = stdout(&keyward(&addr, &admin, &["org", "create", "--name", "Acme"], None)).trim().to_owned();
    assert!(tenant_admin.starts_with("kw_live_") && !tenant_admin.contains('\n'), "piped: the admin token alone");
    let organizations = stdout(&keyward(&addr, &admin, &["org", "list"], None));
    assert!(organizations.contains("Acme") && organizations.contains("operator"), "{organizations}");
    let tenant_spaces = stdout(&keyward(&addr, &tenant_admin, &["keyspace", "list"], None));
    assert!(!tenant_spaces.contains(keyspace_id), "another tenant's keyspaces stay invisible: {tenant_spaces}");
    let refused = keyward(&addr, &tenant_admin, &["org", "create", "--name", "Nested"], None);
    assert!(!refused.status.success());
    let message = String::from_utf8_lossy(&refused.stderr);
    assert!(message.contains("insufficient_scope") && message.lines().count() == 1, "{message}");
    let foreign = keyward(&addr, &tenant_admin, &["token", "show", &token_id], None);
    assert!(String::from_utf8_lossy(&foreign.stderr).contains("not_found"));

    let (code, log) = server.stop();
    assert_eq!(code, 0, "clean shutdown: {log}");
    assert!(
        !log.contains(&admin[9..]) && !log.contains(&secret[9..]) && !log.contains(&new_secret[9..]),
        "no secret in the server's output: {log}"
    );

    // Usage counted before shutdown was flushed by it; a restart does not bootstrap again.
    let server = Server::start(&data, &[]);
    let addr = server.addr.clone();
    let shown: Value =
        serde_json::from_str(&stdout(&keyward(&addr, &admin, &["token", "show", &token_id, "--json"], None))).unwrap();
    assert_eq!(shown["use_count"], 2, "both valid verifications (one in the rotation grace) were flushed on shutdown");
    assert!(shown["last_used_at"].is_string());
    let (_, log) = server.stop();
    assert!(!log.contains("created the first admin token"));
}

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
        &["token", "create", "--keyspace", keyspace_id, "--name", "two seconds", "--expires-in", "2s"],
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
fn members_invitations_and_service_accounts_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("admin-token");
    let server = Server::start(&dir.path().join("data"), &["--admin-token-file", token_file.to_str().unwrap()]);
    let admin = std::fs::read_to_string(&token_file).unwrap().trim().to_owned();
    let addr = server.addr.clone();

    let secret = stdout(&keyward(
        &addr,
        &admin,
        &["member", "invite", "--email", "ada@example.com", "--role", "developer", "--expires-in", "2d"],
        None,
    ));
    assert!(secret.trim().starts_with("kwi_") && secret.lines().count() == 1, "piped: the secret alone");
    let pending: Value =
        serde_json::from_str(&stdout(&keyward(&addr, &admin, &["member", "invitations", "--json"], None))).unwrap();
    let invitation = &pending["data"][0];
    assert_eq!(
        (invitation["email"].as_str(), invitation["role"].as_str()),
        (Some("ada@example.com"), Some("developer"))
    );
    let id = invitation["id"].as_str().unwrap();
    assert!(stdout(&keyward(&addr, &admin, &["member", "uninvite", id], None)).contains(id));
    assert!(!stdout(&keyward(&addr, &admin, &["member", "invitations"], None)).contains("ada@example.com"));

    let bad_role =
        keyward(&addr, &admin, &["member", "invite", "--email", "x@example.com", "--role", "superuser"], None);
    assert_eq!(bad_role.status.code(), Some(2), "unknown roles are refused");
    let bad_email = keyward(&addr, &admin, &["member", "invite", "--email", "x@", "--role", "viewer"], None);
    assert_eq!(bad_email.status.code(), Some(2));
    let message = String::from_utf8_lossy(&bad_email.stderr);
    assert!(message.contains("email") && message.lines().count() == 1, "{message}");
    let missing = keyward(&addr, &admin, &["member", "remove", "usr_0000000000000000000000"], None);
    assert_eq!(missing.status.code(), Some(4));

    let account = stdout(&keyward(&addr, &admin, &["service-account", "create", "--name", "deploys"], None));
    let account = account.trim();
    assert!(account.starts_with("sa_"), "piped: the id alone");
    assert!(stdout(&keyward(&addr, &admin, &["service-account", "list"], None)).contains("deploys"));
    let keyspace =
        stdout(&keyward(&addr, &admin, &["keyspace", "create", "--name", "p", "--environment", "live"], None));
    let token: Value = serde_json::from_str(&stdout(&keyward(
        &addr,
        &admin,
        &["token", "create", "--keyspace", keyspace.trim(), "--name", "deploy", "--owner", account, "--json"],
        None,
    )))
    .unwrap();
    let removed = stdout(&keyward(&addr, &admin, &["service-account", "remove", account], None));
    assert!(removed.contains(token["id"].as_str().unwrap()), "{removed}");
    let shown: Value = serde_json::from_str(&stdout(&keyward(
        &addr,
        &admin,
        &["token", "show", token["id"].as_str().unwrap(), "--json"],
        None,
    )))
    .unwrap();
    assert_eq!(shown["state"], "revoked");
    assert_eq!(server.stop().0, 0);
}

/// A one-shot receiver: answers 503 to the first request and 204 after,
/// sending each request's head and body down the channel.
fn failing_first_receiver() -> (String, std::sync::mpsc::Receiver<(String, String)>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hooks", listener.local_addr().unwrap());
    let (sender, received) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for (served, stream) in listener.incoming().enumerate() {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut head = String::new();
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                head.push_str(&line);
            }
            let length = head
                .lines()
                .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_owned()))
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(0);
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            let status = if served == 0 { "503 Service Unavailable" } else { "204 No Content" };
            let _ = write!(stream, "HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
            let _ = sender.send((head, String::from_utf8_lossy(&body).into_owned()));
        }
    });
    (url, received)
}

#[test]
fn the_running_server_delivers_webhooks_and_retries_a_failing_endpoint() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let token_file = dir.path().join("admin-token");
    // The receiver is local: loopback must be opened, as for any local receiver.
    let server = Server::start_with_env(
        &data,
        &["--admin-token-file", token_file.to_str().unwrap()],
        &[("KEYWARD_WEBHOOK_ALLOWED_NETWORKS", "127.0.0.1/32")],
    );
    let admin = std::fs::read_to_string(&token_file).unwrap().trim().to_owned();
    let addr = server.addr.clone();
    // The embedded store's master key was created beside it, private.
    let key_mode = std::fs::metadata(data.join("master.key")).unwrap().permissions().mode() & 0o777;
    assert_eq!(key_mode, 0o600);

    let (url, received) = failing_first_receiver();
    let secret =
        stdout(&keyward(&addr, &admin, &["webhook", "create", "--url", &url, "--event", "token.revoked"], None));
    let secret = secret.trim().to_owned();
    assert!(secret.starts_with("whsec_"), "piped: the secret alone");
    let bad = keyward(&addr, &admin, &["webhook", "create", "--url", "http://hooks.example.com/"], None);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("url: "), "names the field");
    // Only the network named is opened: the rest of loopback stays refused.
    let internal = keyward(&addr, &admin, &["webhook", "create", "--url", "http://127.0.0.2:5432/"], None);
    assert_eq!(internal.status.code(), Some(2));
    let said = String::from_utf8_lossy(&internal.stderr);
    assert!(said.contains("loopback") && said.contains("KEYWARD_WEBHOOK_ALLOWED_NETWORKS"), "{said}");
    assert_eq!(said.trim().lines().count(), 1, "one line: {said}");
    let listed = stdout(&keyward(&addr, &admin, &["webhook", "list", "--json"], None));
    let listed: Value = serde_json::from_str(&listed).unwrap();
    let webhook_id = listed["data"][0]["id"].as_str().unwrap().to_owned();
    assert!(!listed.to_string().contains(&secret));

    let keyspaces = stdout(&keyward(
        &addr,
        &admin,
        &["keyspace", "create", "--name", "hooks", "--environment", "test", "--json"],
        None,
    ));
    let keyspace: Value = serde_json::from_str(&keyspaces).unwrap();
    let created = stdout(&keyward(
        &addr,
        &admin,
        &["token", "create", "--keyspace", keyspace["id"].as_str().unwrap(), "--name", "watched", "--json"],
        None,
    ));
    let created: Value = serde_json::from_str(&created).unwrap();
    let token_id = created["id"].as_str().unwrap();
    stdout(&keyward(&addr, &admin, &["token", "revoke", token_id, "--reason", "leaked"], None));

    // The first attempt is refused with 503; the retry 10 s later is taken.
    let (first_head, first_body) = received.recv_timeout(Duration::from_secs(20)).expect("a first attempt");
    let (second_head, second_body) = received.recv_timeout(Duration::from_secs(30)).expect("a retry");
    assert_eq!(first_body, second_body);
    assert!(first_head.to_ascii_lowercase().contains("keyward-delivery-attempt: 1"), "{first_head}");
    assert!(second_head.to_ascii_lowercase().contains("keyward-delivery-attempt: 2"), "{second_head}");
    let body: Value = serde_json::from_str(&second_body).unwrap();
    assert_eq!((body["type"].as_str(), body["target"]["id"].as_str()), (Some("token.revoked"), Some(token_id)));
    assert!(!second_body.contains(created["token"].as_str().unwrap()) && !second_body.contains(&secret));
    let signature = second_head
        .lines()
        .find_map(|l| l.to_ascii_lowercase().starts_with("keyward-signature:").then(|| l[18..].trim().to_owned()))
        .unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    keyward_core::webhook::verify(&secret, &signature, second_body.as_bytes(), now, 300).expect("a valid signature");

    // The outcome is recorded just after the receiver answers.
    let deadline = Instant::now() + Duration::from_secs(10);
    let json_log: Value = loop {
        let page = stdout(&keyward(&addr, &admin, &["webhook", "deliveries", &webhook_id, "--json"], None));
        let page: Value = serde_json::from_str(&page).unwrap();
        if page["data"][0]["status"] == "succeeded" {
            break page;
        }
        assert!(Instant::now() < deadline, "never recorded as delivered: {page}");
        std::thread::sleep(Duration::from_millis(100));
    };
    let log = stdout(&keyward(&addr, &admin, &["webhook", "deliveries", &webhook_id], None));
    assert!(log.contains("token.revoked") && log.contains("succeeded") && log.contains("HTTP 204"), "{log}");
    let codes: Vec<_> =
        json_log["data"][0]["attempts"].as_array().unwrap().iter().map(|a| a["status_code"].clone()).collect();
    assert_eq!(codes, [serde_json::json!(503), serde_json::json!(204)]);

    // Opting a token in to automatic rotation, and out again.
    let ks = keyspace["id"].as_str().unwrap();
    let opted = stdout(&keyward(
        &addr,
        &admin,
        &[
            "token",
            "create",
            "--keyspace",
            ks,
            "--name",
            "rotating",
            "--rotate-every",
            "30d",
            "--auto-rotate-to",
            &webhook_id,
            "--auto-rotate-grace",
            "2h",
            "--json",
        ],
        None,
    ));
    let opted: Value = serde_json::from_str(&opted).unwrap();
    assert_eq!(opted["auto_rotate"]["grace_period_seconds"], 7200, "{opted}");
    let opted_id = opted["id"].as_str().unwrap();
    let off = stdout(&keyward(&addr, &admin, &["token", "auto-rotate", opted_id, "--off"], None));
    assert!(off.contains("no longer rotated automatically"), "{off}");
    let on = stdout(&keyward(&addr, &admin, &["token", "auto-rotate", opted_id, "--to", &webhook_id], None));
    assert!(on.contains("rotated automatically when due") && on.contains("86400 seconds"), "{on}");
    let neither = keyward(&addr, &admin, &["token", "auto-rotate", opted_id], None);
    assert_eq!(neither.status.code(), Some(2), "needs --to or --off");
    let unknown =
        keyward(&addr, &admin, &["token", "auto-rotate", opted_id, "--to", "whk_0000000000000000000000"], None);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("auto_rotate.webhook_id"), "names the field");

    // Replacing the signing secret prints the new one alone when piped.
    let rotated = stdout(&keyward(&addr, &admin, &["webhook", "rotate-secret", &webhook_id, "--overlap", "1h"], None));
    let new_secret = rotated.trim().to_owned();
    assert!(new_secret.starts_with("whsec_") && new_secret != secret, "{rotated}");
    let too_long = keyward(&addr, &admin, &["webhook", "rotate-secret", &webhook_id, "--overlap", "8d"], None);
    assert_eq!(too_long.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&too_long.stderr).contains("overlap: "), "names the field");

    stdout(&keyward(&addr, &admin, &["webhook", "delete", &webhook_id], None));
    assert_eq!(keyward(&addr, &admin, &["webhook", "deliveries", &webhook_id], None).status.code(), Some(4));
    let (code, log) = server.stop();
    assert_eq!(code, 0, "{log}");
    assert!(!log.contains(&secret) && !log.contains(&new_secret), "the signing secrets are never logged");
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
