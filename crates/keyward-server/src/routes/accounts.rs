//! People: sign-up, sign-in and sign-out, invitations, members and their
//! roles, and service accounts.
//!
//! A session's secret is set only as a `__Host-` cookie (Secure, HttpOnly,
//! SameSite=Strict) and never appears in a body; the body carries the CSRF
//! token that every cookie-authenticated change must echo.

use crate::codes::Code;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::Json;
use keyward_core::id::{InvitationId, ServiceAccountId, UserId};
use keyward_core::role::Role;
use keyward_core::scope::management;
use keyward_engine::NewSession;

use crate::dto::{
    AcceptInvitation, ChangePassword, ChangeRole, ConfirmPassword, CreateServiceAccount, CreatedInvitationView,
    IntoView, InvitationView, InviteMember, List, MemberView, Removal, ServiceAccountView, SessionView, SignIn, SignUp,
};
use crate::error::{ApiError, Problem};
use crate::extract::{path_id, session_cookie, ApiJson, Caller, Context, SESSION_COOKIE};
use crate::routes::shown_once_headers;
use crate::AppState;

fn parse_role(text: &str) -> Result<Role, ApiError> {
    text.parse().map_err(|error: keyward_core::role::UnknownRole| ApiError::invalid_field("role", error.to_string()))
}

/// The response to anything that starts a session: the cookie, and the
/// session's public half in the body.
/// The `Set-Cookie` value that hands a new session to the browser:
/// `__Host-`, `Secure`, `HttpOnly`, `SameSite=Strict`, lasting as long as
/// the session.
pub fn session_set_cookie(session: &NewSession, now_micros: i64) -> Option<HeaderValue> {
    // Rounded up: the session is created a moment before this response.
    let max_age =
        (session.signed_in.expires_at.timestamp_micros() - now_micros).max(0).saturating_add(999_999) / 1_000_000;
    let cookie = format!(
        "{SESSION_COOKIE}={}; Path=/; Max-Age={max_age}; Secure; HttpOnly; SameSite=Strict",
        session.secret.expose()
    );
    HeaderValue::from_str(&cookie).ok()
}

/// The `Set-Cookie` value that ends the session in the browser.
pub const CLEARED_SESSION_COOKIE: HeaderValue =
    HeaderValue::from_static("__Host-keyward_session=; Path=/; Max-Age=0; Secure; HttpOnly; SameSite=Strict");

fn started(session: NewSession, now_micros: i64) -> (StatusCode, HeaderMap, Json<SessionView>) {
    let mut headers = shown_once_headers(None);
    if let Some(value) = session_set_cookie(&session, now_micros) {
        headers.insert(header::SET_COOKIE, value);
    }
    (StatusCode::CREATED, headers, Json(view(&session.signed_in, session.csrf_token)))
}

fn view(signed_in: &keyward_engine::SignedIn, csrf_token: String) -> SessionView {
    let grant = signed_in.grant;
    SessionView {
        session_id: signed_in.session_id.clone(),
        user_id: signed_in.user_id.clone(),
        email: signed_in.email.clone(),
        organization_id: signed_in.org_id.clone(),
        role: grant.role.as_str().into(),
        scopes: grant.role.scopes(grant.operator).iter().map(|s| (*s).to_owned()).collect(),
        csrf_token,
        expires_at: signed_in.expires_at,
    }
}

/// Sign up and found an organization you own, when the operator enabled
/// open sign-up (`open_signup = true`); otherwise 403 `signup_closed`.
#[utoipa::path(post, path = "/v1/signup", tag = "accounts", request_body = SignUp,
    responses((status = 201, body = SessionView), (status = 400, body = Problem), (status = 403, body = Problem),
              (status = 409, body = Problem)))]
pub async fn sign_up(
    State(state): State<AppState>,
    Context(context): Context,
    ApiJson(body): ApiJson<SignUp>,
) -> Result<(StatusCode, HeaderMap, Json<SessionView>), ApiError> {
    let session = state.engine.sign_up(&body.email, &body.password, &body.organization_name, &context).await?;
    Ok(started(session, state.now_micros()))
}

/// Sign in. Sets the session cookie; failed attempts are throttled per
/// account and per address (429 with `Retry-After`).
#[utoipa::path(post, path = "/v1/sessions", tag = "accounts", request_body = SignIn,
    responses((status = 201, body = SessionView), (status = 400, body = Problem), (status = 401, body = Problem),
              (status = 403, body = Problem), (status = 429, body = Problem)))]
pub async fn sign_in(
    State(state): State<AppState>,
    Context(context): Context,
    ApiJson(body): ApiJson<SignIn>,
) -> Result<(StatusCode, HeaderMap, Json<SessionView>), ApiError> {
    let session = state.engine.sign_in(&body.email, &body.password, body.organization_id.as_deref(), &context).await?;
    Ok(started(session, state.now_micros()))
}

