//! The HTTP API end to end: a real server on 127.0.0.1:0, real HTTP.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;

use common::{management_keyspace, problem, sqlite_server, start, TestServer};
use reqwest::StatusCode;
use serde_json::{json, Value};

async fn lifecycle(server: &TestServer) {
    let keyspace = server.keyspace("live").await;
    let created = server
        .token(json!({"keyspace_id": keyspace, "name": "billing worker", "scopes": ["invoices:read"], "expires_in": 3600, "metadata": {"team": "billing"}}))
        .await;
    let secret = created["token"].as_str().unwrap().to_owned();
    let id = created["id"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("pay_live_"));
    assert_eq!(created["masked"], format!("pay_live_…{}", &secret[secret.len() - 4..]));
    assert_eq!(created["state"], "active");
    assert!(created["expires_at"].is_string());

    let verdict = server.verify(&secret, &["invoices:read"]).await;
    assert_eq!((verdict["valid"].as_bool(), verdict["code"].as_str()), (Some(true), Some("VALID")));
    assert_eq!(verdict["token_id"], id);
    assert_eq!(verdict["keyspace_id"], keyspace);
    assert_eq!(verdict["owner"], "admin");
    assert_eq!(verdict["metadata"], json!({"team": "billing"}));
    assert!(verdict["expires_at"].is_string());
    let denied = server.verify(&secret, &["invoices:read", "refunds:create"]).await;
    assert_eq!((denied["valid"].as_bool(), denied["code"].as_str()), (Some(false), Some("INSUFFICIENT_SCOPE")));
    assert_eq!(denied["missing_scopes"], json!(["refunds:create"]));

    // Everywhere but creation, the secret is absent.
    for path in [
        format!("/v1/tokens/{id}"),
        "/v1/tokens".to_owned(),
        format!("/v1/tokens?keyspace_id={keyspace}&state=active"),
        "/v1/audit".to_owned(),
    ] {
        let text = server.get(&path, &server.admin).await.text().await.unwrap();
        assert!(!text.contains(&secret[9..]), "{path} leaks the secret");
        assert!(text.contains(&id), "{path} lists the token");
    }

    let renamed = server
        .client
        .patch(server.url(&format!("/v1/tokens/{id}")))
        .bearer_auth(&server.admin)
        .json(&json!({"name": "renamed"}))
        .send()
        .await
        .unwrap();
    assert_eq!(renamed.status(), StatusCode::OK);
    assert_eq!(server.verify(&secret, &[]).await["name"], "renamed");

    let revoked = server.post(&format!("/v1/tokens/{id}/revoke"), &server.admin, json!({})).await;
    assert_eq!(revoked.status(), StatusCode::OK);
    assert_eq!(revoked.json::<Value>().await.unwrap()["state"], "revoked");
    assert_eq!(server.verify(&secret, &[]).await["code"], "REVOKED", "revocation is immediate");
    let again = server
        .client
        .post(server.url(&format!("/v1/tokens/{id}/revoke")))
        .bearer_auth(&server.admin)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::OK, "revoke is idempotent");

    let revoked_list: Value = server
        .get(&format!("/v1/tokens?state=revoked&keyspace_id={keyspace}"), &server.admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(revoked_list["data"].as_array().unwrap().len(), 1);

    let audit: Value = server.get(&format!("/v1/audit?target_id={id}"), &server.admin).await.json().await.unwrap();
    let actions: Vec<&str> = audit["data"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions.len(), 3);
    assert!(
        actions.contains(&"token.created") && actions.contains(&"token.updated") && actions.contains(&"token.revoked")
    );
    let event = &audit["data"][0];
    assert_eq!(event["source_ip"], "127.0.0.1");
    assert!(event["request_id"].as_str().is_some_and(|id| !id.is_empty()));
}

#[tokio::test]
async fn lifecycle_on_sqlite() {
    lifecycle(&sqlite_server().await).await;
}

#[tokio::test]
async fn lifecycle_on_postgres() {
    let Some(schema) = keyward_store_postgres::testing::isolated_schema().await else { return };
    let server = start(Arc::new(schema.store.clone()), None).await;
    lifecycle(&server).await;
    drop(server);
    schema.drop_schema().await.unwrap();
}

