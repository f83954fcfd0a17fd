//! Extractors: JSON and query bodies whose every failure is a precise
//! problem, and the authenticated caller. Authentication is an extractor so
//! no handler can forget it.

use crate::codes::Code;
use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRef, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use http_body_util::LengthLimitError;
use keyward_core::auth_header::{parse_bearer, AuthHeaderError};
use keyward_core::ip::{self, IpNet};
use keyward_engine::prechecks::{self, ParsedId};
use keyward_engine::{Actor, EngineError, RequestContext};
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::{AppState, MAX_BODY_BYTES};

/// A JSON body. Wrong content type → 415, too large → 413, bad syntax →
/// `invalid_json`, wrong shape → `invalid_field` naming the field.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, _state: &S) -> Result<Self, ApiError> {
        let is_json = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.split(';').next())
            .map(|mime| {
                let mime = mime.trim().as_bytes();
                let starts = |prefix: &str| {
                    mime.len() >= prefix.len() && mime[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
                };
                let ends = |suffix: &str| {
                    mime.len() >= suffix.len()
                        && mime[mime.len() - suffix.len()..].eq_ignore_ascii_case(suffix.as_bytes())
                };
                mime.eq_ignore_ascii_case(b"application/json") || (starts("application/") && ends("+json"))
            })
            .unwrap_or(false);
        if !is_json {
            return Err(ApiError::of(
                Code::UnsupportedMediaType,
                "Send the body as JSON with `Content-Type: application/json`.",
            ));
        }
        // The body limit is enforced here rather than by a router layer:
        // only JSON bodies are read, and every layer costs on every request.
        let bytes = axum::body::to_bytes(request.into_body(), MAX_BODY_BYTES).await.map_err(|error| {
            if caused_by::<crate::serve::BodyStalled>(&error) {
                return ApiError::request_timeout();
            }
            let too_large = std::error::Error::source(&error).is_some_and(|cause| cause.is::<LengthLimitError>());
            if too_large {
                ApiError::of(Code::PayloadTooLarge, "Request bodies are limited to 64 KiB.")
            } else {
                ApiError::of(Code::InvalidBody, "The request body could not be read.")
            }
        })?;
        decode_json(&bytes).map(ApiJson)
    }
}

/// An id from the path, parsed once here so the engine is handed one that
/// can name something. A malformed one is answered as the engine answered
/// it when it checked the shape itself: whatever the call refuses first
/// (`before`: the caller's scopes, the request's fields), else the same
/// 404, so the problem and the refusal audited for it are unchanged.
pub fn path_id<T: ParsedId>(text: &str, before: impl FnOnce() -> Result<(), EngineError>) -> Result<T, ApiError> {
    Ok(prechecks::parse_id(text, before)?)
}

/// Whether `E` is anywhere in `error`'s chain of causes: the body-timeout
/// error arrives wrapped once by axum and once by the length limit.
fn caused_by<E: std::error::Error + 'static>(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(error);
    while let Some(current) = cause {
        if current.is::<E>() {
            return true;
        }
        cause = current.source();
    }
    false
}

/// Decodes JSON, mapping serde's errors to problems that name the field and
/// never echo a submitted value (which could be a secret).
pub fn decode_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // PostgreSQL cannot store a NUL in text or jsonb: refuse it here, for
    // every body and both stores alike, naming the field.
    if let Some(field) = nul_field(bytes) {
        return Err(ApiError::invalid_field(field, "must not contain the NUL character (\\u0000)"));
    }
    // Tracking the path costs on every field; only a failure needs it, so
    // decode plainly first and decode again with paths to explain a failure.
    if let Ok(value) = serde_json::from_slice(bytes) {
        return Ok(value);
    }
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        let message = redact_values(&inner.to_string());
        match inner.classify() {
            serde_json::error::Category::Syntax
            | serde_json::error::Category::Eof
            | serde_json::error::Category::Io => {
                ApiError::of(Code::InvalidJson, format!("The body is not valid JSON: {message}."))
            }
            serde_json::error::Category::Data => {
                let field =
                    if path == "." { unknown_field_name(&message).unwrap_or_else(|| "body".into()) } else { path };
                ApiError::invalid_field(field, message)
            }
        }
    })?;
    deserializer.end().map_err(|_| ApiError::of(Code::InvalidJson, "Unexpected data after the JSON value."))?;
    Ok(value)
}

