//! `keyward login`, `logout` and `whoami`, and `--field` on JSON output,
//! with the real binary against a real server. Each test has its own
//! config directory (`XDG_CONFIG_HOME`), never the user's.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;
use support::process::{Served, BIN};

struct Setup {
    server: Served,
    admin: String,
    config: PathBuf,
    _dir: tempfile::TempDir,
}

impl Setup {
    fn new() -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let token_file = dir.path().join("admin-token");
        let server = Served::start(
            &["--data-dir", data.to_str().unwrap()],
            &["--admin-token-file", token_file.to_str().unwrap()],
        );
        let admin = std::fs::read_to_string(&token_file).unwrap().trim().to_owned();
        let config = dir.path().join("config");
        Setup { server, admin, config, _dir: dir }
    }

    fn credentials(&self) -> PathBuf {
        self.config.join("keyward/credentials.toml")
    }

    /// `keyward ARGS` with no KEYWARD_* variables but `env`, and this test's config directory.
    fn run(&self, env: &[(&str, &str)], args: &[&str], stdin: Option<&str>) -> Output {
        let mut command = Command::new(BIN);
        for (name, _) in std::env::vars() {
            if name.starts_with("KEYWARD_") {
                command.env_remove(name);
            }
        }
        let mut child = command
            .args(args)
            .env("XDG_CONFIG_HOME", &self.config)
            .env("HOME", self.config.join("home-unused"))
            .envs(env.iter().copied())
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

    /// As the admin, through the environment.
    fn admin(&self, args: &[&str]) -> Output {
        self.run(&[("KEYWARD_ADDR", &self.server.base), ("KEYWARD_TOKEN", &self.admin)], args, None)
    }

    fn login(&self, token: &str) -> Output {
        self.run(&[], &["login", "--addr", &self.server.base], Some(&format!("{token}\n")))
    }
}

fn out(output: &Output) -> String {
    assert!(
        output.status.success(),
        "failed ({:?}): {}{}",
        output.status.code(),
        text(&output.stdout),
        text(&output.stderr)
    );
    text(&output.stdout)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// One line on stderr, nothing on stdout, and the exit code.
fn refused(output: &Output, code: i32) -> String {
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(code), "{stderr}");
    assert_eq!(text(&output.stdout), "", "nothing on stdout when refused");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    stderr
}

#[test]
fn login_checks_the_token_stores_it_privately_and_later_commands_use_it() {
    let setup = Setup::new();
    let logged_in = out(&setup.login(&setup.admin));
    assert!(logged_in.starts_with(&format!("Logged in to {} as ", setup.server.base)), "{logged_in}");
    assert!(!logged_in.contains(&setup.admin), "the token is not printed back");

    let path = setup.credentials();
    assert_eq!(mode(&path), 0o600);
    assert_eq!(mode(path.parent().unwrap()), 0o700);
    let stored: toml::Value = toml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(stored["addr"].as_str(), Some(setup.server.base.as_str()));
    assert_eq!(stored["token"].as_str(), Some(setup.admin.as_str()));

    // No KEYWARD_ADDR, no KEYWARD_TOKEN: the stored login serves.
    let who = out(&setup.run(&[], &["whoami"], None));
    assert!(who.contains(&format!("server        {}", setup.server.base)), "{who}");
    assert!(who.contains("credentials   stored login ("), "{who}");
    assert!(!who.contains(&setup.admin));
    let me: Value = serde_json::from_str(&out(&setup.run(&[], &["whoami", "--json"], None))).unwrap();
    assert_eq!(me["kind"], "token");
    assert!(me["token_id"].as_str().unwrap().starts_with("tok_"));
    assert!(me["organization"]["id"].as_str().unwrap().starts_with("org_"));
    assert_eq!(me["organization"]["operator"], true);
    assert!(me["scopes"].as_array().unwrap().iter().any(|s| s == "keyward:tokens:write"), "{me}");
    assert!(!me.to_string().contains(&setup.admin[9..]), "whoami never shows the secret");
    let keyspace = out(&setup.run(&[], &["keyspace", "create", "--name", "stored", "--environment", "test"], None));
    assert!(keyspace.trim().starts_with("ks_"));
    // The environment wins over the stored login.
    let bogus = "kw_live_0000000000000000000000000000000000000000";
    let overridden = setup.run(&[("KEYWARD_TOKEN", bogus)], &["whoami"], None);
    assert_ne!(overridden.status.code(), Some(0), "KEYWARD_TOKEN is used, not the stored token");

    // The stored token is not handed to another server.
    let elsewhere = setup.run(&[("KEYWARD_ADDR", "http://127.0.0.1:9")], &["whoami"], None);
    let line = refused(&elsewhere, 2);
    assert!(line.contains("the stored login is for"), "{line}");

    // A file others can read still works, with a warning.
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let loose = setup.run(&[], &["whoami", "--field", "kind"], None);
    assert_eq!(out(&loose), "token\n");
    assert!(text(&loose.stderr).contains("chmod 600"), "{}", text(&loose.stderr));

    // Logging in again replaces the login; logging out removes it.
    out(&setup.login(&setup.admin));
    assert_eq!(mode(&path), 0o600);
    let logout = out(&setup.run(&[], &["logout"], None));
    assert!(logout.starts_with("Logged out"), "{logout}");
    assert!(!path.exists());
    assert!(out(&setup.run(&[], &["logout"], None)).starts_with("Not logged in"));
    let line = refused(&setup.run(&[], &["token", "list"], None), 2);
    assert!(line.contains("no management token: run `keyward login`"), "{line}");
}

