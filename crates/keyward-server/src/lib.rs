//! Keyward's HTTP API.
//!
//! [`router`] builds the whole application from an [`AppState`], so tests can
//! drive it in-process; [`serve`] runs it on a listener until a shutdown
//! future resolves. Routes and the OpenAPI document come from the same
//! handler annotations (`utoipa-axum`), so they cannot drift apart.

pub mod codes;
pub mod dto;
pub mod error;
pub mod extract;
mod openapi;
pub mod readiness;
pub mod refusals;
pub mod routes;
mod serve;
pub mod site;
pub mod tls;

use crate::codes::Code;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderName, HeaderValue};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use keyward_core::ip::IpNet;
use keyward_core::{base62, OsRng, ParsedToken, SecureRng};
use keyward_engine::Engine;
use tracing::Instrument;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use utoipa_swagger_ui::SwaggerUi;

use crate::error::{ApiError, LoggedCause};
pub use crate::serve::{serve, serve_tls, serve_with, ServeOptions};
pub use crate::site::Site;

/// Largest request body accepted.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// What every handler can reach. One reference count: axum clones the
/// state for every extractor that asks for it, several times per request.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

/// The parts of [`AppState`], reached through it by `Deref`.
#[derive(Clone)]
pub struct Shared {
    /// The token engine.
    pub engine: Arc<Engine>,
    /// Peers whose `X-Forwarded-For` is believed (see [`extract::client_ip`]).
    pub trusted_proxies: Arc<[IpNet]>,
    /// What `/readyz` last answered.
    pub readiness: Arc<readiness::Readiness>,
    /// How people reach this server (public origin, TLS).
    pub site: Arc<Site>,
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl AppState {
    /// State for `engine`, trusting no proxy.
    pub fn new(engine: Arc<Engine>) -> Self {
        Self(Arc::new(Shared {
            engine,
            trusted_proxies: Arc::from(Vec::new()),
            readiness: Arc::default(),
            site: Arc::default(),
        }))
    }

    /// Believes `X-Forwarded-For` from these networks.
    pub fn with_trusted_proxies(mut self, proxies: Vec<IpNet>) -> Self {
        Arc::make_mut(&mut self.0).trusted_proxies = proxies.into();
        self
    }

    /// Serving TLS with `certificates`: `/readyz` judges their expiry too.
    pub fn with_certificates(mut self, certificates: Arc<tls::Certificates>) -> Self {
        Arc::make_mut(&mut self.0).readiness = Arc::new(readiness::Readiness::with_certificates(certificates));
        self
    }

    /// Reached as `site` says.
    pub fn with_site(mut self, site: Site) -> Self {
        Arc::make_mut(&mut self.0).site = Arc::new(site);
        self
    }

    pub fn now_micros(&self) -> i64 {
        self.engine.clock().now_micros()
    }
}

/// The OpenAPI document, as served at `/openapi.json`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    api_router().split_for_parts().1
}

fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(openapi::base())
        .routes(routes!(routes::accounts::sign_up))
        .routes(routes!(routes::accounts::sign_in))
        .routes(routes!(routes::accounts::current_session, routes::accounts::sign_out))
        .routes(routes!(routes::accounts::confirm_password))
        .routes(routes!(routes::accounts::change_password))
        .routes(routes!(routes::accounts::invite, routes::accounts::list_invitations))
        .routes(routes!(routes::accounts::revoke_invitation))
        .routes(routes!(routes::accounts::accept_invitation))
        .routes(routes!(routes::accounts::list_members))
        .routes(routes!(routes::accounts::change_role, routes::accounts::remove_member))
        .routes(routes!(routes::accounts::create_service_account, routes::accounts::list_service_accounts))
        .routes(routes!(routes::accounts::remove_service_account))
        .routes(routes!(routes::whoami::whoami))
        .routes(routes!(routes::organizations::create_organization, routes::organizations::list_organizations))
        .routes(routes!(routes::organizations::get_organization))
        .routes(routes!(routes::policy::get_token_policy, routes::policy::set_token_policy))
        .routes(routes!(routes::policy::list_policy_violations))
        .routes(routes!(routes::keyspaces::create_keyspace, routes::keyspaces::list_keyspaces))
        .routes(routes!(routes::keyspaces::get_keyspace))
        .routes(routes!(routes::keyspaces::replace_scope_catalog))
        .routes(routes!(routes::keyspaces::set_keyspace_lifecycle))
        .routes(routes!(routes::tokens::create_token, routes::tokens::list_tokens))
        .routes(routes!(routes::tokens::get_token, routes::tokens::update_token, routes::tokens::delete_token))
        .routes(routes!(routes::tokens::revoke_token))
        .routes(routes!(routes::tokens::disable_token))
        .routes(routes!(routes::tokens::enable_token))
        .routes(routes!(routes::tokens::rotate_token))
        .routes(routes!(routes::tokens::set_grace))
        .routes(routes!(routes::tokens::token_clients))
        .routes(routes!(routes::tokens::bulk_revoke))
        .routes(routes!(routes::webhooks::create_webhook, routes::webhooks::list_webhooks))
        .routes(routes!(routes::webhooks::get_webhook, routes::webhooks::delete_webhook))
        .routes(routes!(routes::webhooks::list_deliveries))
        .routes(routes!(routes::webhooks::rotate_webhook_secret))
        .routes(routes!(routes::verify::verify))
        .routes(routes!(routes::sample::sample))
        .routes(routes!(routes::audit::list_audit))
        .routes(routes!(routes::health::healthz))
        .routes(routes!(routes::health::readyz))
}

/// The complete API.
pub fn router(state: AppState) -> Router {
    router_with(state, Router::new())
}

/// The complete API with `pages` (the web screens) beside it, under the
/// same edge middleware and fallback.
pub fn router_with(state: AppState, pages: Router<AppState>) -> Router {
    let (api, document) = api_router().split_for_parts();
    let mut ids = RequestIds::new();
    ids.strict_transport_security = state.site.strict_transport_security();
    // Only the screens need the site on every request; the API does not pay for it.
    let pages = pages.layer(axum::Extension(Arc::clone(&state.site)));
    api.merge(SwaggerUi::new("/docs").url("/openapi.json", document))
        .merge(pages)
        .fallback(|| async { ApiError::route_not_found() })
        .method_not_allowed_fallback(|| async { ApiError::method_not_allowed() })
        .layer(middleware::from_fn_with_state(ids.auditing(state.engine.clone()), edge))
        .with_state(state)
}

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Request ids for requests that arrive without a usable one: a random
/// prefix per process and a counter. Unique and cheap; they identify, they
/// protect nothing, so they need not be unguessable.
#[derive(Clone)]
struct RequestIds {
    prefix: Arc<str>,
    next: Arc<AtomicU64>,
    store_faults: Arc<FaultEpisode>,
    /// Sent on every response when the site is reached over HTTPS only.
    strict_transport_security: Option<HeaderValue>,
    /// Where refused calls are audited (see [`refusals`]).
    engine: Option<Arc<Engine>>,
}

/// Store failures are logged once per episode, not once per request: a
/// full disk or a database gone would otherwise write one ERROR line per
/// refused request. The first failure is logged with its cause; later ones
/// are counted and summed up at most every [`FaultEpisode::EVERY`].
#[derive(Default)]
struct FaultEpisode {
    state: std::sync::Mutex<Option<(std::time::Instant, u64)>>,
}

impl FaultEpisode {
    const EVERY: std::time::Duration = std::time::Duration::from_secs(60);

    /// Whether to log this failure, and how many went unlogged before it.
    fn should_log(&self) -> Option<u64> {
        let mut state = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = std::time::Instant::now();
        match state.as_mut() {
            Some((logged_at, unlogged)) if now.duration_since(*logged_at) < Self::EVERY => {
                *unlogged += 1;
                None
            }
            Some((logged_at, unlogged)) => {
                let skipped = *unlogged;
                *logged_at = now;
                *unlogged = 0;
                Some(skipped)
            }
            None => {
                *state = Some((now, 0));
                Some(0)
            }
        }
    }
}

