//! Rotation, grace periods and revocation reasons over HTTP, on a real
//! server. Exact time boundaries are tested in the engine with an injected
//! clock; here the wire: status codes, problem codes, shown-once secrets.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{problem, sqlite_server, TestServer};
use reqwest::StatusCode;
use serde_json::{json, Value};

async fn issued(server: &TestServer, keyspace: &str, name: &str) -> (String, String) {
    let created = server
        .token(json!({"keyspace_id": keyspace, "name": name, "scopes": ["invoices:read"], "expires_in": 86400, "metadata": {"team": "billing"}}))
        .await;
    (created["id"].as_str().unwrap().to_owned(), created["token"].as_str().unwrap().to_owned())
}

#[tokio::test]
async fn rotation_keeps_both_tokens_valid_through_the_grace_and_ends_it_on_request() {
    let server = sqlite_server().await;
    let keyspace = server.keyspace("live").await;
    let (id, old_secret) = issued(&server, &keyspace, "billing worker").await;

    let response = server.post(&format!("/v1/tokens/{id}/rotate"), &server.admin, json!({"grace_period": 3600})).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let new_id_in_location = response.headers()["location"].to_str().unwrap().to_owned();
    let rotated: Value = response.json().await.unwrap();
    let new_secret = rotated["token"].as_str().unwrap().to_owned();
    let new_id = rotated["id"].as_str().unwrap().to_owned();
    assert_eq!(new_id_in_location, format!("/v1/tokens/{new_id}"));
    assert!(new_secret.starts_with("pay_live_") && new_secret != old_secret);
    assert_eq!(rotated["name"], "billing worker");
    assert_eq!(rotated["scopes"], json!(["invoices:read"]));
    assert_eq!(rotated["metadata"], json!({"team": "billing"}));
    assert_eq!(rotated["rotated_from"], id.as_str());
    assert_eq!(rotated["old_token"]["replaced_by"], new_id.as_str());
    assert_eq!(rotated["old_token"]["in_rotation_grace"], true);
    assert!(rotated["old_token"].get("token").is_none(), "the old token's secret is never shown again");
    assert!(!rotated["old_token"].to_string().contains(&old_secret));

    let old = server.verify(&old_secret, &[]).await;
    assert_eq!((old["valid"].as_bool(), old["code"].as_str()), (Some(true), Some("VALID")));
    assert_eq!(old["in_rotation_grace"], true, "the verifier learns the client should switch");
    assert_eq!(old["expires_at"], rotated["old_token"]["expires_at"], "and when it stops working");
    let new = server.verify(&new_secret, &[]).await;
    assert_eq!(new["code"], "VALID");
    assert!(new.get("in_rotation_grace").is_none());

    let shown: Value = server.get(&format!("/v1/tokens/{id}"), &server.admin).await.json().await.unwrap();
    assert_eq!((shown["state"].as_str(), shown["in_rotation_grace"].as_bool()), (Some("active"), Some(true)));
    let clients = server.get(&format!("/v1/tokens/{id}/clients"), &server.admin).await;
    assert_eq!(clients.status(), StatusCode::OK);
    assert!(clients.json::<Value>().await.unwrap()["data"].is_array());

    // Extend, then end early: the old token answers EXPIRED, saying why.
    let extended = server.post(&format!("/v1/tokens/{id}/grace"), &server.admin, json!({"ends_in": 7200})).await;
    assert_eq!(extended.status(), StatusCode::OK);
    let ended = server.post(&format!("/v1/tokens/{id}/grace"), &server.admin, json!({"ends_in": 0})).await;
    assert_eq!(ended.status(), StatusCode::OK);
    let ended: Value = ended.json().await.unwrap();
    assert_eq!((ended["state"].as_str(), ended["in_rotation_grace"].as_bool()), (Some("expired"), Some(false)));
    let old = server.verify(&old_secret, &[]).await;
    assert_eq!((old["code"].as_str(), old["expired_reason"].as_str()), (Some("EXPIRED"), Some("ROTATION_GRACE_ENDED")));
    assert_eq!(server.verify(&new_secret, &[]).await["code"], "VALID");

    let audit: Value = server.get(&format!("/v1/audit?target_id={id}"), &server.admin).await.json().await.unwrap();
    let actions: Vec<&str> = audit["data"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["token.grace_changed", "token.grace_changed", "token.rotated", "token.created"]);
}

