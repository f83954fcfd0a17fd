//! SQLite backend: the embedded default.
//!
//! One file in WAL mode with `synchronous=FULL`, so an acknowledged
//! revocation survives power loss. Writes go through a pool of exactly one
//! connection: SQLite admits one writer at a time anyway, and queueing in the
//! pool is fair and async where SQLite's busy handler would sleep and retry.
//! Token creations, the write that comes in bursts, are group-committed
//! (see `group_commit`). Reads use their own pool and run beside the writer
//! thanks to WAL.

mod accounts;
mod backup;
mod group_commit;
mod rows;
mod webhooks;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use keyward_core::model::{
    AuditEvent, CatalogScope, Invitation, Keyspace, Member, Organization, RevokedReason, ServiceAccount, Session,
    TokenRecord, TokenState, User, WebhookDelivery, WebhookEndpoint,
};
use keyward_core::policy::TokenPolicy;
use keyward_core::role::Role;
use keyward_core::TokenDigest;
use keyward_store::{
    Acceptance, ActiveTokenLimit, AttemptOutcome, AuditFilter, BulkFilter, BulkRevocation, ClientSighting, DailyUsage,
    DueDelivery, Founding, Guarded, KeyspaceLifecycle, LifecycleWindow, LineageRevocation, NoticeWrite, Page,
    PageRequest, Revocation, RevocationEvent, RotationWrite, Store, StoreError, StoredToken, Switch, Switched,
    TokenFilter, TokenOrder, TokenSortKey, TokenUpdate, UsageDelta, VerificationSample, MAX_CLIENTS_PER_TOKEN,
    MAX_SAMPLES_PER_TOKEN,
};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{QueryBuilder, Sqlite, Transaction};

pub use backup::url_file;
use rows::{
    AuditRow, KeyspaceRow, OrganizationRow, TokenRow, AUDIT_COLUMNS, KEYSPACE_COLUMNS, ORGANIZATION_COLUMNS,
    TOKEN_COLUMNS,
};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// A Keyward store in one SQLite file.
#[derive(Clone)]
pub struct SqliteStore {
    reader: SqlitePool,
    writer: SqlitePool,
    creations: tokio::sync::mpsc::Sender<group_commit::CreateJob>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the database file at `path`. Does not migrate.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        Self::open_with(SqliteConnectOptions::new().filename(path)).await
    }

    /// Opens a `sqlite://` URL. Does not migrate.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::open_with(SqliteConnectOptions::from_str(url).map_err(backend)?).await
    }

    async fn open_with(options: SqliteConnectOptions) -> Result<Self, StoreError> {
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .after_release(|connection, _| Box::pin(discard_if_inside_a_transaction(connection)))
            .connect_with(options.clone())
            .await
            .map_err(backend)?;
        let reader =
            SqlitePoolOptions::new().max_connections(8).connect_with(options.read_only(true)).await.map_err(backend)?;
        let creations = group_commit::spawn(writer.clone());
        Ok(Self { reader, writer, creations })
    }

    /// The write pool, for tools (benchmark seeding) that bulk-load rows.
    pub fn writer_pool(&self) -> &SqlitePool {
        &self.writer
    }
}

/// Whether the write connection may be reused: not when a transaction on
/// it ended uncleanly.
///
/// When a write fails with `SQLITE_FULL` or an I/O error, SQLite may roll
/// the whole transaction back on its own; sqlx's rollback then fails and
/// its transaction depth stays raised, so its next `begin` issues a
/// `SAVEPOINT` and its next commit only releases it. A failed `RELEASE`
/// that was to commit leaves SQLite inside the transaction as well. Either
/// way every later write on that connection would answer success and never
/// reach the file. Closing the connection ends whatever SQLite still holds
/// open (uncommitted, so nothing acknowledged is lost) and the pool opens a
/// clean one for the next write.
async fn discard_if_inside_a_transaction(connection: &mut sqlx::SqliteConnection) -> Result<bool, sqlx::Error> {
    use sqlx::Connection;
    // The rollback a dropped transaction queued runs before this ping, so
    // the depth read next is the one it left.
    connection.ping().await?;
    if connection.is_in_transaction() {
        tracing::warn!("discarding the SQLite write connection: a failed write left it inside a transaction");
        return Ok(false);
    }
    Ok(true)
}

pub(crate) fn backend(error: sqlx::Error) -> StoreError {
    if let sqlx::Error::Database(database) = &error {
        if database.is_unique_violation() {
            return StoreError::Conflict(database.message().to_owned());
        }
        if database.is_foreign_key_violation() {
            return StoreError::MissingReference(database.message().to_owned());
        }
    }
    StoreError::Backend(Box::new(error))
}

fn json_text(value: &impl serde::Serialize) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|error| StoreError::Corrupt(error.to_string()))
}

