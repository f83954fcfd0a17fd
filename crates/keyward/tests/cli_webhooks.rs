//! `keyward webhook …` against a running server that really delivers:
//! signed deliveries, a retry after a failing answer, opting tokens in to
//! automatic rotation, and secret rotation.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::cli::{keyward, stdout, Server};

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
        &[
            "token",
            "create",
            "--keyspace",
            keyspace["id"].as_str().unwrap(),
            "--name",
            "watched",
            "--no-scopes",
            "--json",
        ],
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
            "--no-scopes",
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
