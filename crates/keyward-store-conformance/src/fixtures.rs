//! Builders for records and events used by the cases.

use chrono::{DateTime, Utc};
use keyward_core::audit::AuditAction;
use keyward_core::clock::micros_to_datetime;
use keyward_core::id::{new_id, IdKind};
use keyward_core::model::{AuditEvent, CatalogScope, Keyspace, Organization, TokenRecord, TokenUsage};
use keyward_core::{token, Environment, OsRng, TokenDigest, TokenPrefix};
use keyward_store::{Founding, Store};
use serde_json::json;

pub const T0: i64 = 1_800_000_000_000_000;

pub fn at(seconds_after_t0: i64) -> DateTime<Utc> {
    micros_to_datetime(T0 + seconds_after_t0 * 1_000_000)
}

/// The organization most cases work in.
pub const ORG: &str = "org_conformance00000000000";
/// A second tenant, for isolation cases.
pub const OTHER_ORG: &str = "org_othertenant00000000000";
/// Where founding events are filed (the creator's organization), so they
/// do not show up in the audit counts of the organizations under test.
const FOUNDER_ORG: &str = "org_founder000000000000000";

/// Everything founding one organization writes.
pub struct FoundingParts {
    pub organization: Organization,
    pub keyspace: Keyspace,
    pub token: TokenRecord,
    pub digest: TokenDigest,
    pub event: AuditEvent,
}

impl FoundingParts {
    pub fn founding(&self) -> Founding<'_> {
        Founding {
            organization: &self.organization,
            keyspace: &self.keyspace,
            admin: Some((&self.token, &self.digest)),
            owner: None,
            event: &self.event,
        }
    }
}

/// Organization `id` with its management keyspace and admin token; the
/// event is filed in `event_org`'s log.
pub fn founding_parts(id: &str, event_org: &str, created_at: DateTime<Utc>) -> FoundingParts {
    let organization = Organization {
        id: id.into(),
        name: format!("tenant {id}"),
        operator: false,
        token_policy: keyward_core::policy::TokenPolicy::default(),
        created_at,
        created_by: "tok_creator".into(),
    };
    let mut keyspace = keyspace_in(id, "keyward", created_at);
    keyspace.management = true;
    keyspace.scope_catalog = None;
    let (token, digest) = token(&keyspace, "admin", "admin", created_at);
    let mut event = event(AuditAction::OrganizationCreated, "organization", id, created_at);
    event.org_id = event_org.into();
    FoundingParts { organization, keyspace, token, digest, event }
}

/// Creates organization `id` with its management keyspace and admin token,
/// dated before everything the cases create. Returns the management keyspace.
pub async fn found(store: &dyn Store, id: &str) -> Keyspace {
    let parts = founding_parts(id, FOUNDER_ORG, at(-100));
    store.create_organization(&parts.founding()).await.unwrap();
    parts.keyspace
}

/// A keyspace of [`ORG`].
pub fn keyspace(name: &str, created_at: DateTime<Utc>) -> Keyspace {
    keyspace_in(ORG, name, created_at)
}

/// A keyspace of organization `org`.
pub fn keyspace_in(org: &str, name: &str, created_at: DateTime<Utc>) -> Keyspace {
    Keyspace {
        id: new_id(IdKind::Keyspace, &OsRng).unwrap(),
        org_id: org.into(),
        name: name.into(),
        environment: Environment::Test,
        prefix: TokenPrefix::new("kw").unwrap(),
        default_ttl_seconds: Some(3600),
        scope_catalog: Some(vec![
            CatalogScope { scope: "invoices:read".into(), description: "Read invoices".into() },
            CatalogScope { scope: "invoices:write".into(), description: "Créer des factures ✓".into() },
        ]),
        management: false,
        rotation_period_days: None,
        disable_after_inactive_days: None,
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
        org_id: keyspace.org_id.clone(),
        keyspace_id: keyspace.id.clone(),
        management: keyspace.management,
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
        parent_token_id: None,
        expiry_ceiling: None,
        idempotency_key: None,
        expires_at: None,
        revocation: None,
        rotated_from: None,
        replacement: None,
        disabling: None,
        enabled_at: None,
        rotation_period_days: None,
        auto_rotate: None,
        usage: TokenUsage::default(),
    };
    (record, TokenDigest::of(text))
}

/// An event in [`ORG`]'s log.
pub fn event(action: AuditAction, target_type: &str, target_id: &str, occurred_at: DateTime<Utc>) -> AuditEvent {
    AuditEvent {
        id: new_id(IdKind::Event, &OsRng).unwrap(),
        org_id: ORG.into(),
        occurred_at,
        actor: "tok_creator".into(),
        action,
        target_type: target_type.into(),
        target_id: target_id.into(),
        request_id: Some("req-1".into()),
        source_ip: Some("203.0.113.7".into()),
        details: json!({"why": "test"}),
    }
}

/// The creation event of `record`, in its organization's log.
pub fn created(record: &TokenRecord) -> AuditEvent {
    AuditEvent {
        org_id: record.org_id.clone(),
        ..event(AuditAction::TokenCreated, "token", &record.id, record.created_at)
    }
}
