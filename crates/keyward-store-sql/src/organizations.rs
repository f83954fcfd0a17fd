//! Organizations and their keyspaces, written once for both SQL backends:
//! the statements are the same in both dialects but for how a boolean
//! column is tested.

use std::marker::PhantomData;

use keyward_core::model::{AuditEvent, CatalogScope, Keyspace, Organization};
use keyward_core::policy::TokenPolicy;
use keyward_store::decode::{InvitationRow, MemberRow, ServiceAccountRow, SessionRow, UserRow};
use keyward_store::{Directory, Founding, KeyspaceLifecycle, Page, PageRequest, StoreError};
use sqlx::{Database, Encode, Executor, FromRow, IntoArguments, Pool, Transaction, Type};

use crate::accounts::Accounts;
use crate::rows::{KeyspaceRow, OrganizationRow, TokenRow, KEYSPACE_COLUMNS, ORGANIZATION_COLUMNS};
use crate::write::{Connection, Writes};
use crate::{backend, Dialect};

/// The organization and keyspace operations of dialect `D`, on its pools.
pub struct Organizations<D>(PhantomData<D>);

impl<D: Dialect> Organizations<D>
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
    for<'r> UserRow: FromRow<'r, <D::Db as Database>::Row>,
    for<'r> MemberRow: FromRow<'r, <D::Db as Database>::Row>,
    for<'r> InvitationRow: FromRow<'r, <D::Db as Database>::Row>,
    for<'r> SessionRow: FromRow<'r, <D::Db as Database>::Row>,
    for<'r> ServiceAccountRow: FromRow<'r, <D::Db as Database>::Row>,
    for<'r> (i64,): FromRow<'r, <D::Db as Database>::Row>,
    for<'r> (String,): FromRow<'r, <D::Db as Database>::Row>,
    for<'r> OrganizationRow<D::Json>: FromRow<'r, <D::Db as Database>::Row> + Send + Unpin,
    for<'r> KeyspaceRow<D::Json, D::Count>: FromRow<'r, <D::Db as Database>::Row> + Send + Unpin,
{
    /// The rest of a founding after its organization row: keyspace, token,
    /// owner, event.
    pub async fn founded(tx: &mut Transaction<'_, D::Db>, founding: &Founding<'_>) -> Result<(), StoreError> {
        Writes::<D>::keyspace(&mut **tx, founding.keyspace).await?;
        if let Some((token, digest)) = founding.admin {
            Writes::<D>::token(&mut **tx, token, digest).await?;
        }
        if let Some((user, member)) = founding.owner {
            Accounts::<D>::insert_user(tx, user).await?;
            Accounts::<D>::insert_member(tx, member).await?;
        }
        Writes::<D>::event(&mut **tx, founding.event).await
    }

    pub async fn bootstrap(writer: &Pool<D::Db>, founding: &Founding<'_>) -> Result<bool, StoreError> {
        let mut tx = writer.begin().await.map_err(backend)?;
        // One operator organization: on PostgreSQL a partial unique index
        // admits one, and a losing concurrent bootstrap sees a conflict and
        // reports "already done"; on SQLite this insert claims the slot first
        // (a write), so the whole check-then-insert runs under the write lock.
        match Writes::<D>::organization(&mut tx, founding.organization).await {
            Err(StoreError::Conflict(_)) => return Ok(false),
            other => other?,
        }
        Self::founded(&mut tx, founding).await?;
        tx.commit().await.map_err(backend)?;
        Ok(true)
    }

    pub async fn operator_organization(reader: &Pool<D::Db>) -> Result<Option<Organization>, StoreError> {
        let row: Option<OrganizationRow<D::Json>> =
            sqlx::query_as(&format!("SELECT {ORGANIZATION_COLUMNS} FROM organizations WHERE operator = {}", D::TRUE))
                .fetch_optional(reader)
                .await
                .map_err(backend)?;
        row.map(OrganizationRow::into_organization).transpose()
    }

    pub async fn create_organization(writer: &Pool<D::Db>, founding: &Founding<'_>) -> Result<(), StoreError> {
        let mut tx = writer.begin().await.map_err(backend)?;
        Writes::<D>::organization(&mut tx, founding.organization).await?;
        Self::founded(&mut tx, founding).await?;
        tx.commit().await.map_err(backend)
    }

    pub async fn get_organization(reader: &Pool<D::Db>, id: &str) -> Result<Option<Organization>, StoreError> {
        let row: Option<OrganizationRow<D::Json>> =
            sqlx::query_as(&format!("SELECT {ORGANIZATION_COLUMNS} FROM organizations WHERE id = $1"))
                .bind(id)
                .fetch_optional(reader)
                .await
                .map_err(backend)?;
        row.map(OrganizationRow::into_organization).transpose()
    }

    pub async fn list_organizations(
        reader: &Pool<D::Db>,
        page: &PageRequest,
    ) -> Result<Page<Organization>, StoreError> {
        // Two fixed statements rather than a QueryBuilder: a generic builder's
        // arguments cannot be held across the await.
        let rows: Vec<OrganizationRow<D::Json>> = match &page.after {
            Some(cursor) => {
                sqlx::query_as(&format!(
                    "SELECT {ORGANIZATION_COLUMNS} FROM organizations
                 WHERE created_at < $1 OR (created_at = $1 AND id < $2) ORDER BY created_at DESC, id DESC LIMIT $3"
                ))
                .bind(cursor.micros)
                .bind(&cursor.id)
                .bind(page.fetch_limit())
                .fetch_all(reader)
                .await
            }
            None => {
                sqlx::query_as(&format!(
                    "SELECT {ORGANIZATION_COLUMNS} FROM organizations ORDER BY created_at DESC, id DESC LIMIT $1"
                ))
                .bind(page.fetch_limit())
                .fetch_all(reader)
                .await
            }
        }
        .map_err(backend)?;
        let items = rows.into_iter().map(OrganizationRow::into_organization).collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_rows(items, page, |o: &Organization| {
            keyward_store::Cursor::at(o.created_at.timestamp_micros(), &o.id)
        }))
    }

    pub async fn rename_organization(
        writer: &Pool<D::Db>,
        org: &str,
        name: &str,
        event: &AuditEvent,
    ) -> Result<Option<Organization>, StoreError> {
        let mut tx = writer.begin().await.map_err(backend)?;
        let row: Option<OrganizationRow<D::Json>> = sqlx::query_as(&format!(
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
        Writes::<D>::event(&mut tx, event).await?;
        tx.commit().await.map_err(backend)?;
        row.into_organization().map(Some)
    }

    pub async fn set_token_policy(
        writer: &Pool<D::Db>,
        org: &str,
        policy: &TokenPolicy,
        event: &AuditEvent,
    ) -> Result<Option<Organization>, StoreError> {
        let mut tx = writer.begin().await.map_err(backend)?;
        let row: Option<OrganizationRow<D::Json>> = sqlx::query_as(&format!(
            "UPDATE organizations SET token_policy = $1 WHERE id = $2 RETURNING {ORGANIZATION_COLUMNS}"
        ))
        .bind(D::json(policy)?)
        .bind(org)
        .fetch_optional(&mut *tx)
        .await
        .map_err(backend)?;
        let Some(row) = row else {
            return Ok(None);
        };
        Writes::<D>::event(&mut tx, event).await?;
        tx.commit().await.map_err(backend)?;
        row.into_organization().map(Some)
    }

    pub async fn management_keyspace(reader: &Pool<D::Db>, org: &str) -> Result<Option<Keyspace>, StoreError> {
        let row: Option<KeyspaceRow<D::Json, D::Count>> = sqlx::query_as(&format!(
            "SELECT {KEYSPACE_COLUMNS} FROM keyspaces WHERE org_id = $1 AND management = {}",
            D::TRUE
        ))
        .bind(org)
        .fetch_optional(reader)
        .await
        .map_err(backend)?;
        row.map(KeyspaceRow::into_keyspace).transpose()
    }

    pub async fn create_keyspace(
        writer: &Pool<D::Db>,
        keyspace: &Keyspace,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        let mut tx = writer.begin().await.map_err(backend)?;
        Writes::<D>::keyspace(&mut tx, keyspace).await?;
        Writes::<D>::event(&mut tx, event).await?;
        tx.commit().await.map_err(backend)
    }

    pub async fn get_keyspace(reader: &Pool<D::Db>, org: &str, id: &str) -> Result<Option<Keyspace>, StoreError> {
        let row: Option<KeyspaceRow<D::Json, D::Count>> =
            sqlx::query_as(&format!("SELECT {KEYSPACE_COLUMNS} FROM keyspaces WHERE org_id = $1 AND id = $2"))
                .bind(org)
                .bind(id)
                .fetch_optional(reader)
                .await
                .map_err(backend)?;
        row.map(KeyspaceRow::into_keyspace).transpose()
    }

    /// The organization and who and what is in it, the four statements run
    /// side by side on the read pool.
    pub async fn directory(reader: &Pool<D::Db>, org: &str) -> Result<Directory, StoreError> {
        let keyspaces = async {
            let rows: Vec<KeyspaceRow<D::Json, D::Count>> = sqlx::query_as(&format!(
                "SELECT {KEYSPACE_COLUMNS} FROM keyspaces WHERE org_id = $1 ORDER BY created_at DESC, id DESC"
            ))
            .bind(org)
            .fetch_all(reader)
            .await
            .map_err(backend)?;
            rows.into_iter().map(KeyspaceRow::into_keyspace).collect::<Result<Vec<_>, _>>()
        };
        let (organization, keyspaces, members, service_accounts) = futures_util::future::try_join4(
            Self::get_organization(reader, org),
            keyspaces,
            Accounts::<D>::list_members(reader, org),
            Accounts::<D>::list_service_accounts(reader, org),
        )
        .await?;
        Ok(Directory { organization, keyspaces, members, service_accounts })
    }

    pub async fn list_keyspaces(
        reader: &Pool<D::Db>,
        org: &str,
        page: &PageRequest,
    ) -> Result<Page<Keyspace>, StoreError> {
        // Two fixed statements rather than a QueryBuilder, as above.
        let rows: Vec<KeyspaceRow<D::Json, D::Count>> = match &page.after {
            Some(cursor) => {
                sqlx::query_as(&format!(
                    "SELECT {KEYSPACE_COLUMNS} FROM keyspaces WHERE org_id = $1
                 AND (created_at < $2 OR (created_at = $2 AND id < $3)) ORDER BY created_at DESC, id DESC LIMIT $4"
                ))
                .bind(org)
                .bind(cursor.micros)
                .bind(&cursor.id)
                .bind(page.fetch_limit())
                .fetch_all(reader)
                .await
            }
            None => {
                sqlx::query_as(&format!(
                "SELECT {KEYSPACE_COLUMNS} FROM keyspaces WHERE org_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2"
            ))
                .bind(org)
                .bind(page.fetch_limit())
                .fetch_all(reader)
                .await
            }
        }
        .map_err(backend)?;
        let items = rows.into_iter().map(KeyspaceRow::into_keyspace).collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_rows(items, page, |k| keyward_store::Cursor::at(k.created_at.timestamp_micros(), &k.id)))
    }

    pub async fn set_keyspace_lifecycle(
        writer: &Pool<D::Db>,
        org: &str,
        id: &str,
        lifecycle: &KeyspaceLifecycle,
        event: &AuditEvent,
    ) -> Result<Option<Keyspace>, StoreError> {
        let mut tx = writer.begin().await.map_err(backend)?;
        let row: Option<KeyspaceRow<D::Json, D::Count>> = sqlx::query_as(&format!(
            "UPDATE keyspaces SET rotation_period_days = $1, disable_after_inactive_days = $2
             WHERE org_id = $3 AND id = $4 RETURNING {KEYSPACE_COLUMNS}"
        ))
        .bind(lifecycle.rotation_period_days.map(D::count))
        .bind(lifecycle.disable_after_inactive_days.map(D::count))
        .bind(org)
        .bind(id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(backend)?;
        let Some(row) = row else {
            return Ok(None);
        };
        Writes::<D>::event(&mut tx, event).await?;
        tx.commit().await.map_err(backend)?;
        row.into_keyspace().map(Some)
    }

    pub async fn replace_scope_catalog(
        writer: &Pool<D::Db>,
        org: &str,
        id: &str,
        catalog: Option<&[CatalogScope]>,
        event: &AuditEvent,
    ) -> Result<Option<Keyspace>, StoreError> {
        let catalog = catalog.map(|list| D::json(&list)).transpose()?;
        let mut tx = writer.begin().await.map_err(backend)?;
        let row: Option<KeyspaceRow<D::Json, D::Count>> = sqlx::query_as(&format!(
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
        Writes::<D>::event(&mut tx, event).await?;
        tx.commit().await.map_err(backend)?;
        row.into_keyspace().map(Some)
    }
}
