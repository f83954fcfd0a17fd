//! PostgreSQL backend: the production store.
//!
//! Several Keyward instances may share one database. Every mutation and its
//! audit event commit in one transaction; uniqueness (digests, the single
//! management keyspace) is enforced by the schema, so concurrent instances
//! cannot race past it.

mod accounts;
mod change_feed;
mod rows;
pub mod testing;
mod webhooks;

use std::str::FromStr;
use std::sync::Weak;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use keyward_core::model::{
    AuditEvent, CatalogScope, Invitation, Keyspace, Member, Organization, RevokedReason, ServiceAccount, Session,
    TokenRecord, TokenState, User, WebhookDelivery, WebhookEndpoint,
};
use keyward_core::policy::TokenPolicy;
use keyward_core::role::Role;
use keyward_core::{OsRng, SecureRng, TokenDigest};
use keyward_store::{
    Acceptance, ActiveTokenLimit, AttemptOutcome, AuditFilter, BulkFilter, BulkRevocation, ChangeSink, ClientSighting,
    DailyUsage, DueDelivery, Founding, Guarded, KeyspaceLifecycle, LifecycleWindow, LineageRevocation, NoticeWrite,
    Page, PageRequest, Revocation, RevocationEvent, RotationWrite, Store, StoreError, StoredToken, Switch, Switched,
    TokenFilter, TokenOrder, TokenSortKey, TokenUpdate, UsageDelta, VerificationSample, MAX_CLIENTS_PER_TOKEN,
    MAX_SAMPLES_PER_TOKEN,
};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Postgres, QueryBuilder, Transaction};

use rows::{
    AuditRow, KeyspaceRow, OrganizationRow, TokenRow, AUDIT_COLUMNS, KEYSPACE_COLUMNS, ORGANIZATION_COLUMNS,
    TOKEN_COLUMNS,
};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// A Keyward store in a PostgreSQL database (or one schema of it).
#[derive(Clone)]
pub struct PostgresStore {
    pool: PgPool,
    feed_pool: PgPool,
}

/// Bounds on waiting for the database, so a slow or locked database turns
/// into prompt errors instead of requests that hang.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// PostgreSQL's `statement_timeout` for every connection.
    pub statement_timeout: Duration,
    /// How long a request waits for a free connection.
    pub acquire_timeout: Duration,
    /// Connections in the pool.
    pub max_connections: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self { statement_timeout: Duration::from_secs(5), acquire_timeout: Duration::from_secs(3), max_connections: 16 }
    }
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore").finish_non_exhaustive()
    }
}

impl PostgresStore {
    /// Connects to a `postgres://` URL. Does not migrate.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with(PgConnectOptions::from_str(url).map_err(backend)?).await
    }

    /// Connects to a `postgres://` URL with explicit limits. Does not migrate.
    pub async fn connect_limited(url: &str, limits: Limits) -> Result<Self, StoreError> {
        Self::connect_with_limits(PgConnectOptions::from_str(url).map_err(backend)?, limits).await
    }

    /// Connects with explicit options (tests use this to pin a schema via
    /// `search_path`). Does not migrate.
    pub async fn connect_with(options: PgConnectOptions) -> Result<Self, StoreError> {
        Self::connect_with_limits(options, Limits::default()).await
    }

    async fn connect_with_limits(options: PgConnectOptions, limits: Limits) -> Result<Self, StoreError> {
        // Set per connection, so no query (a lock wait included) outlives it
        // and holds a pooled connection hostage.
        let options = options.options([("statement_timeout", format!("{}", limits.statement_timeout.as_millis()))]);
        let pool = PgPoolOptions::new()
            .max_connections(limits.max_connections)
            .acquire_timeout(limits.acquire_timeout)
            .connect_with(options.clone())
            .await
            .map_err(backend)?;
        // The change feed's heartbeats have connections of their own: when
        // the pool is exhausted by slow queries, the feed must still hear
        // itself, or every instance would stop trusting its cache and send
        // cached verifications to the stalled database too.
        let feed_pool =
            PgPoolOptions::new().max_connections(2).acquire_timeout(limits.acquire_timeout).connect_lazy_with(options);
        Ok(Self { pool, feed_pool })
    }

    /// The connection pool, for tools (benchmark seeding) that bulk-load rows.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
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

