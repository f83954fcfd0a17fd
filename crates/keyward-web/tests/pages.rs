//! The web screens over HTTP against a real server on 127.0.0.1:0 and a
//! real SQLite store: setup from the printed code, sign-in, the tokens
//! table, creation with the secret shown once, revocation, and the
//! security headers and CSRF checks on every step.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use keyward_core::{OsRng, SystemClock};
use keyward_engine::{Engine, EngineConfig};
use keyward_server::{router_with, serve, AppState};
use keyward_store::Store;
use keyward_store_sqlite::SqliteStore;
use reqwest::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, COOKIE, LOCATION, SET_COOKIE};
use reqwest::{redirect, Client, Response, StatusCode};
use serde_json::{json, Value};

struct Site {
    base: String,
    admin: String,
    engine: Arc<Engine>,
    client: Client,
    _dir: tempfile::TempDir,
}

async fn site() -> Site {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("keyward.db")).await.unwrap();
    store.migrate().await.unwrap();
    let engine =
        Arc::new(Engine::new(Arc::new(store), Arc::new(SystemClock), Arc::new(OsRng), EngineConfig::default()));
    let admin = engine.bootstrap().await.unwrap().unwrap().secret.expose().to_owned();
    let app = router_with(AppState::new(engine.clone()), keyward_web::pages());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(serve(listener, app, std::future::pending()));
    let client = Client::builder().redirect(redirect::Policy::none()).build().unwrap();
    Site { base, admin, engine, client, _dir: dir }
}

/// The `name=value` of a `Set-Cookie` named `name`.
fn cookie_from(response: &Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .find(|value| value.starts_with(&format!("{name}=")))
        .map(|value| value.split(';').next().unwrap().to_owned())
}

/// The value of the hidden field `name` in a page.
fn field(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker).unwrap_or_else(|| panic!("no field {name} in:\n{html}")) + marker.len();
    html[start..].split('"').next().unwrap().to_owned()
}

fn assert_secure_page(response: &Response) {
    let csp = response.headers().get(CONTENT_SECURITY_POLICY).expect("a CSP").to_str().unwrap();
    assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(response.headers()["x-content-type-options"], "nosniff");
    assert_eq!(response.headers()["referrer-policy"], "no-referrer");
    assert_eq!(response.headers()[CACHE_CONTROL], "no-store");
}

impl Site {
    async fn get(&self, path: &str, cookies: &str) -> Response {
        self.client.get(format!("{}{path}", self.base)).header(COOKIE, cookies).send().await.unwrap()
    }

    async fn post(&self, path: &str, cookies: &str, form: &[(&str, &str)]) -> Response {
        self.client.post(format!("{}{path}", self.base)).header(COOKIE, cookies).form(form).send().await.unwrap()
    }

