//! What a self-hoster installs from: the Dockerfile and compose file, the
//! systemd unit, the release profile, shell completions, the manual page,
//! the `keyward ready` health check, and the license and policy files.
//!
//! Building the container image needs a container daemon, the base images
//! from a registry and a full release build inside it, so it runs only with
//! `KEYWARD_TEST_DOCKER_BUILD=1`; everything else checks the files as they
//! are and runs what they run against the real binary. The systemd unit is
//! checked with `systemd-analyze` when it is installed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use support::process::{Served, BIN};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

fn read(relative: &str) -> String {
    std::fs::read_to_string(root().join(relative)).unwrap_or_else(|e| panic!("{relative}: {e}"))
}

fn keyward(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env_remove("KEYWARD_TOKEN")
        .env_remove("KEYWARD_ADDR")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Skips loudly.
fn skip(why: &str) {
    eprintln!("\n*** SKIPPED: {why} ***\n");
}

// ---------------------------------------------------------------- container

/// Dockerfile instructions with their arguments, continuation lines joined.
fn instructions(dockerfile: &str) -> Vec<(String, String)> {
    let mut joined = Vec::new();
    let mut current = String::new();
    for line in dockerfile.lines() {
        let line = line.trim();
        if line.starts_with('#') || (line.is_empty() && current.is_empty()) {
            continue;
        }
        match line.strip_suffix('\\') {
            Some(head) => current.push_str(head),
            None => {
                current.push_str(line);
                joined.push(std::mem::take(&mut current));
            }
        }
    }
    joined
        .into_iter()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let (keyword, rest) = line.trim().split_once(char::is_whitespace).unwrap_or((line.trim(), ""));
            (keyword.to_ascii_uppercase(), rest.trim().to_owned())
        })
        .collect()
}

/// The instructions of the last stage (the image that ships).
fn final_stage(all: &[(String, String)]) -> &[(String, String)] {
    let last_from = all.iter().rposition(|(keyword, _)| keyword == "FROM").unwrap();
    &all[last_from..]
}

