//! The one error type at the HTTP edge. Every failure becomes an RFC 9457
//! `application/problem+json` body with a stable machine-readable `code`.
//! Internals travel with the response as a [`LoggedCause`] extension, which
//! the edge middleware logs with the request id and route; they are never
//! returned to the client.

use crate::codes::Code;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use keyward_engine::{EngineError, VerifyCode};
use keyward_store::StoreError;
use serde::Serialize;
use utoipa::ToSchema;

/// What a store failure is logged as; the edge logs these once per episode.
pub const STORE_UNAVAILABLE: &str = "store unavailable";

/// The realm in every `WWW-Authenticate` challenge.
pub const REALM: &str = "keyward";

/// An RFC 9457 problem document.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the problem type.
    #[serde(rename = "type")]
    pub problem_type: String,
    /// Short summary of the problem type.
    pub title: &'static str,
    /// The HTTP status.
    pub status: u16,
    /// What went wrong in this occurrence.
    pub detail: String,
    /// Stable machine-readable code; switch on this.
    pub code: &'static str,
    /// The JSON field or query parameter at fault, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Scopes that were needed and missing (for `insufficient_scope`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub missing_scopes: Option<Vec<String>>,
    /// Every broken token-policy rule (for `policy_violation`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub violations: Option<Vec<PolicyViolationView>>,
    /// The token an earlier request with the same idempotency key created
    /// (for `already_created`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_id: Option<String>,
    /// The keyspace that already has the name asked for (for `keyspace_exists`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keyspace_id: Option<String>,
}

impl From<keyward_engine::PolicyProblem> for PolicyViolationView {
    fn from(problem: keyward_engine::PolicyProblem) -> Self {
        Self { code: problem.code.into(), field: problem.field.into(), detail: problem.detail }
    }
}

/// One broken token-policy rule.
#[derive(Debug, Clone, Serialize, serde::Deserialize, ToSchema)]
pub struct PolicyViolationView {
    /// Stable code: `expiry_required`, `lifetime_too_long`,
    /// `scope_not_grantable`, `ip_allowlist_required`, `too_many_active_tokens`.
    pub code: String,
    /// The field to change.
    pub field: String,
    /// What to do, in words.
    pub detail: String,
}

/// An error answered to a client. Boxed: it travels in every handler's
/// `Result`, and the happy path should not pay for its size.
#[derive(Debug)]
pub struct ApiError(Box<Details>);

#[derive(Debug)]
struct Details {
    status: StatusCode,
    code: &'static str,
    title: &'static str,
    detail: String,
    field: Option<String>,
    missing_scopes: Option<Vec<String>>,
    violations: Option<Vec<PolicyViolationView>>,
    token_id: Option<String>,
    keyspace_id: Option<String>,
    challenge: Option<String>,
    retry_after: Option<u64>,
    close: bool,
    cause: Option<LoggedCause>,
}

/// What went wrong inside, for the log only. Attached to the response as an
/// extension and logged once, by the edge middleware, with the request's id
/// and route pattern. Must never hold a secret: callers pass store and
/// engine errors, which carry none.
#[derive(Debug, Clone)]
pub struct LoggedCause {
    /// `true` for errors (5xx), `false` for warnings.
    pub error: bool,
    /// A short description of what failed.
    pub what: &'static str,
    /// The underlying error's message.
    pub message: String,
}

impl ApiError {
    /// A problem with `code` (its status and title from the table in
    /// [`crate::codes`]) and a detail for this occurrence.
    pub fn of(code: Code, detail: impl Into<String>) -> Self {
        Self::new(code.status(), code.as_str(), code.title(), detail)
    }

    /// A problem with a status, code, title and detail given apart: only
    /// for answers whose status is not the code's own (a plain-text error
    /// another layer produced) or a code named at run time and not listed.
    pub(crate) fn new(status: StatusCode, code: &'static str, title: &'static str, detail: impl Into<String>) -> Self {
        Self(Box::new(Details {
            status,
            code,
            title,
            detail: detail.into(),
            field: None,
            missing_scopes: None,
            violations: None,
            token_id: None,
            keyspace_id: None,
            challenge: None,
            retry_after: None,
            close: false,
            cause: None,
        }))
    }

    /// Tells the client when to try again (`Retry-After`, in seconds).
    pub fn retry_after(mut self, seconds: u64) -> Self {
        self.0.retry_after = Some(seconds);
        self
    }

