//! Connections are bounded in time and number: a client that stalls, or
//! idles, or one of too many, cannot hold the server's file descriptors. Each
//! test drives a raw TCP socket against the real accept loop with timeouts
//! of a second, so the faults trigger quickly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use keyward_core::{OsRng, SystemClock};
use keyward_engine::{Engine, EngineConfig};
use keyward_server::{router, serve_with, AppState, ServeOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

struct Running {
    addr: std::net::SocketAddr,
    admin: String,
    _stop: tokio::sync::oneshot::Sender<()>,
    _dir: tempfile::TempDir,
}

async fn start(options: ServeOptions) -> Running {
    let dir = tempfile::tempdir().unwrap();
    let store = keyward_store_sqlite::SqliteStore::open(&dir.path().join("keyward.db")).await.unwrap();
    let store: Arc<dyn keyward_store::Store> = Arc::new(store);
    store.migrate().await.unwrap();
    let engine = Arc::new(Engine::new(store, Arc::new(SystemClock), Arc::new(OsRng), EngineConfig::default()));
    let admin = engine.bootstrap().await.unwrap().unwrap().secret.expose().to_owned();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(serve_with(
        listener,
        router(AppState::new(engine)),
        async move {
            let _ = stopped.await;
        },
        options,
    ));
    Running { addr, admin, _stop: stop, _dir: dir }
}

fn options(header: u64, body: u64, idle: u64, max_connections: usize) -> ServeOptions {
    ServeOptions {
        header_read_timeout: Duration::from_secs(header),
        request_body_timeout: Duration::from_secs(body),
        idle_timeout: Duration::from_secs(idle),
        max_connections,
    }
}

/// Reads until the server closes the connection; fails if it has not
/// within `limit` (the fault trigger under test is shorter).
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> String {
    let mut received = Vec::new();
    let outcome = tokio::time::timeout(limit, async {
        let mut buffer = [0u8; 4096];
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received.extend_from_slice(&buffer[..n]),
            }
        }
    })
    .await;
    let text = String::from_utf8_lossy(&received).into_owned();
    assert!(outcome.is_ok(), "the server kept the connection open; received so far: {text:?}");
    text
}

/// Reads one complete response (headers and a Content-Length body).
async fn read_response(stream: &mut TcpStream) -> String {
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buffer)).await.unwrap().unwrap();
        assert!(n > 0, "closed before a response: {:?}", String::from_utf8_lossy(&received));
        received.extend_from_slice(&buffer[..n]);
        let text = String::from_utf8_lossy(&received).into_owned();
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text[..end]
                .lines()
                .find_map(|line| {
                    let (name, value) = line.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length").then(|| value.trim().parse::<usize>().unwrap())
                })
                .unwrap_or(0);
            if received.len() >= end + 4 + length {
                return text;
            }
        }
    }
}

const HEALTHZ: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: keyward\r\n\r\n";

#[tokio::test]
async fn a_half_sent_request_head_is_disconnected_after_the_header_timeout() {
    let server = start(options(1, 30, 30, 100)).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    // The first bytes come after the connection's watchdog has gone to
    // sleep: it must still notice the head beginning.
    tokio::time::sleep(Duration::from_millis(300)).await;
    stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: keyw").await.unwrap();
    // Hyper cannot answer a request it has not parsed: the connection just ends.
    let received = read_until_closed(&mut stream, Duration::from_secs(10)).await;
    assert!(received.is_empty(), "{received}");
}

#[tokio::test]
async fn a_stalled_body_is_answered_408_problem_json_and_the_connection_closed() {
    let server = start(options(30, 1, 30, 100)).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let head = format!(
        "POST /v1/verify HTTP/1.1\r\nHost: keyward\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"token\":",
        server.admin
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let received = read_until_closed(&mut stream, Duration::from_secs(10)).await;
    assert!(received.starts_with("HTTP/1.1 408"), "{received}");
    let lower = received.to_ascii_lowercase();
    assert!(lower.contains("content-type: application/problem+json"), "{received}");
    assert!(lower.contains("connection: close"), "{received}");
    assert!(received.contains("\"code\":\"request_timeout\""), "{received}");
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_idle_timeout() {
    // The header timeout is long, so only the idle timeout can close it.
    let server = start(options(30, 30, 1, 100)).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream.write_all(HEALTHZ).await.unwrap();
    let first = read_response(&mut stream).await;
    assert!(first.starts_with("HTTP/1.1 200"), "{first}");
    // Still usable right away: keep-alive works.
    stream.write_all(HEALTHZ).await.unwrap();
    let second = read_response(&mut stream).await;
    assert!(second.starts_with("HTTP/1.1 200"), "{second}");
    let after = read_until_closed(&mut stream, Duration::from_secs(10)).await;
    assert!(after.is_empty(), "{after}");
}

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

// One thread, so the test's log subscriber sees the accept loop's events.
#[tokio::test(flavor = "current_thread")]
async fn at_the_connection_cap_new_connections_wait_and_the_cap_is_logged_once() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt().with_writer(move || writer.clone()).with_ansi(false).finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let server = start(options(30, 30, 30, 4)).await;
    let mut held = Vec::new();
    for _ in 0..4 {
        let mut stream = TcpStream::connect(server.addr).await.unwrap();
        stream.write_all(HEALTHZ).await.unwrap();
        assert!(read_response(&mut stream).await.starts_with("HTTP/1.1 200"));
        held.push(stream);
    }
    // Three more clients: the kernel completes their handshakes, but the
    // server does not take them while four connections are open.
    let mut waiting = Vec::new();
    for _ in 0..3 {
        let mut stream = TcpStream::connect(server.addr).await.unwrap();
        stream.write_all(HEALTHZ).await.unwrap();
        waiting.push(stream);
    }
    let mut buffer = [0u8; 64];
    let early = tokio::time::timeout(Duration::from_millis(300), waiting[0].read(&mut buffer)).await;
    assert!(early.is_err(), "a connection over the cap was served");

    drop(held);
    for stream in &mut waiting {
        assert!(read_response(stream).await.starts_with("HTTP/1.1 200"), "served once others closed");
    }
    let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert_eq!(log.matches("connection cap reached").count(), 1, "{log}");
    assert!(log.contains("WARN") && log.contains("KEYWARD_MAX_CONNECTIONS"), "{log}");
}