/// Replaces every double-quoted run in a serde message with `"…"`: serde
/// quotes submitted strings there, and a submitted string may be a token.
/// Field names are quoted with backticks and survive.
fn redact_values(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut inside = false;
    for ch in message.chars() {
        if ch == '"' {
            if inside {
                out.push_str("…\"");
            } else {
                out.push('"');
            }
            inside = !inside;
        } else if !inside {
            out.push(ch);
        }
    }
    out
}

/// The field a serde message is about: `unknown field `x``, `missing field
/// `x``, or a leading `path: ` that serde_path_to_error adds.
fn unknown_field_name(message: &str) -> Option<String> {
    for marker in ["unknown field `", "missing field `"] {
        if let Some(at) = message.find(marker) {
            return message[at + marker.len()..].split('`').next().map(str::to_owned);
        }
    }
    let (path, _) = message.split_once(": ")?;
    let is_path =
        !path.is_empty() && path.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'[' | b']'));
    is_path.then(|| path.to_owned())
}

/// Query parameters, with problems naming the parameter.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or_default();
        refuse_nul_in_query(query)?;
        serde_urlencoded_compatible(query).map(ApiQuery)
    }
}

/// A NUL (`%00`) cannot be stored or compared by PostgreSQL; refused here,
/// naming the parameter, so both stores answer 400 rather than one of them
/// failing with 503.
fn refuse_nul_in_query(query: &str) -> Result<(), ApiError> {
    if !contains_ignore_case(query.as_bytes(), b"%00") {
        return Ok(());
    }
    let offending = query.split('&').find(|pair| contains_ignore_case(pair.as_bytes(), b"%00")).unwrap_or(query);
    let name = offending.split_once('=').map_or(offending, |(name, _)| name);
    let field = if contains_ignore_case(name.as_bytes(), b"%00") || name.is_empty() { "query" } else { name };
    Err(ApiError::invalid_field(field.to_owned(), "must not contain the NUL character (%00)"))
}

fn contains_ignore_case(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|window| window.eq_ignore_ascii_case(needle))
}

/// Where the first NUL is in a JSON body, as a field path (`metadata.note`,
/// `scopes[1]`); `None` if there is none. A NUL can only arrive escaped
/// (`\u0000`: JSON spells escapes in lower case, and hex digits `0` have
/// none), so a body without that text costs one vectorised scan, which
/// every `/v1/verify` request pays.
fn nul_field(bytes: &[u8]) -> Option<String> {
    memchr::memmem::find(bytes, b"\\u0000")?;
    let value: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    fn walk(value: &serde_json::Value, path: &str) -> Option<String> {
        match value {
            serde_json::Value::String(text) => text.contains('\0').then(|| path.to_owned()),
            serde_json::Value::Array(items) => {
                items.iter().enumerate().find_map(|(index, item)| walk(item, &format!("{path}[{index}]")))
            }
            serde_json::Value::Object(map) => map.iter().find_map(|(key, item)| {
                let here = if path.is_empty() { key.clone() } else { format!("{path}.{key}") };
                if key.contains('\0') {
                    Some(if path.is_empty() { "body".to_owned() } else { path.to_owned() })
                } else {
                    walk(item, &here)
                }
            }),
            _ => None,
        }
    }
    walk(&value, "").map(|path| if path.is_empty() { "body".to_owned() } else { path })
}

fn serde_urlencoded_compatible<T: DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    axum::extract::Query::<T>::try_from_uri(
        &format!("/?{query}")
            .parse()
            .map_err(|_| ApiError::invalid_field("query", "The query string is malformed."))?,
    )
    .map(|axum::extract::Query(value)| value)
    .map_err(|rejection| {
        let message = redact_values(&rejection.body_text());
        let message = message.trim_start_matches("Failed to deserialize query string: ").to_owned();
        let field = unknown_field_name(&message).unwrap_or_else(|| "query".into());
        ApiError::invalid_field(field, message)
    })
}

/// Request id and client address, for audit events and IP allowlists.
pub fn request_context(parts: &Parts, trusted_proxies: &[IpNet]) -> RequestContext {
    let request_id = parts
        .headers
        .get("x-request-id")
        .filter(|value| crate::acceptable_request_id(value))
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|info| info.0.ip());
    let source_ip = peer.map(|peer| client_ip(peer, &parts.headers, trusted_proxies));
    RequestContext { request_id, source_ip, user_agent: None }
}

