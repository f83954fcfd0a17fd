//! Organizations and their keyspaces.

use async_trait::async_trait;
use keyward_core::model::{AuditEvent, CatalogScope, Keyspace, Organization};
use keyward_core::policy::TokenPolicy;
use keyward_store::{Founding, KeyspaceLifecycle, OrganizationStore, Page, PageRequest, StoreError};
use sqlx::{QueryBuilder, Sqlite, Transaction};

use crate::accounts;
use crate::audit::insert_event;
use crate::push_cursor;
use crate::rows::{KeyspaceRow, OrganizationRow, KEYSPACE_COLUMNS, ORGANIZATION_COLUMNS};
use crate::tokens::insert_token;
use crate::SqliteDialect;
use crate::{backend, json_text, SqliteStore};
use keyward_store_sql::write::Writes;

pub(crate) async fn insert_keyspace(tx: &mut Transaction<'_, Sqlite>, keyspace: &Keyspace) -> Result<(), StoreError> {
    Writes::<SqliteDialect>::keyspace(&mut **tx, keyspace).await
}

pub(crate) async fn insert_organization(
    tx: &mut Transaction<'_, Sqlite>,
    organization: &Organization,
) -> Result<(), StoreError> {
    Writes::<SqliteDialect>::organization(&mut **tx, organization).await
}

/// The rest of a founding after its organization row: keyspace, token, event.
pub(crate) async fn insert_founded(
    tx: &mut Transaction<'_, Sqlite>,
    founding: &Founding<'_>,
) -> Result<(), StoreError> {
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

#[async_trait]
impl OrganizationStore for SqliteStore {
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
}
