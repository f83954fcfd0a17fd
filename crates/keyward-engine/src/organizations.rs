//! Organizations: bootstrapping the operator's, founding tenants with their
//! first admin token, renaming, reading them, and reading their audit log.

use keyward_core::audit::AuditEntry;
use keyward_core::id::{new_id, IdKind, OrgId};
use keyward_core::model::{AuditEvent, Keyspace, Organization, TokenRecord};
use keyward_core::policy::TokenPolicy;
use keyward_core::scope::management;
use keyward_core::validate;
use keyward_core::{Environment, TokenDigest};
use keyward_store::{AuditFilter, Founding, Page, PageRequest};
use serde_json::json;

use crate::actor::Actor;
use crate::engine::Engine;
use crate::lineage::{Bounded, ExpirySource, ParentBound};
use crate::tokens::Issued;
use crate::EngineError;

/// An organization just founded, and its first admin token (shown once).
#[derive(Debug)]
pub struct Founded {
    /// The organization.
    pub organization: Organization,
    /// Its management keyspace.
    pub management_keyspace: Keyspace,
    /// Its first admin token, holding every organization-level management scope.
    pub admin: Issued,
    admin_digest: TokenDigest,
}

impl Engine {
    /// Creates the operator organization, its management keyspace and the
    /// first admin token, once. Returns the admin token when this call
    /// created it, `None` when the store was bootstrapped already.
    pub async fn bootstrap(&self) -> Result<Option<Issued>, EngineError> {
        if self.load().await? {
            return Ok(None);
        }
        let system = Actor::system();
        let scopes: Vec<String> = management::ALL.iter().map(|s| (*s).to_owned()).collect();
        let founded = self.prepare_founding("operator", true, scopes, Bounded::default(), &system)?;
        let bootstrapped = AuditEntry::AdminBootstrapped {
            keyspace_id: &founded.management_keyspace.id,
            organization_id: &founded.organization.id,
        };
        let event =
            self.ctx.event_in(&founded.organization.id, &system, bootstrapped, "token", &founded.admin.record.id)?;
        let created = self.ctx.store.bootstrap(&founded.founding(&event)).await?;
        Ok(created.then_some(founded.admin))
    }

    /// Mints a new admin token for `org` (the operator organization when
    /// `None`) for whoever holds the store itself: `keyward admin recover`
    /// calls it with local access to the data directory or database, never
    /// over HTTP, when every admin credential is lost. The token holds what
    /// the organization's first admin token held, and is audited as
    /// `admin.recovered` by `system`, in the same transaction.
    pub async fn recover_admin(&self, org: Option<&str>) -> Result<Issued, EngineError> {
        let organization = match org {
            Some(id) => self.ctx.store.get_organization(id).await?,
            None => self.ctx.store.operator_organization().await?,
        }
        .ok_or(EngineError::NotFound("organization"))?;
        let keyspace =
            self.ctx.store.management_keyspace(&organization.id).await?.ok_or(EngineError::NotFound("keyspace"))?;
        let granted = if organization.operator { management::ALL } else { management::ORGANIZATION };
        let scopes: Vec<String> = granted.iter().map(|s| (*s).to_owned()).collect();
        let system = Actor::system();
        let now = self.ctx.now();
        let name = format!("admin (recovered {})", now.format("%Y-%m-%d"));
        let (secret, record) =
            self.ctx.mint(&keyspace, name, "admin".into(), scopes, Vec::new(), now, None, json!({}), &system)?;
        let recovered =
            AuditEntry::AdminRecovered { keyspace_id: &keyspace.id, name: &record.name, scopes: &record.scopes };
        let event = self.ctx.event_in(&organization.id, &system, recovered, "token", &record.id)?;
        self.ctx.store.create_token(&record, &TokenDigest::of(secret.expose()), &event, None).await?;
        Ok(Issued { secret, record, inherited_from_parent: Vec::new() })
    }

    /// Founds an organization (operator only): its management keyspace and
    /// a first admin token holding every organization-level management scope,
    /// shown once. The event goes to the operator's log.
    ///
    /// That admin token is a management credential like any other: a
    /// founding token bounds it (it expires no later and is usable only
    /// from the same networks), so a leaked short-lived operator token
    /// cannot leave a permanent admin behind in a tenant it made; and a
    /// signed-in operator needs a recently typed password.
    pub async fn create_organization(&self, actor: &Actor, name: &str) -> Result<Founded, EngineError> {
        actor.require(management::ORGANIZATIONS_WRITE)?;
        self.require_recent_password(actor)?;
        let name = validate::name("name", name)?;
        let scopes: Vec<String> = management::ORGANIZATION.iter().map(|s| (*s).to_owned()).collect();
        let bounds = match ParentBound::of(actor) {
            Some(bound) => bound.bound(None, ExpirySource::Defaulted, Vec::new())?,
            None => Bounded::default(),
        };
        let founded = self.prepare_founding(&name, false, scopes, bounds, actor)?;
        let created = AuditEntry::OrganizationCreated {
            name: &founded.organization.name,
            admin_token_id: &founded.admin.record.id,
            admin_expires_at: founded.admin.record.expires_at,
            admin_allowed_ips: &founded.admin.record.allowed_ips,
            inherited_from_parent: &founded.admin.inherited_from_parent,
        };
        let event = self.ctx.event(actor, created, "organization", &founded.organization.id)?;
        self.ctx.store.create_organization(&founded.founding(&event)).await?;
        Ok(founded)
    }

