//! Users, memberships, invitations, sessions and service accounts, written
//! once for both SQL backends: their statements are the same in both
//! dialects. Removing a member or a service account revokes what it owns in
//! the same transaction, so no token outlives its owner's departure even
//! briefly.

use std::marker::PhantomData;

use chrono::{DateTime, Utc};
use keyward_core::model::{AuditEvent, Invitation, Member, ServiceAccount, Session, User};
use keyward_core::role::Role;
use keyward_core::TokenDigest;
use keyward_store::decode::{
    self, InvitationRow, MemberRow, ServiceAccountRow, SessionRow, UserRow, INVITATION_COLUMNS, MEMBER_COLUMNS,
    SERVICE_ACCOUNT_COLUMNS, SESSION_COLUMNS, USER_COLUMNS,
};
use keyward_store::{Acceptance, RevocationEvent, StoreError, StoredToken};
use sqlx::{Database, Encode, Executor, FromRow, IntoArguments, Pool, Transaction, Type};

use crate::rows::{TokenRow, TOKEN_COLUMNS};
use crate::write::{Connection, Writes};
use crate::{backend, Dialect};

const LAST_OWNER: &str = "an organization keeps at least one owner";

/// The account operations of dialect `D`, on its pools and transactions.
pub struct Accounts<D>(PhantomData<D>);

