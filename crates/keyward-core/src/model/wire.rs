//! The serde shape of a [`TokenRecord`], pinned: it stays flat, one key
//! per stored column as before its fields were grouped, because fixtures
//! written as JSON depend on it. Reading flat JSON back refuses a half-set
//! group as a stored row would be.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{
    AutoRotate, DisabledReason, Disabling, PartialGroup, Replacement, Revocation, RevokedReason, TokenRecord,
    TokenUsage,
};
use crate::token::Environment;

/// [`TokenRecord`] as it was declared flat; the field order is the key order.
#[derive(Serialize, Deserialize)]
pub(super) struct FlatRecord {
    id: String,
    org_id: String,
    keyspace_id: String,
    management: bool,
    name: String,
    owner: String,
    scopes: Vec<String>,
    allowed_ips: Vec<crate::ip::IpNet>,
    metadata: serde_json::Value,
    environment: Environment,
    prefix: String,
    last4: String,
    created_at: DateTime<Utc>,
    created_by: String,
    #[serde(default)]
    parent_token_id: Option<String>,
    #[serde(default)]
    expiry_ceiling: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    idempotency_key: Option<String>,
    expires_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
    revoked_reason: Option<RevokedReason>,
    rotated_from: Option<String>,
    replaced_by: Option<String>,
    rotated_at: Option<DateTime<Utc>>,
    expires_at_before_rotation: Option<DateTime<Utc>>,
    disabled_at: Option<DateTime<Utc>>,
    disabled_reason: Option<DisabledReason>,
    enabled_at: Option<DateTime<Utc>>,
    rotation_period_days: Option<u32>,
    auto_rotate: Option<AutoRotate>,
    last_used_at: Option<DateTime<Utc>>,
    use_count: i64,
}

impl From<TokenRecord> for FlatRecord {
    fn from(token: TokenRecord) -> Self {
        let (revoked_at, revoked_reason) = (token.revoked_at(), token.revoked_reason());
        let (disabled_at, disabled_reason) = (token.disabled_at(), token.disabled_reason());
        let (rotated_at, expires_at_before_rotation) = (token.rotated_at(), token.expires_at_before_rotation());
        FlatRecord {
            id: token.id,
            org_id: token.org_id,
            keyspace_id: token.keyspace_id,
            management: token.management,
            name: token.name,
            owner: token.owner,
            scopes: token.scopes,
            allowed_ips: token.allowed_ips,
            metadata: token.metadata,
            environment: token.environment,
            prefix: token.prefix,
            last4: token.last4,
            created_at: token.created_at,
            created_by: token.created_by,
            parent_token_id: token.parent_token_id,
            expiry_ceiling: token.expiry_ceiling,
            idempotency_key: token.idempotency_key,
            expires_at: token.expires_at,
            revoked_at,
            revoked_reason,
            rotated_from: token.rotated_from,
            replaced_by: token.replacement.map(|replacement| replacement.by),
            rotated_at,
            expires_at_before_rotation,
            disabled_at,
            disabled_reason,
            enabled_at: token.enabled_at,
            rotation_period_days: token.rotation_period_days,
            auto_rotate: token.auto_rotate,
            last_used_at: token.usage.last_used_at,
            use_count: token.usage.use_count,
        }
    }
}

impl TryFrom<FlatRecord> for TokenRecord {
    type Error = PartialGroup;

