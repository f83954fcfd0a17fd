//! A store that counts the calls made through it, so tests can hold a request
//! to a number of database round trips (issue 22). Each store method is one
//! round trip: a method that runs several statements in one transaction is
//! still one call from the engine's side, and that is what a request waits on.
//!
//! Every trait method is written out as a delegation (none is left to a
//! default body), so a new method added to a store trait fails to compile
//! here until it is counted too.

use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use keyward_core::model::{
    AuditEvent, CatalogScope, Invitation, Keyspace, Member, Organization, RevokedReason, ServiceAccount, Session,
    TokenRecord, User, WebhookDelivery, WebhookEndpoint,
};
use keyward_core::policy::TokenPolicy;
use keyward_core::role::Role;
use keyward_core::TokenDigest;
use keyward_store::prelude::*;
use keyward_store::*;

/// Wraps a store and records the name of every method called on it, in order.
pub struct CountingStore {
    inner: Arc<dyn Store>,
    calls: Mutex<Vec<&'static str>>,
}

impl CountingStore {
    /// Counts calls made to `inner`, starting from none.
    pub fn new(inner: Arc<dyn Store>) -> Self {
        Self { inner, calls: Mutex::new(Vec::new()) }
    }

    /// The methods called since the last [`Self::take_calls`], in order, and
    /// starts counting afresh.
    pub fn take_calls(&self) -> Vec<&'static str> {
        std::mem::take(&mut *self.calls.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// How many calls were made since the last [`Self::take_calls`].
    pub fn call_count(&self) -> usize {
        self.calls.lock().unwrap_or_else(PoisonError::into_inner).len()
    }

    fn count(&self, method: &'static str) {
        self.calls.lock().unwrap_or_else(PoisonError::into_inner).push(method);
    }
}

#[async_trait]
impl TokenStore for CountingStore {
    async fn count_active_tokens(&self, org: &str, owner: &str, now: DateTime<Utc>) -> Result<u64, StoreError> {
        self.count("count_active_tokens");
        self.inner.count_active_tokens(org, owner, now).await
    }

    async fn create_token(
        &self,
        token: &TokenRecord,
        digest: &TokenDigest,
        event: &AuditEvent,
        limit: Option<ActiveTokenLimit>,
    ) -> Result<(), StoreError> {
        self.count("create_token");
        self.inner.create_token(token, digest, event, limit).await
    }

    async fn find_token_by_digest(&self, digest: &TokenDigest) -> Result<Option<TokenRecord>, StoreError> {
        self.count("find_token_by_digest");
        self.inner.find_token_by_digest(digest).await
    }

    async fn get_token(&self, org: &str, id: &str) -> Result<Option<TokenRecord>, StoreError> {
        self.count("get_token");
        self.inner.get_token(org, id).await
    }

    async fn list_tokens(
        &self,
        org: &str,
        filter: &TokenFilter,
        page: &PageRequest,
    ) -> Result<Page<TokenRecord>, StoreError> {
        self.count("list_tokens");
        self.inner.list_tokens(org, filter, page).await
    }

    async fn update_token(
        &self,
        org: &str,
        id: &str,
        update: &TokenUpdate,
        event: &AuditEvent,
    ) -> Result<Option<StoredToken>, StoreError> {
        self.count("update_token");
        self.inner.update_token(org, id, update, event).await
    }

    async fn revoke_token(
        &self,
        org: &str,
        id: &str,
        at: DateTime<Utc>,
        reason: RevokedReason,
        event: &AuditEvent,
    ) -> Result<Option<Revocation>, StoreError> {
        self.count("revoke_token");
        self.inner.revoke_token(org, id, at, reason, event).await
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
        self.count("revoke_with_descendants");
        self.inner.revoke_with_descendants(org, id, at, reason, customer_tokens, event, revocation_event).await
    }

    async fn switch_token(
        &self,
        org: &str,
        id: &str,
        switch: Switch,
        event: &AuditEvent,
    ) -> Result<Guarded<Switched>, StoreError> {
        self.count("switch_token");
        self.inner.switch_token(org, id, switch, event).await
    }

    async fn delete_token(&self, org: &str, id: &str, event: &AuditEvent) -> Result<Option<StoredToken>, StoreError> {
        self.count("delete_token");
        self.inner.delete_token(org, id, event).await
    }

    async fn lifecycle_candidates(
        &self,
        org: &str,
        window: &LifecycleWindow,
        after_id: Option<&str>,
        limit: u32,
    ) -> Result<Vec<TokenRecord>, StoreError> {
        self.count("lifecycle_candidates");
        self.inner.lifecycle_candidates(org, window, after_id, limit).await
    }

