//! A keyspace's rules over HTTP: IP allowlists behind trusted proxies,
//! confirmed widening, scope catalogs and the organization's token policy.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;

use common::{management_keyspace, problem, sqlite_server, start_trusting};
use reqwest::StatusCode;
use serde_json::{json, Value};

#[tokio::test]
async fn ip_allowlists_proxies_keyspaces_and_confirmed_widening_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let store = keyward_store_sqlite::SqliteStore::open(&dir.path().join("keyward.db")).await.unwrap();
    // The test client connects from 127.0.0.1: that is the trusted proxy.
    let server = start_trusting(Arc::new(store), Some(dir), &["127.0.0.0/8"]).await;
    let management = management_keyspace(&server).await;
    let pinned = server
        .token(json!({"keyspace_id": management, "name": "edge", "scopes": ["keyward:verify"], "allowed_ips": ["203.0.113.0/24"]}))
        .await;
    assert_eq!(pinned["allowed_ips"], json!(["203.0.113.0/24"]));
    let pinned = pinned["token"].as_str().unwrap().to_owned();

    let keyspace = server.keyspace("live").await;
    let v6_only = server
        .token(json!({"keyspace_id": keyspace, "name": "v6", "scopes": ["invoices:read"], "allowed_ips": ["2001:db8::/32"]}))
        .await;
    let v6_secret = v6_only["token"].as_str().unwrap().to_owned();
    let verify_as = |forwarded: Option<&'static str>, body: Value| {
        let mut request = server.client.post(server.url("/v1/verify")).bearer_auth(&pinned).json(&body);
        if let Some(forwarded) = forwarded {
            request = request.header("x-forwarded-for", forwarded);
        }
        request.send()
    };

    // The caller's own allowlist is checked against the address the proxy saw.
    let from_office =
        verify_as(Some("203.0.113.5"), json!({"token": v6_secret, "client_ip": "2001:db8::7"})).await.unwrap();
    assert_eq!(from_office.status(), StatusCode::OK);
    assert_eq!(from_office.json::<Value>().await.unwrap()["code"], "VALID");
    let direct = verify_as(None, json!({"token": v6_secret})).await.unwrap();
    problem(direct, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let spoofed = verify_as(Some("203.0.113.5, 198.51.100.7"), json!({"token": v6_secret})).await.unwrap();
    problem(spoofed, StatusCode::UNAUTHORIZED, "unauthorized").await;

    let elsewhere =
        verify_as(Some("203.0.113.5"), json!({"token": v6_secret, "client_ip": "192.0.2.1"})).await.unwrap();
    assert_eq!(elsewhere.json::<Value>().await.unwrap()["code"], "FORBIDDEN_IP");
    let garbled =
        verify_as(Some("203.0.113.5"), json!({"token": v6_secret, "client_ip": "2001:db8::7:80:x"})).await.unwrap();
    assert_eq!(problem(garbled, StatusCode::BAD_REQUEST, "invalid_field").await["field"], "client_ip");
    let other_keyspace = server.keyspace("test").await;
    let wrong = verify_as(
        Some("203.0.113.5"),
        json!({"token": v6_secret, "client_ip": "2001:db8::7", "keyspace_id": other_keyspace}),
    )
    .await
    .unwrap();
    assert_eq!(wrong.json::<Value>().await.unwrap()["code"], "NOT_FOUND");

    let bad_cidr = server
        .post(
            "/v1/tokens",
            &server.admin,
            json!({"keyspace_id": keyspace, "name": "x", "scopes": [], "allowed_ips": ["10.0.0.1/8"]}),
        )
        .await;
    let body = problem(bad_cidr, StatusCode::BAD_REQUEST, "invalid_field").await;
    assert_eq!(body["field"], "allowed_ips");
    assert!(body["detail"].as_str().unwrap().contains("10.0.0.0/8"));

    // Widening scopes needs an explicit confirmation.
    let id = v6_only["id"].as_str().unwrap();
    let path = format!("/v1/tokens/{id}");
    let patch = |body: Value| server.client.patch(server.url(&path)).bearer_auth(&server.admin).json(&body).send();
    let unconfirmed = patch(json!({"scopes": ["invoices:*"]})).await.unwrap();
    let body = problem(unconfirmed, StatusCode::BAD_REQUEST, "confirmation_required").await;
    assert_eq!(body["field"], "confirm_broader_scopes");
    let confirmed = patch(json!({"scopes": ["invoices:*"], "confirm_broader_scopes": true})).await.unwrap();
    assert_eq!(confirmed.status(), StatusCode::OK);
    assert_eq!(confirmed.json::<Value>().await.unwrap()["scopes"], json!(["invoices:*"]));

    // The audit log records the client behind the proxy.
    let latest_update_source = || async {
        let events: Value = server.get("/v1/audit?action=token.updated", &server.admin).await.json().await.unwrap();
        events["data"][0]["source_ip"].clone()
    };
    assert_eq!(latest_update_source().await, "127.0.0.1", "the PATCH above came straight from the proxy host");
    let renamed = server
        .client
        .patch(server.url(&path))
        .bearer_auth(&server.admin)
        .header("x-forwarded-for", "198.51.100.9")
        .json(&json!({"name": "renamed"}))
        .send()
        .await
        .unwrap();
    assert_eq!(renamed.status(), StatusCode::OK);
    assert_eq!(latest_update_source().await, "198.51.100.9");
}