/// [`request_context`] with the user agent, for what records it (sessions
/// starting and ending).
pub fn request_context_with_agent(parts: &Parts, trusted_proxies: &[IpNet]) -> RequestContext {
    let user_agent = parts.headers.get(header::USER_AGENT).map(|value| String::from_utf8_lossy(value.as_bytes()));
    RequestContext { user_agent: user_agent.map(|agent| agent.into_owned()), ..request_context(parts, trusted_proxies) }
}

/// The client's address. The peer is the client unless it is a trusted
/// proxy; then `X-Forwarded-For` is read from the right (the entry the
/// nearest proxy appended) past every trusted proxy, and the first address
/// not trusted is the client. Entries left of it were written by the client
/// and prove nothing. An unreadable entry ends the walk at the last
/// address known to be genuine.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted_proxies: &[IpNet]) -> IpAddr {
    let mut client = ip::canonical(peer);
    if !ip::allows(trusted_proxies, client) {
        return client;
    }
    let forwarded: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .collect();
    for entry in forwarded.iter().rev() {
        match entry.trim().parse::<IpAddr>() {
            Ok(address) => {
                client = ip::canonical(address);
                if !ip::allows(trusted_proxies, client) {
                    break;
                }
            }
            Err(_) => break,
        }
    }
    client
}

/// A JSON body that may be left out: no body at all (and no content type)
/// gives `T::default()`; anything sent is read as [`ApiJson`] reads it.
pub struct OptionalApiJson<T>(pub T);

impl<T: DeserializeOwned + Default, S: Send + Sync> FromRequest<S> for OptionalApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let headers = request.headers();
        let declared_empty = headers.get(header::CONTENT_LENGTH).is_some_and(|length| length.as_bytes() == b"0");
        let undeclared =
            headers.get(header::CONTENT_LENGTH).is_none() && headers.get(header::TRANSFER_ENCODING).is_none();
        if headers.get(header::CONTENT_TYPE).is_none() && (declared_empty || undeclared) {
            return Ok(OptionalApiJson(T::default()));
        }
        ApiJson::from_request(request, state).await.map(|ApiJson(value)| OptionalApiJson(value))
    }
}

/// An authenticated management caller.
pub struct Caller(pub Actor);

impl<S: Send + Sync> FromRequestParts<S> for Caller
where
    AppState: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let state = AppState::from_ref(state);
        let Some(presented) = bearer_token(&parts.headers)? else {
            return match session_cookie(&parts.headers) {
                Some(secret) => session_caller(parts, &state, &secret).await,
                None => Err(ApiError::unauthorized(false)),
            };
        };
        let context = request_context(parts, &state.trusted_proxies);
        let user_agent = parts.headers.get(header::USER_AGENT).and_then(|value| value.to_str().ok());
        match state.engine.authenticate_client(presented, context.source_ip, user_agent).await? {
            Some(principal) => {
                let actor = Actor { principal, context };
                crate::refusals::note_caller(&actor);
                Ok(Caller(actor))
            }
            None => Err(ApiError::unauthorized(true)),
        }
    }
}

/// The bearer token of the request's one `Authorization` header; `None`
/// without the header. More than one header, another scheme or a malformed
/// credential is refused, never guessed at.
pub fn bearer_token(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(ApiError::invalid_authorization(
            "Send exactly one Authorization header; more than one credential is refused.",
        ));
    }
    match parse_bearer(value.as_bytes()) {
        Ok(token) => Ok(Some(token)),
        Err(AuthHeaderError::Scheme) => Err(ApiError::unauthorized(false)),
        Err(AuthHeaderError::Credential) => {
            Err(ApiError::invalid_authorization("Use `Authorization: Bearer <token>` with exactly one token."))
        }
    }
}

/// The session cookie's name. `__Host-` makes browsers accept it only with
/// `Secure`, `Path=/` and no `Domain`, so no sibling host can plant it.
pub const SESSION_COOKIE: &str = "__Host-keyward_session";

/// The header carrying a session's CSRF token.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The session secret from the `Cookie` header(s), if any.
pub fn session_cookie(headers: &HeaderMap) -> Option<String> {
    cookie(headers, SESSION_COOKIE)
}

/// The value of the cookie `name` from the `Cookie` header(s), if any.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.trim_matches('"').to_owned())
}

