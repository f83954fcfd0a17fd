//! Organizations, their token policies and their people from the command
//! line: policies set and enforced, tenants founded and kept apart, members,
//! invitations and service accounts.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use serde_json::Value;
use support::cli::{keyward, stdout, Server};

#[test]
fn token_policies_are_set_enforced_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let (server, admin) = support::cli::start_with_admin(dir.path());
    let addr = server.addr.clone();
    let keyspace_id = support::cli::created_id(&keyward(
        &addr,
        &admin,
        &["keyspace", "create", "--name", "payments", "--environment", "test", "--prefix", "pay", "--json"],
        None,
    ));
    let keyspace_id = keyspace_id.as_str();
    // Token policies: set, shown, enforced on creation, violations listed.
    let set = stdout(&keyward(
        &addr,
        &admin,
        &["policy", "set", "--require-expiry", "--max-lifetime", "30d", "--max-rotation-grace", "2h"],
        None,
    ));
    assert!(set.contains("max_lifetime_seconds") && set.contains("2592000"), "{set}");
    assert!(set.contains("max_rotation_grace_seconds") && set.contains("7200"), "{set}");
    let refused = keyward(
        &addr,
        &admin,
        &["token", "create", "--keyspace", keyspace_id, "--name", "forever", "--no-scopes"],
        None,
    );
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
        &["token", "create", "--keyspace", keyspace_id, "--name", "rotating", "--no-scopes", "--rotate-every", "30d"],
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
    assert_eq!(server.stop().0, 0);
}

#[test]
fn the_operator_founds_organizations_whose_admins_see_only_their_own() {
    let dir = tempfile::tempdir().unwrap();
    let (server, admin) = support::cli::start_with_admin(dir.path());
    let addr = server.addr.clone();
    let keyspace_id = support::cli::created_id(&keyward(
        &addr,
        &admin,
        &["keyspace", "create", "--name", "payments", "--environment", "test", "--prefix", "pay", "--json"],
        None,
    ));
    let keyspace_id = keyspace_id.as_str();
    let token_id = support::cli::created_id(&keyward(
        &addr,
        &admin,
        &["token", "create", "--keyspace", keyspace_id, "--name", "ci", "--no-scopes", "--json"],
        None,
    ));
    let token_id = token_id.as_str();
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
    let foreign = keyward(&addr, &tenant_admin, &["token", "show", token_id], None);
    assert!(String::from_utf8_lossy(&foreign.stderr).contains("not_found"));
    assert_eq!(server.stop().0, 0);
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
        &[
            "token",
            "create",
            "--keyspace",
            keyspace.trim(),
            "--name",
            "deploy",
            "--no-scopes",
            "--owner",
            account,
            "--json",
        ],
        None,
    )))
    .unwrap();
    // People and tokens are named beside their ids in human output.
    let listed = stdout(&keyward(&addr, &admin, &["token", "list", "--keyspace", keyspace.trim()], None));
    assert!(listed.contains(&format!("deploys (service account) ({account})")), "{listed}");
    let audit = stdout(&keyward(&addr, &admin, &["audit", "--action", "token.created"], None));
    let actor = token["created_by"].as_str().unwrap();
    assert!(actor.starts_with("tok_") && audit.contains(&format!(" ({actor})")), "{audit}");
    let scripted = stdout(&keyward(&addr, &admin, &["token", "show", token["id"].as_str().unwrap(), "--json"], None));
    assert!(!scripted.contains("(service account)"), "--json keeps ids alone");
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