impl RequestIds {
    fn new() -> Self {
        let mut bytes = [0u8; 4];
        // Without the OS's randomness the ids are still unique per process.
        let _ = OsRng.fill(&mut bytes);
        let prefix = String::from_utf8_lossy(&base62::encode_checksum(u32::from_le_bytes(bytes))).into_owned();
        Self {
            prefix: prefix.into(),
            next: Arc::new(AtomicU64::new(1)),
            store_faults: Arc::default(),
            strict_transport_security: None,
            engine: None,
        }
    }

    fn auditing(mut self, engine: Arc<Engine>) -> Self {
        self.engine = Some(engine);
        self
    }

    /// `PREFIX-n` with `n` in hex. Spelled out by hand because every
    /// request pays for it: `format!` and `HeaderValue::from_str` ran the
    /// formatter and allocated twice; this allocates once.
    fn next(&self) -> HeaderValue {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let digits = (u64::BITS - n.leading_zeros()).div_ceil(4).max(1);
        let mut id = Vec::with_capacity(self.prefix.len() + 1 + digits as usize);
        id.extend_from_slice(self.prefix.as_bytes());
        id.push(b'-');
        id.extend((0..digits).rev().map(|nibble| HEX[((n >> (nibble * 4)) & 0xf) as usize]));
        HeaderValue::from_maybe_shared(axum::body::Bytes::from(id)).unwrap_or(HeaderValue::from_static("unknown"))
    }
}

