//! People and machines acting for an organization: users, memberships,
//! invitations, sessions and service accounts.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use keyward_core::model::{AuditEvent, Invitation, Member, ServiceAccount, Session, User};
use keyward_core::role::Role;
use keyward_core::TokenDigest;

use crate::{RevocationEvent, StoreError, StoredToken};

/// What accepting an invitation writes, in one transaction.
#[derive(Debug, Clone, Copy)]
pub struct Acceptance<'a> {
    /// The invitation being spent.
    pub invitation_id: &'a str,
    /// The instant it is spent at; an invitation expired by then is refused.
    pub at: DateTime<Utc>,
    /// The user to create, when the invited address has no account yet.
    pub new_user: Option<&'a User>,
    /// The membership to create.
    pub member: &'a Member,
    /// The audit event.
    pub event: &'a AuditEvent,
}

/// Users, members, invitations, sessions and service accounts.
#[async_trait]
pub trait AccountStore: Send + Sync {
    /// The user with this (lowercased) email.
    async fn find_user_by_email(&self, email: &str) -> Result<Option<User>, StoreError>;

    /// One user by id.
    async fn get_user(&self, id: &str) -> Result<Option<User>, StoreError>;

    /// Every membership of a user, oldest first (sign-in picks among them).
    async fn memberships_of(&self, user_id: &str) -> Result<Vec<Member>, StoreError>;

    /// The membership of `user_id` in `org`.
    async fn get_member(&self, org: &str, user_id: &str) -> Result<Option<Member>, StoreError>;

    /// Members of `org`, oldest first.
    async fn list_members(&self, org: &str) -> Result<Vec<Member>, StoreError>;

    /// Changes a member's role. `None` when `org` has no such member;
    /// [`StoreError::Conflict`] when it would leave `org` without an owner.
    async fn set_member_role(
        &self,
        org: &str,
        user_id: &str,
        role: Role,
        event: &AuditEvent,
    ) -> Result<Option<Member>, StoreError>;

    /// Removes a member of `org`, ends their sessions there and revokes at
    /// `at` every active token they own there, logging each revocation with
    /// `revocation_event`; all in one transaction. Returns the revoked tokens
    /// (to evict from caches), `None` when there is no such member, and
    /// [`StoreError::Conflict`] when it would leave `org` without an owner.
    async fn remove_member(
        &self,
        org: &str,
        user_id: &str,
        at: DateTime<Utc>,
        event: &AuditEvent,
        revocation_event: RevocationEvent<'_>,
    ) -> Result<Option<Vec<StoredToken>>, StoreError>;

    /// Stores a pending invitation under the digest of its secret.
    async fn create_invitation(
        &self,
        invitation: &Invitation,
        digest: &TokenDigest,
        event: &AuditEvent,
    ) -> Result<(), StoreError>;

    /// The invitation whose secret has this digest, spent or not.
    async fn find_invitation(&self, digest: &TokenDigest) -> Result<Option<Invitation>, StoreError>;

    /// Invitations of `org` neither accepted nor expired at `now`, newest first.
    async fn list_pending_invitations(&self, org: &str, now: DateTime<Utc>) -> Result<Vec<Invitation>, StoreError>;

    /// Withdraws a pending invitation of `org`. Whether there was one.
    async fn revoke_invitation(&self, org: &str, id: &str, event: &AuditEvent) -> Result<bool, StoreError>;

    /// Spends an invitation and creates the membership (and user). `false`
    /// when it is spent, withdrawn or expired at `acceptance.at`; a second
    /// acceptance racing the first loses here. [`StoreError::Conflict`]
    /// when the user is a member already.
    async fn accept_invitation(&self, acceptance: &Acceptance<'_>) -> Result<bool, StoreError>;

    /// Stores a session under the digest of its secret, with the event
    /// that records its start.
    async fn create_session(
        &self,
        session: &Session,
        digest: &TokenDigest,
        event: &AuditEvent,
    ) -> Result<(), StoreError>;

    /// The session whose secret has this digest (expired ones included:
    /// the caller judges time).
    async fn find_session(&self, digest: &TokenDigest) -> Result<Option<Session>, StoreError>;

    /// The session whose secret has this digest with its user's membership
    /// of the session's organization (`None` when it has ended), in one
    /// statement: what every signed-in request needs first.
    async fn find_signed_in(&self, digest: &TokenDigest) -> Result<Option<(Session, Option<Member>)>, StoreError>;

    /// Records that the user of session `session_id` of `org` typed their
    /// password at `at` (for a sensitive action), with `event`, in one
    /// transaction. Whether there is such a session.
    async fn confirm_session_password(
        &self,
        org: &str,
        session_id: &str,
        at: DateTime<Utc>,
        event: &AuditEvent,
    ) -> Result<bool, StoreError>;

    /// Ends a session. Whether there was one; `event` is logged in the same
    /// transaction, and only when there was (so two racing sign-outs log one).
    async fn delete_session(&self, digest: &TokenDigest, event: Option<&AuditEvent>) -> Result<bool, StoreError>;

    /// Replaces a user's password hash and ends every session of theirs
    /// except `keep_session` (the one that made the change), logging
    /// `events` (one per organization that should know); one transaction.
    /// `false` when there is no such user.
    async fn change_password(
        &self,
        user_id: &str,
        password_hash: &str,
        keep_session: Option<&str>,
        events: &[AuditEvent],
    ) -> Result<bool, StoreError>;

    /// The organizations other than `org` that hold `id` (a token,
    /// keyspace, webhook, invitation, service account, user or organization
    /// id; for a user, those they are a member of, none when they are a
    /// member of `org` too): what tells a cross-tenant probe from a
    /// mistyped id, and whom to tell. The one lookup that crosses tenants;
    /// its answer goes only to the audit log of those organizations.
    async fn organizations_holding(&self, org: &str, id: &str) -> Result<Vec<String>, StoreError>;

    /// Creates a service account in its `org_id`.
    async fn create_service_account(&self, account: &ServiceAccount, event: &AuditEvent) -> Result<(), StoreError>;

    /// One service account of `org`.
    async fn get_service_account(&self, org: &str, id: &str) -> Result<Option<ServiceAccount>, StoreError>;

    /// Service accounts of `org`, oldest first.
    async fn list_service_accounts(&self, org: &str) -> Result<Vec<ServiceAccount>, StoreError>;

    /// Removes a service account of `org` and revokes at `at` every active
    /// token it owns, logging each; one transaction. `None` when there is no such account.
    async fn remove_service_account(
        &self,
        org: &str,
        id: &str,
        at: DateTime<Utc>,
        event: &AuditEvent,
        revocation_event: RevocationEvent<'_>,
    ) -> Result<Option<Vec<StoredToken>>, StoreError>;
}
