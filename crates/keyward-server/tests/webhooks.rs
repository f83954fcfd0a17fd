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

/// The forms an attacker would try to reach inside the server's network:
/// each refused with a stable code that names the rule and the setting
/// that opens it. Numeric forms are read as browsers read them.
#[tokio::test]
async fn literal_internal_destinations_are_refused_at_registration_in_every_spelling() {
    let server = sqlite_server().await;
    for (url, rule, address) in [
        ("http://127.0.0.1:5432/", "loopback", "127.0.0.1"),
        ("http://2130706433:5432/", "loopback", "127.0.0.1"),
        ("http://0x7f000001/", "loopback", "127.0.0.1"),
        ("http://0177.0.0.1/", "loopback", "127.0.0.1"),
        ("http://127.1/", "loopback", "127.0.0.1"),
        ("http://[::1]/", "loopback", "::1"),
        ("http://[::ffff:127.0.0.1]/", "loopback", "::ffff:127.0.0.1"),
        ("https://10.1.2.3/", "private", "10.1.2.3"),
        ("https://172.16.0.1/", "private", "172.16.0.1"),
        ("https://192.168.1.1/", "private", "192.168.1.1"),
        ("http://169.254.169.254/latest/meta-data/", "link_local", "169.254.169.254"),
        ("https://[fd00::1]/", "unique_local", "fd00::1"),
        ("https://[fe80::1]/", "link_local", "fe80::1"),
        ("https://100.64.0.1/", "shared", "100.64.0.1"),
        ("https://0.0.0.0/", "unspecified", "0.0.0.0"),
        ("https://[64:ff9b::a9fe:a9fe]/", "link_local", "64:ff9b::a9fe:a9fe"),
        ("https://224.0.0.1/", "multicast", "224.0.0.1"),
        ("https://192.0.2.1/", "documentation", "192.0.2.1"),
    ] {
        let refused = server.post("/v1/webhooks", &server.admin, json!({"url": url})).await;
        let refused = problem(refused, StatusCode::BAD_REQUEST, "webhook_destination_forbidden").await;
        assert_eq!(refused["field"], "url", "{url}: {refused}");
        let detail = refused["detail"].as_str().unwrap();
        assert!(detail.contains(&format!("`{rule}` rule")), "{url}: names the rule: {detail}");
        assert!(detail.contains(address), "{url}: names the address it means: {detail}");
        assert!(
            detail.contains("webhook_allowed_networks") && detail.contains("KEYWARD_WEBHOOK_ALLOWED_NETWORKS"),
            "{url}: says how an operator allows it: {detail}"
        );
    }
    let listed: Value = server.get("/v1/webhooks", &server.admin).await.json().await.unwrap();
    assert_eq!(listed["data"], json!([]), "none registered");
    // A name is judged at delivery, by what it resolves to then.
    let by_name = server.post("/v1/webhooks", &server.admin, json!({"url": "http://localhost:9/in"})).await;
    assert_eq!(by_name.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn an_operator_opens_exactly_the_networks_named() {
    let dir = tempfile::tempdir().unwrap();
    let store = keyward_store_sqlite::SqliteStore::open(&dir.path().join("keyward.db")).await.unwrap();
    let config = keyward_engine::EngineConfig {
        master_key: Some(keyward_core::webhook::MasterKey::generate(&keyward_core::OsRng).unwrap().0),
        webhook_egress: keyward_core::egress::EgressPolicy::parse("127.0.0.1/32,10.20.0.0/16").unwrap(),
        ..keyward_engine::EngineConfig::default()
    };
    let server = common::start_with(std::sync::Arc::new(store), Some(dir), &[], config).await;
    for url in ["http://127.0.0.1:9/in", "http://2130706433:9/in", "https://10.20.3.4/in"] {
        let opened = server.post("/v1/webhooks", &server.admin, json!({"url": url})).await;
        assert_eq!(opened.status(), StatusCode::CREATED, "{url}");
    }
    for url in ["http://127.0.0.2:9/in", "https://10.21.0.1/in", "https://169.254.169.254/"] {
        let refused = server.post("/v1/webhooks", &server.admin, json!({"url": url})).await;
        problem(refused, StatusCode::BAD_REQUEST, "webhook_destination_forbidden").await;
    }
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
