//! The serde shape of a [`super::TokenRecord`], pinned: it is flat, one key
//! per stored column, and fixtures written as JSON depend on it.

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
        token.revoked_reason = Some(RevokedReason::Leaked);
        token.rotated_from = Some("tok_before".into());
        token.replaced_by = Some("tok_after".into());
        token.rotated_at = Some(micros_to_datetime(1_810_000_000_000_000));
        token.expires_at_before_rotation = Some(micros_to_datetime(1_812_000_000_000_000 + DAY));
        token.disabled_at = Some(micros_to_datetime(1_809_000_000_000_000));
        token.disabled_reason = Some(DisabledReason::Inactivity);
        token.enabled_at = Some(micros_to_datetime(1_808_000_000_000_000));
        token.rotation_period_days = Some(30);
        token.auto_rotate = Some(AutoRotate { webhook_id: "whk_x".into(), grace_period_seconds: 600 });
        token.last_used_at = Some(micros_to_datetime(1_807_000_000_000_000));
        token.use_count = 42;
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
}
