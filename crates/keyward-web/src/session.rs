//! Who is looking at a page: the signed-in session from its cookie, and
//! the CSRF checks every form goes through.

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Redirect, Response};
use keyward_core::{base62, OsRng, SecureRng};
use keyward_engine::Actor;
use keyward_server::extract::{cookie, request_context_with_agent, session_cookie};
use keyward_server::AppState;

use crate::form::FormData;

/// A page request from a signed-in user. Without a live session the
/// request is sent to the sign-in page.
pub struct SignedInPage {
    /// The user acting in their organization.
    pub actor: Actor,
    /// Their email, for the header.
    pub email: String,
    /// The session's CSRF token, for the forms of the page.
    pub csrf: String,
    secret: String,
}

impl SignedInPage {
    /// Whether the form carries this session's CSRF token.
    pub fn csrf_ok(&self, form: &FormData) -> bool {
        keyward_engine::csrf_matches(&self.secret, &form.get("csrf"))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for SignedInPage
where
    AppState: FromRef<S>,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Response> {
        let state = AppState::from_ref(state);
        let to_sign_in = || Redirect::to("/sign-in").into_response();
        let Some(secret) = session_cookie(&parts.headers) else {
            return Err(to_sign_in());
        };
        let principal = match state.engine.authenticate_session(&secret).await {
            Ok(Some(principal)) => principal,
            Ok(None) => return Err(to_sign_in()),
            Err(error) => {
                tracing::error!(%error, "cannot read the session");
                return Err(crate::pages::unavailable());
            }
        };
        let email = principal.signed_in().map(|user| user.email.clone()).unwrap_or_default();
        let actor = Actor { principal, context: request_context_with_agent(parts, &state.trusted_proxies) };
        keyward_server::refusals::note_caller(&actor);
        Ok(Self { actor, email, csrf: keyward_engine::csrf_token(&secret), secret })
    }
}

/// The cookie holding the CSRF token of forms shown before sign-in
/// (sign-in, setup): the form must echo it, which a foreign page cannot.
pub const FORM_COOKIE: &str = "__Host-keyward_form";

/// The form token of this browser, and the cookie to set when it had none.
pub fn form_token(headers: &HeaderMap) -> (String, Option<HeaderValue>) {
    if let Some(existing) = cookie(headers, FORM_COOKIE).filter(|value| value.len() == 22) {
        return (existing, None);
    }
    let mut bytes = [0u8; 16];
    if OsRng.fill(&mut bytes).is_err() {
        // Without randomness the form would be forgeable: show it without
        // a token, and every submission is refused.
        return (String::new(), None);
    }
    let token = base62::encode_u128(u128::from_le_bytes(bytes));
    let cookie = format!("{FORM_COOKIE}={token}; Path=/; Secure; HttpOnly; SameSite=Strict");
    (token.clone(), HeaderValue::from_str(&cookie).ok())
}

/// Whether a pre-session form echoes the browser's form cookie.
pub fn form_token_ok(headers: &HeaderMap, form: &FormData) -> bool {
    let presented = form.get("form_token");
    cookie(headers, FORM_COOKIE).is_some_and(|expected| !expected.is_empty() && expected == presented)
}
