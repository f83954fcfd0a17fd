//! The inserts and the small steps mutations are made of (an organization,
//! a keyspace, a token, an audit event's row, a revocation, a rotation's
//! handoff), written once:
//! their columns are the same in both schemas, and SQLite reads `$n`
//! placeholders as PostgreSQL does. How JSON and counts are bound is the
//! dialect's.

use std::marker::PhantomData;

use chrono::{DateTime, Utc};
use keyward_core::model::{AuditEvent, Keyspace, Organization, RevokedReason, TokenRecord};
use keyward_core::TokenDigest;
use keyward_store::{Handoff, StoreError, StoredToken};
use sqlx::{Database, Encode, Executor, FromRow, IntoArguments, Type};

use crate::rows::{TokenRow, TOKEN_COLUMNS};
use crate::{backend, Dialect};

/// A connection of the dialect's database (inside a transaction, usually).
pub type Connection<D> = <<D as Dialect>::Db as Database>::Connection;

/// The shared writes of dialect `D`. One `where` clause names, once, the
/// encodings they need of `D`'s database.
pub struct Writes<D>(PhantomData<D>);

impl<D: Dialect> Writes<D>
where
    for<'c> &'c mut Connection<D>: Executor<'c, Database = D::Db>,
    for<'q> <D::Db as Database>::Arguments<'q>: IntoArguments<'q, D::Db>,
    for<'q> String: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> &'q str: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> &'q [u8]: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> i64: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> bool: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> D::Json: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> D::Count: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> Option<i64>: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> Option<&'q str>: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> Option<String>: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> Option<D::Json>: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> Option<D::Count>: Encode<'q, D::Db> + Type<D::Db>,
    for<'r> TokenRow<D::Json, D::Count>: FromRow<'r, <D::Db as Database>::Row> + Send + Unpin,
{
    /// Inserts an organization's row.
    pub async fn organization(connection: &mut Connection<D>, organization: &Organization) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO organizations (id, name, operator, token_policy, created_at, created_by)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&organization.id)
        .bind(&organization.name)
        .bind(organization.operator)
        .bind(D::json(&organization.token_policy)?)
        .bind(organization.created_at.timestamp_micros())
        .bind(&organization.created_by)
        .execute(connection)
        .await
        .map_err(backend)?;
        Ok(())
    }

    /// Inserts a keyspace's row.
    pub async fn keyspace(connection: &mut Connection<D>, keyspace: &Keyspace) -> Result<(), StoreError> {
        let catalog = keyspace.scope_catalog.as_ref().map(D::json).transpose()?;
        sqlx::query(
            "INSERT INTO keyspaces (id, org_id, name, environment, prefix, default_ttl_seconds, scope_catalog, management,
                                    created_at, created_by, rotation_period_days, disable_after_inactive_days)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(&keyspace.id)
        .bind(&keyspace.org_id)
        .bind(&keyspace.name)
        .bind(keyspace.environment.as_str())
        .bind(keyspace.prefix.as_str())
        .bind(keyspace.default_ttl_seconds)
        .bind(catalog)
        .bind(keyspace.management)
        .bind(keyspace.created_at.timestamp_micros())
        .bind(&keyspace.created_by)
        .bind(keyspace.rotation_period_days.map(D::count))
        .bind(keyspace.disable_after_inactive_days.map(D::count))
        .execute(connection)
        .await
        .map_err(backend)?;
        Ok(())
    }

    /// Inserts a token's row, stored under `digest`.
    pub async fn token(
        connection: &mut Connection<D>,
        token: &TokenRecord,
        digest: &TokenDigest,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO tokens (id, org_id, keyspace_id, management, digest, name, owner, scopes, metadata, environment,
                                 prefix, last4, created_at, created_by, expires_at, revoked_at, last_used_at, use_count,
                                 allowed_ips, revoked_reason, rotated_from, replaced_by, rotated_at,
                                 expires_at_before_rotation, rotation_period_days, auto_rotate_webhook_id,
                                 auto_rotate_grace_seconds, parent_token_id, expiry_ceiling,
                                 idempotency_key)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21,
                     $22, $23, $24, $25, $26, $27, $28, $29, $30)",
        )
        .bind(&token.id)
        .bind(&token.org_id)
        .bind(&token.keyspace_id)
        .bind(token.management)
        .bind(&digest.as_bytes()[..])
        .bind(&token.name)
        .bind(&token.owner)
        .bind(D::json(&token.scopes)?)
        .bind(D::json(&token.metadata)?)
        .bind(token.environment.as_str())
        .bind(&token.prefix)
        .bind(&token.last4)
        .bind(token.created_at.timestamp_micros())
        .bind(&token.created_by)
        .bind(token.expires_at.map(|at| at.timestamp_micros()))
        .bind(token.revoked_at().map(|at| at.timestamp_micros()))
        .bind(token.usage.last_used_at.map(|at| at.timestamp_micros()))
        .bind(token.usage.use_count)
        .bind(D::json(&token.allowed_ips)?)
        .bind(token.revoked_reason().map(|reason| reason.as_str()))
        .bind(&token.rotated_from)
        .bind(token.replaced_by())
        .bind(token.rotated_at().map(|at| at.timestamp_micros()))
        .bind(token.expires_at_before_rotation().map(|at| at.timestamp_micros()))
        .bind(token.rotation_period_days.map(D::count))
        .bind(token.auto_rotate.as_ref().map(|auto| auto.webhook_id.as_str()))
        .bind(token.auto_rotate.as_ref().map(|auto| D::count(auto.grace_period_seconds)))
        .bind(&token.parent_token_id)
        .bind(token.expiry_ceiling.map(|at| at.timestamp_micros()))
        .bind(&token.idempotency_key)
        .execute(connection)
        .await
        .map_err(backend)?;
        Ok(())
    }

    /// Logs `event` and queues its webhook deliveries: called inside the
    /// transaction of the change it describes, so neither outlives the other.
    pub async fn event(connection: &mut Connection<D>, event: &AuditEvent) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO audit_events (id, org_id, occurred_at, actor, action, target_type, target_id, request_id, source_ip, details)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(&event.id)
        .bind(&event.org_id)
        .bind(event.occurred_at.timestamp_micros())
        .bind(&event.actor)
        .bind(event.action.as_str())
        .bind(&event.target_type)
        .bind(&event.target_id)
        .bind(&event.request_id)
        .bind(&event.source_ip)
        .bind(D::json(&event.details)?)
        .execute(&mut *connection)
        .await
        .map_err(backend)?;
        if !keyward_core::webhook::is_event_type(event.action.as_str()) {
            return Ok(());
        }
        sqlx::query(D::ENQUEUE_DELIVERIES)
            .bind(&event.id)
            .bind(event.action.as_str())
            .bind(event.occurred_at.timestamp_micros())
            .bind(&event.org_id)
            .execute(connection)
            .await
            .map_err(backend)?;
        Ok(())
    }

    /// Token `id` of `org` with its digest.
    pub async fn stored_token(
        connection: &mut Connection<D>,
        org: &str,
        id: &str,
    ) -> Result<Option<StoredToken>, StoreError> {
        let row: Option<TokenRow<D::Json, D::Count>> =
            sqlx::query_as(&format!("SELECT {TOKEN_COLUMNS}, digest FROM tokens WHERE org_id = $1 AND id = $2"))
                .bind(org)
                .bind(id)
                .fetch_optional(connection)
                .await
                .map_err(backend)?;
        row.map(TokenRow::into_stored).transpose()
    }

    /// Revokes token `id` of `org` at `at` for `reason` unless it is revoked
    /// already, logging `event` only when it was live: whether it was.
    pub async fn revoke_if_live(
        connection: &mut Connection<D>,
        org: &str,
        id: &str,
        at: DateTime<Utc>,
        reason: RevokedReason,
        event: &AuditEvent,
    ) -> Result<bool, StoreError> {
        let newly_revoked = sqlx::query(
            "UPDATE tokens SET revoked_at = $1, revoked_reason = $2 WHERE org_id = $3 AND id = $4 AND revoked_at IS NULL",
        )
        .bind(at.timestamp_micros())
        .bind(reason.as_str())
        .bind(org)
        .bind(id)
        .execute(&mut *connection)
        .await
        .map_err(backend)?;
        let newly_revoked = D::rows_affected(&newly_revoked) == 1;
        if newly_revoked {
            Self::event(connection, event).await?;
        }
        Ok(newly_revoked)
    }

    /// Queues an automatic rotation's one delivery, carrying the sealed new
    /// secret, to the endpoint the token names; fails if that endpoint is gone
    /// (the caller's transaction then rolls back, rotation included).
    pub async fn handoff(connection: &mut Connection<D>, handoff: &Handoff<'_>) -> Result<(), StoreError> {
        let event = handoff.event;
        let queued = sqlx::query(
            "INSERT INTO webhook_deliveries (endpoint_id, event_id, org_id, event_type, status, attempts, created_at,
                                             next_attempt_at, sealed_payload)
             SELECT id, $1, org_id, $2, 'pending', 0, $3, $3, $4 FROM webhook_endpoints
             WHERE id = $5 AND org_id = $6",
        )
        .bind(&event.id)
        .bind(event.action.as_str())
        .bind(event.occurred_at.timestamp_micros())
        .bind(handoff.sealed_token)
        .bind(handoff.endpoint_id)
        .bind(&event.org_id)
        .execute(connection)
        .await
        .map_err(backend)
        .map(|result| D::rows_affected(&result))?;
        if queued == 0 {
            return Err(StoreError::MissingReference(format!("webhook endpoint {}", handoff.endpoint_id)));
        }
        Ok(())
    }
}
