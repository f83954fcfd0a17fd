//! `/healthz` (the process answers) and `/readyz` (the store answers too).

use axum::extract::State;
use axum::Json;

use crate::dto::Health;
use crate::error::{ApiError, Problem};
use crate::AppState;

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "health", responses((status = 200, body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health { status: "ok".into() })
}

/// The store is reachable.
#[utoipa::path(get, path = "/readyz", tag = "health", responses((status = 200, body = Health), (status = 503, body = Problem)))]
pub async fn readyz(State(state): State<AppState>) -> Result<Json<Health>, ApiError> {
    state.engine.store().ping().await.map_err(|error| ApiError::store_unavailable(&error))?;
    Ok(Json(Health { status: "ready".into() }))
}
