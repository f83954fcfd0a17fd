//! `keyward keyspace …` against a running server: creation (piped, the id
//! alone), listing, scope catalogs and a keyspace's own lifecycle rules.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use serde_json::Value;
use support::cli::{keyward, stdout};

#[test]
fn keyspaces_are_created_listed_catalogued_and_given_lifecycle_rules() {
    let dir = tempfile::tempdir().unwrap();
    let (server, admin) = support::cli::start_with_admin(dir.path());
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
    assert_eq!(server.stop().0, 0);
}

/// A keyspace's name works wherever the CLI takes a keyspace id; a name
/// that matches none, or several, is one clear line and a non-zero exit,
/// and the API answers a name in `keyspace_id` with a 400 naming the field.
#[test]
fn a_keyspace_name_stands_for_its_id_and_an_unknown_one_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let (server, admin) = support::cli::start_with_admin(dir.path());
    let addr = server.addr.clone();
    let create = |name: &str| {
        stdout(&keyward(&addr, &admin, &["keyspace", "create", "--name", name, "--environment", "test"], None))
            .trim()
            .to_owned()
    };
    let payments = create("payments");
    let issued = keyward(
        &addr,
        &admin,
        &["token", "create", "--keyspace", "payments", "--name", "by name", "--no-scopes"],
        None,
    );
    assert!(issued.status.success(), "{}", String::from_utf8_lossy(&issued.stderr));
    let listed = stdout(&keyward(&addr, &admin, &["token", "list", "--keyspace", "payments", "--json"], None));
    let listed: Value = serde_json::from_str(&listed).unwrap();
    let tokens = listed["data"].as_array().unwrap();
    assert_eq!(tokens.len(), 1, "{listed}");
    assert_eq!(tokens[0]["keyspace_id"], payments.as_str());

    let unknown = keyward(&addr, &admin, &["token", "list", "--keyspace", "nowhere"], None);
    assert!(!unknown.status.success());
    let said = String::from_utf8_lossy(&unknown.stderr);
    assert!(said.contains("no keyspace is named \"nowhere\"") && said.trim().lines().count() == 1, "{said}");

    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let (status, problem) = runtime.block_on(async {
        let response = reqwest::Client::new()
            .get(format!("{addr}/v1/tokens?keyspace_id=payments"))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.json::<Value>().await.unwrap())
    });
    assert_eq!(status, 400, "{problem}");
    assert_eq!((problem["code"].as_str(), problem["field"].as_str()), (Some("invalid_field"), Some("keyspace_id")));
}

/// Keyspace names are unique in an organization: a second `create` of the
/// same name is refused with the existing id, and `--if-not-exists` prints
/// the existing keyspace and succeeds, so a setup script can run twice.
#[test]
fn a_keyspace_name_is_taken_once_and_if_not_exists_returns_the_first() {
    let dir = tempfile::tempdir().unwrap();
    let (server, admin) = support::cli::start_with_admin(dir.path());
    let addr = server.addr.clone();
    let args = ["keyspace", "create", "--name", "payments", "--environment", "test"];
    let first = stdout(&keyward(&addr, &admin, &args, None)).trim().to_owned();
    let again = keyward(&addr, &admin, &args, None);
    assert!(!again.status.success());
    let said = String::from_utf8_lossy(&again.stderr);
    assert!(said.contains("keyspace_exists") || said.contains(&first), "{said}");
    let with_flag: Vec<&str> = args.iter().copied().chain(["--if-not-exists"]).collect();
    let existing = stdout(&keyward(&addr, &admin, &with_flag, None));
    assert_eq!(existing.trim(), first, "the first keyspace, not a twin");
    let listed = stdout(&keyward(&addr, &admin, &["keyspace", "list", "--json"], None));
    let listed: Value = serde_json::from_str(&listed).unwrap();
    let named = listed["data"].as_array().unwrap().iter().filter(|k| k["name"] == "payments").count();
    assert_eq!(named, 1, "{listed}");
}
