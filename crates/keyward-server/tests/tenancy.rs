//! Tenants over HTTP: one organization's token reaches nothing of another's,
//! and what it cannot see answers exactly like what does not exist.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;

use common::{problem, sqlite_server, start, TestServer};
use reqwest::{Response, StatusCode};
use serde_json::{json, Value};

async fn not_found_body(response: Response) -> Value {
    let mut body = problem(response, StatusCode::NOT_FOUND, "not_found").await;
    if let Some(object) = body.as_object_mut() {
        object.remove("instance");
        object.remove("request_id");
    }
    body
}

/// Everything of one tenant, through every endpoint, as another tenant's
/// admin sees it: exactly what a missing id looks like.
async fn tenants_cannot_reach_each_other(server: &TestServer) {
    let founded = server.post("/v1/organizations", &server.admin, json!({"name": "Other Corp"})).await;
    assert_eq!(founded.status(), StatusCode::CREATED);
    assert_eq!(founded.headers()["cache-control"], "no-store");
    let founded: Value = founded.json().await.unwrap();
    let other_admin = founded["admin_token"]["token"].as_str().unwrap().to_owned();
    let other_org = founded["organization"]["id"].as_str().unwrap().to_owned();
    assert_eq!(founded["admin_token"]["org_id"], other_org.as_str());
    assert_eq!(founded["organization"]["operator"], false);

    let ours = server.keyspace("live").await;
    let token = server.token(json!({"keyspace_id": ours, "name": "ours", "scopes": ["invoices:read"]})).await;
    let token_id = token["id"].as_str().unwrap().to_owned();
    let secret = token["token"].as_str().unwrap().to_owned();
    let our_org = token["org_id"].as_str().unwrap().to_owned();
    assert_ne!(our_org, other_org);

    let missing_token = "tok_0000000000000000000000";
    let missing_keyspace = "ks_0000000000000000000000";
    let missing_org = "org_0000000000000000000000";
    let patch = |id: &str| {
        server
            .client
            .patch(server.url(&format!("/v1/tokens/{id}")))
            .bearer_auth(&other_admin)
            .json(&json!({"name": "hijacked"}))
            .send()
    };
    let pairs = [
        (
            server.get(&format!("/v1/keyspaces/{ours}"), &other_admin).await,
            server.get(&format!("/v1/keyspaces/{missing_keyspace}"), &other_admin).await,
        ),
        (
            server.get(&format!("/v1/tokens/{token_id}"), &other_admin).await,
            server.get(&format!("/v1/tokens/{missing_token}"), &other_admin).await,
        ),
        (patch(&token_id).await.unwrap(), patch(missing_token).await.unwrap()),
        (
            server.post(&format!("/v1/tokens/{token_id}/revoke"), &other_admin, json!({})).await,
            server.post(&format!("/v1/tokens/{missing_token}/revoke"), &other_admin, json!({})).await,
        ),
        (
            server.post("/v1/tokens", &other_admin, json!({"keyspace_id": ours, "name": "in", "scopes": []})).await,
            server
                .post("/v1/tokens", &other_admin, json!({"keyspace_id": missing_keyspace, "name": "in", "scopes": []}))
                .await,
        ),
        (
            server
                .client
                .put(server.url(&format!("/v1/keyspaces/{ours}/scope-catalog")))
                .bearer_auth(&other_admin)
                .json(&json!({"scope_catalog": null}))
                .send()
                .await
                .unwrap(),
            server
                .client
                .put(server.url(&format!("/v1/keyspaces/{missing_keyspace}/scope-catalog")))
                .bearer_auth(&other_admin)
                .json(&json!({"scope_catalog": null}))
                .send()
                .await
                .unwrap(),
        ),
        (
            server.get(&format!("/v1/organizations/{our_org}"), &other_admin).await,
            server.get(&format!("/v1/organizations/{missing_org}"), &other_admin).await,
        ),
    ];
    for (foreign, missing) in pairs {
        assert_eq!(not_found_body(foreign).await, not_found_body(missing).await);
    }

    let other_admin_ref = other_admin.as_str();
    let list = |path: String| async move {
        let response = server.get(&path, other_admin_ref).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        response.json::<Value>().await.unwrap()["data"].as_array().unwrap().clone()
    };
    let tokens = list("/v1/tokens?limit=100".into()).await;
    assert!(tokens.iter().all(|t| t["org_id"] == other_org.as_str()) && tokens.len() == 1, "{tokens:?}");
    assert!(list(format!("/v1/tokens?keyspace_id={ours}")).await.is_empty());
    let spaces = list("/v1/keyspaces".into()).await;
    assert!(spaces.len() == 1 && spaces[0]["org_id"] == other_org.as_str(), "{spaces:?}");
    assert!(list(format!("/v1/audit?target_id={token_id}")).await.is_empty());
    assert!(list("/v1/audit".into()).await.iter().all(|e| e["target_id"] != token_id.as_str()));
    problem(server.get("/v1/organizations", &other_admin).await, StatusCode::FORBIDDEN, "insufficient_scope").await;
    problem(
        server.post("/v1/organizations", &other_admin, json!({"name": "Nested"})).await,
        StatusCode::FORBIDDEN,
        "insufficient_scope",
    )
    .await;

    // The other tenant's verifier learns nothing about our token.
    let foreign_verdict: Value =
        server.post("/v1/verify", &other_admin, json!({"token": secret})).await.json().await.unwrap();
    assert_eq!((foreign_verdict["valid"].clone(), foreign_verdict["code"].clone()), (json!(false), json!("NOT_FOUND")));
    assert!(foreign_verdict.get("token_id").is_none() && foreign_verdict.get("id").is_none(), "{foreign_verdict}");
    assert_eq!(server.verify(&secret, &["invoices:read"]).await["code"], "VALID");

    // Nor does the operator reach into a tenant's tokens.
    let theirs = server.get("/v1/tokens?limit=1", &other_admin).await.json::<Value>().await.unwrap();
    let their_token = theirs["data"][0]["id"].as_str().unwrap().to_owned();
    let operator_view = server.get(&format!("/v1/tokens/{their_token}"), &server.admin).await;
    assert_eq!(not_found_body(operator_view).await["code"], "not_found");
    let organizations = server.get("/v1/organizations", &server.admin).await.json::<Value>().await.unwrap();
    assert_eq!(organizations["data"].as_array().unwrap().len(), 2);

    let after: Value = server.get(&format!("/v1/tokens/{token_id}"), &server.admin).await.json().await.unwrap();
    assert_eq!((after["name"].clone(), after["state"].clone()), (json!("ours"), json!("active")));
}

#[tokio::test]
async fn tenants_cannot_reach_each_other_on_sqlite() {
    tenants_cannot_reach_each_other(&sqlite_server().await).await;
}

#[tokio::test]
async fn tenants_cannot_reach_each_other_on_postgres() {
    let Some(schema) = keyward_store_postgres::testing::isolated_schema().await else { return };
    let server = start(Arc::new(schema.store.clone()), None).await;
    tenants_cannot_reach_each_other(&server).await;
    drop(server);
    schema.drop_schema().await.unwrap();
}
