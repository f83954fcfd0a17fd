//! People over HTTP: invitations, sign-in with `__Host-` session cookies and
//! CSRF tokens, throttled guessing, the role matrix on every endpoint, and
//! what removing a member or service account revokes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;

use common::{management_keyspace, problem, sqlite_server, start, start_with, TestServer};
use keyward_engine::EngineConfig;
use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Value};

/// A signed-in browser: the cookie it would send and the CSRF token the page holds.
#[derive(Clone)]
struct Browser {
    cookie: String,
    csrf: String,
    user_id: String,
}

impl TestServer {
    async fn send(&self, method: Method, path: &str, browser: &Browser, body: Option<Value>) -> Response {
        let mut request = self
            .client
            .request(method, self.url(path))
            .header("cookie", format!("theme=dark; __Host-keyward_session={}", browser.cookie))
            .header("x-csrf-token", &browser.csrf);
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.unwrap()
    }

    async fn invite(&self, token: &str, email: &str, role: &str) -> String {
        let response = self.post("/v1/invitations", token, json!({"email": email, "role": role})).await;
        assert_eq!(response.status(), StatusCode::CREATED, "{}", response.text().await.unwrap());
        assert_eq!(response.headers()["cache-control"], "no-store");
        let body: Value = response.json().await.unwrap();
        body["token"].as_str().unwrap().to_owned()
    }

    async fn accept(&self, invitation: &str, password: &str) -> Browser {
        let response = self
            .client
            .post(self.url("/v1/invitations/accept"))
            .json(&json!({"token": invitation, "password": password}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED, "{}", response.text().await.unwrap());
        browser(response).await
    }

    async fn sign_in_from(&self, email: &str, password: &str, address: &str) -> Response {
        self.client
            .post(self.url("/v1/sessions"))
            .header("x-forwarded-for", address)
            .json(&json!({"email": email, "password": password}))
            .send()
            .await
            .unwrap()
    }

    async fn join(&self, email: &str, role: &str) -> Browser {
        let invitation = self.invite(&self.admin, email, role).await;
        self.accept(&invitation, PASSWORD).await
    }
}

const PASSWORD: &str = "correct horse battery staple";

/// The session a response started, checking the cookie's attributes.
async fn browser(response: Response) -> Browser {
    let cookie = response.headers()["set-cookie"].to_str().unwrap().to_owned();
    let (pair, attributes) = cookie.split_once(';').unwrap();
    let secret = pair.strip_prefix("__Host-keyward_session=").unwrap().to_owned();
    assert!(secret.starts_with("kws_"), "{cookie}");
    for attribute in ["Path=/", "Secure", "HttpOnly", "SameSite=Strict", "Max-Age=43200"] {
        assert!(attributes.split(';').any(|a| a.trim() == attribute), "{attribute} missing in {cookie}");
    }
    assert!(!attributes.contains("Domain"), "__Host- cookies carry no Domain");
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.unwrap();
    assert!(!body.to_string().contains(&secret), "the session secret travels only in the cookie");
    Browser {
        cookie: secret,
        csrf: body["csrf_token"].as_str().unwrap().to_owned(),
        user_id: body["user_id"].as_str().unwrap().to_owned(),
    }
}

#[tokio::test]
async fn people_join_by_invitation_and_act_through_session_cookies() {
    let server = sqlite_server().await;
    let invitation = server.invite(&server.admin, "Ada@Example.com", "owner").await;
    assert!(invitation.starts_with("kwi_"));
    let pending: Value = server.get("/v1/invitations", &server.admin).await.json().await.unwrap();
    assert_eq!(pending["data"][0]["email"], "ada@example.com", "emails are normalized");
    assert!(!pending.to_string().contains(&invitation), "listed without its secret");

    let accept = |password: &'static str| {
        server
            .client
            .post(server.url("/v1/invitations/accept"))
            .json(&json!({"token": invitation, "password": password}))
    };
    let short = problem(accept("short").send().await.unwrap(), StatusCode::BAD_REQUEST, "invalid_field").await;
    assert_eq!(short["field"], "password");
    assert!(!short.to_string().contains("short\""), "the password is never echoed");
    let ada = server.accept(&invitation, PASSWORD).await;
    problem(accept(PASSWORD).send().await.unwrap(), StatusCode::NOT_FOUND, "invitation_invalid").await;

