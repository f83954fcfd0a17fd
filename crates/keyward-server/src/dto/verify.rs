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

/// The token's part of a [`VerifyResponse`]: everything read from the record
/// alone, in the answer's own order, so it can be serialized once per cached
/// version of the token and spliced into every later answer.
#[derive(Serialize)]
struct TokenFields<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    token_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    keyspace_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    environment: Option<Environment>,
    #[serde(skip_serializing_if = "Option::is_none")]
    owner: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    scopes: Option<&'a [String]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    metadata: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    expires_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    revoked_at: Option<DateTime<Utc>>,
}

/// The verdict's part that follows the token's fields.
#[derive(Serialize)]
struct VerdictFields<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    revoked_reason: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    disabled_reason: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    expired_reason: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    in_rotation_grace: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    missing_scopes: Option<&'a [&'a str]>,
}

/// The members of a serialized JSON object, without its braces.
fn members<T: Serialize>(value: &T) -> Result<Vec<u8>, serde_json::Error> {
    let mut object = serde_json::to_vec(value)?;
    object.pop();
    object.remove(0);
    Ok(object)
}

impl VerifyResponse<'_> {
    /// The answer as JSON, byte for byte what serializing it gives, with the
    /// token's fields taken from `rendering` (made there on first use): the
    /// verification cache keeps one per cached version of a token, so a hot
    /// token's fields are serialized once, not on every request.
    pub fn to_json(&self, rendering: Option<&std::sync::OnceLock<Box<[u8]>>>) -> Result<Vec<u8>, serde_json::Error> {
        let Some(rendering) = rendering.filter(|_| self.token_id.is_some()) else {
            return serde_json::to_vec(self);
        };
        let token = match rendering.get() {
            Some(token) => token,
            None => {
                let fields = TokenFields {
                    token_id: self.token_id,
                    name: self.name,
                    keyspace_id: self.keyspace_id,
                    environment: self.environment,
                    owner: self.owner,
                    scopes: self.scopes,
                    metadata: self.metadata,
                    expires_at: self.expires_at,
                    revoked_at: self.revoked_at,
                };
                rendering.get_or_init(|| members(&fields).unwrap_or_default().into_boxed_slice())
            }
        };
        // An empty rendering means serializing failed once: answer the slow way.
        if token.is_empty() {
            return serde_json::to_vec(self);
        }
        let mut json = Vec::with_capacity(token.len() + 64);
        json.extend_from_slice(if self.valid { br#"{"valid":true,"code":""# } else { br#"{"valid":false,"code":""# });
        // Codes are upper-case ASCII words: nothing to escape.
        json.extend_from_slice(self.code.as_bytes());
        json.extend_from_slice(b"\",");
        json.extend_from_slice(token);
        let verdict = VerdictFields {
            revoked_reason: self.revoked_reason,
            disabled_reason: self.disabled_reason,
            expired_reason: self.expired_reason,
            in_rotation_grace: self.in_rotation_grace,
            missing_scopes: self.missing_scopes.as_deref(),
        };
        let any = verdict.revoked_reason.is_some()
            || verdict.disabled_reason.is_some()
            || verdict.expired_reason.is_some()
            || verdict.in_rotation_grace.is_some()
            || verdict.missing_scopes.is_some();
        if any {
            json.push(b',');
            json.extend_from_slice(&members(&verdict)?);
        }
        json.push(b'}');
        Ok(json)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::sync::OnceLock;

    fn answers() -> Vec<VerifyResponse<'static>> {
        static SCOPES: OnceLock<Vec<String>> = OnceLock::new();
        static METADATA: OnceLock<Value> = OnceLock::new();
        let scopes = SCOPES.get_or_init(|| vec!["invoices:read".into(), "quo\"ted\\".into()]);
        let metadata =
            METADATA.get_or_init(|| serde_json::json!({"team": "billing", "nested": {"n": 1, "ü": "\u{1}"}}));
        let at = DateTime::parse_from_rfc3339("2026-12-03T18:00:00.123456Z").unwrap().with_timezone(&Utc);
        let valid = VerifyResponse {
            valid: true,
            code: "VALID",
            token_id: Some("tok_0000000000000000000000"),
            name: Some("billing \"worker\" ✓"),
            keyspace_id: Some("ks_0000000000000000000000"),
            environment: Some(Environment::Live),
            owner: Some("usr_0000000000000000000000"),
            scopes: Some(scopes),
            metadata: Some(metadata),
            expires_at: Some(at),
            revoked_at: None,
            revoked_reason: None,
            disabled_reason: None,
            expired_reason: None,
            in_rotation_grace: None,
            missing_scopes: None,
        };
        vec![
            VerifyResponse { expires_at: None, ..valid_clone(&valid) },
            VerifyResponse { in_rotation_grace: Some(true), ..valid_clone(&valid) },
            VerifyResponse {
                valid: false,
                code: "REVOKED",
                revoked_at: Some(at),
                revoked_reason: Some("leaked"),
                ..valid_clone(&valid)
            },
            VerifyResponse {
                valid: false,
                code: "DISABLED",
                disabled_reason: Some("inactivity"),
                ..valid_clone(&valid)
            },
            VerifyResponse {
                valid: false,
                code: "EXPIRED",
                expired_reason: Some("LIFETIME_ENDED"),
                ..valid_clone(&valid)
            },
            VerifyResponse {
                valid: false,
                code: "INSUFFICIENT_SCOPE",
                missing_scopes: Some(vec!["invoices:write", "a\"b"]),
                ..valid_clone(&valid)
            },
            valid,
        ]
    }

    fn valid_clone<'a>(answer: &VerifyResponse<'a>) -> VerifyResponse<'a> {
        VerifyResponse { missing_scopes: answer.missing_scopes.clone(), ..*answer }
    }

    #[test]
    fn the_spliced_answer_is_byte_for_byte_the_serialized_one() {
        for answer in answers() {
            let expected = serde_json::to_vec(&answer).unwrap();
            let rendering = OnceLock::new();
            let first = answer.to_json(Some(&rendering)).unwrap();
            let reused = answer.to_json(Some(&rendering)).unwrap();
            assert_eq!(String::from_utf8(first).unwrap(), String::from_utf8(expected.clone()).unwrap());
            assert_eq!(reused, expected, "the kept rendering gives the same answer");
            assert_eq!(answer.to_json(None).unwrap(), expected);
        }
    }

    #[test]
    fn an_answer_without_a_token_is_serialized_whole() {
        let bare = VerifyResponse {
            valid: false,
            code: "NOT_FOUND",
            token_id: None,
            name: None,
            keyspace_id: None,
            environment: None,
            owner: None,
            scopes: None,
            metadata: None,
            expires_at: None,
            revoked_at: None,
            revoked_reason: None,
            disabled_reason: None,
            expired_reason: None,
            in_rotation_grace: None,
            missing_scopes: None,
        };
        let rendering = OnceLock::new();
        assert_eq!(bare.to_json(Some(&rendering)).unwrap(), br#"{"valid":false,"code":"NOT_FOUND"}"#);
        assert!(rendering.get().is_none(), "nothing is kept for an unknown token");
    }
}