    /// 400 naming a field.
    pub fn invalid_field(field: impl Into<String>, detail: impl Into<String>) -> Self {
        let mut error = Self::of(Code::InvalidField, detail);
        error.0.field = Some(field.into());
        error
    }

    /// 401 with the same body for every kind of bad credential, so nothing
    /// can be learned about which tokens exist.
    pub fn unauthorized(token_presented: bool) -> Self {
        let mut error = Self::of(
            Code::Unauthorized,
            "A valid bearer token is required: it is missing, invalid, expired or revoked.",
        );
        error.0.challenge = Some(if token_presented {
            format!("Bearer realm=\"{REALM}\", error=\"invalid_token\"")
        } else {
            format!("Bearer realm=\"{REALM}\"")
        });
        error
    }

    /// 401 (403 for a missing scope or a refused address) naming why a
    /// token presented as its holder's own credential was refused, with a
    /// stable code per verdict. Only for routes where that holder is owed
    /// the reason, like the sample route: management calls answer
    /// [`ApiError::unauthorized`], which says nothing.
    pub fn token_refused(verdict: VerifyCode, detail: impl Into<String>, missing_scopes: Vec<String>) -> Self {
        let invalid_token = format!("Bearer realm=\"{REALM}\", error=\"invalid_token\"");
        let (code, challenge) = match verdict {
            VerifyCode::InsufficientScope => (
                Code::InsufficientScope,
                format!(
                    "Bearer realm=\"{REALM}\", error=\"insufficient_scope\", scope=\"{}\"",
                    missing_scopes.join(" ")
                ),
            ),
            VerifyCode::ForbiddenIp => {
                (Code::ForbiddenIp, format!("Bearer realm=\"{REALM}\", error=\"insufficient_scope\""))
            }
            VerifyCode::Malformed => (Code::TokenMalformed, invalid_token),
            VerifyCode::Expired => (Code::TokenExpired, invalid_token),
            VerifyCode::Revoked => (Code::TokenRevoked, invalid_token),
            VerifyCode::Disabled => (Code::TokenDisabled, invalid_token),
            // `Valid` never reaches here; were it to, it is answered as unknown, not a panic.
            VerifyCode::NotFound | VerifyCode::Valid => (Code::TokenUnknown, invalid_token),
        };
        let mut error = Self::of(code, detail);
        error.0.challenge = Some(challenge);
        error.0.missing_scopes = (!missing_scopes.is_empty()).then_some(missing_scopes);
        error
    }

    /// 400 for a malformed Authorization header (RFC 6750 §3.1 `invalid_request`).
    pub fn invalid_authorization(detail: impl Into<String>) -> Self {
        let mut error = Self::of(Code::InvalidAuthorization, detail);
        error.0.challenge = Some(format!("Bearer realm=\"{REALM}\", error=\"invalid_request\""));
        error
    }

    /// 401 for a session cookie that is unknown, expired or signed out.
    pub fn session_expired() -> Self {
        Self::of(Code::SessionExpired, "The session is unknown, expired or signed out; sign in again.")
    }

    /// 403 for a cookie-authenticated change without its CSRF token.
    pub fn csrf_failed() -> Self {
        Self::of(
            Code::CsrfFailed,
            "Changes made with a session cookie need the session's CSRF token in the `X-CSRF-Token` header.",
        )
    }

    /// 404 for an unknown route.
    pub fn route_not_found() -> Self {
        Self::of(Code::RouteNotFound, "No such endpoint. See /openapi.json.")
    }

    /// 405 for a known route with the wrong method.
    pub fn method_not_allowed() -> Self {
        Self::of(Code::MethodNotAllowed, "This endpoint does not accept that method. See /openapi.json.")
    }

    /// 408 for a request body that stalled. The connection is closed after
    /// it: the rest of the body may still arrive and cannot be told apart
    /// from the next request.
    pub fn request_timeout() -> Self {
        let mut error =
            Self::of(Code::RequestTimeout, "The request body stopped arriving; send it again without pausing.");
        error.0.close = true;
        error
    }

    /// 503 when the store cannot be reached; the cause is logged, not returned.
    pub fn store_unavailable(error: &dyn std::error::Error) -> Self {
        Self::of(Code::StoreUnavailable, "The token store is unavailable; retry shortly.").retry_after(1).logged(
            true,
            STORE_UNAVAILABLE,
            error.to_string(),
        )
    }

