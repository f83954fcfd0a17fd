//! Where the screens are reached from: plain HTTP at a network address
//! explained, and `public_url` deciding links and which forms are accepted.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use reqwest::header::{COOKIE, SET_COOKIE};
use reqwest::StatusCode;
use serde_json::json;
use support::{field, site, site_reached};

/// Over plain HTTP at a network address the browser drops the `Secure`
/// cookies; the screens say so and what to do, rather than loop on an
/// expired form. Loopback names keep working.
#[tokio::test]
async fn screens_reached_over_plain_http_at_a_network_address_explain_what_to_do() {
    let site = site().await;
    for path in ["/sign-in", "/setup?code=kwsetup_anything", "/tokens"] {
        let response =
            site.client.get(format!("{}{path}", site.base)).header("host", "192.0.2.10:8420").send().await.unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{path}");
        assert!(response.headers().get(SET_COOKIE).is_none(), "{path}: no cookie the browser would drop");
        let html = response.text().await.unwrap();
        assert!(html.contains("Open Keyward over HTTPS"), "{html}");
        assert!(html.contains("http://192.0.2.10:8420"), "names the address used: {html}");
        assert!(html.contains("tls_cert_file") && html.contains("public_url"), "says what to set: {html}");
    }
    let css = site.client.get(format!("{}/assets/app.css", site.base)).header("host", "192.0.2.10:8420").send();
    assert_eq!(css.await.unwrap().status(), StatusCode::OK, "the explanation page keeps its style");
    for host in ["localhost:8420", "127.0.0.1:8420", "[::1]:8420"] {
        let response = site.client.get(format!("{}/sign-in", site.base)).header("host", host).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{host}");
    }
    // The API is not a browser's: it answers anywhere.
    let api = site.client.get(format!("{}/healthz", site.base)).header("host", "192.0.2.10:8420").send();
    assert_eq!(api.await.unwrap().status(), StatusCode::OK);
}

/// Behind a TLS proxy, `public_url` makes the screens usable from any
/// address, puts the public origin in every shown link and example, and
/// refuses forms posted from any other origin.
#[tokio::test]
async fn public_url_is_used_in_links_and_decides_where_forms_may_come_from() {
    let reached = keyward_server::Site::new(Some("https://keys.example.com"), false).unwrap();
    let site = site_reached(reached).await;
    let proxied = site.client.get(format!("{}/sign-in", site.base)).header("host", "10.1.2.3:8420").send();
    assert_eq!(proxied.await.unwrap().status(), StatusCode::OK, "a proxy's Host does not matter");
    let hsts = site.get("/sign-in", "").await.headers().get("strict-transport-security").cloned();
    assert!(hsts.is_some(), "an https public URL is announced with HSTS");

    let owner = site.set_up_owner().await;
    let csrf = field(&site.get("/members", &owner).await.text().await.unwrap(), "csrf");
    let invited = site
        .post("/members/invite", &owner, &[("csrf", &csrf), ("email", "dev@example.com"), ("role", "developer")])
        .await
        .text()
        .await
        .unwrap();
    assert!(invited.contains("https://keys.example.com/setup?invitation="), "{invited}");
    let keyspace =
        site.api(reqwest::Method::POST, "/v1/keyspaces", json!({"name": "payments", "environment": "live"})).await;
    let keyspace_id = keyspace["id"].as_str().unwrap().to_owned();
    let html = site.get("/tokens/new", &owner).await.text().await.unwrap();
    let (csrf, nonce) = (field(&html, "csrf"), field(&html, "nonce"));
    let fields = [
        ("csrf", csrf.as_str()),
        ("nonce", &nonce),
        ("name", "ci"),
        ("keyspace_id", &keyspace_id),
        ("no_scopes", "yes"),
    ];
    let created = site.post("/tokens/new", &owner, &fields).await;
    let shown = created.text().await.unwrap();
    assert!(shown.contains("https://keys.example.com/v1/sample"), "examples call the public origin: {shown}");

    // The same valid form, posted from elsewhere, changes nothing.
    let html = site.get("/tokens/new", &owner).await.text().await.unwrap();
    let (csrf, nonce) = (field(&html, "csrf"), field(&html, "nonce"));
    let form = [
        ("csrf", csrf.as_str()),
        ("nonce", nonce.as_str()),
        ("name", "planted"),
        ("keyspace_id", &keyspace_id),
        ("no_scopes", "yes"),
    ];
    for (origin, fetch_site) in [("https://evil.example", "cross-site"), ("https://other.example.com", "same-site")] {
        let refused = site
            .client
            .post(format!("{}/tokens/new", site.base))
            .header(COOKIE, &owner)
            .header("origin", origin)
            .header("sec-fetch-site", fetch_site)
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), StatusCode::FORBIDDEN, "{origin}");
        let html = refused.text().await.unwrap();
        assert!(html.contains(origin) && html.contains("https://keys.example.com"), "{html}");
    }
    let listed = site.api(reqwest::Method::GET, "/v1/tokens?limit=100", json!(null)).await.to_string();
    assert!(!listed.contains("planted"), "a refused form creates nothing");
    let accepted = site
        .client
        .post(format!("{}/tokens/new", site.base))
        .header(COOKIE, &owner)
        .header("origin", "https://keys.example.com")
        .header("sec-fetch-site", "same-origin")
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(accepted.status(), StatusCode::OK, "the public origin's own form goes through");
}