#[test]
fn login_refuses_what_the_server_does_not_accept_and_stores_nothing() {
    let setup = Setup::new();
    // Not a token at all (a password pasted by mistake): refused offline.
    let line = refused(&setup.login("correct horse battery staple"), 2);
    assert!(line.contains("not a Keyward token"), "{line}");
    assert!(!line.contains("horse"), "{line}");
    // Empty input.
    let line = refused(&setup.login(""), 2);
    assert!(line.contains("no token given"), "{line}");

    // A customer token is a real token, but not a management one: 401, exit 3.
    let keyspace =
        out(&setup.admin(&["keyspace", "create", "--name", "api", "--environment", "live", "--field", "id"]));
    let customer = out(&setup.admin(&[
        "token",
        "create",
        "--keyspace",
        keyspace.trim(),
        "--name",
        "client",
        "--no-scopes",
        "--field",
        "token",
    ]));
    let line = refused(&setup.login(customer.trim()), 3);
    assert!(line.contains("does not accept this token") && line.contains("nothing was stored"), "{line}");
    assert!(!line.contains(customer.trim()));

    // Nobody listening: exit 7.
    let closed = setup.run(&[], &["login", "--addr", "http://127.0.0.1:9"], Some(setup.admin.as_str()));
    refused(&closed, 7);
    assert!(!setup.credentials().exists(), "nothing stored after any refusal");

    // From a file works as from stdin.
    let file = setup.config.join("token");
    std::fs::create_dir_all(&setup.config).unwrap();
    std::fs::write(&file, format!("{}\n", setup.admin)).unwrap();
    out(&setup.run(&[], &["login", "--addr", &setup.server.base, "--token-file", file.to_str().unwrap()], None));
    assert!(setup.credentials().exists());
}

#[test]
fn whoami_names_a_limited_token_and_its_scopes() {
    let setup = Setup::new();
    let management = out(&setup.admin(&["keyspace", "list", "--json"]));
    let management: Value = serde_json::from_str(&management).unwrap();
    let keyspace = management["data"].as_array().unwrap().iter().find(|k| k["management"] == true).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let reader = out(&setup.admin(&[
        "token",
        "create",
        "--keyspace",
        &keyspace,
        "--name",
        "audit reader",
        "--scope",
        "keyward:audit:read",
        "--expires-in",
        "1d",
        "--field",
        "token",
    ]));
    let reader = reader.trim();
    let env = [("KEYWARD_ADDR", setup.server.base.as_str()), ("KEYWARD_TOKEN", reader)];
    let who = out(&setup.run(&env, &["whoami"], None));
    assert!(who.contains("audit reader (tok_"), "{who}");
    assert!(who.contains("scopes        keyward:audit:read\n"), "{who}");
    assert!(who.contains("credentials   flags or environment"), "{who}");
    assert!(!who.contains("expires_at    -"), "the expiry is shown: {who}");
    assert_eq!(out(&setup.run(&env, &["whoami", "--field", "token_name"], None)), "audit reader\n");
    assert_eq!(out(&setup.run(&env, &["whoami", "--field", "scopes.0"], None)), "keyward:audit:read\n");
}

#[test]
fn field_prints_one_value_for_scripts() {
    let setup = Setup::new();
    // `--json --field id` and `--field id` alike: the bare value, one line.
    let id =
        out(&setup.admin(&["keyspace", "create", "--name", "one", "--environment", "test", "--json", "--field", "id"]));
    assert!(id.starts_with("ks_") && id.ends_with('\n') && id.lines().count() == 1, "{id:?}");
    let keyspace = id.trim();
    let name = out(&setup.admin(&["keyspace", "show", keyspace, "--field", "name"]));
    assert_eq!(name, "one\n");
    let secret = out(&setup.admin(&[
        "token",
        "create",
        "--keyspace",
        keyspace,
        "--name",
        "worker",
        "--scope",
        "a:read",
        "--field",
        "token",
    ]));
    let secret = secret.trim();
    assert!(secret.contains("_test_"), "the secret alone: {secret}");
    let listed = out(&setup.admin(&["token", "list", "--keyspace", keyspace, "--field", "data.0.name"]));
    assert_eq!(listed, "worker\n");
    // Non-strings print as JSON; a verdict's field even when it fails.
    assert_eq!(out(&setup.admin(&["token", "list", "--keyspace", keyspace, "--field", "data.0.use_count"])), "0\n");
    let token_id = out(&setup.admin(&["verify", secret, "--field", "token_id"]));
    out(&setup.admin(&["token", "revoke", token_id.trim()]));
    let verdict = setup.admin(&["verify", secret, "--field", "code"]);
    assert_eq!((verdict.status.code(), text(&verdict.stdout)), (Some(6), "REVOKED\n".to_owned()));

    // A field that is not there: exit 2, one line naming what is.
    let line = refused(&setup.admin(&["keyspace", "show", keyspace, "--field", "nmae"]), 2);
    assert!(line.contains("--field nmae: the output has no `nmae`, it has fields "), "{line}");
    assert!(line.contains("name"), "{line}");
    // A path that cannot name anything is a usage error from the parser, before any call.
    let malformed = setup.admin(&["keyspace", "show", keyspace, "--field", "a..b"]);
    assert_eq!(malformed.status.code(), Some(2));
    assert!(text(&malformed.stderr).contains("dotted path"), "{}", text(&malformed.stderr));
}
