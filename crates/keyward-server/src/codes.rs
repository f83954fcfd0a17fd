//! Every stable problem `code` the API answers, with its HTTP status and
//! title, in one table: a code is named once, its status cannot drift
//! between call sites, and a test checks that every refusal the engine
//! can give is listed. Four codes mean two statuses today (`token_revoked`,
//! `token_expired`, `token_disabled`: 401 for the caller's own token, 409
//! for a token being changed; `no_session`: 404 at the edge, 409 when the
//! session ended meanwhile); the table shows them side by side rather than
//! changing what clients already switch on.

use axum::http::StatusCode;

macro_rules! problem_codes {
    ($($(#[doc = $doc:literal])* $variant:ident = $code:literal, $status:ident, $title:literal;)*) => {
        /// A stable problem code with its status and title.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Code {
            $($(#[doc = $doc])* $variant,)*
        }

        impl Code {
            /// Every code, in table order.
            pub const ALL: &'static [Code] = &[$(Code::$variant,)*];

            /// The wire name clients switch on.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Code::$variant => $code,)*
                }
            }

            /// The HTTP status it is answered with.
            pub const fn status(self) -> StatusCode {
                match self {
                    $(Code::$variant => StatusCode::$status,)*
                }
            }

            /// The problem's short title.
            pub const fn title(self) -> &'static str {
                match self {
                    $(Code::$variant => $title,)*
                }
            }
        }
    };
}

problem_codes! {
    /// The path, query or body could not be read at all.
    InvalidRequest = "invalid_request", BAD_REQUEST, "Invalid request";
    /// The body is not JSON.
    InvalidJson = "invalid_json", BAD_REQUEST, "Invalid JSON";
    /// The body is JSON of the wrong shape.
    InvalidBody = "invalid_body", BAD_REQUEST, "Invalid body";
    /// One field is wrong; `field` names it.
    InvalidField = "invalid_field", BAD_REQUEST, "Invalid field";
    /// The body could not be read as the endpoint expects.
    UnprocessableBody = "unprocessable_body", UNPROCESSABLE_ENTITY, "Unprocessable body";
    /// The body's content type is not accepted here.
    UnsupportedMediaType = "unsupported_media_type", UNSUPPORTED_MEDIA_TYPE, "Unsupported media type";
    /// The body is over the limit.
    PayloadTooLarge = "payload_too_large", PAYLOAD_TOO_LARGE, "Payload too large";
    /// The body stopped arriving.
    RequestTimeout = "request_timeout", REQUEST_TIMEOUT, "Request timeout";
    /// No such endpoint.
    RouteNotFound = "route_not_found", NOT_FOUND, "Not found";
    /// The endpoint does not take that method.
    MethodNotAllowed = "method_not_allowed", METHOD_NOT_ALLOWED, "Method not allowed";
    /// A token was sent in the URL.
    TokenInUrl = "token_in_url", BAD_REQUEST, "Token in URL refused";
    /// Something failed on the server; it is logged.
    Internal = "internal", INTERNAL_SERVER_ERROR, "Internal error";
    /// The token store did not answer.
    StoreUnavailable = "store_unavailable", SERVICE_UNAVAILABLE, "Service unavailable";
    /// `/readyz`: the store does not answer reads.
    StoreUnreadable = "store_unreadable", SERVICE_UNAVAILABLE, "Not ready";
    /// `/readyz`: the store cannot commit writes.
    StoreUnwritable = "store_unwritable", SERVICE_UNAVAILABLE, "Not ready";
    /// `/readyz`: the TLS certificate has expired.
    CertificateExpired = "certificate_expired", SERVICE_UNAVAILABLE, "Not ready";
    /// No valid bearer token or session.
    Unauthorized = "unauthorized", UNAUTHORIZED, "Unauthorized";
    /// The `Authorization` header is malformed.
    InvalidAuthorization = "invalid_authorization", BAD_REQUEST, "Invalid Authorization header";
    /// The caller's token is not a Keyward token.
    TokenMalformed = "token_malformed", UNAUTHORIZED, "Token refused";
    /// The caller's token is not known.
    TokenUnknown = "token_unknown", UNAUTHORIZED, "Token refused";
    /// The caller's token has expired.
    TokenExpired = "token_expired", UNAUTHORIZED, "Token refused";
    /// The caller's token is revoked.
    TokenRevoked = "token_revoked", UNAUTHORIZED, "Token refused";
    /// The caller's token is disabled.
    TokenDisabled = "token_disabled", UNAUTHORIZED, "Token refused";
    /// The caller's token may not be used from this address.
    ForbiddenIp = "forbidden_ip", FORBIDDEN, "Address not allowed";
    /// The caller lacks a scope; `missing_scopes` lists them.
    InsufficientScope = "insufficient_scope", FORBIDDEN, "Insufficient scope";
    /// The session is unknown, expired or signed out.
    SessionExpired = "session_expired", UNAUTHORIZED, "Session expired";
    /// A session's change lacks its CSRF token.
    CsrfFailed = "csrf_failed", FORBIDDEN, "CSRF check failed";
    /// The call needs a signed-in session.
    NoSession = "no_session", NOT_FOUND, "No session";
    /// Wrong email or password.
    InvalidCredentials = "invalid_credentials", UNAUTHORIZED, "Invalid credentials";
    /// Sign-ins are throttled; `Retry-After` says for how long.
    SignInThrottled = "sign_in_throttled", TOO_MANY_REQUESTS, "Too many failed sign-ins";
    /// New users join by invitation only.
    SignupClosed = "signup_closed", FORBIDDEN, "Sign-up closed";
    /// The invitation is unknown, used, withdrawn or expired.
    InvitationInvalid = "invitation_invalid", NOT_FOUND, "Invitation invalid";
    /// The account is not a member of that organization.
    NoMembership = "no_membership", FORBIDDEN, "No membership";
    /// A token may grant only scopes it holds.
    ScopeEscalation = "scope_escalation", FORBIDDEN, "Scope escalation refused";
    /// The acting token's expiry or networks bound this; `field` names what.
    ExceedsParentBounds = "exceeds_parent_bounds", FORBIDDEN, "Beyond a token's bounds";
    /// A session must confirm its password first.
    SudoRequired = "sudo_required", FORBIDDEN, "Password confirmation required";
    /// Widening scopes needs `confirm_broader_scopes`.
    ConfirmationRequired = "confirmation_required", BAD_REQUEST, "Confirmation required";
    /// The organization's token policy refuses this; `violations` lists every rule.
    PolicyViolation = "policy_violation", BAD_REQUEST, "Token policy violated";
    /// A developer manages only tokens they own.
    NotTokenOwner = "not_token_owner", FORBIDDEN, "Not your token";
    /// The webhook URL points into a network deliveries may not reach.
    WebhookDestinationForbidden = "webhook_destination_forbidden", BAD_REQUEST, "Webhook destination forbidden";
    /// No such thing, or one the caller may not see.
    NotFound = "not_found", NOT_FOUND, "Not found";
    /// The request raced another change; retry it.
    Conflict = "conflict", CONFLICT, "Conflict";
    /// The organization has a keyspace of that name; `keyspace_id` names it.
    KeyspaceExists = "keyspace_exists", CONFLICT, "Keyspace exists";
    /// A request with this idempotency key made a token; `token_id` names it.
    AlreadyCreated = "already_created", CONFLICT, "Already created";
    /// The person is a member already.
    AlreadyMember = "already_member", CONFLICT, "Conflict";
    /// A bulk revocation's matching count changed since the dry run.
    CountChanged = "count_changed", CONFLICT, "Conflict";
    /// An account with this email exists.
    EmailTaken = "email_taken", CONFLICT, "Conflict";
    /// The token's expiry ceiling has passed; a rotation would be born expired.
    ExpiryCeilingPassed = "expiry_ceiling_passed", CONFLICT, "Conflict";
    /// The idempotency key made a different token.
    IdempotencyKeyReused = "idempotency_key_reused", CONFLICT, "Conflict";
    /// An organization keeps at least one owner.
    LastOwner = "last_owner", CONFLICT, "Conflict";
    /// Webhooks need the master key configured.
    MasterKeyMissing = "master_key_missing", CONFLICT, "Conflict";
    /// The session ended meanwhile (the same code as `NoSession`, another status).
    SessionEnded = "no_session", CONFLICT, "Conflict";
    /// The token is not in a rotation grace period.
    NotInRotationGrace = "not_in_rotation_grace", CONFLICT, "Conflict";
    /// The setup code is unknown, used or expired.
    SetupInvalid = "setup_invalid", CONFLICT, "Conflict";
    /// The organization has its maximum of webhook endpoints.
    TooManyWebhooks = "too_many_webhooks", CONFLICT, "Conflict";
    /// The token was rotated already.
    TokenAlreadyRotated = "token_already_rotated", CONFLICT, "Conflict";
    /// The token to change is revoked (the same code as `TokenRevoked`, another status).
    RotatedTokenRevoked = "token_revoked", CONFLICT, "Conflict";
    /// The token to change has expired (the same code as `TokenExpired`, another status).
    RotatedTokenExpired = "token_expired", CONFLICT, "Conflict";
    /// The token to change is disabled (the same code as `TokenDisabled`, another status).
    RotatedTokenDisabled = "token_disabled", CONFLICT, "Conflict";
}

