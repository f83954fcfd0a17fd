//! A malformed id in a path is parsed at the edge now, not by the engine;
//! these pin that its answer did not move: 404 with the same problem for
//! each kind of id, and 403 or 400 first wherever the call refused those
//! before it looked at the id, with the same refusals audited.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{management_keyspace, problem, sqlite_server, TestServer};
use keyward_core::audit::AuditAction;
use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Value};

async fn call(server: &TestServer, method: Method, path: &str, token: &str, body: Option<Value>) -> Response {
    let request = server.client.request(method, server.url(path)).bearer_auth(token);
    let request = match body {
        Some(body) => request.json(&body),
        None => request,
    };
    request.send().await.unwrap()
}

async fn audited(server: &TestServer, action: AuditAction) -> Vec<Value> {
    let response = server.get(&format!("/v1/audit?action={action}&limit=200"), &server.admin).await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json::<Value>().await.unwrap()["data"].as_array().unwrap().clone()
}

#[tokio::test]
async fn a_malformed_id_is_not_found_with_the_same_problem_for_every_kind() {
    let server = sqlite_server().await;
    let cases: Vec<(Method, &str, Option<Value>, &str)> = vec![
        (Method::GET, "/v1/tokens/not-an-id", None, "token"),
        (Method::PATCH, "/v1/tokens/tok_short", Some(json!({"name": "x"})), "token"),
        (Method::POST, "/v1/tokens/tok_short/revoke", Some(json!({})), "token"),
        (Method::POST, "/v1/tokens/tok_short/revoke", Some(json!({"with_descendants": true})), "token"),
        (Method::POST, "/v1/tokens/tok_short/disable", None, "token"),
        (Method::POST, "/v1/tokens/tok_short/enable", None, "token"),
        (Method::DELETE, "/v1/tokens/tok_short", None, "token"),
        (Method::POST, "/v1/tokens/tok_short/rotate", Some(json!({"grace_period": 0})), "token"),
        (Method::POST, "/v1/tokens/tok_short/grace", Some(json!({"ends_in": 0})), "token"),
        (Method::GET, "/v1/tokens/tok_short/clients", None, "token"),
        (Method::GET, "/v1/keyspaces/ks_short", None, "keyspace"),
        (Method::PUT, "/v1/keyspaces/ks_short/scope-catalog", Some(json!({"scope_catalog": null})), "keyspace"),
        (Method::PUT, "/v1/keyspaces/ks_short/lifecycle", Some(json!({})), "keyspace"),
        (Method::GET, "/v1/webhooks/whk_short", None, "webhook"),
        (Method::DELETE, "/v1/webhooks/whk_short", None, "webhook"),
        (Method::POST, "/v1/webhooks/whk_short/rotate-secret", Some(json!({})), "webhook"),
        (Method::GET, "/v1/webhooks/whk_short/deliveries", None, "webhook"),
        (Method::PATCH, "/v1/members/usr_short", Some(json!({"role": "viewer"})), "member"),
        (Method::DELETE, "/v1/members/usr_short", None, "member"),
        (Method::DELETE, "/v1/service-accounts/sa_short", None, "service account"),
        (Method::DELETE, "/v1/invitations/inv_short", None, "invitation"),
        (Method::GET, "/v1/organizations/org_short", None, "organization"),
        // Another kind's id is as malformed as any text.
        (Method::GET, "/v1/keyspaces/tok_0000000000000000000000", None, "keyspace"),
    ];
    for (method, path, body, what) in cases {
        let response = call(&server, method.clone(), path, &server.admin, body).await;
        let problem = problem(response, StatusCode::NOT_FOUND, "not_found").await;
        assert_eq!(problem["detail"], format!("No such {what}."), "{method} {path}: {problem}");
    }
    // A typo is a plain 404: no probe of anyone's organization.
    assert!(audited(&server, AuditAction::CrossTenantProbe).await.is_empty());
}

#[tokio::test]
async fn what_a_call_refused_before_the_id_it_still_refuses_first() {
    let server = sqlite_server().await;
    let reader = server
        .token(json!({
            "keyspace_id": management_keyspace(&server).await,
            "name": "read-only",
            "scopes": ["keyward:tokens:read"],
        }))
        .await;
    let reader = reader["token"].as_str().unwrap();
    for (method, path) in [
        (Method::POST, "/v1/tokens/not-an-id/disable"),
        (Method::GET, "/v1/keyspaces/not-an-id"),
        (Method::DELETE, "/v1/members/not-an-id"),
        (Method::GET, "/v1/webhooks/not-an-id"),
    ] {
        let response = call(&server, method.clone(), path, reader, None).await;
        let body = problem(response, StatusCode::FORBIDDEN, "insufficient_scope").await;
        assert!(body["detail"].as_str().is_some(), "{method} {path}: {body}");
    }
    assert_eq!(audited(&server, AuditAction::AccessDenied).await.len(), 4);

    let invalid: Vec<(Method, &str, Value, &str)> = vec![
        (Method::PATCH, "/v1/tokens/not-an-id", json!({}), "name"),
        (Method::POST, "/v1/tokens/not-an-id/revoke", json!({"reason": "rotation"}), "reason"),
        (
            Method::POST,
            "/v1/tokens/not-an-id/revoke",
            json!({"reason": "rotation", "with_descendants": true}),
            "reason",
        ),
        (Method::POST, "/v1/tokens/not-an-id/rotate", json!({"grace_period": 0, "expires_in": -1}), "expires_in"),
        (Method::POST, "/v1/webhooks/not-an-id/rotate-secret", json!({"overlap": -1}), "overlap"),
        (Method::PUT, "/v1/keyspaces/not-an-id/lifecycle", json!({"rotation_period_days": 0}), "rotation_period_days"),
    ];
    for (method, path, body, field) in invalid {
        let response = call(&server, method.clone(), path, &server.admin, Some(body)).await;
        let problem = problem(response, StatusCode::BAD_REQUEST, "invalid_field").await;
        assert_eq!(problem["field"], field, "{method} {path}: {problem}");
    }
}
