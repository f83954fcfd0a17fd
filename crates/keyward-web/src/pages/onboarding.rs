//! The way in: the first owner's setup from the link `keyward serve`
//! prints, an invited member's landing on the same path, sign-in and
//! sign-out.

use std::collections::HashMap;

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use keyward_engine::EngineError;
use keyward_server::extract::{session_cookie, Context};
use keyward_server::routes::accounts::{session_set_cookie, CLEARED_SESSION_COOKIE};
use keyward_server::AppState;

use super::{render, Message, UserBar};
use crate::form::FormData;
use crate::session::{form_token, form_token_ok};

/// Problems with what was typed, shown next to each field.
#[derive(Default)]
pub struct Errors {
    pub form: Option<String>,
    pub email: Option<String>,
    pub password: Option<String>,
    pub organization_name: Option<String>,
}

#[derive(Template)]
#[template(path = "setup.html")]
struct SetupPage {
    signed_in: Option<UserBar>,
    notice: Option<String>,
    organization: String,
    code: String,
    email: String,
    form_token: String,
    errors: Errors,
}

#[derive(Template)]
#[template(path = "join.html")]
struct JoinPage {
    signed_in: Option<UserBar>,
    notice: Option<String>,
    invitation: String,
    form_token: String,
    errors: Errors,
}

fn join_page(headers: &HeaderMap, invitation: String, errors: Errors, status: StatusCode) -> Response {
    let (form_token, cookie) = form_token(headers);
    let page = JoinPage { signed_in: None, notice: None, invitation, form_token, errors };
    with_form_cookie((status, render(&page)).into_response(), cookie)
}

fn invalid_invitation() -> Response {
    let page = Message {
        signed_in: None,
        notice: None,
        heading: "This invitation cannot be used".into(),
        text: "It is invalid, was used already, or expired. Ask whoever invited you for a new link.".into(),
        action: Some(("/sign-in".into(), "Go to sign-in".into())),
    };
    (StatusCode::NOT_FOUND, render(&page)).into_response()
}

/// An invited member sets their password (or gives their existing one)
/// and lands on the tokens screen, signed in.
async fn accept(
    state: &AppState,
    context: &keyward_engine::RequestContext,
    headers: &HeaderMap,
    form: &FormData,
) -> Response {
    let invitation = form.get("invitation");
    if !form_token_ok(headers, form) {
        let errors = Errors { form: Some(EXPIRED_FORM.into()), ..Errors::default() };
        return join_page(headers, invitation, errors, StatusCode::FORBIDDEN);
    }
    match state.engine.accept_invitation(&invitation, &form.raw("password"), context).await {
        Ok(session) => {
            let mut response = Redirect::to("/tokens?welcome=1").into_response();
            if let Some(cookie) = session_set_cookie(&session, state.now_micros()) {
                response.headers_mut().insert(header::SET_COOKIE, cookie);
            }
            response
        }
        Err(EngineError::InvitationInvalid) => invalid_invitation(),
        Err(EngineError::Invalid(invalid)) => {
            let errors = Errors { password: Some(invalid.message), ..Errors::default() };
            join_page(headers, invitation, errors, StatusCode::UNPROCESSABLE_ENTITY)
        }
        Err(EngineError::InvalidCredentials) => {
            let errors = Errors {
                password: Some("You already have an account: give its password.".into()),
                ..Errors::default()
            };
            join_page(headers, invitation, errors, StatusCode::UNAUTHORIZED)
        }
        Err(error) => {
            tracing::error!(%error, "accepting an invitation failed");
            super::unavailable()
        }
    }
}

#[derive(Template)]
#[template(path = "sign_in.html")]
struct SignInPage {
    signed_in: Option<UserBar>,
    notice: Option<String>,
    email: String,
    form_token: String,
    errors: Errors,
}

const EXPIRED_FORM: &str = "This form expired or was sent from another page. It has been refreshed: submit it again.";

fn invalid_setup_link() -> Response {
    let page = Message {
        signed_in: None,
        notice: None,
        heading: "This setup link cannot be used".into(),
        text: "It is invalid, was used already, or expired (links last 15 minutes). If nobody has set up this \
               Keyward yet, restart `keyward serve` and open the new link it prints. Otherwise, sign in."
            .into(),
        action: Some(("/sign-in".into(), "Go to sign-in".into())),
    };
    (StatusCode::NOT_FOUND, render(&page)).into_response()
}