    async fn record_notice(&self, notice: &NoticeWrite<'_>, event: &AuditEvent) -> Result<bool, StoreError> {
        self.count("record_notice");
        self.inner.record_notice(notice, event).await
    }

    async fn count_matching(&self, org: &str, filter: &BulkFilter) -> Result<u64, StoreError> {
        self.count("count_matching");
        self.inner.count_matching(org, filter).await
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
        self.count("revoke_matching");
        self.inner.revoke_matching(org, filter, reason, expected, event, revocation_event).await
    }

    async fn rotate_token(&self, org: &str, rotation: &RotationWrite<'_>) -> Result<Guarded<StoredToken>, StoreError> {
        self.count("rotate_token");
        self.inner.rotate_token(org, rotation).await
    }

    async fn set_rotation_grace(
        &self,
        org: &str,
        id: &str,
        ends_at: DateTime<Utc>,
        now: DateTime<Utc>,
        event: &AuditEvent,
    ) -> Result<Guarded<StoredToken>, StoreError> {
        self.count("set_rotation_grace");
        self.inner.set_rotation_grace(org, id, ends_at, now, event).await
    }
}

#[async_trait]
impl UsageStore for CountingStore {
    async fn record_client_sightings(&self, sightings: &[ClientSighting]) -> Result<(), StoreError> {
        self.count("record_client_sightings");
        self.inner.record_client_sightings(sightings).await
    }

    async fn list_token_clients(&self, org: &str, token_id: &str) -> Result<Vec<ClientSighting>, StoreError> {
        self.count("list_token_clients");
        self.inner.list_token_clients(org, token_id).await
    }

    async fn record_usage(&self, deltas: &[UsageDelta]) -> Result<(), StoreError> {
        self.count("record_usage");
        self.inner.record_usage(deltas).await
    }

    async fn usage_by_day(&self, org: &str, token_id: &str, since_day: i64) -> Result<Vec<DailyUsage>, StoreError> {
        self.count("usage_by_day");
        self.inner.usage_by_day(org, token_id, since_day).await
    }

    async fn record_verification_samples(&self, samples: &[VerificationSample]) -> Result<(), StoreError> {
        self.count("record_verification_samples");
        self.inner.record_verification_samples(samples).await
    }

    async fn last_successful_verifications(
        &self,
        org: &str,
        token_ids: &[String],
    ) -> Result<Vec<VerificationSample>, StoreError> {
        self.count("last_successful_verifications");
        self.inner.last_successful_verifications(org, token_ids).await
    }

    async fn recent_verifications(
        &self,
        org: &str,
        token_id: &str,
        limit: u32,
    ) -> Result<Vec<VerificationSample>, StoreError> {
        self.count("recent_verifications");
        self.inner.recent_verifications(org, token_id, limit).await
    }
}

#[async_trait]
impl OrganizationStore for CountingStore {
    async fn bootstrap(&self, founding: &Founding<'_>) -> Result<bool, StoreError> {
        self.count("bootstrap");
        self.inner.bootstrap(founding).await
    }

    async fn operator_organization(&self) -> Result<Option<Organization>, StoreError> {
        self.count("operator_organization");
        self.inner.operator_organization().await
    }

    async fn create_organization(&self, founding: &Founding<'_>) -> Result<(), StoreError> {
        self.count("create_organization");
        self.inner.create_organization(founding).await
    }

    async fn get_organization(&self, id: &str) -> Result<Option<Organization>, StoreError> {
        self.count("get_organization");
        self.inner.get_organization(id).await
    }

    async fn list_organizations(&self, page: &PageRequest) -> Result<Page<Organization>, StoreError> {
        self.count("list_organizations");
        self.inner.list_organizations(page).await
    }

    async fn rename_organization(
        &self,
        org: &str,
        name: &str,
        event: &AuditEvent,
    ) -> Result<Option<Organization>, StoreError> {
        self.count("rename_organization");
        self.inner.rename_organization(org, name, event).await
    }

    async fn set_token_policy(
        &self,
        org: &str,
        policy: &TokenPolicy,
        event: &AuditEvent,
    ) -> Result<Option<Organization>, StoreError> {
        self.count("set_token_policy");
        self.inner.set_token_policy(org, policy, event).await
    }

    async fn management_keyspace(&self, org: &str) -> Result<Option<Keyspace>, StoreError> {
        self.count("management_keyspace");
        self.inner.management_keyspace(org).await
    }

    async fn create_keyspace(&self, keyspace: &Keyspace, event: &AuditEvent) -> Result<(), StoreError> {
        self.count("create_keyspace");
        self.inner.create_keyspace(keyspace, event).await
    }

    async fn get_keyspace(&self, org: &str, id: &str) -> Result<Option<Keyspace>, StoreError> {
        self.count("get_keyspace");
        self.inner.get_keyspace(org, id).await
    }

