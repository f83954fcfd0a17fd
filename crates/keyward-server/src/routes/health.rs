//! `/healthz` (the process answers) and `/readyz` (the store reads and
//! commits writes; see [`crate::readiness`]).

use crate::codes::Code;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;

use crate::dto::Health;
use crate::error::{ApiError, Problem};
use crate::AppState;

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "health", responses((status = 200, body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health { status: "ok".into(), warnings: Vec::new() })
}

/// The store answers reads and commits writes, each within its budget, and
/// a TLS certificate presented has not expired (`warnings` says when it
/// expires within two weeks).
#[utoipa::path(get, path = "/readyz", tag = "health", responses((status = 200, body = Health), (status = 503, body = Problem)))]
pub async fn readyz(State(state): State<AppState>) -> Result<Json<Health>, ApiError> {
    match state.readiness.check(&state.engine).await {
        Ok(warnings) => Ok(Json(Health { status: "ready".into(), warnings })),
        // The readiness tracker has logged the cause once for the episode.
        Err(not_ready) => {
            let detail = format!("Not ready: {}. The server log says why.", not_ready.detail);
            let problem = match Code::named(not_ready.code, StatusCode::SERVICE_UNAVAILABLE) {
                Some(code) => ApiError::of(code, detail),
                None => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, not_ready.code, "Not ready", detail),
            };
            Err(problem.retry_after(5))
        }
    }
}
