//! Users, memberships, invitations, sessions and service accounts.
//!
//! Removing a member or a service account revokes what it owns in the same
//! transaction, so no token outlives its owner's departure even briefly.

use crate::SqliteStore;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use keyward_core::model::{AuditEvent, Invitation, Member, ServiceAccount, Session, User};
use keyward_core::role::Role;
use keyward_core::TokenDigest;
use keyward_store::decode::{
    self, INVITATION_COLUMNS, MEMBER_COLUMNS, SERVICE_ACCOUNT_COLUMNS, SESSION_COLUMNS, USER_COLUMNS,
};
use keyward_store::AccountStore;
use keyward_store::{Acceptance, RevocationEvent, StoreError, StoredToken};
use sqlx::{Sqlite, SqlitePool, Transaction};

use crate::rows::{TokenRow, TOKEN_COLUMNS};
use crate::{backend, insert_event};

const LAST_OWNER: &str = "an organization keeps at least one owner";

pub(crate) async fn insert_user(tx: &mut Transaction<'_, Sqlite>, user: &User) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO users (id, email, password_hash, created_at) VALUES (?, ?, ?, ?)")
        .bind(&user.id)
        .bind(&user.email)
        .bind(&user.password_hash)
        .bind(user.created_at.timestamp_micros())
        .execute(&mut **tx)
        .await
        .map_err(backend)?;
    Ok(())
}

pub(crate) async fn insert_member(tx: &mut Transaction<'_, Sqlite>, member: &Member) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO memberships (org_id, user_id, role, joined_at) VALUES (?, ?, ?, ?)")
        .bind(&member.org_id)
        .bind(&member.user_id)
        .bind(member.role.as_str())
        .bind(member.joined_at.timestamp_micros())
        .execute(&mut **tx)
        .await
        .map_err(backend)?;
    Ok(())
}

pub async fn find_user_by_email(pool: &SqlitePool, email: &str) -> Result<Option<User>, StoreError> {
    let row = sqlx::query_as(&format!("SELECT {USER_COLUMNS} FROM users WHERE email = ?"))
        .bind(email)
        .fetch_optional(pool)
        .await
        .map_err(backend)?;
    Ok(row.map(decode::user))
}