pub(crate) async fn insert_event(tx: &mut Transaction<'_, Sqlite>, event: &AuditEvent) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO audit_events (id, org_id, occurred_at, actor, action, target_type, target_id, request_id, source_ip, details)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&event.id)
    .bind(&event.org_id)
    .bind(event.occurred_at.timestamp_micros())
    .bind(&event.actor)
    .bind(&event.action)
    .bind(&event.target_type)
    .bind(&event.target_id)
    .bind(&event.request_id)
    .bind(&event.source_ip)
    .bind(json_text(&event.details)?)
    .execute(&mut **tx)
    .await
    .map_err(backend)?;
    webhooks::enqueue(tx, event).await
}

async fn insert_keyspace(tx: &mut Transaction<'_, Sqlite>, keyspace: &Keyspace) -> Result<(), StoreError> {
    let catalog = keyspace.scope_catalog.as_ref().map(json_text).transpose()?;
    sqlx::query(
        "INSERT INTO keyspaces (id, org_id, name, environment, prefix, default_ttl_seconds, scope_catalog, management,
                                created_at, created_by, rotation_period_days, disable_after_inactive_days)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
    .bind(keyspace.rotation_period_days.map(i64::from))
    .bind(keyspace.disable_after_inactive_days.map(i64::from))
    .execute(&mut **tx)
    .await
    .map_err(backend)?;
    Ok(())
}

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
    sqlx::query(
        "INSERT INTO tokens (id, org_id, keyspace_id, management, digest, name, owner, scopes, metadata, environment,
                             prefix, last4, created_at, created_by, expires_at, revoked_at, last_used_at, use_count,
                             allowed_ips, revoked_reason, rotated_from, replaced_by, rotated_at,
                             expires_at_before_rotation, rotation_period_days, auto_rotate_webhook_id,
                             auto_rotate_grace_seconds, parent_token_id)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&token.id)
    .bind(&token.org_id)
    .bind(&token.keyspace_id)
    .bind(token.management)
    .bind(&digest.as_bytes()[..])
    .bind(&token.name)
    .bind(&token.owner)
    .bind(json_text(&token.scopes)?)
    .bind(json_text(&token.metadata)?)
    .bind(token.environment.as_str())
    .bind(&token.prefix)
    .bind(&token.last4)
    .bind(token.created_at.timestamp_micros())
    .bind(&token.created_by)
    .bind(token.expires_at.map(|at| at.timestamp_micros()))
    .bind(token.revoked_at.map(|at| at.timestamp_micros()))
    .bind(token.last_used_at.map(|at| at.timestamp_micros()))
    .bind(token.use_count)
    .bind(json_text(&token.allowed_ips)?)
    .bind(token.revoked_reason.map(|reason| reason.as_str()))
    .bind(&token.rotated_from)
    .bind(&token.replaced_by)
    .bind(token.rotated_at.map(|at| at.timestamp_micros()))
    .bind(token.expires_at_before_rotation.map(|at| at.timestamp_micros()))
    .bind(token.rotation_period_days.map(i64::from))
    .bind(token.auto_rotate.as_ref().map(|auto| auto.webhook_id.as_str()))
    .bind(token.auto_rotate.as_ref().map(|auto| i64::from(auto.grace_period_seconds)))
    .bind(&token.parent_token_id)
    .execute(&mut **tx)
    .await
    .map_err(backend)?;
    Ok(())
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

async fn insert_organization(tx: &mut Transaction<'_, Sqlite>, organization: &Organization) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO organizations (id, name, operator, token_policy, created_at, created_by) VALUES (?, ?, ?, ?, ?, ?)",
    )
    .bind(&organization.id)
    .bind(&organization.name)
    .bind(organization.operator)
    .bind(json_text(&organization.token_policy)?)
        .bind(organization.created_at.timestamp_micros())
        .bind(&organization.created_by)
        .execute(&mut **tx)
        .await
        .map_err(backend)?;
    Ok(())
}

/// The rest of a founding after its organization row: keyspace, token, event.
async fn insert_founded(tx: &mut Transaction<'_, Sqlite>, founding: &Founding<'_>) -> Result<(), StoreError> {
    insert_keyspace(tx, founding.keyspace).await?;
    if let Some((token, digest)) = founding.admin {
        insert_token(tx, token, digest).await?;
    }
    if let Some((user, member)) = founding.owner {
        accounts::insert_user(tx, user).await?;
        accounts::insert_member(tx, member).await?;
    }
    insert_event(tx, founding.event).await
}

/// Revokes token `id` of `org` at `at` for `reason` unless it is revoked
/// already, logging `event` only when it was live: whether it was.
async fn revoke_if_live(
    tx: &mut Transaction<'_, Sqlite>,
    org: &str,
    id: &str,
    at: DateTime<Utc>,
    reason: RevokedReason,
    event: &AuditEvent,
) -> Result<bool, StoreError> {
    let newly_revoked = sqlx::query(
        "UPDATE tokens SET revoked_at = ?, revoked_reason = ? WHERE org_id = ? AND id = ? AND revoked_at IS NULL",
    )
    .bind(at.timestamp_micros())
    .bind(reason.as_str())
    .bind(org)
    .bind(id)
    .execute(&mut **tx)
    .await
    .map_err(backend)?
    .rows_affected()
        == 1;
    if newly_revoked {
        insert_event(tx, event).await?;
    }
    Ok(newly_revoked)
}

