//! Rotation and bulk revocation from the tokens screen.
//!
//! Rotating shows a dialog (grace period, who used the token recently),
//! then the new secret once, with the old token's remaining grace. Bulk
//! revocation takes the rows selected in the table and asks for their
//! count, typed, before revoking them all in one audited step.

use std::collections::{BTreeSet, HashMap};

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use keyward_core::clock::micros_to_datetime;
use keyward_core::id::TokenId;
use keyward_core::model::{Keyspace, TokenState};
use keyward_engine::prechecks::{self, parse_id};
use keyward_engine::{BulkRevoke, EngineError, RotationRequest, MAX_SELECTED};
use keyward_server::AppState;

use super::tokens::{
    customer_keyspaces, keyspace_label, nonce, owner_names, row, shown_token, source, Calls, CreatedPage, Replaced, Row,
};
use super::{failed, render, UserBar, When};
use crate::form::FormData;
use crate::session::SignedInPage;

/// Grace periods offered, in seconds, before the organization's maximum cuts them.
const GRACE_CHOICES: [(i64, &str); 5] = [
    (0, "None: the old token stops now"),
    (3_600, "1 hour"),
    (86_400, "24 hours"),
    (7 * 86_400, "7 days"),
    (30 * 86_400, "30 days"),
];
const DEFAULT_GRACE: i64 = 86_400;