pub async fn get_user(pool: &SqlitePool, id: &str) -> Result<Option<User>, StoreError> {
    let row = sqlx::query_as(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?"))
        .bind(id)
        .fetch_optional(pool)
        .await
        .map_err(backend)?;
    Ok(row.map(decode::user))
}

pub async fn memberships_of(pool: &SqlitePool, user_id: &str) -> Result<Vec<Member>, StoreError> {
    let rows: Vec<decode::MemberRow> = sqlx::query_as(&format!(
        "SELECT {MEMBER_COLUMNS} FROM memberships m JOIN users u ON u.id = m.user_id
         WHERE m.user_id = ? ORDER BY m.joined_at, m.org_id"
    ))
    .bind(user_id)
    .fetch_all(pool)
    .await
    .map_err(backend)?;
    rows.into_iter().map(decode::member).collect()
}

async fn member_in<'e, E: sqlx::Executor<'e, Database = Sqlite>>(
    executor: E,
    org: &str,
    user_id: &str,
) -> Result<Option<Member>, StoreError> {
    let row: Option<decode::MemberRow> = sqlx::query_as(&format!(
        "SELECT {MEMBER_COLUMNS} FROM memberships m JOIN users u ON u.id = m.user_id
         WHERE m.org_id = ? AND m.user_id = ?"
    ))
    .bind(org)
    .bind(user_id)
    .fetch_optional(executor)
    .await
    .map_err(backend)?;
    row.map(decode::member).transpose()
}

pub async fn get_member(pool: &SqlitePool, org: &str, user_id: &str) -> Result<Option<Member>, StoreError> {
    member_in(pool, org, user_id).await
}

pub async fn list_members(pool: &SqlitePool, org: &str) -> Result<Vec<Member>, StoreError> {
    let rows: Vec<decode::MemberRow> = sqlx::query_as(&format!(
        "SELECT {MEMBER_COLUMNS} FROM memberships m JOIN users u ON u.id = m.user_id
         WHERE m.org_id = ? ORDER BY m.joined_at, m.user_id"
    ))
    .bind(org)
    .fetch_all(pool)
    .await
    .map_err(backend)?;
    rows.into_iter().map(decode::member).collect()
}

async fn owners_left(tx: &mut Transaction<'_, Sqlite>, org: &str) -> Result<i64, StoreError> {
    sqlx::query_scalar("SELECT COUNT(*) FROM memberships WHERE org_id = ? AND role = 'owner'")
        .bind(org)
        .fetch_one(&mut **tx)
        .await
        .map_err(backend)
}

pub async fn set_member_role(
    pool: &SqlitePool,
    org: &str,
    user_id: &str,
    role: Role,
    event: &AuditEvent,
) -> Result<Option<Member>, StoreError> {
    let mut tx = pool.begin().await.map_err(backend)?;
    // Only a change away from owner can leave none (organizations founded
    // with an admin token may have no owner member at all).
    let Some(before) = member_in(&mut *tx, org, user_id).await? else {
        return Ok(None);
    };
    let changed = sqlx::query("UPDATE memberships SET role = ? WHERE org_id = ? AND user_id = ?")
        .bind(role.as_str())
        .bind(org)
        .bind(user_id)
        .execute(&mut *tx)
        .await
        .map_err(backend)?
        .rows_affected();
    if changed == 0 {
        return Ok(None);
    }
    if before.role == Role::Owner && owners_left(&mut tx, org).await? == 0 {
        return Err(StoreError::Conflict(LAST_OWNER.into()));
    }
    insert_event(&mut tx, event).await?;
    let member = member_in(&mut *tx, org, user_id).await?;
    tx.commit().await.map_err(backend)?;
    Ok(member)
}

/// Revokes every unrevoked token `owner` holds in `org`, logging each.
async fn revoke_owned(
    tx: &mut Transaction<'_, Sqlite>,
    org: &str,
    owner: &str,
    at: DateTime<Utc>,
    revocation_event: RevocationEvent<'_>,
) -> Result<Vec<StoredToken>, StoreError> {
    let rows: Vec<TokenRow> = sqlx::query_as(&format!(
        "UPDATE tokens SET revoked_at = ?, revoked_reason = 'member_removed' WHERE org_id = ? AND owner = ? AND revoked_at IS NULL
         RETURNING {TOKEN_COLUMNS}, digest"
    ))
    .bind(at.timestamp_micros())
    .bind(org)
    .bind(owner)
    .fetch_all(&mut **tx)
    .await
    .map_err(backend)?;
    let mut revoked = Vec::with_capacity(rows.len());
    for row in rows {
        let stored = row.into_stored()?;
        insert_event(tx, &revocation_event(&stored.record)?).await?;
        revoked.push(stored);
    }
    Ok(revoked)
}

pub async fn remove_member(
    pool: &SqlitePool,
    org: &str,
    user_id: &str,
    at: DateTime<Utc>,
    event: &AuditEvent,
    revocation_event: RevocationEvent<'_>,
) -> Result<Option<Vec<StoredToken>>, StoreError> {
    let mut tx = pool.begin().await.map_err(backend)?;
    let Some(before) = member_in(&mut *tx, org, user_id).await? else {
        return Ok(None);
    };
    let removed = sqlx::query("DELETE FROM memberships WHERE org_id = ? AND user_id = ?")
        .bind(org)
        .bind(user_id)
        .execute(&mut *tx)
        .await
        .map_err(backend)?
        .rows_affected();
    if removed == 0 {
        return Ok(None);
    }
    if before.role == Role::Owner && owners_left(&mut tx, org).await? == 0 {
        return Err(StoreError::Conflict(LAST_OWNER.into()));
    }
    sqlx::query("DELETE FROM sessions WHERE org_id = ? AND user_id = ?")
        .bind(org)
        .bind(user_id)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
    let revoked = revoke_owned(&mut tx, org, user_id, at, revocation_event).await?;
    insert_event(&mut tx, event).await?;
    tx.commit().await.map_err(backend)?;
    Ok(Some(revoked))
}

pub async fn create_invitation(
    pool: &SqlitePool,
    invitation: &Invitation,
    digest: &TokenDigest,
    event: &AuditEvent,
) -> Result<(), StoreError> {
    let mut tx = pool.begin().await.map_err(backend)?;
    sqlx::query(
        "INSERT INTO invitations (id, org_id, digest, email, role, created_at, created_by, expires_at, accepted_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL)",
    )
    .bind(&invitation.id)
    .bind(&invitation.org_id)
    .bind(&digest.as_bytes()[..])
    .bind(&invitation.email)
    .bind(invitation.role.as_str())
    .bind(invitation.created_at.timestamp_micros())
    .bind(&invitation.created_by)
    .bind(invitation.expires_at.timestamp_micros())
    .execute(&mut *tx)
    .await
    .map_err(backend)?;
    insert_event(&mut tx, event).await?;
    tx.commit().await.map_err(backend)
}

pub async fn find_invitation(pool: &SqlitePool, digest: &TokenDigest) -> Result<Option<Invitation>, StoreError> {
    let row = sqlx::query_as(&format!("SELECT {INVITATION_COLUMNS} FROM invitations WHERE digest = ?"))
        .bind(&digest.as_bytes()[..])
        .fetch_optional(pool)
        .await
        .map_err(backend)?;
    row.map(decode::invitation).transpose()
}

pub async fn list_pending_invitations(
    pool: &SqlitePool,
    org: &str,
    now: DateTime<Utc>,
) -> Result<Vec<Invitation>, StoreError> {
    let rows: Vec<decode::InvitationRow> = sqlx::query_as(&format!(
        "SELECT {INVITATION_COLUMNS} FROM invitations WHERE org_id = ? AND accepted_at IS NULL AND expires_at > ?
         ORDER BY created_at DESC, id DESC"
    ))
    .bind(org)
    .bind(now.timestamp_micros())
    .fetch_all(pool)
    .await
    .map_err(backend)?;
    rows.into_iter().map(decode::invitation).collect()
}

pub async fn revoke_invitation(pool: &SqlitePool, org: &str, id: &str, event: &AuditEvent) -> Result<bool, StoreError> {
    let mut tx = pool.begin().await.map_err(backend)?;
    let deleted = sqlx::query("DELETE FROM invitations WHERE org_id = ? AND id = ? AND accepted_at IS NULL")
        .bind(org)
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(backend)?
        .rows_affected();
    if deleted == 0 {
        return Ok(false);
    }
    insert_event(&mut tx, event).await?;
    tx.commit().await.map_err(backend)?;
    Ok(true)
}

pub async fn accept_invitation(pool: &SqlitePool, acceptance: &Acceptance<'_>) -> Result<bool, StoreError> {
    let mut tx = pool.begin().await.map_err(backend)?;
    // Spending is the guard: only one acceptance can flip accepted_at.
    let spent = sqlx::query(
        "UPDATE invitations SET accepted_at = ?1 WHERE id = ?2 AND accepted_at IS NULL AND expires_at > ?1",
    )
    .bind(acceptance.at.timestamp_micros())
    .bind(acceptance.invitation_id)
    .execute(&mut *tx)
    .await
    .map_err(backend)?
    .rows_affected();
    if spent == 0 {
        return Ok(false);
    }
    if let Some(user) = acceptance.new_user {
        insert_user(&mut tx, user).await?;
    }
    insert_member(&mut tx, acceptance.member).await?;
    insert_event(&mut tx, acceptance.event).await?;
    tx.commit().await.map_err(backend)?;
    Ok(true)
}

pub async fn create_session(
    pool: &SqlitePool,
    session: &Session,
    digest: &TokenDigest,
    event: &AuditEvent,
) -> Result<(), StoreError> {
    let mut tx = pool.begin().await.map_err(backend)?;
    sqlx::query(
        "INSERT INTO sessions (id, digest, user_id, org_id, created_at, expires_at, password_confirmed_at)
         VALUES (?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&session.id)
    .bind(&digest.as_bytes()[..])
    .bind(&session.user_id)
    .bind(&session.org_id)
    .bind(session.created_at.timestamp_micros())
    .bind(session.expires_at.timestamp_micros())
    .bind(session.password_confirmed_at.timestamp_micros())
    .execute(&mut *tx)
    .await
    .map_err(backend)?;
    insert_event(&mut tx, event).await?;
    tx.commit().await.map_err(backend)
}

pub async fn confirm_session_password(
    pool: &SqlitePool,
    org: &str,
    session_id: &str,
    at: chrono::DateTime<chrono::Utc>,
    event: &AuditEvent,
) -> Result<bool, StoreError> {
    let mut tx = pool.begin().await.map_err(backend)?;
    let updated = sqlx::query("UPDATE sessions SET password_confirmed_at = ? WHERE org_id = ? AND id = ?")
        .bind(at.timestamp_micros())
        .bind(org)
        .bind(session_id)
        .execute(&mut *tx)
        .await
        .map_err(backend)?
        .rows_affected();
    if updated == 0 {
        return Ok(false);
    }
    insert_event(&mut tx, event).await?;
    tx.commit().await.map_err(backend)?;
    Ok(true)
}

pub async fn find_session(pool: &SqlitePool, digest: &TokenDigest) -> Result<Option<Session>, StoreError> {
    let row = sqlx::query_as(&format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE digest = ?"))
        .bind(&digest.as_bytes()[..])
        .fetch_optional(pool)
        .await
        .map_err(backend)?;
    Ok(row.map(decode::session))
}

pub async fn delete_session(
    pool: &SqlitePool,
    digest: &TokenDigest,
    event: Option<&AuditEvent>,
) -> Result<bool, StoreError> {
    let mut tx = pool.begin().await.map_err(backend)?;
    let deleted = sqlx::query("DELETE FROM sessions WHERE digest = ?")
        .bind(&digest.as_bytes()[..])
        .execute(&mut *tx)
        .await
        .map_err(backend)?
        .rows_affected()
        > 0;
    if deleted {
        if let Some(event) = event {
            insert_event(&mut tx, event).await?;
        }
    }
    tx.commit().await.map_err(backend)?;
    Ok(deleted)
}

pub async fn change_password(
    pool: &SqlitePool,
    user_id: &str,
    password_hash: &str,
    keep_session: Option<&str>,
    events: &[AuditEvent],
) -> Result<bool, StoreError> {
    let mut tx = pool.begin().await.map_err(backend)?;
    let changed = sqlx::query("UPDATE users SET password_hash = ? WHERE id = ?")
        .bind(password_hash)
        .bind(user_id)
        .execute(&mut *tx)
        .await
        .map_err(backend)?
        .rows_affected()
        == 1;
    if !changed {
        return Ok(false);
    }
    // Whoever held another session may be whoever learned the old password.
    sqlx::query("DELETE FROM sessions WHERE user_id = ? AND id <> ?")
        .bind(user_id)
        .bind(keep_session.unwrap_or(""))
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
    for event in events {
        insert_event(&mut tx, event).await?;
    }
    tx.commit().await.map_err(backend)?;
    Ok(true)
}

pub async fn organizations_holding(pool: &SqlitePool, org: &str, id: &str) -> Result<Vec<String>, StoreError> {
    let query = match id.split('_').next().unwrap_or_default() {
        "tok" => "SELECT org_id FROM tokens WHERE id = ?1 AND org_id <> ?2",
        "ks" => "SELECT org_id FROM keyspaces WHERE id = ?1 AND org_id <> ?2",
        "whk" => "SELECT org_id FROM webhook_endpoints WHERE id = ?1 AND org_id <> ?2",
        "inv" => "SELECT org_id FROM invitations WHERE id = ?1 AND org_id <> ?2",
        "sa" => "SELECT org_id FROM service_accounts WHERE id = ?1 AND org_id <> ?2",
        "org" => "SELECT id FROM organizations WHERE id = ?1 AND id <> ?2",
        // A person is "elsewhere" when a member of another organization but not of
        // this one; the oldest 20 memberships are enough to tell.
        "usr" => {
            "SELECT org_id FROM memberships WHERE user_id = ?1 AND org_id <> ?2
             AND NOT EXISTS (SELECT 1 FROM memberships AS here WHERE here.user_id = ?1 AND here.org_id = ?2)
             ORDER BY joined_at LIMIT 20"
        }
        _ => return Ok(Vec::new()),
    };
    let rows: Vec<(String,)> = sqlx::query_as(query).bind(id).bind(org).fetch_all(pool).await.map_err(backend)?;
    Ok(rows.into_iter().map(|(org,)| org).collect())
}

pub async fn create_service_account(
    pool: &SqlitePool,
    account: &ServiceAccount,
    event: &AuditEvent,
) -> Result<(), StoreError> {
    let mut tx = pool.begin().await.map_err(backend)?;
    sqlx::query("INSERT INTO service_accounts (id, org_id, name, created_at, created_by) VALUES (?, ?, ?, ?, ?)")
        .bind(&account.id)
        .bind(&account.org_id)
        .bind(&account.name)
        .bind(account.created_at.timestamp_micros())
        .bind(&account.created_by)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
    insert_event(&mut tx, event).await?;
    tx.commit().await.map_err(backend)
}

pub async fn get_service_account(pool: &SqlitePool, org: &str, id: &str) -> Result<Option<ServiceAccount>, StoreError> {
    let row =
        sqlx::query_as(&format!("SELECT {SERVICE_ACCOUNT_COLUMNS} FROM service_accounts WHERE org_id = ? AND id = ?"))
            .bind(org)
            .bind(id)
            .fetch_optional(pool)
            .await
            .map_err(backend)?;
    Ok(row.map(decode::service_account))
}

pub async fn list_service_accounts(pool: &SqlitePool, org: &str) -> Result<Vec<ServiceAccount>, StoreError> {
    let rows: Vec<decode::ServiceAccountRow> = sqlx::query_as(&format!(
        "SELECT {SERVICE_ACCOUNT_COLUMNS} FROM service_accounts WHERE org_id = ? ORDER BY created_at, id"
    ))
    .bind(org)
    .fetch_all(pool)
    .await
    .map_err(backend)?;
    Ok(rows.into_iter().map(decode::service_account).collect())
}

pub async fn remove_service_account(
    pool: &SqlitePool,
    org: &str,
    id: &str,
    at: DateTime<Utc>,
    event: &AuditEvent,
    revocation_event: RevocationEvent<'_>,
) -> Result<Option<Vec<StoredToken>>, StoreError> {
    let mut tx = pool.begin().await.map_err(backend)?;
    let removed = sqlx::query("DELETE FROM service_accounts WHERE org_id = ? AND id = ?")
        .bind(org)
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(backend)?
        .rows_affected();
    if removed == 0 {
        return Ok(None);
    }
    let revoked = revoke_owned(&mut tx, org, id, at, revocation_event).await?;
    insert_event(&mut tx, event).await?;
    tx.commit().await.map_err(backend)?;
    Ok(Some(revoked))
}

#[async_trait]
impl AccountStore for SqliteStore {
    async fn find_user_by_email(&self, email: &str) -> Result<Option<User>, StoreError> {
        find_user_by_email(&self.reader, email).await
    }

    async fn get_user(&self, id: &str) -> Result<Option<User>, StoreError> {
        get_user(&self.reader, id).await
    }

    async fn memberships_of(&self, user_id: &str) -> Result<Vec<Member>, StoreError> {
        memberships_of(&self.reader, user_id).await
    }

    async fn get_member(&self, org: &str, user_id: &str) -> Result<Option<Member>, StoreError> {
        get_member(&self.reader, org, user_id).await
    }

    async fn list_members(&self, org: &str) -> Result<Vec<Member>, StoreError> {
        list_members(&self.reader, org).await
    }

    async fn set_member_role(
        &self,
        org: &str,
        user_id: &str,
        role: Role,
        event: &AuditEvent,
    ) -> Result<Option<Member>, StoreError> {
        set_member_role(&self.writer, org, user_id, role, event).await
    }

    async fn remove_member(
        &self,
        org: &str,
        user_id: &str,
        at: DateTime<Utc>,
        event: &AuditEvent,
        revocation_event: RevocationEvent<'_>,
    ) -> Result<Option<Vec<StoredToken>>, StoreError> {
        remove_member(&self.writer, org, user_id, at, event, revocation_event).await
    }

    async fn create_invitation(
        &self,
        invitation: &Invitation,
        digest: &TokenDigest,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        create_invitation(&self.writer, invitation, digest, event).await
    }

    async fn find_invitation(&self, digest: &TokenDigest) -> Result<Option<Invitation>, StoreError> {
        find_invitation(&self.reader, digest).await
    }

    async fn list_pending_invitations(&self, org: &str, now: DateTime<Utc>) -> Result<Vec<Invitation>, StoreError> {
        list_pending_invitations(&self.reader, org, now).await
    }

    async fn revoke_invitation(&self, org: &str, id: &str, event: &AuditEvent) -> Result<bool, StoreError> {
        revoke_invitation(&self.writer, org, id, event).await
    }

    async fn accept_invitation(&self, acceptance: &Acceptance<'_>) -> Result<bool, StoreError> {
        accept_invitation(&self.writer, acceptance).await
    }

    async fn create_session(
        &self,
        session: &Session,
        digest: &TokenDigest,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        create_session(&self.writer, session, digest, event).await
    }

    async fn find_session(&self, digest: &TokenDigest) -> Result<Option<Session>, StoreError> {
        find_session(&self.reader, digest).await
    }

    async fn confirm_session_password(
        &self,
        org: &str,
        session_id: &str,
        at: DateTime<Utc>,
        event: &AuditEvent,
    ) -> Result<bool, StoreError> {
        confirm_session_password(&self.writer, org, session_id, at, event).await
    }

    async fn delete_session(&self, digest: &TokenDigest, event: Option<&AuditEvent>) -> Result<bool, StoreError> {
        delete_session(&self.writer, digest, event).await
    }

    async fn change_password(
        &self,
        user_id: &str,
        password_hash: &str,
        keep_session: Option<&str>,
        events: &[AuditEvent],
    ) -> Result<bool, StoreError> {
        change_password(&self.writer, user_id, password_hash, keep_session, events).await
    }

    async fn organizations_holding(&self, org: &str, id: &str) -> Result<Vec<String>, StoreError> {
        organizations_holding(&self.reader, org, id).await
    }

    async fn create_service_account(&self, account: &ServiceAccount, event: &AuditEvent) -> Result<(), StoreError> {
        create_service_account(&self.writer, account, event).await
    }

    async fn get_service_account(&self, org: &str, id: &str) -> Result<Option<ServiceAccount>, StoreError> {
        get_service_account(&self.reader, org, id).await
    }

    async fn list_service_accounts(&self, org: &str) -> Result<Vec<ServiceAccount>, StoreError> {
        list_service_accounts(&self.reader, org).await
    }

    async fn remove_service_account(
        &self,
        org: &str,
        id: &str,
        at: DateTime<Utc>,
        event: &AuditEvent,
        revocation_event: RevocationEvent<'_>,
    ) -> Result<Option<Vec<StoredToken>>, StoreError> {
        remove_service_account(&self.writer, org, id, at, event, revocation_event).await
    }
}
