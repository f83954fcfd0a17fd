//! Keyward's web screens, rendered on the server: the first owner's setup,
//! sign-in, the API Tokens screen (list, create with the secret shown
//! once, detail, rotate, revoke), and the organization's pages (keyspaces
//! and scope catalog, members and service accounts, policy, audit log),
//! each linked only for roles that may use it.
//!
//! Every page carries a strict Content-Security-Policy (no inline script,
//! no third-party origin, no framing), every form a CSRF token, and no
//! page but the shown-once one ever holds a token's secret. The pages work
//! without JavaScript; `app.js` adds copy-to-clipboard, live filtering and
//! sorting of the tokens table.

mod form;
mod pages;
mod session;

use axum::extract::Request;
use axum::http::{header, HeaderName, HeaderValue};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use std::sync::Arc;

use keyward_server::site::{FormOrigin, Site};
use keyward_server::AppState;

/// The policy of every page: our own scripts, styles and images only; forms
/// post only to us; never framed.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

const APP_CSS: &str = include_str!("../assets/app.css");
const APP_JS: &str = include_str!("../assets/app.js");

/// The web screens, to merge into the API router
/// ([`keyward_server::router_with`]).
pub fn pages() -> Router<AppState> {
    Router::new()
        .route("/", get(pages::home))
        .route("/setup", get(pages::onboarding::setup_form).post(pages::onboarding::complete_setup))
        .route("/sign-in", get(pages::onboarding::sign_in_form).post(pages::onboarding::sign_in))
        .route("/sign-out", post(pages::onboarding::sign_out))
        .route("/account", get(pages::account::show).post(pages::account::change_password))
        .route("/tokens", get(pages::tokens::list))
        .route("/tokens/new", get(pages::tokens::new_form).post(pages::tokens::create))
        .route("/tokens/{id}", get(pages::tokens::detail))
        .route("/tokens/bulk-revoke", post(pages::lifecycle::bulk_revoke))
        .route("/tokens/{id}/revoke", post(pages::tokens::revoke))
        .route("/tokens/{id}/rotate", get(pages::lifecycle::rotate_form).post(pages::lifecycle::rotate))
        .route("/audit", get(pages::audit::audit))
        .route("/audit/export", get(pages::audit::export))
        .route("/members", get(pages::people::members))
        .route("/members/invite", post(pages::people::invite))
        .route("/members/{id}/role", post(pages::people::change_role))
        .route("/members/{id}/remove", get(pages::people::confirm_member_removal).post(pages::people::remove_member))
        .route("/service-accounts", get(pages::people::service_accounts).post(pages::people::create_service_account))
        .route(
            "/service-accounts/{id}/remove",
            get(pages::people::confirm_account_removal).post(pages::people::remove_service_account),
        )
        .route("/keyspaces", get(pages::keyspaces::list).post(pages::keyspaces::create))
        .route("/keyspaces/{id}", get(pages::keyspaces::detail))
        .route("/keyspaces/{id}/scopes", post(pages::keyspaces::save_scopes))
        .route("/keyspaces/{id}/lifecycle", post(pages::keyspaces::save_lifecycle))
        .route("/scopes", get(pages::keyspaces::scopes))
        .route("/policies", get(pages::policies::show).post(pages::policies::save))
        .route("/policies/organization", post(pages::policies::rename))
        .route("/assets/app.css", get(|| async { asset("text/css; charset=utf-8", APP_CSS) }))
        .route("/assets/app.js", get(|| async { asset("text/javascript; charset=utf-8", APP_JS) }))
        .layer(middleware::from_fn(security_headers))
}

/// Refuses, with a page saying what to do, a screen the browser could not
/// use (its cookies would be dropped) and a form posted from elsewhere.
fn site_refusal(request: &Request) -> Option<Response> {
    let site = request.extensions().get::<Arc<Site>>()?;
    if request.uri().path().starts_with("/assets/") {
        return None;
    }
    let headers = request.headers();
    if !site.secure_context(headers) {
        return Some(pages::insecure_context(&site.origin(headers)));
    }
    if !request.method().is_safe() {
        if let FormOrigin::Foreign(origin) = site.form_origin(headers) {
            tracing::warn!(origin = %origin, path = request.uri().path(), "form refused: posted from another origin");
            return Some(pages::foreign_form(&origin, &site.origin(headers)));
        }
    }
    None
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "public, max-age=3600")], body).into_response()
}

async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = match site_refusal(&request) {
        Some(refusal) => refusal,
        None => next.run(request).await,
    };
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(HeaderName::from_static("cross-origin-opener-policy"), HeaderValue::from_static("same-origin"));
    if !headers.contains_key(header::CACHE_CONTROL) {
        // Pages show an organization's tokens: never kept by a shared cache
        // or restored from history without asking the server.
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}
