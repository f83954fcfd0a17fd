//! Row shapes both SQL backends read, and their conversion to domain
//! records, written once because both schemas hold the same columns.
//!
//! Two things travel differently: a JSON column is text in SQLite and
//! `jsonb` in PostgreSQL, and a small count (days, seconds) is a 64-bit
//! integer in SQLite and a 32-bit one in PostgreSQL. Each row is generic
//! over those two (`J` and `N`); a backend names its own pair.

use keyward_core::model::{
    AuditEvent, Disabling, Keyspace, Organization, PartialGroup, Replacement, Revocation, TokenRecord, TokenUsage,
};
use keyward_store::{decode, StoreError, StoredToken};

pub const KEYSPACE_COLUMNS: &str =
    "id, org_id, name, environment, prefix, default_ttl_seconds, scope_catalog, management, created_at, created_by, \
     rotation_period_days, disable_after_inactive_days";
pub const TOKEN_COLUMNS: &str =
    "id, org_id, keyspace_id, management, name, owner, scopes, allowed_ips, metadata, environment, prefix, last4, \
     created_at, created_by, expires_at, revoked_at, last_used_at, use_count, revoked_reason, rotated_from, \
     replaced_by, rotated_at, expires_at_before_rotation, disabled_at, disabled_reason, enabled_at, \
     rotation_period_days, auto_rotate_webhook_id, auto_rotate_grace_seconds, parent_token_id, expiry_ceiling, idempotency_key";
pub const AUDIT_COLUMNS: &str =
    "id, org_id, occurred_at, actor, action, target_type, target_id, request_id, source_ip, details";

/// A JSON column as a backend returns it.
pub trait StoredJson {
    /// The value, or [`StoreError::Corrupt`] when the stored text is not JSON.
    fn into_json(self) -> Result<serde_json::Value, StoreError>;
}

impl StoredJson for String {
    fn into_json(self) -> Result<serde_json::Value, StoreError> {
        serde_json::from_str(&self).map_err(|error| StoreError::Corrupt(format!("stored JSON: {error}")))
    }
}

impl StoredJson for serde_json::Value {
    fn into_json(self) -> Result<serde_json::Value, StoreError> {
        Ok(self)
    }
}

/// A row whose grouped columns are half set: Keyward writes each group in
/// one statement, so the row was edited by hand or is damaged.
fn partial(error: PartialGroup) -> StoreError {
    StoreError::Corrupt(error.to_string())
}

/// A stored count of days as a `u32`; a value out of range reads as unset.
fn days<N: Into<i64>>(stored: Option<N>) -> Option<u32> {
    stored.and_then(|days| u32::try_from(days.into()).ok())
}

#[derive(sqlx::FromRow)]
pub struct KeyspaceRow<J, N> {
    id: String,
    org_id: String,
    name: String,
    environment: String,
    prefix: String,
    default_ttl_seconds: Option<i64>,
    scope_catalog: Option<J>,
    management: bool,
    created_at: i64,
    created_by: String,
    rotation_period_days: Option<N>,
    disable_after_inactive_days: Option<N>,
}

impl<J: StoredJson, N: Into<i64>> KeyspaceRow<J, N> {
    pub fn into_keyspace(self) -> Result<Keyspace, StoreError> {
        Ok(Keyspace {
            environment: decode::environment(&self.environment)?,
            prefix: decode::prefix(&self.prefix)?,
            scope_catalog: self
                .scope_catalog
                .map(StoredJson::into_json)
                .transpose()?
                .map(decode::catalog)
                .transpose()?,
            id: self.id,
            org_id: self.org_id,
            name: self.name,
            default_ttl_seconds: self.default_ttl_seconds,
            management: self.management,
            rotation_period_days: days(self.rotation_period_days),
            disable_after_inactive_days: days(self.disable_after_inactive_days),
            created_at: decode::time(self.created_at),
            created_by: self.created_by,
        })
    }
}

