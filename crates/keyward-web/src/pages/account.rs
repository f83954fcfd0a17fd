//! Your account: change your password. The current one is asked for (a
//! session left open is not enough), and every other session of yours ends.

use askama::Template;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use keyward_engine::EngineError;
use keyward_server::AppState;

use super::{render, UserBar, CSRF_EXPIRED};
use crate::form::FormData;
use crate::session::SignedInPage;

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage {
    signed_in: Option<UserBar>,
    notice: Option<String>,
    email: String,
    form_error: Option<String>,
    current_error: Option<String>,
    new_error: Option<String>,
}

fn page(signed_in: &SignedInPage, notice: Option<String>) -> AccountPage {
    AccountPage {
        signed_in: Some(signed_in.into()),
        notice,
        email: signed_in.email.clone(),
        form_error: None,
        current_error: None,
        new_error: None,
    }
}

/// `GET /account`
pub async fn show(signed_in: SignedInPage) -> Response {
    render(&page(&signed_in, None))
}

/// `POST /account`: changes the password.
pub async fn change_password(State(state): State<AppState>, signed_in: SignedInPage, body: Bytes) -> Response {
    let form = FormData::parse(&body);
    let mut shown = page(&signed_in, None);
    if !signed_in.csrf_ok(&form) {
        shown.form_error = Some(CSRF_EXPIRED.into());
        return (StatusCode::FORBIDDEN, render(&shown)).into_response();
    }
    let context = &signed_in.actor.context;
    let (current, new) = (form.raw("current_password"), form.raw("new_password"));
    match state.engine.change_password(&signed_in.actor, &current, &new, context).await {
        Ok(()) => {
            render(&page(&signed_in, Some("Your password is changed. You were signed out everywhere else.".into())))
        }
        Err(EngineError::Invalid(invalid)) => {
            let message = Some(format!("{}.", invalid.message.trim_end_matches('.')));
            if invalid.field == "current_password" {
                shown.current_error = message;
            } else {
                shown.new_error = message.map(|m| format!("The new password {m}"));
            }
            (StatusCode::UNPROCESSABLE_ENTITY, render(&shown)).into_response()
        }
        Err(EngineError::Throttled { retry_after_seconds }) => {
            shown.form_error =
                Some(format!("Too many wrong passwords. Wait {retry_after_seconds} seconds and try again."));
            (StatusCode::TOO_MANY_REQUESTS, render(&shown)).into_response()
        }
        Err(error) => super::failed(error),
    }
}