async fn stored_token(
    tx: &mut Transaction<'_, Sqlite>,
    org: &str,
    id: &str,
) -> Result<Option<StoredToken>, StoreError> {
    let row: Option<TokenRow> =
        sqlx::query_as(&format!("SELECT {TOKEN_COLUMNS}, digest FROM tokens WHERE org_id = ? AND id = ?"))
            .bind(org)
            .bind(id)
            .fetch_optional(&mut **tx)
            .await
            .map_err(backend)?;
    row.map(TokenRow::into_stored).transpose()
}

/// ` WHERE …` selecting the tokens of `org` a bulk revocation with `filter` takes.
fn push_bulk_filter(query: &mut QueryBuilder<'_, Sqlite>, org: &str, filter: &BulkFilter) {
    query.push(" WHERE org_id = ").push_bind(org.to_owned());
    query.push(" AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ");
    query.push_bind(filter.now.timestamp_micros()).push(")");
    if let Some(owner) = &filter.owner {
        query.push(" AND owner = ").push_bind(owner.clone());
    }
    if let Some(keyspace) = &filter.keyspace_id {
        query.push(" AND keyspace_id = ").push_bind(keyspace.clone());
    }
    if let Some(prefix) = &filter.name_prefix {
        // substr rather than LIKE: no wildcard in a name can widen the match.
        query.push(" AND substr(name, 1, length(").push_bind(prefix.clone()).push(")) = ").push_bind(prefix.clone());
    }
    if let Some(scope) = &filter.scope {
        query.push(" AND EXISTS (SELECT 1 FROM json_each(scopes) WHERE json_each.value = ").push_bind(scope.clone());
        query.push(")");
    }
    if !filter.ids.is_empty() {
        query.push(" AND id IN (");
        let mut ids = query.separated(", ");
        for id in &filter.ids {
            ids.push_bind(id.clone());
        }
        query.push(")");
    }
    if let Some(except) = &filter.except_id {
        query.push(" AND id <> ").push_bind(except.clone());
    }
}

fn push_cursor(query: &mut QueryBuilder<'_, Sqlite>, time_column: &str, page: &PageRequest) {
    if let Some(cursor) = &page.after {
        query
            .push(format!(" AND ({time_column} < "))
            .push_bind(cursor.micros)
            .push(format!(" OR ({time_column} = "))
            .push_bind(cursor.micros)
            .push(" AND id < ")
            .push_bind(cursor.id.clone())
            .push("))");
    }
    query.push(format!(" ORDER BY {time_column} DESC, id DESC LIMIT ")).push_bind(page.fetch_limit());
}

/// Appends a token list's keyset condition, order and limit.
fn push_token_order(query: &mut QueryBuilder<'_, Sqlite>, order: TokenOrder, page: &PageRequest) {
    // Byte order after ASCII folding, as SQLite's `lower` and `BINARY` compare.
    let (key, after, direction) = order.keyset_sql("lower(name)");
    if let Some(cursor) = &page.after {
        query.push(format!(" AND ({key} {after} "));
        push_key(query, order, cursor);
        query.push(format!(" OR ({key} = "));
        push_key(query, order, cursor);
        query.push(format!(" AND id {after} ")).push_bind(cursor.id.clone()).push("))");
    }
    query.push(format!(" ORDER BY {key} {direction}, id {direction} LIMIT ")).push_bind(page.fetch_limit());
}

