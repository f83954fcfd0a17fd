//! `/v1/audit`

use axum::extract::State;
use axum::Json;
use keyward_store::AuditFilter;

use crate::dto::{AuditEventView, AuditQuery, FromStore, IntoView, Page};
use crate::error::{ApiError, Problem};
use crate::extract::{ApiQuery, Caller};
use crate::routes::page_request;
use crate::AppState;

/// List audit events, newest first. Needs `keyward:audit:read`.
#[utoipa::path(get, path = "/v1/audit", tag = "audit", params(AuditQuery),
    security(("bearer" = ["keyward:audit:read"])),
    responses((status = 200, body = Page<AuditEventView>), (status = 400, body = Problem), (status = 401, body = Problem)))]
pub async fn list_audit(
    State(state): State<AppState>,
    Caller(actor): Caller,
    ApiQuery(query): ApiQuery<AuditQuery>,
) -> Result<Json<Page<AuditEventView>>, ApiError> {
    let filter = AuditFilter {
        actor: query.actor,
        action: query.action,
        target_id: query.target_id,
        since: query.since,
        until: query.until,
    };
    let page = state.engine.list_audit(&actor, &filter, &page_request(query.limit, query.cursor.as_deref())?).await?;
    Ok(Json(Page::from_store(page, IntoView::into_view)))
}
