//! Tokens (their rows, states and lineage), written once for both SQL
//! backends: the statements are the same in both dialects but for a few
//! fragments (`GREATEST` or `MAX`, row locks PostgreSQL takes and SQLite's
//! single writer makes needless). How a creation is admitted stays with
//! each backend: SQLite group-commits them, PostgreSQL serializes one
//! owner's creations on a lock of its own.

use std::marker::PhantomData;

use chrono::{DateTime, Utc};
use keyward_core::model::{AuditEvent, RevokedReason, TokenRecord, TokenState};
use keyward_core::TokenDigest;
use keyward_store::{
    ActiveTokenLimit, BulkRevocation, Guarded, LifecycleWindow, LineageRevocation, NoticeWrite, Page, PageRequest,
    Revocation, RevocationEvent, RotationWrite, StoreError, StoredToken, Switch, Switched, TokenFilter, TokenUpdate,
};
use sqlx::{Database, Encode, Executor, FromRow, IntoArguments, Pool, Transaction, Type};

use crate::rows::{TokenRow, TOKEN_COLUMNS};
use crate::write::{Connection, Writes};
use crate::{backend, Dialect};

/// A token row as dialect `D` returns it.
pub type Row<D> = TokenRow<<D as Dialect>::Json, <D as Dialect>::Count>;

/// A token creation as `TokenStore::create_token` hands it over, for the
/// backend's own admission (see `token_store!`).
#[derive(Debug, Clone, Copy)]
pub struct Creation<'a> {
    /// The token.
    pub token: &'a TokenRecord,
    /// What it is stored under.
    pub digest: &'a TokenDigest,
    /// Its creation's audit event.
    pub event: &'a AuditEvent,
    /// The most active tokens its owner may hold, if limited.
    pub limit: Option<ActiveTokenLimit>,
}

/// The token operations of dialect `D`, on its pools and transactions.
pub struct Tokens<D>(PhantomData<D>);