    fn try_from(flat: FlatRecord) -> Result<Self, PartialGroup> {
        Ok(TokenRecord {
            revocation: Revocation::from_columns(flat.revoked_at, flat.revoked_reason)?,
            replacement: Replacement::from_columns(flat.replaced_by, flat.rotated_at, flat.expires_at_before_rotation)?,
            disabling: Disabling::from_columns(flat.disabled_at, flat.disabled_reason)?,
            usage: TokenUsage { last_used_at: flat.last_used_at, use_count: flat.use_count },
            id: flat.id,
            org_id: flat.org_id,
            keyspace_id: flat.keyspace_id,
            management: flat.management,
            name: flat.name,
            owner: flat.owner,
            scopes: flat.scopes,
            allowed_ips: flat.allowed_ips,
            metadata: flat.metadata,
            environment: flat.environment,
            prefix: flat.prefix,
            last4: flat.last4,
            created_at: flat.created_at,
            created_by: flat.created_by,
            parent_token_id: flat.parent_token_id,
            expiry_ceiling: flat.expiry_ceiling,
            idempotency_key: flat.idempotency_key,
            expires_at: flat.expires_at,
            rotated_from: flat.rotated_from,
            enabled_at: flat.enabled_at,
            rotation_period_days: flat.rotation_period_days,
            auto_rotate: flat.auto_rotate,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests_support::record;
    use super::super::*;
    use crate::clock::micros_to_datetime;

    const DAY: i64 = 86_400_000_000;

    /// Every optional field set, whatever the lifecycle would allow, so
    /// that each key's name and position is pinned.
    fn full() -> TokenRecord {
        let mut token = record(Some(1_812_000_000_000_000), Some(1_811_000_000_000_000));
        token.allowed_ips = vec!["10.0.0.0/8".parse().unwrap()];
        token.scopes = vec!["invoices:read".into()];
        token.parent_token_id = Some("tok_parent".into());
        token.expiry_ceiling = Some(micros_to_datetime(1_813_000_000_000_000));
        token.idempotency_key = Some("key-1".into());
        token.revocation =
            Some(Revocation { at: micros_to_datetime(1_811_000_000_000_000), reason: Some(RevokedReason::Leaked) });
        token.rotated_from = Some("tok_before".into());
        token.replacement = Some(Replacement {
            by: "tok_after".into(),
            at: micros_to_datetime(1_810_000_000_000_000),
            expires_at_before: Some(micros_to_datetime(1_812_000_000_000_000 + DAY)),
        });
        token.disabling =
            Some(Disabling { at: micros_to_datetime(1_809_000_000_000_000), reason: Some(DisabledReason::Inactivity) });
        token.enabled_at = Some(micros_to_datetime(1_808_000_000_000_000));
        token.rotation_period_days = Some(30);
        token.auto_rotate = Some(AutoRotate { webhook_id: "whk_x".into(), grace_period_seconds: 600 });
        token.usage = TokenUsage { last_used_at: Some(micros_to_datetime(1_807_000_000_000_000)), use_count: 42 };
        token
    }

    const FULL: &str = r#"{"id":"tok_x","org_id":"org_x","keyspace_id":"ks_x","management":false,"name":"n","owner":"o","scopes":["invoices:read"],"allowed_ips":["10.0.0.0/8"],"metadata":{},"environment":"test","prefix":"kw","last4":"abcd","created_at":"1970-01-01T00:00:00Z","created_by":"system","parent_token_id":"tok_parent","expiry_ceiling":"2027-06-14T19:06:40Z","idempotency_key":"key-1","expires_at":"2027-06-03T05:20:00Z","revoked_at":"2027-05-22T15:33:20Z","revoked_reason":"leaked","rotated_from":"tok_before","replaced_by":"tok_after","rotated_at":"2027-05-11T01:46:40Z","expires_at_before_rotation":"2027-06-04T05:20:00Z","disabled_at":"2027-04-29T12:00:00Z","disabled_reason":"inactivity","enabled_at":"2027-04-17T22:13:20Z","rotation_period_days":30,"auto_rotate":{"webhook_id":"whk_x","grace_period_seconds":600},"last_used_at":"2027-04-06T08:26:40Z","use_count":42}"#;

    const BARE: &str = r#"{"id":"tok_x","org_id":"org_x","keyspace_id":"ks_x","management":false,"name":"n","owner":"o","scopes":[],"allowed_ips":[],"metadata":{},"environment":"test","prefix":"kw","last4":"abcd","created_at":"1970-01-01T00:00:00Z","created_by":"system","parent_token_id":null,"expiry_ceiling":null,"expires_at":null,"revoked_at":null,"revoked_reason":null,"rotated_from":null,"replaced_by":null,"rotated_at":null,"expires_at_before_rotation":null,"disabled_at":null,"disabled_reason":null,"enabled_at":null,"rotation_period_days":null,"auto_rotate":null,"last_used_at":null,"use_count":0}"#;

    #[test]
    fn the_serde_shape_is_flat_and_unchanged() {
        assert_eq!(serde_json::to_string(&full()).unwrap(), FULL);
        assert_eq!(serde_json::to_string(&record(None, None)).unwrap(), BARE);
        assert_eq!(serde_json::from_str::<TokenRecord>(FULL).unwrap(), full());
        assert_eq!(serde_json::from_str::<TokenRecord>(BARE).unwrap(), record(None, None));
    }

    #[test]
    fn flat_json_with_a_half_set_group_is_refused() {
        let half = BARE.replace(r#""rotated_at":null"#, r#""rotated_at":"2027-05-11T01:46:40Z""#);
        let error = serde_json::from_str::<TokenRecord>(&half).unwrap_err().to_string();
        assert!(error.contains("rotated_at set without replaced_by"), "{error}");
        let half = BARE.replace(r#""disabled_reason":null"#, r#""disabled_reason":"inactivity""#);
        assert!(serde_json::from_str::<TokenRecord>(&half).is_err());
    }
}