    let me: Value = server.send(Method::GET, "/v1/sessions/current", &ada, None).await.json().await.unwrap();
    assert_eq!((me["email"].as_str(), me["role"].as_str()), (Some("ada@example.com"), Some("owner")));
    assert_eq!(me["csrf_token"].as_str(), Some(ada.csrf.as_str()));

    // Changes with a cookie need the session's CSRF token; reads do not.
    let keyspace = json!({"name": "web", "environment": "test"});
    let forged = server
        .client
        .post(server.url("/v1/keyspaces"))
        .header("cookie", format!("__Host-keyward_session={}", ada.cookie))
        .json(&keyspace)
        .send()
        .await
        .unwrap();
    problem(forged, StatusCode::FORBIDDEN, "csrf_failed").await;
    let wrong = Browser { csrf: "x".repeat(22), ..ada.clone() };
    problem(
        server.send(Method::POST, "/v1/keyspaces", &wrong, Some(keyspace.clone())).await,
        StatusCode::FORBIDDEN,
        "csrf_failed",
    )
    .await;
    let made = server.send(Method::POST, "/v1/keyspaces", &ada, Some(keyspace)).await;
    assert_eq!(made.status(), StatusCode::CREATED);
    assert_eq!(server.send(Method::GET, "/v1/keyspaces", &wrong, None).await.status(), StatusCode::OK);

