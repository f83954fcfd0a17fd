//! Users, memberships, invitations, sessions and service accounts on
//! PostgreSQL: the statements are shared (`keyward_store_sql::accounts`);
//! this file chooses the pool each one runs on.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use keyward_core::model::{AuditEvent, Invitation, Member, ServiceAccount, Session, User};
use keyward_core::role::Role;
use keyward_core::TokenDigest;
use keyward_store::{Acceptance, AccountStore, RevocationEvent, StoreError, StoredToken};
use keyward_store_sql::accounts::Accounts;
use sqlx::{Postgres, Transaction};

use crate::{PostgresDialect, PostgresStore};

pub(crate) async fn insert_user(tx: &mut Transaction<'_, Postgres>, user: &User) -> Result<(), StoreError> {
    Accounts::<PostgresDialect>::insert_user(tx, user).await
}

pub(crate) async fn insert_member(tx: &mut Transaction<'_, Postgres>, member: &Member) -> Result<(), StoreError> {
    Accounts::<PostgresDialect>::insert_member(tx, member).await
}

#[async_trait]
impl AccountStore for PostgresStore {
    async fn find_user_by_email(&self, email: &str) -> Result<Option<User>, StoreError> {
        Accounts::<PostgresDialect>::find_user_by_email(&self.pool, email).await
    }

    async fn get_user(&self, id: &str) -> Result<Option<User>, StoreError> {
        Accounts::<PostgresDialect>::get_user(&self.pool, id).await
    }

    async fn memberships_of(&self, user_id: &str) -> Result<Vec<Member>, StoreError> {
        Accounts::<PostgresDialect>::memberships_of(&self.pool, user_id).await
    }

    async fn get_member(&self, org: &str, user_id: &str) -> Result<Option<Member>, StoreError> {
        Accounts::<PostgresDialect>::get_member(&self.pool, org, user_id).await
    }

    async fn list_members(&self, org: &str) -> Result<Vec<Member>, StoreError> {
        Accounts::<PostgresDialect>::list_members(&self.pool, org).await
    }

    async fn set_member_role(
        &self,
        org: &str,
        user_id: &str,
        role: Role,
        event: &AuditEvent,
    ) -> Result<Option<Member>, StoreError> {
        Accounts::<PostgresDialect>::set_member_role(&self.pool, org, user_id, role, event).await
    }

    async fn remove_member(
        &self,
        org: &str,
        user_id: &str,
        at: DateTime<Utc>,
        event: &AuditEvent,
        revocation_event: RevocationEvent<'_>,
    ) -> Result<Option<Vec<StoredToken>>, StoreError> {
        Accounts::<PostgresDialect>::remove_member(&self.pool, org, user_id, at, event, revocation_event).await
    }

    async fn create_invitation(
        &self,
        invitation: &Invitation,
        digest: &TokenDigest,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        Accounts::<PostgresDialect>::create_invitation(&self.pool, invitation, digest, event).await
    }

    async fn find_invitation(&self, digest: &TokenDigest) -> Result<Option<Invitation>, StoreError> {
        Accounts::<PostgresDialect>::find_invitation(&self.pool, digest).await
    }

    async fn list_pending_invitations(&self, org: &str, now: DateTime<Utc>) -> Result<Vec<Invitation>, StoreError> {
        Accounts::<PostgresDialect>::list_pending_invitations(&self.pool, org, now).await
    }

    async fn revoke_invitation(&self, org: &str, id: &str, event: &AuditEvent) -> Result<bool, StoreError> {
        Accounts::<PostgresDialect>::revoke_invitation(&self.pool, org, id, event).await
    }

    async fn accept_invitation(&self, acceptance: &Acceptance<'_>) -> Result<bool, StoreError> {
        Accounts::<PostgresDialect>::accept_invitation(&self.pool, acceptance).await
    }

    async fn create_session(
        &self,
        session: &Session,
        digest: &TokenDigest,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        Accounts::<PostgresDialect>::create_session(&self.pool, session, digest, event).await
    }

    async fn find_session(&self, digest: &TokenDigest) -> Result<Option<Session>, StoreError> {
        Accounts::<PostgresDialect>::find_session(&self.pool, digest).await
    }

    async fn confirm_session_password(
        &self,
        org: &str,
        session_id: &str,
        at: DateTime<Utc>,
        event: &AuditEvent,
    ) -> Result<bool, StoreError> {
        Accounts::<PostgresDialect>::confirm_session_password(&self.pool, org, session_id, at, event).await
    }

    async fn delete_session(&self, digest: &TokenDigest, event: Option<&AuditEvent>) -> Result<bool, StoreError> {
        Accounts::<PostgresDialect>::delete_session(&self.pool, digest, event).await
    }

    async fn change_password(
        &self,
        user_id: &str,
        password_hash: &str,
        keep_session: Option<&str>,
        events: &[AuditEvent],
    ) -> Result<bool, StoreError> {
        Accounts::<PostgresDialect>::change_password(&self.pool, user_id, password_hash, keep_session, events).await
    }

    async fn organizations_holding(&self, org: &str, id: &str) -> Result<Vec<String>, StoreError> {
        Accounts::<PostgresDialect>::organizations_holding(&self.pool, org, id).await
    }

    async fn create_service_account(&self, account: &ServiceAccount, event: &AuditEvent) -> Result<(), StoreError> {
        Accounts::<PostgresDialect>::create_service_account(&self.pool, account, event).await
    }

    async fn get_service_account(&self, org: &str, id: &str) -> Result<Option<ServiceAccount>, StoreError> {
        Accounts::<PostgresDialect>::get_service_account(&self.pool, org, id).await
    }

    async fn list_service_accounts(&self, org: &str) -> Result<Vec<ServiceAccount>, StoreError> {
        Accounts::<PostgresDialect>::list_service_accounts(&self.pool, org).await
    }

    async fn remove_service_account(
        &self,
        org: &str,
        id: &str,
        at: DateTime<Utc>,
        event: &AuditEvent,
        revocation_event: RevocationEvent<'_>,
    ) -> Result<Option<Vec<StoredToken>>, StoreError> {
        Accounts::<PostgresDialect>::remove_service_account(&self.pool, org, id, at, event, revocation_event).await
    }
}
