//! Keyspaces on the screens: made and edited with their scope catalog,
//! with errors shown by the field.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use reqwest::StatusCode;
use serde_json::json;
use support::{assert_secure_page, field, location, site};

#[tokio::test]
async fn keyspaces_and_their_scope_catalog_are_made_and_edited_on_pages_with_errors_by_the_field() {
    let site = site().await;
    let session = site.set_up_owner().await;
    let page = site.get("/keyspaces", &session).await;
    assert_eq!(page.status(), StatusCode::OK);
    assert_secure_page(&page);
    let csrf = field(&page.text().await.unwrap(), "csrf");

    let unreadable =
        [("csrf", csrf.as_str()), ("name", "billing"), ("environment", "staging"), ("default_lifetime", "a month")];
    let refused = site.post("/keyspaces", &session, &unreadable).await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = refused.text().await.unwrap();
    assert!(html.contains("id=\"environment-error\"") && html.contains("id=\"default_lifetime-error\""), "{html}");
    assert!(html.contains("value=\"billing\"") && html.contains("value=\"a month\""), "typed input is kept");

    let made = site
        .post(
            "/keyspaces",
            &session,
            &[("csrf", &csrf), ("name", "billing"), ("environment", "live"), ("default_lifetime", "90d")],
        )
        .await;
    let path = location(&made);
    let id = path.trim_start_matches("/keyspaces/").split('?').next().unwrap().to_owned();
    let html = site.get(&path, &session).await.text().await.unwrap();
    assert!(html.contains("Keyspace created") && html.contains("90d"), "{html}");

    // A catalog line without a description is named; the text stays.
    let scopes_path = format!("/keyspaces/{id}/scopes");
    let half =
        [("csrf", csrf.as_str()), ("restrict", "catalog"), ("catalog", "invoices:read Read invoices\ninvoices:write")];
    let refused = site.post(&scopes_path, &session, &half).await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = refused.text().await.unwrap();
    assert!(html.contains("Line 2:") && html.contains("invoices:read Read invoices\ninvoices:write"), "{html}");
    let reserved = [("csrf", csrf.as_str()), ("restrict", "catalog"), ("catalog", "keyward:tokens:read Everything")];
    let html = site.post(&scopes_path, &session, &reserved).await.text().await.unwrap();
    assert!(html.contains("reserved for Keyward"), "the engine's own rules answer by the field");

    let whole = [
        ("csrf", csrf.as_str()),
        ("restrict", "catalog"),
        ("catalog", "invoices:read Read invoices\ninvoices:write Create and change invoices"),
    ];
    let saved = site.post(&scopes_path, &session, &whole).await;
    assert_eq!(saved.status(), StatusCode::OK);
    assert!(saved.text().await.unwrap().contains("2 scopes in the catalog"));
    let catalog = site.get("/scopes", &session).await.text().await.unwrap();
    assert!(catalog.contains("invoices:write") && catalog.contains("Create and change invoices"));
    let form = site.get("/tokens/new", &session).await.text().await.unwrap();
    assert!(form.contains("Create and change invoices"), "the create form offers the catalog");

    let lifecycle_path = format!("/keyspaces/{id}/lifecycle");
    let zero = [("csrf", csrf.as_str()), ("rotation_period_days", "0"), ("disable_after_inactive_days", "")];
    let refused = site.post(&lifecycle_path, &session, &zero).await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.text().await.unwrap().contains("between 1 and 3650 days"));
    let month = [("csrf", csrf.as_str()), ("rotation_period_days", "30"), ("disable_after_inactive_days", "90")];
    let html = site.post(&lifecycle_path, &session, &month).await.text().await.unwrap();
    assert!(html.contains("every 30 days") && html.contains("after 90 days unused"), "{html}");
    let keyspace = site.api(reqwest::Method::GET, &format!("/v1/keyspaces/{id}"), json!(null)).await;
    assert_eq!(keyspace["rotation_period_days"], 30, "{keyspace}");
    assert_eq!(keyspace["scope_catalog"].as_array().map(Vec::len), Some(2), "{keyspace}");

    let forged = site.post(&lifecycle_path, &session, &month[1..]).await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert_eq!(site.get("/keyspaces/ks_missing", &session).await.status(), StatusCode::NOT_FOUND);
}
