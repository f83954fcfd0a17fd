//! `Idempotency-Key` on `POST /v1/tokens` over HTTP: a retry answers 409
//! `already_created` naming the token the first request made (and never a
//! secret), a reused key for another token 409 `idempotency_key_reused`,
//! and a malformed key a 400 naming the field.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{problem, sqlite_server};
use reqwest::StatusCode;
use serde_json::{json, Value};

#[tokio::test]
async fn a_retried_creation_with_its_key_makes_nothing_and_names_the_first_token() {
    let server = sqlite_server().await;
    let keyspace = server.keyspace("test").await;
    let create = |key: &'static str, name: &'static str| {
        server
            .client
            .post(server.url("/v1/tokens"))
            .bearer_auth(&server.admin)
            .header("Idempotency-Key", key)
            .json(&json!({"keyspace_id": keyspace, "name": name, "scopes": []}))
            .send()
    };
    let first = create("c0ffee00-0000-4000-8000-000000000001", "deploy").await.unwrap();
    assert_eq!(first.status(), StatusCode::CREATED);
    let first: Value = first.json().await.unwrap();
    let secret = first["token"].as_str().unwrap().to_owned();

    let retry = create("c0ffee00-0000-4000-8000-000000000001", "deploy").await.unwrap();
    let text = retry.text().await.unwrap();
    assert!(!text.contains(&secret), "a retry never carries the secret: {text}");
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!((body["status"].as_u64(), body["code"].as_str()), (Some(409), Some("already_created")), "{body}");
    assert_eq!(body["token_id"], first["id"]);
    assert!(body["detail"].as_str().unwrap().contains("rotate"), "{body}");

    let reused = create("c0ffee00-0000-4000-8000-000000000001", "another").await.unwrap();
    let body = problem(reused, StatusCode::CONFLICT, "idempotency_key_reused").await;
    assert!(body.get("token_id").is_none(), "{body}");

    let listed: Value = server.get("/v1/tokens", &server.admin).await.json().await.unwrap();
    let names: Vec<&str> = listed["data"].as_array().unwrap().iter().filter_map(|t| t["name"].as_str()).collect();
    assert_eq!(names.iter().filter(|name| **name == "deploy").count(), 1, "{names:?}");
    assert!(!names.contains(&"another"));

    let malformed = create("not a key", "deploy").await.unwrap();
    let body = problem(malformed, StatusCode::BAD_REQUEST, "invalid_field").await;
    assert_eq!(body["field"], "idempotency_key");
}
