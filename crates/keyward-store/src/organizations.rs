//! Tenants and their keyspaces: founding an organization, its policy and
//! the keyspaces tokens live in.

use async_trait::async_trait;
use keyward_core::model::{
    AuditEvent, CatalogScope, Keyspace, Member, Organization, ServiceAccount, TokenRecord, User,
};
use keyward_core::policy::TokenPolicy;
use keyward_core::TokenDigest;

use crate::{Page, PageRequest, StoreError};

/// What founding an organization writes, in one transaction.
#[derive(Debug, Clone, Copy)]
pub struct Founding<'a> {
    /// The new organization.
    pub organization: &'a Organization,
    /// Its management keyspace.
    pub keyspace: &'a Keyspace,
    /// Its first admin token and that token's digest (bootstrap and
    /// operator-founded organizations).
    pub admin: Option<(&'a TokenRecord, &'a TokenDigest)>,
    /// Its first owner, created with it (open sign-up).
    pub owner: Option<(&'a User, &'a Member)>,
    /// The audit event.
    pub event: &'a AuditEvent,
}

/// A keyspace's own lifecycle rules (each `None`: the organization's applies).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KeyspaceLifecycle {
    /// Rotation period of its tokens without their own.
    pub rotation_period_days: Option<u32>,
    /// Disable its tokens unused this many days.
    pub disable_after_inactive_days: Option<u32>,
}

/// What a screen about an organization's tokens shows beside them (names
/// of keyspaces and owners, the policy), read in one call instead of one a
/// kind.
#[derive(Debug, Clone, Default)]
pub struct Directory {
    /// The organization, with its token policy (`None`: no such organization).
    pub organization: Option<Organization>,
    /// Every keyspace, newest first: no page limit, so a screen never
    /// silently stops at a page's end.
    pub keyspaces: Vec<Keyspace>,
    /// Every member, in order of joining.
    pub members: Vec<Member>,
    /// Every service account, oldest first.
    pub service_accounts: Vec<ServiceAccount>,
}

/// Organizations and keyspaces.
#[async_trait]
pub trait OrganizationStore: Send + Sync {
    /// Creates the operator organization, its management keyspace and the
    /// first admin token, unless an operator organization exists already.
    /// Returns whether it created them. Atomic: either every row and the
    /// event exist afterwards or none does.
    async fn bootstrap(&self, founding: &Founding<'_>) -> Result<bool, StoreError>;

    /// The operator organization, if bootstrapped.
    async fn operator_organization(&self) -> Result<Option<Organization>, StoreError>;

    /// Creates an organization with its management keyspace and first admin
    /// token, atomically. `founding.event` belongs to the creator's organization.
    async fn create_organization(&self, founding: &Founding<'_>) -> Result<(), StoreError>;

    /// One organization by id.
    async fn get_organization(&self, id: &str) -> Result<Option<Organization>, StoreError>;

    /// Every organization, newest first (the operator's view).
    async fn list_organizations(&self, page: &PageRequest) -> Result<Page<Organization>, StoreError>;

    /// Renames `org`, with its audit event in the same transaction.
    /// Returns the organization after the change, `None` when there is no
    /// such organization.
    async fn rename_organization(
        &self,
        org: &str,
        name: &str,
        event: &AuditEvent,
    ) -> Result<Option<Organization>, StoreError>;

    /// Replaces the token policy of `org`. Returns the organization after
    /// the change, `None` when there is no such organization.
    async fn set_token_policy(
        &self,
        org: &str,
        policy: &TokenPolicy,
        event: &AuditEvent,
    ) -> Result<Option<Organization>, StoreError>;

    /// The management keyspace of `org`.
    async fn management_keyspace(&self, org: &str) -> Result<Option<Keyspace>, StoreError>;

    /// Inserts a keyspace into its `org_id`.
    async fn create_keyspace(&self, keyspace: &Keyspace, event: &AuditEvent) -> Result<(), StoreError>;

    /// One keyspace of `org` by id.
    async fn get_keyspace(&self, org: &str, id: &str) -> Result<Option<Keyspace>, StoreError>;

    /// The organization `org`, its keyspaces, members and service
    /// accounts, in one call (the statements run side by side).
    async fn directory(&self, org: &str) -> Result<Directory, StoreError>;

    /// Keyspaces of `org`, newest first.
    async fn list_keyspaces(&self, org: &str, page: &PageRequest) -> Result<Page<Keyspace>, StoreError>;

    /// Replaces a keyspace's lifecycle rules; `None` if `org` has no such keyspace.
    async fn set_keyspace_lifecycle(
        &self,
        org: &str,
        id: &str,
        lifecycle: &KeyspaceLifecycle,
        event: &AuditEvent,
    ) -> Result<Option<Keyspace>, StoreError>;

    /// Replaces the scope catalog of a keyspace of `org` (`None`: any
    /// customer scope). Returns the keyspace after the change, `None` when
    /// `org` has no such keyspace.
    async fn replace_scope_catalog(
        &self,
        org: &str,
        id: &str,
        catalog: Option<&[CatalogScope]>,
        event: &AuditEvent,
    ) -> Result<Option<Keyspace>, StoreError>;
}
