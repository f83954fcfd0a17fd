//! `/v1/tokens`

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use keyward_core::id::TokenId;
use keyward_core::model::{RevokedReason, TokenState};
use keyward_core::scope::management;
use keyward_engine::{prechecks, BulkRevoke, NewToken, RotationRequest, TokenChanges};
use keyward_store::{TokenFilter, TokenOrder};

use crate::dto::{
    AutoRotateRequest, BulkRevokeRequest, BulkRevokeResponse, CreateToken, CreatedToken, FromStore, IntoView, Page,
    RevokeToken, RevokedToken, RotateToken, RotatedToken, SetGrace, TokenClients, TokenQuery, TokenView, TokenViews,
    UpdateToken,
};
use crate::error::{ApiError, Problem};
use crate::extract::{path_id, ApiJson, ApiQuery, Caller, OptionalApiJson};
use crate::routes::{page_request, shown_once_headers};
use crate::AppState;

/// Issue a token. The response is the only time its secret is shown.
/// Needs `keyward:tokens:write`; a management token can only grant
/// management scopes it holds itself. With an `Idempotency-Key`, a retry
/// makes nothing and answers 409 `already_created` with the `token_id`
/// the first request made (its secret is not kept: rotate it if that
/// answer was lost); the same key for a different token is 409
/// `idempotency_key_reused`.
#[utoipa::path(post, path = "/v1/tokens", tag = "tokens", request_body = CreateToken,
    params(("Idempotency-Key" = Option<String>, Header,
            description = "1 to 255 visible ASCII characters (a UUID): a retry with it creates nothing")),
    security(("bearer" = ["keyward:tokens:write"])),
    responses((status = 201, body = CreatedToken), (status = 400, body = Problem), (status = 401, body = Problem),
              (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem),
              (status = 413, body = Problem)))]
pub async fn create_token(
    State(state): State<AppState>,
    Caller(actor): Caller,
    request_headers: HeaderMap,
    ApiJson(body): ApiJson<CreateToken>,
) -> Result<(StatusCode, HeaderMap, Json<CreatedToken>), ApiError> {
    let input = NewToken {
        keyspace_id: body.keyspace_id,
        name: body.name,
        scopes: body.scopes,
        owner: body.owner,
        expires_in: body.expires_in,
        expires_at: body.expires_at,
        metadata: body.metadata,
        allowed_ips: body.allowed_ips,
        rotation_period_days: body.rotation_period_days,
        auto_rotate: body.auto_rotate.map(AutoRotateRequest::into_auto_rotate).transpose()?,
        idempotency_key: idempotency_key(&request_headers)?,
    };
    let issued = state.engine.issue_token(&actor, input).await?;
    let headers = shown_once_headers(Some(&format!("/v1/tokens/{}", issued.record.id)));
    let view = TokenView::new(issued.record, state.now_micros());
    let inherited_from_parent = issued.inherited_from_parent.iter().map(|field| (*field).to_owned()).collect();
    Ok((
        StatusCode::CREATED,
        headers,
        Json(CreatedToken { token: crate::dto::ShownOnce::new(&issued.secret), view, inherited_from_parent }),
    ))
}

/// A `keyspace_id` filter, which must be a keyspace id: a name there
/// would match nothing and answer an empty list as if that were the truth.
fn keyspace_id_param(given: String) -> Result<String, ApiError> {
    if keyward_core::id::looks_like(keyward_core::id::IdKind::Keyspace, &given) {
        return Ok(given);
    }
    Err(ApiError::invalid_field(
        "keyspace_id",
        "must be a keyspace id (ks_ and 22 characters); GET /v1/keyspaces lists them with their names",
    ))
}

/// The `Idempotency-Key` header, when sent; the engine judges its form.
fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    match headers.get("idempotency-key") {
        None => Ok(None),
        Some(value) => value.to_str().map(|key| Some(key.to_owned())).map_err(|_| {
            ApiError::invalid_field("idempotency_key", "the Idempotency-Key header must be visible ASCII characters")
        }),
    }
}

/// List tokens, newest first or in the order asked, with filters. Needs `keyward:tokens:read`.
#[utoipa::path(get, path = "/v1/tokens", tag = "tokens", params(TokenQuery),
    security(("bearer" = ["keyward:tokens:read"])),
    responses((status = 200, body = Page<TokenView>), (status = 400, body = Problem), (status = 401, body = Problem)))]
