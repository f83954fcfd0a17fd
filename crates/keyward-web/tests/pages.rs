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
    site_with(Arc::new(SystemClock), keyward_server::Site::default()).await
}

async fn site_on(clock: Arc<dyn keyward_core::Clock>) -> Site {
    site_with(clock, keyward_server::Site::default()).await
}

/// A server that knows how it is reached (public URL, TLS) as `reached` says.
async fn site_reached(reached: keyward_server::Site) -> Site {
    site_with(Arc::new(SystemClock), reached).await
}

async fn site_with(clock: Arc<dyn keyward_core::Clock>, reached: keyward_server::Site) -> Site {
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
    // An unusable organization name is answered by its field, and kept.
    let unnamed = [
        ("form_token", token.as_str()),
        ("code", &code),
        ("email", "owner@example.com"),
        ("organization_name", "   "),
        ("password", "correct horse battery"),
    ];
    let retry = site.post("/setup", &form_cookie, &unnamed).await;
    assert_eq!(retry.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(retry.text().await.unwrap().contains("id=\"organization-error\""));

    let good = [
        ("form_token", token.as_str()),
        ("code", &code),
        ("email", "owner@example.com"),
        ("organization_name", "Acme Payments"),
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
    let organization = site.engine.store().operator_organization().await.unwrap().unwrap();
    assert_eq!(organization.name, "Acme Payments", "named at setup");

    // Renamed later from the policy page, with the change in the audit log.
    let csrf = field(&site.get("/policies", &session).await.text().await.unwrap(), "csrf");
    let blank = site.post("/policies/organization", &session, &[("csrf", &csrf), ("organization_name", "")]).await;
    assert_eq!(blank.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let renamed =
        site.post("/policies/organization", &session, &[("csrf", &csrf), ("organization_name", "Acme Inc")]).await;
    assert!(renamed.text().await.unwrap().contains("now called Acme Inc"));
    let audit = site.get("/audit?action=organization.renamed", &session).await.text().await.unwrap();
    assert!(audit.contains("Acme Payments") && audit.contains("Acme Inc"), "{audit}");
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
    // The examples make the first call with the token alone, on the sample route.
    let sample_url = format!("{}/v1/sample", site.base);
    assert_eq!(html.matches(&sample_url).count(), 5, "each example calls {sample_url}");
    assert!(html.contains("/v1/verify") && html.contains("keyward:verify"), "and the service-side check follows");
    let marker = "href=\"/tokens/";
    let start = html.find(&format!("{marker}tok_")).unwrap() + marker.len();
    let id = html[start..].split(['?', '"']).next().unwrap().to_owned();

    // Before any call, the token page says how to make one; checking says none arrived.
    let waiting = site.get(&format!("/tokens/{id}?check=1"), &session).await.text().await.unwrap();
    assert!(waiting.contains("No verified call has arrived yet") && waiting.contains(&sample_url), "{waiting}");
    let first_call =
        site.client.get(&sample_url).bearer_auth(&secret).header("user-agent", "curl/8.5.0").send().await.unwrap();
    assert_eq!(first_call.status(), StatusCode::OK);
    assert_eq!(first_call.json::<Value>().await.unwrap()["name"], "billing worker");
    site.engine.flush_usage().await.unwrap();
    let arrived = site.get(&format!("/tokens/{id}?check=1"), &session).await.text().await.unwrap();
    assert!(arrived.contains("It works: a verified call arrived") && arrived.contains("curl/8.5.0"), "{arrived}");
    assert!(!arrived.contains("No verified call yet"), "the try-it box goes once a call worked");
    assert!(!arrived.contains(&secret));
    let verdict = site.api(reqwest::Method::POST, "/v1/verify", json!({"token": secret})).await;
    assert_eq!(verdict["valid"], true, "{verdict}");
    assert_eq!(verdict["token_id"], id.as_str());

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

/// The location a `303 See Other` sends to.
fn location(response: &Response) -> String {
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "expected a redirect");
    response.headers()[LOCATION].to_str().unwrap().to_owned()
}

#[tokio::test]
async fn keyspaces_and_their_scope_catalog_are_made_and_edited_on_pages_with_errors_by_the_field() {
    let site = site().await;
    let session = site.set_up_owner().await;
    let page = site.get("/keyspaces", &session).await;
    assert_eq!(page.status(), StatusCode::OK);
    assert_secure_page(&page);
    let csrf = field(&page.text().await.unwrap(), "csrf");

    let unreadable =
        [("csrf", csrf.as_str()), ("name", "billing"), ("environment", "staging"), ("default_lifetime", "a month")];
    let refused = site.post("/keyspaces", &session, &unreadable).await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = refused.text().await.unwrap();
    assert!(html.contains("id=\"environment-error\"") && html.contains("id=\"default_lifetime-error\""), "{html}");
    assert!(html.contains("value=\"billing\"") && html.contains("value=\"a month\""), "typed input is kept");

    let made = site
        .post(
            "/keyspaces",
            &session,
            &[("csrf", &csrf), ("name", "billing"), ("environment", "live"), ("default_lifetime", "90d")],
        )
        .await;
    let path = location(&made);
    let id = path.trim_start_matches("/keyspaces/").split('?').next().unwrap().to_owned();
    let html = site.get(&path, &session).await.text().await.unwrap();
    assert!(html.contains("Keyspace created") && html.contains("90d"), "{html}");

    // A catalog line without a description is named; the text stays.
    let scopes_path = format!("/keyspaces/{id}/scopes");
    let half =
        [("csrf", csrf.as_str()), ("restrict", "catalog"), ("catalog", "invoices:read Read invoices\ninvoices:write")];
    let refused = site.post(&scopes_path, &session, &half).await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = refused.text().await.unwrap();
    assert!(html.contains("Line 2:") && html.contains("invoices:read Read invoices\ninvoices:write"), "{html}");
    let reserved = [("csrf", csrf.as_str()), ("restrict", "catalog"), ("catalog", "keyward:tokens:read Everything")];
    let html = site.post(&scopes_path, &session, &reserved).await.text().await.unwrap();
    assert!(html.contains("reserved for Keyward"), "the engine's own rules answer by the field");

    let whole = [
        ("csrf", csrf.as_str()),
        ("restrict", "catalog"),
        ("catalog", "invoices:read Read invoices\ninvoices:write Create and change invoices"),
    ];
    let saved = site.post(&scopes_path, &session, &whole).await;
    assert_eq!(saved.status(), StatusCode::OK);
    assert!(saved.text().await.unwrap().contains("2 scopes in the catalog"));
    let catalog = site.get("/scopes", &session).await.text().await.unwrap();
    assert!(catalog.contains("invoices:write") && catalog.contains("Create and change invoices"));
    let form = site.get("/tokens/new", &session).await.text().await.unwrap();
    assert!(form.contains("Create and change invoices"), "the create form offers the catalog");

    let lifecycle_path = format!("/keyspaces/{id}/lifecycle");
    let zero = [("csrf", csrf.as_str()), ("rotation_period_days", "0"), ("disable_after_inactive_days", "")];
    let refused = site.post(&lifecycle_path, &session, &zero).await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.text().await.unwrap().contains("between 1 and 3650 days"));
    let month = [("csrf", csrf.as_str()), ("rotation_period_days", "30"), ("disable_after_inactive_days", "90")];
    let html = site.post(&lifecycle_path, &session, &month).await.text().await.unwrap();
    assert!(html.contains("every 30 days") && html.contains("after 90 days unused"), "{html}");
    let keyspace = site.api(reqwest::Method::GET, &format!("/v1/keyspaces/{id}"), json!(null)).await;
    assert_eq!(keyspace["rotation_period_days"], 30, "{keyspace}");
    assert_eq!(keyspace["scope_catalog"].as_array().map(Vec::len), Some(2), "{keyspace}");

    let forged = site.post(&lifecycle_path, &session, &month[1..]).await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert_eq!(site.get("/keyspaces/ks_missing", &session).await.status(), StatusCode::NOT_FOUND);
}

/// Creates a token through the form; returns its id and secret.
async fn create_token(site: &Site, session: &str, fields: &[(&str, &str)]) -> (String, String) {
    let html = site.get("/tokens/new", session).await.text().await.unwrap();
    let (csrf, nonce) = (field(&html, "csrf"), field(&html, "nonce"));
    let mut form = vec![("csrf", csrf.as_str()), ("nonce", nonce.as_str())];
    form.extend_from_slice(fields);
    let created = site.post("/tokens/new", session, &form).await;
    let html = created.text().await.unwrap();
    let marker = "id=\"secret\" class=\"mono\" value=\"";
    let start = html.find(marker).unwrap_or_else(|| panic!("no secret in:\n{html}")) + marker.len();
    let secret = html[start..].split('"').next().unwrap().to_owned();
    let verdict = site.api(reqwest::Method::POST, "/v1/verify", json!({"token": secret})).await;
    (verdict["token_id"].as_str().unwrap().to_owned(), secret)
}

#[tokio::test]
async fn service_accounts_own_tokens_and_removing_one_takes_its_name_and_revokes_them() {
    let site = site().await;
    let session = site.set_up_owner().await;
    let keyspace =
        site.api(reqwest::Method::POST, "/v1/keyspaces", json!({"name": "jobs", "environment": "test"})).await;
    let keyspace_id = keyspace["id"].as_str().unwrap().to_owned();
    let csrf = field(&site.get("/service-accounts", &session).await.text().await.unwrap(), "csrf");

    let empty = site.post("/service-accounts", &session, &[("csrf", &csrf), ("name", " ")]).await;
    assert_eq!(empty.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let made = site.post("/service-accounts", &session, &[("csrf", &csrf), ("name", "nightly export")]).await;
    let html = site.get(&location(&made), &session).await.text().await.unwrap();
    assert!(html.contains("nightly export created"), "{html}");
    let start = html.find("<code>sa_").unwrap() + "<code>".len();
    let account = html[start..].split('<').next().unwrap().to_owned();
    let again = site.post("/service-accounts", &session, &[("csrf", &csrf), ("name", "nightly export")]).await;
    assert!(again.text().await.unwrap().contains("exists"), "a second account of the same name is refused");

    // The create form offers it as owner, preselected from its row's link.
    let form = site.get(&format!("/tokens/new?owner={account}"), &session).await.text().await.unwrap();
    assert!(form.contains(&format!("<option value=\"{account}\" selected>nightly export (service account)")), "{form}");
    let fields = [
        ("name", "export job"),
        ("keyspace_id", keyspace_id.as_str()),
        ("expires", "30d"),
        ("owner", account.as_str()),
    ];
    let (token_id, secret) = create_token(&site, &session, &fields).await;
    let record = site.api(reqwest::Method::GET, &format!("/v1/tokens/{token_id}"), json!(null)).await;
    assert_eq!(record["owner"], account.as_str(), "{record}");
    let made_up = [("name", "stray"), ("keyspace_id", keyspace_id.as_str()), ("owner", "someone-else")];
    let html = site.get("/tokens/new", &session).await.text().await.unwrap();
    let mut form = vec![("csrf", field(&html, "csrf")), ("nonce", field(&html, "nonce"))];
    form.extend(made_up.iter().map(|(name, value)| (*name, value.to_string())));
    let refused =
        site.post("/tokens/new", &session, &form.iter().map(|(n, v)| (*n, v.as_str())).collect::<Vec<_>>()).await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.text().await.unwrap().contains("id=\"owner-error\""), "only listed owners are taken");

    let confirm_path = format!("/service-accounts/{account}/remove");
    let confirm = site.get(&confirm_path, &session).await.text().await.unwrap();
    assert!(confirm.contains("<strong>1</strong> active now"), "{confirm}");
    let wrong = site.post(&confirm_path, &session, &[("csrf", &csrf), ("confirm", "nightly")]).await;
    assert_eq!(wrong.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(site.api(reqwest::Method::POST, "/v1/verify", json!({"token": secret})).await["valid"], true);
    let removed = site.post(&confirm_path, &session, &[("csrf", &csrf), ("confirm", "nightly export")]).await;
    let html = site.get(&location(&removed), &session).await.text().await.unwrap();
    assert!(html.contains("Removed nightly export. 1 token they owned was revoked"), "{html}");
    assert_eq!(site.api(reqwest::Method::POST, "/v1/verify", json!({"token": secret})).await["code"], "REVOKED");
}

/// Invites `email` with `role` through the members page and signs them up
/// through the invitation link; returns their session cookie.
async fn join_as(site: &Site, owner: &str, email: &str, role: &str) -> String {
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

#[tokio::test]
async fn members_change_role_and_leave_and_each_role_sees_only_its_pages() {
    let site = site().await;
    let owner = site.set_up_owner().await;
    let developer = join_as(&site, &owner, "dev@example.com", "developer").await;

    // A developer reads keyspaces and members but changes neither, and
    // never sees the policy.
    let nav = site.get("/tokens", &developer).await.text().await.unwrap();
    assert!(nav.contains("href=\"/keyspaces\"") && nav.contains("href=\"/service-accounts\""));
    assert!(!nav.contains("href=\"/policies\""));
    assert!(!site.get("/keyspaces", &developer).await.text().await.unwrap().contains("Create a keyspace"));
    let members = site.get("/members", &developer).await.text().await.unwrap();
    assert!(!members.contains("/remove") && !members.contains("Invite someone"));
    let policy = site.get("/policies", &developer).await;
    assert_eq!(policy.status(), StatusCode::FORBIDDEN);
    assert!(policy.text().await.unwrap().contains("Not allowed for your role"), "a page, not bare text");
    let dev_csrf = field(&nav, "csrf");
    let sneaky = site.post("/service-accounts", &developer, &[("csrf", &dev_csrf), ("name", "mine")]).await;
    assert_eq!(sneaky.status(), StatusCode::FORBIDDEN);
    let keyspace =
        site.api(reqwest::Method::POST, "/v1/keyspaces", json!({"name": "app", "environment": "test"})).await;
    let keyspace_id = keyspace["id"].as_str().unwrap().to_owned();
    let fields = [("name", "dev laptop"), ("keyspace_id", keyspace_id.as_str()), ("expires", "never")];
    let (token_id, secret) = create_token(&site, &developer, &fields).await;
    assert!(!site.get("/tokens/new", &developer).await.text().await.unwrap().contains("id=\"owner\""));

    // The owner sees where it was last used, from the verification sample
    // (one success per token per usage flush is sampled).
    site.engine.flush_usage().await.unwrap();
    let verified = site
        .api(
            reqwest::Method::POST,
            "/v1/verify",
            json!({"token": secret, "client_ip": "203.0.113.9", "user_agent": "laptop-cli/2.1"}),
        )
        .await;
    assert_eq!(verified["valid"], true);
    site.engine.flush_usage().await.unwrap();
    let table = site.get("/tokens", &owner).await.text().await.unwrap();
    assert!(table.contains("203.0.113.9 · laptop-cli/2.1"), "{table}");

    // The owner's policy flags the developer's token that never expires.
    let csrf = field(&site.get("/policies", &owner).await.text().await.unwrap(), "csrf");
    let unreadable = site.post("/policies", &owner, &[("csrf", &csrf), ("max_lifetime", "ninety days")]).await;
    assert_eq!(unreadable.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = unreadable.text().await.unwrap();
    assert!(html.contains("id=\"max_lifetime-error\"") && html.contains("value=\"ninety days\""));
    let inverted = [("csrf", csrf.as_str()), ("max_lifetime", "7d"), ("default_lifetime", "30d")];
    let html = site.post("/policies", &owner, &inverted).await.text().await.unwrap();
    assert!(html.contains("id=\"default_lifetime-error\""), "the engine's range rules answer by the field: {html}");
    let strict = [("csrf", csrf.as_str()), ("require_expiry", "on"), ("max_lifetime", "90d")];
    let saved = site.post("/policies", &owner, &strict).await;
    assert_eq!(saved.status(), StatusCode::OK);
    let html = saved.text().await.unwrap();
    assert!(
        html.contains("Policy saved") && html.contains(&format!("href=\"/tokens/{token_id}\">dev laptop")),
        "{html}"
    );
    let policy = site.api(reqwest::Method::GET, "/v1/token-policy", json!(null)).await;
    assert_eq!(policy["max_lifetime_seconds"], 90 * 86_400, "{policy}");

    // Role change, then removal with the email typed.
    let members = site.get("/members", &owner).await.text().await.unwrap();
    let start = members.find("/members/usr_").unwrap() + "/members/".len();
    let user_id = members[start..].split('/').next().unwrap().to_owned();
    let changed = site.post(&format!("/members/{user_id}/role"), &owner, &[("csrf", &csrf), ("role", "viewer")]).await;
    let html = site.get(&location(&changed), &owner).await.text().await.unwrap();
    assert!(html.contains("dev@example.com&#39;s role is changed"), "{html}");
    assert_eq!(site.get("/tokens/new", &developer).await.status(), StatusCode::FORBIDDEN, "a viewer cannot create");
    let remove_path = format!("/members/{user_id}/remove");
    assert!(site.get(&remove_path, &owner).await.text().await.unwrap().contains("<strong>1</strong> active now"));
    let wrong = site.post(&remove_path, &owner, &[("csrf", &csrf), ("confirm", "dev")]).await;
    assert_eq!(wrong.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let removed = site.post(&remove_path, &owner, &[("csrf", &csrf), ("confirm", "DEV@example.com")]).await;
    let html = site.get(&location(&removed), &owner).await.text().await.unwrap();
    assert!(html.contains("Removed dev@example.com. 1 token they owned was revoked"), "{html}");
    assert_eq!(site.api(reqwest::Method::POST, "/v1/verify", json!({"token": secret})).await["code"], "REVOKED");
    assert_eq!(location(&site.get("/tokens", &developer).await), "/sign-in", "their session ended");
}

#[tokio::test]
async fn column_headers_sort_the_whole_list_across_pages_and_keep_the_filters() {
    let site = site().await;
    let session = site.set_up_owner().await;
    let keyspace =
        site.api(reqwest::Method::POST, "/v1/keyspaces", json!({"name": "sorting", "environment": "test"})).await;
    let keyspace_id = keyspace["id"].as_str().unwrap();
    // 52 tokens: more than a page of 50 (the search for "e" leaves out the
    // admin token). "able" is made last, so newest
    // first puts it on page one and name order too; "zebra" first, so it is
    // on page two of both.
    let mut names: Vec<String> = vec!["zebra".into()];
    names.extend((0..50).map(|n| format!("service {n:02}")));
    names.push("able".into());
    for name in &names {
        let body = json!({"keyspace_id": keyspace_id, "name": name, "scopes": []});
        assert!(site.api(reqwest::Method::POST, "/v1/tokens", body).await["token"].is_string());
    }
    let rows = |html: &str| -> Vec<String> {
        html.split("<tr data-name=\"").skip(1).map(|row| row.split('"').next().unwrap().to_owned()).collect()
    };

    let newest = site.get("/tokens?q=e", &session).await.text().await.unwrap();
    assert!(
        newest.contains(r#"aria-sort="descending"><a class="sort" href="/tokens?q=e&#38;order=created">Created"#),
        "{newest}"
    );
    assert!(newest.contains(r#"aria-sort="none"><a class="sort" href="/tokens?q=e&#38;order=name">Name"#));
    assert_eq!(rows(&newest)[0], "able");
    assert!(!rows(&newest).contains(&"zebra".to_owned()), "zebra, made first, is on page two");

    let by_name = site.get("/tokens?q=e&order=name", &session).await.text().await.unwrap();
    assert!(by_name.contains(r#"aria-sort="ascending"><a class="sort" href="/tokens?q=e&#38;order=-name">Name"#));
    assert!(by_name.contains(r#"name="order" value="name""#), "a new search keeps the order");
    let first_page = rows(&by_name);
    assert_eq!(first_page.len(), 50);
    assert_eq!(first_page[..3], ["able", "service 00", "service 01"]);
    let marker = "<p class=\"pager\"><a href=\"";
    let start = by_name.find(marker).expect("a next page") + marker.len();
    let next = by_name[start..].split('"').next().unwrap().replace("&#38;", "&");
    assert!(next.contains("order=name") && next.contains("q=e"), "{next}");
    let second_page = rows(&site.get(&next, &session).await.text().await.unwrap());
    assert_eq!(second_page, ["service 49", "zebra"], "the sort covers every page, not just the first");

    let backwards = site.get("/tokens?q=e&order=-name", &session).await.text().await.unwrap();
    assert_eq!(rows(&backwards)[..2], ["zebra", "service 49"]);
    // A page link from another order starts over rather than mixing orders.
    let mixed = site.get(&next.replace("order=name", "order=-created"), &session).await.text().await.unwrap();
    assert!(mixed.contains("not valid any more") && rows(&mixed)[0] == "able", "{mixed}");
    let unknown = site.get("/tokens?order=popularity", &session).await.text().await.unwrap();
    assert!(unknown.contains("not one Keyward knows; showing the newest first"));
}

/// Over plain HTTP at a network address the browser drops the `Secure`
/// cookies; the screens say so and what to do, rather than loop on an
/// expired form. Loopback names keep working.
#[tokio::test]
async fn screens_reached_over_plain_http_at_a_network_address_explain_what_to_do() {
    let site = site().await;
    for path in ["/sign-in", "/setup?code=kwsetup_anything", "/tokens"] {
        let response =
            site.client.get(format!("{}{path}", site.base)).header("host", "192.0.2.10:8420").send().await.unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{path}");
        assert!(response.headers().get(SET_COOKIE).is_none(), "{path}: no cookie the browser would drop");
        let html = response.text().await.unwrap();
        assert!(html.contains("Open Keyward over HTTPS"), "{html}");
        assert!(html.contains("http://192.0.2.10:8420"), "names the address used: {html}");
        assert!(html.contains("tls_cert_file") && html.contains("public_url"), "says what to set: {html}");
    }
    let css = site.client.get(format!("{}/assets/app.css", site.base)).header("host", "192.0.2.10:8420").send();
    assert_eq!(css.await.unwrap().status(), StatusCode::OK, "the explanation page keeps its style");
    for host in ["localhost:8420", "127.0.0.1:8420", "[::1]:8420"] {
        let response = site.client.get(format!("{}/sign-in", site.base)).header("host", host).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{host}");
    }
    // The API is not a browser's: it answers anywhere.
    let api = site.client.get(format!("{}/healthz", site.base)).header("host", "192.0.2.10:8420").send();
    assert_eq!(api.await.unwrap().status(), StatusCode::OK);
}

/// Behind a TLS proxy, `public_url` makes the screens usable from any
/// address, puts the public origin in every shown link and example, and
/// refuses forms posted from any other origin.
#[tokio::test]
async fn public_url_is_used_in_links_and_decides_where_forms_may_come_from() {
    let reached = keyward_server::Site::new(Some("https://keys.example.com"), false).unwrap();
    let site = site_reached(reached).await;
    let proxied = site.client.get(format!("{}/sign-in", site.base)).header("host", "10.1.2.3:8420").send();
    assert_eq!(proxied.await.unwrap().status(), StatusCode::OK, "a proxy's Host does not matter");
    let hsts = site.get("/sign-in", "").await.headers().get("strict-transport-security").cloned();
    assert!(hsts.is_some(), "an https public URL is announced with HSTS");

    let owner = site.set_up_owner().await;
    let csrf = field(&site.get("/members", &owner).await.text().await.unwrap(), "csrf");
    let invited = site
        .post("/members/invite", &owner, &[("csrf", &csrf), ("email", "dev@example.com"), ("role", "developer")])
        .await
        .text()
        .await
        .unwrap();
    assert!(invited.contains("https://keys.example.com/setup?invitation="), "{invited}");
    let keyspace =
        site.api(reqwest::Method::POST, "/v1/keyspaces", json!({"name": "payments", "environment": "live"})).await;
    let keyspace_id = keyspace["id"].as_str().unwrap().to_owned();
    let html = site.get("/tokens/new", &owner).await.text().await.unwrap();
    let (csrf, nonce) = (field(&html, "csrf"), field(&html, "nonce"));
    let fields = [("csrf", csrf.as_str()), ("nonce", &nonce), ("name", "ci"), ("keyspace_id", &keyspace_id)];
    let created = site.post("/tokens/new", &owner, &fields).await;
    let shown = created.text().await.unwrap();
    assert!(shown.contains("https://keys.example.com/v1/sample"), "examples call the public origin: {shown}");

    // The same valid form, posted from elsewhere, changes nothing.
    let html = site.get("/tokens/new", &owner).await.text().await.unwrap();
    let (csrf, nonce) = (field(&html, "csrf"), field(&html, "nonce"));
    let form = [("csrf", csrf.as_str()), ("nonce", nonce.as_str()), ("name", "planted"), ("keyspace_id", &keyspace_id)];
    for (origin, fetch_site) in [("https://evil.example", "cross-site"), ("https://other.example.com", "same-site")] {
        let refused = site
            .client
            .post(format!("{}/tokens/new", site.base))
            .header(COOKIE, &owner)
            .header("origin", origin)
            .header("sec-fetch-site", fetch_site)
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), StatusCode::FORBIDDEN, "{origin}");
        let html = refused.text().await.unwrap();
        assert!(html.contains(origin) && html.contains("https://keys.example.com"), "{html}");
    }
    let listed = site.api(reqwest::Method::GET, "/v1/tokens?limit=100", json!(null)).await.to_string();
    assert!(!listed.contains("planted"), "a refused form creates nothing");
    let accepted = site
        .client
        .post(format!("{}/tokens/new", site.base))
        .header(COOKIE, &owner)
        .header("origin", "https://keys.example.com")
        .header("sec-fetch-site", "same-origin")
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(accepted.status(), StatusCode::OK, "the public origin's own form goes through");
}

#[tokio::test]
async fn a_session_mints_a_management_token_only_shortly_after_typing_its_password() {
    let clock = Arc::new(keyward_core::ManualClock::new(chrono::Utc::now()));
    let site = site_on(clock.clone()).await;
    let session = site.set_up_owner().await;
    let keyspaces = site.api(reqwest::Method::GET, "/v1/keyspaces", json!(null)).await;
    let management = keyspaces["data"].as_array().unwrap().iter().find(|k| k["management"] == true).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mint = |name: &'static str| {
        let (site, session, management) = (&site, session.clone(), management.clone());
        async move {
            let html = site.get("/tokens/new", &session).await.text().await.unwrap();
            let (csrf, nonce) = (field(&html, "csrf"), field(&html, "nonce"));
            let form = [
                ("csrf", csrf.as_str()),
                ("nonce", nonce.as_str()),
                ("name", name),
                ("keyspace_id", management.as_str()),
                ("extra_scopes", "keyward:tokens:read"),
            ];
            site.post("/tokens/new", &session, &form).await.text().await.unwrap()
        }
    };

    // Eleven minutes after signing in, the password is asked for again.
    clock.advance_secs(11 * 60);
    let refused = mint("laptop cli").await;
    assert!(refused.contains("needs your password typed within the last 10 minutes"), "{refused}");
    let cookie_api = |path: &'static str, csrf: String, body: Value| {
        let (site, session) = (&site, session.clone());
        async move {
            site.client
                .post(format!("{}{path}", site.base))
                .header(COOKIE, session)
                .header("x-csrf-token", csrf)
                .json(&body)
                .send()
                .await
                .unwrap()
        }
    };
    let current: Value = site.get("/v1/sessions/current", &session).await.json().await.unwrap();
    let csrf = current["csrf_token"].as_str().unwrap().to_owned();
    let management_body = json!({"keyspace_id": management, "name": "api cli", "scopes": ["keyward:tokens:read"]});
    let api_refused = cookie_api("/v1/tokens", csrf.clone(), management_body.clone()).await;
    assert_eq!(api_refused.status(), StatusCode::FORBIDDEN);
    assert_eq!(api_refused.json::<Value>().await.unwrap()["code"], "sudo_required");

    // A wrong password is refused and audited; the right one opens the window.
    let wrong = cookie_api("/v1/sessions/current/confirm-password", csrf.clone(), json!({"password": "nope"})).await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let forged = cookie_api("/v1/sessions/current/confirm-password", "forged".into(), json!({"password": "x"})).await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN, "CSRF protected like every cookie call");
    let body = json!({"password": "correct horse battery"});
    let confirmed = cookie_api("/v1/sessions/current/confirm-password", csrf.clone(), body).await;
    assert_eq!(confirmed.status(), StatusCode::NO_CONTENT);
    let minted = mint("laptop cli").await;
    assert!(minted.contains("id=\"secret\""), "{minted}");
    assert_eq!(cookie_api("/v1/tokens", csrf, management_body).await.status(), StatusCode::CREATED);
    let audit = site.api(reqwest::Method::GET, "/v1/audit?action=session.sudo_failed", json!(null)).await;
    assert_eq!(audit["data"].as_array().unwrap().len(), 1);
    let audit = site.api(reqwest::Method::GET, "/v1/audit?action=session.sudo_granted", json!(null)).await;
    assert_eq!(audit["data"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_token_page_names_the_management_token_that_made_it() {
    let site = site().await;
    let session = site.set_up_owner().await;
    let keyspace =
        site.api(reqwest::Method::POST, "/v1/keyspaces", json!({"name": "payments", "environment": "test"})).await;
    let body = json!({"keyspace_id": keyspace["id"], "name": "made by a token", "scopes": ["invoices:read"]});
    let created = site.api(reqwest::Method::POST, "/v1/tokens", body).await;
    let parent = created["parent_token_id"].as_str().unwrap().to_owned();
    assert!(parent.starts_with("tok_"), "{created}");
    let page = site.get(&format!("/tokens/{}", created["id"].as_str().unwrap()), &session).await;
    let html = page.text().await.unwrap();
    assert!(html.contains("Created by token") && html.contains(&parent), "{html}");
    assert!(html.contains(&format!("/audit?actor={parent}")));
}

#[tokio::test]
async fn sign_ins_failures_sign_outs_and_password_changes_reach_the_audit_page_with_address_and_agent() {
    let site = site().await;
    let first = site.set_up_owner().await;
    let with_agent = |request: reqwest::RequestBuilder| request.header(reqwest::header::USER_AGENT, "AuditBrowser/2.0");
    let csrf = field(&site.get("/tokens", &first).await.text().await.unwrap(), "csrf");
    let out =
        with_agent(site.client.post(format!("{}/sign-out", site.base)).header(COOKIE, &first).form(&[("csrf", &csrf)]));
    assert_eq!(out.send().await.unwrap().status(), StatusCode::SEE_OTHER);

    let page = site.get("/sign-in", "").await;
    let form_cookie = cookie_from(&page, "__Host-keyward_form").unwrap();
    let token = field(&page.text().await.unwrap(), "form_token");
    let sign_in = |email: &'static str, password: &'static str| {
        let form = [("form_token", token.clone()), ("email", email.into()), ("password", password.into())];
        with_agent(site.client.post(format!("{}/sign-in", site.base)).header(COOKIE, &form_cookie).form(&form)).send()
    };
    let wrong = sign_in("owner@example.com", "wrong password!").await.unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let unknown = sign_in("stranger@example.com", "wrong password!").await.unwrap();
    assert_eq!(unknown.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        wrong.text().await.unwrap().replace("owner@example.com", "stranger@example.com"),
        unknown.text().await.unwrap(),
        "an unknown account reads exactly like a wrong password"
    );
    let right = sign_in("owner@example.com", "correct horse battery").await.unwrap();
    assert_eq!(right.status(), StatusCode::SEE_OTHER);
    let session = cookie_from(&right, "__Host-keyward_session").unwrap();

    // A second browser, signed in elsewhere: the change ends it.
    let other = sign_in("owner@example.com", "correct horse battery").await.unwrap();
    let other = cookie_from(&other, "__Host-keyward_session").unwrap();
    let account = site.get("/account", &session).await;
    assert_eq!(account.status(), StatusCode::OK);
    let csrf = field(&account.text().await.unwrap(), "csrf");
    let change = |current: &'static str| {
        let form = [("csrf", csrf.as_str()), ("current_password", current), ("new_password", "a brand new passphrase")];
        with_agent(site.client.post(format!("{}/account", site.base)).header(COOKIE, &session).form(&form)).send()
    };
    let refused = change("not my password").await.unwrap();
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.text().await.unwrap().contains("not your current password"));
    let changed = change("correct horse battery").await.unwrap();
    assert_eq!(changed.status(), StatusCode::OK);
    assert!(changed.text().await.unwrap().contains("signed out everywhere else"));
    assert_eq!(site.get("/tokens", &other).await.status(), StatusCode::SEE_OTHER, "the other session ended");
    assert_eq!(site.get("/tokens", &session).await.status(), StatusCode::OK, "this one stays");
    assert_eq!(sign_in("owner@example.com", "correct horse battery").await.unwrap().status(), StatusCode::UNAUTHORIZED);

    let audit = site.get("/audit", &session).await;
    assert_eq!(audit.status(), StatusCode::OK);
    let html = audit.text().await.unwrap();
    for action in ["session.signed_in", "session.sign_in_failed", "session.signed_out", "account.password_changed"] {
        assert!(html.contains(action), "{action} is on the audit page");
    }
    assert!(html.contains("owner@example.com signed in from 127.0.0.1, with AuditBrowser/2.0 (password)"), "{html}");
    assert!(html.contains("Sign-in as stranger@example.com failed from 127.0.0.1, with AuditBrowser/2.0"));
    assert!(html.contains("Signed out from 127.0.0.1, with AuditBrowser/2.0"));
    assert!(html.contains("owner@example.com changed their password from 127.0.0.1"));
    for password in ["wrong password!", "correct horse battery", "a brand new passphrase", "not my password"] {
        assert!(!html.contains(password), "no password is logged");
    }
}

#[tokio::test]
async fn a_page_refused_for_a_role_is_audited_like_an_api_call() {
    let site = site().await;
    let owner = site.set_up_owner().await;
    let invitation =
        site.api(reqwest::Method::POST, "/v1/invitations", json!({"email": "v@example.com", "role": "viewer"})).await;
    let joined = site
        .client
        .post(format!("{}/v1/invitations/accept", site.base))
        .json(&json!({"token": invitation["token"], "password": "viewer password 1"}))
        .send()
        .await
        .unwrap();
    let viewer = cookie_from(&joined, "__Host-keyward_session").unwrap();
    assert_eq!(site.get("/policies", &viewer).await.status(), StatusCode::FORBIDDEN);
    let html = site.get("/audit?action=security.access_denied", &owner).await.text().await.unwrap();
    assert!(html.contains("Refused GET /policies from 127.0.0.1: insufficient scope"), "{html}");
}

#[tokio::test]
async fn refusals_come_from_the_engine_with_the_same_page_status_and_audit() {
    let site = site().await;
    let owner = site.set_up_owner().await;
    let developer = join_as(&site, &owner, "dev@example.com", "developer").await;
    let keyspace =
        site.api(reqwest::Method::POST, "/v1/keyspaces", json!({"name": "app", "environment": "test"})).await;
    let keyspace_id = keyspace["id"].as_str().unwrap().to_owned();
    let fields = [("name", "owner's job"), ("keyspace_id", keyspace_id.as_str()), ("expires", "never")];
    let (token_id, secret) = create_token(&site, &owner, &fields).await;

    // Pages that must refuse before reading a form ask the engine, which
    // answers with the refusal page, its status and its audit.
    let remove = site.get("/members/usr_anyone/remove", &developer).await;
    assert_eq!(remove.status(), StatusCode::FORBIDDEN);
    assert!(remove.text().await.unwrap().contains("Not allowed for your role"));

    // A developer revoking someone else's token is told so, as the API
    // tells it, and the refusal is audited; the token stays valid.
    let csrf = field(&site.get(&format!("/tokens/{token_id}"), &developer).await.text().await.unwrap(), "csrf");
    let refused = site.post(&format!("/tokens/{token_id}/revoke"), &developer, &[("csrf", &csrf)]).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert!(refused.text().await.unwrap().contains("Not your token"));
    assert_eq!(site.api(reqwest::Method::POST, "/v1/verify", json!({"token": secret})).await["valid"], true);
    let html = site.get("/audit?action=security.access_denied", &owner).await.text().await.unwrap();
    assert!(html.contains("Refused GET /members/{id}/remove from 127.0.0.1: insufficient scope"), "{html}");
    assert!(html.contains("Refused POST /tokens/{id}/revoke from 127.0.0.1: not token owner"), "{html}");
}
