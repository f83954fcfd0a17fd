//! People on the screens: service accounts and members, roles and what
//! each sees, and sign-ins, refusals and password changes in the audit page.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use reqwest::header::COOKIE;
use reqwest::StatusCode;
use serde_json::json;
use support::{cookie_from, create_token, field, join_as, location, site};

#[tokio::test]
async fn service_accounts_own_tokens_and_removing_one_takes_its_name_and_revokes_them() {
    let site = site().await;
    let session = site.set_up_owner().await;
    let keyspace =
        site.api(reqwest::Method::POST, "/v1/keyspaces", json!({"name": "jobs", "environment": "test"})).await;
    let keyspace_id = keyspace["id"].as_str().unwrap().to_owned();
    let csrf = field(&site.get("/service-accounts", &session).await.text().await.unwrap(), "csrf");

    let empty = site.post("/service-accounts", &session, &[("csrf", &csrf), ("name", " ")]).await;
    assert_eq!(empty.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let made = site.post("/service-accounts", &session, &[("csrf", &csrf), ("name", "nightly export")]).await;
    let html = site.get(&location(&made), &session).await.text().await.unwrap();
    assert!(html.contains("nightly export created"), "{html}");
    let start = html.find("<code>sa_").unwrap() + "<code>".len();
    let account = html[start..].split('<').next().unwrap().to_owned();
    let again = site.post("/service-accounts", &session, &[("csrf", &csrf), ("name", "nightly export")]).await;
    assert!(again.text().await.unwrap().contains("exists"), "a second account of the same name is refused");

    // The create form offers it as owner, preselected from its row's link.
    let form = site.get(&format!("/tokens/new?owner={account}"), &session).await.text().await.unwrap();
    assert!(form.contains(&format!("<option value=\"{account}\" selected>nightly export (service account)")), "{form}");
    let fields = [
        ("name", "export job"),
        ("keyspace_id", keyspace_id.as_str()),
        ("expires", "30d"),
        ("owner", account.as_str()),
    ];
    let (token_id, secret) = create_token(&site, &session, &fields).await;
    let record = site.api(reqwest::Method::GET, &format!("/v1/tokens/{token_id}"), json!(null)).await;
    assert_eq!(record["owner"], account.as_str(), "{record}");
    let made_up = [("name", "stray"), ("keyspace_id", keyspace_id.as_str()), ("owner", "someone-else")];
    let html = site.get("/tokens/new", &session).await.text().await.unwrap();
    let mut form = vec![("csrf", field(&html, "csrf")), ("nonce", field(&html, "nonce"))];
    form.extend(made_up.iter().map(|(name, value)| (*name, value.to_string())));
    let refused =
        site.post("/tokens/new", &session, &form.iter().map(|(n, v)| (*n, v.as_str())).collect::<Vec<_>>()).await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.text().await.unwrap().contains("id=\"owner-error\""), "only listed owners are taken");

    let confirm_path = format!("/service-accounts/{account}/remove");
    let confirm = site.get(&confirm_path, &session).await.text().await.unwrap();
    assert!(confirm.contains("<strong>1</strong> active now"), "{confirm}");
    let wrong = site.post(&confirm_path, &session, &[("csrf", &csrf), ("confirm", "nightly")]).await;
    assert_eq!(wrong.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(site.api(reqwest::Method::POST, "/v1/verify", json!({"token": secret})).await["valid"], true);
    let removed = site.post(&confirm_path, &session, &[("csrf", &csrf), ("confirm", "nightly export")]).await;
    let html = site.get(&location(&removed), &session).await.text().await.unwrap();
    assert!(html.contains("Removed nightly export. 1 token they owned was revoked"), "{html}");
    assert_eq!(site.api(reqwest::Method::POST, "/v1/verify", json!({"token": secret})).await["code"], "REVOKED");
}

#[tokio::test]
async fn members_change_role_and_leave_and_each_role_sees_only_its_pages() {
    let site = site().await;
    let owner = site.set_up_owner().await;
    let developer = join_as(&site, &owner, "dev@example.com", "developer").await;

    // A developer reads keyspaces and members but changes neither, and
    // never sees the policy.
    let nav = site.get("/tokens", &developer).await.text().await.unwrap();
    assert!(nav.contains("href=\"/keyspaces\"") && nav.contains("href=\"/service-accounts\""));
    assert!(!nav.contains("href=\"/policies\""));
    assert!(!site.get("/keyspaces", &developer).await.text().await.unwrap().contains("Create a keyspace"));
    let members = site.get("/members", &developer).await.text().await.unwrap();
    assert!(!members.contains("/remove") && !members.contains("Invite someone"));
    let policy = site.get("/policies", &developer).await;
    assert_eq!(policy.status(), StatusCode::FORBIDDEN);
    assert!(policy.text().await.unwrap().contains("Not allowed for your role"), "a page, not bare text");
    let dev_csrf = field(&nav, "csrf");
    let sneaky = site.post("/service-accounts", &developer, &[("csrf", &dev_csrf), ("name", "mine")]).await;
    assert_eq!(sneaky.status(), StatusCode::FORBIDDEN);
    let keyspace =
        site.api(reqwest::Method::POST, "/v1/keyspaces", json!({"name": "app", "environment": "test"})).await;
    let keyspace_id = keyspace["id"].as_str().unwrap().to_owned();
    let fields = [("name", "dev laptop"), ("keyspace_id", keyspace_id.as_str()), ("expires", "never")];
    let (token_id, secret) = create_token(&site, &developer, &fields).await;
    assert!(!site.get("/tokens/new", &developer).await.text().await.unwrap().contains("id=\"owner\""));

    // The owner sees where it was last used, from the verification sample
    // (one success per token per usage flush is sampled).
    site.engine.flush_usage().await.unwrap();
    let verified = site
        .api(
            reqwest::Method::POST,
            "/v1/verify",
            json!({"token": secret, "client_ip": "203.0.113.9", "user_agent": "laptop-cli/2.1"}),
        )
        .await;
    assert_eq!(verified["valid"], true);
    site.engine.flush_usage().await.unwrap();
    let table = site.get("/tokens", &owner).await.text().await.unwrap();
    assert!(table.contains("203.0.113.9 · laptop-cli/2.1"), "{table}");

    // The owner's policy flags the developer's token that never expires.
    let csrf = field(&site.get("/policies", &owner).await.text().await.unwrap(), "csrf");
    let unreadable = site.post("/policies", &owner, &[("csrf", &csrf), ("max_lifetime", "ninety days")]).await;
    assert_eq!(unreadable.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = unreadable.text().await.unwrap();
    assert!(html.contains("id=\"max_lifetime-error\"") && html.contains("value=\"ninety days\""));
    let inverted = [("csrf", csrf.as_str()), ("max_lifetime", "7d"), ("default_lifetime", "30d")];
    let html = site.post("/policies", &owner, &inverted).await.text().await.unwrap();
    assert!(html.contains("id=\"default_lifetime-error\""), "the engine's range rules answer by the field: {html}");
    let strict = [("csrf", csrf.as_str()), ("require_expiry", "on"), ("max_lifetime", "90d")];
    let saved = site.post("/policies", &owner, &strict).await;
    assert_eq!(saved.status(), StatusCode::OK);
    let html = saved.text().await.unwrap();
    assert!(
        html.contains("Policy saved") && html.contains(&format!("href=\"/tokens/{token_id}\">dev laptop")),
        "{html}"
    );
    let policy = site.api(reqwest::Method::GET, "/v1/token-policy", json!(null)).await;
    assert_eq!(policy["max_lifetime_seconds"], 90 * 86_400, "{policy}");

    // Role change, then removal with the email typed.
    let members = site.get("/members", &owner).await.text().await.unwrap();
    let start = members.find("/members/usr_").unwrap() + "/members/".len();
    let user_id = members[start..].split('/').next().unwrap().to_owned();
    let changed = site.post(&format!("/members/{user_id}/role"), &owner, &[("csrf", &csrf), ("role", "viewer")]).await;
    let html = site.get(&location(&changed), &owner).await.text().await.unwrap();
    assert!(html.contains("dev@example.com&#39;s role is changed"), "{html}");
    assert_eq!(site.get("/tokens/new", &developer).await.status(), StatusCode::FORBIDDEN, "a viewer cannot create");
    let remove_path = format!("/members/{user_id}/remove");
    assert!(site.get(&remove_path, &owner).await.text().await.unwrap().contains("<strong>1</strong> active now"));
    let wrong = site.post(&remove_path, &owner, &[("csrf", &csrf), ("confirm", "dev")]).await;
    assert_eq!(wrong.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let removed = site.post(&remove_path, &owner, &[("csrf", &csrf), ("confirm", "DEV@example.com")]).await;
    let html = site.get(&location(&removed), &owner).await.text().await.unwrap();
    assert!(html.contains("Removed dev@example.com. 1 token they owned was revoked"), "{html}");
    assert_eq!(site.api(reqwest::Method::POST, "/v1/verify", json!({"token": secret})).await["code"], "REVOKED");
    assert_eq!(location(&site.get("/tokens", &developer).await), "/sign-in", "their session ended");
}

#[tokio::test]
async fn sign_ins_failures_sign_outs_and_password_changes_reach_the_audit_page_with_address_and_agent() {
    let site = site().await;
    let first = site.set_up_owner().await;
    let with_agent = |request: reqwest::RequestBuilder| request.header(reqwest::header::USER_AGENT, "AuditBrowser/2.0");
    let csrf = field(&site.get("/tokens", &first).await.text().await.unwrap(), "csrf");
    let out =
        with_agent(site.client.post(format!("{}/sign-out", site.base)).header(COOKIE, &first).form(&[("csrf", &csrf)]));
    assert_eq!(out.send().await.unwrap().status(), StatusCode::SEE_OTHER);

    let page = site.get("/sign-in", "").await;
    let form_cookie = cookie_from(&page, "__Host-keyward_form").unwrap();
    let token = field(&page.text().await.unwrap(), "form_token");
    let sign_in = |email: &'static str, password: &'static str| {
        let form = [("form_token", token.clone()), ("email", email.into()), ("password", password.into())];
        with_agent(site.client.post(format!("{}/sign-in", site.base)).header(COOKIE, &form_cookie).form(&form)).send()
    };
    let wrong = sign_in("owner@example.com", "wrong password!").await.unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let unknown = sign_in("stranger@example.com", "wrong password!").await.unwrap();
    assert_eq!(unknown.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        wrong.text().await.unwrap().replace("owner@example.com", "stranger@example.com"),
        unknown.text().await.unwrap(),
        "an unknown account reads exactly like a wrong password"
    );
    let right = sign_in("owner@example.com", "correct horse battery").await.unwrap();
    assert_eq!(right.status(), StatusCode::SEE_OTHER);
    let session = cookie_from(&right, "__Host-keyward_session").unwrap();

    // A second browser, signed in elsewhere: the change ends it.
    let other = sign_in("owner@example.com", "correct horse battery").await.unwrap();
    let other = cookie_from(&other, "__Host-keyward_session").unwrap();
    let account = site.get("/account", &session).await;
    assert_eq!(account.status(), StatusCode::OK);
    let csrf = field(&account.text().await.unwrap(), "csrf");
    let change = |current: &'static str| {
        let form = [("csrf", csrf.as_str()), ("current_password", current), ("new_password", "a brand new passphrase")];
        with_agent(site.client.post(format!("{}/account", site.base)).header(COOKIE, &session).form(&form)).send()
    };
    let refused = change("not my password").await.unwrap();
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.text().await.unwrap().contains("not your current password"));
    let changed = change("correct horse battery").await.unwrap();
    assert_eq!(changed.status(), StatusCode::OK);
    assert!(changed.text().await.unwrap().contains("signed out everywhere else"));
    assert_eq!(site.get("/tokens", &other).await.status(), StatusCode::SEE_OTHER, "the other session ended");
    assert_eq!(site.get("/tokens", &session).await.status(), StatusCode::OK, "this one stays");
    assert_eq!(sign_in("owner@example.com", "correct horse battery").await.unwrap().status(), StatusCode::UNAUTHORIZED);

    let audit = site.get("/audit", &session).await;
    assert_eq!(audit.status(), StatusCode::OK);
    let html = audit.text().await.unwrap();
    for action in ["session.signed_in", "session.sign_in_failed", "session.signed_out", "account.password_changed"] {
        assert!(html.contains(action), "{action} is on the audit page");
    }
    assert!(html.contains("owner@example.com signed in from 127.0.0.1, with AuditBrowser/2.0 (password)"), "{html}");
    assert!(html.contains("Sign-in as stranger@example.com failed from 127.0.0.1, with AuditBrowser/2.0"));
    assert!(html.contains("Signed out from 127.0.0.1, with AuditBrowser/2.0"));
    assert!(html.contains("owner@example.com changed their password from 127.0.0.1"));
    for password in ["wrong password!", "correct horse battery", "a brand new passphrase", "not my password"] {
        assert!(!html.contains(password), "no password is logged");
    }
}

#[tokio::test]
async fn a_page_refused_for_a_role_is_audited_like_an_api_call() {
    let site = site().await;
    let owner = site.set_up_owner().await;
    let invitation =
        site.api(reqwest::Method::POST, "/v1/invitations", json!({"email": "v@example.com", "role": "viewer"})).await;
    let joined = site
        .client
        .post(format!("{}/v1/invitations/accept", site.base))
        .json(&json!({"token": invitation["token"], "password": "viewer password 1"}))
        .send()
        .await
        .unwrap();
    let viewer = cookie_from(&joined, "__Host-keyward_session").unwrap();
    assert_eq!(site.get("/policies", &viewer).await.status(), StatusCode::FORBIDDEN);
    let html = site.get("/audit?action=security.access_denied", &owner).await.text().await.unwrap();
    assert!(html.contains("Refused GET /policies from 127.0.0.1: insufficient scope"), "{html}");
}

#[tokio::test]
async fn refusals_come_from_the_engine_with_the_same_page_status_and_audit() {
    let site = site().await;
    let owner = site.set_up_owner().await;
    let developer = join_as(&site, &owner, "dev@example.com", "developer").await;
    let keyspace =
        site.api(reqwest::Method::POST, "/v1/keyspaces", json!({"name": "app", "environment": "test"})).await;
    let keyspace_id = keyspace["id"].as_str().unwrap().to_owned();
    let fields = [("name", "owner's job"), ("keyspace_id", keyspace_id.as_str()), ("expires", "never")];
    let (token_id, secret) = create_token(&site, &owner, &fields).await;

    // Pages that must refuse before reading a form ask the engine, which
    // answers with the refusal page, its status and its audit.
    let remove = site.get("/members/usr_anyone/remove", &developer).await;
    assert_eq!(remove.status(), StatusCode::FORBIDDEN);
    assert!(remove.text().await.unwrap().contains("Not allowed for your role"));

    // A developer revoking someone else's token is told so, as the API
    // tells it, and the refusal is audited; the token stays valid.
    let csrf = field(&site.get(&format!("/tokens/{token_id}"), &developer).await.text().await.unwrap(), "csrf");
    let refused = site.post(&format!("/tokens/{token_id}/revoke"), &developer, &[("csrf", &csrf)]).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert!(refused.text().await.unwrap().contains("Not your token"));
    assert_eq!(site.api(reqwest::Method::POST, "/v1/verify", json!({"token": secret})).await["valid"], true);
    let html = site.get("/audit?action=security.access_denied", &owner).await.text().await.unwrap();
    assert!(html.contains("Refused GET /members/{id}/remove from 127.0.0.1: insufficient scope"), "{html}");
    assert!(html.contains("Refused POST /tokens/{id}/revoke from 127.0.0.1: not token owner"), "{html}");
}
