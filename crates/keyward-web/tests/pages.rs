//! The web screens over HTTP against a real server on 127.0.0.1:0 and a
//! real SQLite store: setup from the printed code, sign-in, the tokens
//! table, creation with the secret shown once, revocation, and the
//! security headers and CSRF checks on every step.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use reqwest::header::{LOCATION, SET_COOKIE};
use reqwest::StatusCode;
use serde_json::{json, Value};
use support::{assert_secure_page, cookie_from, field, site};

#[tokio::test]
async fn setup_takes_the_printed_code_once_keeps_typed_input_and_lands_on_the_tokens_screen() {
    let site = site().await;
    assert!(site.get("/setup?code=kwsetup_nope", "").await.status() == StatusCode::NOT_FOUND);
    let code = site.engine.open_setup().await.unwrap().expect("a fresh install offers setup").code.expose().to_owned();

    let page = site.get(&format!("/setup?code={code}"), "").await;
    assert_eq!(page.status(), StatusCode::OK);
    assert_secure_page(&page);
    let form_cookie = cookie_from(&page, "__Host-keyward_form").expect("a form cookie");
    let html = page.text().await.unwrap();
    assert!(html.contains("operator"), "names the organization to be owned");
    let token = field(&html, "form_token");

    // Without the form cookie's token the post is refused, and the code stays good.
    let forged = site
        .post("/setup", "", &[("code", &code), ("email", "x@example.com"), ("password", "correct horse battery")])
        .await;
    assert_eq!(forged.status(), StatusCode::OK);
    assert!(forged.text().await.unwrap().contains("This form expired"));

    // A short password: the message sits by the field, the email is kept, the password is not.
    let short =
        [("form_token", token.as_str()), ("code", &code), ("email", "owner@example.com"), ("password", "short-pw")];
    let retry = site.post("/setup", &form_cookie, &short).await;
    assert_eq!(retry.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = retry.text().await.unwrap();
    assert!(html.contains("id=\"password-error\""), "{html}");
    assert!(html.contains("value=\"owner@example.com\""));
    assert!(!html.contains("short-pw"));
    // An unusable organization name is answered by its field, and kept.
    let unnamed = [
        ("form_token", token.as_str()),
        ("code", &code),
        ("email", "owner@example.com"),
        ("organization_name", "   "),
        ("password", "correct horse battery"),
    ];
    let retry = site.post("/setup", &form_cookie, &unnamed).await;
    assert_eq!(retry.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(retry.text().await.unwrap().contains("id=\"organization-error\""));

    let good = [
        ("form_token", token.as_str()),
        ("code", &code),
        ("email", "owner@example.com"),
        ("organization_name", "Acme Payments"),
        ("password", "correct horse battery"),
    ];
    let done = site.post("/setup", &form_cookie, &good).await;
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    assert_eq!(done.headers()[LOCATION], "/tokens?welcome=1");
    let session = cookie_from(&done, "__Host-keyward_session").expect("signed in");
    let set_cookie = done.headers()[SET_COOKIE].to_str().unwrap().to_owned();
    assert!(set_cookie.contains("HttpOnly") && set_cookie.contains("Secure") && set_cookie.contains("SameSite=Strict"));

    // Single use: the same link now explains itself, and no second setup is offered.
    assert_eq!(site.post("/setup", &form_cookie, &good).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(site.get(&format!("/setup?code={code}"), "").await.status(), StatusCode::NOT_FOUND);
    assert!(site.engine.open_setup().await.unwrap().is_none(), "the organization has an owner now");

    let tokens = site.get("/tokens?welcome=1", &session).await;
    assert_eq!(tokens.status(), StatusCode::OK);
    assert_secure_page(&tokens);
    let html = tokens.text().await.unwrap();
    assert!(html.contains("Your account is ready") && html.contains("Create your first token"), "{html}");

    // The owner is a member with the owner role, as the API sees it.
    let members = site.api(reqwest::Method::GET, "/v1/members", json!(null)).await;
    assert_eq!(members["data"][0]["email"], "owner@example.com", "{members}");
    assert_eq!(members["data"][0]["role"], "owner");
    let organization = site.engine.store().operator_organization().await.unwrap().unwrap();
    assert_eq!(organization.name, "Acme Payments", "named at setup");

    // Renamed later from the policy page, with the change in the audit log.
    let csrf = field(&site.get("/policies", &session).await.text().await.unwrap(), "csrf");
    let blank = site.post("/policies/organization", &session, &[("csrf", &csrf), ("organization_name", "")]).await;
    assert_eq!(blank.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let renamed =
        site.post("/policies/organization", &session, &[("csrf", &csrf), ("organization_name", "Acme Inc")]).await;
    assert!(renamed.text().await.unwrap().contains("now called Acme Inc"));
    let audit = site.get("/audit?action=organization.renamed", &session).await.text().await.unwrap();
    assert!(audit.contains("Acme Payments") && audit.contains("Acme Inc"), "{audit}");
}

#[tokio::test]
async fn pages_need_a_session_and_sign_in_is_protected_against_forged_forms() {
    let site = site().await;
    let session = site.set_up_owner().await;
    let anonymous = site.get("/tokens", "").await;
    assert_eq!(anonymous.status(), StatusCode::SEE_OTHER);
    assert_eq!(anonymous.headers()[LOCATION], "/sign-in");

    // Signing out needs the session's CSRF token.
    let tokens_html = site.get("/tokens", &session).await.text().await.unwrap();
    assert_eq!(site.post("/sign-out", &session, &[("csrf", "forged")]).await.status(), StatusCode::FORBIDDEN);
    let csrf = field(&tokens_html, "csrf");
    let out = site.post("/sign-out", &session, &[("csrf", &csrf)]).await;
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    assert!(out.headers()[SET_COOKIE].to_str().unwrap().contains("Max-Age=0"));
    assert_eq!(site.get("/tokens", &session).await.status(), StatusCode::SEE_OTHER, "the session ended");

    let page = site.get("/sign-in", "").await;
    assert_secure_page(&page);
    let form_cookie = cookie_from(&page, "__Host-keyward_form").unwrap();
    let token = field(&page.text().await.unwrap(), "form_token");
    let forged =
        site.post("/sign-in", "", &[("email", "owner@example.com"), ("password", "correct horse battery")]).await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let wrong = site
        .post(
            "/sign-in",
            &form_cookie,
            &[("form_token", &token), ("email", "owner@example.com"), ("password", "wrong password!")],
        )
        .await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let html = wrong.text().await.unwrap();
    assert!(
        html.contains("do not match")
            && html.contains("value=\"owner@example.com\"")
            && !html.contains("wrong password!")
    );
    let right = site
        .post(
            "/sign-in",
            &form_cookie,
            &[("form_token", &token), ("email", "owner@example.com"), ("password", "correct horse battery")],
        )
        .await;
    assert_eq!(right.status(), StatusCode::SEE_OTHER);
    assert_eq!(right.headers()[LOCATION], "/tokens");
    assert!(cookie_from(&right, "__Host-keyward_session").is_some());
}

#[tokio::test]
async fn a_token_is_created_once_shown_once_listed_masked_and_revoked_with_its_name_typed() {
    let site = site().await;
    let session = site.set_up_owner().await;
    let keyspace =
        site.api(reqwest::Method::POST, "/v1/keyspaces", json!({"name": "payments", "environment": "live"})).await;
    let keyspace_id = keyspace["id"].as_str().unwrap().to_owned();

    let form_page = site.get("/tokens/new", &session).await;
    assert_eq!(form_page.status(), StatusCode::OK);
    let html = form_page.text().await.unwrap();
    assert!(html.contains("payments (live)"));
    assert!(!html.contains("checked"), "nothing is preselected");
    let (csrf, nonce) = (field(&html, "csrf"), field(&html, "nonce"));
    let mut form = vec![
        ("csrf", csrf.as_str()),
        ("nonce", nonce.as_str()),
        ("name", "billing worker"),
        ("keyspace_id", keyspace_id.as_str()),
        ("extra_scopes", "invoices:read"),
        ("expires", "30d"),
        ("metadata", "{not json"),
    ];

    // Bad metadata: the message is by the field and everything typed is kept.
    let invalid = site.post("/tokens/new", &session, &form).await;
    assert_eq!(invalid.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = invalid.text().await.unwrap();
    assert!(
        html.contains("id=\"metadata-error\"")
            && html.contains("value=\"billing worker\"")
            && html.contains("{not json")
    );
    form.retain(|(name, _)| *name != "metadata");

    // No scope chosen and none said to be meant: asked again, nothing made.
    let unscoped: Vec<_> = form.iter().filter(|(name, _)| *name != "extra_scopes").cloned().collect();
    let asked = site.post("/tokens/new", &session, &unscoped).await;
    assert_eq!(asked.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = asked.text().await.unwrap();
    assert!(html.contains("id=\"scopes-error\"") && html.contains("No scopes"), "{html}");
    let mut both = form.clone();
    both.push(("no_scopes", "yes"));
    let contradicted = site.post("/tokens/new", &session, &both).await;
    assert_eq!(contradicted.status(), StatusCode::UNPROCESSABLE_ENTITY, "scopes chosen and \"No scopes\" ticked");
    let listed = site.api(reqwest::Method::GET, "/v1/tokens", json!(null)).await;
    assert!(!listed.to_string().contains("billing worker"), "nothing was made: {listed}");

    // A forged form (no CSRF token) creates nothing.
    let forged: Vec<_> = form.iter().filter(|(name, _)| *name != "csrf").cloned().collect();
    assert_eq!(site.post("/tokens/new", &session, &forged).await.status(), StatusCode::FORBIDDEN);

    let created = site.post("/tokens/new", &session, &form).await;
    assert_eq!(created.status(), StatusCode::OK);
    assert_secure_page(&created);
    let html = created.text().await.unwrap();
    let marker = "id=\"secret\" class=\"mono\" value=\"";
    let start = html.find(marker).unwrap_or_else(|| panic!("no secret in:\n{html}")) + marker.len();
    let secret = html[start..].split('"').next().unwrap().to_owned();
    assert!(secret.starts_with("kw_live_"), "{secret}");
    assert!(html.contains("will not be shown again") && html.contains("invoices:read"));
    for language in ["curl", "Python", "JavaScript", "Go", "Rust"] {
        assert!(html.contains(&format!("<summary>{language}</summary>")), "{language} example");
    }
    // The examples make the first call with the token alone, on the sample route.
    let sample_url = format!("{}/v1/sample", site.base);
    assert_eq!(html.matches(&sample_url).count(), 5, "each example calls {sample_url}");
    assert!(html.contains("/v1/verify") && html.contains("keyward:verify"), "and the service-side check follows");
    let marker = "href=\"/tokens/";
    let start = html.find(&format!("{marker}tok_")).unwrap() + marker.len();
    let id = html[start..].split(['?', '"']).next().unwrap().to_owned();

    // Before any call, the token page says how to make one; checking says none arrived.
    let waiting = site.get(&format!("/tokens/{id}?check=1"), &session).await.text().await.unwrap();
    assert!(waiting.contains("No verified call has arrived yet") && waiting.contains(&sample_url), "{waiting}");
    let first_call =
        site.client.get(&sample_url).bearer_auth(&secret).header("user-agent", "curl/8.5.0").send().await.unwrap();
    assert_eq!(first_call.status(), StatusCode::OK);
    assert_eq!(first_call.json::<Value>().await.unwrap()["name"], "billing worker");
    site.engine.flush_usage().await.unwrap();
    let arrived = site.get(&format!("/tokens/{id}?check=1"), &session).await.text().await.unwrap();
    assert!(arrived.contains("It works: a verified call arrived") && arrived.contains("curl/8.5.0"), "{arrived}");
    assert!(!arrived.contains("No verified call yet"), "the try-it box goes once a call worked");
    assert!(!arrived.contains(&secret));
    let verdict = site.api(reqwest::Method::POST, "/v1/verify", json!({"token": secret})).await;
    assert_eq!(verdict["valid"], true, "{verdict}");
    assert_eq!(verdict["token_id"], id.as_str());

    // The same form again (double click, reload, back): no second token, no secret.
    let again = site.post("/tokens/new", &session, &form).await;
    assert_eq!(again.status(), StatusCode::SEE_OTHER);
    assert_eq!(again.headers()[LOCATION].to_str().unwrap(), format!("/tokens/{id}?resubmitted=1"));
    // Edited and sent again under its old nonce (the back button): it says
    // so, keeps what was typed, and makes nothing.
    let edited: Vec<_> = form
        .iter()
        .map(|&(name, value)| if name == "name" { (name, "another worker") } else { (name, value) })
        .collect();
    let refused = site.post("/tokens/new", &session, &edited).await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = refused.text().await.unwrap();
    assert!(html.contains("This form already created a token") && html.contains("value=\"another worker\""));
    let listed = site.api(reqwest::Method::GET, &format!("/v1/tokens?keyspace_id={keyspace_id}"), json!(null)).await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 1, "{listed}");

    // Everywhere else: the mask, never the secret.
    let table = site.get("/tokens", &session).await.text().await.unwrap();
    assert!(table.contains("billing worker") && table.contains(&secret[secret.len() - 4..]));
    assert!(!table.contains(&secret));
    let detail = site.get(&format!("/tokens/{id}?resubmitted=1"), &session).await.text().await.unwrap();
    assert!(detail.contains("not shown again") && !detail.contains(&secret));
    let filtered = site.get("/tokens?state=revoked", &session).await.text().await.unwrap();
    assert!(filtered.contains("No tokens match"));

    // Live keyspace: revoking takes the name typed exactly.
    let csrf = field(&detail, "csrf");
    let wrong = site.post(&format!("/tokens/{id}/revoke"), &session, &[("csrf", &csrf), ("confirm", "billing")]).await;
    assert_eq!(wrong.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(site.api(reqwest::Method::POST, "/v1/verify", json!({"token": secret})).await["valid"], true);
    let revoked =
        site.post(&format!("/tokens/{id}/revoke"), &session, &[("csrf", &csrf), ("confirm", "billing worker")]).await;
    assert_eq!(revoked.status(), StatusCode::SEE_OTHER);
    assert_eq!(site.api(reqwest::Method::POST, "/v1/verify", json!({"token": secret})).await["code"], "REVOKED");
    let detail = site.get(&format!("/tokens/{id}?revoked=1"), &session).await.text().await.unwrap();
    assert!(detail.contains("Token revoked") && detail.contains("state-revoked"));
}

#[tokio::test]
async fn column_headers_sort_the_whole_list_across_pages_and_keep_the_filters() {
    let site = site().await;
    let session = site.set_up_owner().await;
    let keyspace =
        site.api(reqwest::Method::POST, "/v1/keyspaces", json!({"name": "sorting", "environment": "test"})).await;
    let keyspace_id = keyspace["id"].as_str().unwrap();
    // 52 tokens: more than a page of 50 (the search for "e" leaves out the
    // admin token). "able" is made last, so newest
    // first puts it on page one and name order too; "zebra" first, so it is
    // on page two of both.
    let mut names: Vec<String> = vec!["zebra".into()];
    names.extend((0..50).map(|n| format!("service {n:02}")));
    names.push("able".into());
    for name in &names {
        let body = json!({"keyspace_id": keyspace_id, "name": name, "scopes": []});
        assert!(site.api(reqwest::Method::POST, "/v1/tokens", body).await["token"].is_string());
    }
    let rows = |html: &str| -> Vec<String> {
        html.split("<tr data-name=\"").skip(1).map(|row| row.split('"').next().unwrap().to_owned()).collect()
    };

    let newest = site.get("/tokens?q=e", &session).await.text().await.unwrap();
    assert!(
        newest.contains(r#"aria-sort="descending"><a class="sort" href="/tokens?q=e&#38;order=created">Created"#),
        "{newest}"
    );
    assert!(newest.contains(r#"aria-sort="none"><a class="sort" href="/tokens?q=e&#38;order=name">Name"#));
    assert_eq!(rows(&newest)[0], "able");
    assert!(!rows(&newest).contains(&"zebra".to_owned()), "zebra, made first, is on page two");

    let by_name = site.get("/tokens?q=e&order=name", &session).await.text().await.unwrap();
    assert!(by_name.contains(r#"aria-sort="ascending"><a class="sort" href="/tokens?q=e&#38;order=-name">Name"#));
    assert!(by_name.contains(r#"name="order" value="name""#), "a new search keeps the order");
    let first_page = rows(&by_name);
    assert_eq!(first_page.len(), 50);
    assert_eq!(first_page[..3], ["able", "service 00", "service 01"]);
    let marker = "<p class=\"pager\"><a href=\"";
    let start = by_name.find(marker).expect("a next page") + marker.len();
    let next = by_name[start..].split('"').next().unwrap().replace("&#38;", "&");
    assert!(next.contains("order=name") && next.contains("q=e"), "{next}");
    let second_page = rows(&site.get(&next, &session).await.text().await.unwrap());
    assert_eq!(second_page, ["service 49", "zebra"], "the sort covers every page, not just the first");

    let backwards = site.get("/tokens?q=e&order=-name", &session).await.text().await.unwrap();
    assert_eq!(rows(&backwards)[..2], ["zebra", "service 49"]);
    // A page link from another order starts over rather than mixing orders.
    let mixed = site.get(&next.replace("order=name", "order=-created"), &session).await.text().await.unwrap();
    assert!(mixed.contains("not valid any more") && rows(&mixed)[0] == "able", "{mixed}");
    let unknown = site.get("/tokens?order=popularity", &session).await.text().await.unwrap();
    assert!(unknown.contains("not one Keyward knows; showing the newest first"));
}
