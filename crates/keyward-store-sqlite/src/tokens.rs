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
use sqlx::{QueryBuilder, Sqlite, Transaction};

use crate::audit::insert_event;
use crate::rows::{TokenRow, TOKEN_COLUMNS};
use crate::webhooks;
use crate::SqliteDialect;
use crate::{backend, group_commit, json_text, SqliteStore};
use keyward_store_sql::query::{push_bulk_filter, token_list};
use keyward_store_sql::write::Writes;

/// Active tokens of `owner` at `now`: neither revoked nor expired.
pub(crate) async fn count_active<'c>(
    executor: impl sqlx::SqliteExecutor<'c>,
    org: &str,
    owner: &str,
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let count: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM tokens WHERE org_id = ? AND owner = ? AND revoked_at IS NULL
         AND (expires_at IS NULL OR expires_at > ?)",
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
    tx: &mut Transaction<'_, Sqlite>,
    token: &TokenRecord,
    digest: &TokenDigest,
) -> Result<(), StoreError> {
    Writes::<SqliteDialect>::token(&mut **tx, token, digest).await
}

/// Fails with [`StoreError::Conflict`] when token `id` of `org` is revoked:
/// what it mints must not outlive a revocation that raced the minting.
pub(crate) async fn refuse_if_revoked(tx: &mut Transaction<'_, Sqlite>, org: &str, id: &str) -> Result<(), StoreError> {
    let revoked: Option<Option<i64>> = sqlx::query_scalar("SELECT revoked_at FROM tokens WHERE org_id = ? AND id = ?")
        .bind(org)
        .bind(id)
        .fetch_optional(&mut **tx)
        .await
        .map_err(backend)?;
    match revoked {
        Some(Some(_)) => Err(StoreError::Conflict("the token minting it has been revoked".into())),
        _ => Ok(()),
    }
}

/// Revokes token `id` of `org` at `at` for `reason` unless it is revoked
/// already, logging `event` only when it was live: whether it was.
pub(crate) async fn revoke_if_live(
    tx: &mut Transaction<'_, Sqlite>,
    org: &str,
    id: &str,
    at: DateTime<Utc>,
    reason: RevokedReason,
    event: &AuditEvent,
) -> Result<bool, StoreError> {
    Writes::<SqliteDialect>::revoke_if_live(&mut **tx, org, id, at, reason, event).await
}

pub(crate) async fn stored_token(
    tx: &mut Transaction<'_, Sqlite>,
    org: &str,
    id: &str,
) -> Result<Option<StoredToken>, StoreError> {
    Writes::<SqliteDialect>::stored_token(&mut **tx, org, id).await
}

#[async_trait]
impl TokenStore for SqliteStore {
    async fn count_active_tokens(&self, org: &str, owner: &str, now: DateTime<Utc>) -> Result<u64, StoreError> {
        count_active(&self.reader, org, owner, now).await
    }