#[test]
fn the_dockerfile_builds_in_one_stage_and_ships_a_small_unprivileged_image() {
    let all = instructions(&read("Dockerfile"));
    let known = [
        "FROM",
        "RUN",
        "COPY",
        "ADD",
        "WORKDIR",
        "ENV",
        "ARG",
        "USER",
        "VOLUME",
        "EXPOSE",
        "HEALTHCHECK",
        "ENTRYPOINT",
        "CMD",
        "LABEL",
        "STOPSIGNAL",
    ];
    for (keyword, _) in &all {
        assert!(known.contains(&keyword.as_str()), "unknown instruction {keyword}");
    }
    let froms: Vec<&String> = all.iter().filter(|(k, _)| k == "FROM").map(|(_, rest)| rest).collect();
    assert!(froms.len() >= 2, "multi-stage: a build stage and a runtime stage");
    assert!(froms[0].to_ascii_lowercase().contains(" as build"), "the build stage is named: {}", froms[0]);
    let runtime = froms.last().unwrap();
    assert!(
        runtime.contains("-slim") || runtime.contains("distroless"),
        "the runtime image is a small one, not the toolchain: {runtime}"
    );
    let builds: Vec<&String> =
        all.iter().filter(|(k, rest)| k == "RUN" && rest.contains("cargo build")).map(|(_, r)| r).collect();
    assert_eq!(builds.len(), 1);
    assert!(builds[0].contains("--release") && builds[0].contains("--locked"), "{}", builds[0]);

    let shipped = final_stage(&all);
    let value = |keyword: &str| -> Vec<&str> {
        shipped.iter().filter(|(k, _)| k == keyword).map(|(_, rest)| rest.as_str()).collect()
    };
    assert!(
        value("COPY").iter().any(|copy| copy.starts_with("--from=build ") && copy.ends_with("/usr/local/bin/keyward")),
        "only the binary comes from the build stage"
    );
    assert!(!shipped.iter().any(|(k, rest)| k == "RUN" && rest.contains("cargo")), "no toolchain in the runtime image");
    let user = value("USER");
    assert_eq!(user.len(), 1, "one USER in the runtime stage");
    let uid = user[0].split(':').next().unwrap();
    assert!(uid.parse::<u32>().is_ok_and(|uid| uid != 0), "a numeric non-root user: {}", user[0]);
    assert!(value("VOLUME").iter().any(|v| v.contains("/data")), "VOLUME /data");
    assert_eq!(value("EXPOSE"), vec!["8420"]);
    assert_eq!(value("ENTRYPOINT"), vec![r#"["keyward"]"#]);
    assert_eq!(value("CMD"), vec![r#"["serve"]"#]);
    let env = value("ENV").join(" ");
    for setting in ["KEYWARD_LISTEN=0.0.0.0:8420", "KEYWARD_DATA_DIR=/data"] {
        assert!(env.contains(setting), "ENV {setting}");
    }
    let healthcheck = value("HEALTHCHECK");
    assert_eq!(healthcheck.len(), 1);
    assert!(!healthcheck[0].contains("curl") && !healthcheck[0].contains("wget"), "no HTTP client in the image");
    // The user owns /data, which Keyward keeps 0700.
    assert!(
        value("RUN").iter().any(|run| run.contains("useradd")
            && run.contains(&format!("--uid {uid} "))
            && run.contains("-m 0700")
            && run.contains("/data")),
        "the runtime user is created with uid {uid} and owns /data (0700)"
    );

    let ignored = read(".dockerignore");
    for entry in ["target", ".git", "keyward-data"] {
        assert!(ignored.lines().any(|line| line.trim() == entry), ".dockerignore leaves out {entry}");
    }
}

/// The HEALTHCHECK's exec-form command, as `docker` would run it.
fn healthcheck_command() -> Vec<String> {
    let all = instructions(&read("Dockerfile"));
    let healthcheck = &final_stage(&all).iter().find(|(k, _)| k == "HEALTHCHECK").unwrap().1;
    let json = &healthcheck[healthcheck.find("CMD ").unwrap() + 4..];
    serde_json::from_str(json.trim()).unwrap()
}

#[test]
fn the_images_health_check_says_ready_only_when_the_server_is() {
    let command = healthcheck_command();
    assert_eq!(command[..2], ["keyward".to_owned(), "ready".to_owned()]);
    assert!(command.contains(&"http://127.0.0.1:8420".to_owned()), "it asks the server in the same container");

    // The same command, aimed at a real server on a free port.
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data").to_str().unwrap().to_owned();
    let server = Served::start(&["--data-dir", &data], &[]);
    let args: Vec<String> = command[1..]
        .iter()
        .map(|arg| if arg == "http://127.0.0.1:8420" { server.base.clone() } else { arg.clone() })
        .collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let ready = keyward(&args);
    assert_eq!(ready.status.code(), Some(0), "{}", text(&ready.stderr));
    assert_eq!(text(&ready.stdout), "ready\n");
    let live = keyward(&["ready", "--live", "--addr", &server.base]);
    assert_eq!((live.status.code(), text(&live.stdout)), (Some(0), "live\n".to_owned()));
    let base = server.base.clone();
    drop(server);

    // Nobody listening: exit 7, one line.
    let closed = keyward(&["ready", "--addr", &base, "--timeout", "2s"]);
    assert_eq!(closed.status.code(), Some(7), "{}", text(&closed.stderr));
    assert_eq!(text(&closed.stderr).lines().count(), 1, "{}", text(&closed.stderr));
    assert!(text(&closed.stderr).contains("cannot reach the Keyward server"), "{}", text(&closed.stderr));
}

#[test]
fn ready_fails_with_the_servers_reason_when_it_is_not_ready() {
    // A stand-in answering /readyz as a server whose store cannot write does.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = format!("http://{}", listener.local_addr().unwrap());
    let stand_in = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut request = [0u8; 1024];
        let read = stream.read(&mut request).unwrap();
        let body = r#"{"type":"https://keyward.dev/problems/store_unwritable","title":"Not ready","status":503,"code":"store_unwritable","detail":"Not ready: the token store cannot commit writes. The server log says why."}"#;
        write!(
            stream,
            "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/problem+json\r\nretry-after: 5\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        String::from_utf8_lossy(&request[..read]).into_owned()
    });
    let output = keyward(&["ready", "--addr", &addr]);
    let request = stand_in.join().unwrap();
    assert!(request.starts_with("GET /readyz "), "{request}");
    assert!(!request.to_ascii_lowercase().contains("authorization"), "a health check sends no token");
    assert_eq!(output.status.code(), Some(1), "not ready is exit 1");
    assert_eq!(text(&output.stdout), "");
    let stderr = text(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("cannot commit writes") && stderr.contains("(store_unwritable)"), "{stderr}");
}

/// `KEY: value` settings of the `keyward` service in compose.yaml.
fn compose_environment(compose: &str) -> Vec<(String, String)> {
    let service = &compose[compose.find("\n  keyward:").unwrap()..];
    let environment = &service[service.find("    environment:\n").unwrap() + "    environment:\n".len()..];
    environment
        .lines()
        .take_while(|line| line.starts_with("      "))
        .filter(|line| !line.trim_start().starts_with('#'))
        .map(|line| {
            let (key, value) = line.trim().split_once(": ").unwrap();
            (key.to_owned(), value.to_owned())
        })
        .collect()
}

#[test]
fn the_compose_file_runs_keyward_on_postgres_with_settings_keyward_knows() {
    let compose = read("deploy/compose.yaml");
    assert!(compose.contains("\n  postgres:\n    image: postgres:"), "a PostgreSQL service");
    assert!(compose.contains("condition: service_healthy"), "Keyward starts once PostgreSQL is ready");
    assert!(compose.contains("pg_isready"));
    assert!(
        compose.contains("context: ..") && compose.contains("dockerfile: Dockerfile"),
        "built from this Dockerfile"
    );
    assert!(compose.contains("keyward-data:/data"), "the data volume");
    assert!(compose.contains("\"127.0.0.1:8420:8420\""), "published on the host's loopback only");
    assert_eq!(compose.lines().find(|line| line.contains('\t')), None, "YAML takes no tabs");

    let environment = compose_environment(&compose);
    let names: Vec<&str> = environment.iter().map(|(k, _)| k.as_str()).collect();
    assert!(names.contains(&"KEYWARD_DATABASE_URL") && names.contains(&"KEYWARD_MASTER_KEY"), "{names:?}");
    let url = &environment.iter().find(|(k, _)| k == "KEYWARD_DATABASE_URL").unwrap().1;
    assert!(
        url.starts_with("postgres://keyward:${POSTGRES_PASSWORD") && url.ends_with("@postgres:5432/keyward"),
        "{url}"
    );

    // Keyward accepts every one of these settings (and the Dockerfile's):
    // the same names with local values, given to `keyward init`.
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("k.db");
    let admin_token = dir.path().join("admin-token");
    let mut init = Command::new(BIN);
    init.arg("init").env_remove("KEYWARD_TOKEN").env_remove("KEYWARD_ADDR");
    for (name, value) in &environment {
        let value = match name.as_str() {
            "KEYWARD_DATABASE_URL" => format!("sqlite:{}", database.display()),
            "KEYWARD_MASTER_KEY" => "ab".repeat(32),
            "KEYWARD_ADMIN_TOKEN_FILE" => admin_token.display().to_string(),
            _ => value.clone(),
        };
        init.env(name, value);
    }
    let all = instructions(&read("Dockerfile"));
    for (_, env) in final_stage(&all).iter().filter(|(k, _)| k == "ENV") {
        for pair in env.split_whitespace() {
            let (name, value) = pair.split_once('=').unwrap();
            if !environment.iter().any(|(k, _)| k == name) {
                let value = if name == "KEYWARD_DATA_DIR" {
                    dir.path().join("data").display().to_string()
                } else {
                    value.to_owned()
                };
                init.env(name, value);
            }
        }
    }
    let output = init.output().unwrap();
    let stderr = text(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(!stderr.contains("unknown"), "every setting is known: {stderr}");
    assert!(database.exists(), "the database URL was used");
    assert!(std::fs::read_to_string(&admin_token).unwrap().starts_with("kw_live_"), "the admin token file was used");
}

#[test]
fn the_image_builds_and_runs_as_a_non_root_user_when_asked() {
    if std::env::var("KEYWARD_TEST_DOCKER_BUILD").as_deref() != Ok("1") {
        skip(
            "building the container image needs a container daemon, registry access and a full release build; \
             set KEYWARD_TEST_DOCKER_BUILD=1 to run it (the Dockerfile is checked statically above)",
        );
        return;
    }
    let tool = ["docker", "podman"].into_iter().find(|tool| {
        Command::new(tool).arg("info").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success())
    });
    let Some(tool) = tool else {
        panic!("KEYWARD_TEST_DOCKER_BUILD=1, but neither docker nor podman can reach a daemon");
    };
    let tag = "keyward-test:packaging";
    let build = Command::new(tool).args(["build", "-t", tag, "."]).current_dir(root()).status().unwrap();
    assert!(build.success(), "{tool} build failed");
    let run = |args: &[&str]| {
        let output = Command::new(tool).args(["run", "--rm"]).args(args).output().unwrap();
        assert!(output.status.success(), "{}", text(&output.stderr));
        text(&output.stdout)
    };
    assert!(run(&[tag, "--version"]).starts_with("keyward "));
    assert_eq!(run(&["--entrypoint", "id", tag, "-u"]).trim(), "10001");
    assert!(run(&[tag, "completions", "bash"]).contains("keyward"));
}

// ------------------------------------------------------------------ systemd

fn unit_settings(unit: &str) -> Vec<(String, String)> {
    unit.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#') && !line.starts_with('['))
        .map(|line| {
            let (key, value) = line.split_once('=').unwrap();
            (key.to_owned(), value.to_owned())
        })
        .collect()
}

#[test]
fn the_systemd_unit_is_hardened() {
    let unit = read("deploy/keyward.service");
    let settings = unit_settings(&unit);
    let get = |key: &str| -> Vec<&str> { settings.iter().filter(|(k, _)| k == key).map(|(_, v)| v.as_str()).collect() };
    for (key, value) in [
        ("DynamicUser", "yes"),
        ("StateDirectory", "keyward"),
        ("StateDirectoryMode", "0700"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("NoNewPrivileges", "yes"),
        ("CapabilityBoundingSet", ""),
        ("MemoryDenyWriteExecute", "yes"),
        ("RestrictAddressFamilies", "AF_INET AF_INET6 AF_UNIX"),
        ("Restart", "on-failure"),
        ("Type", "exec"),
    ] {
        assert_eq!(get(key), vec![value], "{key}={value}");
    }
    assert!(get("SystemCallFilter").contains(&"@system-service"));
    assert!(get("LimitNOFILE")[0].parse::<u32>().unwrap() >= 65536);
    assert_eq!(get("EnvironmentFile"), vec!["-/etc/keyward/keyward.env"], "optional");
    let exec = get("ExecStart")[0];
    assert!(
        exec.starts_with("/usr/local/bin/keyward serve --data-dir /var/lib/keyward "),
        "serves from the state directory: {exec}"
    );
    assert!(exec.contains("--admin-token-file /var/lib/keyward/admin-token"), "restarts keep the setting: {exec}");
}

#[test]
fn systemd_accepts_the_unit_and_rates_its_exposure_low() {
    if Command::new("systemd-analyze").arg("--version").output().is_err() {
        skip("systemd-analyze is not installed (apt-get install systemd); the unit was checked statically only");
        return;
    }
    // systemd checks that ExecStart exists: point it at the binary under test.
    let dir = tempfile::tempdir().unwrap();
    let unit = dir.path().join("keyward.service");
    std::fs::write(&unit, read("deploy/keyward.service").replace("/usr/local/bin/keyward", BIN)).unwrap();
    let verify = Command::new("systemd-analyze").args(["verify", "--man=no"]).arg(&unit).output().unwrap();
    assert!(verify.status.success(), "systemd-analyze verify: {}{}", text(&verify.stdout), text(&verify.stderr));
    assert_eq!(text(&verify.stderr).trim(), "", "no warnings");
    // Exposure is 0 (locked down) to 10 (wide open); the threshold is ten times it.
    let security = Command::new("systemd-analyze")
        .args(["security", "--offline=yes", "--threshold=20", "--no-pager"])
        .arg(&unit)
        .output()
        .unwrap();
    let report = text(&security.stdout);
    let level = report.lines().find(|line| line.contains("Overall exposure level")).unwrap_or("?");
    assert!(security.status.success(), "exposure above 2.0: {level}\n{report}{}", text(&security.stderr));
}

// ---------------------------------------------------- completions and manual

#[test]
fn completions_cover_every_command_and_bash_accepts_the_script() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let output = keyward(&["completions", shell]);
        assert!(output.status.success(), "{shell}: {}", text(&output.stderr));
        let script = text(&output.stdout);
        for word in ["login", "whoami", "token", "revoke-all", "service-account", "completions"] {
            assert!(script.contains(word), "{shell} completion lacks {word}");
        }
        // Options too (fish spells them `-l field`).
        let option = if shell == "fish" { "-l field" } else { "--field" };
        assert!(script.contains(option), "{shell} completion lacks {option}");
    }
    let dir = tempfile::tempdir().unwrap();
    for (shell, check) in [("bash", ["bash", "-n"]), ("zsh", ["zsh", "-n"]), ("fish", ["fish", "--no-execute"])] {
        let script = dir.path().join(format!("keyward.{shell}"));
        std::fs::write(&script, keyward(&["completions", shell]).stdout).unwrap();
        match Command::new(check[0]).arg(check[1]).arg(&script).output() {
            Ok(output) => assert!(output.status.success(), "{shell} rejects the script: {}", text(&output.stderr)),
            Err(_) if shell != "bash" => skip(&format!("{shell} is not installed; its script was not syntax-checked")),
            Err(error) => panic!("bash: {error}"),
        }
    }
    // Bash really completes with it.
    let probe = format!(
        "source {}; COMP_WORDS=(keyward tok); COMP_CWORD=1; COMP_LINE='keyward tok'; COMP_POINT=11; _keyward keyward tok keyward; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        dir.path().join("keyward.bash").display()
    );
    let completed = Command::new("bash").args(["-c", &probe]).output().unwrap();
    assert_eq!(text(&completed.stdout).trim(), "token", "{}", text(&completed.stderr));

    let refused = keyward(&["completions", "tcsh"]);
    assert_eq!(refused.status.code(), Some(2));
}

#[test]
fn the_manual_page_documents_every_command() {
    let output = keyward(&["man"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let page = text(&output.stdout);
    assert!(page.starts_with(".ie") || page.contains(".TH keyward 1"), "a roff page: {}", &page[..page.len().min(200)]);
    assert!(page.contains(".TH keyward 1"));
    for word in ["serve", "login", "whoami", "ready", "completions", "Exit codes"] {
        assert!(page.contains(word), "keyward.1 lacks {word}");
    }
    if Command::new("groff").arg("--version").output().is_ok() {
        let mut groff = Command::new("groff")
            .args(["-man", "-Tutf8", "-ww", "-z"])
            .stdin(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        groff.stdin.take().unwrap().write_all(page.as_bytes()).unwrap();
        let checked = groff.wait_with_output().unwrap();
        assert!(checked.status.success() && checked.stderr.is_empty(), "groff: {}", text(&checked.stderr));
    } else {
        skip("groff is not installed; the page was not rendered");
    }

    let dir = tempfile::tempdir().unwrap();
    let pages = dir.path().join("man1");
    let written = keyward(&["man", "--dir", pages.to_str().unwrap()]);
    assert!(written.status.success(), "{}", text(&written.stderr));
    for page in ["keyward.1", "keyward-login.1", "keyward-token.1", "keyward-token-create.1", "keyward-serve.1"] {
        let body = std::fs::read_to_string(pages.join(page)).unwrap_or_else(|e| panic!("{page}: {e}"));
        assert!(body.contains(".TH"), "{page}");
    }
    let create = std::fs::read_to_string(pages.join("keyward-token-create.1")).unwrap();
    assert!(create.contains("keyspace") && create.contains("expires"), "a subcommand's page has its options");
}

// ------------------------------------------------------- release and policy

#[test]
fn release_builds_strip_symbols_and_benchmarks_keep_them() {
    let manifest: toml::Value = toml::from_str(&read("Cargo.toml")).unwrap();
    let release = &manifest["profile"]["release"];
    let strip = release.get("strip").unwrap();
    assert!(strip.as_bool() == Some(true) || strip.as_str() == Some("symbols"), "release strips symbols: {strip}");
    let debug = release.get("debug").unwrap();
    assert!(debug.as_bool() == Some(false) || debug.as_integer() == Some(0), "no debug info shipped: {debug}");
    for profile in ["bench", "profiling"] {
        let profile = &manifest["profile"][profile];
        assert_eq!(profile["inherits"].as_str(), Some("release"));
        assert_eq!(profile["strip"].as_str(), Some("none"), "profilers need symbols");
    }
}

#[test]
fn the_license_file_matches_the_manifests() {
    let manifest: toml::Value = toml::from_str(&read("Cargo.toml")).unwrap();
    let license = manifest["workspace"]["package"]["license"].as_str().unwrap();
    assert_eq!(license, "Apache-2.0", "LICENSE holds the Apache License 2.0; a change of license changes it too");
    let text = read("LICENSE");
    assert!(text.contains("Apache License") && text.contains("Version 2.0, January 2004"));
    assert!(text.contains("END OF TERMS AND CONDITIONS"), "the full text");
    for entry in std::fs::read_dir(root().join("crates")).unwrap() {
        let crate_manifest = entry.unwrap().path().join("Cargo.toml");
        let crate_manifest: toml::Value = toml::from_str(&std::fs::read_to_string(&crate_manifest).unwrap()).unwrap();
        let name = crate_manifest["package"]["name"].as_str().unwrap().to_owned();
        assert_eq!(
            crate_manifest["package"]["license"]["workspace"].as_bool(),
            Some(true),
            "{name} takes the workspace's license"
        );
    }
}

#[test]
fn security_policy_and_changelog_are_there_and_current() {
    let security = read("SECURITY.md");
    for section in ["## Reporting a vulnerability", "## Supported versions", "## Scope"] {
        assert!(security.contains(section), "SECURITY.md: {section}");
    }
    assert!(!security.contains("TODO"));

    let changelog = read("CHANGELOG.md");
    assert!(changelog.contains("keepachangelog.com"), "says which format it follows");
    let headings: Vec<&str> = changelog.lines().filter(|line| line.starts_with("## ")).collect();
    assert_eq!(headings.first().copied(), Some("## [Unreleased]"), "changes land under Unreleased first");
    let manifest: toml::Value = toml::from_str(&read("Cargo.toml")).unwrap();
    let version = manifest["workspace"]["package"]["version"].as_str().unwrap();
    // A released version has its own heading; until then it is unreleased.
    for heading in &headings[1..] {
        assert!(heading.starts_with("## ["), "{heading}");
    }
    if headings.len() > 1 {
        assert!(headings[1].starts_with(&format!("## [{version}]")), "the newest release is the manifest's version");
    }
    for command in ["keyward login", "keyward ready", "keyward completions"] {
        assert!(changelog.contains(command), "CHANGELOG.md mentions {command}");
    }
}