/// Adds the form cookie to a rendered page when the browser had none.
fn with_form_cookie(mut response: Response, cookie: Option<axum::http::HeaderValue>) -> Response {
    if let Some(cookie) = cookie {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

/// What the setup form holds: the code it redeems and what was typed
/// (`None` for the organization's name: its current one).
struct SetupTyped {
    code: String,
    email: String,
    organization_name: Option<String>,
}

async fn setup_page(state: &AppState, headers: &HeaderMap, typed: SetupTyped, errors: Errors) -> Response {
    let SetupTyped { code, email, organization_name } = typed;
    let organization = match state.engine.store().operator_organization().await {
        Ok(Some(organization)) => organization_name.unwrap_or(organization.name),
        Ok(None) => return invalid_setup_link(),
        Err(error) => {
            tracing::error!(%error, "cannot read the operator organization");
            return super::unavailable();
        }
    };
    let (form_token, cookie) = form_token(headers);
    let page = SetupPage { signed_in: None, notice: None, organization, code, email, form_token, errors };
    with_form_cookie(render(&page), cookie)
}

/// `GET /setup?code=…`
pub async fn setup_form(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    if let Some(invitation) = query.get("invitation") {
        return join_page(&headers, invitation.clone(), Errors::default(), StatusCode::OK);
    }
    let code = query.get("code").cloned().unwrap_or_default();
    if !state.engine.setup_code_valid(&code) {
        return invalid_setup_link();
    }
    let typed = SetupTyped { code, email: String::new(), organization_name: None };
    setup_page(&state, &headers, typed, Errors::default()).await
}

/// `POST /setup`: creates the owner and goes straight to the tokens screen.
pub async fn complete_setup(
    State(state): State<AppState>,
    Context(context): Context,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = FormData::parse(&body);
    if !form.get("invitation").is_empty() {
        return accept(&state, &context, &headers, &form).await;
    }
    let (code, email, organization_name) = (form.get("code"), form.get("email"), form.get("organization_name"));
    if !state.engine.setup_code_valid(&code) {
        return invalid_setup_link();
    }
    let typed =
        SetupTyped { code: code.clone(), email: email.clone(), organization_name: Some(organization_name.clone()) };
    if !form_token_ok(&headers, &form) {
        let errors = Errors { form: Some(EXPIRED_FORM.into()), ..Errors::default() };
        return setup_page(&state, &headers, typed, errors).await;
    }
    // A form without the field (an older page) keeps the current name.
    let naming = form.has("organization_name").then_some(organization_name.as_str());
    match state.engine.complete_setup(&code, &email, &form.raw("password"), naming, &context).await {
        Ok(session) => {
            let mut response = Redirect::to("/tokens?welcome=1").into_response();
            if let Some(cookie) = session_set_cookie(&session, state.now_micros()) {
                response.headers_mut().insert(header::SET_COOKIE, cookie);
            }
            response
        }
        Err(EngineError::Invalid(invalid)) => {
            let mut errors = Errors::default();
            match invalid.field {
                "email" => errors.email = Some(invalid.message),
                "password" => errors.password = Some(invalid.message),
                "organization_name" => errors.organization_name = Some(invalid.message),
                _ => errors.form = Some(invalid.message),
            }
            (StatusCode::UNPROCESSABLE_ENTITY, setup_page(&state, &headers, typed, errors).await).into_response()
        }
        Err(EngineError::Rejected { code: "setup_invalid", .. }) => invalid_setup_link(),
        Err(error) => {
            tracing::error!(%error, "setup failed");
            super::unavailable()
        }
    }
}

fn sign_in_page(headers: &HeaderMap, email: String, errors: Errors, status: StatusCode) -> Response {
    let (form_token, cookie) = form_token(headers);
    let page = SignInPage { signed_in: None, notice: None, email, form_token, errors };
    with_form_cookie((status, render(&page)).into_response(), cookie)
}

/// `GET /sign-in`
pub async fn sign_in_form(headers: HeaderMap) -> Response {
    sign_in_page(&headers, String::new(), Errors::default(), StatusCode::OK)
}

/// `POST /sign-in`
pub async fn sign_in(
    State(state): State<AppState>,
    Context(context): Context,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = FormData::parse(&body);
    let email = form.get("email");
    if !form_token_ok(&headers, &form) {
        let errors = Errors { form: Some(EXPIRED_FORM.into()), ..Errors::default() };
        return sign_in_page(&headers, email, errors, StatusCode::FORBIDDEN);
    }
    let refused = |message: String, status| {
        sign_in_page(&headers, email.clone(), Errors { form: Some(message), ..Errors::default() }, status)
    };
    match state.engine.sign_in(&email, &form.raw("password"), None, &context).await {
        Ok(session) => {
            let mut response = Redirect::to("/tokens").into_response();
            if let Some(cookie) = session_set_cookie(&session, state.now_micros()) {
                response.headers_mut().insert(header::SET_COOKIE, cookie);
            }
            response
        }
        Err(EngineError::InvalidCredentials | EngineError::Invalid(_)) => {
            refused("That email and password do not match an account.".into(), StatusCode::UNAUTHORIZED)
        }
        Err(EngineError::Throttled { retry_after_seconds }) => refused(
            format!("Too many failed attempts. Wait {retry_after_seconds} seconds and try again."),
            StatusCode::TOO_MANY_REQUESTS,
        ),
        Err(EngineError::NoMembership) => refused(
            "Your account belongs to no organization any more. Ask an owner for an invitation.".into(),
            StatusCode::FORBIDDEN,
        ),
        Err(error) => {
            tracing::error!(%error, "sign-in failed");
            super::unavailable()
        }
    }
}

/// `POST /sign-out`: needs the session's CSRF token, so no other page can
/// sign anyone out.
pub async fn sign_out(
    State(state): State<AppState>,
    Context(context): Context,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = FormData::parse(&body);
    if let Some(secret) = session_cookie(&headers) {
        if !keyward_engine::csrf_matches(&secret, &form.get("csrf")) {
            return (StatusCode::FORBIDDEN, "This sign-out did not come from a Keyward page.").into_response();
        }
        if let Err(error) = state.engine.sign_out(&secret, &context).await {
            tracing::error!(%error, "sign-out failed");
            return super::unavailable();
        }
    }
    let mut response = Redirect::to("/sign-in").into_response();
    response.headers_mut().insert(header::SET_COOKIE, CLEARED_SESSION_COOKIE);
    response
}
