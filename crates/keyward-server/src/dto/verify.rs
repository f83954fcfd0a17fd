//! `POST /v1/verify`: the request and the verdict, borrowed from the cache.

use super::*;

/// `POST /v1/verify`
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyRequest {
    /// The token presented to your service.
    pub token: String,
    /// Scopes the token must all hold.
    #[serde(default)]
    pub required_scopes: Vec<String>,
    /// The address your client connected from. Tokens with an IP allowlist
    /// answer `FORBIDDEN_IP` when it is outside the list or missing.
    pub client_ip: Option<String>,
    /// The keyspace the token must belong to. A token of any other keyspace
    /// (for example a `test` token checked against a `live` keyspace)
    /// answers `NOT_FOUND`.
    pub keyspace_id: Option<String>,
    /// Your client's `User-Agent`. Recorded only for rotated tokens in their
    /// grace period, so their owner can see which clients still use them.
    pub user_agent: Option<String>,
}

/// The verdict. Always HTTP 200; switch on `valid` and `code`. Borrowed
/// from the verification cache: the hot path serializes without copying.
#[derive(Debug, Serialize, ToSchema)]
pub struct VerifyResponse<'a> {
    pub valid: bool,
    /// `VALID`, `MALFORMED`, `NOT_FOUND`, `EXPIRED`, `REVOKED`, `DISABLED`,
    /// `FORBIDDEN_IP` or `INSUFFICIENT_SCOPE`.
    pub code: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub token_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub keyspace_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub environment: Option<Environment>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub owner: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<String>>)]
    pub scopes: Option<&'a [String]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<DateTime<Utc>>,
    /// For `REVOKED`: `user_action`, `rotation`, `policy`, `leaked`,
    /// `suspicious_activity` or `member_removed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub revoked_reason: Option<&'static str>,
    /// For `DISABLED`: `user_action` or `inactivity` (it verifies again once enabled).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub disabled_reason: Option<&'static str>,
    /// For `EXPIRED`: `LIFETIME_ENDED`, or `ROTATION_GRACE_ENDED` for a
    /// token replaced by rotation whose grace period is over.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub expired_reason: Option<&'static str>,
    /// For `VALID`: present (and `true`) when the token was rotated and
    /// verifies only until `expires_at`; tell its client to switch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub in_rotation_grace: Option<bool>,
    /// Required scopes the token lacks (for `INSUFFICIENT_SCOPE`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<String>>)]
    pub missing_scopes: Option<Vec<&'a str>>,
}

impl<'a> From<Verdict<'a>> for VerifyResponse<'a> {
    fn from(verdict: Verdict<'a>) -> Self {
        let token = verdict.token();
        let missing = verdict.missing_scopes();
        Self {
            valid: verdict.is_valid(),
            code: verdict.code.as_str(),
            token_id: token.map(|t| t.id.as_str()),
            name: token.map(|t| t.name.as_str()),
            keyspace_id: token.map(|t| t.keyspace_id.as_str()),
            environment: token.map(|t| t.environment),
            owner: token.map(|t| t.owner.as_str()),
            scopes: token.map(|t| t.scopes.as_slice()),
            metadata: token.map(|t| &t.metadata),
            expires_at: token.and_then(|t| t.expires_at),
            revoked_at: token.and_then(|t| t.revoked_at()),
            revoked_reason: match verdict.code {
                VerifyCode::Revoked => token.and_then(|t| t.revoked_reason()).map(RevokedReason::as_str),
                _ => None,
            },
            disabled_reason: match verdict.code {
                VerifyCode::Disabled => token.and_then(|t| t.disabled_reason()).map(DisabledReason::as_str),
                _ => None,
            },
            expired_reason: match verdict.code {
                VerifyCode::Expired => token.map(|t| t.expiry_cause().as_str()),
                _ => None,
            },
            in_rotation_grace: (verdict.is_valid() && token.is_some_and(|t| t.is_replaced())).then_some(true),
            missing_scopes: (!missing.is_empty()).then_some(missing),
        }
    }
}