#[derive(sqlx::FromRow)]
pub struct TokenRow<J, N> {
    id: String,
    org_id: String,
    keyspace_id: String,
    management: bool,
    name: String,
    owner: String,
    scopes: J,
    allowed_ips: J,
    metadata: J,
    environment: String,
    prefix: String,
    last4: String,
    created_at: i64,
    created_by: String,
    expires_at: Option<i64>,
    revoked_at: Option<i64>,
    last_used_at: Option<i64>,
    use_count: i64,
    revoked_reason: Option<String>,
    rotated_from: Option<String>,
    replaced_by: Option<String>,
    rotated_at: Option<i64>,
    expires_at_before_rotation: Option<i64>,
    disabled_at: Option<i64>,
    disabled_reason: Option<String>,
    enabled_at: Option<i64>,
    rotation_period_days: Option<N>,
    auto_rotate_webhook_id: Option<String>,
    auto_rotate_grace_seconds: Option<N>,
    parent_token_id: Option<String>,
    expiry_ceiling: Option<i64>,
    idempotency_key: Option<String>,
    digest: Option<Vec<u8>>,
}

impl<J: StoredJson, N: Into<i64>> TokenRow<J, N> {
    pub fn into_stored(mut self) -> Result<StoredToken, StoreError> {
        let digest = decode::digest(self.digest.take().as_deref().unwrap_or_default())?;
        Ok(StoredToken { record: self.into_record()?, digest })
    }

    pub fn into_record(self) -> Result<TokenRecord, StoreError> {
        Ok(TokenRecord {
            scopes: decode::string_list(self.scopes.into_json()?)?,
            allowed_ips: decode::ip_list(self.allowed_ips.into_json()?)?,
            metadata: self.metadata.into_json()?,
            environment: decode::environment(&self.environment)?,
            id: self.id,
            org_id: self.org_id,
            keyspace_id: self.keyspace_id,
            management: self.management,
            name: self.name,
            owner: self.owner,
            prefix: self.prefix,
            last4: self.last4,
            created_at: decode::time(self.created_at),
            created_by: self.created_by,
            parent_token_id: self.parent_token_id,
            expiry_ceiling: decode::optional_time(self.expiry_ceiling),
            idempotency_key: self.idempotency_key,
            expires_at: decode::optional_time(self.expires_at),
            revocation: Revocation::from_columns(
                decode::optional_time(self.revoked_at),
                decode::revoked_reason(self.revoked_reason.as_deref())?,
            )
            .map_err(partial)?,
            usage: TokenUsage { last_used_at: decode::optional_time(self.last_used_at), use_count: self.use_count },
            rotated_from: self.rotated_from,
            replacement: Replacement::from_columns(
                self.replaced_by,
                decode::optional_time(self.rotated_at),
                decode::optional_time(self.expires_at_before_rotation),
            )
            .map_err(partial)?,
            disabling: Disabling::from_columns(
                decode::optional_time(self.disabled_at),
                decode::disabled_reason(self.disabled_reason.as_deref())?,
            )
            .map_err(partial)?,
            enabled_at: decode::optional_time(self.enabled_at),
            rotation_period_days: days(self.rotation_period_days),
            auto_rotate: decode::auto_rotate(
                self.auto_rotate_webhook_id,
                self.auto_rotate_grace_seconds.map(Into::into),
            ),
        })
    }
}

#[derive(sqlx::FromRow)]
pub struct AuditRow<J> {
    id: String,
    org_id: String,
    occurred_at: i64,
    actor: String,
    action: String,
    target_type: String,
    target_id: String,
    request_id: Option<String>,
    source_ip: Option<String>,
    details: J,
}

impl<J: StoredJson> AuditRow<J> {
    pub fn into_event(self) -> Result<AuditEvent, StoreError> {
        Ok(AuditEvent {
            details: self.details.into_json()?,
            id: self.id,
            org_id: self.org_id,
            occurred_at: decode::time(self.occurred_at),
            actor: self.actor,
            action: decode::audit_action(&self.action)?,
            target_type: self.target_type,
            target_id: self.target_id,
            request_id: self.request_id,
            source_ip: self.source_ip,
        })
    }
}

pub const ORGANIZATION_COLUMNS: &str = "id, name, operator, token_policy, created_at, created_by";

#[derive(sqlx::FromRow)]
pub struct OrganizationRow<J> {
    id: String,
    name: String,
    operator: bool,
    token_policy: J,
    created_at: i64,
    created_by: String,
}

impl<J: StoredJson> OrganizationRow<J> {
    pub fn into_organization(self) -> Result<Organization, StoreError> {
        Ok(Organization {
            token_policy: decode::policy(self.token_policy.into_json()?)?,
            id: self.id,
            name: self.name,
            operator: self.operator,
            created_at: decode::time(self.created_at),
            created_by: self.created_by,
        })
    }
}