impl<D: Dialect> Accounts<D>
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
{
    async fn insert_event(tx: &mut Transaction<'_, D::Db>, event: &AuditEvent) -> Result<(), StoreError> {
        Writes::<D>::event(&mut **tx, event).await
    }

    pub async fn insert_user(tx: &mut Transaction<'_, D::Db>, user: &User) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO users (id, email, password_hash, created_at) VALUES ($1, $2, $3, $4)")
            .bind(&user.id)
            .bind(&user.email)
            .bind(&user.password_hash)
            .bind(user.created_at.timestamp_micros())
            .execute(&mut **tx)
            .await
            .map_err(backend)?;
        Ok(())
    }

    pub async fn insert_member(tx: &mut Transaction<'_, D::Db>, member: &Member) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO memberships (org_id, user_id, role, joined_at) VALUES ($1, $2, $3, $4)")
            .bind(&member.org_id)
            .bind(&member.user_id)
            .bind(member.role.as_str())
            .bind(member.joined_at.timestamp_micros())
            .execute(&mut **tx)
            .await
            .map_err(backend)?;
        Ok(())
    }

    pub async fn find_user_by_email(pool: &Pool<D::Db>, email: &str) -> Result<Option<User>, StoreError> {
        let row = sqlx::query_as(&format!("SELECT {USER_COLUMNS} FROM users WHERE email = $1"))
            .bind(email)
            .fetch_optional(pool)
            .await
            .map_err(backend)?;
        Ok(row.map(decode::user))
    }

    pub async fn get_user(pool: &Pool<D::Db>, id: &str) -> Result<Option<User>, StoreError> {
        let row = sqlx::query_as(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"))
            .bind(id)
            .fetch_optional(pool)
            .await
            .map_err(backend)?;
        Ok(row.map(decode::user))
    }

    pub async fn memberships_of(pool: &Pool<D::Db>, user_id: &str) -> Result<Vec<Member>, StoreError> {
        let rows: Vec<MemberRow> = sqlx::query_as(&format!(
            "SELECT {MEMBER_COLUMNS} FROM memberships m JOIN users u ON u.id = m.user_id
             WHERE m.user_id = $1 ORDER BY m.joined_at, m.org_id"
        ))
        .bind(user_id)
        .fetch_all(pool)
        .await
        .map_err(backend)?;
        rows.into_iter().map(decode::member).collect()
    }

    async fn member_in<'e, E: Executor<'e, Database = D::Db>>(
        executor: E,
        org: &str,
        user_id: &str,
    ) -> Result<Option<Member>, StoreError> {
        let row: Option<MemberRow> = sqlx::query_as(&format!(
            "SELECT {MEMBER_COLUMNS} FROM memberships m JOIN users u ON u.id = m.user_id
             WHERE m.org_id = $1 AND m.user_id = $2"
        ))
        .bind(org)
        .bind(user_id)
        .fetch_optional(executor)
        .await
        .map_err(backend)?;
        row.map(decode::member).transpose()
    }

    pub async fn get_member(pool: &Pool<D::Db>, org: &str, user_id: &str) -> Result<Option<Member>, StoreError> {
        Self::member_in(pool, org, user_id).await
    }

    pub async fn list_members(pool: &Pool<D::Db>, org: &str) -> Result<Vec<Member>, StoreError> {
        let rows: Vec<MemberRow> = sqlx::query_as(&format!(
            "SELECT {MEMBER_COLUMNS} FROM memberships m JOIN users u ON u.id = m.user_id
             WHERE m.org_id = $1 ORDER BY m.joined_at, m.user_id"
        ))
        .bind(org)
        .fetch_all(pool)
        .await
        .map_err(backend)?;
        rows.into_iter().map(decode::member).collect()
    }

    async fn lock_organization(tx: &mut Transaction<'_, D::Db>, org: &str) -> Result<(), StoreError> {
        if let Some(lock) = D::LOCK_ORGANIZATION {
            sqlx::query(lock).bind(org).execute(&mut **tx).await.map_err(backend)?;
        }
        Ok(())
    }

    async fn owners_left(tx: &mut Transaction<'_, D::Db>, org: &str) -> Result<i64, StoreError> {
        sqlx::query_scalar("SELECT COUNT(*) FROM memberships WHERE org_id = $1 AND role = 'owner'")
            .bind(org)
            .fetch_one(&mut **tx)
            .await
            .map_err(backend)
    }

    pub async fn set_member_role(
        pool: &Pool<D::Db>,
        org: &str,
        user_id: &str,
        role: Role,
        event: &AuditEvent,
    ) -> Result<Option<Member>, StoreError> {
        let mut tx = pool.begin().await.map_err(backend)?;
        // Concurrent demotions in READ COMMITTED could each see another owner
        // left; locking the organization row serializes them.
        Self::lock_organization(&mut tx, org).await?;
        // Only a change away from owner can leave none (organizations founded
        // with an admin token may have no owner member at all).
        let Some(before) = Self::member_in(&mut *tx, org, user_id).await? else {
            return Ok(None);
        };
        let changed = sqlx::query("UPDATE memberships SET role = $1 WHERE org_id = $2 AND user_id = $3")
            .bind(role.as_str())
            .bind(org)
            .bind(user_id)
            .execute(&mut *tx)
            .await
            .map_err(backend)
            .map(|result| D::rows_affected(&result))?;
        if changed == 0 {
            return Ok(None);
        }
        if before.role == Role::Owner && Self::owners_left(&mut tx, org).await? == 0 {
            return Err(StoreError::Conflict(LAST_OWNER.into()));
        }
        Self::insert_event(&mut tx, event).await?;
        let member = Self::member_in(&mut *tx, org, user_id).await?;
        tx.commit().await.map_err(backend)?;
        Ok(member)
    }

    /// Revokes every unrevoked token `owner` holds in `org`, logging each.
    async fn revoke_owned(
        tx: &mut Transaction<'_, D::Db>,
        org: &str,
        owner: &str,
        at: DateTime<Utc>,
        revocation_event: RevocationEvent<'_>,
    ) -> Result<Vec<StoredToken>, StoreError> {
        let rows: Vec<TokenRow<D::Json, D::Count>> = sqlx::query_as(&format!(
            "UPDATE tokens SET revoked_at = $1, revoked_reason = 'member_removed' WHERE org_id = $2 AND owner = $3 AND revoked_at IS NULL
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
            Self::insert_event(tx, &revocation_event(&stored.record)?).await?;
            revoked.push(stored);
        }
        Ok(revoked)
    }

    pub async fn remove_member(
        pool: &Pool<D::Db>,
        org: &str,
        user_id: &str,
        at: DateTime<Utc>,
        event: &AuditEvent,
        revocation_event: RevocationEvent<'_>,
    ) -> Result<Option<Vec<StoredToken>>, StoreError> {
        let mut tx = pool.begin().await.map_err(backend)?;
        // Concurrent demotions in READ COMMITTED could each see another owner
        // left; locking the organization row serializes them.
        Self::lock_organization(&mut tx, org).await?;
        let Some(before) = Self::member_in(&mut *tx, org, user_id).await? else {
            return Ok(None);
        };
        let removed = sqlx::query("DELETE FROM memberships WHERE org_id = $1 AND user_id = $2")
            .bind(org)
            .bind(user_id)
            .execute(&mut *tx)
            .await
            .map_err(backend)
            .map(|result| D::rows_affected(&result))?;
        if removed == 0 {
            return Ok(None);
        }
        if before.role == Role::Owner && Self::owners_left(&mut tx, org).await? == 0 {
            return Err(StoreError::Conflict(LAST_OWNER.into()));
        }
        sqlx::query("DELETE FROM sessions WHERE org_id = $1 AND user_id = $2")
            .bind(org)
            .bind(user_id)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        let revoked = Self::revoke_owned(&mut tx, org, user_id, at, revocation_event).await?;
        Self::insert_event(&mut tx, event).await?;
        tx.commit().await.map_err(backend)?;
        Ok(Some(revoked))
    }

    pub async fn create_invitation(
        pool: &Pool<D::Db>,
        invitation: &Invitation,
        digest: &TokenDigest,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        let mut tx = pool.begin().await.map_err(backend)?;
        sqlx::query(
            "INSERT INTO invitations (id, org_id, digest, email, role, created_at, created_by, expires_at, accepted_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL)",
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
        Self::insert_event(&mut tx, event).await?;
        tx.commit().await.map_err(backend)
    }

    pub async fn find_invitation(pool: &Pool<D::Db>, digest: &TokenDigest) -> Result<Option<Invitation>, StoreError> {
        let row = sqlx::query_as(&format!("SELECT {INVITATION_COLUMNS} FROM invitations WHERE digest = $1"))
            .bind(&digest.as_bytes()[..])
            .fetch_optional(pool)
            .await
            .map_err(backend)?;
        row.map(decode::invitation).transpose()
    }

    pub async fn list_pending_invitations(
        pool: &Pool<D::Db>,
        org: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<Invitation>, StoreError> {
        let rows: Vec<InvitationRow> = sqlx::query_as(&format!(
            "SELECT {INVITATION_COLUMNS} FROM invitations WHERE org_id = $1 AND accepted_at IS NULL AND expires_at > $2
             ORDER BY created_at DESC, id DESC"
        ))
        .bind(org)
        .bind(now.timestamp_micros())
        .fetch_all(pool)
        .await
        .map_err(backend)?;
        rows.into_iter().map(decode::invitation).collect()
    }

    pub async fn revoke_invitation(
        pool: &Pool<D::Db>,
        org: &str,
        id: &str,
        event: &AuditEvent,
    ) -> Result<bool, StoreError> {
        let mut tx = pool.begin().await.map_err(backend)?;
        let deleted = sqlx::query("DELETE FROM invitations WHERE org_id = $1 AND id = $2 AND accepted_at IS NULL")
            .bind(org)
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(backend)
            .map(|result| D::rows_affected(&result))?;
        if deleted == 0 {
            return Ok(false);
        }
        Self::insert_event(&mut tx, event).await?;
        tx.commit().await.map_err(backend)?;
        Ok(true)
    }

    pub async fn accept_invitation(pool: &Pool<D::Db>, acceptance: &Acceptance<'_>) -> Result<bool, StoreError> {
        let mut tx = pool.begin().await.map_err(backend)?;
        // Spending is the guard: only one acceptance can flip accepted_at.
        let spent = sqlx::query(
            "UPDATE invitations SET accepted_at = $1 WHERE id = $2 AND accepted_at IS NULL AND expires_at > $1",
        )
        .bind(acceptance.at.timestamp_micros())
        .bind(acceptance.invitation_id)
        .execute(&mut *tx)
        .await
        .map_err(backend)
        .map(|result| D::rows_affected(&result))?;
        if spent == 0 {
            return Ok(false);
        }
        if let Some(user) = acceptance.new_user {
            Self::insert_user(&mut tx, user).await?;
        }
        Self::insert_member(&mut tx, acceptance.member).await?;
        Self::insert_event(&mut tx, acceptance.event).await?;
        tx.commit().await.map_err(backend)?;
        Ok(true)
    }

    pub async fn create_session(
        pool: &Pool<D::Db>,
        session: &Session,
        digest: &TokenDigest,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        let mut tx = pool.begin().await.map_err(backend)?;
        sqlx::query(
            "INSERT INTO sessions (id, digest, user_id, org_id, created_at, expires_at, password_confirmed_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
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
        Self::insert_event(&mut tx, event).await?;
        tx.commit().await.map_err(backend)
    }

    pub async fn confirm_session_password(
        pool: &Pool<D::Db>,
        org: &str,
        session_id: &str,
        at: chrono::DateTime<chrono::Utc>,
        event: &AuditEvent,
    ) -> Result<bool, StoreError> {
        let mut tx = pool.begin().await.map_err(backend)?;
        let updated = sqlx::query("UPDATE sessions SET password_confirmed_at = $1 WHERE org_id = $2 AND id = $3")
            .bind(at.timestamp_micros())
            .bind(org)
            .bind(session_id)
            .execute(&mut *tx)
            .await
            .map_err(backend)
            .map(|result| D::rows_affected(&result))?;
        if updated == 0 {
            return Ok(false);
        }
        Self::insert_event(&mut tx, event).await?;
        tx.commit().await.map_err(backend)?;
        Ok(true)
    }

    pub async fn find_session(pool: &Pool<D::Db>, digest: &TokenDigest) -> Result<Option<Session>, StoreError> {
        let row = sqlx::query_as(&format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE digest = $1"))
            .bind(&digest.as_bytes()[..])
            .fetch_optional(pool)
            .await
            .map_err(backend)?;
        Ok(row.map(decode::session))
    }

    pub async fn delete_session(
        pool: &Pool<D::Db>,
        digest: &TokenDigest,
        event: Option<&AuditEvent>,
    ) -> Result<bool, StoreError> {
        let mut tx = pool.begin().await.map_err(backend)?;
        let deleted = sqlx::query("DELETE FROM sessions WHERE digest = $1")
            .bind(&digest.as_bytes()[..])
            .execute(&mut *tx)
            .await
            .map_err(backend)
            .map(|result| D::rows_affected(&result))?
            > 0;
        if deleted {
            if let Some(event) = event {
                Self::insert_event(&mut tx, event).await?;
            }
        }
        tx.commit().await.map_err(backend)?;
        Ok(deleted)
    }

    pub async fn change_password(
        pool: &Pool<D::Db>,
        user_id: &str,
        password_hash: &str,
        keep_session: Option<&str>,
        events: &[AuditEvent],
    ) -> Result<bool, StoreError> {
        let mut tx = pool.begin().await.map_err(backend)?;
        let changed = sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
            .bind(password_hash)
            .bind(user_id)
            .execute(&mut *tx)
            .await
            .map_err(backend)
            .map(|result| D::rows_affected(&result))?
            == 1;
        if !changed {
            return Ok(false);
        }
        // Whoever held another session may be whoever learned the old password.
        sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND id <> $2")
            .bind(user_id)
            .bind(keep_session.unwrap_or(""))
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        for event in events {
            Self::insert_event(&mut tx, event).await?;
        }
        tx.commit().await.map_err(backend)?;
        Ok(true)
    }

    pub async fn organizations_holding(pool: &Pool<D::Db>, org: &str, id: &str) -> Result<Vec<String>, StoreError> {
        let query = match id.split('_').next().unwrap_or_default() {
            "tok" => "SELECT org_id FROM tokens WHERE id = $1 AND org_id <> $2",
            "ks" => "SELECT org_id FROM keyspaces WHERE id = $1 AND org_id <> $2",
            "whk" => "SELECT org_id FROM webhook_endpoints WHERE id = $1 AND org_id <> $2",
            "inv" => "SELECT org_id FROM invitations WHERE id = $1 AND org_id <> $2",
            "sa" => "SELECT org_id FROM service_accounts WHERE id = $1 AND org_id <> $2",
            "org" => "SELECT id FROM organizations WHERE id = $1 AND id <> $2",
            // A person is "elsewhere" when a member of another organization but not of
            // this one; the oldest 20 memberships are enough to tell.
            "usr" => {
                "SELECT org_id FROM memberships WHERE user_id = $1 AND org_id <> $2
                 AND NOT EXISTS (SELECT 1 FROM memberships AS here WHERE here.user_id = $1 AND here.org_id = $2)
                 ORDER BY joined_at LIMIT 20"
            }
            _ => return Ok(Vec::new()),
        };
        let rows: Vec<(String,)> = sqlx::query_as(query).bind(id).bind(org).fetch_all(pool).await.map_err(backend)?;
        Ok(rows.into_iter().map(|(org,)| org).collect())
    }

    pub async fn create_service_account(
        pool: &Pool<D::Db>,
        account: &ServiceAccount,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        let mut tx = pool.begin().await.map_err(backend)?;
        sqlx::query(
            "INSERT INTO service_accounts (id, org_id, name, created_at, created_by) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&account.id)
        .bind(&account.org_id)
        .bind(&account.name)
        .bind(account.created_at.timestamp_micros())
        .bind(&account.created_by)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        Self::insert_event(&mut tx, event).await?;
        tx.commit().await.map_err(backend)
    }

    pub async fn get_service_account(
        pool: &Pool<D::Db>,
        org: &str,
        id: &str,
    ) -> Result<Option<ServiceAccount>, StoreError> {
        let row = sqlx::query_as(&format!(
            "SELECT {SERVICE_ACCOUNT_COLUMNS} FROM service_accounts WHERE org_id = $1 AND id = $2"
        ))
        .bind(org)
        .bind(id)
        .fetch_optional(pool)
        .await
        .map_err(backend)?;
        Ok(row.map(decode::service_account))
    }

    pub async fn list_service_accounts(pool: &Pool<D::Db>, org: &str) -> Result<Vec<ServiceAccount>, StoreError> {
        let rows: Vec<ServiceAccountRow> = sqlx::query_as(&format!(
            "SELECT {SERVICE_ACCOUNT_COLUMNS} FROM service_accounts WHERE org_id = $1 ORDER BY created_at, id"
        ))
        .bind(org)
        .fetch_all(pool)
        .await
        .map_err(backend)?;
        Ok(rows.into_iter().map(decode::service_account).collect())
    }

    pub async fn remove_service_account(
        pool: &Pool<D::Db>,
        org: &str,
        id: &str,
        at: DateTime<Utc>,
        event: &AuditEvent,
        revocation_event: RevocationEvent<'_>,
    ) -> Result<Option<Vec<StoredToken>>, StoreError> {
        let mut tx = pool.begin().await.map_err(backend)?;
        let removed = sqlx::query("DELETE FROM service_accounts WHERE org_id = $1 AND id = $2")
            .bind(org)
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(backend)
            .map(|result| D::rows_affected(&result))?;
        if removed == 0 {
            return Ok(None);
        }
        let revoked = Self::revoke_owned(&mut tx, org, id, at, revocation_event).await?;
        Self::insert_event(&mut tx, event).await?;
        tx.commit().await.map_err(backend)?;
        Ok(Some(revoked))
    }
}

/// A session and, when its user still belongs to its organization, their
/// membership: one row of [`Accounts::find_signed_in`].
type SignedInRow = (String, String, String, i64, i64, i64, Option<String>, Option<String>, Option<i64>);

// Apart from the block above so that only this read asks the backend to
// decode its wider row.
impl<D: Dialect> Accounts<D>
where
    for<'q> <D::Db as Database>::Arguments<'q>: IntoArguments<'q, D::Db>,
    for<'q> &'q [u8]: Encode<'q, D::Db> + Type<D::Db>,
    for<'r> SignedInRow: FromRow<'r, <D::Db as Database>::Row> + Send + Unpin,
    for<'c> &'c Pool<D::Db>: Executor<'c, Database = D::Db>,
{
    pub async fn find_signed_in(
        pool: &Pool<D::Db>,
        digest: &TokenDigest,
    ) -> Result<Option<(Session, Option<Member>)>, StoreError> {
        let row: Option<SignedInRow> = sqlx::query_as(
            "SELECT s.id, s.user_id, s.org_id, s.created_at, s.expires_at,
                    COALESCE(s.password_confirmed_at, s.created_at), u.email, m.role, m.joined_at
             FROM sessions s
             LEFT JOIN memberships m ON m.org_id = s.org_id AND m.user_id = s.user_id
             LEFT JOIN users u ON u.id = m.user_id
             WHERE s.digest = $1",
        )
        .bind(&digest.as_bytes()[..])
        .fetch_optional(pool)
        .await
        .map_err(backend)?;
        let Some((id, user_id, org_id, created_at, expires_at, confirmed, email, role, joined_at)) = row else {
            return Ok(None);
        };
        let member = match (email, role, joined_at) {
            (Some(email), Some(role), Some(joined_at)) => {
                Some(decode::member((org_id.clone(), user_id.clone(), email, role, joined_at))?)
            }
            _ => None,
        };
        Ok(Some((decode::session((id, user_id, org_id, created_at, expires_at, confirmed)), member)))
    }
}
