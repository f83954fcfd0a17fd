//! The page handlers, one module per area, and what they share: rendering,
//! the user bar, and times shown both relative and exact.

pub mod account;
pub mod audit;
pub mod chart;
pub mod keyspaces;
pub mod lifecycle;
pub mod onboarding;
pub mod people;
pub mod policies;
pub mod tokens;

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use chrono::{DateTime, Utc};
use keyward_engine::{Capability, EngineError};
use keyward_server::extract::session_cookie;

/// The signed-in user in the page header.
pub struct UserBar {
    pub email: String,
    pub csrf: String,
    /// Links to the pages this user's role may use.
    pub may_read_audit: bool,
    pub may_read_members: bool,
    pub may_read_keyspaces: bool,
    pub may_write_policies: bool,
}

impl From<&crate::session::SignedInPage> for UserBar {
    fn from(page: &crate::session::SignedInPage) -> Self {
        let may = page.actor.capabilities();
        Self {
            email: page.email.clone(),
            csrf: page.csrf.clone(),
            may_read_audit: may.may_read_audit,
            may_read_members: may.may_read_members,
            may_read_keyspaces: may.may_read_keyspaces,
            may_write_policies: may.may_set_policy,
        }
    }
}

/// A time as a person reads it ("3 days ago") and exactly (RFC 3339, UTC).
pub struct When {
    pub relative: String,
    pub exact: String,
}

impl When {
    pub fn of(at: DateTime<Utc>, now: DateTime<Utc>) -> Self {
        Self { relative: relative(at, now), exact: at.format("%Y-%m-%d %H:%M UTC").to_string() }
    }
}

fn relative(at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let seconds = (at - now).num_seconds();
    let span = seconds.unsigned_abs();
    let (count, unit) = match span {
        0..=59 => return if seconds >= 0 { "in under a minute".into() } else { "just now".into() },
        60..=3_599 => (span / 60, "minute"),
        3_600..=86_399 => (span / 3_600, "hour"),
        86_400..=5_183_999 => (span / 86_400, "day"),
        5_184_000..=31_535_999 => (span / 2_592_000, "month"),
        _ => (span / 31_536_000, "year"),
    };
    let plural = if count == 1 { "" } else { "s" };
    if seconds >= 0 {
        format!("in {count} {unit}{plural}")
    } else {
        format!("{count} {unit}{plural} ago")
    }
}

/// Renders a page; a template that cannot render is logged, not shown.
pub fn render(template: &impl Template) -> Response {
    match template.render() {
        Ok(html) => Html(html).into_response(),
        Err(error) => {
            tracing::error!(%error, "a page failed to render");
            unavailable()
        }
    }
}

#[derive(Template)]
#[template(path = "message.html")]
pub struct Message {
    pub signed_in: Option<UserBar>,
    pub notice: Option<String>,
    pub heading: String,
    pub text: String,
    pub action: Option<(String, String)>,
}

/// A plain page saying something went wrong on our side.
pub fn unavailable() -> Response {
    let page = Message {
        signed_in: None,
        notice: None,
        heading: "Something went wrong".into(),
        text: "Keyward could not complete this. Nothing was changed; try again in a moment, and see the server log if it persists.".into(),
        action: Some(("/".into(), "Back to the start".into())),
    };
    let html = page.render().unwrap_or_else(|_| "Something went wrong.".into());
    (StatusCode::INTERNAL_SERVER_ERROR, Html(html)).into_response()
}

/// The page shown instead of any screen when the browser cannot keep
/// Keyward's cookies (plain HTTP to a non-loopback address): without this,
/// every form would loop on "this form expired".
pub fn insecure_context(origin: &str) -> Response {
    let page = Message {
        signed_in: None,
        notice: None,
        heading: "Open Keyward over HTTPS".into(),
        text: format!(
            "You reached Keyward at {origin} over plain HTTP. Browsers keep Keyward's sign-in cookies only on HTTPS \
             pages (or on this machine's own loopback address), so signing in cannot work from here, and passwords \
             and tokens would cross the network readable. The operator can fix this by either serving TLS \
             (settings tls_cert_file and tls_key_file), or putting Keyward behind an HTTPS reverse proxy and setting \
             public_url to its https:// address. For a quick look, an SSH tunnel works too: \
             ssh -L 8420:127.0.0.1:8420 this-server, then open http://127.0.0.1:8420."
        ),
        action: None,
    };
    let html = page.render().unwrap_or_else(|_| "Open Keyward over HTTPS.".into());
    (StatusCode::FORBIDDEN, Html(html)).into_response()
}