pub async fn list_tokens(
    State(state): State<AppState>,
    Caller(actor): Caller,
    ApiQuery(query): ApiQuery<TokenQuery>,
) -> Result<Json<Page<TokenView>>, ApiError> {
    let token_state = query
        .state
        .as_deref()
        .map(|text| {
            text.parse::<TokenState>()
                .map_err(|()| ApiError::invalid_field("state", "Use one of: active, expired, disabled, revoked."))
        })
        .transpose()?;
    let order = match query.order.as_deref() {
        None | Some("") => TokenOrder::default(),
        Some(text) => TokenOrder::parse(text).ok_or_else(|| {
            ApiError::invalid_field(
                "order",
                "Use created, expires, last_used or name, with `-` in front for largest first (e.g. -created).",
            )
        })?,
    };
    let page = page_request(query.limit, query.cursor.as_deref())?;
    if page.after.as_ref().is_some_and(|cursor| !order.fits(cursor)) {
        return Err(ApiError::invalid_field("cursor", "This cursor belongs to a list in another order."));
    }
    let filter = TokenFilter {
        order,
        keyspace_id: query.keyspace_id.map(keyspace_id_param).transpose()?,
        owner: query.owner,
        state: token_state,
        name_contains: query.name.filter(|name| !name.is_empty()),
        scope: query.scope.filter(|scope| !scope.is_empty()),
        ..TokenFilter::default()
    };
    let page = state.engine.list_tokens(&actor, filter, &page).await?;
    let policy = state.engine.token_policy(&actor).await?;
    let periods = state.engine.rotation_periods(&actor, &policy).await?;
    let now = state.now_micros();
    Ok(Json(Page::from_store(page, |token| TokenView::flagged(token, now, &policy, &periods))))
}

/// Show one token (never its secret). Needs `keyward:tokens:read`.
#[utoipa::path(get, path = "/v1/tokens/{id}", tag = "tokens", params(("id" = String, Path)),
    security(("bearer" = ["keyward:tokens:read"])),
    responses((status = 200, body = TokenView), (status = 401, body = Problem), (status = 404, body = Problem)))]
pub async fn get_token(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
) -> Result<Json<TokenView>, ApiError> {
    let id: TokenId = path_id(&id, || actor.require(management::TOKENS_READ))?;
    let record = state.engine.get_token(&actor, &id).await?;
    let policy = state.engine.token_policy(&actor).await?;
    let periods = state.engine.rotation_periods(&actor, &policy).await?;
    Ok(Json(TokenView::flagged(record, state.now_micros(), &policy, &periods)))
}

/// Rename a token, or replace its metadata, scopes or IP allowlist. Scopes
/// that grant more than before need `confirm_broader_scopes: true`; the
/// audit event records the scopes before and after. Needs `keyward:tokens:write`.
#[utoipa::path(patch, path = "/v1/tokens/{id}", tag = "tokens", params(("id" = String, Path)), request_body = UpdateToken,
    security(("bearer" = ["keyward:tokens:write"])),
    responses((status = 200, body = TokenView), (status = 400, body = Problem), (status = 401, body = Problem), (status = 404, body = Problem)))]
pub async fn update_token(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UpdateToken>,
) -> Result<Json<TokenView>, ApiError> {
    let changes = TokenChanges {
        name: body.name,
        metadata: body.metadata,
        scopes: body.scopes,
        confirm_broader_scopes: body.confirm_broader_scopes,
        allowed_ips: body.allowed_ips,
        rotation_period_days: body.rotation_period_days,
        auto_rotate: body
            .auto_rotate
            .map(|auto| auto.map(AutoRotateRequest::into_auto_rotate).transpose())
            .transpose()?,
    };
    let id: TokenId = path_id(&id, || prechecks::token_changes(&actor, &changes).map(drop))?;
    let record = state.engine.update_token(&actor, &id, changes).await?;
    let policy = state.engine.token_policy(&actor).await?;
    let periods = state.engine.rotation_periods(&actor, &policy).await?;
    Ok(Json(TokenView::flagged(record, state.now_micros(), &policy, &periods)))
}

/// Revoke a token, effective immediately here and, with PostgreSQL, on
/// every instance. Idempotent: revoking a revoked token succeeds and keeps
/// the first revocation's time and reason. The body (`{"reason": ...}`) may
/// be left out. For a management token, `"with_descendants": true` also
/// revokes every management token made under it, transitively (a leaked
/// token takes what it planted with it), in one transaction with one
/// `token.revoked` event each; customer tokens they made stay unless
/// `"customer_tokens": true`. Needs `keyward:tokens:write`.
#[utoipa::path(post, path = "/v1/tokens/{id}/revoke", tag = "tokens", params(("id" = String, Path)),
    request_body(content = Option<RevokeToken>),
    security(("bearer" = ["keyward:tokens:write"])),
    responses((status = 200, body = RevokedToken), (status = 400, body = Problem), (status = 401, body = Problem), (status = 404, body = Problem)))]