    // Sign-in: one answer for a wrong password and an unknown account.
    let wrong_password = problem(
        server.sign_in_from("ada@example.com", "not the password!", "198.51.100.1").await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await;
    let unknown = problem(
        server.sign_in_from("nobody@example.com", PASSWORD, "198.51.100.1").await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await;
    assert_eq!(wrong_password, unknown);
    let bad_email = server.sign_in_from("not-an-email", PASSWORD, "198.51.100.1").await;
    assert_eq!(problem(bad_email, StatusCode::BAD_REQUEST, "invalid_field").await["field"], "email");
    let second = browser(server.sign_in_from("ADA@example.com", PASSWORD, "198.51.100.1").await).await;
    assert_ne!(second.cookie, ada.cookie);

    // Sign-out ends that session only, and clears the cookie.
    let out = server.send(Method::DELETE, "/v1/sessions/current", &second, None).await;
    assert_eq!(out.status(), StatusCode::NO_CONTENT);
    assert!(out.headers()["set-cookie"].to_str().unwrap().contains("Max-Age=0"));
    problem(
        server.send(Method::GET, "/v1/keyspaces", &second, None).await,
        StatusCode::UNAUTHORIZED,
        "session_expired",
    )
    .await;
    assert_eq!(server.send(Method::GET, "/v1/keyspaces", &ada, None).await.status(), StatusCode::OK);

    // Sign-up is closed unless the operator opens it; bad roles are named.
    let closed = server
        .client
        .post(server.url("/v1/signup"))
        .json(&json!({"email": "eve@example.com", "password": PASSWORD, "organization_name": "Eve Inc"}))
        .send()
        .await
        .unwrap();
    problem(closed, StatusCode::FORBIDDEN, "signup_closed").await;
    let bad_role =
        server.post("/v1/invitations", &server.admin, json!({"email": "x@example.com", "role": "superuser"})).await;
    assert_eq!(problem(bad_role, StatusCode::BAD_REQUEST, "invalid_field").await["field"], "role");
    let bad_email = server.post("/v1/invitations", &server.admin, json!({"email": "x@", "role": "viewer"})).await;
    assert_eq!(problem(bad_email, StatusCode::BAD_REQUEST, "invalid_field").await["field"], "email");

    let audit: Value = server.get("/v1/audit", &server.admin).await.json().await.unwrap();
    let actions: Vec<&str> = audit["data"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert!(actions.contains(&"invitation.created") && actions.contains(&"member.joined"), "{actions:?}");
    let created_by_ada = audit["data"].as_array().unwrap().iter().find(|e| e["action"] == "keyspace.created").unwrap();
    assert_eq!(created_by_ada["actor"], ada.user_id.as_str(), "a session's changes are audited as its user");
}

#[tokio::test]
async fn open_sign_up_founds_an_organization_the_user_owns() {
    let dir = tempfile::tempdir().unwrap();
    let store = keyward_store_sqlite::SqliteStore::open(&dir.path().join("keyward.db")).await.unwrap();
    let config = EngineConfig { open_signup: true, ..EngineConfig::default() };
    let server = start_with(Arc::new(store), Some(dir), &[], config).await;
    let sign_up = |email: &'static str| {
        server
            .client
            .post(server.url("/v1/signup"))
            .json(&json!({"email": email, "password": PASSWORD, "organization_name": "Grace Labs"}))
    };
    let response = sign_up("grace@example.com").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let grace = browser(response).await;
    let me: Value = server.send(Method::GET, "/v1/sessions/current", &grace, None).await.json().await.unwrap();
    assert_eq!(me["role"], "owner");
    let organization: Value = server
        .send(Method::GET, &format!("/v1/organizations/{}", me["organization_id"].as_str().unwrap()), &grace, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!((organization["name"].as_str(), organization["operator"].as_bool()), (Some("Grace Labs"), Some(false)));
    problem(sign_up("grace@example.com").send().await.unwrap(), StatusCode::CONFLICT, "email_taken").await;
    // A founder is no operator: other tenants stay out of reach.
    problem(
        server.send(Method::GET, "/v1/organizations", &grace, None).await,
        StatusCode::FORBIDDEN,
        "insufficient_scope",
    )
    .await;
}

#[tokio::test]
async fn failed_sign_ins_are_throttled_without_locking_the_owner_out() {
    let dir = tempfile::tempdir().unwrap();
    let store = keyward_store_sqlite::SqliteStore::open(&dir.path().join("keyward.db")).await.unwrap();
    // Loopback is the trusted proxy, so X-Forwarded-For names each client.
    let server = start_with(Arc::new(store), Some(dir), &["127.0.0.1/32", "::1/128"], EngineConfig::default()).await;
    server.join("ada@example.com", "developer").await;
    let home = "198.51.100.7";
    assert_eq!(server.sign_in_from("ada@example.com", PASSWORD, home).await.status(), StatusCode::CREATED);

    // One address guessing one account: the sixth try waits, even with the right password.
    let attacker = "203.0.113.9";
    for _ in 0..5 {
        let guess = server.sign_in_from("ada@example.com", "wrong guess 12345", attacker).await;
        assert_eq!(guess.status(), StatusCode::UNAUTHORIZED);
    }
    let throttled = server.sign_in_from("ada@example.com", PASSWORD, attacker).await;
    let retry_after: u64 = throttled.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=900).contains(&retry_after), "{retry_after}");
    problem(throttled, StatusCode::TOO_MANY_REQUESTS, "sign_in_throttled").await;

    // Guessing spread over many addresses trips the account-wide limit...
    for n in 0..9 {
        for _ in 0..5 {
            server.sign_in_from("ada@example.com", "wrong guess 12345", &format!("203.0.113.{}", 100 + n)).await;
        }
    }
    let elsewhere = server.sign_in_from("ada@example.com", PASSWORD, "192.0.2.44").await;
    problem(elsewhere, StatusCode::TOO_MANY_REQUESTS, "sign_in_throttled").await;
    // ...but not for the owner at an address they signed in from before.
    assert_eq!(server.sign_in_from("ada@example.com", PASSWORD, home).await.status(), StatusCode::CREATED);
    // Other accounts are unaffected.
    server.join("bo@example.com", "viewer").await;
    assert_eq!(server.sign_in_from("bo@example.com", PASSWORD, "192.0.2.44").await.status(), StatusCode::CREATED);
}

/// One row of the role matrix: a call and the status each role gets, in
/// the order viewer, developer, admin, owner. `{role}` in the body is
/// replaced by the caller's role so creations do not collide.
struct Row {
    what: &'static str,
    method: Method,
    path: String,
    body: Option<Value>,
    expected: [u16; 4],
}

const ROLES: [&str; 4] = ["viewer", "developer", "admin", "owner"];

#[tokio::test]
async fn every_role_gets_exactly_its_rights_on_every_endpoint() {
    let server = sqlite_server().await;
    let keyspace = server.keyspace("test").await;
    let management = management_keyspace(&server).await;
    let mut browsers = Vec::new();
    for role in ROLES {
        browsers.push(server.join(&format!("{role}@example.com"), role).await);
    }
    let owner_id = browsers[3].user_id.clone();
    let victim =
        server.token(json!({"keyspace_id": keyspace, "name": "owner's", "scopes": [], "owner": owner_id})).await;
    let victim_id = victim["id"].as_str().unwrap().to_owned();
    let victim_secret = victim["token"].as_str().unwrap().to_owned();
    let doomed =
        server.token(json!({"keyspace_id": keyspace, "name": "doomed", "scopes": [], "owner": owner_id})).await;
    let doomed_id = doomed["id"].as_str().unwrap().to_owned();
    let target = server.join("target@example.com", "developer").await.user_id;

    let row = |what, method, path: &str, body: Option<Value>, expected| Row {
        what,
        method,
        path: path.to_owned(),
        body,
        expected,
    };
    let rows = vec![
        row("list keyspaces", Method::GET, "/v1/keyspaces", None, [200, 200, 200, 200]),
        row(
            "create keyspace",
            Method::POST,
            "/v1/keyspaces",
            Some(json!({"name": "{role}", "environment": "test"})),
            [403, 403, 201, 201],
        ),
        row(
            "replace scope catalog",
            Method::PUT,
            &format!("/v1/keyspaces/{keyspace}/scope-catalog"),
            Some(json!({"scope_catalog": null})),
            [403, 403, 200, 200],
        ),
        row("list tokens", Method::GET, "/v1/tokens", None, [200, 200, 200, 200]),
        row("show a token", Method::GET, &format!("/v1/tokens/{victim_id}"), None, [200, 200, 200, 200]),
        row(
            "issue own token",
            Method::POST,
            "/v1/tokens",
            Some(json!({"keyspace_id": keyspace, "name": "{role}", "scopes": []})),
            [403, 201, 201, 201],
        ),
        row(
            "issue someone else's token",
            Method::POST,
            "/v1/tokens",
            Some(json!({"keyspace_id": keyspace, "name": "{role}", "scopes": [], "owner": owner_id})),
            [403, 403, 201, 201],
        ),
        row(
            "change someone else's token",
            Method::PATCH,
            &format!("/v1/tokens/{victim_id}"),
            Some(json!({"name": "renamed by {role}"})),
            [403, 403, 200, 200],
        ),
        row(
            "mint a management token within the role",
            Method::POST,
            "/v1/tokens",
            Some(json!({"keyspace_id": management, "name": "{role} cli", "scopes": ["keyward:tokens:read"]})),
            [403, 201, 201, 201],
        ),
        row(
            "mint a management token beyond the role",
            Method::POST,
            "/v1/tokens",
            Some(json!({"keyspace_id": management, "name": "{role} cli", "scopes": ["keyward:policies:write"]})),
            [403, 403, 403, 201],
        ),
        row("verify", Method::POST, "/v1/verify", Some(json!({"token": victim_secret})), [403, 200, 200, 200]),
        row("read the audit log", Method::GET, "/v1/audit", None, [200, 200, 200, 200]),
        row("read the token policy", Method::GET, "/v1/token-policy", None, [200, 200, 200, 200]),
        row("list policy violations", Method::GET, "/v1/token-policy/violations", None, [200, 200, 200, 200]),
        row("set the token policy", Method::PUT, "/v1/token-policy", Some(json!({})), [403, 403, 403, 200]),
        row("list members", Method::GET, "/v1/members", None, [200, 200, 200, 200]),
        row("list invitations", Method::GET, "/v1/invitations", None, [200, 200, 200, 200]),
        row(
            "invite a developer",
            Method::POST,
            "/v1/invitations",
            Some(json!({"email": "dev-by-{role}@example.com", "role": "developer"})),
            [403, 403, 201, 201],
        ),
        row(
            "invite an owner",
            Method::POST,
            "/v1/invitations",
            Some(json!({"email": "owner-by-{role}@example.com", "role": "owner"})),
            [403, 403, 403, 201],
        ),
        row(
            "change a developer to viewer",
            Method::PATCH,
            &format!("/v1/members/{target}"),
            Some(json!({"role": "viewer"})),
            [403, 403, 200, 200],
        ),
        row(
            "demote an owner",
            Method::PATCH,
            &format!("/v1/members/{owner_id}"),
            Some(json!({"role": "admin"})),
            [403, 403, 403, 409],
        ),
        row(
            "make a member owner",
            Method::PATCH,
            &format!("/v1/members/{target}"),
            Some(json!({"role": "owner"})),
            [403, 403, 403, 200],
        ),
        row("list service accounts", Method::GET, "/v1/service-accounts", None, [200, 200, 200, 200]),
        row(
            "create a service account",
            Method::POST,
            "/v1/service-accounts",
            Some(json!({"name": "deploys of {role}"})),
            [403, 403, 201, 201],
        ),
        row("list organizations", Method::GET, "/v1/organizations", None, [403, 403, 403, 200]),
        row(
            "found an organization",
            Method::POST,
            "/v1/organizations",
            Some(json!({"name": "by {role}"})),
            [403, 403, 403, 201],
        ),
        row(
            "rotate someone else's token",
            Method::POST,
            &format!("/v1/tokens/{victim_id}/rotate"),
            Some(json!({"grace_period": 3600})),
            // The owner comes after the admin, who rotated it already.
            [403, 403, 201, 409],
        ),
        row(
            "see who still uses a token",
            Method::GET,
            &format!("/v1/tokens/{victim_id}/clients"),
            None,
            [200, 200, 200, 200],
        ),
        row(
            "shorten someone else's grace",
            Method::POST,
            &format!("/v1/tokens/{victim_id}/grace"),
            Some(json!({"ends_in": 1800})),
            [403, 403, 200, 200],
        ),
        row(
            "count someone else's tokens for bulk revocation",
            Method::POST,
            "/v1/tokens/bulk-revoke",
            Some(json!({"owner": owner_id, "dry_run": true})),
            // Developers may bulk revoke only their own tokens.
            [403, 403, 200, 200],
        ),
        row(
            "disable someone else's token",
            Method::POST,
            &format!("/v1/tokens/{victim_id}/disable"),
            None,
            [403, 403, 200, 200],
        ),
        row(
            "enable someone else's token",
            Method::POST,
            &format!("/v1/tokens/{victim_id}/enable"),
            None,
            [403, 403, 200, 200],
        ),
        row(
            "delete someone else's token",
            Method::DELETE,
            &format!("/v1/tokens/{doomed_id}"),
            None,
            // The owner comes after the admin, who deleted it already.
            [403, 403, 204, 404],
        ),
        row("list webhooks", Method::GET, "/v1/webhooks", None, [200, 200, 200, 200]),
        row(
            "register a webhook",
            Method::POST,
            "/v1/webhooks",
            Some(json!({"url": "https://hooks.example.com/{role}"})),
            [403, 403, 201, 201],
        ),
        row(
            "revoke someone else's token",
            Method::POST,
            &format!("/v1/tokens/{victim_id}/revoke"),
            None,
            [403, 403, 200, 200],
        ),
    ];
    let mut failures = Vec::new();
    for row in &rows {
        for (index, role) in ROLES.iter().enumerate() {
            let body = row.body.as_ref().map(|b| serde_json::from_str(&b.to_string().replace("{role}", role)).unwrap());
            let response = server.send(row.method.clone(), &row.path, &browsers[index], body).await;
            let status = response.status().as_u16();
            if status != row.expected[index] {
                failures.push(format!(
                    "{role} / {}: got {status}, expected {} ({})",
                    row.what,
                    row.expected[index],
                    response.text().await.unwrap()
                ));
            }
        }
    }
    assert!(failures.is_empty(), "role matrix mismatches:\n{}", failures.join("\n"));
}

#[tokio::test]
async fn a_demotion_narrows_a_persons_tokens_at_once() {
    let server = sqlite_server().await;
    let management = management_keyspace(&server).await;
    let dev = server.join("dev@example.com", "developer").await;
    let minted = server
        .send(
            Method::POST,
            "/v1/tokens",
            &dev,
            Some(json!({"keyspace_id": management, "name": "dev cli", "scopes": ["keyward:tokens:read", "keyward:tokens:write"]})),
        )
        .await;
    assert_eq!(minted.status(), StatusCode::CREATED);
    let cli: Value = minted.json().await.unwrap();
    let cli = cli["token"].as_str().unwrap().to_owned();
    let keyspace = server.keyspace("test").await;
    let issue = json!({"keyspace_id": keyspace, "name": "x", "scopes": []});
    assert_eq!(server.post("/v1/tokens", &cli, issue.clone()).await.status(), StatusCode::CREATED);

    let demoted = server.client.patch(server.url(&format!("/v1/members/{}", dev.user_id))).bearer_auth(&server.admin);
    assert_eq!(demoted.json(&json!({"role": "viewer"})).send().await.unwrap().status(), StatusCode::OK);
    // The token still holds tokens:write, but its owner's role no longer allows it.
    problem(server.post("/v1/tokens", &cli, issue).await, StatusCode::FORBIDDEN, "insufficient_scope").await;
    assert_eq!(server.get("/v1/tokens", &cli).await.status(), StatusCode::OK);
    let changed: Value = server.get("/v1/audit?action=member.role_changed", &server.admin).await.json().await.unwrap();
    assert_eq!(changed["data"][0]["details"]["role_before"], "developer");
    assert_eq!(changed["data"][0]["details"]["role_after"], "viewer");
}

#[tokio::test]
async fn removing_a_member_revokes_their_tokens_and_service_accounts_keep_theirs() {
    let server = sqlite_server().await;
    let keyspace = server.keyspace("live").await;
    let dev = server.join("dev@example.com", "developer").await;
    let mine = server
        .send(Method::POST, "/v1/tokens", &dev, Some(json!({"keyspace_id": keyspace, "name": "dev's", "scopes": []})))
        .await;
    let mine: Value = mine.json().await.unwrap();
    let mine_secret = mine["token"].as_str().unwrap().to_owned();

    let account = server.post("/v1/service-accounts", &server.admin, json!({"name": "billing deploys"})).await;
    assert_eq!(account.status(), StatusCode::CREATED);
    let account: Value = account.json().await.unwrap();
    let account_id = account["id"].as_str().unwrap().to_owned();
    assert!(account_id.starts_with("sa_"));
    let deploy =
        server.token(json!({"keyspace_id": keyspace, "name": "deploy", "scopes": [], "owner": account_id})).await;
    let deploy_secret = deploy["token"].as_str().unwrap().to_owned();
    // Owners that look like ours must exist here.
    let ghost = server
        .post(
            "/v1/tokens",
            &server.admin,
            json!({"keyspace_id": keyspace, "name": "g", "scopes": [], "owner": "sa_0000000000000000000000"}),
        )
        .await;
    assert_eq!(problem(ghost, StatusCode::BAD_REQUEST, "invalid_field").await["field"], "owner");
    // A developer cannot hand a token to the service account.
    let handed = server
        .send(
            Method::POST,
            "/v1/tokens",
            &dev,
            Some(json!({"keyspace_id": keyspace, "name": "h", "scopes": [], "owner": account_id})),
        )
        .await;
    problem(handed, StatusCode::FORBIDDEN, "not_token_owner").await;

    let removed = server
        .client
        .delete(server.url(&format!("/v1/members/{}", dev.user_id)))
        .bearer_auth(&server.admin)
        .send()
        .await
        .unwrap();
    assert_eq!(removed.status(), StatusCode::OK);
    let removed: Value = removed.json().await.unwrap();
    assert_eq!(removed["revoked_tokens"], json!([mine["id"]]));
    assert_eq!(server.verify(&mine_secret, &[]).await["code"], "REVOKED", "effective at once");
    assert_eq!(server.verify(&deploy_secret, &[]).await["code"], "VALID", "service-account tokens survive");
    problem(server.send(Method::GET, "/v1/keyspaces", &dev, None).await, StatusCode::UNAUTHORIZED, "session_expired")
        .await;
    let audit: Value = server
        .get(&format!("/v1/audit?target_id={}", mine["id"].as_str().unwrap()), &server.admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(audit["data"][0]["action"], "token.revoked");
    assert_eq!(audit["data"][0]["details"]["reason"], "member_removed");
    let again = server
        .client
        .delete(server.url(&format!("/v1/members/{}", dev.user_id)))
        .bearer_auth(&server.admin)
        .send()
        .await
        .unwrap();
    problem(again, StatusCode::NOT_FOUND, "not_found").await;

    let retired = server
        .client
        .delete(server.url(&format!("/v1/service-accounts/{account_id}")))
        .bearer_auth(&server.admin)
        .send()
        .await
        .unwrap();
    let retired: Value = retired.json().await.unwrap();
    assert_eq!(retired["revoked_tokens"], json!([deploy["id"]]));
    assert_eq!(server.verify(&deploy_secret, &[]).await["code"], "REVOKED");
}

/// Members, invitations and service accounts of one tenant are as absent to
/// another as missing ones, on both stores.
async fn people_stay_inside_their_tenant(server: &TestServer) {
    let dev = server.join("dev@example.com", "developer").await;
    let founded = server.post("/v1/organizations", &server.admin, json!({"name": "Other"})).await;
    let founded: Value = founded.json().await.unwrap();
    let other = founded["admin_token"]["token"].as_str().unwrap().to_owned();
    let members: Value = server.get("/v1/members", &other).await.json().await.unwrap();
    assert_eq!(members["data"], json!([]));
    let foreign = server.client.patch(server.url(&format!("/v1/members/{}", dev.user_id))).bearer_auth(&other);
    problem(foreign.json(&json!({"role": "viewer"})).send().await.unwrap(), StatusCode::NOT_FOUND, "not_found").await;
    let foreign = server.client.delete(server.url(&format!("/v1/members/{}", dev.user_id))).bearer_auth(&other);
    problem(foreign.send().await.unwrap(), StatusCode::NOT_FOUND, "not_found").await;
    let invitation =
        server.post("/v1/invitations", &server.admin, json!({"email": "z@example.com", "role": "viewer"})).await;
    let invitation: Value = invitation.json().await.unwrap();
    let withdraw = server.client.delete(server.url(&format!("/v1/invitations/{}", invitation["id"].as_str().unwrap())));
    problem(withdraw.bearer_auth(&other).send().await.unwrap(), StatusCode::NOT_FOUND, "not_found").await;
    let listed: Value = server.get("/v1/invitations", &other).await.json().await.unwrap();
    assert_eq!(listed["data"], json!([]));
    let account: Value =
        server.post("/v1/service-accounts", &server.admin, json!({"name": "ci"})).await.json().await.unwrap();
    let foreign =
        server.client.delete(server.url(&format!("/v1/service-accounts/{}", account["id"].as_str().unwrap())));
    problem(foreign.bearer_auth(&other).send().await.unwrap(), StatusCode::NOT_FOUND, "not_found").await;
    let keyspace: Value = server
        .post("/v1/keyspaces", &other, json!({"name": "theirs", "environment": "test"}))
        .await
        .json()
        .await
        .unwrap();
    let stolen = server
        .post(
            "/v1/tokens",
            &other,
            json!({"keyspace_id": keyspace["id"], "name": "s", "scopes": [], "owner": dev.user_id}),
        )
        .await;
    assert_eq!(problem(stolen, StatusCode::BAD_REQUEST, "invalid_field").await["field"], "owner");
    // The tenant's own withdrawal works.
    let withdraw = server.client.delete(server.url(&format!("/v1/invitations/{}", invitation["id"].as_str().unwrap())));
    assert_eq!(withdraw.bearer_auth(&server.admin).send().await.unwrap().status(), StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn people_stay_inside_their_tenant_on_sqlite() {
    people_stay_inside_their_tenant(&sqlite_server().await).await;
}

#[tokio::test]
async fn people_stay_inside_their_tenant_on_postgres() {
    let Some(schema) = keyward_store_postgres::testing::isolated_schema().await else { return };
    let server = start(Arc::new(schema.store.clone()), None).await;
    people_stay_inside_their_tenant(&server).await;
    drop(server);
    schema.drop_schema().await.unwrap();
}

#[tokio::test]
async fn owner_and_actor_filters_take_a_members_email() {
    let server = sqlite_server().await;
    let ada = server.join("ada@example.com", "developer").await;
    let keyspace = server.keyspace("test").await;
    let made = server
        .post(
            "/v1/tokens",
            &server.admin,
            json!({"keyspace_id": keyspace, "name": "ada's", "owner": ada.user_id, "scopes": []}),
        )
        .await;
    assert_eq!(made.status(), StatusCode::CREATED);
    let token: Value = made.json().await.unwrap();
    let free_text = server
        .post(
            "/v1/tokens",
            &server.admin,
            json!({"keyspace_id": keyspace, "name": "team's", "owner": "team@example.com", "scopes": []}),
        )
        .await;
    assert_eq!(free_text.status(), StatusCode::CREATED);

    let listed: Value = server.get("/v1/tokens?owner=Ada@Example.com", &server.admin).await.json().await.unwrap();
    let ids: Vec<&str> = listed["data"].as_array().unwrap().iter().map(|t| t["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [token["id"].as_str().unwrap()], "the email names the member: her tokens, by id");
    let team: Value = server.get("/v1/tokens?owner=team@example.com", &server.admin).await.json().await.unwrap();
    assert_eq!(team["data"][0]["name"], "team's", "an email no member has is an owner's free text");

    let by_id: Value =
        server.get(&format!("/v1/audit?actor={}", ada.user_id), &server.admin).await.json().await.unwrap();
    let by_email: Value = server.get("/v1/audit?actor=ada@example.com", &server.admin).await.json().await.unwrap();
    assert!(!by_id["data"].as_array().unwrap().is_empty());
    assert_eq!(by_email["data"], by_id["data"]);
    // Text owners keep their tokens when someone with that address joins.
    server.join("team@example.com", "viewer").await;
    let team: Value = server.get("/v1/tokens?owner=team@example.com", &server.admin).await.json().await.unwrap();
    assert_eq!(team["data"].as_array().unwrap().len(), 1, "{team}");
    assert_eq!(team["data"][0]["name"], "team's", "the text still names its tokens");
    // A former member's events are still theirs.
    let removed = server
        .client
        .delete(server.url(&format!("/v1/members/{}", ada.user_id)))
        .bearer_auth(&server.admin)
        .send()
        .await
        .unwrap();
    assert_eq!(removed.status(), StatusCode::OK);
    let former: Value = server.get("/v1/audit?actor=ada@example.com", &server.admin).await.json().await.unwrap();
    assert!(former["data"].as_array().unwrap().len() >= by_id["data"].as_array().unwrap().len(), "{former}");
    let nobody = server.get("/v1/audit?actor=nobody@example.com", &server.admin).await;
    let nobody = problem(nobody, StatusCode::BAD_REQUEST, "invalid_field").await;
    assert_eq!(nobody["field"], "actor", "{nobody}");
}