    async fn directory(&self, org: &str) -> Result<keyward_store::Directory, StoreError> {
        self.count("directory");
        self.inner.directory(org).await
    }

    async fn list_keyspaces(&self, org: &str, page: &PageRequest) -> Result<Page<Keyspace>, StoreError> {
        self.count("list_keyspaces");
        self.inner.list_keyspaces(org, page).await
    }

    async fn set_keyspace_lifecycle(
        &self,
        org: &str,
        id: &str,
        lifecycle: &KeyspaceLifecycle,
        event: &AuditEvent,
    ) -> Result<Option<Keyspace>, StoreError> {
        self.count("set_keyspace_lifecycle");
        self.inner.set_keyspace_lifecycle(org, id, lifecycle, event).await
    }

    async fn replace_scope_catalog(
        &self,
        org: &str,
        id: &str,
        catalog: Option<&[CatalogScope]>,
        event: &AuditEvent,
    ) -> Result<Option<Keyspace>, StoreError> {
        self.count("replace_scope_catalog");
        self.inner.replace_scope_catalog(org, id, catalog, event).await
    }
}

#[async_trait]
impl AccountStore for CountingStore {
    async fn find_user_by_email(&self, email: &str) -> Result<Option<User>, StoreError> {
        self.count("find_user_by_email");
        self.inner.find_user_by_email(email).await
    }

    async fn get_user(&self, id: &str) -> Result<Option<User>, StoreError> {
        self.count("get_user");
        self.inner.get_user(id).await
    }

    async fn memberships_of(&self, user_id: &str) -> Result<Vec<Member>, StoreError> {
        self.count("memberships_of");
        self.inner.memberships_of(user_id).await
    }

    async fn get_member(&self, org: &str, user_id: &str) -> Result<Option<Member>, StoreError> {
        self.count("get_member");
        self.inner.get_member(org, user_id).await
    }

    async fn list_members(&self, org: &str) -> Result<Vec<Member>, StoreError> {
        self.count("list_members");
        self.inner.list_members(org).await
    }

    async fn set_member_role(
        &self,
        org: &str,
        user_id: &str,
        role: Role,
        event: &AuditEvent,
    ) -> Result<Option<Member>, StoreError> {
        self.count("set_member_role");
        self.inner.set_member_role(org, user_id, role, event).await
    }

    async fn remove_member(
        &self,
        org: &str,
        user_id: &str,
        at: DateTime<Utc>,
        event: &AuditEvent,
        revocation_event: RevocationEvent<'_>,
    ) -> Result<Option<Vec<StoredToken>>, StoreError> {
        self.count("remove_member");
        self.inner.remove_member(org, user_id, at, event, revocation_event).await
    }

    async fn create_invitation(
        &self,
        invitation: &Invitation,
        digest: &TokenDigest,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        self.count("create_invitation");
        self.inner.create_invitation(invitation, digest, event).await
    }

    async fn find_invitation(&self, digest: &TokenDigest) -> Result<Option<Invitation>, StoreError> {
        self.count("find_invitation");
        self.inner.find_invitation(digest).await
    }

    async fn list_pending_invitations(&self, org: &str, now: DateTime<Utc>) -> Result<Vec<Invitation>, StoreError> {
        self.count("list_pending_invitations");
        self.inner.list_pending_invitations(org, now).await
    }

    async fn revoke_invitation(&self, org: &str, id: &str, event: &AuditEvent) -> Result<bool, StoreError> {
        self.count("revoke_invitation");
        self.inner.revoke_invitation(org, id, event).await
    }

    async fn accept_invitation(&self, acceptance: &Acceptance<'_>) -> Result<bool, StoreError> {
        self.count("accept_invitation");
        self.inner.accept_invitation(acceptance).await
    }

    async fn create_session(
        &self,
        session: &Session,
        digest: &TokenDigest,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        self.count("create_session");
        self.inner.create_session(session, digest, event).await
    }

    async fn find_signed_in(&self, digest: &TokenDigest) -> Result<Option<(Session, Option<Member>)>, StoreError> {
        self.count("find_signed_in");
        self.inner.find_signed_in(digest).await
    }

    async fn find_session(&self, digest: &TokenDigest) -> Result<Option<Session>, StoreError> {
        self.count("find_session");
        self.inner.find_session(digest).await
    }

    async fn confirm_session_password(
        &self,
        org: &str,
        session_id: &str,
        at: DateTime<Utc>,
        event: &AuditEvent,
    ) -> Result<bool, StoreError> {
        self.count("confirm_session_password");
        self.inner.confirm_session_password(org, session_id, at, event).await
    }