pub async fn revoke_token(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
    OptionalApiJson(body): OptionalApiJson<RevokeToken>,
) -> Result<Json<RevokedToken>, ApiError> {
    let reason = revoked_reason(body.reason.as_deref())?.unwrap_or(RevokedReason::UserAction);
    let now = state.now_micros();
    if body.with_descendants {
        let id: TokenId = path_id(&id, || prechecks::revocation(&actor, reason))?;
        let revoked = state.engine.revoke_token_with_descendants(&actor, &id, reason, body.customer_tokens).await?;
        let descendants = revoked.descendants.into_iter().map(|record| TokenView::new(record, now)).collect();
        return Ok(Json(RevokedToken {
            view: TokenView::new(revoked.token, now),
            descendants_revoked: Some(descendants),
        }));
    }
    if body.customer_tokens {
        return Err(ApiError::invalid_field("customer_tokens", "Only meaningful with `with_descendants: true`."));
    }
    let id: TokenId = path_id(&id, || prechecks::revocation(&actor, reason))?;
    let record = state.engine.revoke_token(&actor, &id, reason).await?;
    Ok(Json(RevokedToken { view: TokenView::new(record, now), descendants_revoked: None }))
}

/// Disable a token: it answers `DISABLED` at once (here and, with
/// PostgreSQL, on every instance) until it is enabled again. Idempotent.
/// A revoked token cannot be disabled (409 `token_revoked`). Needs `keyward:tokens:write`.
#[utoipa::path(post, path = "/v1/tokens/{id}/disable", tag = "tokens", params(("id" = String, Path)),
    security(("bearer" = ["keyward:tokens:write"])),
    responses((status = 200, body = TokenView), (status = 401, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn disable_token(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
) -> Result<Json<TokenView>, ApiError> {
    let id: TokenId = path_id(&id, || actor.require(management::TOKENS_WRITE))?;
    let record = state.engine.disable_token(&actor, &id).await?;
    Ok(Json(TokenView::new(record, state.now_micros())))
}

/// Enable a disabled token again: it verifies at once, unless it expired
/// meanwhile. Idempotent. A revoked token stays revoked (409
/// `token_revoked`). Needs `keyward:tokens:write`.
#[utoipa::path(post, path = "/v1/tokens/{id}/enable", tag = "tokens", params(("id" = String, Path)),
    security(("bearer" = ["keyward:tokens:write"])),
    responses((status = 200, body = TokenView), (status = 401, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn enable_token(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
) -> Result<Json<TokenView>, ApiError> {
    let id: TokenId = path_id(&id, || actor.require(management::TOKENS_WRITE))?;
    let record = state.engine.enable_token(&actor, &id).await?;
    Ok(Json(TokenView::new(record, state.now_micros())))
}

/// Delete a token for good: it stops verifying at once and its record is
/// gone (it is no longer listed, and its id answers 404); its audit trail
/// stays, with a `token.deleted` event that keeps its name and mask. Use
/// revoke to keep the record. Needs `keyward:tokens:write`.
#[utoipa::path(delete, path = "/v1/tokens/{id}", tag = "tokens", params(("id" = String, Path)),
    security(("bearer" = ["keyward:tokens:write"])),
    responses((status = 204), (status = 401, body = Problem), (status = 404, body = Problem)))]
pub async fn delete_token(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id: TokenId = path_id(&id, || actor.require(management::TOKENS_WRITE))?;
    state.engine.delete_token(&actor, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Rotate a token: issue its replacement (same name, scopes, owner,
/// metadata and allowlist; the secret shown once) and keep the old token
/// verifying for `grace_period` seconds, so running clients can switch
/// without downtime. After the grace the old token answers `EXPIRED` with
/// `expired_reason: ROTATION_GRACE_ENDED`; a grace period of 0 revokes it at
/// once (reason `rotation`). Revoked, expired and already rotated tokens
/// answer 409. Needs `keyward:tokens:write`.
#[utoipa::path(post, path = "/v1/tokens/{id}/rotate", tag = "tokens", params(("id" = String, Path)), request_body = RotateToken,
    security(("bearer" = ["keyward:tokens:write"])),
    responses((status = 201, body = RotatedToken), (status = 400, body = Problem), (status = 401, body = Problem),
              (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn rotate_token(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<RotateToken>,
) -> Result<(StatusCode, HeaderMap, Json<RotatedToken>), ApiError> {
    let request = RotationRequest { grace_period_seconds: body.grace_period, expires_in: body.expires_in };
    let id: TokenId = path_id(&id, || prechecks::rotation(&actor, &request))?;
    let rotated = state.engine.rotate_token(&actor, &id, request).await?;
    let headers = shown_once_headers(Some(&format!("/v1/tokens/{}", rotated.issued.record.id)));
    let now = state.now_micros();
    let body = RotatedToken {
        token: crate::dto::ShownOnce::new(&rotated.issued.secret),
        view: TokenView::new(rotated.issued.record, now),
        old_token: TokenView::new(rotated.old, now),
    };
    Ok((StatusCode::CREATED, headers, Json(body)))
}

/// Move the end of a rotated token's grace period: later, to give slow
/// clients time (never past the token's own expiry, at most the policy's
/// maximum from now), or `ends_in: 0` to end it now once nothing uses it.
/// 409 when the token is not in a grace period. Needs `keyward:tokens:write`.
#[utoipa::path(post, path = "/v1/tokens/{id}/grace", tag = "tokens", params(("id" = String, Path)), request_body = SetGrace,
    security(("bearer" = ["keyward:tokens:write"])),
    responses((status = 200, body = TokenView), (status = 400, body = Problem), (status = 401, body = Problem),
              (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn set_grace(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<SetGrace>,
) -> Result<Json<TokenView>, ApiError> {
    let id: TokenId = path_id(&id, || actor.require(management::TOKENS_WRITE))?;
    let record = state.engine.set_rotation_grace(&actor, &id, body.ends_in).await?;
    Ok(Json(TokenView::new(record, state.now_micros())))
}

/// Clients seen using a token during its rotation grace period: address,
/// user agent (as passed to verify), uses, first and last seen, most recent
/// first; updated about once a second. Needs `keyward:tokens:read`.
#[utoipa::path(get, path = "/v1/tokens/{id}/clients", tag = "tokens", params(("id" = String, Path)),
    security(("bearer" = ["keyward:tokens:read"])),
    responses((status = 200, body = TokenClients), (status = 401, body = Problem), (status = 404, body = Problem)))]
pub async fn token_clients(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
) -> Result<Json<TokenClients>, ApiError> {
    let id: TokenId = path_id(&id, || actor.require(management::TOKENS_READ))?;
    let clients = state.engine.token_clients(&actor, &id).await?;
    Ok(Json(TokenClients { data: clients.into_iter().map(IntoView::into_view).collect() }))
}

/// A revocation reason as given by a caller.
fn revoked_reason(text: Option<&str>) -> Result<Option<RevokedReason>, ApiError> {
    text.map(|text| {
        text.parse().map_err(|()| {
            ApiError::invalid_field("reason", "Use one of: user_action, policy, leaked, suspicious_activity.")
        })
    })
    .transpose()
}

/// Revoke every active token of an owner, a keyspace or a name prefix (all
/// filters given must match) in one audited call: one `token.bulk_revoked`
/// event and one `token.revoked` per token. Count first with
/// `"dry_run": true`, then pass the count as `expected_count` so nothing is
/// revoked if it changed meanwhile (409 `count_changed`). The calling token
/// is never included; developers revoke only their own tokens. Needs
/// `keyward:tokens:write`.
#[utoipa::path(post, path = "/v1/tokens/bulk-revoke", tag = "tokens", request_body = BulkRevokeRequest,
    security(("bearer" = ["keyward:tokens:write"])),
    responses((status = 200, body = BulkRevokeResponse), (status = 400, body = Problem), (status = 401, body = Problem),
              (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn bulk_revoke(
    State(state): State<AppState>,
    Caller(actor): Caller,
    ApiJson(body): ApiJson<BulkRevokeRequest>,
) -> Result<Json<BulkRevokeResponse>, ApiError> {
    let request = BulkRevoke {
        owner: body.owner,
        keyspace_id: body.keyspace_id.map(keyspace_id_param).transpose()?,
        name_prefix: body.name_prefix,
        scope: body.scope,
        ids: body.ids,
        reason: revoked_reason(body.reason.as_deref())?,
        dry_run: body.dry_run,
        expected_count: body.expected_count,
    };
    let outcome = state.engine.bulk_revoke(&actor, request).await?;
    let now = state.now_micros();
    Ok(Json(BulkRevokeResponse {
        dry_run: body.dry_run,
        matched: outcome.matched,
        revoked: outcome.revoked.into_iter().map(|record| TokenView::new(record, now)).collect(),
    }))
}