    fn prepare_founding(
        &self,
        name: &str,
        operator: bool,
        scopes: Vec<String>,
        bounds: Bounded,
        actor: &Actor,
    ) -> Result<Founded, EngineError> {
        let now = self.ctx.now();
        let created_by = actor.principal.id().to_owned();
        let organization = Organization {
            id: new_id(IdKind::Organization, self.ctx.rng.as_ref())?,
            name: name.to_owned(),
            operator,
            token_policy: TokenPolicy::default(),
            created_at: now,
            created_by: created_by.clone(),
        };
        let keyspace = Keyspace {
            id: new_id(IdKind::Keyspace, self.ctx.rng.as_ref())?,
            org_id: organization.id.clone(),
            name: "keyward management".into(),
            environment: Environment::Live,
            prefix: self.ctx.config.default_prefix.clone(),
            default_ttl_seconds: None,
            scope_catalog: None,
            management: true,
            rotation_period_days: None,
            disable_after_inactive_days: None,
            created_at: now,
            created_by,
        };
        let admin_name = if operator { "admin (bootstrap)" } else { "admin (organization founded)" };
        let (secret, record) = self.ctx.mint(
            &keyspace,
            admin_name.into(),
            "admin".into(),
            scopes,
            bounds.allowed_ips,
            now,
            bounds.expires_at,
            json!({}),
            actor,
        )?;
        let admin_digest = TokenDigest::of(secret.expose());
        // The operator's token founding another tenant plants nothing in
        // its own lineage: lineage never crosses organizations.
        // It carries the founder's expiry as its ceiling instead, so that
        // rotating it later never outlives the founder.
        let record = TokenRecord { parent_token_id: None, expiry_ceiling: bounds.ceiling, ..record };
        Ok(Founded {
            organization,
            management_keyspace: keyspace,
            admin: Issued { secret, record, inherited_from_parent: bounds.inherited },
            admin_digest,
        })
    }

    /// Renames the actor's own organization (owners: it takes the policy
    /// scope, which only they hold).
    pub async fn rename_organization(&self, actor: &Actor, name: &str) -> Result<Organization, EngineError> {
        actor.require(management::POLICIES_WRITE)?;
        let name = validate::name("name", name)?;
        let before =
            self.ctx.store.get_organization(actor.org_id()).await?.ok_or(EngineError::NotFound("organization"))?;
        if before.name == name {
            return Ok(before);
        }
        let renamed = AuditEntry::OrganizationRenamed { name_before: &before.name, name_after: &name, setup: None };
        let event = self.ctx.event(actor, renamed, "organization", actor.org_id())?;
        self.ctx
            .store
            .rename_organization(actor.org_id(), &name, &event)
            .await?
            .ok_or(EngineError::NotFound("organization"))
    }

    /// One organization: the caller's own, or any for the operator.
    pub async fn get_organization(&self, actor: &Actor, id: &OrgId) -> Result<Organization, EngineError> {
        // Another tenant's organization is as absent as a missing one.
        if id.as_str() != actor.org_id() && !actor.holds(management::ORGANIZATIONS_READ) {
            return Err(EngineError::NotFound("organization"));
        }
        self.ctx.store.get_organization(id).await?.ok_or(EngineError::NotFound("organization"))
    }

    /// Every organization, newest first (operator only).
    pub async fn list_organizations(
        &self,
        actor: &Actor,
        page: &PageRequest,
    ) -> Result<Page<Organization>, EngineError> {
        actor.require(management::ORGANIZATIONS_READ)?;
        Ok(self.ctx.store.list_organizations(page).await?)
    }

    /// Audit events, newest first.
    pub async fn list_audit(
        &self,
        actor: &Actor,
        filter: &AuditFilter,
        page: &PageRequest,
    ) -> Result<Page<AuditEvent>, EngineError> {
        actor.require(management::AUDIT_READ)?;
        if filter.actor.as_deref().is_some_and(|text| text.contains('@')) {
            let resolved =
                AuditFilter { actor: self.actor_filter(actor.org_id(), filter.actor.clone()).await?, ..filter.clone() };
            return Ok(self.ctx.store.list_audit(actor.org_id(), &resolved, page).await?);
        }
        Ok(self.ctx.store.list_audit(actor.org_id(), filter, page).await?)
    }
}

impl Founded {
    fn founding<'a>(&'a self, event: &'a AuditEvent) -> Founding<'a> {
        Founding {
            organization: &self.organization,
            keyspace: &self.management_keyspace,
            admin: Some((&self.admin.record, &self.admin_digest)),
            owner: None,
            event,
        }
    }
}
