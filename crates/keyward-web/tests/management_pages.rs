//! Management tokens on the screens: minted from a session only shortly
//! after typing the password, and named on the tokens they made.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::sync::Arc;

use reqwest::header::COOKIE;
use reqwest::StatusCode;
use serde_json::{json, Value};
use support::{field, site, site_on};

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