    /// 500; the cause is logged, never returned.
    pub fn internal(error: &dyn std::error::Error) -> Self {
        Self::of(Code::Internal, "Something went wrong on our side; it has been logged.").logged(
            true,
            "internal error",
            error.to_string(),
        )
    }

    fn logged(mut self, error: bool, what: &'static str, message: String) -> Self {
        self.0.cause = Some(LoggedCause { error, what, message });
        self
    }

    /// The stable code, for tests and logs.
    pub fn code(&self) -> &'static str {
        self.0.code
    }
}

impl From<EngineError> for ApiError {
    fn from(error: EngineError) -> Self {
        match error {
            EngineError::Invalid(invalid) => ApiError::invalid_field(invalid.field, invalid.message),
            EngineError::Forbidden { missing } => ApiError::insufficient_scope(missing),
            EngineError::Escalation { scopes } => ApiError::escalation(scopes),
            EngineError::ExceedsParentBounds { field, detail } => {
                let mut api = ApiError::of(Code::ExceedsParentBounds, detail);
                api.0.field = Some(field.into());
                api
            }
            EngineError::SudoRequired { window_seconds } => ApiError::sudo_required(window_seconds),
            EngineError::ConfirmationRequired { broader } => ApiError::confirmation_required(&broader),
            EngineError::PolicyViolation { violations } => ApiError::policy_violation(violations),
            EngineError::NotOwner => ApiError::of(
                Code::NotTokenOwner,
                "Developers issue, change and revoke only tokens they own; ask an admin for others.",
            ),
            EngineError::InvalidCredentials => {
                ApiError::of(Code::InvalidCredentials, "The email or password is wrong.")
            }
            EngineError::Throttled { retry_after_seconds } => ApiError::sign_in_throttled(retry_after_seconds),
            EngineError::SignUpClosed => {
                ApiError::of(Code::SignupClosed, "This deployment admits new users by invitation only.")
            }
            EngineError::InvitationInvalid => ApiError::of(
                Code::InvitationInvalid,
                "The invitation is unknown, used, withdrawn or expired; ask for a new one.",
            ),
            EngineError::NoMembership => {
                ApiError::of(Code::NoMembership, "This account is not a member of that organization.")
            }
            EngineError::Rejected { code, detail } => match Code::named(code, StatusCode::CONFLICT) {
                Some(code) => ApiError::of(code, detail),
                // A code the table does not list yet keeps its name (a test guards against this).
                None => ApiError::new(StatusCode::CONFLICT, code, "Conflict", detail),
            },
            EngineError::DestinationForbidden { field, refusal } => ApiError::destination_forbidden(field, &refusal),
            EngineError::NotFound(what) => ApiError::of(Code::NotFound, format!("No such {what}.")),
            EngineError::Conflict(what) => ApiError::of(
                Code::Conflict,
                "The request conflicts with existing data; retry it.",
            )
            .logged(false, "store conflict", what),
            EngineError::AlreadyCreated { token_id, created_at } => ApiError::already_created(token_id, created_at),
            EngineError::KeyspaceExists { id, name } => {
                let detail = format!("A keyspace named {name:?} exists already ({id}); names are unique here.");
                let mut api = ApiError::of(Code::KeyspaceExists, detail);
                api.0.keyspace_id = Some(id);
                api
            }
            EngineError::Store(StoreError::Backend(inner)) => ApiError::store_unavailable(inner.as_ref()),
            EngineError::Store(other) => ApiError::internal(&other),
            EngineError::Rng(rng) => ApiError::internal(&rng),
        }
    }
}

/// The engine's refusals that carry more than a code and a sentence.
impl ApiError {
    fn insufficient_scope(missing: Vec<String>) -> Self {
        let mut api =
            ApiError::of(Code::InsufficientScope, format!("This call needs the scope(s): {}.", missing.join(", ")));
        api.0.challenge =
            Some(format!("Bearer realm=\"{REALM}\", error=\"insufficient_scope\", scope=\"{}\"", missing.join(" ")));
        api.0.missing_scopes = Some(missing);
        api
    }