    async fn create_token(
        &self,
        token: &TokenRecord,
        digest: &TokenDigest,
        event: &AuditEvent,
        limit: Option<ActiveTokenLimit>,
    ) -> Result<(), StoreError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let job = group_commit::CreateJob { token: token.clone(), digest: *digest, event: event.clone(), limit, reply };
        let stopped = || StoreError::Backend(Box::new(std::io::Error::other("the SQLite writer task has stopped")));
        self.creations.send(job).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }

    async fn find_token_by_digest(&self, digest: &TokenDigest) -> Result<Option<TokenRecord>, StoreError> {
        let row: Option<TokenRow> =
            sqlx::query_as(&format!("SELECT {TOKEN_COLUMNS}, NULL AS digest FROM tokens WHERE digest = ?"))
                .bind(&digest.as_bytes()[..])
                .fetch_optional(&self.reader)
                .await
                .map_err(backend)?;
        row.map(TokenRow::into_record).transpose()
    }

    async fn get_token(&self, org: &str, id: &str) -> Result<Option<TokenRecord>, StoreError> {
        let row: Option<TokenRow> =
            sqlx::query_as(&format!("SELECT {TOKEN_COLUMNS}, NULL AS digest FROM tokens WHERE org_id = ? AND id = ?"))
                .bind(org)
                .bind(id)
                .fetch_optional(&self.reader)
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
        let mut query = token_list::<SqliteDialect>(org, filter, page);
        let rows: Vec<TokenRow> = query.build_query_as().fetch_all(&self.reader).await.map_err(backend)?;
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
        let metadata = update.metadata.as_ref().map(json_text).transpose()?;
        let scopes = update.scopes.as_ref().map(json_text).transpose()?;
        let allowed_ips = update.allowed_ips.as_ref().map(json_text).transpose()?;
        let expected_scopes = update.if_scopes_are.as_ref().map(json_text).transpose()?;
        let mut tx = self.writer.begin().await.map_err(backend)?;
        let changed = sqlx::query(
            "UPDATE tokens SET name = COALESCE(?, name), metadata = COALESCE(?, metadata),
                               scopes = COALESCE(?, scopes), allowed_ips = COALESCE(?, allowed_ips),
                               rotation_period_days = CASE WHEN ?8 THEN ?9 ELSE rotation_period_days END,
                               auto_rotate_webhook_id = CASE WHEN ?10 THEN ?11 ELSE auto_rotate_webhook_id END,
                               auto_rotate_grace_seconds = CASE WHEN ?10 THEN ?12 ELSE auto_rotate_grace_seconds END
             WHERE org_id = ?5 AND id = ?6 AND (?7 IS NULL OR scopes = ?7)",
        )
        .bind(&update.name)
        .bind(metadata)
        .bind(scopes)
        .bind(allowed_ips)
        .bind(org)
        .bind(id)
        .bind(expected_scopes)
        .bind(update.rotation_period_days.is_some())
        .bind(update.rotation_period_days.flatten().map(i64::from))
        .bind(update.auto_rotate.is_some())
        .bind(update.auto_rotate.as_ref().and_then(|auto| auto.as_ref()).map(|auto| auto.webhook_id.clone()))
        .bind(
            update.auto_rotate.as_ref().and_then(|auto| auto.as_ref()).map(|auto| i64::from(auto.grace_period_seconds)),
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
        let mut tx = self.writer.begin().await.map_err(backend)?;
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
        let mut tx = self.writer.begin().await.map_err(backend)?;
        match stored_token(&mut tx, org, id).await? {
            Some(root) if root.record.management => {}
            _ => return Ok(None),
        }
        let newly_revoked = revoke_if_live(&mut tx, org, id, at, reason, event).await?;
        // UNION (not UNION ALL) stops at tokens already reached, so even a
        // corrupt cycle of links ends.
        let rows: Vec<TokenRow> = sqlx::query_as(&format!(
            "WITH RECURSIVE lineage(id) AS (
                 SELECT id FROM tokens WHERE org_id = ?1 AND id = ?2
                 UNION
                 SELECT t.id FROM tokens t JOIN lineage l ON t.parent_token_id = l.id
                  WHERE t.org_id = ?1 AND t.management
             )
             UPDATE tokens SET revoked_at = ?3, revoked_reason = ?4
              WHERE org_id = ?1 AND id <> ?2 AND revoked_at IS NULL
                AND (id IN (SELECT id FROM lineage)
                     OR (?5 AND NOT management AND parent_token_id IN (SELECT id FROM lineage)))
              RETURNING {TOKEN_COLUMNS}, digest"
        ))
        .bind(org)
        .bind(id)
        .bind(at.timestamp_micros())
        .bind(reason.as_str())
        .bind(customer_tokens)
        .fetch_all(&mut *tx)
        .await
        .map_err(backend)?;
        let mut descendants = Vec::with_capacity(rows.len());
        for row in rows {
            let stored = row.into_stored()?;
            insert_event(&mut tx, &revocation_event(&stored.record)?).await?;
            descendants.push(stored);
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
        let mut tx = self.writer.begin().await.map_err(backend)?;
        let query = match switch {
            Switch::Disable(at, reason) => sqlx::query(
                "UPDATE tokens SET disabled_at = ?, disabled_reason = ?
                 WHERE org_id = ? AND id = ? AND revoked_at IS NULL AND disabled_at IS NULL",
            )
            .bind(at.timestamp_micros())
            .bind(reason.as_str()),
            Switch::Enable(at) => sqlx::query(
                "UPDATE tokens SET disabled_at = NULL, disabled_reason = NULL, enabled_at = ?
                 WHERE org_id = ? AND id = ? AND revoked_at IS NULL AND disabled_at IS NOT NULL",
            )
            .bind(at.timestamp_micros()),
            Switch::DisableInactive { at, last_activity_at } => sqlx::query(
                "UPDATE tokens SET disabled_at = ?1, disabled_reason = 'inactivity'
                 WHERE org_id = ?3 AND id = ?4 AND revoked_at IS NULL AND disabled_at IS NULL
                   AND MAX(created_at, COALESCE(last_used_at, 0), COALESCE(enabled_at, 0)) <= ?2",
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
        let mut tx = self.writer.begin().await.map_err(backend)?;
        let row: Option<TokenRow> = sqlx::query_as(&format!(
            "DELETE FROM tokens WHERE org_id = ? AND id = ? RETURNING {TOKEN_COLUMNS}, digest"
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
            "SELECT {TOKEN_COLUMNS}, NULL AS digest FROM tokens t
             WHERE t.org_id = ?1 AND t.id > ?2 AND t.revoked_at IS NULL AND t.disabled_at IS NULL
               AND t.replaced_by IS NULL
               AND (?9 IS NULL OR t.keyspace_id = ?9)
               AND ((t.expires_at > ?3 AND t.expires_at <= ?4
                     AND NOT EXISTS (SELECT 1 FROM lifecycle_notices n
                                     WHERE n.token_id = t.id AND n.kind = 'expired' AND n.about = t.expires_at))
                 OR ((t.expires_at IS NULL OR t.expires_at > ?5)
                     AND ((NOT t.management AND MAX(t.created_at, COALESCE(t.last_used_at, 0), COALESCE(t.enabled_at, 0)) <= ?6)
                       OR (t.created_at + COALESCE(t.rotation_period_days, ?7) * 86400000000 <= ?5
                           AND NOT EXISTS (SELECT 1 FROM lifecycle_notices n
                                           WHERE n.token_id = t.id AND n.kind = 'rotation_due')))))
             ORDER BY t.id LIMIT ?8"
        ))
        .bind(org)
        .bind(after_id.unwrap_or(""))
        .bind(window.expired_since.timestamp_micros())
        .bind(window.expiring_until.timestamp_micros())
        .bind(window.now.timestamp_micros())
        .bind(window.idle_since.map_or(i64::MIN, |at| at.timestamp_micros()))
        .bind(window.rotation_period_days.map(i64::from))
        .bind(i64::from(limit))
        .bind(window.keyspace_id.as_deref())
        .fetch_all(&self.reader)
        .await
        .map_err(backend)?;
        rows.into_iter().map(TokenRow::into_record).collect()
    }

    async fn record_notice(&self, notice: &NoticeWrite<'_>, event: &AuditEvent) -> Result<bool, StoreError> {
        let mut tx = self.writer.begin().await.map_err(backend)?;
        let inserted = sqlx::query(
            "INSERT INTO lifecycle_notices (token_id, kind, about, org_id, noticed_at)
             SELECT id, ?, ?, org_id, ? FROM tokens WHERE org_id = ? AND id = ?
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
        push_bulk_filter::<SqliteDialect>(&mut query, org, filter);
        let count: i64 = query.build_query_scalar().fetch_one(&self.reader).await.map_err(backend)?;
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
        let mut tx = self.writer.begin().await.map_err(backend)?;
        let mut query = QueryBuilder::new("UPDATE tokens SET revoked_at = ");
        query.push_bind(filter.now.timestamp_micros()).push(", revoked_reason = ").push_bind(reason.as_str());
        push_bulk_filter::<SqliteDialect>(&mut query, org, filter);
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
        // The single writer connection serializes this transaction with
        // every other write, so the state read here cannot change under it.
        let mut tx = self.writer.begin().await.map_err(backend)?;
        let Some(old) = stored_token(&mut tx, org, rotation.old_id).await? else {
            return Ok(Guarded::Missing);
        };
        let at = rotation.at.timestamp_micros();
        if old.record.state_at(at) != TokenState::Active || old.record.replaced_by.is_some() {
            return Ok(Guarded::Refused(Box::new(old.record)));
        }
        insert_token(&mut tx, rotation.new_token, rotation.new_digest).await?;
        let sql = match rotation.grace_ends_at {
            None => {
                "UPDATE tokens SET revoked_at = ?1, revoked_reason = 'rotation', replaced_by = ?2, rotated_at = ?1
                 WHERE org_id = ?3 AND id = ?4"
            }
            Some(_) => {
                "UPDATE tokens SET expires_at_before_rotation = expires_at,
                                   expires_at = MIN(COALESCE(expires_at, ?5), ?5), replaced_by = ?2, rotated_at = ?1
                 WHERE org_id = ?3 AND id = ?4"
            }
        };
        let query = sqlx::query(sql).bind(at).bind(&rotation.new_token.id).bind(org).bind(rotation.old_id);
        let query = match rotation.grace_ends_at {
            Some(end) => query.bind(end.timestamp_micros()),
            None => query,
        };
        query.execute(&mut *tx).await.map_err(backend)?;
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
        let mut tx = self.writer.begin().await.map_err(backend)?;
        let changed = sqlx::query(
            "UPDATE tokens SET expires_at = MIN(?1, COALESCE(expires_at_before_rotation, ?1))
             WHERE org_id = ?2 AND id = ?3 AND replaced_by IS NOT NULL AND revoked_at IS NULL AND expires_at > ?4",
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