impl Code {
    /// The code named `code` answered with `status` (a code the engine or
    /// a readiness check names by its wire name).
    pub fn named(code: &str, status: StatusCode) -> Option<Code> {
        Code::ALL.iter().copied().find(|known| known.as_str() == code && known.status() == status)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_code_and_status_pair_is_listed_once() {
        for (index, code) in Code::ALL.iter().enumerate() {
            let twin = Code::ALL[index + 1..].iter().find(|other| other.as_str() == code.as_str());
            assert!(twin.is_none_or(|twin| twin.status() != code.status()), "{code:?} and {twin:?}");
        }
    }

    /// Every code the engine rejects with (`EngineError::Rejected`, answered
    /// 409) is in the table: otherwise it would be answered as `conflict`.
    #[test]
    fn every_engine_rejection_is_listed() {
        let engine = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../keyward-engine/src");
        let mut found: Vec<String> = Vec::new();
        for entry in std::fs::read_dir(engine).into_iter().flatten().flatten() {
            let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
            let quoted_after = |marker: &str, within: &str| -> Vec<String> {
                within
                    .match_indices(marker)
                    .filter_map(|(at, _)| within[at + marker.len()..].split('"').next().map(str::to_owned))
                    .collect()
            };
            found.extend(quoted_after("code: \"", &text));
            // `rotation::unrotatable` names its codes in a match of tuples.
            if let Some(start) = text.find("fn unrotatable(") {
                let body = &text[start..text[start..].find("\n}\n").map_or(text.len(), |end| start + end)];
                found.extend(quoted_after("(\"", body).into_iter().filter(|code| code.starts_with("token_")));
                found.extend(quoted_after("\"token_", body).into_iter().map(|rest| format!("token_{rest}")));
            }
        }
        let rejections: Vec<&String> = found
            .iter()
            .filter(|code| !code.is_empty() && code.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
            .collect();
        assert!(rejections.len() >= 12, "the scan found too few: {rejections:?}");
        for code in rejections {
            assert!(Code::named(code, StatusCode::CONFLICT).is_some(), "engine code {code} is not in the table");
        }
    }
}