    fn escalation(scopes: Vec<String>) -> Self {
        let mut api = ApiError::of(
            Code::ScopeEscalation,
            format!("A token can only grant scopes it holds itself; the caller lacks: {}.", scopes.join(", ")),
        );
        api.0.field = Some("scopes".into());
        api.0.missing_scopes = Some(scopes);
        api
    }

    fn sudo_required(window_seconds: u64) -> Self {
        ApiError::of(
            Code::SudoRequired,
            format!(
                "Minting a management credential from a session needs the password typed within the last {} \
                 minutes; confirm it with POST /v1/sessions/current/confirm-password and retry.",
                window_seconds / 60
            ),
        )
    }

    fn confirmation_required(broader: &[String]) -> Self {
        let mut api = ApiError::of(Code::ConfirmationRequired, format!(
                "The new scopes grant more than the old ones ({}); resend with `confirm_broader_scopes: true` to widen them.",
                broader.join(", ")
            ),
        );
        api.0.field = Some("confirm_broader_scopes".into());
        api
    }

    fn policy_violation(violations: Vec<keyward_engine::PolicyProblem>) -> Self {
        let detail = violations.iter().map(|v| v.detail.as_str()).collect::<Vec<_>>().join(" ");
        let mut api = ApiError::of(Code::PolicyViolation, detail);
        api.0.field = violations.first().map(|v| v.field.to_owned());
        api.0.violations = Some(violations.into_iter().map(Into::into).collect());
        api
    }

    fn sign_in_throttled(retry_after_seconds: u64) -> Self {
        let mut api = ApiError::of(
            Code::SignInThrottled,
            format!("Too many failed sign-ins; try again in {retry_after_seconds} seconds."),
        );
        api.0.retry_after = Some(retry_after_seconds);
        api
    }

    fn destination_forbidden(field: &'static str, refusal: &keyward_core::egress::Refusal) -> Self {
        let mut api = ApiError::of(
            Code::WebhookDestinationForbidden,
            format!(
                "{field} points into a network webhooks may not reach: {refusal}. Refused by the `{}` rule; {}.",
                refusal.rule.code(),
                refusal.remedy()
            ),
        );
        api.0.field = Some(field.into());
        api
    }

    fn already_created(token_id: String, created_at: chrono::DateTime<chrono::Utc>) -> Self {
        let mut api = ApiError::of(
            Code::AlreadyCreated,
            format!(
                "A request with this Idempotency-Key created token {token_id} at {}; this one created nothing. Its \
                 secret was shown to that request only and is not kept: if that answer was lost, rotate the token.",
                created_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            ),
        );
        api.0.token_id = Some(token_id);
        api
    }
}

/// Marks a response that refused a management call for the caller's
/// standing (403) or for an id it does not see (404): the edge audits
/// these (see [`crate::refusals`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused {
    /// The problem code answered.
    pub code: &'static str,
}

impl Refused {
    /// The marker for a response with `status` and problem `code`, when it
    /// is a refusal worth auditing.
    pub fn of(status: StatusCode, code: &'static str) -> Option<Self> {
        const AUDITED: [Code; 4] =
            [Code::InsufficientScope, Code::ScopeEscalation, Code::NotTokenOwner, Code::NotFound];
        let audited = AUDITED.iter().any(|known| known.status() == status && known.as_str() == code);
        audited.then_some(Self { code })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let details = *self.0;
        let refused = Refused::of(details.status, details.code);
        let problem = Problem {
            problem_type: format!("urn:keyward:problem:{}", details.code),
            title: details.title,
            status: details.status.as_u16(),
            detail: details.detail,
            code: details.code,
            field: details.field,
            missing_scopes: details.missing_scopes,
            violations: details.violations,
            token_id: details.token_id,
            keyspace_id: details.keyspace_id,
        };
        let body = serde_json::to_vec(&problem).unwrap_or_default();
        let mut response = (details.status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        if let Some(challenge) = details.challenge.and_then(|c| HeaderValue::from_str(&c).ok()) {
            headers.insert(header::WWW_AUTHENTICATE, challenge);
        }
        // A 503 without a hint invites clients to hammer a struggling server.
        let retry_after = details.retry_after.or((details.status == StatusCode::SERVICE_UNAVAILABLE).then_some(1));
        if let Some(seconds) = retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if details.close {
            headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        if let Some(cause) = details.cause {
            response.extensions_mut().insert(cause);
        }
        if let Some(refused) = refused {
            response.extensions_mut().insert(refused);
        }
        response
    }
}
