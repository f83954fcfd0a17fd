//! Lifecycle rules over HTTP on a manual clock: the policy's inactivity,
//! warning and rotation settings, a token's own rotation period, the
//! `rotation_due` flag in views, and the scheduler's notices reaching the
//! audit log and the webhook outbox.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use common::{problem, sqlite_server_at, TestServer};
use keyward_core::ManualClock;
use reqwest::StatusCode;
use serde_json::{json, Value};

async fn put_policy(server: &TestServer, body: Value) -> reqwest::Response {
    server.client.put(server.url("/v1/token-policy")).bearer_auth(&server.admin).json(&body).send().await.unwrap()
}

async fn patch(server: &TestServer, id: &str, body: Value) -> reqwest::Response {
    let url = server.url(&format!("/v1/tokens/{id}"));
    server.client.patch(url).bearer_auth(&server.admin).json(&body).send().await.unwrap()
}

async fn view(server: &TestServer, id: &str) -> Value {
    server.get(&format!("/v1/tokens/{id}"), &server.admin).await.json().await.unwrap()
}

fn time(value: &Value) -> DateTime<Utc> {
    value.as_str().unwrap().parse().unwrap()
}

#[tokio::test]
async fn rotation_periods_flag_due_tokens_and_the_scheduler_announces_them() {
    let t0 = Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap();
    let clock = Arc::new(ManualClock::new(t0));
    let server = sqlite_server_at(clock.clone()).await;

    // Bad lifecycle rules are refused with the field named, and change nothing.
    for (body, field) in [
        (json!({"disable_after_inactive_days": 0}), "disable_after_inactive_days"),
        (json!({"rotation_period_days": 3651}), "rotation_period_days"),
        (json!({"warning_days": [0]}), "warning_days"),
        (json!({"warning_days": [1, 2, 3, 4, 5, 6]}), "warning_days"),
    ] {
        let refused = problem(put_policy(&server, body).await, StatusCode::BAD_REQUEST, "invalid_field").await;
        assert_eq!(refused["field"], field);
    }
    let unchanged: Value = server.get("/v1/token-policy", &server.admin).await.json().await.unwrap();
    assert!(unchanged["rotation_period_days"].is_null(), "{unchanged}");
    let policy = json!({"rotation_period_days": 30, "disable_after_inactive_days": 90, "warning_days": [7]});
    let set: Value = put_policy(&server, policy).await.json().await.unwrap();
    assert_eq!(
        (set["rotation_period_days"].as_u64(), set["disable_after_inactive_days"].as_u64()),
        (Some(30), Some(90))
    );
    assert_eq!(set["warning_days"], json!([7]));

    let keyspace = server.keyspace("live").await;
    for days in [0, 3651] {
        let body = json!({"keyspace_id": keyspace, "name": "x", "scopes": [], "rotation_period_days": days});
        let refused = server.post("/v1/tokens", &server.admin, body).await;
        assert_eq!(problem(refused, StatusCode::BAD_REQUEST, "invalid_field").await["field"], "rotation_period_days");
    }
    let own = server
        .token(json!({"keyspace_id": keyspace, "name": "deploy bot", "scopes": [], "rotation_period_days": 10}))
        .await;
    let own_id = own["id"].as_str().unwrap().to_owned();
    assert_eq!(own["rotation_period_days"], 10);
    let shown = view(&server, &own_id).await;
    assert_eq!(time(&shown["rotation_due_at"]), t0 + Duration::days(10));
    assert_eq!(shown["rotation_due"], false);

    // `null` falls back to the organization's period; a number sets it again.
    let cleared: Value = patch(&server, &own_id, json!({"rotation_period_days": null})).await.json().await.unwrap();
    assert!(cleared["rotation_period_days"].is_null(), "{cleared}");
    assert_eq!(time(&cleared["rotation_due_at"]), t0 + Duration::days(30));
    let renamed: Value = patch(&server, &own_id, json!({"name": "deploy bot 2"})).await.json().await.unwrap();
    assert!(renamed["rotation_period_days"].is_null(), "left out: unchanged");
    let reset: Value = patch(&server, &own_id, json!({"rotation_period_days": 10})).await.json().await.unwrap();
    assert_eq!(reset["rotation_period_days"], 10);
    let bad = patch(&server, &own_id, json!({"rotation_period_days": -1})).await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);

    let hook = server
        .post(
            "/v1/webhooks",
            &server.admin,
            json!({"url": "https://hooks.example.com/hook", "event_types": ["token.rotation_due", "token.expiring"]}),
        )
        .await;
    assert_eq!(hook.status(), StatusCode::CREATED);
    let hook: Value = hook.json().await.unwrap();
    let hook_id = hook["id"].as_str().unwrap();

    // One second before it is due, nothing; at the instant, flagged and announced once.
    clock.set(t0 + Duration::days(10) - Duration::seconds(1));
    assert_eq!(server.engine.run_lifecycle().await.unwrap().notices, 0);
    assert_eq!(view(&server, &own_id).await["rotation_due"], false);
    clock.set(t0 + Duration::days(10));
    assert_eq!(server.engine.run_lifecycle().await.unwrap().notices, 1);
    assert_eq!(view(&server, &own_id).await["rotation_due"], true);
    let listed: Value =
        server.get(&format!("/v1/tokens?keyspace_id={keyspace}"), &server.admin).await.json().await.unwrap();
    assert_eq!(listed["data"][0]["rotation_due"], true, "{listed}");

    let log: Value =
        server.get(&format!("/v1/webhooks/{hook_id}/deliveries"), &server.admin).await.json().await.unwrap();
    let types: Vec<_> = log["data"].as_array().unwrap().iter().map(|d| d["event_type"].as_str().unwrap()).collect();
    assert_eq!(types, ["token.rotation_due"], "{log}");
    let audit: Value = server.get("/v1/audit?action=token.rotation_due", &server.admin).await.json().await.unwrap();
    assert_eq!(audit["data"][0]["target_id"], own_id.as_str());
    assert_eq!(audit["data"][0]["actor"], "system");
    assert!(!audit.to_string().contains(own["token"].as_str().unwrap()), "no secret in a notice");

    // Rotating clears the flag: the replacement starts a new period.
    let rotated: Value = server
        .post(&format!("/v1/tokens/{own_id}/rotate"), &server.admin, json!({"grace_period": 0}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(rotated["rotation_due"], false, "{rotated}");
    assert_eq!(rotated["rotation_period_days"], 10);
}

#[tokio::test]
async fn a_keyspace_rotation_period_flags_its_tokens_and_bad_rules_get_the_field_named() {
    let t0 = Utc.with_ymd_and_hms(2031, 3, 1, 0, 0, 0).unwrap();
    let clock = Arc::new(ManualClock::new(t0));
    let server = sqlite_server_at(clock.clone()).await;
    let created = server
        .post(
            "/v1/keyspaces",
            &server.admin,
            json!({"name": "billing", "environment": "live", "rotation_period_days": 5, "disable_after_inactive_days": 60}),
        )
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let keyspace: Value = created.json().await.unwrap();
    assert_eq!(
        (keyspace["rotation_period_days"].clone(), keyspace["disable_after_inactive_days"].clone()),
        (json!(5), json!(60))
    );
    let id = keyspace["id"].as_str().unwrap();
    let token = server.token(json!({"keyspace_id": id, "name": "worker", "scopes": []})).await;
    let token_id = token["id"].as_str().unwrap();
    assert_eq!(time(&view(&server, token_id).await["rotation_due_at"]), t0 + Duration::days(5));

    let lifecycle = format!("/v1/keyspaces/{id}/lifecycle");
    let put = |body: Value| server.client.put(server.url(&lifecycle)).bearer_auth(&server.admin).json(&body).send();
    for (body, field) in [
        (json!({"rotation_period_days": 0}), "rotation_period_days"),
        (json!({"disable_after_inactive_days": 4000}), "disable_after_inactive_days"),
        (json!({"rotation_period_days": "soon"}), "rotation_period_days"),
    ] {
        let refused = problem(put(body.clone()).await.unwrap(), StatusCode::BAD_REQUEST, "invalid_field").await;
        assert_eq!(refused["field"], field, "{body}: {refused}");
    }
    let changed: Value = put(json!({"rotation_period_days": 9})).await.unwrap().json().await.unwrap();
    assert_eq!(changed["rotation_period_days"], 9);
    assert_eq!(changed["disable_after_inactive_days"], Value::Null, "replaced whole");
    clock.set(t0 + Duration::days(9));
    let flagged = view(&server, token_id).await;
    assert_eq!(time(&flagged["rotation_due_at"]), t0 + Duration::days(9));
    assert_eq!(flagged["rotation_due"], true, "{flagged}");
    // Filtered by action: on the manual clock it shares its instant with the keyspace's creation.
    let path = format!("/v1/audit?target_id={id}&action=keyspace.lifecycle_changed");
    let audit: Value = server.get(&path, &server.admin).await.json().await.unwrap();
    let changes = audit["data"].as_array().unwrap();
    assert_eq!(changes.len(), 1, "the one accepted PUT: {audit}");
    assert_eq!(changes[0]["details"]["after"]["rotation_period_days"], 9, "{audit}");
    let missing = server.client.put(server.url("/v1/keyspaces/ks_0000000000000000000000/lifecycle"));
    let missing = missing.bearer_auth(&server.admin).json(&json!({})).send().await.unwrap();
    problem(missing, StatusCode::NOT_FOUND, "not_found").await;
}
