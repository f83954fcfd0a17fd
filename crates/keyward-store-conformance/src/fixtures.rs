//! Builders for records and events used by the cases.

use chrono::{DateTime, Utc};
use keyward_core::clock::micros_to_datetime;
use keyward_core::id::{new_id, IdKind};
use keyward_core::model::{actions, AuditEvent, Keyspace, TokenRecord};
use keyward_core::{token, Environment, OsRng, TokenDigest, TokenPrefix};
use serde_json::json;

pub const T0: i64 = 1_800_000_000_000_000;

pub fn at(seconds_after_t0: i64) -> DateTime<Utc> {
    micros_to_datetime(T0 + seconds_after_t0 * 1_000_000)
}

pub fn keyspace(name: &str, created_at: DateTime<Utc>) -> Keyspace {
    Keyspace {
        id: new_id(IdKind::Keyspace, &OsRng).unwrap(),
        name: name.into(),
        environment: Environment::Test,
        prefix: TokenPrefix::new("kw").unwrap(),
        default_ttl_seconds: Some(3600),
        allowed_scopes: Some(vec!["invoices:read".into(), "invoices:write".into()]),
        management: false,
        created_at,
        created_by: "tok_creator".into(),
    }
}

/// A token record and the digest of a freshly generated secret.
pub fn token(keyspace: &Keyspace, name: &str, owner: &str, created_at: DateTime<Utc>) -> (TokenRecord, TokenDigest) {
    let secret = token::generate(&keyspace.prefix, keyspace.environment, &OsRng).unwrap();
    let text = secret.expose();
    let record = TokenRecord {
        id: new_id(IdKind::Token, &OsRng).unwrap(),
        keyspace_id: keyspace.id.clone(),
        name: name.into(),
        owner: owner.into(),
        scopes: vec!["invoices:read".into()],
        allowed_ips: keyward_core::ip::parse_list(&["203.0.113.0/24", "2001:db8::/32"]).unwrap(),
        metadata: json!({"team": "billing", "n": 1}),
        environment: keyspace.environment,
        prefix: keyspace.prefix.as_str().into(),
        last4: text[text.len() - 4..].into(),
        created_at,
        created_by: "tok_creator".into(),
        expires_at: None,
        revoked_at: None,
        last_used_at: None,
        use_count: 0,
    };
    (record, TokenDigest::of(text))
}

pub fn event(action: &str, target_type: &str, target_id: &str, occurred_at: DateTime<Utc>) -> AuditEvent {
    AuditEvent {
        id: new_id(IdKind::Event, &OsRng).unwrap(),
        occurred_at,
        actor: "tok_creator".into(),
        action: action.into(),
        target_type: target_type.into(),
        target_id: target_id.into(),
        request_id: Some("req-1".into()),
        source_ip: Some("203.0.113.7".into()),
        details: json!({"why": "test"}),
    }
}

pub fn created(record: &TokenRecord) -> AuditEvent {
    event(actions::TOKEN_CREATED, "token", &record.id, record.created_at)
}