#[derive(Template)]
#[template(path = "token_rotate.html")]
struct RotatePage {
    signed_in: Option<UserBar>,
    notice: Option<String>,
    csrf: String,
    nonce: String,
    id: String,
    name: String,
    masked: String,
    choices: Vec<(i64, &'static str)>,
    chosen: i64,
    recent_clients: Vec<String>,
    error: Option<String>,
}

/// Who used token `id` successfully in its recent verifications: the
/// services that will need its replacement.
async fn recent_users(state: &AppState, page: &SignedInPage, id: &str) -> Vec<String> {
    let mut users: Vec<String> = Vec::new();
    // A malformed id has no activity, as an unknown one has none.
    let Ok(id) = TokenId::parse(id) else {
        return users;
    };
    if let Ok(activity) = state.engine.token_activity(&page.actor, &id, 1).await {
        for sample in activity.recent.iter().filter(|sample| sample.outcome == "VALID") {
            let seen = source(sample.client_ip.as_deref(), sample.user_agent.as_deref());
            if !users.contains(&seen) {
                users.push(seen);
            }
        }
    }
    users
}

async fn rotate_page(state: &AppState, page: &SignedInPage, id: &str, chosen: i64, error: Option<String>) -> Response {
    let (id, record) = match shown_token(state, page, id).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let limit = match state.engine.token_policy(&page.actor).await {
        Ok(policy) => policy.rotation_grace_limit(),
        Err(error) => return failed(error),
    };
    let choices: Vec<(i64, &'static str)> =
        GRACE_CHOICES.iter().copied().filter(|(seconds, _)| *seconds <= limit).collect();
    let recent_clients = recent_users(state, page, &id).await;
    let status = if error.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    let chosen = if choices.iter().any(|(seconds, _)| *seconds == chosen) { chosen } else { 0 };
    let rendered = render(&RotatePage {
        signed_in: Some(UserBar::from(page)),
        notice: None,
        csrf: page.csrf.clone(),
        nonce: nonce(),
        id: record.id.clone(),
        name: record.name.clone(),
        masked: record.masked(),
        choices,
        chosen,
        recent_clients,
        error,
    });
    (status, rendered).into_response()
}

/// Whether token `id` was rotated already: a resubmitted rotation form
/// finds it so.
async fn was_replaced(state: &AppState, page: &SignedInPage, id: &str) -> bool {
    match TokenId::parse(id) {
        Ok(id) => state.engine.get_token(&page.actor, &id).await.is_ok_and(|token| token.is_replaced()),
        Err(_) => false,
    }
}

/// `GET /tokens/{id}/rotate`: the rotation dialog.
pub async fn rotate_form(State(state): State<AppState>, page: SignedInPage, Path(id): Path<String>) -> Response {
    rotate_page(&state, &page, &id, DEFAULT_GRACE, None).await
}

/// `POST /tokens/{id}/rotate`: the new secret, shown once (`no-store`;
/// resubmitting leads to the old token's page instead).
pub async fn rotate(
    State(state): State<AppState>,
    page: SignedInPage,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = FormData::parse(&body);
    let grace = form.get("grace").parse::<i64>().ok();
    if !page.csrf_ok(&form) {
        let error = "This form expired or came from another page. Choose the grace period and confirm again.";
        return (
            StatusCode::FORBIDDEN,
            rotate_page(&state, &page, &id, grace.unwrap_or(DEFAULT_GRACE), Some(error.into())).await,
        )
            .into_response();
    }
    let Some(grace) = grace else {
        return rotate_page(&state, &page, &id, DEFAULT_GRACE, Some("Choose a grace period.".into())).await;
    };
    let now_micros = state.now_micros();
    let request = RotationRequest { grace_period_seconds: grace, expires_in: None };
    let rotation = async {
        let token_id: TokenId = parse_id(&id, || prechecks::rotation(&page.actor, &request))?;
        state.engine.rotate_token(&page.actor, &token_id, request).await
    };
    let rotated = match rotation.await {
        Ok(rotated) => rotated,
        // A resubmitted form (a double click, a reload): the first one
        // rotated it, on whichever instance (with no grace period, the old
        // token is revoked by then); show the token.
        Err(EngineError::Rejected { code: "token_already_rotated", .. }) => {
            return Redirect::to(&format!("/tokens/{id}?rotated=1")).into_response();
        }
        Err(EngineError::Rejected { code: "token_revoked", .. }) if was_replaced(&state, &page, &id).await => {
            return Redirect::to(&format!("/tokens/{id}?rotated=1")).into_response();
        }
        Err(error) => {
            return match error {
                EngineError::Invalid(invalid) => rotate_page(&state, &page, &id, grace, Some(invalid.message)).await,
                EngineError::Rejected { detail, .. } => rotate_page(&state, &page, &id, grace, Some(detail)).await,
                EngineError::Escalation { scopes } => {
                    let message = format!("You cannot grant the scopes it holds: {}.", scopes.join(", "));
                    rotate_page(&state, &page, &id, grace, Some(message)).await
                }
                other => failed(other),
            };
        }
    };
    let now = micros_to_datetime(now_micros);
    let record = &rotated.issued.record;
    let keyspace = keyspace_label(&state, &page, &record.keyspace_id).await;
    let clients = recent_users(&state, &page, &id).await;
    let grace_ends = (!rotated.old.is_revoked()).then(|| rotated.old.expires_at.map(|at| When::of(at, now))).flatten();
    render(&CreatedPage {
        signed_in: Some(UserBar::from(&page)),
        notice: None,
        id: record.id.clone(),
        name: record.name.clone(),
        secret: rotated.issued.secret.expose().to_owned(),
        scopes: record.scopes.clone(),
        expires: record.expires_at.map_or_else(|| "never".to_owned(), |at| When::of(at, now).exact),
        keyspace,
        calls: Calls::for_request(&state.site, &headers),
        replaced: Some(Replaced { id: rotated.old.id.clone(), grace_ends, clients }),
    })
}

#[derive(Template)]
#[template(path = "tokens_bulk.html")]
struct BulkPage {
    signed_in: Option<UserBar>,
    notice: Option<String>,
    csrf: String,
    rows: Vec<Row>,
    count: usize,
    live: usize,
    error: Option<String>,
}

/// `POST /tokens/bulk-revoke`: first the selection's confirmation page,
/// then, with the count typed, the revocation.
pub async fn bulk_revoke(State(state): State<AppState>, page: SignedInPage, body: Bytes) -> Response {
    let form = FormData::parse(&body);
    let ids: Vec<String> = form.all("id").into_iter().collect::<BTreeSet<_>>().into_iter().collect();
    if ids.is_empty() {
        return Redirect::to("/tokens").into_response();
    }
    let csrf_ok = page.csrf_ok(&form);
    if ids.len() > MAX_SELECTED {
        let message = format!("Select at most {MAX_SELECTED} tokens at a time.");
        return bulk_page(&state, &page, &ids, Some(message)).await;
    }
    if !csrf_ok {
        return (
            StatusCode::FORBIDDEN,
            bulk_page(&state, &page, &ids, Some("This form expired; confirm again.".into())).await,
        )
            .into_response();
    }
    let typed = form.get("confirm_count");
    if typed.is_empty() && form.get("step") != "confirm" {
        return bulk_page(&state, &page, &ids, None).await;
    }
    let Ok(expected) = typed.trim().parse::<u64>() else {
        return bulk_page(&state, &page, &ids, Some("Type the number of tokens to revoke, in digits.".into())).await;
    };
    let request = BulkRevoke { ids: ids.clone(), expected_count: Some(expected), ..BulkRevoke::default() };
    match state.engine.bulk_revoke(&page.actor, request).await {
        Ok(outcome) => Redirect::to(&format!("/tokens?bulk_revoked={}", outcome.matched)).into_response(),
        Err(EngineError::Rejected { detail, .. }) => bulk_page(&state, &page, &ids, Some(detail)).await,
        Err(EngineError::Invalid(invalid)) => bulk_page(&state, &page, &ids, Some(invalid.message)).await,
        Err(EngineError::NotOwner) => {
            bulk_page(&state, &page, &ids, Some("You may revoke only tokens you own.".into())).await
        }
        Err(other) => failed(other),
    }
}

async fn bulk_page(state: &AppState, page: &SignedInPage, ids: &[String], error: Option<String>) -> Response {
    let now = micros_to_datetime(state.now_micros());
    let keyspaces = match customer_keyspaces(state, page).await {
        Ok(keyspaces) => keyspaces,
        Err(error) => return failed(error),
    };
    let by_id: HashMap<&str, &Keyspace> = keyspaces.iter().map(|k| (k.id.as_str(), k)).collect();
    let owners = owner_names(state, page).await;
    let mut rows = Vec::new();
    let mut live = 0;
    for id in ids.iter().take(MAX_SELECTED) {
        // Only what this user may see and what can still be revoked is listed (and counted).
        // A malformed id is left out, as an unknown one is.
        let Ok(id) = TokenId::parse(id) else {
            continue;
        };
        if let Ok(record) = state.engine.get_token(&page.actor, &id).await {
            if record.management || record.state_at(now.timestamp_micros()) != TokenState::Active {
                continue;
            }
            if record.environment == keyward_core::Environment::Live {
                live += 1;
            }
            rows.push(row(&record, &by_id, &owners, None, now));
        }
    }
    let status = if error.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    let count = rows.len();
    (
        status,
        render(&BulkPage {
            signed_in: Some(UserBar::from(page)),
            notice: None,
            csrf: page.csrf.clone(),
            rows,
            count,
            live,
            error,
        }),
    )
        .into_response()
}