fn push_key(query: &mut QueryBuilder<'_, Sqlite>, order: TokenOrder, cursor: &keyward_store::Cursor) {
    if order.key == TokenSortKey::Name {
        query.push_bind(cursor.text.clone().unwrap_or_default());
    } else {
        query.push_bind(cursor.micros);
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn migrate(&self) -> Result<(), StoreError> {
        MIGRATOR.run(&self.writer).await.map_err(|error| StoreError::Backend(Box::new(error)))
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.reader).await.map_err(backend)?;
        Ok(())
    }

    async fn probe_write(&self) -> Result<(), StoreError> {
        let mut tx = self.writer.begin().await.map_err(backend)?;
        sqlx::query(
            "INSERT INTO store_probe (id, probes) VALUES (1, 1)
             ON CONFLICT (id) DO UPDATE SET probes = store_probe.probes + 1",
        )
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        Ok(())
    }

    async fn bootstrap(&self, founding: &Founding<'_>) -> Result<bool, StoreError> {
        let mut tx = self.writer.begin().await.map_err(backend)?;
        // Claim the single-operator slot first (a write), so the whole
        // check-then-insert runs under SQLite's write lock.
        match insert_organization(&mut tx, founding.organization).await {
            Err(StoreError::Conflict(_)) => return Ok(false),
            other => other?,
        }
        insert_founded(&mut tx, founding).await?;
        tx.commit().await.map_err(backend)?;
        Ok(true)
    }

    async fn operator_organization(&self) -> Result<Option<Organization>, StoreError> {
        let row: Option<OrganizationRow> =
            sqlx::query_as(&format!("SELECT {ORGANIZATION_COLUMNS} FROM organizations WHERE operator = 1"))
                .fetch_optional(&self.reader)
                .await
                .map_err(backend)?;
        row.map(OrganizationRow::into_organization).transpose()
    }

    async fn create_organization(&self, founding: &Founding<'_>) -> Result<(), StoreError> {
        let mut tx = self.writer.begin().await.map_err(backend)?;
        insert_organization(&mut tx, founding.organization).await?;
        insert_founded(&mut tx, founding).await?;
        tx.commit().await.map_err(backend)
    }

    async fn get_organization(&self, id: &str) -> Result<Option<Organization>, StoreError> {
        let row: Option<OrganizationRow> =
            sqlx::query_as(&format!("SELECT {ORGANIZATION_COLUMNS} FROM organizations WHERE id = ?"))
                .bind(id)
                .fetch_optional(&self.reader)
                .await
                .map_err(backend)?;
        row.map(OrganizationRow::into_organization).transpose()
    }

    async fn list_organizations(&self, page: &PageRequest) -> Result<Page<Organization>, StoreError> {
        let mut query = QueryBuilder::new(format!("SELECT {ORGANIZATION_COLUMNS} FROM organizations WHERE 1 = 1"));
        push_cursor(&mut query, "created_at", page);
        let rows: Vec<OrganizationRow> = query.build_query_as().fetch_all(&self.reader).await.map_err(backend)?;
        let items = rows.into_iter().map(OrganizationRow::into_organization).collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_rows(items, page, |o: &Organization| {
            keyward_store::Cursor::at(o.created_at.timestamp_micros(), &o.id)
        }))
    }

    async fn rename_organization(
        &self,
        org: &str,
        name: &str,
        event: &AuditEvent,
    ) -> Result<Option<Organization>, StoreError> {
        let mut tx = self.writer.begin().await.map_err(backend)?;
        let row: Option<OrganizationRow> =
            sqlx::query_as(&format!("UPDATE organizations SET name = ? WHERE id = ? RETURNING {ORGANIZATION_COLUMNS}"))
                .bind(name)
                .bind(org)
                .fetch_optional(&mut *tx)
                .await
                .map_err(backend)?;
        let Some(row) = row else {
            return Ok(None);
        };
        insert_event(&mut tx, event).await?;
        tx.commit().await.map_err(backend)?;
        row.into_organization().map(Some)
    }

    async fn set_token_policy(
        &self,
        org: &str,
        policy: &TokenPolicy,
        event: &AuditEvent,
    ) -> Result<Option<Organization>, StoreError> {
        let mut tx = self.writer.begin().await.map_err(backend)?;
        let row: Option<OrganizationRow> = sqlx::query_as(&format!(
            "UPDATE organizations SET token_policy = ? WHERE id = ? RETURNING {ORGANIZATION_COLUMNS}"
        ))
        .bind(json_text(policy)?)
        .bind(org)
        .fetch_optional(&mut *tx)
        .await
        .map_err(backend)?;
        let Some(row) = row else {
            return Ok(None);
        };
        insert_event(&mut tx, event).await?;
        tx.commit().await.map_err(backend)?;
        row.into_organization().map(Some)
    }

    async fn count_active_tokens(&self, org: &str, owner: &str, now: DateTime<Utc>) -> Result<u64, StoreError> {
        count_active(&self.reader, org, owner, now).await
    }

    async fn management_keyspace(&self, org: &str) -> Result<Option<Keyspace>, StoreError> {
        let row: Option<KeyspaceRow> =
            sqlx::query_as(&format!("SELECT {KEYSPACE_COLUMNS} FROM keyspaces WHERE org_id = ? AND management = 1"))
                .bind(org)
                .fetch_optional(&self.reader)
                .await
                .map_err(backend)?;
        row.map(KeyspaceRow::into_keyspace).transpose()
    }

    async fn create_keyspace(&self, keyspace: &Keyspace, event: &AuditEvent) -> Result<(), StoreError> {
        let mut tx = self.writer.begin().await.map_err(backend)?;
        insert_keyspace(&mut tx, keyspace).await?;
        insert_event(&mut tx, event).await?;
        tx.commit().await.map_err(backend)
    }

    async fn get_keyspace(&self, org: &str, id: &str) -> Result<Option<Keyspace>, StoreError> {
        let row: Option<KeyspaceRow> =
            sqlx::query_as(&format!("SELECT {KEYSPACE_COLUMNS} FROM keyspaces WHERE org_id = ? AND id = ?"))
                .bind(org)
                .bind(id)
                .fetch_optional(&self.reader)
                .await
                .map_err(backend)?;
        row.map(KeyspaceRow::into_keyspace).transpose()
    }

    async fn list_keyspaces(&self, org: &str, page: &PageRequest) -> Result<Page<Keyspace>, StoreError> {
        let mut query = QueryBuilder::new(format!("SELECT {KEYSPACE_COLUMNS} FROM keyspaces WHERE org_id = "));
        query.push_bind(org.to_owned());
        push_cursor(&mut query, "created_at", page);
        let rows: Vec<KeyspaceRow> = query.build_query_as().fetch_all(&self.reader).await.map_err(backend)?;
        let items = rows.into_iter().map(KeyspaceRow::into_keyspace).collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_rows(items, page, |k| keyward_store::Cursor::at(k.created_at.timestamp_micros(), &k.id)))
    }

    async fn set_keyspace_lifecycle(
        &self,
        org: &str,
        id: &str,
        lifecycle: &KeyspaceLifecycle,
        event: &AuditEvent,
    ) -> Result<Option<Keyspace>, StoreError> {
        let mut tx = self.writer.begin().await.map_err(backend)?;
        let row: Option<KeyspaceRow> = sqlx::query_as(&format!(
            "UPDATE keyspaces SET rotation_period_days = ?1, disable_after_inactive_days = ?2
             WHERE org_id = ?3 AND id = ?4 RETURNING {KEYSPACE_COLUMNS}"
        ))
        .bind(lifecycle.rotation_period_days.map(i64::from))
        .bind(lifecycle.disable_after_inactive_days.map(i64::from))
        .bind(org)
        .bind(id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(backend)?;
        let Some(row) = row else {
            return Ok(None);
        };
        insert_event(&mut tx, event).await?;
        tx.commit().await.map_err(backend)?;
        row.into_keyspace().map(Some)
    }

    async fn replace_scope_catalog(
        &self,
        org: &str,
        id: &str,
        catalog: Option<&[CatalogScope]>,
        event: &AuditEvent,
    ) -> Result<Option<Keyspace>, StoreError> {
        let catalog = catalog.map(|list| json_text(&list)).transpose()?;
        let mut tx = self.writer.begin().await.map_err(backend)?;
        let row: Option<KeyspaceRow> = sqlx::query_as(&format!(
            "UPDATE keyspaces SET scope_catalog = ? WHERE org_id = ? AND id = ? RETURNING {KEYSPACE_COLUMNS}"
        ))
        .bind(catalog)
        .bind(org)
        .bind(id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(backend)?;
        let Some(row) = row else {
            return Ok(None);
        };
        insert_event(&mut tx, event).await?;
        tx.commit().await.map_err(backend)?;
        row.into_keyspace().map(Some)
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
        let mut query =
            QueryBuilder::new(format!("SELECT {TOKEN_COLUMNS}, NULL AS digest FROM tokens WHERE org_id = "));
        query.push_bind(org.to_owned());
        if let Some(keyspace_id) = &filter.keyspace_id {
            query.push(" AND keyspace_id = ").push_bind(keyspace_id.clone());
        }
        if let Some(owner) = &filter.owner {
            query.push(" AND owner = ").push_bind(owner.clone());
        }
        if let Some(needle) = &filter.name_contains {
            // A position search, not LIKE: `%` and `_` in a search are plain characters.
            query.push(" AND instr(lower(name), lower(").push_bind(needle.clone()).push(")) > 0");
        }
        if let Some(scope) = &filter.scope {
            query
                .push(" AND EXISTS (SELECT 1 FROM json_each(scopes) WHERE json_each.value = ")
                .push_bind(scope.clone())
                .push(")");
        }
        if let Some(before) = filter.expires_before {
            query.push(" AND expires_at < ").push_bind(before.timestamp_micros());
        }
        if filter.replaced {
            query.push(" AND replaced_by IS NOT NULL");
        }
        let now = filter.now.timestamp_micros();
        match filter.state {
            None => {}
            Some(TokenState::Active) => {
                query
                    .push(" AND revoked_at IS NULL AND disabled_at IS NULL AND (expires_at IS NULL OR expires_at > ")
                    .push_bind(now)
                    .push(")");
            }
            Some(TokenState::Expired) => {
                query.push(" AND revoked_at IS NULL AND disabled_at IS NULL AND expires_at <= ").push_bind(now);
            }
            Some(TokenState::Disabled) => {
                query.push(" AND revoked_at IS NULL AND disabled_at IS NOT NULL");
            }
            Some(TokenState::Revoked) => {
                query.push(" AND revoked_at IS NOT NULL");
            }
        }
        push_token_order(&mut query, filter.order, page);
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

    async fn create_webhook(
        &self,
        endpoint: &WebhookEndpoint,
        sealed_secret: &[u8],
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        webhooks::create(&self.writer, endpoint, sealed_secret, event).await
    }

    async fn rotate_webhook_secret(
        &self,
        org: &str,
        id: &str,
        sealed_secret: &[u8],
        previous_until: DateTime<Utc>,
        event: &AuditEvent,
    ) -> Result<bool, StoreError> {
        webhooks::rotate_secret(&self.writer, org, id, sealed_secret, previous_until, event).await
    }

    async fn list_webhooks(&self, org: &str) -> Result<Vec<WebhookEndpoint>, StoreError> {
        webhooks::list(&self.reader, org).await
    }

    async fn get_webhook(&self, org: &str, id: &str) -> Result<Option<WebhookEndpoint>, StoreError> {
        webhooks::get(&self.reader, org, id).await
    }

    async fn delete_webhook(&self, org: &str, id: &str, event: &AuditEvent) -> Result<bool, StoreError> {
        webhooks::delete(&self.writer, org, id, event).await
    }

    async fn claim_deliveries(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<DueDelivery>, StoreError> {
        webhooks::claim(&self.writer, now, lease_until, limit).await
    }

    async fn finish_attempt(&self, outcome: &AttemptOutcome) -> Result<(), StoreError> {
        webhooks::finish(&self.writer, outcome).await
    }

    async fn list_deliveries(
        &self,
        org: &str,
        endpoint_id: &str,
        page: &PageRequest,
    ) -> Result<Page<WebhookDelivery>, StoreError> {
        webhooks::deliveries(&self.reader, org, endpoint_id, page).await
    }

    async fn count_matching(&self, org: &str, filter: &BulkFilter) -> Result<u64, StoreError> {
        let mut query = QueryBuilder::new("SELECT COUNT(*) FROM tokens");
        push_bulk_filter(&mut query, org, filter);
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
        push_bulk_filter(&mut query, org, filter);
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

    async fn record_client_sightings(&self, sightings: &[ClientSighting]) -> Result<(), StoreError> {
        if sightings.is_empty() {
            return Ok(());
        }
        let mut tx = self.writer.begin().await.map_err(backend)?;
        for sighting in sightings {
            let client_ip = sighting.client_ip.as_deref().unwrap_or_default();
            let user_agent = sighting.user_agent.as_deref().unwrap_or_default();
            let uses = i64::try_from(sighting.uses).unwrap_or(i64::MAX);
            let updated = sqlx::query(
                "UPDATE token_clients SET uses = uses + ?, last_seen_at = MAX(last_seen_at, ?)
                 WHERE token_id = ? AND client_ip = ? AND user_agent = ?",
            )
            .bind(uses)
            .bind(sighting.last_seen_at.timestamp_micros())
            .bind(&sighting.token_id)
            .bind(client_ip)
            .bind(user_agent)
            .execute(&mut *tx)
            .await
            .map_err(backend)?
            .rows_affected();
            if updated == 0 {
                sqlx::query(
                    "INSERT INTO token_clients (token_id, client_ip, user_agent, uses, first_seen_at, last_seen_at)
                     SELECT ?1, ?2, ?3, ?4, ?5, ?6 WHERE EXISTS (SELECT 1 FROM tokens WHERE id = ?1)
                       AND (SELECT COUNT(*) FROM token_clients WHERE token_id = ?1) < ?7",
                )
                .bind(&sighting.token_id)
                .bind(client_ip)
                .bind(user_agent)
                .bind(uses)
                .bind(sighting.first_seen_at.timestamp_micros())
                .bind(sighting.last_seen_at.timestamp_micros())
                .bind(MAX_CLIENTS_PER_TOKEN)
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
            }
        }
        tx.commit().await.map_err(backend)
    }

    async fn list_token_clients(&self, org: &str, token_id: &str) -> Result<Vec<ClientSighting>, StoreError> {
        let rows: Vec<(String, String, String, i64, i64, i64)> = sqlx::query_as(
            "SELECT c.token_id, c.client_ip, c.user_agent, c.uses, c.first_seen_at, c.last_seen_at
             FROM token_clients c JOIN tokens t ON t.id = c.token_id
             WHERE t.org_id = ? AND c.token_id = ? ORDER BY c.last_seen_at DESC, c.client_ip, c.user_agent",
        )
        .bind(org)
        .bind(token_id)
        .fetch_all(&self.reader)
        .await
        .map_err(backend)?;
        Ok(rows.into_iter().map(keyward_store::decode::client_sighting).collect())
    }

    async fn record_usage(&self, deltas: &[UsageDelta]) -> Result<(), StoreError> {
        if deltas.is_empty() {
            return Ok(());
        }
        let mut tx = self.writer.begin().await.map_err(backend)?;
        for delta in deltas {
            sqlx::query(
                "UPDATE tokens SET use_count = use_count + ?, last_used_at = MAX(COALESCE(last_used_at, 0), ?) WHERE id = ?",
            )
            .bind(i64::try_from(delta.uses).unwrap_or(i64::MAX))
            .bind(delta.last_used_at.timestamp_micros())
            .bind(&delta.token_id)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
            // A batch is seconds long: its uses count on the day of its last one.
            sqlx::query(
                "INSERT INTO token_usage_days (token_id, day, uses) SELECT ?1, ?2, ?3 WHERE EXISTS (SELECT 1 FROM tokens WHERE id = ?1)
                 ON CONFLICT (token_id, day) DO UPDATE SET uses = uses + excluded.uses",
            )
            .bind(&delta.token_id)
            .bind(keyward_store::day_of(delta.last_used_at))
            .bind(i64::try_from(delta.uses).unwrap_or(i64::MAX))
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        }
        tx.commit().await.map_err(backend)
    }

    async fn usage_by_day(&self, org: &str, token_id: &str, since_day: i64) -> Result<Vec<DailyUsage>, StoreError> {
        let rows: Vec<(i64, i64)> = sqlx::query_as(
            "SELECT d.day, d.uses FROM token_usage_days d JOIN tokens t ON t.id = d.token_id
             WHERE t.org_id = ? AND d.token_id = ? AND d.day >= ? ORDER BY d.day",
        )
        .bind(org)
        .bind(token_id)
        .bind(since_day)
        .fetch_all(&self.reader)
        .await
        .map_err(backend)?;
        Ok(rows.into_iter().map(keyward_store::decode::daily_usage).collect())
    }

    async fn record_verification_samples(&self, samples: &[VerificationSample]) -> Result<(), StoreError> {
        if samples.is_empty() {
            return Ok(());
        }
        let mut tx = self.writer.begin().await.map_err(backend)?;
        for sample in samples {
            sqlx::query(
                "INSERT INTO token_verifications (token_id, at, outcome, client_ip, user_agent)
                 SELECT ?1, ?2, ?3, ?4, ?5 WHERE EXISTS (SELECT 1 FROM tokens WHERE id = ?1)",
            )
            .bind(&sample.token_id)
            .bind(sample.at.timestamp_micros())
            .bind(&sample.outcome)
            .bind(sample.client_ip.as_deref().unwrap_or_default())
            .bind(sample.user_agent.as_deref().unwrap_or_default())
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        }
        let mut tokens: Vec<&str> = samples.iter().map(|sample| sample.token_id.as_str()).collect();
        tokens.sort_unstable();
        tokens.dedup();
        for token_id in tokens {
            sqlx::query(
                "DELETE FROM token_verifications WHERE token_id = ?1 AND id NOT IN
                 (SELECT id FROM token_verifications WHERE token_id = ?1 ORDER BY at DESC, id DESC LIMIT ?2)",
            )
            .bind(token_id)
            .bind(MAX_SAMPLES_PER_TOKEN)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        }
        tx.commit().await.map_err(backend)
    }

    async fn last_successful_verifications(
        &self,
        org: &str,
        token_ids: &[String],
    ) -> Result<Vec<VerificationSample>, StoreError> {
        if token_ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids = serde_json::to_string(token_ids).map_err(|error| StoreError::Backend(Box::new(error)))?;
        // With MAX(), SQLite takes the other columns from the row holding
        // the maximum: each token's newest successful sample.
        let rows: Vec<(String, i64, String, String, String)> = sqlx::query_as(
            "SELECT v.token_id, MAX(v.at), v.outcome, v.client_ip, v.user_agent
             FROM token_verifications v JOIN tokens t ON t.id = v.token_id
             WHERE t.org_id = ? AND v.outcome = 'VALID' AND v.token_id IN (SELECT value FROM json_each(?))
             GROUP BY v.token_id",
        )
        .bind(org)
        .bind(ids)
        .fetch_all(&self.reader)
        .await
        .map_err(backend)?;
        Ok(rows.into_iter().map(keyward_store::decode::verification_sample).collect())
    }

    async fn recent_verifications(
        &self,
        org: &str,
        token_id: &str,
        limit: u32,
    ) -> Result<Vec<VerificationSample>, StoreError> {
        let rows: Vec<keyward_store::decode::SampleRow> = sqlx::query_as(
            "SELECT v.token_id, v.at, v.outcome, v.client_ip, v.user_agent
             FROM token_verifications v JOIN tokens t ON t.id = v.token_id
             WHERE t.org_id = ? AND v.token_id = ? ORDER BY v.at DESC, v.id DESC LIMIT ?",
        )
        .bind(org)
        .bind(token_id)
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await
        .map_err(backend)?;
        Ok(rows.into_iter().map(keyward_store::decode::verification_sample).collect())
    }

    async fn find_user_by_email(&self, email: &str) -> Result<Option<User>, StoreError> {
        accounts::find_user_by_email(&self.reader, email).await
    }

    async fn get_user(&self, id: &str) -> Result<Option<User>, StoreError> {
        accounts::get_user(&self.reader, id).await
    }

    async fn memberships_of(&self, user_id: &str) -> Result<Vec<Member>, StoreError> {
        accounts::memberships_of(&self.reader, user_id).await
    }

    async fn get_member(&self, org: &str, user_id: &str) -> Result<Option<Member>, StoreError> {
        accounts::get_member(&self.reader, org, user_id).await
    }

    async fn list_members(&self, org: &str) -> Result<Vec<Member>, StoreError> {
        accounts::list_members(&self.reader, org).await
    }

    async fn set_member_role(
        &self,
        org: &str,
        user_id: &str,
        role: Role,
        event: &AuditEvent,
    ) -> Result<Option<Member>, StoreError> {
        accounts::set_member_role(&self.writer, org, user_id, role, event).await
    }

    async fn remove_member(
        &self,
        org: &str,
        user_id: &str,
        at: DateTime<Utc>,
        event: &AuditEvent,
        revocation_event: RevocationEvent<'_>,
    ) -> Result<Option<Vec<StoredToken>>, StoreError> {
        accounts::remove_member(&self.writer, org, user_id, at, event, revocation_event).await
    }

    async fn create_invitation(
        &self,
        invitation: &Invitation,
        digest: &TokenDigest,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        accounts::create_invitation(&self.writer, invitation, digest, event).await
    }

    async fn find_invitation(&self, digest: &TokenDigest) -> Result<Option<Invitation>, StoreError> {
        accounts::find_invitation(&self.reader, digest).await
    }

    async fn list_pending_invitations(&self, org: &str, now: DateTime<Utc>) -> Result<Vec<Invitation>, StoreError> {
        accounts::list_pending_invitations(&self.reader, org, now).await
    }

    async fn revoke_invitation(&self, org: &str, id: &str, event: &AuditEvent) -> Result<bool, StoreError> {
        accounts::revoke_invitation(&self.writer, org, id, event).await
    }

    async fn accept_invitation(&self, acceptance: &Acceptance<'_>) -> Result<bool, StoreError> {
        accounts::accept_invitation(&self.writer, acceptance).await
    }

    async fn create_session(
        &self,
        session: &Session,
        digest: &TokenDigest,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        accounts::create_session(&self.writer, session, digest, event).await
    }

    async fn find_session(&self, digest: &TokenDigest) -> Result<Option<Session>, StoreError> {
        accounts::find_session(&self.reader, digest).await
    }

    async fn confirm_session_password(
        &self,
        org: &str,
        session_id: &str,
        at: DateTime<Utc>,
        event: &AuditEvent,
    ) -> Result<bool, StoreError> {
        accounts::confirm_session_password(&self.writer, org, session_id, at, event).await
    }

    async fn delete_session(&self, digest: &TokenDigest, event: Option<&AuditEvent>) -> Result<bool, StoreError> {
        accounts::delete_session(&self.writer, digest, event).await
    }

    async fn change_password(
        &self,
        user_id: &str,
        password_hash: &str,
        keep_session: Option<&str>,
        events: &[AuditEvent],
    ) -> Result<bool, StoreError> {
        accounts::change_password(&self.writer, user_id, password_hash, keep_session, events).await
    }

    async fn organizations_holding(&self, org: &str, id: &str) -> Result<Vec<String>, StoreError> {
        accounts::organizations_holding(&self.reader, org, id).await
    }

    async fn create_service_account(&self, account: &ServiceAccount, event: &AuditEvent) -> Result<(), StoreError> {
        accounts::create_service_account(&self.writer, account, event).await
    }

    async fn get_service_account(&self, org: &str, id: &str) -> Result<Option<ServiceAccount>, StoreError> {
        accounts::get_service_account(&self.reader, org, id).await
    }

    async fn list_service_accounts(&self, org: &str) -> Result<Vec<ServiceAccount>, StoreError> {
        accounts::list_service_accounts(&self.reader, org).await
    }

    async fn remove_service_account(
        &self,
        org: &str,
        id: &str,
        at: DateTime<Utc>,
        event: &AuditEvent,
        revocation_event: RevocationEvent<'_>,
    ) -> Result<Option<Vec<StoredToken>>, StoreError> {
        accounts::remove_service_account(&self.writer, org, id, at, event, revocation_event).await
    }

    async fn append_audit_event(&self, event: &AuditEvent) -> Result<(), StoreError> {
        let mut tx = self.writer.begin().await.map_err(backend)?;
        insert_event(&mut tx, event).await?;
        tx.commit().await.map_err(backend)
    }

    async fn list_audit(
        &self,
        org: &str,
        filter: &AuditFilter,
        page: &PageRequest,
    ) -> Result<Page<AuditEvent>, StoreError> {
        let mut query = QueryBuilder::new(format!("SELECT {AUDIT_COLUMNS} FROM audit_events WHERE org_id = "));
        query.push_bind(org.to_owned());
        if let Some(actor) = &filter.actor {
            query.push(" AND actor = ").push_bind(actor.clone());
        }
        if let Some(action) = &filter.action {
            query.push(" AND action = ").push_bind(action.clone());
        }
        if let Some(target) = &filter.target_id {
            query.push(" AND target_id = ").push_bind(target.clone());
        }
        if let Some(since) = filter.since {
            query.push(" AND occurred_at >= ").push_bind(since.timestamp_micros());
        }
        if let Some(until) = filter.until {
            query.push(" AND occurred_at < ").push_bind(until.timestamp_micros());
        }
        push_cursor(&mut query, "occurred_at", page);
        let rows: Vec<AuditRow> = query.build_query_as().fetch_all(&self.reader).await.map_err(backend)?;
        let items = rows.into_iter().map(AuditRow::into_event).collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_rows(items, page, |e| keyward_store::Cursor::at(e.occurred_at.timestamp_micros(), &e.id)))
    }
}
