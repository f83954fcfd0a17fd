//! HTTPS served by Keyward itself: HTTP/2 over ALPN, TLS 1.2 and 1.3,
//! HSTS, a bounded handshake, and a certificate replaced while connections
//! stay open. Certificates are made by the test (rcgen), trusted by the
//! client alone.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use keyward_core::{OsRng, SystemClock};
use keyward_engine::{Engine, EngineConfig};
use keyward_server::tls::Certificates;
use keyward_server::{router, serve_tls, AppState, ServeOptions, Site};
use tokio::io::AsyncReadExt;

struct Running {
    addr: SocketAddr,
    certificates: Arc<Certificates>,
    files: (PathBuf, PathBuf),
    dir: tempfile::TempDir,
    _stop: tokio::sync::oneshot::Sender<()>,
}

/// Writes a self-signed certificate for `localhost` and 127.0.0.1; returns
/// its PEM, also written to `name.crt` / `name.key` in `dir`.
fn certificate(dir: &Path, name: &str) -> (String, PathBuf, PathBuf) {
    let generated = rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
    let pem = generated.cert.pem();
    let certificate = dir.join(format!("{name}.crt"));
    let key = dir.join(format!("{name}.key"));
    std::fs::write(&certificate, &pem).unwrap();
    std::fs::write(&key, generated.signing_key.serialize_pem()).unwrap();
    (pem, certificate, key)
}

async fn start(header_timeout: Duration) -> (Running, String) {
    let dir = tempfile::tempdir().unwrap();
    let store = keyward_store_sqlite::SqliteStore::open(&dir.path().join("keyward.db")).await.unwrap();
    let store: Arc<dyn keyward_store::Store> = Arc::new(store);
    store.migrate().await.unwrap();
    let engine = Arc::new(Engine::new(store, Arc::new(SystemClock), Arc::new(OsRng), EngineConfig::default()));
    engine.bootstrap().await.unwrap();
    let (pem, certificate_file, key_file) = certificate(dir.path(), "served");
    let certificates = Certificates::load(&certificate_file, &key_file).unwrap();
    let tls = certificates.server_config().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let app = router(AppState::new(engine).with_site(Site::new(None, true).unwrap()));
    let options = ServeOptions { header_read_timeout: header_timeout, ..ServeOptions::default() };
    tokio::spawn(serve_tls(
        listener,
        app,
        async move {
            let _ = stopped.await;
        },
        options,
        tls,
    ));
    let running = Running { addr, certificates, files: (certificate_file, key_file), dir, _stop: stop };
    (running, pem)
}

/// A client that trusts only `pem` and reaches `localhost` at `addr`.
fn client(pem: &str, addr: SocketAddr) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(pem.as_bytes()).unwrap())
        .resolve("localhost", addr)
}

fn url(running: &Running, path: &str) -> String {
    format!("https://localhost:{}{path}", running.addr.port())
}

#[tokio::test]
async fn serves_http2_over_alpn_with_hsts() {
    let (running, pem) = start(Duration::from_secs(10)).await;
    let response = client(&pem, running.addr).build().unwrap().get(url(&running, "/healthz")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.version(), reqwest::Version::HTTP_2, "ALPN offers h2 first");
    let hsts = response.headers().get("strict-transport-security").expect("HSTS when serving TLS");
    assert!(hsts.to_str().unwrap().starts_with("max-age=31536000"), "{hsts:?}");

    let http1 = client(&pem, running.addr).http1_only().build().unwrap();
    let response = http1.get(url(&running, "/healthz")).send().await.unwrap();
    assert_eq!((response.status().as_u16(), response.version()), (200, reqwest::Version::HTTP_11));
}

#[tokio::test]
async fn speaks_tls_1_2_and_1_3() {
    let (running, pem) = start(Duration::from_secs(10)).await;
    for version in [reqwest::tls::Version::TLS_1_2, reqwest::tls::Version::TLS_1_3] {
        let only = client(&pem, running.addr).min_tls_version(version).max_tls_version(version).build().unwrap();
        let response = only.get(url(&running, "/healthz")).send().await.unwrap();
        assert_eq!(response.status(), 200, "{version:?}");
    }
}

#[tokio::test]
async fn plain_http_on_the_tls_port_gets_no_answer() {
    let (running, _) = start(Duration::from_secs(10)).await;
    let plain = reqwest::Client::new();
    let answer = plain.get(format!("http://{}/healthz", running.addr)).send().await;
    assert!(answer.is_err(), "plain HTTP must not be served on the TLS port: {answer:?}");
}

#[tokio::test]
async fn a_silent_client_is_dropped_after_the_header_timeout() {
    let (running, _) = start(Duration::from_secs(1)).await;
    let mut silent = tokio::net::TcpStream::connect(running.addr).await.unwrap();
    // Says nothing: no ClientHello. The server closes the socket; the test
    // only bounds how long it waits for that, it times nothing.
    let mut buffer = [0u8; 64];
    let closed = tokio::time::timeout(Duration::from_secs(30), silent.read(&mut buffer)).await;
    assert!(matches!(closed, Ok(Ok(0)) | Ok(Err(_))), "the server kept a silent TLS client: {closed:?}");
}

