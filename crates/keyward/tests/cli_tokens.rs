//! `keyward token …` and `keyward verify` against a running server: the
//! secret shown once, verification, allowlists, listing, rotation and its
//! grace, revocation (bulk and by lineage), disabling, deletion, exit codes,
//! and usage counts that survive a restart.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use serde_json::Value;
use support::cli::{keyward, stdout, Server};

/// A server on an embedded store in `dir`, its admin token, and a test
/// keyspace whose tokens start `pay_test_`.
fn payments(dir: &Path) -> (Server, String, String) {
    let (server, admin) = support::cli::start_with_admin(dir);
    let addr = server.addr.clone();
    let keyspace: Value = serde_json::from_str(&stdout(&keyward(
        &addr,
        &admin,
        &["keyspace", "create", "--name", "payments", "--environment", "test", "--prefix", "pay", "--json"],
        None,
    )))
    .unwrap();
    let keyspace_id = keyspace["id"].as_str().unwrap().to_owned();
    (server, admin, keyspace_id)
}

/// Issues the `ci` token with `invoices:read` and verifies it once: (its
/// secret, its id).
fn issue_ci(addr: &str, admin: &str, keyspace_id: &str) -> (String, String) {
    // Piped stdout: the secret alone on one line.
    let created = stdout(&keyward(
        addr,
        admin,
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
    let secret = created.trim().to_owned();
    assert_eq!(created.lines().count(), 1);
    assert!(secret.starts_with("pay_test_"), "{created}");

    // Verify reads the token from stdin, keeping it out of argv and shell history.
    let verdict = stdout(&keyward(addr, admin, &["verify", "--scope", "invoices:read", "--json"], Some(&secret)));
    let verdict: Value = serde_json::from_str(&verdict).unwrap();
    assert_eq!(verdict["code"], "VALID");
    let token_id = verdict["token_id"].as_str().unwrap().to_owned();
    (secret, token_id)
}

#[test]
fn issued_tokens_verify_within_their_scopes_and_networks_and_list_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let (server, admin, keyspace_id) = payments(dir.path());
    let (addr, keyspace_id) = (server.addr.clone(), keyspace_id.as_str());
    let (secret, token_id) = issue_ci(&addr, &admin, keyspace_id);
    let secret = secret.as_str();

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
            "--no-scopes",
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
        &["token", "create", "--keyspace", keyspace_id, "--name", "x", "--no-scopes", "--allow-ip", "10.0.0.1/8"],
        None,
    );
    assert_eq!(bad_cidr.status.code(), Some(2), "bad input exits 2");
    let message = String::from_utf8_lossy(&bad_cidr.stderr);
    assert!(
        message.contains("allowed_ips") && message.contains("10.0.0.0/8") && message.lines().count() == 1,
        "{message}"
    );

    // A forgotten --scope is not a silent zero-scope token.
    let unscoped = keyward(&addr, &admin, &["token", "create", "--keyspace", keyspace_id, "--name", "x"], None);
    assert_eq!(unscoped.status.code(), Some(2));
    let message = String::from_utf8_lossy(&unscoped.stderr);
    assert!(message.contains("--scope") && message.contains("--no-scopes"), "{message}");

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
            &["token", "create", "--keyspace", keyspace_id, "--name", "x", "--no-scopes", "--expires-in", "5w"],
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
    assert_eq!(server.stop().0, 0);
}

#[test]
fn a_rotated_token_works_through_its_grace_and_its_use_is_counted_across_a_restart() {
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
    let (secret, token_id) = issue_ci(&addr, &admin, keyspace_id);
    let secret = secret.as_str();

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

    let revoked = stdout(&keyward(&addr, &admin, &["token", "revoke", &new_id, "--reason", "leaked"], None));
    assert!(revoked.contains("reason: leaked"), "{revoked}");
    assert_eq!(keyward(&addr, &admin, &["verify", "-"], Some(new_secret.as_str())).status.code(), Some(6));

    stdout(&keyward(&addr, &admin, &["token", "revoke", &token_id], None));
    let after = keyward(&addr, &admin, &["verify", "-"], Some(secret));
    assert_eq!(after.status.code(), Some(6));
    assert!(String::from_utf8_lossy(&after.stdout).contains("REVOKED"));
    let audit = stdout(&keyward(&addr, &admin, &["audit", "--target", &token_id], None));
    assert!(audit.contains("token.revoked") && audit.contains("token.created"));

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
fn tokens_are_revoked_in_bulk_disabled_enabled_and_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let (server, admin, keyspace_id) = payments(dir.path());
    let (addr, keyspace_id) = (server.addr.clone(), keyspace_id.as_str());
    let counted = stdout(&keyward(&addr, &admin, &["token", "revoke-all", "--owner", "nobody", "--dry-run"], None));
    assert!(counted.starts_with("0 active tokens match"), "{counted}");
    let changed = keyward(&addr, &admin, &["token", "revoke-all", "--owner", "nobody", "--expect", "2"], None);
    assert_eq!(changed.status.code(), Some(5), "a count that no longer holds is a conflict");
    let unfiltered = keyward(&addr, &admin, &["token", "revoke-all", "--reason", "leaked"], None);
    assert_eq!(unfiltered.status.code(), Some(2));
    // Disable and enable: reversible, effective on the next verify.
    let paused = stdout(&keyward(
        &addr,
        &admin,
        &["token", "create", "--keyspace", keyspace_id, "--name", "paused", "--no-scopes"],
        None,
    ));
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
    assert_eq!(server.stop().0, 0);
}

#[test]
fn a_management_token_lineage_is_shown_and_revoked_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let (server, admin) = support::cli::start_with_admin(dir.path());
    let addr = server.addr.clone();
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
    assert_eq!(server.stop().0, 0);
}