impl<D: Dialect> Tokens<D>
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
    for<'r> Row<D>: FromRow<'r, <D::Db as Database>::Row> + Send + Unpin,
    for<'r> (i64,): FromRow<'r, <D::Db as Database>::Row>,
    for<'r> (bool,): FromRow<'r, <D::Db as Database>::Row>,
    for<'r> (Option<i64>,): FromRow<'r, <D::Db as Database>::Row>,
{
    async fn insert_event(tx: &mut Transaction<'_, D::Db>, event: &AuditEvent) -> Result<(), StoreError> {
        Writes::<D>::event(&mut **tx, event).await
    }

    async fn stored_token(
        tx: &mut Transaction<'_, D::Db>,
        org: &str,
        id: &str,
    ) -> Result<Option<StoredToken>, StoreError> {
        Writes::<D>::stored_token(&mut **tx, org, id).await
    }

    /// Active tokens of `owner` at `now`: neither revoked nor expired.
    pub async fn count_active<'e, E: Executor<'e, Database = D::Db>>(
        executor: E,
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

    /// Inserts the token and logs its event in `tx`, unless its owner is at
    /// the limit or its parent is revoked. The caller makes the count and
    /// the insert one step (a lock, or a single writer), so creations racing
    /// for one owner are judged one after another.
    pub async fn create_in(tx: &mut Transaction<'_, D::Db>, creation: Creation<'_>) -> Result<(), StoreError> {
        let Creation { token, digest, event, limit } = creation;
        if let Some(limit) = limit {
            if Self::count_active(&mut **tx, &token.org_id, &token.owner, limit.now).await? >= limit.max {
                return Err(StoreError::LimitReached(format!("{} active tokens for this owner", limit.max)));
            }
        }
        if let Some(parent) = &token.parent_token_id {
            // What a token mints must not outlive a revocation that raced
            // the minting: the share lock waits for a revocation of the
            // parent in flight and then sees its outcome.
            let revoked: Option<Option<i64>> = sqlx::query_scalar(&format!(
                "SELECT revoked_at FROM tokens WHERE org_id = $1 AND id = $2{}",
                D::FOR_SHARE
            ))
            .bind(&token.org_id)
            .bind(parent)
            .fetch_optional(&mut **tx)
            .await
            .map_err(backend)?;
            if let Some(Some(_)) = revoked {
                return Err(StoreError::Conflict("the token minting it has been revoked".into()));
            }
        }
        Writes::<D>::token(&mut **tx, token, digest).await?;
        Self::insert_event(tx, event).await
    }

    pub async fn find_by_digest(reader: &Pool<D::Db>, digest: &TokenDigest) -> Result<Option<TokenRecord>, StoreError> {
        let row: Option<Row<D>> = sqlx::query_as(&format!(
            "SELECT {TOKEN_COLUMNS}, {} AS digest FROM tokens WHERE digest = $1",
            D::NO_DIGEST
        ))
        .bind(&digest.as_bytes()[..])
        .fetch_optional(reader)
        .await
        .map_err(backend)?;
        row.map(TokenRow::into_record).transpose()
    }

    pub async fn get(reader: &Pool<D::Db>, org: &str, id: &str) -> Result<Option<TokenRecord>, StoreError> {
        let row: Option<Row<D>> = sqlx::query_as(&format!(
            "SELECT {TOKEN_COLUMNS}, {} AS digest FROM tokens WHERE org_id = $1 AND id = $2",
            D::NO_DIGEST
        ))
        .bind(org)
        .bind(id)
        .fetch_optional(reader)
        .await
        .map_err(backend)?;
        row.map(TokenRow::into_record).transpose()
    }

    /// The page the rows of a token list (`query::token_list`) make.
    pub fn page(rows: Vec<Row<D>>, filter: &TokenFilter, page: &PageRequest) -> Result<Page<TokenRecord>, StoreError> {
        let items = rows.into_iter().map(TokenRow::into_record).collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_rows(items, page, |t| filter.order.cursor_after(t)))
    }

    pub async fn update(
        writer: &Pool<D::Db>,
        org: &str,
        id: &str,
        update: &TokenUpdate,
        event: &AuditEvent,
    ) -> Result<Option<StoredToken>, StoreError> {
        let metadata = update.metadata.as_ref().map(D::json).transpose()?;
        let scopes = update.scopes.as_ref().map(D::json).transpose()?;
        let allowed_ips = update.allowed_ips.as_ref().map(D::json).transpose()?;
        let expected_scopes = update.if_scopes_are.as_ref().map(D::json).transpose()?;
        let auto_rotate = update.auto_rotate.as_ref().and_then(Option::as_ref);
        let mut tx = writer.begin().await.map_err(backend)?;
        let changed = sqlx::query(
            "UPDATE tokens SET name = COALESCE($1, name), metadata = COALESCE($2, metadata),
                               scopes = COALESCE($3, scopes), allowed_ips = COALESCE($4, allowed_ips),
                               rotation_period_days = CASE WHEN $8 THEN $9 ELSE rotation_period_days END,
                               auto_rotate_webhook_id = CASE WHEN $10 THEN $11 ELSE auto_rotate_webhook_id END,
                               auto_rotate_grace_seconds = CASE WHEN $10 THEN $12 ELSE auto_rotate_grace_seconds END
             WHERE org_id = $5 AND id = $6 AND ($7 IS NULL OR scopes = $7)",
        )
        .bind(update.name.as_deref())
        .bind(metadata)
        .bind(scopes)
        .bind(allowed_ips)
        .bind(org)
        .bind(id)
        .bind(expected_scopes)
        .bind(update.rotation_period_days.is_some())
        .bind(update.rotation_period_days.flatten().map(D::count))
        .bind(update.auto_rotate.is_some())
        .bind(auto_rotate.map(|auto| auto.webhook_id.as_str()))
        .bind(auto_rotate.map(|auto| D::count(auto.grace_period_seconds)))
        .execute(&mut *tx)
        .await
        .map_err(backend)
        .map(|result| D::rows_affected(&result))?;
        if changed == 0 {
            return match (update.if_scopes_are.is_some(), Self::stored_token(&mut tx, org, id).await?) {
                (true, Some(_)) => Err(StoreError::Conflict("the token's scopes changed concurrently".into())),
                _ => Ok(None),
            };
        }
        Self::insert_event(&mut tx, event).await?;
        let stored = Self::stored_token(&mut tx, org, id).await?;
        tx.commit().await.map_err(backend)?;
        Ok(stored)
    }

    pub async fn revoke(
        writer: &Pool<D::Db>,
        org: &str,
        id: &str,
        at: DateTime<Utc>,
        reason: RevokedReason,
        event: &AuditEvent,
    ) -> Result<Option<Revocation>, StoreError> {
        let mut tx = writer.begin().await.map_err(backend)?;
        let newly_revoked = Writes::<D>::revoke_if_live(&mut *tx, org, id, at, reason, event).await?;
        let Some(token) = Self::stored_token(&mut tx, org, id).await? else {
            return Ok(None);
        };
        tx.commit().await.map_err(backend)?;
        Ok(Some(Revocation { token, newly_revoked }))
    }

    /// Logs one `revocation_event` for each row revoked: the tokens revoked.
    async fn log_revoked(
        tx: &mut Transaction<'_, D::Db>,
        rows: Vec<Row<D>>,
        revocation_event: RevocationEvent<'_>,
    ) -> Result<Vec<StoredToken>, StoreError> {
        let mut revoked = Vec::with_capacity(rows.len());
        for row in rows {
            let stored = row.into_stored()?;
            Self::insert_event(tx, &revocation_event(&stored.record)?).await?;
            revoked.push(stored);
        }
        Ok(revoked)
    }

    #[allow(clippy::too_many_arguments)]
    pub async fn revoke_with_descendants(
        writer: &Pool<D::Db>,
        org: &str,
        id: &str,
        at: DateTime<Utc>,
        reason: RevokedReason,
        customer_tokens: bool,
        event: &AuditEvent,
        revocation_event: RevocationEvent<'_>,
    ) -> Result<Option<LineageRevocation>, StoreError> {
        let mut tx = writer.begin().await.map_err(backend)?;
        // Locking the root first orders this with a concurrent creation
        // under it (which takes a share lock on its parent).
        let root: Option<bool> = sqlx::query_scalar(&format!(
            "SELECT management FROM tokens WHERE org_id = $1 AND id = $2{}",
            D::FOR_UPDATE
        ))
        .bind(org)
        .bind(id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(backend)?;
        if root != Some(true) {
            return Ok(None);
        }
        let newly_revoked = Writes::<D>::revoke_if_live(&mut *tx, org, id, at, reason, event).await?;
        // UNION (not UNION ALL) stops at tokens already reached, so even a
        // corrupt cycle of links ends. Where writers run side by side
        // (PostgreSQL), a creation that took its share lock on a descendant
        // before this statement locked it commits a child this statement's
        // snapshot cannot see: statements are repeated (each with a fresh
        // snapshot) until one finds nothing left, and later creations wait
        // on the locks held here, then are refused. With a single writer
        // (SQLite) the second statement finds nothing.
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
            let rows: Vec<Row<D>> = sqlx::query_as(&sql)
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
            descendants.extend(Self::log_revoked(&mut tx, rows, revocation_event).await?);
        }
        let Some(token) = Self::stored_token(&mut tx, org, id).await? else {
            return Ok(None);
        };
        tx.commit().await.map_err(backend)?;
        Ok(Some(LineageRevocation { root: Revocation { token, newly_revoked }, descendants }))
    }

    pub async fn switch(
        writer: &Pool<D::Db>,
        org: &str,
        id: &str,
        switch: Switch,
        event: &AuditEvent,
    ) -> Result<Guarded<Switched>, StoreError> {
        let inactive;
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
            Switch::DisableInactive { at, last_activity_at } => {
                inactive = format!(
                    "UPDATE tokens SET disabled_at = $1, disabled_reason = 'inactivity'
                     WHERE org_id = $3 AND id = $4 AND revoked_at IS NULL AND disabled_at IS NULL
                       AND {}(created_at, COALESCE(last_used_at, 0), COALESCE(enabled_at, 0)) <= $2",
                    D::GREATEST
                );
                sqlx::query(&inactive).bind(at.timestamp_micros()).bind(last_activity_at.timestamp_micros())
            }
        };
        let mut tx = writer.begin().await.map_err(backend)?;
        let changed = query
            .bind(org)
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(backend)
            .map(|result| D::rows_affected(&result))?
            == 1;
        if changed {
            Self::insert_event(&mut tx, event).await?;
        }
        let Some(token) = Self::stored_token(&mut tx, org, id).await? else {
            return Ok(Guarded::Missing);
        };
        if token.record.is_revoked() {
            return Ok(Guarded::Refused(Box::new(token.record)));
        }
        tx.commit().await.map_err(backend)?;
        Ok(Guarded::Applied(Switched { token, changed }))
    }

    pub async fn delete(
        writer: &Pool<D::Db>,
        org: &str,
        id: &str,
        event: &AuditEvent,
    ) -> Result<Option<StoredToken>, StoreError> {
        let mut tx = writer.begin().await.map_err(backend)?;
        let row: Option<Row<D>> = sqlx::query_as(&format!(
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
        Self::insert_event(&mut tx, event).await?;
        tx.commit().await.map_err(backend)?;
        Ok(Some(token))
    }

    pub async fn lifecycle_candidates(
        reader: &Pool<D::Db>,
        org: &str,
        window: &LifecycleWindow,
        after_id: Option<&str>,
        limit: u32,
    ) -> Result<Vec<TokenRecord>, StoreError> {
        // The two NOT EXISTS keep announced endings out: without them an
        // expired or overdue token would be read on every pass forever.
        let rows: Vec<Row<D>> = sqlx::query_as(&format!(
            "SELECT {TOKEN_COLUMNS}, {no_digest} AS digest FROM tokens t
             WHERE t.org_id = $1 AND t.id > $2 AND t.revoked_at IS NULL AND t.disabled_at IS NULL
               AND t.replaced_by IS NULL
               AND ($9 IS NULL OR t.keyspace_id = $9)
               AND ((t.expires_at > $3 AND t.expires_at <= $4
                     AND NOT EXISTS (SELECT 1 FROM lifecycle_notices n
                                     WHERE n.token_id = t.id AND n.kind = 'expired' AND n.about = t.expires_at))
                 OR ((t.expires_at IS NULL OR t.expires_at > $5)
                     AND ((NOT t.management AND {greatest}(t.created_at, COALESCE(t.last_used_at, 0), COALESCE(t.enabled_at, 0)) <= $6)
                       OR (t.created_at + COALESCE(t.rotation_period_days, $7) * 86400000000 <= $5
                           AND NOT EXISTS (SELECT 1 FROM lifecycle_notices n
                                           WHERE n.token_id = t.id AND n.kind = 'rotation_due')))))
             ORDER BY t.id LIMIT $8",
            no_digest = D::NO_DIGEST,
            greatest = D::GREATEST,
        ))
        .bind(org)
        .bind(after_id.unwrap_or(""))
        .bind(window.expired_since.timestamp_micros())
        .bind(window.expiring_until.timestamp_micros())
        .bind(window.now.timestamp_micros())
        .bind(window.idle_since.map_or(i64::MIN, |at| at.timestamp_micros()))
        .bind(window.rotation_period_days.map(D::count))
        .bind(i64::from(limit))
        .bind(window.keyspace_id.as_deref())
        .fetch_all(reader)
        .await
        .map_err(backend)?;
        rows.into_iter().map(TokenRow::into_record).collect()
    }

    pub async fn record_notice(
        writer: &Pool<D::Db>,
        notice: &NoticeWrite<'_>,
        event: &AuditEvent,
    ) -> Result<bool, StoreError> {
        let mut tx = writer.begin().await.map_err(backend)?;
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
        .map_err(backend)
        .map(|result| D::rows_affected(&result))?
            == 1;
        if inserted {
            Self::insert_event(&mut tx, event).await?;
            tx.commit().await.map_err(backend)?;
        }
        Ok(inserted)
    }

    /// The rest of a bulk revocation once its update (`query::bulk_revocation`)
    /// returned `rows` in `tx`: with `expected`, nothing is kept unless
    /// exactly that many were taken; otherwise each is logged, then `event`.
    pub async fn finish_bulk_revocation(
        mut tx: Transaction<'_, D::Db>,
        rows: Vec<Row<D>>,
        expected: Option<u64>,
        event: &AuditEvent,
        revocation_event: RevocationEvent<'_>,
    ) -> Result<BulkRevocation, StoreError> {
        let count = u64::try_from(rows.len()).unwrap_or(u64::MAX);
        if expected.is_some_and(|expected| expected != count) {
            // Dropping the transaction rolls the update back.
            return Ok(BulkRevocation::CountChanged(count));
        }
        let revoked = Self::log_revoked(&mut tx, rows, revocation_event).await?;
        Self::insert_event(&mut tx, event).await?;
        tx.commit().await.map_err(backend)?;
        Ok(BulkRevocation::Revoked(revoked))
    }

    pub async fn rotate(
        writer: &Pool<D::Db>,
        org: &str,
        rotation: &RotationWrite<'_>,
    ) -> Result<Guarded<StoredToken>, StoreError> {
        let mut tx = writer.begin().await.map_err(backend)?;
        // Locked (or read by the single writer), so a racing rotation (or
        // revocation) waits and then sees this one's outcome rather than
        // the state before it.
        let row: Option<Row<D>> = sqlx::query_as(&format!(
            "SELECT {TOKEN_COLUMNS}, digest FROM tokens WHERE org_id = $1 AND id = $2{}",
            D::FOR_UPDATE
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
        if old.record.state_at(at) != TokenState::Active || old.record.is_replaced() {
            return Ok(Guarded::Refused(Box::new(old.record)));
        }
        Writes::<D>::token(&mut *tx, rotation.new_token, rotation.new_digest).await?;
        // Without a grace end ($5) the old token is revoked now; with one it
        // stays valid until then (never past its own expiry).
        sqlx::query(&format!(
            "UPDATE tokens SET
                 revoked_at = CASE WHEN $5 IS NULL THEN $1 ELSE revoked_at END,
                 revoked_reason = CASE WHEN $5 IS NULL THEN 'rotation' ELSE revoked_reason END,
                 expires_at_before_rotation = CASE WHEN $5 IS NULL THEN NULL ELSE expires_at END,
                 expires_at = CASE WHEN $5 IS NULL THEN expires_at ELSE {}(COALESCE(expires_at, $5), $5) END,
                 replaced_by = $2, rotated_at = $1
             WHERE org_id = $3 AND id = $4",
            D::LEAST
        ))
        .bind(at)
        .bind(&rotation.new_token.id)
        .bind(org)
        .bind(rotation.old_id)
        .bind(rotation.grace_ends_at.map(|end| end.timestamp_micros()))
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        for event in rotation.events {
            Self::insert_event(&mut tx, event).await?;
        }
        if let Some(handoff) = &rotation.handoff {
            Self::insert_event(&mut tx, handoff.event).await?;
            Writes::<D>::handoff(&mut *tx, handoff).await?;
        }
        let old = Self::stored_token(&mut tx, org, rotation.old_id).await?;
        tx.commit().await.map_err(backend)?;
        Ok(old.map_or(Guarded::Missing, Guarded::Applied))
    }

    pub async fn set_rotation_grace(
        writer: &Pool<D::Db>,
        org: &str,
        id: &str,
        ends_at: DateTime<Utc>,
        now: DateTime<Utc>,
        event: &AuditEvent,
    ) -> Result<Guarded<StoredToken>, StoreError> {
        let mut tx = writer.begin().await.map_err(backend)?;
        let changed = sqlx::query(&format!(
            "UPDATE tokens SET expires_at = {}($1, COALESCE(expires_at_before_rotation, $1))
             WHERE org_id = $2 AND id = $3 AND replaced_by IS NOT NULL AND revoked_at IS NULL AND expires_at > $4",
            D::LEAST
        ))
        .bind(ends_at.timestamp_micros())
        .bind(org)
        .bind(id)
        .bind(now.timestamp_micros())
        .execute(&mut *tx)
        .await
        .map_err(backend)
        .map(|result| D::rows_affected(&result))?;
        let Some(token) = Self::stored_token(&mut tx, org, id).await? else {
            return Ok(Guarded::Missing);
        };
        if changed == 0 {
            return Ok(Guarded::Refused(Box::new(token.record)));
        }
        Self::insert_event(&mut tx, event).await?;
        tx.commit().await.map_err(backend)?;
        Ok(Guarded::Applied(token))
    }
}
