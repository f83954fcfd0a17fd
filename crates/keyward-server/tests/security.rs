//! Security events over HTTP: refused management calls (403 in the
//! caller's organization, 404 on another organization's object in that
//! organization's) are audited within a per-minute budget; sign-ins and their failures
//! carry the address and user agent, never the password.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;

use chrono::TimeZone;
use common::{management_keyspace, problem, sqlite_server_at, TestServer};
use keyward_core::audit::AuditAction;
use keyward_core::ManualClock;
use keyward_engine::EVENTS_PER_MINUTE;
use reqwest::StatusCode;
use serde_json::{json, Value};

async fn audit(server: &TestServer, token: &str, action: AuditAction) -> Vec<Value> {
    let response = server.get(&format!("/v1/audit?action={action}&limit=200"), token).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    body["data"].as_array().unwrap().clone()
}

fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(chrono::Utc.with_ymd_and_hms(2030, 1, 1, 9, 0, 0).unwrap()))
}

#[tokio::test]
async fn a_403_is_audited_for_the_caller_and_a_cross_tenant_404_for_the_probed_organization() {
    let clock = clock();
    let server = sqlite_server_at(clock.clone()).await;
    // A management token that may only read tokens.
    let reader = server
        .token(json!({
            "keyspace_id": management_keyspace(&server).await,
            "name": "read-only",
            "scopes": ["keyward:tokens:read"],
        }))
        .await;
    let (reader_id, reader) = (reader["id"].as_str().unwrap(), reader["token"].as_str().unwrap());
    let refused = server.post("/v1/keyspaces", reader, json!({"name": "x", "environment": "test"})).await;
    problem(refused, StatusCode::FORBIDDEN, "insufficient_scope").await;
    let denied = audit(&server, &server.admin, AuditAction::AccessDenied).await;
    assert_eq!(denied.len(), 1, "{denied:?}");
    assert_eq!(denied[0]["actor"], reader_id);
    assert_eq!(denied[0]["source_ip"], "127.0.0.1");
    assert_eq!(denied[0]["details"]["method"], "POST");
    assert_eq!(denied[0]["details"]["route"], "/v1/keyspaces");
    assert_eq!(denied[0]["details"]["code"], "insufficient_scope");
    assert!(denied[0]["request_id"].as_str().is_some_and(|id| !id.is_empty()));

    // Another organization's admin asks for one of ours: 404, as for a
    // missing id, and a probe in *our* log; its own log cannot tell the two
    // apart either.
    let ours = server.token(json!({"keyspace_id": server.keyspace("test").await, "name": "ours", "scopes": []})).await;
    let ours_id = ours["id"].as_str().unwrap();
    let founded: Value =
        server.post("/v1/organizations", &server.admin, json!({"name": "Other"})).await.json().await.unwrap();
    let other = founded["admin_token"]["token"].as_str().unwrap();
    let other_id = founded["admin_token"]["id"].as_str().unwrap();
    problem(server.get(&format!("/v1/tokens/{ours_id}"), other).await, StatusCode::NOT_FOUND, "not_found").await;
    let revoke = server.post(&format!("/v1/tokens/{ours_id}/revoke"), other, json!({})).await;
    problem(revoke, StatusCode::NOT_FOUND, "not_found").await;
    // A mistyped id is a plain 404, not a probe.
    let missing = "tok_0000000000000000000000";
    problem(server.get(&format!("/v1/tokens/{missing}"), other).await, StatusCode::NOT_FOUND, "not_found").await;

    let probes = audit(&server, &server.admin, AuditAction::CrossTenantProbe).await;
    assert_eq!(probes.len(), 2, "{probes:?}");
    for probe in &probes {
        assert_eq!(probe["actor"], other_id);
        assert_eq!(probe["target_id"], ours_id);
        assert_eq!(probe["target_type"], "token");
        assert_eq!(probe["source_ip"], "127.0.0.1");
        assert_eq!(probe["details"]["caller_organization_id"], founded["organization"]["id"]);
    }
    let mut routes: Vec<_> = probes.iter().map(|p| p["details"]["route"].as_str().unwrap()).collect();
    routes.sort_unstable();
    assert_eq!(routes, ["/v1/tokens/{id}", "/v1/tokens/{id}/revoke"]);
    let theirs: Value = server.get("/v1/audit?limit=200", other).await.json().await.unwrap();
    assert!(!theirs.to_string().contains(ours_id), "nothing in the caller's log: {theirs}");
    assert_eq!(server.verify(ours["token"].as_str().unwrap(), &[]).await["code"], "VALID", "nothing happened");
}

