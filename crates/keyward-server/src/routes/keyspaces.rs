//! `/v1/keyspaces`

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use keyward_core::id::KeyspaceId;
use keyward_core::scope::management;
use keyward_engine::{prechecks, NewKeyspace};

use crate::dto::{
    catalog_scope, CreateKeyspace, FromStore, IntoView, KeyspaceLifecycleRules, KeyspaceView, Page, PageQuery,
    ReplaceScopeCatalog,
};
use crate::error::{ApiError, Problem};
use crate::extract::{path_id, ApiJson, ApiQuery, Caller};
use crate::routes::page_request;
use crate::AppState;

/// Create a keyspace. Needs `keyward:keyspaces:write`.
#[utoipa::path(post, path = "/v1/keyspaces", tag = "keyspaces", request_body = CreateKeyspace,
    security(("bearer" = ["keyward:keyspaces:write"])),
    responses((status = 201, body = KeyspaceView), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn create_keyspace(
    State(state): State<AppState>,
    Caller(actor): Caller,
    ApiJson(body): ApiJson<CreateKeyspace>,
) -> Result<(StatusCode, Json<KeyspaceView>), ApiError> {
    let input = NewKeyspace {
        name: body.name,
        environment: body.environment,
        prefix: body.prefix,
        default_ttl_seconds: body.default_ttl_seconds,
        scope_catalog: body.scope_catalog.map(|catalog| catalog.into_iter().map(catalog_scope).collect()),
        rotation_period_days: body.rotation_period_days,
        disable_after_inactive_days: body.disable_after_inactive_days,
    };
    let keyspace = state.engine.create_keyspace(&actor, input).await?;
    Ok((StatusCode::CREATED, Json(keyspace.into_view())))
}

/// List keyspaces, newest first. Needs `keyward:keyspaces:read`.
#[utoipa::path(get, path = "/v1/keyspaces", tag = "keyspaces", params(PageQuery),
    security(("bearer" = ["keyward:keyspaces:read"])),
    responses((status = 200, body = Page<KeyspaceView>), (status = 400, body = Problem), (status = 401, body = Problem)))]
pub async fn list_keyspaces(
    State(state): State<AppState>,
    Caller(actor): Caller,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<Page<KeyspaceView>>, ApiError> {
    let page = state.engine.list_keyspaces(&actor, &page_request(query.limit, query.cursor.as_deref())?).await?;
    Ok(Json(Page::from_store(page, IntoView::into_view)))
}

/// Show one keyspace. Needs `keyward:keyspaces:read`.
#[utoipa::path(get, path = "/v1/keyspaces/{id}", tag = "keyspaces", params(("id" = String, Path)),
    security(("bearer" = ["keyward:keyspaces:read"])),
    responses((status = 200, body = KeyspaceView), (status = 401, body = Problem), (status = 404, body = Problem)))]
pub async fn get_keyspace(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
) -> Result<Json<KeyspaceView>, ApiError> {
    let id: KeyspaceId = path_id(&id, || actor.require(management::KEYSPACES_READ))?;
    Ok(Json(state.engine.get_keyspace(&actor, &id).await?.into_view()))
}

/// Replace a keyspace's scope catalog. New grants are checked against it at
/// once; tokens holding a scope that leaves it keep that scope. Audited with
/// the catalog before and after. Needs `keyward:keyspaces:write`.
#[utoipa::path(put, path = "/v1/keyspaces/{id}/scope-catalog", tag = "keyspaces", params(("id" = String, Path)),
    request_body = ReplaceScopeCatalog, security(("bearer" = ["keyward:keyspaces:write"])),
    responses((status = 200, body = KeyspaceView), (status = 400, body = Problem), (status = 401, body = Problem),
              (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn replace_scope_catalog(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ReplaceScopeCatalog>,
) -> Result<Json<KeyspaceView>, ApiError> {
    let catalog = body.scope_catalog.map(|catalog| catalog.into_iter().map(catalog_scope).collect());
    let id: KeyspaceId = path_id(&id, || prechecks::scope_catalog(&actor, catalog.as_deref()).map(drop))?;
    Ok(Json(state.engine.replace_scope_catalog(&actor, &id, catalog).await?.into_view()))
}

/// Replace a keyspace's own lifecycle rules: the rotation period of its
/// tokens without their own, and the inactivity after which they are
/// disabled. Each omitted or `null` falls back to the organization's policy.
/// Audited with the rules before and after. Needs `keyward:keyspaces:write`.
#[utoipa::path(put, path = "/v1/keyspaces/{id}/lifecycle", tag = "keyspaces", params(("id" = String, Path)),
    request_body = KeyspaceLifecycleRules, security(("bearer" = ["keyward:keyspaces:write"])),
    responses((status = 200, body = KeyspaceView), (status = 400, body = Problem), (status = 401, body = Problem),
              (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn set_keyspace_lifecycle(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<KeyspaceLifecycleRules>,
) -> Result<Json<KeyspaceView>, ApiError> {
    let (rotation, inactive) = (body.rotation_period_days, body.disable_after_inactive_days);
    let id: KeyspaceId = path_id(&id, || prechecks::keyspace_lifecycle(&actor, rotation, inactive).map(drop))?;
    let keyspace = state
        .engine
        .set_keyspace_lifecycle(&actor, &id, body.rotation_period_days, body.disable_after_inactive_days)
        .await?;
    Ok(Json(keyspace.into_view()))
}
