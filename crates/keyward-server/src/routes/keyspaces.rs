//! `/v1/keyspaces`

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use keyward_engine::NewKeyspace;

use crate::dto::{CreateKeyspace, KeyspaceView, Page, PageQuery};
use crate::error::{ApiError, Problem};
use crate::extract::{ApiJson, ApiQuery, Caller};
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
        allowed_scopes: body.allowed_scopes,
    };
    let keyspace = state.engine.create_keyspace(&actor, input).await?;
    Ok((StatusCode::CREATED, Json(keyspace.into())))
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
    Ok(Json(Page::from_store(page, Into::into)))
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
    Ok(Json(state.engine.get_keyspace(&actor, &id).await?.into()))
}
