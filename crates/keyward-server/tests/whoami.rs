//! `GET /v1/whoami` over HTTP: who a management token or a session acts
//! as, with the scopes it holds now, for any valid credential and never
//! with a secret.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{management_keyspace, problem, sqlite_server};
use reqwest::StatusCode;
use serde_json::{json, Value};

async fn whoami(server: &common::TestServer, token: &str) -> Value {
    let response = server.get("/v1/whoami", token).await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

/// A new token, or the refusal in the failure message.
async fn created(server: &common::TestServer, body: Value) -> Value {
    let response = server.post("/v1/tokens", &server.admin, body).await;
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body
}

#[tokio::test]
async fn whoami_describes_the_calling_token_or_session() {
    let server = sqlite_server().await;

    // The first admin token: no person behind it, every management scope.
    let admin = whoami(&server, &server.admin).await;
    assert_eq!(admin["kind"], "token");
    assert!(admin["token_id"].as_str().unwrap().starts_with("tok_"));
    assert_eq!(admin["owner"], "admin");
    assert_eq!((admin["user_id"].clone(), admin["role"].clone()), (Value::Null, Value::Null));
    assert_eq!(admin["organization"]["operator"], true);
    let org_id = admin["organization"]["id"].as_str().unwrap().to_owned();
    let organization: Value =
        server.get(&format!("/v1/organizations/{org_id}"), &server.admin).await.json().await.unwrap();
    assert_eq!(admin["organization"]["name"], organization["name"]);
    assert!(!admin.to_string().contains(&server.admin[8..]), "never the secret");

    // A token holding one scope still may ask who it is.
    let management = management_keyspace(&server).await;
    let reader = created(
        &server,
        json!({"keyspace_id": management, "name": "audit reader", "scopes": ["keyward:audit:read"], "expires_in": 3600}),
    )
    .await;
    let secret = reader["token"].as_str().unwrap();
    let me = whoami(&server, secret).await;
    assert_eq!(me["token_id"], reader["id"]);
    assert_eq!(me["token_name"], "audit reader");
    assert_eq!(me["scopes"], json!(["keyward:audit:read"]));
    assert_eq!(me["expires_at"], reader["expires_at"]);
    assert!(!me.to_string().contains(&secret[8..]));

    // A person's token holds its scopes only as far as their role allows.
    let invitation =
        server.post("/v1/invitations", &server.admin, json!({"email": "dev@example.com", "role": "developer"})).await;
    let invitation: Value = invitation.json().await.unwrap();
    let accepted = server
        .client
        .post(server.url("/v1/invitations/accept"))
        .json(&json!({"token": invitation["token"], "password": "correct horse battery staple"}))
        .send()
        .await
        .unwrap();
    assert_eq!(accepted.status(), StatusCode::CREATED);
    let cookie = accepted.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    let user_id = accepted.json::<Value>().await.unwrap()["user_id"].as_str().unwrap().to_owned();
    let theirs = created(
        &server,
        json!({"keyspace_id": management, "name": "dev laptop", "owner": user_id,
               "scopes": ["keyward:tokens:write", "keyward:keyspaces:write"]}),
    )
    .await;
    let me = whoami(&server, theirs["token"].as_str().unwrap()).await;
    assert_eq!((me["owner"].as_str(), me["user_id"].as_str()), (Some(user_id.as_str()), Some(user_id.as_str())));
    assert_eq!(me["role"], "developer");
    assert_eq!(me["scopes"], json!(["keyward:tokens:write"]), "a developer may not write keyspaces");
    assert_eq!(me["expires_at"], Value::Null, "it never expires");

    // Their session: the person, their role's scopes, when it ends.
    let session: Value = server
        .client
        .get(server.url("/v1/whoami"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(session["kind"], "session");
    assert_eq!(session["email"], "dev@example.com");
    assert_eq!(session["role"], "developer");
    assert_eq!(session["token_id"], Value::Null);
    assert!(session["expires_at"].is_string());
    assert!(session["scopes"].as_array().unwrap().iter().any(|s| s == "keyward:verify"), "{session}");
    assert!(!session.to_string().contains(cookie.split('=').nth(1).unwrap()), "never the session secret");

    // Without a valid management credential: 401, as everywhere.
    problem(
        server.client.get(server.url("/v1/whoami")).send().await.unwrap(),
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    let keyspace = server.keyspace("live").await;
    let customer = created(&server, json!({"keyspace_id": keyspace, "name": "client", "scopes": []})).await;
    let refused = server.get("/v1/whoami", customer["token"].as_str().unwrap()).await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED, "a customer token is no management credential");
    server.post(&format!("/v1/tokens/{}/revoke", reader["id"].as_str().unwrap()), &server.admin, json!({})).await;
    assert_eq!(server.get("/v1/whoami", secret).await.status(), StatusCode::UNAUTHORIZED);
}

#[test]
fn whoami_is_in_the_openapi_document() {
    let document = serde_json::to_value(keyward_server::openapi()).unwrap();
    let operation = &document["paths"]["/v1/whoami"]["get"];
    assert!(operation.is_object(), "GET /v1/whoami is documented");
    assert!(operation["responses"]["200"].is_object() && operation["responses"]["401"].is_object());
    assert!(document["components"]["schemas"]["WhoamiView"]["properties"]["scopes"].is_object());
}
