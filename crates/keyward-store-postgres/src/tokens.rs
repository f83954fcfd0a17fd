//! Tokens: their rows, their states and their lineage.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use keyward_core::model::{AuditEvent, RevokedReason, TokenRecord, TokenState};
use keyward_core::TokenDigest;
use keyward_store::{
    ActiveTokenLimit, BulkFilter, BulkRevocation, Guarded, LifecycleWindow, LineageRevocation, NoticeWrite, Page,
    PageRequest, Revocation, RevocationEvent, RotationWrite, StoreError, StoredToken, Switch, Switched, TokenFilter,
    TokenStore, TokenUpdate,
};
use sqlx::{Postgres, QueryBuilder, Transaction};

use crate::audit::insert_event;
use crate::rows::{TokenRow, TOKEN_COLUMNS};
use crate::webhooks;
use crate::PostgresDialect;
use crate::{backend, json_value, PostgresStore};
use keyward_store_sql::query::{push_bulk_filter, token_list};
use keyward_store_sql::write::Writes;

/// Active tokens of `owner` at `now`: neither revoked nor expired.
pub(crate) async fn count_active<'c>(
    executor: impl sqlx::PgExecutor<'c>,
    org: &str,
    owner: &str,
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let count: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM tokens WHERE org_id = $1 AND owner = $2 AND revoked_at IS NULL
         AND (expires_at IS NULL OR expires_at > $3)",
    )
    .bind(org)
    .bind(owner)
    .bind(now.timestamp_micros())
    .fetch_one(executor)
    .await
    .map_err(backend)?;
    Ok(u64::try_from(count).unwrap_or_default())
}

pub(crate) async fn insert_token(
    tx: &mut Transaction<'_, Postgres>,
    token: &TokenRecord,
    digest: &TokenDigest,
) -> Result<(), StoreError> {
    Writes::<PostgresDialect>::token(&mut **tx, token, digest).await
}

/// Revokes token `id` of `org` at `at` for `reason` unless it is revoked
/// already, logging `event` only when it was live: whether it was.
pub(crate) async fn revoke_if_live(
    tx: &mut Transaction<'_, Postgres>,
    org: &str,
    id: &str,
    at: DateTime<Utc>,
    reason: RevokedReason,
    event: &AuditEvent,
) -> Result<bool, StoreError> {
    Writes::<PostgresDialect>::revoke_if_live(&mut **tx, org, id, at, reason, event).await
}

pub(crate) async fn stored_token(
    tx: &mut Transaction<'_, Postgres>,
    org: &str,
    id: &str,
) -> Result<Option<StoredToken>, StoreError> {
    Writes::<PostgresDialect>::stored_token(&mut **tx, org, id).await
}

#[async_trait]
impl TokenStore for PostgresStore {
    async fn count_active_tokens(&self, org: &str, owner: &str, now: DateTime<Utc>) -> Result<u64, StoreError> {
        count_active(&self.pool, org, owner, now).await
    }

