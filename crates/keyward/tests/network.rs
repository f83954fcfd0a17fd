//! `keyward serve` on a real network, with the real binary: HTTPS from the
//! configured certificate (and a renewal picked up on SIGHUP), the public
//! URL in printed links, a warning when it listens beyond loopback over
//! plain HTTP, and refusals of settings that cannot work.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::process::{Served, BIN};

/// A self-signed certificate for 127.0.0.1 and localhost, written to
/// `name.crt` and `name.key`; its PEM.
fn certificate(dir: &Path, name: &str) -> String {
    let generated = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
    let pem = generated.cert.pem();
    std::fs::write(dir.join(format!("{name}.crt")), &pem).unwrap();
    std::fs::write(dir.join(format!("{name}.key")), generated.signing_key.serialize_pem()).unwrap();
    pem
}

fn trusting(pem: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(pem.as_bytes()).unwrap())
        .build()
        .unwrap()
}

/// Starts `keyward serve ARGS` with `env`, reads stderr until the setup
/// link is printed, and returns everything said so far.
fn startup_lines(args: &[&str], env: &[(&str, &str)]) -> String {
    let mut child = Command::new(BIN)
        .args(args)
        .envs(env.iter().copied())
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut said = String::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mut line = String::new();
        if stderr.read_line(&mut line).unwrap() == 0 {
            break;
        }
        said.push_str(&line);
        if line.contains("/setup?code=") || Instant::now() > deadline {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    said
}

#[tokio::test]
async fn serves_https_from_the_configured_files_and_picks_up_a_renewal_on_sighup() {
    let dir = tempfile::tempdir().unwrap();
    let first = certificate(dir.path(), "served");
    let (cert, key) = (dir.path().join("served.crt"), dir.path().join("served.key"));
    let data = dir.path().join("data");
    let server = Served::start_with_env(
        &["--data-dir", data.to_str().unwrap()],
        &[],
        &[("KEYWARD_TLS_CERT_FILE", cert.to_str().unwrap()), ("KEYWARD_TLS_KEY_FILE", key.to_str().unwrap())],
    );
    assert!(server.base.starts_with("https://127.0.0.1:"), "{}", server.base);
    let response = trusting(&first).get(format!("{}/readyz", server.base)).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.version(), reqwest::Version::HTTP_2);
    assert!(response.headers().contains_key("strict-transport-security"));
    assert!(server.log().contains("https://127.0.0.1:"), "the setup link is https: {}", server.log());

    // Renewal in place, then SIGHUP.
    let renewed = certificate(dir.path(), "renewed");
    std::fs::copy(dir.path().join("renewed.crt"), &cert).unwrap();
    std::fs::copy(dir.path().join("renewed.key"), &key).unwrap();
    Command::new("kill").args(["-HUP", &server.pid().to_string()]).status().unwrap();
    let started = Instant::now();
    loop {
        if trusting(&renewed).get(format!("{}/readyz", server.base)).send().await.is_ok() {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "the renewal was never presented: {}", server.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(server.log().contains("TLS certificate reloaded"), "{}", server.log());
    assert!(trusting(&first).get(format!("{}/readyz", server.base)).send().await.is_err(), "the old one is gone");
    let mut server = server;
    assert!(server.alive(), "SIGHUP must not stop the server");
}

#[test]
fn listening_beyond_loopback_over_plain_http_warns_and_prints_a_usable_link() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let said = startup_lines(&["serve", "--listen", "0.0.0.0:0", "--data-dir", data.to_str().unwrap()], &[]);
    assert!(said.contains("over plain HTTP"), "{said}");
    assert!(said.contains("tls_cert_file") && said.contains("public_url"), "says what to set: {said}");
    let link = said.lines().find(|line| line.contains("/setup?code=")).unwrap_or_else(|| panic!("{said}"));
    assert!(!link.contains("0.0.0.0"), "a wildcard address is not a link: {link}");
    assert!(link.contains("http://127.0.0.1:"), "{link}");
}

#[test]
fn the_public_url_is_the_printed_link_and_loopback_needs_no_warning() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let said = startup_lines(
        &["serve", "--listen", "127.0.0.1:0", "--data-dir", data.to_str().unwrap()],
        &[("KEYWARD_PUBLIC_URL", "https://keys.example.com")],
    );
    let link = said.lines().find(|line| line.contains("/setup?code=")).unwrap_or_else(|| panic!("{said}"));
    assert!(link.contains("https://keys.example.com/setup?code="), "{link}");
    assert!(!said.contains("over plain HTTP"), "{said}");
}

#[test]
fn settings_that_cannot_work_are_refused_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    certificate(dir.path(), "served");
    let data = dir.path().join("data");
    let cert = dir.path().join("served.crt");
    let cases: &[(&[(&str, &str)], &str)] = &[
        (&[("KEYWARD_TLS_CERT_FILE", cert.to_str().unwrap())], "KEYWARD_TLS_KEY_FILE"),
        (&[("KEYWARD_PUBLIC_URL", "http://keys.example.com")], "https://"),
        (&[("KEYWARD_PUBLIC_URL", "https://keys.example.com/keyward")], "origin only"),
        (
            &[("KEYWARD_TLS_CERT_FILE", cert.to_str().unwrap()), ("KEYWARD_TLS_KEY_FILE", "/nonexistent/served.key")],
            "/nonexistent/served.key",
        ),
    ];
    for (env, expected) in cases {
        let output = Command::new(BIN)
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir", data.to_str().unwrap()])
            .envs(env.iter().copied())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{env:?} was accepted: {stderr}");
        assert!(stderr.contains(expected), "{env:?}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "one clear line: {stderr}");
    }
}