/// The signed-in session (cookie only), with a fresh copy of its CSRF token.
#[utoipa::path(get, path = "/v1/sessions/current", tag = "accounts",
    responses((status = 200, body = SessionView), (status = 401, body = Problem), (status = 404, body = Problem)))]
pub async fn current_session(Caller(actor): Caller, headers: HeaderMap) -> Result<Json<SessionView>, ApiError> {
    let (Some(signed_in), Some(secret)) = (actor.principal.signed_in(), session_cookie(&headers)) else {
        return Err(ApiError::of(
            Code::NoSession,
            "This call answers for a signed-in session; bearer tokens have none.",
        ));
    };
    Ok(Json(view(signed_in, keyward_engine::csrf_token(&secret))))
}

/// Type the password again (cookie sessions only): opens a 10-minute
/// window in which the session may mint management credentials (issue or
/// rotate a management token), which otherwise answer 403 `sudo_required`.
/// Audited as `session.sudo_granted` or `session.sudo_failed`; failures
/// are throttled like sign-ins.
#[utoipa::path(post, path = "/v1/sessions/current/confirm-password", tag = "accounts", request_body = ConfirmPassword,
    responses((status = 204), (status = 400, body = Problem), (status = 401, body = Problem),
              (status = 403, body = Problem), (status = 429, body = Problem)))]
pub async fn confirm_password(
    State(state): State<AppState>,
    Caller(actor): Caller,
    ApiJson(body): ApiJson<ConfirmPassword>,
) -> Result<StatusCode, ApiError> {
    if actor.principal.signed_in().is_none() {
        return Err(ApiError::of(
            Code::NoSession,
            "This call answers for a signed-in session; bearer tokens have none.",
        ));
    }
    state.engine.confirm_password(&actor, &body.password).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Sign out: ends the session and clears the cookie.
#[utoipa::path(delete, path = "/v1/sessions/current", tag = "accounts",
    responses((status = 204), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn sign_out(
    State(state): State<AppState>,
    Caller(actor): Caller,
    headers: HeaderMap,
) -> Result<(StatusCode, HeaderMap), ApiError> {
    if let Some(secret) = session_cookie(&headers) {
        state.engine.sign_out(&secret, &actor.context).await?;
    }
    let mut out = HeaderMap::new();
    out.insert(header::SET_COOKIE, CLEARED_SESSION_COOKIE);
    Ok((StatusCode::NO_CONTENT, out))
}

/// Change your password (session only: give the current one). Your other
/// sessions end; this one stays. Audited as `account.password_changed`.
#[utoipa::path(put, path = "/v1/sessions/current/password", tag = "accounts", request_body = ChangePassword,
    responses((status = 204), (status = 400, body = Problem), (status = 401, body = Problem),
              (status = 403, body = Problem), (status = 409, body = Problem), (status = 429, body = Problem)))]
pub async fn change_password(
    State(state): State<AppState>,
    Caller(actor): Caller,
    ApiJson(body): ApiJson<ChangePassword>,
) -> Result<StatusCode, ApiError> {
    state.engine.change_password(&actor, &body.current_password, &body.new_password, &actor.context).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Invite someone by email, with a role no higher than your own. The
/// response shows the single-use secret once. Needs `keyward:members:write`.
#[utoipa::path(post, path = "/v1/invitations", tag = "accounts", request_body = InviteMember,
    security(("bearer" = ["keyward:members:write"])),
    responses((status = 201, body = CreatedInvitationView), (status = 400, body = Problem), (status = 403, body = Problem),
              (status = 409, body = Problem)))]
pub async fn invite(
    State(state): State<AppState>,
    Caller(actor): Caller,
    ApiJson(body): ApiJson<InviteMember>,
) -> Result<(StatusCode, HeaderMap, Json<CreatedInvitationView>), ApiError> {
    let role = parse_role(&body.role)?;
    let created = state.engine.invite(&actor, &body.email, role, body.expires_in).await?;
    let headers = shown_once_headers(None);
    let body = CreatedInvitationView {
        token: crate::dto::ShownOnce::new(&created.secret),
        invitation: created.invitation.into_view(),
    };
    Ok((StatusCode::CREATED, headers, Json(body)))
}