#[tokio::test]
async fn a_renewed_certificate_is_presented_without_dropping_open_connections() {
    let (running, old_pem) = start(Duration::from_secs(10)).await;
    let old_client = client(&old_pem, running.addr).http1_only().build().unwrap();
    assert_eq!(old_client.get(url(&running, "/healthz")).send().await.unwrap().status(), 200);

    // Renewal: new files in place, then SIGHUP's reload.
    let (new_pem, new_certificate, new_key) = certificate(running.dir.path(), "renewed");
    std::fs::copy(&new_certificate, &running.files.0).unwrap();
    std::fs::copy(&new_key, &running.files.1).unwrap();
    running.certificates.reload().unwrap();

    let new_client = client(&new_pem, running.addr).build().unwrap();
    assert_eq!(new_client.get(url(&running, "/healthz")).send().await.unwrap().status(), 200);
    // The connection opened before the renewal is still served.
    assert_eq!(old_client.get(url(&running, "/healthz")).send().await.unwrap().status(), 200);
    // A new connection trusting only the old certificate no longer gets through.
    let fresh_old = client(&old_pem, running.addr).build().unwrap();
    assert!(fresh_old.get(url(&running, "/healthz")).send().await.is_err());
}

#[tokio::test]
async fn a_broken_renewal_keeps_the_working_certificate() {
    let (running, pem) = start(Duration::from_secs(10)).await;
    std::fs::write(&running.files.1, "-----BEGIN PRIVATE KEY-----\nhalf-written").unwrap();
    let error = running.certificates.reload().unwrap_err();
    assert!(error.to_string().contains("served.key"), "names the file: {error}");
    let response = client(&pem, running.addr).build().unwrap().get(url(&running, "/healthz")).send().await.unwrap();
    assert_eq!(response.status(), 200);
}

/// A renewal that stopped shows in `/readyz` before clients see it: a
/// warning in the certificate's last two weeks, not ready once it expired.
#[tokio::test]
async fn readiness_warns_of_an_expiring_certificate_and_fails_on_an_expired_one() {
    use chrono::TimeZone;
    let dir = tempfile::tempdir().unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    params.not_before = rcgen::date_time_ymd(2020, 1, 1);
    params.not_after = rcgen::date_time_ymd(2030, 2, 1);
    let key_pair = rcgen::KeyPair::generate().unwrap();
    let pem = params.self_signed(&key_pair).unwrap().pem();
    let (certificate_file, key_file) = (dir.path().join("expiring.crt"), dir.path().join("expiring.key"));
    std::fs::write(&certificate_file, &pem).unwrap();
    std::fs::write(&key_file, key_pair.serialize_pem()).unwrap();

    let clock = Arc::new(keyward_core::ManualClock::new(chrono::Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap()));
    let store = keyward_store_sqlite::SqliteStore::open(&dir.path().join("keyward.db")).await.unwrap();
    let store: Arc<dyn keyward_store::Store> = Arc::new(store);
    store.migrate().await.unwrap();
    let engine = Arc::new(Engine::new(store, clock.clone(), Arc::new(OsRng), EngineConfig::default()));
    let certificates = Certificates::load(&certificate_file, &key_file).unwrap();
    let tls = certificates.server_config().unwrap();
    let state = AppState::new(engine).with_site(Site::new(None, true).unwrap()).with_certificates(certificates);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (_stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let stopping = async move {
        let _ = stopped.await;
    };
    tokio::spawn(serve_tls(listener, router(state), stopping, ServeOptions::default(), tls));
    let client = client(&pem, addr).build().unwrap();
    let readyz = format!("https://localhost:{}/readyz", addr.port());

    let response = client.get(&readyz).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body, serde_json::json!({"status": "ready"}), "a month left: nothing to say");

    clock.set(chrono::Utc.with_ymd_and_hms(2030, 1, 22, 0, 0, 0).unwrap());
    let body: serde_json::Value = client.get(&readyz).send().await.unwrap().json().await.unwrap();
    assert_eq!(body["status"], "ready");
    let warning = body["warnings"][0].as_str().unwrap();
    assert!(warning.contains("expires in 10 days (2030-02-01T00:00:00Z)"), "{warning}");

    clock.set(chrono::Utc.with_ymd_and_hms(2030, 2, 1, 0, 0, 1).unwrap());
    let response = client.get(&readyz).send().await.unwrap();
    assert_eq!(response.status(), 503);
    let problem: serde_json::Value = response.json().await.unwrap();
    assert_eq!(problem["code"], "certificate_expired", "{problem}");
}