#[tokio::test]
async fn health_readiness_and_openapi() {
    let server = sqlite_server().await;
    assert_eq!(server.client.get(server.url("/healthz")).send().await.unwrap().status(), StatusCode::OK);
    assert_eq!(server.client.get(server.url("/readyz")).send().await.unwrap().status(), StatusCode::OK);
    let document: Value = server.client.get(server.url("/openapi.json")).send().await.unwrap().json().await.unwrap();
    assert!(document["openapi"].as_str().unwrap().starts_with("3.1"));
    for path in [
        "/v1/tokens",
        "/v1/tokens/{id}",
        "/v1/tokens/{id}/revoke",
        "/v1/verify",
        "/v1/keyspaces",
        "/v1/keyspaces/{id}",
        "/v1/audit",
    ] {
        assert!(document["paths"][path].is_object(), "{path} documented");
    }
    assert!(document["components"]["securitySchemes"]["bearer"].is_object());
    let docs = server.client.get(server.url("/docs/")).send().await.unwrap();
    assert_eq!(docs.status(), StatusCode::OK);
    let html = docs.text().await.unwrap();
    assert!(html.contains("swagger"), "the docs page is served locally");
    assert!(!html.contains("https://"), "the docs page loads nothing from the internet");
}

#[tokio::test]
async fn every_bad_credential_gets_the_same_401() {
    let server = sqlite_server().await;
    let keyspace = server.keyspace("live").await;
    let customer = server.token(json!({"keyspace_id": keyspace, "name": "c", "scopes": []})).await;
    let revoked_admin = server
        .token(
            json!({"keyspace_id": management_keyspace(&server).await, "name": "m", "scopes": ["keyward:tokens:read"]}),
        )
        .await;
    server
        .post(&format!("/v1/tokens/{}/revoke", revoked_admin["id"].as_str().unwrap()), &server.admin, json!({}))
        .await;

    let mut bodies = Vec::new();
    for credential in [
        "garbage",
        "kw_live_000000000000000000000000000000000000000000",
        customer["token"].as_str().unwrap(),
        revoked_admin["token"].as_str().unwrap(),
    ] {
        let response = server.get("/v1/tokens", credential).await;
        assert_eq!(response.headers()["www-authenticate"], "Bearer realm=\"keyward\", error=\"invalid_token\"");
        bodies.push(problem(response, StatusCode::UNAUTHORIZED, "unauthorized").await);
    }
    assert!(bodies.windows(2).all(|pair| pair[0] == pair[1]), "indistinguishable: {bodies:?}");

    let none = server.client.get(server.url("/v1/tokens")).send().await.unwrap();
    assert_eq!(none.headers()["www-authenticate"], "Bearer realm=\"keyward\"");
    problem(none, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let basic = server.client.get(server.url("/v1/tokens")).basic_auth("u", Some("p")).send().await.unwrap();
    problem(basic, StatusCode::UNAUTHORIZED, "unauthorized").await;

    let lowercase = server
        .client
        .get(server.url("/v1/tokens"))
        .header("authorization", format!("bearer {}", server.admin))
        .send()
        .await
        .unwrap();
    assert_eq!(lowercase.status(), StatusCode::OK, "the scheme is case-insensitive");

    let two = server
        .client
        .get(server.url("/v1/tokens"))
        .header("authorization", format!("Bearer {}", server.admin))
        .header("authorization", format!("Bearer {}", server.admin))
        .send()
        .await
        .unwrap();
    problem(two, StatusCode::BAD_REQUEST, "invalid_authorization").await;

    let in_query =
        server.client.get(server.url(&format!("/v1/tokens?access_token={}", server.admin))).send().await.unwrap();
    problem(in_query, StatusCode::BAD_REQUEST, "token_in_url").await;
    let shaped = server
        .client
        .get(server.url(&format!("/v1/tokens?owner={}", server.admin)))
        .bearer_auth(&server.admin)
        .send()
        .await
        .unwrap();
    problem(shaped, StatusCode::BAD_REQUEST, "token_in_url").await;
}

#[tokio::test]
async fn scopes_are_enforced_and_never_escalate() {
    let server = sqlite_server().await;
    let management = management_keyspace(&server).await;
    let verifier =
        server.token(json!({"keyspace_id": management, "name": "verifier", "scopes": ["keyward:verify"]})).await;
    let verifier = verifier["token"].as_str().unwrap();

    let forbidden = server.get("/v1/tokens", verifier).await;
    assert_eq!(
        forbidden.headers()["www-authenticate"],
        "Bearer realm=\"keyward\", error=\"insufficient_scope\", scope=\"keyward:tokens:read\""
    );
    let body = problem(forbidden, StatusCode::FORBIDDEN, "insufficient_scope").await;
    assert_eq!(body["missing_scopes"], json!(["keyward:tokens:read"]));
    let verdict = server.post("/v1/verify", verifier, json!({"token": server.admin})).await;
    assert_eq!(verdict.status(), StatusCode::OK);

    let writer =
        server.token(json!({"keyspace_id": management, "name": "writer", "scopes": ["keyward:tokens:write"]})).await;
    let escalate = server
        .post(
            "/v1/tokens",
            writer["token"].as_str().unwrap(),
            json!({"keyspace_id": management, "name": "x", "scopes": ["keyward:tokens:write", "keyward:audit:read"]}),
        )
        .await;
    let body = problem(escalate, StatusCode::FORBIDDEN, "scope_escalation").await;
    assert_eq!(body["missing_scopes"], json!(["keyward:audit:read"]));
}

#[tokio::test]
async fn bad_input_gets_precise_problems() {
    let server = sqlite_server().await;
    let keyspace = server.keyspace("test").await;

    let huge = json!({"keyspace_id": keyspace, "name": "x", "scopes": [], "metadata": {"blob": "x".repeat(70 * 1024)}});
    problem(server.post("/v1/tokens", &server.admin, huge).await, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large")
        .await;

    // Without a Content-Length the limit still holds: a chunked body is cut
    // off at 64 KiB, not buffered whole.
    let address = server.url("").trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let chunk = "x".repeat(8 * 1024);
    let mut request = format!(
        "POST /v1/verify HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {}\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n",
        server.admin
    );
    for _ in 0..9 {
        request.push_str(&format!("{:x}\r\n{chunk}\r\n", chunk.len()));
    }
    request.push_str("0\r\n\r\n");
    tokio::io::AsyncWriteExt::write_all(&mut stream, request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let _ = tokio::io::AsyncReadExt::read_to_end(&mut stream, &mut answer).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("payload_too_large"), "{answer}");

    let malformed = server
        .client
        .post(server.url("/v1/tokens"))
        .bearer_auth(&server.admin)
        .header("content-type", "application/json")
        .body("{\"name\": ")
        .send()
        .await
        .unwrap();
    problem(malformed, StatusCode::BAD_REQUEST, "invalid_json").await;

    let not_json =
        server.client.post(server.url("/v1/tokens")).bearer_auth(&server.admin).body("name=x").send().await.unwrap();
    problem(not_json, StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type").await;

    let unknown = server
        .post(
            "/v1/tokens",
            &server.admin,
            json!({"keyspace_id": keyspace, "name": "x", "scopes": [], "scope": ["a:b"]}),
        )
        .await;
    assert_eq!(problem(unknown, StatusCode::BAD_REQUEST, "invalid_field").await["field"], "scope");

    let missing = server.post("/v1/tokens", &server.admin, json!({"keyspace_id": keyspace, "name": "x"})).await;
    assert_eq!(problem(missing, StatusCode::BAD_REQUEST, "invalid_field").await["field"], "scopes");

    let wrong_type = server
        .post(
            "/v1/tokens",
            &server.admin,
            json!({"keyspace_id": keyspace, "name": "x", "scopes": [], "expires_in": "soon"}),
        )
        .await;
    let body = problem(wrong_type, StatusCode::BAD_REQUEST, "invalid_field").await;
    assert_eq!(body["field"], "expires_in");
    assert!(!body["detail"].as_str().unwrap().contains("soon"), "submitted values are not echoed");
    for (lifetime, seconds) in [(json!("30d"), 30 * 86_400), (json!("12h"), 43_200), (json!(90), 90)] {
        let created = server
            .token(json!({"keyspace_id": keyspace, "name": "preset", "scopes": [], "expires_in": lifetime}))
            .await;
        let lived = chrono::DateTime::parse_from_rfc3339(created["expires_at"].as_str().unwrap()).unwrap()
            - chrono::DateTime::parse_from_rfc3339(created["created_at"].as_str().unwrap()).unwrap();
        assert_eq!(lived.num_seconds(), seconds, "{lifetime}");
    }
    for bad in [json!("0d"), json!("5w"), json!(-3)] {
        let refused = server
            .post(
                "/v1/tokens",
                &server.admin,
                json!({"keyspace_id": keyspace, "name": "x", "scopes": [], "expires_in": bad}),
            )
            .await;
        assert_eq!(problem(refused, StatusCode::BAD_REQUEST, "invalid_field").await["field"], "expires_in", "{bad}");
    }

    let long_name = server
        .post("/v1/tokens", &server.admin, json!({"keyspace_id": keyspace, "name": "n".repeat(201), "scopes": []}))
        .await;
    assert_eq!(problem(long_name, StatusCode::BAD_REQUEST, "invalid_field").await["field"], "name");

    let past = server
        .post(
            "/v1/tokens",
            &server.admin,
            json!({"keyspace_id": keyspace, "name": "x", "scopes": [], "expires_at": "2001-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(problem(past, StatusCode::BAD_REQUEST, "invalid_field").await["field"], "expires_at");

    let bad_scope = server
        .post("/v1/tokens", &server.admin, json!({"keyspace_id": keyspace, "name": "x", "scopes": ["Invoices"]}))
        .await;
    assert_eq!(problem(bad_scope, StatusCode::BAD_REQUEST, "invalid_field").await["field"], "scopes");

    let bad_env = server.post("/v1/keyspaces", &server.admin, json!({"name": "x", "environment": "prod"})).await;
    assert_eq!(problem(bad_env, StatusCode::BAD_REQUEST, "invalid_field").await["field"], "environment");

    let bad_required =
        server.post("/v1/verify", &server.admin, json!({"token": "x", "required_scopes": ["ok:fine", "NOPE"]})).await;
    assert_eq!(problem(bad_required, StatusCode::BAD_REQUEST, "invalid_field").await["field"], "required_scopes[1]");

    let unknown_keyspace =
        server.post("/v1/tokens", &server.admin, json!({"keyspace_id": "ks_nope", "name": "x", "scopes": []})).await;
    problem(unknown_keyspace, StatusCode::NOT_FOUND, "not_found").await;

    problem(server.get("/v1/tokens?cursor=garbage", &server.admin).await, StatusCode::BAD_REQUEST, "invalid_field")
        .await;
    assert_eq!(
        problem(server.get("/v1/tokens?state=zombie", &server.admin).await, StatusCode::BAD_REQUEST, "invalid_field")
            .await["field"],
        "state"
    );
    assert_eq!(
        problem(server.get("/v1/tokens?colour=red", &server.admin).await, StatusCode::BAD_REQUEST, "invalid_field")
            .await["field"],
        "colour"
    );
    let clamped: Value = server.get("/v1/tokens?limit=1000000", &server.admin).await.json().await.unwrap();
    assert!(clamped["data"].is_array(), "oversized page sizes are clamped, not refused");

    problem(server.get("/v1/tokens/tok_missing", &server.admin).await, StatusCode::NOT_FOUND, "not_found").await;
    problem(server.get("/v1/nowhere", &server.admin).await, StatusCode::NOT_FOUND, "route_not_found").await;
    let wrong_method = server.client.delete(server.url("/v1/verify")).bearer_auth(&server.admin).send().await.unwrap();
    problem(wrong_method, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed").await;

    let tokens: Value = server.get("/v1/tokens", &server.admin).await.json().await.unwrap();
    assert_eq!(tokens["data"].as_array().unwrap().len(), 1 + 3, "the admin token, the three presets, nothing else");
}

#[tokio::test]
async fn verify_codes_for_garbage_and_unknown_tokens() {
    let server = sqlite_server().await;
    assert_eq!(server.verify("not-a-token", &[]).await["code"], "MALFORMED");
    let other = sqlite_server().await;
    let keyspace = other.keyspace("live").await;
    let foreign = other.token(json!({"keyspace_id": keyspace, "name": "x", "scopes": []})).await;
    let verdict = server.verify(foreign["token"].as_str().unwrap(), &[]).await;
    assert_eq!(verdict, json!({"valid": false, "code": "NOT_FOUND"}));
}