/// The page for a form posted from another site, or through a proxy that
/// rewrites the address without `public_url` saying so.
pub fn foreign_form(origin: &str, expected: &str) -> Response {
    let page = Message {
        signed_in: None,
        notice: None,
        heading: "Form refused".into(),
        text: format!(
            "This form was sent from {origin}, but Keyward is served at {expected}, so it was refused and nothing \
             was changed. If {origin} is Keyward's real address (a reverse proxy in front of it), the operator \
             should set public_url to it."
        ),
        action: Some(("/".into(), "Back to the start".into())),
    };
    let html = page.render().unwrap_or_else(|_| "Form refused.".into());
    (StatusCode::FORBIDDEN, Html(html)).into_response()
}

/// The page for an engine error a handler does not answer next to a
/// field: what happened and where to go, with the matching status. This is
/// the screens' one mapping of the engine's refusals, so a page never
/// decides on its own who may do what, only shows what the engine said.
pub fn failed(error: EngineError) -> Response {
    let (status, heading, text, code) = match error {
        EngineError::Forbidden { .. } | EngineError::Escalation { .. } => (
            StatusCode::FORBIDDEN,
            "Not allowed for your role",
            "Your role in this organization does not allow this. Ask an owner or admin to do it, or to change your role."
                .to_owned(),
            "insufficient_scope",
        ),
        EngineError::NotOwner => (
            StatusCode::FORBIDDEN,
            "Not your token",
            "Your role changes only tokens you own. Ask an owner or admin to do this for you.".to_owned(),
            "not_token_owner",
        ),
        EngineError::NotFound(what) => (
            StatusCode::NOT_FOUND,
            "Not found",
            format!("There is no such {what} in your organization. It may have been removed, or the link is mistyped."),
            "not_found",
        ),
        other => {
            tracing::error!(error = %other, "a page failed");
            return unavailable();
        }
    };
    let page = Message {
        signed_in: None,
        notice: None,
        heading: heading.into(),
        text,
        action: Some(("/tokens".into(), "Back to API Tokens".into())),
    };
    let mut response = (status, render(&page)).into_response();
    // The edge audits refusals of signed-in people as it does the API's.
    if let Some(refused) = keyward_server::error::Refused::of(status, code) {
        response.extensions_mut().insert(refused);
    }
    response
}

/// Asks the engine up front whether the user may `capability`, for the
/// screens that would otherwise read or validate a form before the service
/// call that refuses them: the refusal page (audited by the edge) when not.
pub fn engine_refusal(page: &crate::session::SignedInPage, capability: Capability) -> Option<Response> {
    page.actor.require_capability(capability).err().map(failed)
}

/// What a form says when its CSRF token is missing or not this session's.
pub const CSRF_EXPIRED: &str = "This form expired or came from another page; send it again.";

/// `/`: the tokens screen when signed in, else sign-in.
pub async fn home(headers: axum::http::HeaderMap) -> Redirect {
    if session_cookie(&headers).is_some() {
        Redirect::to("/tokens")
    } else {
        Redirect::to("/sign-in")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn times_read_naturally_both_ways() {
        let now = Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0).unwrap();
        assert_eq!(relative(now, now), "in under a minute");
        assert_eq!(relative(now - chrono::Duration::seconds(30), now), "just now");
        assert_eq!(relative(now - chrono::Duration::minutes(1), now), "1 minute ago");
        assert_eq!(relative(now + chrono::Duration::hours(5), now), "in 5 hours");
        assert_eq!(relative(now + chrono::Duration::days(30), now), "in 30 days");
        assert_eq!(relative(now - chrono::Duration::days(400), now), "1 year ago");
        assert_eq!(When::of(now, now).exact, "2026-11-23 12:00 UTC");
    }
}