/// Pending invitations. Needs `keyward:members:read`.
#[utoipa::path(get, path = "/v1/invitations", tag = "accounts", security(("bearer" = ["keyward:members:read"])),
    responses((status = 200, body = List<InvitationView>), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn list_invitations(
    State(state): State<AppState>,
    Caller(actor): Caller,
) -> Result<Json<List<InvitationView>>, ApiError> {
    let invitations = state.engine.list_invitations(&actor).await?;
    Ok(Json(List { data: invitations.into_iter().map(IntoView::into_view).collect() }))
}

/// Withdraw a pending invitation. Needs `keyward:members:write`.
#[utoipa::path(delete, path = "/v1/invitations/{id}", tag = "accounts", params(("id" = String, Path)),
    security(("bearer" = ["keyward:members:write"])),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn revoke_invitation(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id: InvitationId = path_id(&id, || actor.require(management::MEMBERS_WRITE))?;
    state.engine.revoke_invitation(&actor, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Accept an invitation: creates the account (or checks the existing
/// account's password), joins the organization and signs in.
#[utoipa::path(post, path = "/v1/invitations/accept", tag = "accounts", request_body = AcceptInvitation,
    responses((status = 201, body = SessionView), (status = 400, body = Problem), (status = 401, body = Problem),
              (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn accept_invitation(
    State(state): State<AppState>,
    Context(context): Context,
    ApiJson(body): ApiJson<AcceptInvitation>,
) -> Result<(StatusCode, HeaderMap, Json<SessionView>), ApiError> {
    let session = state.engine.accept_invitation(&body.token, &body.password, &context).await?;
    Ok(started(session, state.now_micros()))
}

/// Members and their roles. Needs `keyward:members:read`.
#[utoipa::path(get, path = "/v1/members", tag = "accounts", security(("bearer" = ["keyward:members:read"])),
    responses((status = 200, body = List<MemberView>), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn list_members(
    State(state): State<AppState>,
    Caller(actor): Caller,
) -> Result<Json<List<MemberView>>, ApiError> {
    let members = state.engine.list_members(&actor).await?;
    Ok(Json(List { data: members.into_iter().map(IntoView::into_view).collect() }))
}

/// Change a member's role (never above your own; the last owner stays).
/// Needs `keyward:members:write`.
#[utoipa::path(patch, path = "/v1/members/{user_id}", tag = "accounts", params(("user_id" = String, Path)),
    request_body = ChangeRole, security(("bearer" = ["keyward:members:write"])),
    responses((status = 200, body = MemberView), (status = 400, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn change_role(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(user_id): Path<String>,
    ApiJson(body): ApiJson<ChangeRole>,
) -> Result<Json<MemberView>, ApiError> {
    let role = parse_role(&body.role)?;
    let user_id: UserId = path_id(&user_id, || actor.require(management::MEMBERS_WRITE))?;
    Ok(Json(state.engine.set_member_role(&actor, &user_id, role).await?.into_view()))
}

/// Remove a member: ends their sessions and revokes every token they own
/// here (audited with reason `member_removed`). Needs `keyward:members:write`.
#[utoipa::path(delete, path = "/v1/members/{user_id}", tag = "accounts", params(("user_id" = String, Path)),
    security(("bearer" = ["keyward:members:write"])),
    responses((status = 200, body = Removal), (status = 403, body = Problem), (status = 404, body = Problem),
              (status = 409, body = Problem)))]
pub async fn remove_member(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(user_id): Path<String>,
) -> Result<Json<Removal>, ApiError> {
    let user_id: UserId = path_id(&user_id, || actor.require(management::MEMBERS_WRITE))?;
    let revoked = state.engine.remove_member(&actor, &user_id).await?;
    Ok(Json(Removal { revoked_tokens: revoked.into_iter().map(|token| token.id).collect() }))
}

/// Create a service account. Needs `keyward:members:write`.
#[utoipa::path(post, path = "/v1/service-accounts", tag = "accounts", request_body = CreateServiceAccount,
    security(("bearer" = ["keyward:members:write"])),
    responses((status = 201, body = ServiceAccountView), (status = 400, body = Problem), (status = 403, body = Problem),
              (status = 409, body = Problem)))]
pub async fn create_service_account(
    State(state): State<AppState>,
    Caller(actor): Caller,
    ApiJson(body): ApiJson<CreateServiceAccount>,
) -> Result<(StatusCode, Json<ServiceAccountView>), ApiError> {
    let account = state.engine.create_service_account(&actor, &body.name).await?;
    Ok((StatusCode::CREATED, Json(account.into_view())))
}

/// Service accounts. Needs `keyward:members:read`.
#[utoipa::path(get, path = "/v1/service-accounts", tag = "accounts", security(("bearer" = ["keyward:members:read"])),
    responses((status = 200, body = List<ServiceAccountView>), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn list_service_accounts(
    State(state): State<AppState>,
    Caller(actor): Caller,
) -> Result<Json<List<ServiceAccountView>>, ApiError> {
    let accounts = state.engine.list_service_accounts(&actor).await?;
    Ok(Json(List { data: accounts.into_iter().map(IntoView::into_view).collect() }))
}

/// Remove a service account and revoke its tokens. Needs `keyward:members:write`.
#[utoipa::path(delete, path = "/v1/service-accounts/{id}", tag = "accounts", params(("id" = String, Path)),
    security(("bearer" = ["keyward:members:write"])),
    responses((status = 200, body = Removal), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn remove_service_account(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
) -> Result<Json<Removal>, ApiError> {
    let id: ServiceAccountId = path_id(&id, || actor.require(management::MEMBERS_WRITE))?;
    let revoked = state.engine.remove_service_account(&actor, &id).await?;
    Ok(Json(Removal { revoked_tokens: revoked.into_iter().map(|token| token.id).collect() }))
}
