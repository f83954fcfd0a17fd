//! Disabling, enabling and deleting tokens over HTTP on a real server: the
//! verdict changes on the very next verify, the states show in views and
//! filters, and a deleted token leaves only its audit trail.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{problem, sqlite_server};
use reqwest::StatusCode;
use serde_json::{json, Value};

#[tokio::test]
async fn disable_enable_and_delete_change_the_verdict_at_once() {
    let server = sqlite_server().await;
    let keyspace = server.keyspace("live").await;
    let created =
        server.token(json!({"keyspace_id": keyspace, "name": "paused job", "scopes": ["invoices:read"]})).await;
    let id = created["id"].as_str().unwrap().to_owned();
    let secret = created["token"].as_str().unwrap().to_owned();
    assert_eq!(server.verify(&secret, &[]).await["code"], "VALID");

    let disabled = server.post(&format!("/v1/tokens/{id}/disable"), &server.admin, json!(null)).await;
    assert_eq!(disabled.status(), StatusCode::OK);
    let disabled: Value = disabled.json().await.unwrap();
    assert_eq!(
        (disabled["state"].as_str(), disabled["disabled_reason"].as_str()),
        (Some("disabled"), Some("user_action"))
    );
    let verdict = server.verify(&secret, &[]).await;
    assert_eq!((verdict["valid"].as_bool(), verdict["code"].as_str()), (Some(false), Some("DISABLED")), "{verdict}");
    assert_eq!(verdict["disabled_reason"], "user_action");
    let listed: Value = server
        .get(&format!("/v1/tokens?keyspace_id={keyspace}&state=disabled"), &server.admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["data"][0]["id"], id.as_str());
    let active: Value = server
        .get(&format!("/v1/tokens?keyspace_id={keyspace}&state=active"), &server.admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(active["data"], json!([]));

    let enabled: Value =
        server.post(&format!("/v1/tokens/{id}/enable"), &server.admin, json!(null)).await.json().await.unwrap();
    assert_eq!(enabled["state"], "active");
    assert!(enabled["disabled_at"].is_null());
    assert_eq!(server.verify(&secret, &[]).await["code"], "VALID");

    let deleted = server.client.delete(server.url(&format!("/v1/tokens/{id}"))).bearer_auth(&server.admin).send().await;
    let deleted = deleted.unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    assert_eq!(server.verify(&secret, &[]).await["code"], "NOT_FOUND");
    problem(server.get(&format!("/v1/tokens/{id}"), &server.admin).await, StatusCode::NOT_FOUND, "not_found").await;
    let again = server.client.delete(server.url(&format!("/v1/tokens/{id}"))).bearer_auth(&server.admin).send().await;
    problem(again.unwrap(), StatusCode::NOT_FOUND, "not_found").await;

    let audit: Value = server.get(&format!("/v1/audit?target_id={id}"), &server.admin).await.json().await.unwrap();
    let actions: Vec<_> = audit["data"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["token.deleted", "token.enabled", "token.disabled", "token.created"]);
    let deletion = &audit["data"][0]["details"];
    assert_eq!((deletion["name"].as_str(), deletion["state"].as_str()), (Some("paused job"), Some("active")));
    assert_eq!(deletion["masked"], created["masked"]);
    assert!(!audit.to_string().contains(&secret), "no secret in the trail");
}

#[tokio::test]
async fn a_disabled_management_token_is_refused_like_any_bad_credential() {
    let server = sqlite_server().await;
    let management = common::management_keyspace(&server).await;
    let created =
        server.token(json!({"keyspace_id": management, "name": "ci", "scopes": ["keyward:tokens:read"]})).await;
    let (id, secret) = (created["id"].as_str().unwrap(), created["token"].as_str().unwrap());
    assert_eq!(server.get("/v1/tokens", secret).await.status(), StatusCode::OK);
    server.post(&format!("/v1/tokens/{id}/disable"), &server.admin, json!(null)).await;
    let refused = problem(server.get("/v1/tokens", secret).await, StatusCode::UNAUTHORIZED, "unauthorized").await;
    assert!(!refused.to_string().contains("disabled"), "nothing to enumerate: {refused}");
    server.post(&format!("/v1/tokens/{id}/enable"), &server.admin, json!(null)).await;
    assert_eq!(server.get("/v1/tokens", secret).await.status(), StatusCode::OK);

    // Revocation is final: enabling a revoked token is a conflict and changes nothing.
    let revoked = server.post(&format!("/v1/tokens/{id}/revoke"), &server.admin, json!({})).await;
    assert_eq!(revoked.status(), StatusCode::OK);
    let conflict = server.post(&format!("/v1/tokens/{id}/enable"), &server.admin, json!(null)).await;
    problem(conflict, StatusCode::CONFLICT, "token_revoked").await;
    let bad_id = server.post("/v1/tokens/not-a-token/disable", &server.admin, json!(null)).await;
    problem(bad_id, StatusCode::NOT_FOUND, "not_found").await;
}
