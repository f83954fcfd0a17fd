//! A token cannot plant a stronger token, over HTTP: the report's exact
//! reproduction (a management token limited to an hour and to 127.0.0.1
//! minting a management token with no expiry, usable from anywhere), and
//! revoking a leaked token with everything it planted.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;

use common::{management_keyspace, problem, sqlite_server, start, TestServer};
use reqwest::StatusCode;
use serde_json::{json, Value};

async fn created(server: &TestServer, bearer: &str, body: Value) -> Value {
    let response = server.post("/v1/tokens", bearer, body).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    response.json().await.unwrap()
}

async fn bounded_lineage(server: &TestServer) {
    let management = management_keyspace(server).await;
    let scopes = json!(["keyward:tokens:read", "keyward:tokens:write"]);
    let ci = created(
        server,
        &server.admin,
        json!({"keyspace_id": management, "name": "ci", "scopes": scopes, "expires_in": 3600,
               "allowed_ips": ["127.0.0.1/32"]}),
    )
    .await;
    let ci_secret = ci["token"].as_str().unwrap().to_owned();
    assert!(ci["parent_token_id"].as_str().unwrap().starts_with("tok_"), "the admin token made it: {ci}");
    assert_eq!(ci["inherited_from_parent"], json!([]), "the admin token has no bounds to inherit");

    // The report: no expiry, usable from anywhere. Refused, the bound named.
    let backdoor =
        json!({"keyspace_id": management, "name": "backdoor", "scopes": scopes, "allowed_ips": ["0.0.0.0/0"]});
    let response = server.post("/v1/tokens", &ci_secret, backdoor).await;
    let refused = problem(response, StatusCode::FORBIDDEN, "exceeds_parent_bounds").await;
    assert_eq!(refused["field"], "allowed_ips");
    assert!(refused["detail"].as_str().unwrap().contains("127.0.0.1/32"), "{refused}");
    let forever = json!({"keyspace_id": management, "name": "backdoor", "scopes": scopes, "expires_in": 315_360_000});
    let response = server.post("/v1/tokens", &ci_secret, forever).await;
    let refused = problem(response, StatusCode::FORBIDDEN, "exceeds_parent_bounds").await;
    assert_eq!(refused["field"], "expires_at");
    assert!(refused["detail"].as_str().unwrap().contains("creating token's expiry"), "{refused}");

    // Left open, both bounds are inherited, and the answer says so.
    let child =
        created(server, &ci_secret, json!({"keyspace_id": management, "name": "ci child", "scopes": scopes})).await;
    assert_eq!(child["expires_at"], ci["expires_at"]);
    assert_eq!(child["allowed_ips"], json!(["127.0.0.1/32"]));
    assert_eq!(child["inherited_from_parent"], json!(["expires_at", "allowed_ips"]));
    assert_eq!(child["parent_token_id"], ci["id"]);
    let child_secret = child["token"].as_str().unwrap().to_owned();
    let child_id = child["id"].as_str().unwrap().to_owned();

    // The child's pipeline issues a customer token.
    let customer_keyspace = server.keyspace("live").await;
    let deploy_key = created(
        server,
        &child_secret,
        json!({"keyspace_id": customer_keyspace, "name": "deploy", "scopes": ["invoices:read"]}),
    )
    .await;
    assert_eq!(deploy_key["expires_at"], Value::Null, "customer tokens are not bounded by it");
    assert_eq!(deploy_key["inherited_from_parent"], json!([]));
    assert_eq!(server.get(&format!("/v1/tokens/{child_id}"), &child_secret).await.status(), StatusCode::OK);

    // The leak is found: the CI token goes with what it planted.
    let ci_id = ci["id"].as_str().unwrap();
    let body = json!({"reason": "leaked", "with_descendants": true});
    let response = server.post(&format!("/v1/tokens/{ci_id}/revoke"), &server.admin, body).await;
    assert_eq!(response.status(), StatusCode::OK);
    let revoked: Value = response.json().await.unwrap();
    assert_eq!(revoked["state"], "revoked");
    let descendants = revoked["descendants_revoked"].as_array().unwrap();
    assert_eq!(descendants.len(), 1);
    assert_eq!(descendants[0]["id"], child_id);
    assert_eq!(descendants[0]["revoked_reason"], "leaked");
    // At once: the child's next call is refused, the deploy key still works.
    assert_eq!(server.get("/v1/tokens", &child_secret).await.status(), StatusCode::UNAUTHORIZED);
    let verdict = server.verify(deploy_key["token"].as_str().unwrap(), &["invoices:read"]).await;
    assert_eq!(verdict["code"], "VALID");
    let shown: Value = server.get(&format!("/v1/tokens/{child_id}"), &server.admin).await.json().await.unwrap();
    assert_eq!((shown["state"].as_str(), shown["parent_token_id"].as_str()), (Some("revoked"), Some(ci_id)));

    // A customer token has no descendants to take.
    let deploy_id = deploy_key["id"].as_str().unwrap();
    let body = json!({"with_descendants": true});
    let response = server.post(&format!("/v1/tokens/{deploy_id}/revoke"), &server.admin, body).await;
    assert_eq!(problem(response, StatusCode::BAD_REQUEST, "invalid_field").await["field"], "with_descendants");
    // A plain revocation answers without the list.
    let response = server.post(&format!("/v1/tokens/{deploy_id}/revoke"), &server.admin, json!({})).await;
    let plain: Value = response.json().await.unwrap();
    assert_eq!(plain["state"], "revoked");
    assert!(plain.get("descendants_revoked").is_none());
}

#[tokio::test]
async fn a_token_cannot_plant_a_stronger_token_on_sqlite() {
    bounded_lineage(&sqlite_server().await).await;
}

#[tokio::test]
async fn a_token_cannot_plant_a_stronger_token_on_postgres() {
    let Some(schema) = keyward_store_postgres::testing::isolated_schema().await else { return };
    let server = start(Arc::new(schema.store.clone()), None).await;
    bounded_lineage(&server).await;
    drop(server);
    schema.drop_schema().await.unwrap();
}