/// Whether a client's `x-request-id` is safe to keep, log and echo.
pub(crate) fn acceptable_request_id(value: &HeaderValue) -> bool {
    let id = value.as_bytes();
    !id.is_empty() && id.len() <= 64 && id.iter().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// The one middleware around every route, kept to one layer because each
/// layer costs on every request: refuses tokens in URLs; gives the request
/// an id (the client's when acceptable, else a new one) and echoes it;
/// traces at DEBUG; and logs what a failed response carries as its
/// [`LoggedCause`], with the request id and the route pattern (never the
/// raw URI: a query string could carry a secret); and audits refused
/// management calls ([`refusals`]), for the API and the screens alike.
async fn edge(State(ids): State<RequestIds>, mut request: Request, next: Next) -> Response {
    let api = request.uri().path().starts_with("/v1/");
    if let Some(refusal) = refuse_tokens_in_urls(&request) {
        return protect(refusal, api);
    }
    // A NUL in an id would reach the store, and PostgreSQL fails on it.
    if request.uri().path().contains("%00") {
        return protect(
            ApiError::invalid_field("path", "must not contain the NUL character (%00)").into_response(),
            api,
        );
    }
    let request_id = match request.headers().get(&REQUEST_ID) {
        Some(id) if acceptable_request_id(id) => id.clone(),
        _ => {
            let id = ids.next();
            request.headers_mut().insert(REQUEST_ID, id.clone());
            id
        }
    };
    let route = request.extensions().get::<MatchedPath>().cloned();
    let route = route.as_ref().map_or("unmatched", MatchedPath::as_str);
    let id = request_id.to_str().unwrap_or("");
    // What a refusal's audit event names, taken before the request moves
    // on: no copy of the URI, and on a route without an id (`/v1/verify`)
    // nothing at all.
    let (method, target) = (request.method().clone(), refusals::target_in(route, request.uri().path()));
    // Each async layer around the route's future is a copy of it per
    // request; the untraced path has one.
    let (mut response, caller) = if tracing::enabled!(tracing::Level::DEBUG) {
        let span = tracing::debug_span!("request", method = %request.method(), route, request_id = id);
        let started = std::time::Instant::now();
        let (response, caller) = refusals::watched(next.run(request).instrument(span.clone())).await;
        span.in_scope(
            || tracing::debug!(status = response.status().as_u16(), latency = ?started.elapsed(), "response"),
        );
        (response, caller)
    } else {
        refusals::watched(next.run(request)).await
    };
    if let (Some(engine), Some(refused)) = (&ids.engine, response.extensions().get::<crate::error::Refused>().copied())
    {
        let not_found = response.status() == axum::http::StatusCode::NOT_FOUND;
        refusals::audit(engine, refused, not_found, caller, method.as_str(), route, target, Some(id)).await;
    }
    if let Some(cause) = response.extensions().get::<LoggedCause>() {
        let status = response.status().as_u16();
        if cause.what == crate::error::STORE_UNAVAILABLE {
            if let Some(unlogged) = ids.store_faults.should_log() {
                tracing::error!(request_id = id, route, status, error = %cause.message, similar_unlogged = unlogged,
                    "{}: requests needing the store answer 503 until it recovers (logged once a minute)", cause.what);
            }
        } else if cause.error {
            tracing::error!(request_id = id, route, status, error = %cause.message, "{}", cause.what);
        } else {
            tracing::warn!(request_id = id, route, status, error = %cause.message, "{}", cause.what);
        }
    }
    if response.status().as_u16() >= 400 {
        response = problem_only(response);
    }
    response.headers_mut().insert(REQUEST_ID, request_id);
    if let Some(value) = &ids.strict_transport_security {
        response.headers_mut().insert(header::STRICT_TRANSPORT_SECURITY, value.clone());
    }
    protect(response, api)
}

/// Headers every response carries: static values, so no allocation on the
/// verify path.
fn protect(mut response: Response, api: bool) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if api {
        // API responses carry account data; no cache along the way keeps them.
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// Every error is problem+json. Axum's own rejections (a path segment that
/// is not UTF-8, a malformed query on a screen, a form it cannot read) answer
/// `text/plain`; they are replaced here by a problem with a stable code per
/// status. Their text is dropped: it can quote what the client sent. And a
/// 503 always says when to come back.
fn problem_only(response: Response) -> Response {
    let status = response.status();
    let plain =
        response.headers().get(header::CONTENT_TYPE).is_none_or(|value| value.as_bytes().starts_with(b"text/plain"));
    let mut response = if plain {
        let (code, detail) = match status.as_u16() {
            408 => (Code::RequestTimeout, "The request was not received in time."),
            413 => (Code::PayloadTooLarge, "The request body is too large."),
            415 => (Code::UnsupportedMediaType, "The request body's content type is not accepted here."),
            422 => (Code::UnprocessableBody, "The request body could not be read as this endpoint expects."),
            500..=599 => (Code::Internal, "Something went wrong on our side; it has been logged."),
            _ => (
                Code::InvalidRequest,
                "The request could not be read: its path, query or body is malformed (path segments must be UTF-8).",
            ),
        };
        // The status stays the one the other layer chose; the code and
        // title come from the table.
        let mut problem = ApiError::new(status, code.as_str(), code.title(), detail).into_response();
        // Keep what the original response carried for the log.
        if let Some(cause) = response.extensions().get::<LoggedCause>().cloned() {
            problem.extensions_mut().insert(cause);
        }
        problem
    } else {
        response
    };
    if status == axum::http::StatusCode::SERVICE_UNAVAILABLE && !response.headers().contains_key(header::RETRY_AFTER) {
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    response
}

/// RFC 6750 §2.3 allows a token in the query string; we never accept one,
/// because URLs end up in logs, browser history and proxies. A request whose
/// query names `access_token` or carries anything shaped like a Keyward token
/// is refused before routing, and the URI is not logged.
fn refuse_tokens_in_urls(request: &Request) -> Option<Response> {
    if let Some(query) = request.uri().query() {
        let carries_token = query.split('&').any(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            name.eq_ignore_ascii_case("access_token")
                || ParsedToken::parse(value).is_ok()
                || ParsedToken::parse(name).is_ok()
        });
        if carries_token {
            return Some(
                ApiError::of(Code::TokenInUrl, "Tokens are never accepted in URLs. Send it in the Authorization header (or the verify body), and treat this token as exposed.",
                )
                .into_response(),
            );
        }
    }
    None
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use axum::body::Body;
    use axum::routing::get;
    use std::sync::Mutex;
    use tower::ServiceExt;

    #[test]
    fn request_ids_are_the_prefix_and_a_hex_counter() {
        let ids = RequestIds::new();
        for n in [1_u64, 9, 10, 15, 16, 255, 256, 0xdead_beef, u64::MAX] {
            ids.next.store(n, Ordering::Relaxed);
            assert_eq!(ids.next().to_str().unwrap(), format!("{}-{n:x}", ids.prefix));
        }
        ids.next.store(0, Ordering::Relaxed);
        assert_eq!(ids.next().to_str().unwrap(), format!("{}-0", ids.prefix));
    }

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn failures_are_logged_with_request_id_and_route_and_never_returned() {
        let failing = || async { ApiError::internal(&std::io::Error::other("disk on fire at /var/lib/keyward")) };
        let app = Router::new()
            .route("/v1/things/{id}", get(failing))
            .layer(middleware::from_fn_with_state(RequestIds::new(), edge));
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt().with_writer(move || writer.clone()).with_ansi(false).finish();
        let _guard = tracing::subscriber::set_default(subscriber);

        let request = axum::http::Request::get("/v1/things/tok_secretish").body(Body::empty()).unwrap();
        let response = app.oneshot(request).await.unwrap();
        assert_eq!(response.status(), 500);
        let request_id = response.headers()[REQUEST_ID].to_str().unwrap().to_owned();
        let body = http_body_util::BodyExt::collect(response.into_body()).await.unwrap().to_bytes();
        let body = String::from_utf8_lossy(&body);
        assert!(!body.contains("disk on fire"), "internals are not returned: {body}");

        let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        assert!(log.contains("ERROR") && log.contains("internal error"), "{log}");
        assert!(log.contains("disk on fire at /var/lib/keyward"), "{log}");
        assert!(log.contains("route=\"/v1/things/{id}\""), "the route pattern, not the URI: {log}");
        assert!(!log.contains("tok_secretish"), "{log}");
        assert!(log.contains(&format!("request_id=\"{request_id}\"")), "{log}");
    }

    #[tokio::test]
    async fn every_503_says_when_to_retry() {
        let unavailable = ApiError::store_unavailable(&std::io::Error::other("connection refused")).into_response();
        assert_eq!(unavailable.status(), 503);
        assert_eq!(unavailable.headers()[axum::http::header::RETRY_AFTER], "1");
        let episode = FaultEpisode::default();
        assert_eq!(episode.should_log(), Some(0), "the first store failure is logged");
        assert_eq!((episode.should_log(), episode.should_log()), (None, None), "the rest of the episode is counted");
        // A 503 made outside ApiError gets one from the edge.
        let app = Router::new()
            .route("/", get(|| async { (axum::http::StatusCode::SERVICE_UNAVAILABLE, "busy") }))
            .layer(middleware::from_fn_with_state(RequestIds::new(), edge));
        let response = app.oneshot(axum::http::Request::get("/").body(Body::empty()).unwrap()).await.unwrap();
        assert_eq!(response.status(), 503);
        assert_eq!(response.headers()[axum::http::header::RETRY_AFTER], "1");
        assert_eq!(response.headers()[axum::http::header::CONTENT_TYPE], "application/problem+json");
    }

    #[tokio::test]
    async fn request_ids_are_kept_when_acceptable_and_made_otherwise() {
        let app = Router::new()
            .route("/", get(|| async { "ok" }))
            .layer(middleware::from_fn_with_state(RequestIds::new(), edge));
        let echo = |id: Option<&'static str>| {
            let app = app.clone();
            async move {
                let mut request = axum::http::Request::get("/");
                if let Some(id) = id {
                    request = request.header("x-request-id", id);
                }
                let response = app.oneshot(request.body(Body::empty()).unwrap()).await.unwrap();
                response.headers()[REQUEST_ID].to_str().unwrap().to_owned()
            }
        };
        assert_eq!(echo(Some("client-42.a_b")).await, "client-42.a_b");
        let made = echo(Some("bad id <script>")).await;
        assert_ne!(made, "bad id <script>");
        assert!(acceptable_request_id(&HeaderValue::from_str(&made).unwrap()));
        assert_ne!(echo(None).await, echo(None).await, "generated ids are unique");
    }
}
