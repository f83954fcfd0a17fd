//! `/v1/webhooks`: the endpoints that receive lifecycle events, and their delivery logs.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use keyward_core::id::WebhookId;
use keyward_core::scope::management;
use keyward_engine::{prechecks, NewWebhook};

use crate::dto::{
    CreateWebhook, CreatedWebhookView, DeliveryView, FromStore, IntoView, Page, PageQuery, RotateWebhookSecret,
    RotatedWebhookSecret, WebhookList, WebhookView,
};
use crate::error::{ApiError, Problem};
use crate::extract::{path_id, ApiJson, ApiQuery, Caller, OptionalApiJson};
use crate::routes::{page_request, shown_once_headers};
use crate::AppState;

/// Register an endpoint for lifecycle events. The response is the only
/// time its signing secret is shown. 409 `master_key_missing` when the
/// deployment has no master key. Needs `keyward:webhooks:write`.
#[utoipa::path(post, path = "/v1/webhooks", tag = "webhooks", request_body = CreateWebhook,
    security(("bearer" = ["keyward:webhooks:write"])),
    responses((status = 201, body = CreatedWebhookView), (status = 400, body = Problem), (status = 401, body = Problem),
              (status = 403, body = Problem), (status = 409, body = Problem)))]
pub async fn create_webhook(
    State(state): State<AppState>,
    Caller(actor): Caller,
    ApiJson(body): ApiJson<CreateWebhook>,
) -> Result<(StatusCode, HeaderMap, Json<CreatedWebhookView>), ApiError> {
    let input = NewWebhook { url: body.url, description: body.description, event_types: body.event_types };
    let created = state.engine.create_webhook(&actor, input).await?;
    let headers = shown_once_headers(Some(&format!("/v1/webhooks/{}", created.endpoint.id)));
    let view = CreatedWebhookView {
        secret: crate::dto::ShownOnce::new(&created.secret),
        endpoint: created.endpoint.into_view(),
    };
    Ok((StatusCode::CREATED, headers, Json(view)))
}

/// The organization's webhook endpoints. Needs `keyward:webhooks:read`.
#[utoipa::path(get, path = "/v1/webhooks", tag = "webhooks", security(("bearer" = ["keyward:webhooks:read"])),
    responses((status = 200, body = WebhookList), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn list_webhooks(
    State(state): State<AppState>,
    Caller(actor): Caller,
) -> Result<Json<WebhookList>, ApiError> {
    let endpoints = state.engine.list_webhooks(&actor).await?;
    Ok(Json(WebhookList { data: endpoints.into_iter().map(IntoView::into_view).collect() }))
}

/// One webhook endpoint. Needs `keyward:webhooks:read`.
#[utoipa::path(get, path = "/v1/webhooks/{id}", tag = "webhooks", params(("id" = String, Path)),
    security(("bearer" = ["keyward:webhooks:read"])),
    responses((status = 200, body = WebhookView), (status = 401, body = Problem), (status = 404, body = Problem)))]
pub async fn get_webhook(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
) -> Result<Json<WebhookView>, ApiError> {
    let id: WebhookId = path_id(&id, || actor.require(management::WEBHOOKS_READ))?;
    Ok(Json(state.engine.get_webhook(&actor, &id).await?.into_view()))
}

/// Replace the endpoint's signing secret; the response is the only time
/// the new one is shown. For the overlap (default a day) each delivery is
/// signed under both secrets, so the receiver can switch to the new one
/// without rejecting an event. Needs `keyward:webhooks:write`.
#[utoipa::path(post, path = "/v1/webhooks/{id}/rotate-secret", tag = "webhooks", params(("id" = String, Path)),
    request_body = RotateWebhookSecret, security(("bearer" = ["keyward:webhooks:write"])),
    responses((status = 200, body = RotatedWebhookSecret), (status = 400, body = Problem), (status = 401, body = Problem),
              (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn rotate_webhook_secret(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
    OptionalApiJson(body): OptionalApiJson<RotateWebhookSecret>,
) -> Result<(HeaderMap, Json<RotatedWebhookSecret>), ApiError> {
    let overlap = body.overlap.unwrap_or(keyward_engine::DEFAULT_SECRET_OVERLAP_SECONDS);
    let id: WebhookId = path_id(&id, || prechecks::webhook_secret_rotation(&actor, overlap))?;
    let rotated = state.engine.rotate_webhook_secret(&actor, &id, overlap).await?;
    let view = RotatedWebhookSecret {
        secret: crate::dto::ShownOnce::new(&rotated.secret),
        previous_secret_signs_until: rotated.previous_secret_signs_until,
        endpoint: rotated.endpoint.into_view(),
    };
    Ok((shown_once_headers(None), Json(view)))
}

/// Remove an endpoint; deliveries still queued for it are dropped. Needs `keyward:webhooks:write`.
#[utoipa::path(delete, path = "/v1/webhooks/{id}", tag = "webhooks", params(("id" = String, Path)),
    security(("bearer" = ["keyward:webhooks:write"])),
    responses((status = 204), (status = 401, body = Problem), (status = 404, body = Problem)))]
pub async fn delete_webhook(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id: WebhookId = path_id(&id, || actor.require(management::WEBHOOKS_WRITE))?;
    state.engine.delete_webhook(&actor, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The endpoint's delivery log, newest first: each event's status and
/// every attempt (time, HTTP status or error, duration). Needs `keyward:webhooks:read`.
#[utoipa::path(get, path = "/v1/webhooks/{id}/deliveries", tag = "webhooks", params(("id" = String, Path), PageQuery),
    security(("bearer" = ["keyward:webhooks:read"])),
    responses((status = 200, body = Page<DeliveryView>), (status = 400, body = Problem), (status = 401, body = Problem),
              (status = 404, body = Problem)))]
pub async fn list_deliveries(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<Page<DeliveryView>>, ApiError> {
    let page = page_request(query.limit, query.cursor.as_deref())?;
    let id: WebhookId = path_id(&id, || actor.require(management::WEBHOOKS_READ))?;
    let deliveries = state.engine.list_deliveries(&actor, &id, &page).await?;
    Ok(Json(Page::from_store(deliveries, IntoView::into_view)))
}