#[tokio::test]
async fn a_zero_grace_revokes_at_once_and_reasons_are_stored_and_shown() {
    let server = sqlite_server().await;
    let keyspace = server.keyspace("test").await;
    let (id, old_secret) = issued(&server, &keyspace, "ci").await;
    let rotated: Value = server
        .post(&format!("/v1/tokens/{id}/rotate"), &server.admin, json!({"grace_period": 0}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(rotated["old_token"]["state"], "revoked");
    assert_eq!(rotated["old_token"]["revoked_reason"], "rotation");
    let old = server.verify(&old_secret, &[]).await;
    assert_eq!((old["code"].as_str(), old["revoked_reason"].as_str()), (Some("REVOKED"), Some("rotation")));

    // A revocation reason given by the caller; a second revocation keeps the first.
    let new_id = rotated["id"].as_str().unwrap();
    let new_secret = rotated["token"].as_str().unwrap();
    let leaked = server.post(&format!("/v1/tokens/{new_id}/revoke"), &server.admin, json!({"reason": "leaked"})).await;
    assert_eq!(leaked.json::<Value>().await.unwrap()["revoked_reason"], "leaked");
    let again = server.post(&format!("/v1/tokens/{new_id}/revoke"), &server.admin, json!({})).await;
    assert_eq!(again.json::<Value>().await.unwrap()["revoked_reason"], "leaked", "the first reason stands");
    assert_eq!(server.verify(new_secret, &[]).await["revoked_reason"], "leaked");
    let audit: Value = server
        .get(&format!("/v1/audit?target_id={new_id}&action=token.revoked"), &server.admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(audit["data"][0]["details"]["reason"], "leaked");
}

#[tokio::test]
async fn bad_rotations_get_precise_problems_and_change_nothing() {
    let server = sqlite_server().await;
    let keyspace = server.keyspace("live").await;
    let (id, secret) = issued(&server, &keyspace, "guarded").await;
    let rotate = |body: Value| {
        let server = &server;
        let path = format!("/v1/tokens/{id}/rotate");
        async move { server.post(&path, &server.admin, body).await }
    };

    let missing = problem(rotate(json!({})).await, StatusCode::BAD_REQUEST, "invalid_field").await;
    assert_eq!(missing["field"], "grace_period", "{missing}");
    let too_long =
        problem(rotate(json!({"grace_period": 604_801})).await, StatusCode::BAD_REQUEST, "invalid_field").await;
    assert_eq!(too_long["field"], "grace_period");
    assert!(too_long["detail"].as_str().unwrap().contains("604800"), "names the maximum: {too_long}");
    let negative = problem(rotate(json!({"grace_period": -5})).await, StatusCode::BAD_REQUEST, "invalid_field").await;
    assert_eq!(negative["field"], "grace_period");
    let past =
        problem(rotate(json!({"grace_period": 60, "expires_in": -1})).await, StatusCode::BAD_REQUEST, "invalid_field")
            .await;
    assert_eq!(past["field"], "expires_in");
    problem(rotate(json!({"grace_period": 60, "surprise": 1})).await, StatusCode::BAD_REQUEST, "invalid_field").await;
    let unknown =
        server.post("/v1/tokens/tok_doesnotexist00000000000/rotate", &server.admin, json!({"grace_period": 0})).await;
    problem(unknown, StatusCode::NOT_FOUND, "not_found").await;

    // Nothing above changed the token.
    let shown: Value = server.get(&format!("/v1/tokens/{id}"), &server.admin).await.json().await.unwrap();
    assert!(shown["replaced_by"].is_null());
    assert_eq!(server.verify(&secret, &[]).await["code"], "VALID");
    let listed: Value =
        server.get(&format!("/v1/tokens?keyspace_id={keyspace}"), &server.admin).await.json().await.unwrap();
    assert_eq!(listed["data"].as_array().unwrap().len(), 1, "no half-made replacement");

    // Rotated once; again is a conflict, and so is ending a grace that is not there.
    assert_eq!(rotate(json!({"grace_period": 60})).await.status(), StatusCode::CREATED);
    problem(rotate(json!({"grace_period": 60})).await, StatusCode::CONFLICT, "token_already_rotated").await;
    let (plain, _) = issued(&server, &keyspace, "plain").await;
    let no_grace = server.post(&format!("/v1/tokens/{plain}/grace"), &server.admin, json!({"ends_in": 0})).await;
    problem(no_grace, StatusCode::CONFLICT, "not_in_rotation_grace").await;

    // A revoked token is not rotated; a reason of Keyward's own is refused.
    let bogus = server.post(&format!("/v1/tokens/{plain}/revoke"), &server.admin, json!({"reason": "bored"})).await;
    assert_eq!(problem(bogus, StatusCode::BAD_REQUEST, "invalid_field").await["field"], "reason");
    let reserved =
        server.post(&format!("/v1/tokens/{plain}/revoke"), &server.admin, json!({"reason": "rotation"})).await;
    assert_eq!(problem(reserved, StatusCode::BAD_REQUEST, "invalid_field").await["field"], "reason");
    let revoked = server.post(&format!("/v1/tokens/{plain}/revoke"), &server.admin, json!({"reason": "policy"})).await;
    assert_eq!(revoked.status(), StatusCode::OK);
    let rotated_revoked =
        server.post(&format!("/v1/tokens/{plain}/rotate"), &server.admin, json!({"grace_period": 60})).await;
    problem(rotated_revoked, StatusCode::CONFLICT, "token_revoked").await;
}

#[tokio::test]
async fn bulk_revocation_counts_first_then_revokes_only_what_was_counted() {
    let server = sqlite_server().await;
    let keyspace = server.keyspace("live").await;
    let mut secrets = Vec::new();
    for n in 0..3 {
        let created = server
            .token(json!({"keyspace_id": keyspace, "name": format!("ci runner {n}"), "scopes": [], "owner": "svc_ci"}))
            .await;
        secrets.push(created["token"].as_str().unwrap().to_owned());
    }
    let keep =
        server.token(json!({"keyspace_id": keyspace, "name": "ci other", "scopes": [], "owner": "svc_web"})).await;
    let bulk = |body: Value| {
        let server = &server;
        async move { server.post("/v1/tokens/bulk-revoke", &server.admin, body).await }
    };

    let counted: Value = bulk(json!({"owner": "svc_ci", "dry_run": true})).await.json().await.unwrap();
    assert_eq!((counted["dry_run"].as_bool(), counted["matched"].as_u64()), (Some(true), Some(3)));
    assert_eq!(counted["revoked"], json!([]));
    assert_eq!(server.verify(&secrets[0], &[]).await["code"], "VALID", "a dry run changes nothing");

    // The count no longer holds: nothing is revoked.
    server.token(json!({"keyspace_id": keyspace, "name": "ci runner 3", "scopes": [], "owner": "svc_ci"})).await;
    let changed = bulk(json!({"owner": "svc_ci", "expected_count": 3, "reason": "leaked"})).await;
    let changed = problem(changed, StatusCode::CONFLICT, "count_changed").await;
    assert!(changed["detail"].as_str().unwrap().contains("4 tokens match"), "{changed}");
    assert_eq!(server.verify(&secrets[0], &[]).await["code"], "VALID");

    let done =
        bulk(json!({"owner": "svc_ci", "name_prefix": "ci runner", "expected_count": 4, "reason": "leaked"})).await;
    assert_eq!(done.status(), StatusCode::OK);
    let done: Value = done.json().await.unwrap();
    assert_eq!(done["matched"], 4);
    assert_eq!(done["revoked"].as_array().unwrap().len(), 4);
    assert!(done["revoked"]
        .as_array()
        .unwrap()
        .iter()
        .all(|t| t["revoked_reason"] == "leaked" && t.get("token").is_none()));
    for secret in &secrets {
        let verdict = server.verify(secret, &[]).await;
        assert_eq!((verdict["code"].as_str(), verdict["revoked_reason"].as_str()), (Some("REVOKED"), Some("leaked")));
    }
    assert_eq!(
        server.verify(keep["token"].as_str().unwrap(), &[]).await["code"],
        "VALID",
        "another owner's token stays"
    );
    let audit: Value = server.get("/v1/audit?action=token.bulk_revoked", &server.admin).await.json().await.unwrap();
    assert_eq!(audit["data"].as_array().unwrap().len(), 1, "one event for the call");
    assert_eq!(audit["data"][0]["details"]["owner"], "svc_ci");

    // No filter at all, an unknown reason or keyspace: precise problems.
    let unfiltered = problem(bulk(json!({"reason": "leaked"})).await, StatusCode::BAD_REQUEST, "invalid_field").await;
    assert!(unfiltered["detail"].as_str().unwrap().contains("at least one"), "{unfiltered}");
    problem(bulk(json!({"owner": "svc_ci", "reason": "rotation"})).await, StatusCode::BAD_REQUEST, "invalid_field")
        .await;
    problem(bulk(json!({"keyspace_id": "ks_nothere000000000000000"})).await, StatusCode::NOT_FOUND, "not_found").await;

    // The calling token is never taken, even when it matches.
    let mine: Value = bulk(json!({"owner": "admin", "dry_run": true})).await.json().await.unwrap();
    assert_eq!(mine["matched"], 0, "the admin token itself is excluded: {mine}");

    // By scope: the tokens holding exactly that scope; a malformed one is named.
    let scoped = server
        .token(json!({"keyspace_id": keyspace, "name": "exporter", "scopes": ["exports:run"], "owner": "svc_data"}))
        .await;
    let by_scope: Value = bulk(json!({"scope": "exports:run", "dry_run": true})).await.json().await.unwrap();
    assert_eq!(by_scope["matched"], 1, "{by_scope}");
    let revoked: Value = bulk(json!({"scope": "exports:run", "expected_count": 1})).await.json().await.unwrap();
    assert_eq!(revoked["revoked"][0]["id"], scoped["id"]);
    assert_eq!(server.verify(scoped["token"].as_str().unwrap(), &[]).await["code"], "REVOKED");
    let bad = problem(bulk(json!({"scope": "Not A Scope"})).await, StatusCode::BAD_REQUEST, "invalid_field").await;
    assert_eq!(bad["field"], "scope");
}