fn json_value(value: &impl serde::Serialize) -> Result<serde_json::Value, StoreError> {
    serde_json::to_value(value).map_err(|error| StoreError::Corrupt(error.to_string()))
}

pub(crate) async fn insert_event(tx: &mut Transaction<'_, Postgres>, event: &AuditEvent) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO audit_events (id, org_id, occurred_at, actor, action, target_type, target_id, request_id, source_ip, details)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
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
    .bind(&event.details)
    .execute(&mut **tx)
    .await
    .map_err(backend)?;
    webhooks::enqueue(tx, event).await
}

async fn insert_keyspace(tx: &mut Transaction<'_, Postgres>, keyspace: &Keyspace) -> Result<(), StoreError> {
    let catalog = keyspace.scope_catalog.as_ref().map(json_value).transpose()?;
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
    .bind(keyspace.rotation_period_days.map(|days| i32::try_from(days).unwrap_or(i32::MAX)))
    .bind(keyspace.disable_after_inactive_days.map(|days| i32::try_from(days).unwrap_or(i32::MAX)))
    .execute(&mut **tx)
    .await
    .map_err(backend)?;
    Ok(())
}

/// Active tokens of `owner` at `now`: neither revoked nor expired.
async fn count_active<'c>(
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

async fn insert_token(
    tx: &mut Transaction<'_, Postgres>,
    token: &TokenRecord,
    digest: &TokenDigest,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO tokens (id, org_id, keyspace_id, management, digest, name, owner, scopes, metadata, environment,
                             prefix, last4, created_at, created_by, expires_at, revoked_at, last_used_at, use_count,
                             allowed_ips, revoked_reason, rotated_from, replaced_by, rotated_at,
                             expires_at_before_rotation, rotation_period_days, auto_rotate_webhook_id,
                             auto_rotate_grace_seconds, parent_token_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21,
                 $22, $23, $24, $25, $26, $27, $28)",
    )
    .bind(&token.id)
    .bind(&token.org_id)
    .bind(&token.keyspace_id)
    .bind(token.management)
    .bind(&digest.as_bytes()[..])
    .bind(&token.name)
    .bind(&token.owner)
    .bind(json_value(&token.scopes)?)
    .bind(&token.metadata)
    .bind(token.environment.as_str())
    .bind(&token.prefix)
    .bind(&token.last4)
    .bind(token.created_at.timestamp_micros())
    .bind(&token.created_by)
    .bind(token.expires_at.map(|at| at.timestamp_micros()))
    .bind(token.revoked_at.map(|at| at.timestamp_micros()))
    .bind(token.last_used_at.map(|at| at.timestamp_micros()))
    .bind(token.use_count)
    .bind(json_value(&token.allowed_ips)?)
    .bind(token.revoked_reason.map(|reason| reason.as_str()))
    .bind(&token.rotated_from)
    .bind(&token.replaced_by)
    .bind(token.rotated_at.map(|at| at.timestamp_micros()))
    .bind(token.expires_at_before_rotation.map(|at| at.timestamp_micros()))
    .bind(token.rotation_period_days.map(|days| i32::try_from(days).unwrap_or(i32::MAX)))
    .bind(token.auto_rotate.as_ref().map(|auto| auto.webhook_id.as_str()))
    .bind(token.auto_rotate.as_ref().map(|auto| i32::try_from(auto.grace_period_seconds).unwrap_or(i32::MAX)))
    .bind(&token.parent_token_id)
    .execute(&mut **tx)
    .await
    .map_err(backend)?;
    Ok(())
}

async fn insert_organization(
    tx: &mut Transaction<'_, Postgres>,
    organization: &Organization,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO organizations (id, name, operator, token_policy, created_at, created_by)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&organization.id)
    .bind(&organization.name)
    .bind(organization.operator)
    .bind(json_value(&organization.token_policy)?)
    .bind(organization.created_at.timestamp_micros())
    .bind(&organization.created_by)
    .execute(&mut **tx)
    .await
    .map_err(backend)?;
    Ok(())
}

