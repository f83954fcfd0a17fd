//! The sample protected route over HTTP: a token is its own credential, a
//! refused one is told why, and a call counts as the token's use.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;

use chrono::{TimeZone, Utc};
use common::{problem, sqlite_server_at};
use reqwest::StatusCode;
use serde_json::{json, Value};

#[tokio::test]
async fn a_token_tries_itself_on_the_sample_route() {
    let clock = Arc::new(keyward_core::ManualClock::new(Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap()));
    let server = sqlite_server_at(clock.clone()).await;
    let keyspace = server.keyspace("live").await;
    let created = server
        .token(
            json!({"keyspace_id": keyspace, "name": "billing worker", "scopes": ["invoices:read"], "expires_in": 3600}),
        )
        .await;
    let secret = created["token"].as_str().unwrap();

    let response = server
        .client
        .get(server.url("/v1/sample"))
        .bearer_auth(secret)
        .header("user-agent", "first-call/1.0")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["valid"], true);
    assert_eq!(body["code"], "VALID");
    assert_eq!(body["name"], "billing worker");
    assert_eq!(body["scopes"], json!(["invoices:read"]));
    assert!(body["message"].as_str().unwrap().contains("billing worker"), "{body}");
    assert!(!body.to_string().contains(secret), "the secret is never echoed");

    // A scope it holds passes; one it lacks is a 403 naming what is missing.
    assert_eq!(server.get("/v1/sample?scope=invoices:read", secret).await.status(), StatusCode::OK);
    let lacking = server.get("/v1/sample?scope=invoices:write", secret).await;
    let challenge = lacking.headers()["www-authenticate"].to_str().unwrap().to_owned();
    assert!(challenge.contains("insufficient_scope") && challenge.contains("invoices:write"), "{challenge}");
    let body = problem(lacking, StatusCode::FORBIDDEN, "insufficient_scope").await;
    assert_eq!(body["missing_scopes"], json!(["invoices:write"]));
    let bad_scope = server.get("/v1/sample?scope=has%20space", secret).await;
    assert_eq!(problem(bad_scope, StatusCode::BAD_REQUEST, "invalid_field").await["field"], "scope");
    let unknown_param = server.get("/v1/sample?scopes=x", secret).await;
    assert_eq!(unknown_param.status(), StatusCode::BAD_REQUEST);

    // The call is the token's use: its usage shows it once flushed.
    server.engine.flush_usage().await.unwrap();
    let id = created["id"].as_str().unwrap();
    let token: Value = server.get(&format!("/v1/tokens/{id}"), &server.admin).await.json().await.unwrap();
    assert!(token["last_used_at"].is_string(), "{token}");

    // Refusals say why, each with a stable code and an invalid_token challenge.
    let missing = server.client.get(server.url("/v1/sample")).send().await.unwrap();
    problem(missing, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let truncated = &secret[..secret.len() - 3];
    let body = problem(server.get("/v1/sample", truncated).await, StatusCode::UNAUTHORIZED, "token_malformed").await;
    assert!(!body.to_string().contains(truncated), "the presented text is never echoed");
    let basic = server.client.get(server.url("/v1/sample")).basic_auth("a", Some("b")).send().await.unwrap();
    assert_eq!(basic.status(), StatusCode::UNAUTHORIZED);

    clock.advance_secs(3601);
    let expired = server.get("/v1/sample", secret).await;
    assert!(expired.headers()["www-authenticate"].to_str().unwrap().contains("invalid_token"));
    problem(expired, StatusCode::UNAUTHORIZED, "token_expired").await;

    let other = server.token(json!({"keyspace_id": keyspace, "name": "soon revoked", "scopes": []})).await;
    let other_secret = other["token"].as_str().unwrap();
    let revoked =
        server.post(&format!("/v1/tokens/{}/revoke", other["id"].as_str().unwrap()), &server.admin, json!({})).await;
    assert_eq!(revoked.status(), StatusCode::OK);
    problem(server.get("/v1/sample", other_secret).await, StatusCode::UNAUTHORIZED, "token_revoked").await;

    let elsewhere = common::sqlite_server().await;
    let foreign_keyspace = elsewhere.keyspace("live").await;
    let foreign = elsewhere.token(json!({"keyspace_id": foreign_keyspace, "name": "x", "scopes": []})).await;
    let unknown = server.get("/v1/sample", foreign["token"].as_str().unwrap()).await;
    problem(unknown, StatusCode::UNAUTHORIZED, "token_unknown").await;
}

#[tokio::test]
async fn the_sample_route_is_documented() {
    let spec = serde_json::to_value(keyward_server::openapi()).unwrap();
    let operation = &spec["paths"]["/v1/sample"]["get"];
    assert!(operation.is_object(), "GET /v1/sample is in the OpenAPI document");
    assert!(operation["responses"]["401"].is_object());
}
