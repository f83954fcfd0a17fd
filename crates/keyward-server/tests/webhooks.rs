//! Webhook endpoints over HTTP: the signing secret shown once, precise
//! problems for bad input with nothing half-made, the delivery log, and
//! tenants kept apart. Delivery itself is tested in `keyward-webhooks`
//! against a real receiver, and end to end through `keyward serve`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{problem, sqlite_server};
use reqwest::StatusCode;
use serde_json::{json, Value};

#[tokio::test]
async fn endpoints_are_registered_once_listed_without_secrets_and_logged() {
    let server = sqlite_server().await;
    let created = server
        .post(
            "/v1/webhooks",
            &server.admin,
            json!({"url": "https://hooks.example.com/keyward", "event_types": ["token.revoked", "token.created", "token.revoked"], "description": "ops"}),
        )
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    assert_eq!(created.headers()["cache-control"], "no-store");
    let created: Value = created.json().await.unwrap();
    let id = created["id"].as_str().unwrap();
    let secret = created["secret"].as_str().unwrap();
    assert!(id.starts_with("whk_") && secret.starts_with("whsec_"), "{created}");
    assert_eq!(created["event_types"], json!(["token.created", "token.revoked"]), "deduplicated and sorted");

    let listed = server.get("/v1/webhooks", &server.admin).await.text().await.unwrap();
    assert!(listed.contains(id) && !listed.contains(secret) && !listed.contains("secret"), "{listed}");
    let shown = server.get(&format!("/v1/webhooks/{id}"), &server.admin).await.text().await.unwrap();
    assert!(!shown.contains(secret));

    // A lifecycle change queues a delivery the log shows at once.
    let keyspace = server.keyspace("live").await;
    let token = server.token(json!({"keyspace_id": keyspace, "name": "watched", "scopes": []})).await;
    server.post(&format!("/v1/tokens/{}/revoke", token["id"].as_str().unwrap()), &server.admin, json!({})).await;
    let log: Value = server.get(&format!("/v1/webhooks/{id}/deliveries"), &server.admin).await.json().await.unwrap();
    let types: Vec<_> = log["data"].as_array().unwrap().iter().map(|d| d["event_type"].as_str().unwrap()).collect();
    assert_eq!(types, ["token.revoked", "token.created"], "{log}");
    assert_eq!(log["data"][0]["status"], "pending");
    assert_eq!(log["data"][0]["attempts"], json!([]));

    let audit: Value = server.get(&format!("/v1/audit?target_id={id}"), &server.admin).await.json().await.unwrap();
    assert_eq!(audit["data"][0]["action"], "webhook.created");
    assert!(!audit.to_string().contains(secret), "no secret in the audit log");

    let deleted = server.client.delete(server.url(&format!("/v1/webhooks/{id}"))).bearer_auth(&server.admin).send();
    assert_eq!(deleted.await.unwrap().status(), StatusCode::NO_CONTENT);
    let gone = server.get(&format!("/v1/webhooks/{id}/deliveries"), &server.admin).await;
    problem(gone, StatusCode::NOT_FOUND, "not_found").await;
}

#[tokio::test]
async fn bad_endpoints_get_precise_problems_and_nothing_is_registered() {
    let server = sqlite_server().await;
    let register = |body: Value| {
        let server = &server;
        async move { server.post("/v1/webhooks", &server.admin, body).await }
    };
    for (body, field) in [
        (json!({"url": "http://hooks.example.com/in"}), "url"),
        (json!({"url": "hooks.example.com"}), "url"),
        (json!({"url": "ftp://hooks.example.com/"}), "url"),
        (json!({"url": "https://user:pw@hooks.example.com/"}), "url"),
        (json!({"url": "https://hooks.example.com/", "event_types": ["token.exploded"]}), "event_types"),
    ] {
        let refused = problem(register(body.clone()).await, StatusCode::BAD_REQUEST, "invalid_field").await;
        assert_eq!(refused["field"], field, "{body}: {refused}");
    }
    let insecure = problem(
        register(json!({"url": "http://hooks.example.com/in"})).await,
        StatusCode::BAD_REQUEST,
        "invalid_field",
    )
    .await;
    assert!(insecure["detail"].as_str().unwrap().contains("https"), "says what to do: {insecure}");
    problem(
        register(json!({"url": "https://hooks.example.com/", "surprise": 1})).await,
        StatusCode::BAD_REQUEST,
        "invalid_field",
    )
    .await;
    problem(register(json!({})).await, StatusCode::BAD_REQUEST, "invalid_field").await;
    let listed: Value = server.get("/v1/webhooks", &server.admin).await.json().await.unwrap();
    assert_eq!(listed["data"], json!([]), "nothing half-made");
    let unknown = server.get("/v1/webhooks/whk_0000000000000000000000/deliveries", &server.admin).await;
    problem(unknown, StatusCode::NOT_FOUND, "not_found").await;
}