/// The rest of a founding after its organization row: keyspace, token, event.
async fn insert_founded(tx: &mut Transaction<'_, Postgres>, founding: &Founding<'_>) -> Result<(), StoreError> {
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
    tx: &mut Transaction<'_, Postgres>,
    org: &str,
    id: &str,
    at: DateTime<Utc>,
    reason: RevokedReason,
    event: &AuditEvent,
) -> Result<bool, StoreError> {
    let newly_revoked = sqlx::query(
        "UPDATE tokens SET revoked_at = $1, revoked_reason = $2
         WHERE org_id = $3 AND id = $4 AND revoked_at IS NULL",
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
    tx: &mut Transaction<'_, Postgres>,
    org: &str,
    id: &str,
) -> Result<Option<StoredToken>, StoreError> {
    let row: Option<TokenRow> =
        sqlx::query_as(&format!("SELECT {TOKEN_COLUMNS}, digest FROM tokens WHERE org_id = $1 AND id = $2"))
            .bind(org)
            .bind(id)
            .fetch_optional(&mut **tx)
            .await
            .map_err(backend)?;
    row.map(TokenRow::into_stored).transpose()
}

/// ` WHERE …` selecting the tokens of `org` a bulk revocation with `filter` takes.
fn push_bulk_filter(query: &mut QueryBuilder<'_, Postgres>, org: &str, filter: &BulkFilter) {
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
        query.push(" AND scopes @> jsonb_build_array(").push_bind(scope.clone()).push("::text)");
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

fn push_cursor(query: &mut QueryBuilder<'_, Postgres>, time_column: &str, page: &PageRequest) {
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
fn push_token_order(query: &mut QueryBuilder<'_, Postgres>, order: TokenOrder, page: &PageRequest) {
    // Byte order after ASCII folding: the C collation matches SQLite's.
    let (key, after, direction) = order.keyset_sql("lower(name COLLATE \"C\")");
    if let Some(cursor) = &page.after {
        query.push(format!(" AND ({key} {after} "));
        push_key(query, order, cursor);
        query.push(format!(" OR ({key} = "));
        push_key(query, order, cursor);
        query.push(format!(" AND id {after} ")).push_bind(cursor.id.clone()).push("))");
    }
    query.push(format!(" ORDER BY {key} {direction}, id {direction} LIMIT ")).push_bind(page.fetch_limit());
}

fn push_key(query: &mut QueryBuilder<'_, Postgres>, order: TokenOrder, cursor: &keyward_store::Cursor) {
    if order.key == TokenSortKey::Name {
        query.push_bind(cursor.text.clone().unwrap_or_default());
    } else {
        query.push_bind(cursor.micros);
    }
}

#[async_trait]
impl Store for PostgresStore {
    async fn watch_token_changes(&self, sink: Weak<dyn ChangeSink>) -> Result<bool, StoreError> {
        let channel = change_feed::channel(&self.pool).await.map_err(backend)?;
        let mut instance = [0u8; 8];
        OsRng.fill(&mut instance).map_err(|error| StoreError::Backend(Box::new(error)))?;
        let instance: String = instance.iter().map(|byte| format!("{byte:02x}")).collect();
        tokio::spawn(change_feed::run(self.feed_pool.clone(), channel, instance, sink));
        Ok(true)
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        // A migration may rewrite a large table: it runs on a connection of
        // its own without the statement timeout (the later setting wins).
        let options = (*self.pool.connect_options()).clone().options([("statement_timeout", "0")]);
        let pool = PgPoolOptions::new().max_connections(1).connect_with(options).await.map_err(backend)?;
        let migrated = MIGRATOR.run(&pool).await.map_err(|error| StoreError::Backend(Box::new(error)));
        pool.close().await;
        migrated
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await.map_err(backend)?;
        Ok(())
    }

    async fn probe_write(&self) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
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
        let mut tx = self.pool.begin().await.map_err(backend)?;
        // The partial unique index admits one operator organization; a losing
        // concurrent bootstrap sees a conflict and reports "already done".
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
            sqlx::query_as(&format!("SELECT {ORGANIZATION_COLUMNS} FROM organizations WHERE operator"))
                .fetch_optional(&self.pool)
                .await
                .map_err(backend)?;
        row.map(OrganizationRow::into_organization).transpose()
    }

    async fn create_organization(&self, founding: &Founding<'_>) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        insert_organization(&mut tx, founding.organization).await?;
        insert_founded(&mut tx, founding).await?;
        tx.commit().await.map_err(backend)
    }

    async fn get_organization(&self, id: &str) -> Result<Option<Organization>, StoreError> {
        let row: Option<OrganizationRow> =
            sqlx::query_as(&format!("SELECT {ORGANIZATION_COLUMNS} FROM organizations WHERE id = $1"))
                .bind(id)
                .fetch_optional(&self.pool)
                .await
                .map_err(backend)?;
        row.map(OrganizationRow::into_organization).transpose()
    }

    async fn list_organizations(&self, page: &PageRequest) -> Result<Page<Organization>, StoreError> {
        let mut query = QueryBuilder::new(format!("SELECT {ORGANIZATION_COLUMNS} FROM organizations WHERE 1 = 1"));
        push_cursor(&mut query, "created_at", page);
        let rows: Vec<OrganizationRow> = query.build_query_as().fetch_all(&self.pool).await.map_err(backend)?;
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
        let mut tx = self.pool.begin().await.map_err(backend)?;
        let row: Option<OrganizationRow> = sqlx::query_as(&format!(
            "UPDATE organizations SET name = $1 WHERE id = $2 RETURNING {ORGANIZATION_COLUMNS}"
        ))
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
        let mut tx = self.pool.begin().await.map_err(backend)?;
        let row: Option<OrganizationRow> = sqlx::query_as(&format!(
            "UPDATE organizations SET token_policy = $1 WHERE id = $2 RETURNING {ORGANIZATION_COLUMNS}"
        ))
        .bind(json_value(policy)?)
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
        count_active(&self.pool, org, owner, now).await
    }

    async fn management_keyspace(&self, org: &str) -> Result<Option<Keyspace>, StoreError> {
        let row: Option<KeyspaceRow> =
            sqlx::query_as(&format!("SELECT {KEYSPACE_COLUMNS} FROM keyspaces WHERE org_id = $1 AND management"))
                .bind(org)
                .fetch_optional(&self.pool)
                .await
                .map_err(backend)?;
        row.map(KeyspaceRow::into_keyspace).transpose()
    }

    async fn create_keyspace(&self, keyspace: &Keyspace, event: &AuditEvent) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        insert_keyspace(&mut tx, keyspace).await?;
        insert_event(&mut tx, event).await?;
        tx.commit().await.map_err(backend)
    }

    async fn get_keyspace(&self, org: &str, id: &str) -> Result<Option<Keyspace>, StoreError> {
        let row: Option<KeyspaceRow> =
            sqlx::query_as(&format!("SELECT {KEYSPACE_COLUMNS} FROM keyspaces WHERE org_id = $1 AND id = $2"))
                .bind(org)
                .bind(id)
                .fetch_optional(&self.pool)
                .await
                .map_err(backend)?;
        row.map(KeyspaceRow::into_keyspace).transpose()
    }

    async fn list_keyspaces(&self, org: &str, page: &PageRequest) -> Result<Page<Keyspace>, StoreError> {
        let mut query = QueryBuilder::new(format!("SELECT {KEYSPACE_COLUMNS} FROM keyspaces WHERE org_id = "));
        query.push_bind(org.to_owned());
        push_cursor(&mut query, "created_at", page);
        let rows: Vec<KeyspaceRow> = query.build_query_as().fetch_all(&self.pool).await.map_err(backend)?;
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
        let mut tx = self.pool.begin().await.map_err(backend)?;
        let row: Option<KeyspaceRow> = sqlx::query_as(&format!(
            "UPDATE keyspaces SET rotation_period_days = $1, disable_after_inactive_days = $2
             WHERE org_id = $3 AND id = $4 RETURNING {KEYSPACE_COLUMNS}"
        ))
        .bind(lifecycle.rotation_period_days.map(|days| i32::try_from(days).unwrap_or(i32::MAX)))
        .bind(lifecycle.disable_after_inactive_days.map(|days| i32::try_from(days).unwrap_or(i32::MAX)))
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
        let catalog = catalog.map(|list| json_value(&list)).transpose()?;
        let mut tx = self.pool.begin().await.map_err(backend)?;
        let row: Option<KeyspaceRow> = sqlx::query_as(&format!(
            "UPDATE keyspaces SET scope_catalog = $1 WHERE org_id = $2 AND id = $3 RETURNING {KEYSPACE_COLUMNS}"
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
        let mut query =
            QueryBuilder::new(format!("SELECT {TOKEN_COLUMNS}, NULL::bytea AS digest FROM tokens WHERE org_id = "));
        query.push_bind(org.to_owned());
        if let Some(keyspace_id) = &filter.keyspace_id {
            query.push(" AND keyspace_id = ").push_bind(keyspace_id.clone());
        }
        if let Some(owner) = &filter.owner {
            query.push(" AND owner = ").push_bind(owner.clone());
        }
        if let Some(needle) = &filter.name_contains {
            // A position search, not LIKE: `%` and `_` in a search are plain characters.
            query.push(" AND strpos(lower(name), lower(").push_bind(needle.clone()).push(")) > 0");
        }
        if let Some(scope) = &filter.scope {
            query.push(" AND scopes @> jsonb_build_array(").push_bind(scope.clone()).push("::text)");
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

    async fn create_webhook(
        &self,
        endpoint: &WebhookEndpoint,
        sealed_secret: &[u8],
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        webhooks::create(&self.pool, endpoint, sealed_secret, event).await
    }

    async fn rotate_webhook_secret(
        &self,
        org: &str,
        id: &str,
        sealed_secret: &[u8],
        previous_until: DateTime<Utc>,
        event: &AuditEvent,
    ) -> Result<bool, StoreError> {
        webhooks::rotate_secret(&self.pool, org, id, sealed_secret, previous_until, event).await
    }

    async fn list_webhooks(&self, org: &str) -> Result<Vec<WebhookEndpoint>, StoreError> {
        webhooks::list(&self.pool, org).await
    }

    async fn get_webhook(&self, org: &str, id: &str) -> Result<Option<WebhookEndpoint>, StoreError> {
        webhooks::get(&self.pool, org, id).await
    }

    async fn delete_webhook(&self, org: &str, id: &str, event: &AuditEvent) -> Result<bool, StoreError> {
        webhooks::delete(&self.pool, org, id, event).await
    }

    async fn claim_deliveries(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<DueDelivery>, StoreError> {
        webhooks::claim(&self.pool, now, lease_until, limit).await
    }

    async fn finish_attempt(&self, outcome: &AttemptOutcome) -> Result<(), StoreError> {
        webhooks::finish(&self.pool, outcome).await
    }

    async fn list_deliveries(
        &self,
        org: &str,
        endpoint_id: &str,
        page: &PageRequest,
    ) -> Result<Page<WebhookDelivery>, StoreError> {
        webhooks::deliveries(&self.pool, org, endpoint_id, page).await
    }

    async fn count_matching(&self, org: &str, filter: &BulkFilter) -> Result<u64, StoreError> {
        let mut query = QueryBuilder::new("SELECT COUNT(*) FROM tokens");
        push_bulk_filter(&mut query, org, filter);
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

    async fn record_client_sightings(&self, sightings: &[ClientSighting]) -> Result<(), StoreError> {
        if sightings.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin().await.map_err(backend)?;
        for sighting in sightings {
            // Insert-or-add in one statement, so instances flushing the same
            // client at once both count. The cap is judged before the insert
            // and may be passed by a racing instance or two: it bounds a
            // flood, it is not a contract.
            sqlx::query(
                "INSERT INTO token_clients (token_id, client_ip, user_agent, uses, first_seen_at, last_seen_at)
                 SELECT $1, $2, $3, $4, $5, $6 WHERE EXISTS (SELECT 1 FROM tokens WHERE id = $1)
                   AND ((SELECT COUNT(*) FROM token_clients WHERE token_id = $1) < $7
                        OR EXISTS (SELECT 1 FROM token_clients WHERE token_id = $1 AND client_ip = $2 AND user_agent = $3))
                 ON CONFLICT (token_id, client_ip, user_agent) DO UPDATE
                 SET uses = token_clients.uses + EXCLUDED.uses,
                     last_seen_at = GREATEST(token_clients.last_seen_at, EXCLUDED.last_seen_at)",
            )
            .bind(&sighting.token_id)
            .bind(sighting.client_ip.as_deref().unwrap_or_default())
            .bind(sighting.user_agent.as_deref().unwrap_or_default())
            .bind(i64::try_from(sighting.uses).unwrap_or(i64::MAX))
            .bind(sighting.first_seen_at.timestamp_micros())
            .bind(sighting.last_seen_at.timestamp_micros())
            .bind(MAX_CLIENTS_PER_TOKEN)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        }
        tx.commit().await.map_err(backend)
    }

    async fn list_token_clients(&self, org: &str, token_id: &str) -> Result<Vec<ClientSighting>, StoreError> {
        let rows: Vec<keyward_store::decode::ClientRow> = sqlx::query_as(
            "SELECT c.token_id, c.client_ip, c.user_agent, c.uses, c.first_seen_at, c.last_seen_at
             FROM token_clients c JOIN tokens t ON t.id = c.token_id
             WHERE t.org_id = $1 AND c.token_id = $2 ORDER BY c.last_seen_at DESC, c.client_ip, c.user_agent",
        )
        .bind(org)
        .bind(token_id)
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        Ok(rows.into_iter().map(keyward_store::decode::client_sighting).collect())
    }

    async fn record_usage(&self, deltas: &[UsageDelta]) -> Result<(), StoreError> {
        if deltas.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin().await.map_err(backend)?;
        for delta in deltas {
            sqlx::query(
                "UPDATE tokens SET use_count = use_count + $1, last_used_at = GREATEST(COALESCE(last_used_at, 0), $2) WHERE id = $3",
            )
            .bind(i64::try_from(delta.uses).unwrap_or(i64::MAX))
            .bind(delta.last_used_at.timestamp_micros())
            .bind(&delta.token_id)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
            // A batch is seconds long: its uses count on the day of its last one.
            sqlx::query(
                "INSERT INTO token_usage_days (token_id, day, uses) SELECT $1, $2, $3 WHERE EXISTS (SELECT 1 FROM tokens WHERE id = $1)
                 ON CONFLICT (token_id, day) DO UPDATE SET uses = token_usage_days.uses + excluded.uses",
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
             WHERE t.org_id = $1 AND d.token_id = $2 AND d.day >= $3 ORDER BY d.day",
        )
        .bind(org)
        .bind(token_id)
        .bind(since_day)
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        Ok(rows.into_iter().map(keyward_store::decode::daily_usage).collect())
    }

    async fn record_verification_samples(&self, samples: &[VerificationSample]) -> Result<(), StoreError> {
        if samples.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin().await.map_err(backend)?;
        for sample in samples {
            sqlx::query(
                "INSERT INTO token_verifications (token_id, at, outcome, client_ip, user_agent)
                 SELECT $1, $2, $3, $4, $5 WHERE EXISTS (SELECT 1 FROM tokens WHERE id = $1)",
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
                "DELETE FROM token_verifications WHERE token_id = $1 AND id NOT IN
                 (SELECT id FROM token_verifications WHERE token_id = $1 ORDER BY at DESC, id DESC LIMIT $2)",
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
        let rows: Vec<keyward_store::decode::SampleRow> = sqlx::query_as(
            "SELECT DISTINCT ON (v.token_id) v.token_id, v.at, v.outcome, v.client_ip, v.user_agent
             FROM token_verifications v JOIN tokens t ON t.id = v.token_id
             WHERE t.org_id = $1 AND v.outcome = 'VALID' AND v.token_id = ANY($2)
             ORDER BY v.token_id, v.at DESC, v.id DESC",
        )
        .bind(org)
        .bind(token_ids)
        .fetch_all(&self.pool)
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
             WHERE t.org_id = $1 AND v.token_id = $2 ORDER BY v.at DESC, v.id DESC LIMIT $3",
        )
        .bind(org)
        .bind(token_id)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        Ok(rows.into_iter().map(keyward_store::decode::verification_sample).collect())
    }

    async fn find_user_by_email(&self, email: &str) -> Result<Option<User>, StoreError> {
        accounts::find_user_by_email(&self.pool, email).await
    }

    async fn get_user(&self, id: &str) -> Result<Option<User>, StoreError> {
        accounts::get_user(&self.pool, id).await
    }

    async fn memberships_of(&self, user_id: &str) -> Result<Vec<Member>, StoreError> {
        accounts::memberships_of(&self.pool, user_id).await
    }

    async fn get_member(&self, org: &str, user_id: &str) -> Result<Option<Member>, StoreError> {
        accounts::get_member(&self.pool, org, user_id).await
    }

    async fn list_members(&self, org: &str) -> Result<Vec<Member>, StoreError> {
        accounts::list_members(&self.pool, org).await
    }

    async fn set_member_role(
        &self,
        org: &str,
        user_id: &str,
        role: Role,
        event: &AuditEvent,
    ) -> Result<Option<Member>, StoreError> {
        accounts::set_member_role(&self.pool, org, user_id, role, event).await
    }

    async fn remove_member(
        &self,
        org: &str,
        user_id: &str,
        at: DateTime<Utc>,
        event: &AuditEvent,
        revocation_event: RevocationEvent<'_>,
    ) -> Result<Option<Vec<StoredToken>>, StoreError> {
        accounts::remove_member(&self.pool, org, user_id, at, event, revocation_event).await
    }

    async fn create_invitation(
        &self,
        invitation: &Invitation,
        digest: &TokenDigest,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        accounts::create_invitation(&self.pool, invitation, digest, event).await
    }

    async fn find_invitation(&self, digest: &TokenDigest) -> Result<Option<Invitation>, StoreError> {
        accounts::find_invitation(&self.pool, digest).await
    }

    async fn list_pending_invitations(&self, org: &str, now: DateTime<Utc>) -> Result<Vec<Invitation>, StoreError> {
        accounts::list_pending_invitations(&self.pool, org, now).await
    }

    async fn revoke_invitation(&self, org: &str, id: &str, event: &AuditEvent) -> Result<bool, StoreError> {
        accounts::revoke_invitation(&self.pool, org, id, event).await
    }

    async fn accept_invitation(&self, acceptance: &Acceptance<'_>) -> Result<bool, StoreError> {
        accounts::accept_invitation(&self.pool, acceptance).await
    }

    async fn create_session(
        &self,
        session: &Session,
        digest: &TokenDigest,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        accounts::create_session(&self.pool, session, digest, event).await
    }

    async fn find_session(&self, digest: &TokenDigest) -> Result<Option<Session>, StoreError> {
        accounts::find_session(&self.pool, digest).await
    }

    async fn confirm_session_password(
        &self,
        org: &str,
        session_id: &str,
        at: DateTime<Utc>,
        event: &AuditEvent,
    ) -> Result<bool, StoreError> {
        accounts::confirm_session_password(&self.pool, org, session_id, at, event).await
    }

    async fn delete_session(&self, digest: &TokenDigest, event: Option<&AuditEvent>) -> Result<bool, StoreError> {
        accounts::delete_session(&self.pool, digest, event).await
    }

    async fn change_password(
        &self,
        user_id: &str,
        password_hash: &str,
        keep_session: Option<&str>,
        events: &[AuditEvent],
    ) -> Result<bool, StoreError> {
        accounts::change_password(&self.pool, user_id, password_hash, keep_session, events).await
    }

    async fn organizations_holding(&self, org: &str, id: &str) -> Result<Vec<String>, StoreError> {
        accounts::organizations_holding(&self.pool, org, id).await
    }

    async fn create_service_account(&self, account: &ServiceAccount, event: &AuditEvent) -> Result<(), StoreError> {
        accounts::create_service_account(&self.pool, account, event).await
    }

    async fn get_service_account(&self, org: &str, id: &str) -> Result<Option<ServiceAccount>, StoreError> {
        accounts::get_service_account(&self.pool, org, id).await
    }

    async fn list_service_accounts(&self, org: &str) -> Result<Vec<ServiceAccount>, StoreError> {
        accounts::list_service_accounts(&self.pool, org).await
    }

    async fn remove_service_account(
        &self,
        org: &str,
        id: &str,
        at: DateTime<Utc>,
        event: &AuditEvent,
        revocation_event: RevocationEvent<'_>,
    ) -> Result<Option<Vec<StoredToken>>, StoreError> {
        accounts::remove_service_account(&self.pool, org, id, at, event, revocation_event).await
    }

    async fn append_audit_event(&self, event: &AuditEvent) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
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
        let rows: Vec<AuditRow> = query.build_query_as().fetch_all(&self.pool).await.map_err(backend)?;
        let items = rows.into_iter().map(AuditRow::into_event).collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_rows(items, page, |e| keyward_store::Cursor::at(e.occurred_at.timestamp_micros(), &e.id)))
    }
}