    async fn delete_session(&self, digest: &TokenDigest, event: Option<&AuditEvent>) -> Result<bool, StoreError> {
        self.count("delete_session");
        self.inner.delete_session(digest, event).await
    }

    async fn change_password(
        &self,
        user_id: &str,
        password_hash: &str,
        keep_session: Option<&str>,
        events: &[AuditEvent],
    ) -> Result<bool, StoreError> {
        self.count("change_password");
        self.inner.change_password(user_id, password_hash, keep_session, events).await
    }

    async fn organizations_holding(&self, org: &str, id: &str) -> Result<Vec<String>, StoreError> {
        self.count("organizations_holding");
        self.inner.organizations_holding(org, id).await
    }

    async fn create_service_account(&self, account: &ServiceAccount, event: &AuditEvent) -> Result<(), StoreError> {
        self.count("create_service_account");
        self.inner.create_service_account(account, event).await
    }

    async fn get_service_account(&self, org: &str, id: &str) -> Result<Option<ServiceAccount>, StoreError> {
        self.count("get_service_account");
        self.inner.get_service_account(org, id).await
    }

    async fn list_service_accounts(&self, org: &str) -> Result<Vec<ServiceAccount>, StoreError> {
        self.count("list_service_accounts");
        self.inner.list_service_accounts(org).await
    }

    async fn remove_service_account(
        &self,
        org: &str,
        id: &str,
        at: DateTime<Utc>,
        event: &AuditEvent,
        revocation_event: RevocationEvent<'_>,
    ) -> Result<Option<Vec<StoredToken>>, StoreError> {
        self.count("remove_service_account");
        self.inner.remove_service_account(org, id, at, event, revocation_event).await
    }
}

#[async_trait]
impl WebhookStore for CountingStore {
    async fn create_webhook(
        &self,
        endpoint: &WebhookEndpoint,
        sealed_secret: &[u8],
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        self.count("create_webhook");
        self.inner.create_webhook(endpoint, sealed_secret, event).await
    }

    async fn rotate_webhook_secret(
        &self,
        org: &str,
        id: &str,
        sealed_secret: &[u8],
        previous_until: DateTime<Utc>,
        event: &AuditEvent,
    ) -> Result<bool, StoreError> {
        self.count("rotate_webhook_secret");
        self.inner.rotate_webhook_secret(org, id, sealed_secret, previous_until, event).await
    }

    async fn list_webhooks(&self, org: &str) -> Result<Vec<WebhookEndpoint>, StoreError> {
        self.count("list_webhooks");
        self.inner.list_webhooks(org).await
    }

    async fn get_webhook(&self, org: &str, id: &str) -> Result<Option<WebhookEndpoint>, StoreError> {
        self.count("get_webhook");
        self.inner.get_webhook(org, id).await
    }

    async fn delete_webhook(&self, org: &str, id: &str, event: &AuditEvent) -> Result<bool, StoreError> {
        self.count("delete_webhook");
        self.inner.delete_webhook(org, id, event).await
    }

    async fn claim_deliveries(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<DueDelivery>, StoreError> {
        self.count("claim_deliveries");
        self.inner.claim_deliveries(now, lease_until, limit).await
    }

    async fn finish_attempt(&self, outcome: &AttemptOutcome) -> Result<(), StoreError> {
        self.count("finish_attempt");
        self.inner.finish_attempt(outcome).await
    }

    async fn list_deliveries(
        &self,
        org: &str,
        endpoint_id: &str,
        page: &PageRequest,
    ) -> Result<Page<WebhookDelivery>, StoreError> {
        self.count("list_deliveries");
        self.inner.list_deliveries(org, endpoint_id, page).await
    }
}

#[async_trait]
impl AuditStore for CountingStore {
    async fn append_audit_event(&self, event: &AuditEvent) -> Result<(), StoreError> {
        self.count("append_audit_event");
        self.inner.append_audit_event(event).await
    }

    async fn list_audit(
        &self,
        org: &str,
        filter: &AuditFilter,
        page: &PageRequest,
    ) -> Result<Page<AuditEvent>, StoreError> {
        self.count("list_audit");
        self.inner.list_audit(org, filter, page).await
    }
}

#[async_trait]
impl Store for CountingStore {
    async fn migrate(&self) -> Result<(), StoreError> {
        self.count("migrate");
        self.inner.migrate().await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.count("ping");
        self.inner.ping().await
    }

    async fn probe_write(&self) -> Result<(), StoreError> {
        self.count("probe_write");
        self.inner.probe_write().await
    }

    async fn watch_token_changes(&self, sink: std::sync::Weak<dyn ChangeSink>) -> Result<bool, StoreError> {
        self.count("watch_token_changes");
        self.inner.watch_token_changes(sink).await
    }
}
