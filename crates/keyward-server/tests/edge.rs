//! What every response at the edge owes a client whatever went wrong: a
//! problem+json body with a stable code (never `text/plain`), a 400 naming
//! the field for a NUL that PostgreSQL cannot store (on both stores alike),
//! and the headers that keep account data out of caches and sniffers.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;

use common::{problem, sqlite_server, start, TestServer};
use reqwest::StatusCode;
use serde_json::{json, Value};

async fn nul_is_refused_naming_the_field(server: &TestServer) {
    let keyspace = server.keyspace("test").await;
    let filter = server.get("/v1/tokens?name=%00", &server.admin).await;
    let body = problem(filter, StatusCode::BAD_REQUEST, "invalid_field").await;
    assert_eq!(body["field"], "name", "{body}");

    let in_metadata = server
        .post(
            "/v1/tokens",
            &server.admin,
            json!({"keyspace_id": keyspace, "name": "ci", "scopes": [], "metadata": {"note": "a\u{0}b"}}),
        )
        .await;
    let body = problem(in_metadata, StatusCode::BAD_REQUEST, "invalid_field").await;
    assert_eq!(body["field"], "metadata.note", "{body}");

    let in_name = server
        .post("/v1/tokens", &server.admin, json!({"keyspace_id": keyspace, "name": "c\u{0}i", "scopes": []}))
        .await;
    let body = problem(in_name, StatusCode::BAD_REQUEST, "invalid_field").await;
    assert_eq!(body["field"], "name", "{body}");

    let in_id = server.get("/v1/tokens/tok_%00", &server.admin).await;
    let body = problem(in_id, StatusCode::BAD_REQUEST, "invalid_field").await;
    assert_eq!(body["field"], "path", "{body}");

    // Nothing was stored, and the store is still answering.
    let list: Value = server.get("/v1/tokens", &server.admin).await.json().await.unwrap();
    assert!(list["data"].as_array().unwrap().iter().all(|token| token["name"] != "ci"), "{list}");
}

#[tokio::test]
async fn a_nul_character_is_a_400_naming_the_field_on_sqlite() {
    nul_is_refused_naming_the_field(&sqlite_server().await).await;
}

#[tokio::test]
async fn a_nul_character_is_a_400_naming_the_field_on_postgres() {
    let Some(schema) = keyward_store_postgres::testing::isolated_schema().await else { return };
    let server = start(Arc::new(schema.store.clone()), None).await;
    nul_is_refused_naming_the_field(&server).await;
    drop(server);
    schema.drop_schema().await.unwrap();
}

#[tokio::test]
async fn every_malformed_request_shape_is_answered_with_problem_json() {
    let server = sqlite_server().await;
    let bearer = format!("Bearer {}", server.admin);
    let client = &server.client;
    let cases: Vec<(&str, reqwest::RequestBuilder)> = vec![
        ("path segment not UTF-8", client.get(server.url("/v1/tokens/%FF")).header("authorization", &bearer)),
        ("path segment not UTF-8, unauthenticated", client.get(server.url("/v1/keyspaces/%C3%28"))),
        ("unknown route", client.get(server.url("/v1/nothing-here"))),
        ("wrong method", client.put(server.url("/v1/tokens")).header("authorization", &bearer)),
        ("bad query value", client.get(server.url("/v1/tokens?limit=many")).header("authorization", &bearer)),
        ("unknown query parameter", client.get(server.url("/v1/tokens?colour=red")).header("authorization", &bearer)),
        (
            "not JSON",
            client
                .post(server.url("/v1/keyspaces"))
                .header("authorization", &bearer)
                .header("content-type", "application/json")
                .body("{nope"),
        ),
        (
            "wrong content type",
            client.post(server.url("/v1/keyspaces")).header("authorization", &bearer).body("name=x"),
        ),
        (
            "body too large",
            client
                .post(server.url("/v1/keyspaces"))
                .header("authorization", &bearer)
                .header("content-type", "application/json")
                .body(vec![b' '; 100 * 1024]),
        ),
    ];
    for (what, request) in cases {
        let response = request.send().await.unwrap();
        let status = response.status();
        assert!(status.is_client_error(), "{what}: {status}");
        let content_type = response.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned());
        assert_eq!(content_type.as_deref(), Some("application/problem+json"), "{what}: {status}");
        assert_eq!(response.headers()["x-content-type-options"], "nosniff", "{what}");
        let body: Value = response.json().await.unwrap();
        assert!(body["code"].as_str().is_some_and(|code| !code.is_empty()), "{what}: {body}");
        assert_eq!(body["status"], status.as_u16(), "{what}: {body}");
    }
}

#[tokio::test]
async fn api_responses_are_not_cached_or_sniffed() {
    let server = sqlite_server().await;
    for response in [
        server.get("/v1/keyspaces", &server.admin).await,
        server.get("/v1/keyspaces", "kw_live_wrong").await,
        server.post("/v1/verify", &server.admin, json!({"token": "kw_live_nothing"})).await,
    ] {
        assert_eq!(response.headers()["cache-control"], "no-store", "{}", response.status());
        assert_eq!(response.headers()["x-content-type-options"], "nosniff");
    }
    let health = server.client.get(server.url("/healthz")).send().await.unwrap();
    assert_eq!(health.headers()["x-content-type-options"], "nosniff");
}
