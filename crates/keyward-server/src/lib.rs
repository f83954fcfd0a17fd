//! Keyward's HTTP API.
//!
//! [`router`] builds the whole application from an [`AppState`], so tests can
//! drive it in-process; [`serve`] runs it on a listener until a shutdown
//! future resolves. Routes and the OpenAPI document come from the same
//! handler annotations (`utoipa-axum`), so they cannot drift apart.

pub mod dto;
pub mod error;
pub mod extract;
mod openapi;
pub mod routes;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::HeaderName;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use keyward_core::ParsedToken;
use keyward_engine::Engine;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use utoipa_swagger_ui::SwaggerUi;

use crate::error::ApiError;

/// Largest request body accepted.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    /// The token engine.
    pub engine: Arc<Engine>,
}

impl AppState {
    fn now_micros(&self) -> i64 {
        self.engine.clock().now_micros()
    }
}

/// The OpenAPI document, as served at `/openapi.json`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    api_router().split_for_parts().1
}

fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(openapi::base())
        .routes(routes!(routes::keyspaces::create_keyspace, routes::keyspaces::list_keyspaces))
        .routes(routes!(routes::keyspaces::get_keyspace))
        .routes(routes!(routes::tokens::create_token, routes::tokens::list_tokens))
        .routes(routes!(routes::tokens::get_token, routes::tokens::update_token))
        .routes(routes!(routes::tokens::revoke_token))
        .routes(routes!(routes::verify::verify))
        .routes(routes!(routes::audit::list_audit))
        .routes(routes!(routes::health::healthz))
        .routes(routes!(routes::health::readyz))
}

/// The complete application.
pub fn router(state: AppState) -> Router {
    let (api, document) = api_router().split_for_parts();
    let request_id = HeaderName::from_static("x-request-id");
    api.merge(SwaggerUi::new("/docs").url("/openapi.json", document))
        .fallback(|| async { ApiError::route_not_found() })
        .method_not_allowed_fallback(|| async { ApiError::method_not_allowed() })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn(refuse_tokens_in_urls))
        .layer(TraceLayer::new_for_http().make_span_with(|request: &Request| {
            // The span names the route pattern, never the raw URI: a query
            // string could carry a secret and ids are not for metrics.
            let route = request.extensions().get::<MatchedPath>().map_or("unmatched", MatchedPath::as_str);
            let request_id = request.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("");
            tracing::info_span!("request", method = %request.method(), route, request_id)
        }))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
        .with_state(state)
}

/// RFC 6750 §2.3 allows a token in the query string; we never accept one,
/// because URLs end up in logs, browser history and proxies. A request whose
/// query names `access_token` or carries anything shaped like a Keyward token
/// is refused before routing, and the URI is not logged.
async fn refuse_tokens_in_urls(request: Request, next: Next) -> Response {
    if let Some(query) = request.uri().query() {
        let carries_token = query.split('&').any(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            name.eq_ignore_ascii_case("access_token")
                || ParsedToken::parse(value).is_ok()
                || ParsedToken::parse(name).is_ok()
        });
        if carries_token {
            return ApiError::new(
                axum::http::StatusCode::BAD_REQUEST,
                "token_in_url",
                "Token in URL refused",
                "Tokens are never accepted in URLs. Send it in the Authorization header (or the verify body), and treat this token as exposed.",
            )
            .into_response();
        }
    }
    next.run(request).await
}

/// Serves `app` on `listener` until `shutdown` resolves, then finishes
/// in-flight requests.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown)
        .await
}