/// A caller signed in with a session cookie. Cookies ride along on
/// cross-site requests, so every method that can change anything must also
/// carry the session's CSRF token, which a foreign page cannot read.
async fn session_caller(parts: &Parts, state: &AppState, secret: &str) -> Result<Caller, ApiError> {
    let Some(principal) = state.engine.authenticate_session(secret).await? else {
        return Err(ApiError::session_expired());
    };
    if !parts.method.is_safe() {
        let presented = parts.headers.get(CSRF_HEADER).and_then(|value| value.to_str().ok()).unwrap_or("");
        if !keyward_engine::csrf_matches(secret, presented) {
            return Err(ApiError::csrf_failed());
        }
    }
    let actor = Actor { principal, context: request_context_with_agent(parts, &state.trusted_proxies) };
    crate::refusals::note_caller(&actor);
    Ok(Caller(actor))
}

/// The request's context without authentication (sign-in, sign-up), with
/// the user agent.
pub struct Context(pub RequestContext);

impl<S: Send + Sync> FromRequestParts<S> for Context
where
    AppState: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Ok(Context(request_context_with_agent(parts, &AppState::from_ref(state).trusted_proxies)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forwarded(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append("x-forwarded-for", value.parse().unwrap_or_else(|_| header::HeaderValue::from_static("")));
        }
        headers
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let proxies = ip::parse_list(&["10.0.0.0/8", "fd00::/8"]).unwrap_or_default();
        let headers = forwarded(&["198.51.100.1, 203.0.113.7", "10.1.1.1"]);
        // From an untrusted peer the header is ignored.
        assert_eq!(client_ip(ip("192.0.2.50"), &headers, &proxies), ip("192.0.2.50"));
        assert_eq!(client_ip(ip("192.0.2.50"), &headers, &[]), ip("192.0.2.50"));
        // From a proxy: past every trusted hop, the first untrusted address;
        // the client-written 198.51.100.1 further left is not believed.
        assert_eq!(client_ip(ip("10.0.0.2"), &headers, &proxies), ip("203.0.113.7"));
        // IPv6 proxies and IPv4 clients seen through IPv6 sockets.
        assert_eq!(client_ip(ip("fd00::1"), &forwarded(&["2001:db8::9"]), &proxies), ip("2001:db8::9"));
        assert_eq!(client_ip(ip("::ffff:10.0.0.2"), &forwarded(&["203.0.113.7"]), &proxies), ip("203.0.113.7"));
        // Garbage ends the walk at the last genuine hop.
        assert_eq!(client_ip(ip("10.0.0.2"), &forwarded(&["203.0.113.7, nonsense"]), &proxies), ip("10.0.0.2"));
        // Only proxies all the way: the leftmost one is the best we know.
        assert_eq!(client_ip(ip("10.0.0.2"), &forwarded(&["10.9.9.9"]), &proxies), ip("10.9.9.9"));
        assert_eq!(client_ip(ip("10.0.0.2"), &HeaderMap::new(), &proxies), ip("10.0.0.2"));
    }

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.append(header::COOKIE, header::HeaderValue::from_static("theme=dark; __Host-keyward_session=kws_abc"));
        assert_eq!(session_cookie(&headers).as_deref(), Some("kws_abc"));
        let mut other = HeaderMap::new();
        other.append(header::COOKIE, header::HeaderValue::from_static("keyward_session=kws_abc"));
        assert_eq!(session_cookie(&other), None, "only the __Host- cookie counts");
    }

    #[test]
    fn quoted_values_are_redacted_but_field_names_survive() {
        let message = "invalid type: string \"kw_live_secret\", expected i64 at line 1 column 9";
        assert_eq!(redact_values(message), "invalid type: string \"…\", expected i64 at line 1 column 9");
        assert_eq!(redact_values("unknown field `tokn`, expected `token`"), "unknown field `tokn`, expected `token`");
    }

    #[test]
    fn unknown_and_missing_fields_are_named() {
        assert_eq!(unknown_field_name("unknown field `tokn`, expected one of"), Some("tokn".into()));
        assert_eq!(unknown_field_name("missing field `name` at line 1"), Some("name".into()));
        assert_eq!(unknown_field_name("something else"), None);
        assert_eq!(
            unknown_field_name("Failed to deserialize query string: unknown field `colour`"),
            Some("colour".into())
        );
        assert_eq!(unknown_field_name("limit: invalid digit found in string"), Some("limit".into()));
    }
}