    async fn api(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
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
    async fn set_up_owner(&self) -> String {
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

#[tokio::test]
async fn setup_takes_the_printed_code_once_keeps_typed_input_and_lands_on_the_tokens_screen() {
    let site = site().await;
    assert!(site.get("/setup?code=kwsetup_nope", "").await.status() == StatusCode::NOT_FOUND);
    let code = site.engine.open_setup().await.unwrap().expect("a fresh install offers setup").code.expose().to_owned();

    let page = site.get(&format!("/setup?code={code}"), "").await;
    assert_eq!(page.status(), StatusCode::OK);
    assert_secure_page(&page);
    let form_cookie = cookie_from(&page, "__Host-keyward_form").expect("a form cookie");
    let html = page.text().await.unwrap();
    assert!(html.contains("operator"), "names the organization to be owned");
    let token = field(&html, "form_token");

    // Without the form cookie's token the post is refused, and the code stays good.
    let forged = site
        .post("/setup", "", &[("code", &code), ("email", "x@example.com"), ("password", "correct horse battery")])
        .await;
    assert_eq!(forged.status(), StatusCode::OK);
    assert!(forged.text().await.unwrap().contains("This form expired"));

    // A short password: the message sits by the field, the email is kept, the password is not.
    let short =
        [("form_token", token.as_str()), ("code", &code), ("email", "owner@example.com"), ("password", "short-pw")];
    let retry = site.post("/setup", &form_cookie, &short).await;
    assert_eq!(retry.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = retry.text().await.unwrap();
    assert!(html.contains("id=\"password-error\""), "{html}");
    assert!(html.contains("value=\"owner@example.com\""));
    assert!(!html.contains("short-pw"));

    let good = [
        ("form_token", token.as_str()),
        ("code", &code),
        ("email", "owner@example.com"),
        ("password", "correct horse battery"),
    ];
    let done = site.post("/setup", &form_cookie, &good).await;
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    assert_eq!(done.headers()[LOCATION], "/tokens?welcome=1");
    let session = cookie_from(&done, "__Host-keyward_session").expect("signed in");
    let set_cookie = done.headers()[SET_COOKIE].to_str().unwrap().to_owned();
    assert!(set_cookie.contains("HttpOnly") && set_cookie.contains("Secure") && set_cookie.contains("SameSite=Strict"));

    // Single use: the same link now explains itself, and no second setup is offered.
    assert_eq!(site.post("/setup", &form_cookie, &good).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(site.get(&format!("/setup?code={code}"), "").await.status(), StatusCode::NOT_FOUND);
    assert!(site.engine.open_setup().await.unwrap().is_none(), "the organization has an owner now");

    let tokens = site.get("/tokens?welcome=1", &session).await;
    assert_eq!(tokens.status(), StatusCode::OK);
    assert_secure_page(&tokens);
    let html = tokens.text().await.unwrap();
    assert!(html.contains("Your account is ready") && html.contains("Create your first token"), "{html}");

    // The owner is a member with the owner role, as the API sees it.
    let members = site.api(reqwest::Method::GET, "/v1/members", json!(null)).await;
    assert_eq!(members["data"][0]["email"], "owner@example.com", "{members}");
    assert_eq!(members["data"][0]["role"], "owner");
}

#[tokio::test]
async fn pages_need_a_session_and_sign_in_is_protected_against_forged_forms() {
    let site = site().await;
    let session = site.set_up_owner().await;
    let anonymous = site.get("/tokens", "").await;
    assert_eq!(anonymous.status(), StatusCode::SEE_OTHER);
    assert_eq!(anonymous.headers()[LOCATION], "/sign-in");

    // Signing out needs the session's CSRF token.
    let tokens_html = site.get("/tokens", &session).await.text().await.unwrap();
    assert_eq!(site.post("/sign-out", &session, &[("csrf", "forged")]).await.status(), StatusCode::FORBIDDEN);
    let csrf = field(&tokens_html, "csrf");
    let out = site.post("/sign-out", &session, &[("csrf", &csrf)]).await;
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    assert!(out.headers()[SET_COOKIE].to_str().unwrap().contains("Max-Age=0"));
    assert_eq!(site.get("/tokens", &session).await.status(), StatusCode::SEE_OTHER, "the session ended");

    let page = site.get("/sign-in", "").await;
    assert_secure_page(&page);
    let form_cookie = cookie_from(&page, "__Host-keyward_form").unwrap();
    let token = field(&page.text().await.unwrap(), "form_token");
    let forged =
        site.post("/sign-in", "", &[("email", "owner@example.com"), ("password", "correct horse battery")]).await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let wrong = site
        .post(
            "/sign-in",
            &form_cookie,
            &[("form_token", &token), ("email", "owner@example.com"), ("password", "wrong password!")],
        )
        .await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let html = wrong.text().await.unwrap();
    assert!(
        html.contains("do not match")
            && html.contains("value=\"owner@example.com\"")
            && !html.contains("wrong password!")
    );
    let right = site
        .post(
            "/sign-in",
            &form_cookie,
            &[("form_token", &token), ("email", "owner@example.com"), ("password", "correct horse battery")],
        )
        .await;
    assert_eq!(right.status(), StatusCode::SEE_OTHER);
    assert_eq!(right.headers()[LOCATION], "/tokens");
    assert!(cookie_from(&right, "__Host-keyward_session").is_some());
}

#[tokio::test]
async fn a_token_is_created_once_shown_once_listed_masked_and_revoked_with_its_name_typed() {
    let site = site().await;
    let session = site.set_up_owner().await;
    let keyspace =
        site.api(reqwest::Method::POST, "/v1/keyspaces", json!({"name": "payments", "environment": "live"})).await;
    let keyspace_id = keyspace["id"].as_str().unwrap().to_owned();

    let form_page = site.get("/tokens/new", &session).await;
    assert_eq!(form_page.status(), StatusCode::OK);
    let html = form_page.text().await.unwrap();
    assert!(html.contains("payments (live)"));
    assert!(!html.contains("checked"), "nothing is preselected");
    let (csrf, nonce) = (field(&html, "csrf"), field(&html, "nonce"));
    let mut form = vec![
        ("csrf", csrf.as_str()),
        ("nonce", nonce.as_str()),
        ("name", "billing worker"),
        ("keyspace_id", keyspace_id.as_str()),
        ("extra_scopes", "invoices:read"),
        ("expires", "30d"),
        ("metadata", "{not json"),
    ];

    // Bad metadata: the message is by the field and everything typed is kept.
    let invalid = site.post("/tokens/new", &session, &form).await;
    assert_eq!(invalid.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = invalid.text().await.unwrap();
    assert!(
        html.contains("id=\"metadata-error\"")
            && html.contains("value=\"billing worker\"")
            && html.contains("{not json")
    );
    form.retain(|(name, _)| *name != "metadata");

    // A forged form (no CSRF token) creates nothing.
    let forged: Vec<_> = form.iter().filter(|(name, _)| *name != "csrf").cloned().collect();
    assert_eq!(site.post("/tokens/new", &session, &forged).await.status(), StatusCode::FORBIDDEN);

    let created = site.post("/tokens/new", &session, &form).await;
    assert_eq!(created.status(), StatusCode::OK);
    assert_secure_page(&created);
    let html = created.text().await.unwrap();
    let marker = "id=\"secret\" class=\"mono\" value=\"";
    let start = html.find(marker).unwrap_or_else(|| panic!("no secret in:\n{html}")) + marker.len();
    let secret = html[start..].split('"').next().unwrap().to_owned();
    assert!(secret.starts_with("kw_live_"), "{secret}");
    assert!(html.contains("will not be shown again") && html.contains("invoices:read"));
    for language in ["curl", "Python", "JavaScript", "Go", "Rust"] {
        assert!(html.contains(&format!("<summary>{language}</summary>")), "{language} example");
    }
    let verdict = site.api(reqwest::Method::POST, "/v1/verify", json!({"token": secret})).await;
    assert_eq!(verdict["valid"], true, "{verdict}");
    let id = verdict["token_id"].as_str().unwrap().to_owned();

    // The same form again (double click, reload, back): no second token, no secret.
    let again = site.post("/tokens/new", &session, &form).await;
    assert_eq!(again.status(), StatusCode::SEE_OTHER);
    assert_eq!(again.headers()[LOCATION].to_str().unwrap(), format!("/tokens/{id}?resubmitted=1"));
    let listed = site.api(reqwest::Method::GET, &format!("/v1/tokens?keyspace_id={keyspace_id}"), json!(null)).await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 1, "{listed}");

    // Everywhere else: the mask, never the secret.
    let table = site.get("/tokens", &session).await.text().await.unwrap();
    assert!(table.contains("billing worker") && table.contains(&secret[secret.len() - 4..]));
    assert!(!table.contains(&secret));
    let detail = site.get(&format!("/tokens/{id}?resubmitted=1"), &session).await.text().await.unwrap();
    assert!(detail.contains("not shown again") && !detail.contains(&secret));
    let filtered = site.get("/tokens?state=revoked", &session).await.text().await.unwrap();
    assert!(filtered.contains("No tokens match"));

    // Live keyspace: revoking takes the name typed exactly.
    let csrf = field(&detail, "csrf");
    let wrong = site.post(&format!("/tokens/{id}/revoke"), &session, &[("csrf", &csrf), ("confirm", "billing")]).await;
    assert_eq!(wrong.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(site.api(reqwest::Method::POST, "/v1/verify", json!({"token": secret})).await["valid"], true);
    let revoked =
        site.post(&format!("/tokens/{id}/revoke"), &session, &[("csrf", &csrf), ("confirm", "billing worker")]).await;
    assert_eq!(revoked.status(), StatusCode::SEE_OTHER);
    assert_eq!(site.api(reqwest::Method::POST, "/v1/verify", json!({"token": secret})).await["code"], "REVOKED");
    let detail = site.get(&format!("/tokens/{id}?revoked=1"), &session).await.text().await.unwrap();
    assert!(detail.contains("Token revoked") && detail.contains("state-revoked"));
}
