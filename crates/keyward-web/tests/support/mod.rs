//! What the web screen tests share: a real server with the pages on
//! 127.0.0.1:0 over a real SQLite store, and helpers to drive it like a
//! browser (cookies, forms, CSRF fields).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use keyward_core::{OsRng, SystemClock};
use keyward_engine::{Engine, EngineConfig};
use keyward_server::{router_with, serve, AppState};
use keyward_store::Store;
use keyward_store_sqlite::SqliteStore;
use reqwest::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, COOKIE, LOCATION, SET_COOKIE};
use reqwest::{redirect, Client, Response, StatusCode};
use serde_json::{json, Value};

pub struct Site {
    pub base: String,
    pub admin: String,
    pub engine: Arc<Engine>,
    pub client: Client,
    _dir: tempfile::TempDir,
}

pub async fn site() -> Site {
    site_with(Arc::new(SystemClock), keyward_server::Site::default()).await
}

pub async fn site_on(clock: Arc<dyn keyward_core::Clock>) -> Site {
    site_with(clock, keyward_server::Site::default()).await
}

/// A server that knows how it is reached (public URL, TLS) as `reached` says.
pub async fn site_reached(reached: keyward_server::Site) -> Site {
    site_with(Arc::new(SystemClock), reached).await
}

pub async fn site_with(clock: Arc<dyn keyward_core::Clock>, reached: keyward_server::Site) -> Site {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("keyward.db")).await.unwrap();
    store.migrate().await.unwrap();
    let engine = Arc::new(Engine::new(Arc::new(store), clock, Arc::new(OsRng), EngineConfig::default()));
    let admin = engine.bootstrap().await.unwrap().unwrap().secret.expose().to_owned();
    let app = router_with(AppState::new(engine.clone()).with_site(reached), keyward_web::pages());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(serve(listener, app, std::future::pending()));
    let client = Client::builder().redirect(redirect::Policy::none()).build().unwrap();
    Site { base, admin, engine, client, _dir: dir }
}

/// The `name=value` of a `Set-Cookie` named `name`.
pub fn cookie_from(response: &Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .find(|value| value.starts_with(&format!("{name}=")))
        .map(|value| value.split(';').next().unwrap().to_owned())
}

/// The value of the hidden field `name` in a page.
pub fn field(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker).unwrap_or_else(|| panic!("no field {name} in:\n{html}")) + marker.len();
    html[start..].split('"').next().unwrap().to_owned()
}

pub fn assert_secure_page(response: &Response) {
    let csp = response.headers().get(CONTENT_SECURITY_POLICY).expect("a CSP").to_str().unwrap();
    assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(response.headers()["x-content-type-options"], "nosniff");
    assert_eq!(response.headers()["referrer-policy"], "no-referrer");
    assert_eq!(response.headers()[CACHE_CONTROL], "no-store");
}

impl Site {
    pub async fn get(&self, path: &str, cookies: &str) -> Response {
        self.client.get(format!("{}{path}", self.base)).header(COOKIE, cookies).send().await.unwrap()
    }

    pub async fn post(&self, path: &str, cookies: &str, form: &[(&str, &str)]) -> Response {
        self.client.post(format!("{}{path}", self.base)).header(COOKIE, cookies).form(form).send().await.unwrap()
    }

    pub async fn api(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        let response = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.admin)
            .json(&body)
            .send()
            .await
            .unwrap();
        response.json().await.unwrap()
    }

    /// Sets up the owner through the pages; returns the session cookie.
    pub async fn set_up_owner(&self) -> String {
        let code = self.engine.open_setup().await.unwrap().unwrap().code.expose().to_owned();
        let page = self.get(&format!("/setup?code={code}"), "").await;
        let form_cookie = cookie_from(&page, "__Host-keyward_form").unwrap();
        let token = field(&page.text().await.unwrap(), "form_token");
        let form = [
            ("form_token", token.as_str()),
            ("code", &code),
            ("email", "owner@example.com"),
            ("password", "correct horse battery"),
        ];
        let done = self.post("/setup", &form_cookie, &form).await;
        assert_eq!(done.status(), StatusCode::SEE_OTHER);
        cookie_from(&done, "__Host-keyward_session").unwrap()
    }
}

/// The location a `303 See Other` sends to.
pub fn location(response: &Response) -> String {
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "expected a redirect");
    response.headers()[LOCATION].to_str().unwrap().to_owned()
}

/// Creates a token through the form; returns its id and secret.
pub async fn create_token(site: &Site, session: &str, fields: &[(&str, &str)]) -> (String, String) {
    let html = site.get("/tokens/new", session).await.text().await.unwrap();
    let (csrf, nonce) = (field(&html, "csrf"), field(&html, "nonce"));
    let mut form = vec![("csrf", csrf.as_str()), ("nonce", nonce.as_str())];
    form.extend_from_slice(fields);
    // A token without scopes is said to be meant.
    if !fields.iter().any(|(name, _)| *name == "scope" || *name == "extra_scopes") {
        form.push(("no_scopes", "yes"));
    }
    let created = site.post("/tokens/new", session, &form).await;
    let html = created.text().await.unwrap();
    let marker = "id=\"secret\" class=\"mono\" value=\"";
    let start = html.find(marker).unwrap_or_else(|| panic!("no secret in:\n{html}")) + marker.len();
    let secret = html[start..].split('"').next().unwrap().to_owned();
    let verdict = site.api(reqwest::Method::POST, "/v1/verify", json!({"token": secret})).await;
    (verdict["token_id"].as_str().unwrap().to_owned(), secret)
}

/// Invites `email` with `role` through the members page and signs them up
/// through the invitation link; returns their session cookie.
pub async fn join_as(site: &Site, owner: &str, email: &str, role: &str) -> String {
    let csrf = field(&site.get("/members", owner).await.text().await.unwrap(), "csrf");
    let invited = site.post("/members/invite", owner, &[("csrf", &csrf), ("email", email), ("role", role)]).await;
    let html = invited.text().await.unwrap();
    let start = html.find("/setup?invitation=").unwrap_or_else(|| panic!("no link in {html}"));
    let link = html[start..].split('"').next().unwrap().to_owned();
    let landing = site.get(&link, "").await;
    let form_cookie = cookie_from(&landing, "__Host-keyward_form").unwrap();
    let html = landing.text().await.unwrap();
    let form = [
        ("form_token", field(&html, "form_token")),
        ("invitation", field(&html, "invitation")),
        ("password", "another long passphrase".to_owned()),
    ];
    let done = site.post("/setup", &form_cookie, &form.iter().map(|(n, v)| (*n, v.as_str())).collect::<Vec<_>>()).await;
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    cookie_from(&done, "__Host-keyward_session").unwrap()
}