#[tokio::test]
async fn refusals_past_the_budget_are_counted_in_one_summary() {
    let clock = clock();
    let server = sqlite_server_at(clock.clone()).await;
    let reader = server
        .token(json!({
            "keyspace_id": management_keyspace(&server).await,
            "name": "read-only",
            "scopes": ["keyward:tokens:read"],
        }))
        .await;
    let reader = reader["token"].as_str().unwrap();
    let attempts = EVENTS_PER_MINUTE as usize + 30;
    for _ in 0..attempts {
        let refused = server.get("/v1/members", reader).await;
        assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    }
    assert_eq!(audit(&server, &server.admin, AuditAction::AccessDenied).await.len(), EVENTS_PER_MINUTE as usize);
    clock.advance_secs(60);
    server.engine.flush_usage().await.unwrap();
    let summaries = audit(&server, &server.admin, AuditAction::SecurityEventsSuppressed).await;
    assert_eq!(summaries.len(), 1, "{summaries:?}");
    assert_eq!(summaries[0]["details"]["suppressed"], 30);
    assert_eq!(summaries[0]["target_id"], AuditAction::AccessDenied.as_str());
    // A new minute, a new budget.
    assert_eq!(server.get("/v1/members", reader).await.status(), StatusCode::FORBIDDEN);
    assert_eq!(audit(&server, &server.admin, AuditAction::AccessDenied).await.len(), EVENTS_PER_MINUTE as usize + 1);
}

#[tokio::test]
async fn sign_ins_failures_and_sign_outs_are_audited_with_address_and_user_agent() {
    let clock = clock();
    let server = sqlite_server_at(clock.clone()).await;
    let invitation = server
        .post("/v1/invitations", &server.admin, json!({"email": "ada@example.com", "role": "admin"}))
        .await
        .json::<Value>()
        .await
        .unwrap();
    let password = "correct horse battery staple";
    let accepted = server
        .client
        .post(server.url("/v1/invitations/accept"))
        .json(&json!({"token": invitation["token"], "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(accepted.status(), StatusCode::CREATED);
    let sign_in = |password: &'static str, email: &'static str| {
        server
            .client
            .post(server.url("/v1/sessions"))
            .header("user-agent", "Mozilla/5.0 (test)\tX")
            .json(&json!({"email": email, "password": password}))
            .send()
    };
    assert_eq!(sign_in("wrong password!", "ada@example.com").await.unwrap().status(), StatusCode::UNAUTHORIZED);
    assert_eq!(sign_in("wrong password!", "nobody@example.com").await.unwrap().status(), StatusCode::UNAUTHORIZED);
    let signed_in = sign_in(password, "ada@example.com").await.unwrap();
    assert_eq!(signed_in.status(), StatusCode::CREATED);
    let cookie = signed_in.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    let session: Value = signed_in.json().await.unwrap();
    let signed_out = server
        .client
        .delete(server.url("/v1/sessions/current"))
        .header("cookie", &cookie)
        .header("x-csrf-token", session["csrf_token"].as_str().unwrap())
        .header("user-agent", "Mozilla/5.0 (test)")
        .send()
        .await
        .unwrap();
    assert_eq!(signed_out.status(), StatusCode::NO_CONTENT);

    let user_id = session["user_id"].as_str().unwrap();
    let ins = audit(&server, &server.admin, AuditAction::SessionSignedIn).await;
    assert_eq!(ins.len(), 2, "the invitation's session and the sign-in: {ins:?}");
    let by_invitation = ins.iter().find(|event| event["details"]["method"] == "invitation");
    assert!(by_invitation.is_some_and(|event| event["actor"] == user_id), "{ins:?}");
    let ins: Vec<_> = ins.iter().filter(|event| event["details"]["method"] == "password").collect();
    assert_eq!(ins.len(), 1, "{ins:?}");
    assert_eq!(ins[0]["actor"], user_id);
    assert_eq!(ins[0]["source_ip"], "127.0.0.1");
    assert_eq!(ins[0]["details"]["user_agent"], "Mozilla/5.0 (test)X", "control characters dropped");
    assert_eq!(ins[0]["details"]["method"], "password");
    assert_eq!(ins[0]["details"]["session_id"], session["session_id"]);
    let outs = audit(&server, &server.admin, AuditAction::SessionSignedOut).await;
    assert_eq!(outs.len(), 1);
    assert_eq!(outs[0]["details"]["session_id"], session["session_id"]);
    assert_eq!(outs[0]["source_ip"], "127.0.0.1");

    // The installation's log has both failures, alike: it does not say
    // which account exists. Nothing anywhere holds the password.
    let failures = audit(&server, &server.admin, AuditAction::SessionSignInFailed).await;
    let reasons: Vec<_> =
        failures.iter().map(|f| (f["details"]["email"].clone(), f["details"]["reason"].clone())).collect();
    assert!(reasons.contains(&(json!("nobody@example.com"), json!("invalid_credentials"))), "{reasons:?}");
    assert!(reasons.contains(&(json!("ada@example.com"), json!("invalid_credentials"))), "{reasons:?}");
    assert!(failures.iter().all(|f| f["source_ip"] == "127.0.0.1" && f["actor"] == "anonymous"));
    let everything: Value = server.get("/v1/audit?limit=200", &server.admin).await.json().await.unwrap();
    assert!(!everything.to_string().contains("wrong password!"));
    assert!(!everything.to_string().contains(password));
}