/// A 404 body without what differs per request, so two can be compared.
#[tokio::test]
async fn scope_catalogs_over_http() {
    let server = sqlite_server().await;
    let created = server
        .post(
            "/v1/keyspaces",
            &server.admin,
            json!({"name": "billing", "environment": "live", "scope_catalog": [
                {"scope": "invoices:read", "description": "Read invoices"},
                {"scope": "invoices:write", "description": "Create and change invoices"}
            ]}),
        )
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let keyspace: Value = created.json().await.unwrap();
    let id = keyspace["id"].as_str().unwrap().to_owned();
    assert_eq!(
        keyspace["scope_catalog"][1],
        json!({"scope": "invoices:write", "description": "Create and change invoices"})
    );

    let outside = server
        .post("/v1/tokens", &server.admin, json!({"keyspace_id": id, "name": "t", "scopes": ["refunds:read"]}))
        .await;
    let body = problem(outside, StatusCode::BAD_REQUEST, "invalid_field").await;
    assert_eq!(body["field"], "scopes");
    assert!(body["detail"].as_str().unwrap().contains("invoices:read, invoices:write"), "{body}");

    let put = |body: Value| {
        server
            .client
            .put(server.url(&format!("/v1/keyspaces/{id}/scope-catalog")))
            .bearer_auth(&server.admin)
            .json(&body)
            .send()
    };
    let missing_description = put(json!({"scope_catalog": [{"scope": "refunds:read"}]})).await.unwrap();
    let body = problem(missing_description, StatusCode::BAD_REQUEST, "invalid_field").await;
    assert!(body["field"].as_str().unwrap().starts_with("scope_catalog[0]"), "{body}");
    let bound = put(json!({"scope_catalog": [{"scope": "refunds:read@x/1", "description": "d"}]})).await.unwrap();
    assert_eq!(problem(bound, StatusCode::BAD_REQUEST, "invalid_field").await["field"], "scopes");
    let replaced =
        put(json!({"scope_catalog": [{"scope": "refunds:read", "description": "See refunds"}]})).await.unwrap();
    assert_eq!(replaced.status(), StatusCode::OK);
    let replaced: Value = replaced.json().await.unwrap();
    assert_eq!(replaced["scope_catalog"], json!([{"scope": "refunds:read", "description": "See refunds"}]));
    let token = server.token(json!({"keyspace_id": id, "name": "t", "scopes": ["refunds:read@shop/9"]})).await;
    assert_eq!(token["scopes"], json!(["refunds:read@shop/9"]));

    let audit: Value = server
        .get(&format!("/v1/audit?action=keyspace.scopes_changed&target_id={id}"), &server.admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(audit["data"][0]["details"]["scopes_before"][0]["scope"], "invoices:read");
}

#[tokio::test]
async fn token_policies_over_http() {
    let server = sqlite_server().await;
    let keyspace = server.keyspace("live").await;
    let old = server.token(json!({"keyspace_id": keyspace, "name": "old", "scopes": ["users:delete"]})).await;
    let old_id = old["id"].as_str().unwrap().to_owned();
    let put = |token: &str, body: Value| {
        server.client.put(server.url("/v1/token-policy")).bearer_auth(token).json(&body).send()
    };

    let unknown = put(&server.admin, json!({"require_expiry": true, "max_ttl": 5})).await.unwrap();
    assert_eq!(problem(unknown, StatusCode::BAD_REQUEST, "invalid_field").await["field"], "max_ttl");
    let inconsistent =
        put(&server.admin, json!({"max_lifetime_seconds": 60, "default_lifetime_seconds": 61})).await.unwrap();
    assert_eq!(
        problem(inconsistent, StatusCode::BAD_REQUEST, "invalid_field").await["field"],
        "default_lifetime_seconds"
    );
    let policy = json!({"max_lifetime_seconds": 86400, "require_expiry": true, "grantable_scopes": ["invoices:*"],
                        "require_ip_allowlist": true});
    let set = put(&server.admin, policy.clone()).await.unwrap();
    assert_eq!(set.status(), StatusCode::OK);
    let shown: Value = server.get("/v1/token-policy", &server.admin).await.json().await.unwrap();
    assert_eq!(shown["grantable_scopes"], json!(["invoices:*"]));
    assert_eq!(shown["max_active_tokens_per_owner"], Value::Null);

    let refused = server
        .post("/v1/tokens", &server.admin, json!({"keyspace_id": keyspace, "name": "new", "scopes": ["users:read"]}))
        .await;
    let body = problem(refused, StatusCode::BAD_REQUEST, "policy_violation").await;
    let codes: Vec<&str> = body["violations"].as_array().unwrap().iter().map(|v| v["code"].as_str().unwrap()).collect();
    assert_eq!(codes, ["expiry_required", "scope_not_grantable", "ip_allowlist_required"]);
    assert_eq!(body["field"], "expires_at");
    assert!(body["detail"].as_str().unwrap().contains("`users:read`"), "{body}");
    let compliant = server
        .token(json!({"keyspace_id": keyspace, "name": "new", "scopes": ["invoices:read"], "expires_in": 3600,
                      "allowed_ips": ["2001:db8::/32"]}))
        .await;
    assert_eq!(compliant["policy_violations"], json!([]));

    // The old token still verifies, is flagged where it is shown, and is listed.
    assert_eq!(server.verify(old["token"].as_str().unwrap(), &[]).await["code"], "VALID");
    let flagged: Value = server.get(&format!("/v1/tokens/{old_id}"), &server.admin).await.json().await.unwrap();
    assert_eq!(
        flagged["policy_violations"],
        json!(["expiry_required", "scope_not_grantable", "ip_allowlist_required"])
    );
    let report: Value = server.get("/v1/token-policy/violations?limit=200", &server.admin).await.json().await.unwrap();
    let reported: Vec<&str> =
        report["data"].as_array().unwrap().iter().map(|f| f["token"]["id"].as_str().unwrap()).collect();
    assert!(reported.contains(&old_id.as_str()) && !reported.contains(&compliant["id"].as_str().unwrap()), "{report}");
    assert!(report["data"][0]["violations"][0]["detail"].as_str().unwrap().starts_with("The organization's policy"));

    // Only holders of keyward:policies:write change the policy.
    let management = management_keyspace(&server).await;
    let reader = server
        .token(
            json!({"keyspace_id": management, "name": "reader", "scopes": ["keyward:tokens:read"], "expires_in": 600,
                      "allowed_ips": ["127.0.0.1/32"]}),
        )
        .await;
    let reader = reader["token"].as_str().unwrap();
    problem(put(reader, policy).await.unwrap(), StatusCode::FORBIDDEN, "insufficient_scope").await;
    assert_eq!(server.get("/v1/token-policy", reader).await.status(), StatusCode::OK);
}
