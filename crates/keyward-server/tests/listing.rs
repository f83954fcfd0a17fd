//! Listing tokens over HTTP: pages walk every token once, in the order asked.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{problem, sqlite_server};
use reqwest::StatusCode;
use serde_json::{json, Value};

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
