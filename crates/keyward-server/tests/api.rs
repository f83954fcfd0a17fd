//! The HTTP API end to end: a real server on 127.0.0.1:0, real HTTP.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;

use common::{management_keyspace, problem, sqlite_server, start, start_trusting, TestServer};
use reqwest::{Response, StatusCode};
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

#[tokio::test]
async fn pagination_walks_every_token_once() {
    let server = sqlite_server().await;
    let keyspace = server.keyspace("test").await;
    for n in 0..7 {
        server.token(json!({"keyspace_id": keyspace, "name": format!("t{n}"), "scopes": []})).await;
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/tokens?keyspace_id={keyspace}&limit=3&cursor={c}"),
            None => format!("/v1/tokens?keyspace_id={keyspace}&limit=3"),
        };
        let page: Value = server.get(&path, &server.admin).await.json().await.unwrap();
        seen.extend(page["data"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap().to_owned()));
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    seen.sort();
    assert_eq!(seen, (0..7).map(|n| format!("t{n}")).collect::<Vec<_>>());
}

#[tokio::test]
async fn tokens_list_in_the_order_asked_across_pages() {
    let server = sqlite_server().await;
    let keyspace = server.keyspace("test").await;
    for (name, lifetime) in [("delta", Some("30d")), ("Alpha", None), ("charlie", Some("7d")), ("bravo", Some("90d"))] {
        let mut body = json!({"keyspace_id": keyspace, "name": name, "scopes": []});
        if let Some(lifetime) = lifetime {
            body["expires_in"] = json!(lifetime);
        }
        server.token(body).await;
    }
    let walk = |order: &'static str| {
        let server = &server;
        let keyspace = keyspace.clone();
        async move {
            let mut names = Vec::new();
            let mut cursor: Option<String> = None;
            loop {
                let mut path = format!("/v1/tokens?keyspace_id={keyspace}&limit=1&order={order}");
                if let Some(cursor) = &cursor {
                    path.push_str(&format!("&cursor={cursor}"));
                }
                let page: Value = server.get(&path, &server.admin).await.json().await.unwrap();
                names.extend(page["data"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap().to_owned()));
                match page["next_cursor"].as_str() {
                    Some(next) => cursor = Some(next.to_owned()),
                    None => return names,
                }
            }
        }
    };
    assert_eq!(walk("name").await, ["Alpha", "bravo", "charlie", "delta"]);
    assert_eq!(walk("-name").await, ["delta", "charlie", "bravo", "Alpha"]);
    assert_eq!(walk("expires").await, ["charlie", "delta", "bravo", "Alpha"], "never expiring sorts last");
    assert_eq!(walk("-created").await, ["bravo", "charlie", "Alpha", "delta"]);
    assert_eq!(walk("created").await, ["delta", "Alpha", "charlie", "bravo"]);

    let bad = server.get("/v1/tokens?order=popularity", &server.admin).await;
    assert_eq!(problem(bad, StatusCode::BAD_REQUEST, "invalid_field").await["field"], "order");
    let by_time: Value =
        server.get(&format!("/v1/tokens?keyspace_id={keyspace}&limit=1"), &server.admin).await.json().await.unwrap();
    let cursor = by_time["next_cursor"].as_str().unwrap();
    let mixed = server.get(&format!("/v1/tokens?order=name&cursor={cursor}"), &server.admin).await;
    assert_eq!(problem(mixed, StatusCode::BAD_REQUEST, "invalid_field").await["field"], "cursor");
}

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