    async fn create_token(
        &self,
        token: &TokenRecord,
        digest: &TokenDigest,
        event: &AuditEvent,
        limit: Option<ActiveTokenLimit>,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        if let Some(limit) = limit {
            // Creations for one owner queue on a lock held to commit, so each
            // counts what the ones before it inserted. (A hash collision only
            // makes two owners wait for each other.)
            sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1 || '/' || $2, 0))")
                .bind(&token.org_id)
                .bind(&token.owner)
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
            if count_active(&mut *tx, &token.org_id, &token.owner, limit.now).await? >= limit.max {
                return Err(StoreError::LimitReached(format!("{} active tokens for this owner", limit.max)));
            }
        }
        if let Some(parent) = &token.parent_token_id {
            // FOR SHARE waits for a revocation of the parent in flight and
            // then sees its outcome: the child is refused, not left behind.
            let revoked: Option<Option<i64>> =
                sqlx::query_scalar("SELECT revoked_at FROM tokens WHERE org_id = $1 AND id = $2 FOR SHARE")
                    .bind(&token.org_id)
                    .bind(parent)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(backend)?;
            if let Some(Some(_)) = revoked {
                return Err(StoreError::Conflict("the token minting it has been revoked".into()));
            }
        }
        insert_token(&mut tx, token, digest).await?;
        insert_event(&mut tx, event).await?;
        tx.commit().await.map_err(backend)
    }

    async fn find_token_by_digest(&self, digest: &TokenDigest) -> Result<Option<TokenRecord>, StoreError> {
        let row: Option<TokenRow> =
            sqlx::query_as(&format!("SELECT {TOKEN_COLUMNS}, NULL::bytea AS digest FROM tokens WHERE digest = $1"))
                .bind(&digest.as_bytes()[..])
                .fetch_optional(&self.pool)
                .await
                .map_err(backend)?;
        row.map(TokenRow::into_record).transpose()
    }

    async fn get_token(&self, org: &str, id: &str) -> Result<Option<TokenRecord>, StoreError> {
        let row: Option<TokenRow> = sqlx::query_as(&format!(
            "SELECT {TOKEN_COLUMNS}, NULL::bytea AS digest FROM tokens WHERE org_id = $1 AND id = $2"
        ))
        .bind(org)
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        row.map(TokenRow::into_record).transpose()
    }

    async fn list_tokens(
        &self,
        org: &str,
        filter: &TokenFilter,
        page: &PageRequest,
    ) -> Result<Page<TokenRecord>, StoreError> {
        let mut query = token_list::<PostgresDialect>(org, filter, page);
        let rows: Vec<TokenRow> = query.build_query_as().fetch_all(&self.pool).await.map_err(backend)?;
        let items = rows.into_iter().map(TokenRow::into_record).collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_rows(items, page, |t| filter.order.cursor_after(t)))
    }

    async fn update_token(
        &self,
        org: &str,
        id: &str,
        update: &TokenUpdate,
        event: &AuditEvent,
    ) -> Result<Option<StoredToken>, StoreError> {
        let scopes = update.scopes.as_ref().map(json_value).transpose()?;
        let allowed_ips = update.allowed_ips.as_ref().map(json_value).transpose()?;
        let expected_scopes = update.if_scopes_are.as_ref().map(json_value).transpose()?;
        let mut tx = self.pool.begin().await.map_err(backend)?;
        let changed = sqlx::query(
            "UPDATE tokens SET name = COALESCE($1, name), metadata = COALESCE($2, metadata),
                               scopes = COALESCE($3, scopes), allowed_ips = COALESCE($4, allowed_ips),
                               rotation_period_days = CASE WHEN $8 THEN $9 ELSE rotation_period_days END,
                               auto_rotate_webhook_id = CASE WHEN $10 THEN $11 ELSE auto_rotate_webhook_id END,
                               auto_rotate_grace_seconds = CASE WHEN $10 THEN $12 ELSE auto_rotate_grace_seconds END
             WHERE org_id = $5 AND id = $6 AND ($7::jsonb IS NULL OR scopes = $7::jsonb)",
        )
        .bind(&update.name)
        .bind(&update.metadata)
        .bind(scopes)
        .bind(allowed_ips)
        .bind(org)
        .bind(id)
        .bind(expected_scopes)
        .bind(update.rotation_period_days.is_some())
        .bind(update.rotation_period_days.flatten().map(|days| i32::try_from(days).unwrap_or(i32::MAX)))
        .bind(update.auto_rotate.is_some())
        .bind(update.auto_rotate.as_ref().and_then(|auto| auto.as_ref()).map(|auto| auto.webhook_id.clone()))
        .bind(
            update
                .auto_rotate
                .as_ref()
                .and_then(|auto| auto.as_ref())
                .map(|auto| i32::try_from(auto.grace_period_seconds).unwrap_or(i32::MAX)),
        )
        .execute(&mut *tx)
        .await
        .map_err(backend)?
        .rows_affected();
        if changed == 0 {
            return match (update.if_scopes_are.is_some(), stored_token(&mut tx, org, id).await?) {
                (true, Some(_)) => Err(StoreError::Conflict("the token's scopes changed concurrently".into())),
                _ => Ok(None),
            };
        }
        insert_event(&mut tx, event).await?;
        let stored = stored_token(&mut tx, org, id).await?;
        tx.commit().await.map_err(backend)?;
        Ok(stored)
    }

    async fn revoke_token(
        &self,
        org: &str,
        id: &str,
        at: DateTime<Utc>,
        reason: RevokedReason,
        event: &AuditEvent,
    ) -> Result<Option<Revocation>, StoreError> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        let newly_revoked = revoke_if_live(&mut tx, org, id, at, reason, event).await?;
        let Some(token) = stored_token(&mut tx, org, id).await? else {
            return Ok(None);
        };
        tx.commit().await.map_err(backend)?;
        Ok(Some(Revocation { token, newly_revoked }))
    }

    async fn revoke_with_descendants(
        &self,
        org: &str,
        id: &str,
        at: DateTime<Utc>,
        reason: RevokedReason,
        customer_tokens: bool,
        event: &AuditEvent,
        revocation_event: RevocationEvent<'_>,
    ) -> Result<Option<LineageRevocation>, StoreError> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        // Locking the root first orders this with a concurrent creation
        // under it (which takes a share lock on its parent).
        let root: Option<bool> =
            sqlx::query_scalar("SELECT management FROM tokens WHERE org_id = $1 AND id = $2 FOR UPDATE")
                .bind(org)
                .bind(id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(backend)?;
        if root != Some(true) {
            return Ok(None);
        }
        let newly_revoked = revoke_if_live(&mut tx, org, id, at, reason, event).await?;
        // UNION (not UNION ALL) stops at tokens already reached, so even a
        // corrupt cycle of links ends. A creation that took its share lock
        // on a descendant before this statement locked it commits a child
        // this statement's snapshot cannot see: statements are repeated
        // (each with a fresh snapshot) until one finds nothing left, and
        // later creations wait on the locks held here, then are refused.
        let sql = format!(
            "WITH RECURSIVE lineage(id) AS (
                 SELECT id FROM tokens WHERE org_id = $1 AND id = $2
                 UNION
                 SELECT t.id FROM tokens t JOIN lineage l ON t.parent_token_id = l.id
                  WHERE t.org_id = $1 AND t.management
             )
             UPDATE tokens SET revoked_at = $3, revoked_reason = $4
              WHERE org_id = $1 AND id <> $2 AND revoked_at IS NULL
                AND (id IN (SELECT id FROM lineage)
                     OR ($5 AND NOT management AND parent_token_id IN (SELECT id FROM lineage)))
              RETURNING {TOKEN_COLUMNS}, digest"
        );
        let mut descendants = Vec::new();
        loop {
            let rows: Vec<TokenRow> = sqlx::query_as(&sql)
                .bind(org)
                .bind(id)
                .bind(at.timestamp_micros())
                .bind(reason.as_str())
                .bind(customer_tokens)
                .fetch_all(&mut *tx)
                .await
                .map_err(backend)?;
            if rows.is_empty() {
                break;
            }
            for row in rows {
                let stored = row.into_stored()?;
                insert_event(&mut tx, &revocation_event(&stored.record)?).await?;
                descendants.push(stored);
            }
        }
        let Some(token) = stored_token(&mut tx, org, id).await? else {
            return Ok(None);
        };
        tx.commit().await.map_err(backend)?;
        Ok(Some(LineageRevocation { root: Revocation { token, newly_revoked }, descendants }))
    }

    async fn switch_token(
        &self,
        org: &str,
        id: &str,
        switch: Switch,
        event: &AuditEvent,
    ) -> Result<Guarded<Switched>, StoreError> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        let query = match switch {
            Switch::Disable(at, reason) => sqlx::query(
                "UPDATE tokens SET disabled_at = $1, disabled_reason = $2
                 WHERE org_id = $3 AND id = $4 AND revoked_at IS NULL AND disabled_at IS NULL",
            )
            .bind(at.timestamp_micros())
            .bind(reason.as_str()),
            Switch::Enable(at) => sqlx::query(
                "UPDATE tokens SET disabled_at = NULL, disabled_reason = NULL, enabled_at = $1
                 WHERE org_id = $2 AND id = $3 AND revoked_at IS NULL AND disabled_at IS NOT NULL",
            )
            .bind(at.timestamp_micros()),
            Switch::DisableInactive { at, last_activity_at } => sqlx::query(
                "UPDATE tokens SET disabled_at = $1, disabled_reason = 'inactivity'
                 WHERE org_id = $3 AND id = $4 AND revoked_at IS NULL AND disabled_at IS NULL
                   AND GREATEST(created_at, COALESCE(last_used_at, 0), COALESCE(enabled_at, 0)) <= $2",
            )
            .bind(at.timestamp_micros())
            .bind(last_activity_at.timestamp_micros()),
        };
        let changed = query.bind(org).bind(id).execute(&mut *tx).await.map_err(backend)?.rows_affected() == 1;
        if changed {
            insert_event(&mut tx, event).await?;
        }
        let Some(token) = stored_token(&mut tx, org, id).await? else {
            return Ok(Guarded::Missing);
        };
        if token.record.revoked_at.is_some() {
            return Ok(Guarded::Refused(Box::new(token.record)));
        }
        tx.commit().await.map_err(backend)?;
        Ok(Guarded::Applied(Switched { token, changed }))
    }

    async fn delete_token(&self, org: &str, id: &str, event: &AuditEvent) -> Result<Option<StoredToken>, StoreError> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        let row: Option<TokenRow> = sqlx::query_as(&format!(
            "DELETE FROM tokens WHERE org_id = $1 AND id = $2 RETURNING {TOKEN_COLUMNS}, digest"
        ))
        .bind(org)
        .bind(id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(backend)?;
        let Some(row) = row else {
            return Ok(None);
        };
        let token = row.into_stored()?;
        insert_event(&mut tx, event).await?;
        tx.commit().await.map_err(backend)?;
        Ok(Some(token))
    }

    async fn lifecycle_candidates(
        &self,
        org: &str,
        window: &LifecycleWindow,
        after_id: Option<&str>,
        limit: u32,
    ) -> Result<Vec<TokenRecord>, StoreError> {
        // The two NOT EXISTS keep announced endings out: without them an
        // expired or overdue token would be read on every pass forever.
        let rows: Vec<TokenRow> = sqlx::query_as(&format!(
            "SELECT {TOKEN_COLUMNS}, NULL::bytea AS digest FROM tokens t
             WHERE t.org_id = $1 AND t.id > $2 AND t.revoked_at IS NULL AND t.disabled_at IS NULL
               AND t.replaced_by IS NULL
               AND ($9::TEXT IS NULL OR t.keyspace_id = $9)
               AND ((t.expires_at > $3 AND t.expires_at <= $4
                     AND NOT EXISTS (SELECT 1 FROM lifecycle_notices n
                                     WHERE n.token_id = t.id AND n.kind = 'expired' AND n.about = t.expires_at))
                 OR ((t.expires_at IS NULL OR t.expires_at > $5)
                     AND ((NOT t.management AND GREATEST(t.created_at, COALESCE(t.last_used_at, 0), COALESCE(t.enabled_at, 0)) <= $6)
                       OR (t.created_at + COALESCE(t.rotation_period_days, $7)::bigint * 86400000000 <= $5
                           AND NOT EXISTS (SELECT 1 FROM lifecycle_notices n
                                           WHERE n.token_id = t.id AND n.kind = 'rotation_due')))))
             ORDER BY t.id LIMIT $8"
        ))
        .bind(org)
        .bind(after_id.unwrap_or(""))
        .bind(window.expired_since.timestamp_micros())
        .bind(window.expiring_until.timestamp_micros())
        .bind(window.now.timestamp_micros())
        .bind(window.idle_since.map_or(i64::MIN, |at| at.timestamp_micros()))
        .bind(window.rotation_period_days.map(|days| i32::try_from(days).unwrap_or(i32::MAX)))
        .bind(i64::from(limit))
        .bind(window.keyspace_id.as_deref())
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        rows.into_iter().map(TokenRow::into_record).collect()
    }

    async fn record_notice(&self, notice: &NoticeWrite<'_>, event: &AuditEvent) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        let inserted = sqlx::query(
            "INSERT INTO lifecycle_notices (token_id, kind, about, org_id, noticed_at)
             SELECT id, $1, $2, org_id, $3 FROM tokens WHERE org_id = $4 AND id = $5
             ON CONFLICT DO NOTHING",
        )
        .bind(notice.kind)
        .bind(notice.about.timestamp_micros())
        .bind(notice.noticed_at.timestamp_micros())
        .bind(notice.org_id)
        .bind(notice.token_id)
        .execute(&mut *tx)
        .await
        .map_err(backend)?
        .rows_affected()
            == 1;
        if inserted {
            insert_event(&mut tx, event).await?;
            tx.commit().await.map_err(backend)?;
        }
        Ok(inserted)
    }

    async fn count_matching(&self, org: &str, filter: &BulkFilter) -> Result<u64, StoreError> {
        let mut query = QueryBuilder::new("SELECT COUNT(*) FROM tokens");
        push_bulk_filter::<PostgresDialect>(&mut query, org, filter);
        let count: i64 = query.build_query_scalar().fetch_one(&self.pool).await.map_err(backend)?;
        Ok(u64::try_from(count).unwrap_or_default())
    }

    async fn revoke_matching(
        &self,
        org: &str,
        filter: &BulkFilter,
        reason: RevokedReason,
        expected: Option<u64>,
        event: &AuditEvent,
        revocation_event: RevocationEvent<'_>,
    ) -> Result<BulkRevocation, StoreError> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        let mut query = QueryBuilder::new("UPDATE tokens SET revoked_at = ");
        query.push_bind(filter.now.timestamp_micros()).push(", revoked_reason = ").push_bind(reason.as_str());
        push_bulk_filter::<PostgresDialect>(&mut query, org, filter);
        query.push(format!(" RETURNING {TOKEN_COLUMNS}, digest"));
        let rows: Vec<TokenRow> = query.build_query_as().fetch_all(&mut *tx).await.map_err(backend)?;
        let count = u64::try_from(rows.len()).unwrap_or(u64::MAX);
        if expected.is_some_and(|expected| expected != count) {
            // Dropping the transaction rolls the update back.
            return Ok(BulkRevocation::CountChanged(count));
        }
        let mut revoked = Vec::with_capacity(rows.len());
        for row in rows {
            let stored = row.into_stored()?;
            insert_event(&mut tx, &revocation_event(&stored.record)?).await?;
            revoked.push(stored);
        }
        insert_event(&mut tx, event).await?;
        tx.commit().await.map_err(backend)?;
        Ok(BulkRevocation::Revoked(revoked))
    }

    async fn rotate_token(&self, org: &str, rotation: &RotationWrite<'_>) -> Result<Guarded<StoredToken>, StoreError> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        // Locked, so a racing rotation (or revocation) waits and then sees
        // this one's outcome rather than the state before it.
        let row: Option<TokenRow> = sqlx::query_as(&format!(
            "SELECT {TOKEN_COLUMNS}, digest FROM tokens WHERE org_id = $1 AND id = $2 FOR UPDATE"
        ))
        .bind(org)
        .bind(rotation.old_id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(backend)?;
        let Some(old) = row.map(TokenRow::into_stored).transpose()? else {
            return Ok(Guarded::Missing);
        };
        let at = rotation.at.timestamp_micros();
        if old.record.state_at(at) != TokenState::Active || old.record.replaced_by.is_some() {
            return Ok(Guarded::Refused(Box::new(old.record)));
        }
        insert_token(&mut tx, rotation.new_token, rotation.new_digest).await?;
        sqlx::query(
            "UPDATE tokens SET
                 revoked_at = CASE WHEN $5::BIGINT IS NULL THEN $1 ELSE revoked_at END,
                 revoked_reason = CASE WHEN $5::BIGINT IS NULL THEN 'rotation' ELSE revoked_reason END,
                 expires_at_before_rotation = CASE WHEN $5::BIGINT IS NULL THEN NULL ELSE expires_at END,
                 expires_at = CASE WHEN $5::BIGINT IS NULL THEN expires_at ELSE LEAST(COALESCE(expires_at, $5), $5) END,
                 replaced_by = $2, rotated_at = $1
             WHERE org_id = $3 AND id = $4",
        )
        .bind(at)
        .bind(&rotation.new_token.id)
        .bind(org)
        .bind(rotation.old_id)
        .bind(rotation.grace_ends_at.map(|end| end.timestamp_micros()))
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        for event in rotation.events {
            insert_event(&mut tx, event).await?;
        }
        if let Some(handoff) = &rotation.handoff {
            insert_event(&mut tx, handoff.event).await?;
            webhooks::queue_handoff(&mut tx, handoff).await?;
        }
        let old = stored_token(&mut tx, org, rotation.old_id).await?;
        tx.commit().await.map_err(backend)?;
        Ok(old.map_or(Guarded::Missing, Guarded::Applied))
    }

    async fn set_rotation_grace(
        &self,
        org: &str,
        id: &str,
        ends_at: DateTime<Utc>,
        now: DateTime<Utc>,
        event: &AuditEvent,
    ) -> Result<Guarded<StoredToken>, StoreError> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        let changed = sqlx::query(
            "UPDATE tokens SET expires_at = LEAST($1, COALESCE(expires_at_before_rotation, $1))
             WHERE org_id = $2 AND id = $3 AND replaced_by IS NOT NULL AND revoked_at IS NULL AND expires_at > $4",
        )
        .bind(ends_at.timestamp_micros())
        .bind(org)
        .bind(id)
        .bind(now.timestamp_micros())
        .execute(&mut *tx)
        .await
        .map_err(backend)?
        .rows_affected();
        let Some(token) = stored_token(&mut tx, org, id).await? else {
            return Ok(Guarded::Missing);
        };
        if changed == 0 {
            return Ok(Guarded::Refused(Box::new(token.record)));
        }
        insert_event(&mut tx, event).await?;
        tx.commit().await.map_err(backend)?;
        Ok(Guarded::Applied(token))
    }
}