#[tokio::test]
async fn without_a_master_key_registration_says_how_to_get_one() {
    let dir = tempfile::tempdir().unwrap();
    let store = keyward_store_sqlite::SqliteStore::open(&dir.path().join("keyward.db")).await.unwrap();
    let server = common::start(std::sync::Arc::new(store), Some(dir)).await;
    let refused = server.post("/v1/webhooks", &server.admin, json!({"url": "https://hooks.example.com/"})).await;
    let refused = problem(refused, StatusCode::CONFLICT, "master_key_missing").await;
    assert!(refused["detail"].as_str().unwrap().contains("KEYWARD_MASTER_KEY_FILE"), "{refused}");
}

#[tokio::test]
async fn a_signing_secret_is_replaced_with_an_overlap_and_shown_once() {
    let server = sqlite_server().await;
    let created: Value = server
        .post("/v1/webhooks", &server.admin, json!({"url": "https://hooks.example.com/"}))
        .await
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap();
    let path = format!("/v1/webhooks/{id}/rotate-secret");
    for (body, field) in [
        (json!({"overlap": -1}), "overlap"),
        (json!({"overlap": "8d"}), "overlap"),
        (json!({"overlap": "soon"}), "overlap"),
    ] {
        let refused =
            problem(server.post(&path, &server.admin, body.clone()).await, StatusCode::BAD_REQUEST, "invalid_field")
                .await;
        assert_eq!(refused["field"], field, "{body}: {refused}");
    }
    let rotated = server.post(&path, &server.admin, json!({"overlap": "1h"})).await;
    assert_eq!(rotated.status(), StatusCode::OK);
    assert_eq!(rotated.headers()["cache-control"], "no-store");
    let rotated: Value = rotated.json().await.unwrap();
    let secret = rotated["secret"].as_str().unwrap();
    assert!(secret.starts_with("whsec_") && secret != created["secret"].as_str().unwrap(), "{rotated}");
    assert_eq!(rotated["id"], id);
    assert!(rotated["previous_secret_signs_until"].is_string(), "{rotated}");
    // With no body the default overlap applies.
    let again = server.client.post(server.url(&path)).bearer_auth(&server.admin).send().await.unwrap();
    assert_eq!(again.status(), StatusCode::OK);

    let path = format!("/v1/audit?target_id={id}&action=webhook.secret_rotated");
    let audit: Value = server.get(&path, &server.admin).await.json().await.unwrap();
    assert_eq!(audit["data"].as_array().unwrap().len(), 2, "{audit}");
    assert!(!audit.to_string().contains(secret), "no secret in the audit log");
    let missing = server.post("/v1/webhooks/whk_0000000000000000000000/rotate-secret", &server.admin, json!({})).await;
    problem(missing, StatusCode::NOT_FOUND, "not_found").await;
}

#[tokio::test]
async fn automatic_rotation_is_opted_into_and_out_of_per_token_with_precise_problems() {
    let server = sqlite_server().await;
    let hook: Value = server
        .post("/v1/webhooks", &server.admin, json!({"url": "https://hooks.example.com/"}))
        .await
        .json()
        .await
        .unwrap();
    let hook = hook["id"].as_str().unwrap();
    let keyspace = server.keyspace("live").await;
    let create = |extra: Value| {
        let mut body = json!({"keyspace_id": keyspace, "name": "worker", "scopes": []});
        body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        body
    };
    for (extra, field) in [
        (
            json!({"rotation_period_days": 30, "auto_rotate": {"webhook_id": "whk_0000000000000000000000"}}),
            "auto_rotate.webhook_id",
        ),
        (
            json!({"rotation_period_days": 30, "auto_rotate": {"webhook_id": hook, "grace_period": "30s"}}),
            "auto_rotate.grace_period",
        ),
        (
            json!({"rotation_period_days": 30, "auto_rotate": {"webhook_id": hook, "grace_period": -5}}),
            "auto_rotate.grace_period",
        ),
        (json!({"auto_rotate": {"webhook_id": hook}}), "auto_rotate"),
    ] {
        let refused = problem(
            server.post("/v1/tokens", &server.admin, create(extra.clone())).await,
            StatusCode::BAD_REQUEST,
            "invalid_field",
        )
        .await;
        assert_eq!(refused["field"], field, "{extra}: {refused}");
    }
    let listed: Value =
        server.get(&format!("/v1/tokens?keyspace_id={keyspace}"), &server.admin).await.json().await.unwrap();
    assert_eq!(listed["data"], json!([]), "nothing half-made");

    let token = server.token(create(json!({"rotation_period_days": 30, "auto_rotate": {"webhook_id": hook}}))).await;
    assert_eq!(token["auto_rotate"], json!({"webhook_id": hook, "grace_period_seconds": 86400}), "a day by default");
    let id = token["id"].as_str().unwrap();
    let patch = |body: Value| {
        server.client.patch(server.url(&format!("/v1/tokens/{id}"))).bearer_auth(&server.admin).json(&body).send()
    };
    let changed: Value =
        patch(json!({"auto_rotate": {"webhook_id": hook, "grace_period": "2h"}})).await.unwrap().json().await.unwrap();
    assert_eq!(changed["auto_rotate"]["grace_period_seconds"], 7200, "{changed}");
    let off: Value = patch(json!({"auto_rotate": null})).await.unwrap().json().await.unwrap();
    assert_eq!(off["auto_rotate"], Value::Null, "{off}");
    assert_eq!(off["rotation_period_days"], 30, "the period stays");
}
