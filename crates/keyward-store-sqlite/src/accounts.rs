//! Users, memberships, invitations, sessions and service accounts on
//! SQLite: the statements are shared (`keyward_store_sql::accounts`);
//! this file chooses the pool each one runs on.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use keyward_core::model::{AuditEvent, Invitation, Member, ServiceAccount, Session, User};
use keyward_core::role::Role;
use keyward_core::TokenDigest;
use keyward_store::{Acceptance, AccountStore, RevocationEvent, StoreError, StoredToken};
use keyward_store_sql::accounts::Accounts;
use sqlx::{Sqlite, Transaction};

use crate::{SqliteDialect, SqliteStore};

pub(crate) async fn insert_user(tx: &mut Transaction<'_, Sqlite>, user: &User) -> Result<(), StoreError> {
    Accounts::<SqliteDialect>::insert_user(tx, user).await
}

pub(crate) async fn insert_member(tx: &mut Transaction<'_, Sqlite>, member: &Member) -> Result<(), StoreError> {
    Accounts::<SqliteDialect>::insert_member(tx, member).await
}

#[async_trait]
impl AccountStore for SqliteStore {
    async fn find_user_by_email(&self, email: &str) -> Result<Option<User>, StoreError> {
        Accounts::<SqliteDialect>::find_user_by_email(&self.reader, email).await
    }

    async fn get_user(&self, id: &str) -> Result<Option<User>, StoreError> {
        Accounts::<SqliteDialect>::get_user(&self.reader, id).await
    }

    async fn memberships_of(&self, user_id: &str) -> Result<Vec<Member>, StoreError> {
        Accounts::<SqliteDialect>::memberships_of(&self.reader, user_id).await
    }

    async fn get_member(&self, org: &str, user_id: &str) -> Result<Option<Member>, StoreError> {
        Accounts::<SqliteDialect>::get_member(&self.reader, org, user_id).await
    }

    async fn list_members(&self, org: &str) -> Result<Vec<Member>, StoreError> {
        Accounts::<SqliteDialect>::list_members(&self.reader, org).await
    }

    async fn set_member_role(
        &self,
        org: &str,
        user_id: &str,
        role: Role,
        event: &AuditEvent,
    ) -> Result<Option<Member>, StoreError> {
        Accounts::<SqliteDialect>::set_member_role(&self.writer, org, user_id, role, event).await
    }

    async fn remove_member(
        &self,
        org: &str,
        user_id: &str,
        at: DateTime<Utc>,
        event: &AuditEvent,
        revocation_event: RevocationEvent<'_>,
    ) -> Result<Option<Vec<StoredToken>>, StoreError> {
        Accounts::<SqliteDialect>::remove_member(&self.writer, org, user_id, at, event, revocation_event).await
    }

    async fn create_invitation(
        &self,
        invitation: &Invitation,
        digest: &TokenDigest,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        Accounts::<SqliteDialect>::create_invitation(&self.writer, invitation, digest, event).await
    }

    async fn find_invitation(&self, digest: &TokenDigest) -> Result<Option<Invitation>, StoreError> {
        Accounts::<SqliteDialect>::find_invitation(&self.reader, digest).await
    }

    async fn list_pending_invitations(&self, org: &str, now: DateTime<Utc>) -> Result<Vec<Invitation>, StoreError> {
        Accounts::<SqliteDialect>::list_pending_invitations(&self.reader, org, now).await
    }

    async fn revoke_invitation(&self, org: &str, id: &str, event: &AuditEvent) -> Result<bool, StoreError> {
        Accounts::<SqliteDialect>::revoke_invitation(&self.writer, org, id, event).await
    }

    async fn accept_invitation(&self, acceptance: &Acceptance<'_>) -> Result<bool, StoreError> {
        Accounts::<SqliteDialect>::accept_invitation(&self.writer, acceptance).await
    }

    async fn create_session(
        &self,
        session: &Session,
        digest: &TokenDigest,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        Accounts::<SqliteDialect>::create_session(&self.writer, session, digest, event).await
    }

    async fn find_session(&self, digest: &TokenDigest) -> Result<Option<Session>, StoreError> {
        Accounts::<SqliteDialect>::find_session(&self.reader, digest).await
    }

    async fn confirm_session_password(
        &self,
        org: &str,
        session_id: &str,
        at: DateTime<Utc>,
        event: &AuditEvent,
    ) -> Result<bool, StoreError> {
        Accounts::<SqliteDialect>::confirm_session_password(&self.writer, org, session_id, at, event).await
    }

    async fn delete_session(&self, digest: &TokenDigest, event: Option<&AuditEvent>) -> Result<bool, StoreError> {
        Accounts::<SqliteDialect>::delete_session(&self.writer, digest, event).await
    }

    async fn change_password(
        &self,
        user_id: &str,
        password_hash: &str,
        keep_session: Option<&str>,
        events: &[AuditEvent],
    ) -> Result<bool, StoreError> {
        Accounts::<SqliteDialect>::change_password(&self.writer, user_id, password_hash, keep_session, events).await
    }

    async fn organizations_holding(&self, org: &str, id: &str) -> Result<Vec<String>, StoreError> {
        Accounts::<SqliteDialect>::organizations_holding(&self.reader, org, id).await
    }

    async fn create_service_account(&self, account: &ServiceAccount, event: &AuditEvent) -> Result<(), StoreError> {
        Accounts::<SqliteDialect>::create_service_account(&self.writer, account, event).await
    }

    async fn get_service_account(&self, org: &str, id: &str) -> Result<Option<ServiceAccount>, StoreError> {
        Accounts::<SqliteDialect>::get_service_account(&self.reader, org, id).await
    }

    async fn list_service_accounts(&self, org: &str) -> Result<Vec<ServiceAccount>, StoreError> {
        Accounts::<SqliteDialect>::list_service_accounts(&self.reader, org).await
    }

    async fn remove_service_account(
        &self,
        org: &str,
        id: &str,
        at: DateTime<Utc>,
        event: &AuditEvent,
        revocation_event: RevocationEvent<'_>,
    ) -> Result<Option<Vec<StoredToken>>, StoreError> {
        Accounts::<SqliteDialect>::remove_service_account(&self.writer, org, id, at, event, revocation_event).await
    }
}
