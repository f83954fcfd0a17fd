//! Keyspaces: creating them, their lifecycle rules and scope catalogs, and
//! reading them.

use keyward_core::audit::{AuditEntry, LifecycleDays};
use keyward_core::id::{new_id, IdKind, KeyspaceId};
use keyward_core::model::{CatalogScope, Keyspace};
use keyward_core::scope::{self, management};
use keyward_core::validate::{self, InvalidField};
use keyward_core::{Environment, TokenPrefix};
use keyward_store::{Directory, KeyspaceLifecycle, Page, PageRequest};

use crate::actor::Actor;
use crate::engine::Engine;
use crate::EngineError;

/// Input for a keyspace.
#[derive(Debug, Clone)]
pub struct NewKeyspace {
    /// Human name.
    pub name: String,
    /// `live` or `test`.
    pub environment: Environment,
    /// Token prefix; the configured default when `None`.
    pub prefix: Option<String>,
    /// Lifetime for tokens created without an expiry.
    pub default_ttl_seconds: Option<i64>,
    /// The scopes its tokens may carry, with descriptions; `None`: any
    /// customer scope.
    pub scope_catalog: Option<Vec<CatalogScope>>,
    /// Rotation period of its tokens without their own (else the policy's).
    pub rotation_period_days: Option<u32>,
    /// Disable its tokens unused this many days (else the policy's rule).
    pub disable_after_inactive_days: Option<u32>,
}

impl Engine {
    /// Creates a keyspace.
    pub async fn create_keyspace(&self, actor: &Actor, input: NewKeyspace) -> Result<Keyspace, EngineError> {
        actor.require(management::KEYSPACES_WRITE)?;
        let name = validate::name("name", &input.name)?;
        let prefix = match input.prefix {
            Some(text) => TokenPrefix::new(&text).map_err(|error| InvalidField::new("prefix", error.to_string()))?,
            None => self.ctx.config.default_prefix.clone(),
        };
        if let Some(ttl) = input.default_ttl_seconds {
            validate::ttl_seconds("default_ttl_seconds", ttl)?;
        }
        let scope_catalog = input.scope_catalog.as_deref().map(normalize_catalog).transpose()?;
        let lifecycle = keyspace_lifecycle(input.rotation_period_days, input.disable_after_inactive_days)?;
        let keyspace = Keyspace {
            id: new_id(IdKind::Keyspace, self.ctx.rng.as_ref())?,
            org_id: actor.org_id().to_owned(),
            name,
            environment: input.environment,
            prefix,
            default_ttl_seconds: input.default_ttl_seconds,
            scope_catalog,
            management: false,
            rotation_period_days: lifecycle.rotation_period_days,
            disable_after_inactive_days: lifecycle.disable_after_inactive_days,
            created_at: self.ctx.now(),
            created_by: actor.principal.id().to_owned(),
        };
        let created = AuditEntry::KeyspaceCreated {
            name: &keyspace.name,
            environment: keyspace.environment,
            prefix: &keyspace.prefix,
            rotation_period_days: keyspace.rotation_period_days,
            disable_after_inactive_days: keyspace.disable_after_inactive_days,
        };
        let event = self.ctx.event(actor, created, "keyspace", &keyspace.id)?;
        match self.ctx.store.create_keyspace(&keyspace, &event).await {
            Ok(()) => Ok(keyspace),
            // Names are unique per organization: say which keyspace has it.
            Err(keyward_store::StoreError::Conflict(what)) => {
                let directory = self.ctx.store.directory(actor.org_id()).await?;
                match directory.keyspaces.into_iter().find(|existing| existing.name == keyspace.name) {
                    Some(existing) => Err(EngineError::KeyspaceExists { id: existing.id, name: existing.name }),
                    None => Err(EngineError::Conflict(what)),
                }
            }
            Err(other) => Err(other.into()),
        }
    }

    /// Replaces a keyspace's own rotation period and inactivity rule (each
    /// `None`: the organization's policy applies). The lifecycle scheduler
    /// uses them from its next pass.
    pub async fn set_keyspace_lifecycle(
        &self,
        actor: &Actor,
        id: &KeyspaceId,
        rotation_period_days: Option<u32>,
        disable_after_inactive_days: Option<u32>,
    ) -> Result<Keyspace, EngineError> {
        let lifecycle = crate::prechecks::keyspace_lifecycle(actor, rotation_period_days, disable_after_inactive_days)?;
        let before = self.get_keyspace(actor, id).await?;
        let changed = AuditEntry::KeyspaceLifecycleChanged {
            before: LifecycleDays {
                rotation_period_days: before.rotation_period_days,
                disable_after_inactive_days: before.disable_after_inactive_days,
            },
            after: LifecycleDays {
                rotation_period_days: lifecycle.rotation_period_days,
                disable_after_inactive_days: lifecycle.disable_after_inactive_days,
            },
        };
        let event = self.ctx.event(actor, changed, "keyspace", id)?;
        self.ctx
            .store
            .set_keyspace_lifecycle(actor.org_id(), id, &lifecycle, &event)
            .await?
            .ok_or(EngineError::NotFound("keyspace"))
    }

    /// Replaces a keyspace's scope catalog (`None`: any customer scope).
    /// Tokens already holding a scope that leaves the catalog keep it; only
    /// new grants are checked against the catalog. The event keeps the
    /// catalog before and after.
    pub async fn replace_scope_catalog(
        &self,
        actor: &Actor,
        id: &KeyspaceId,
        catalog: Option<Vec<CatalogScope>>,
    ) -> Result<Keyspace, EngineError> {
        let catalog = crate::prechecks::scope_catalog(actor, catalog.as_deref())?;
        let before = self.get_keyspace(actor, id).await?;
        if before.management {
            return Err(InvalidField::new(
                "scopes",
                "the management keyspace's scopes are Keyward's own and cannot be changed",
            )
            .into());
        }
        let changed = AuditEntry::KeyspaceScopesChanged {
            scopes_before: before.scope_catalog.as_deref(),
            scopes_after: catalog.as_deref(),
        };
        let event = self.ctx.event(actor, changed, "keyspace", id)?;
        self.ctx
            .store
            .replace_scope_catalog(actor.org_id(), id, catalog.as_deref(), &event)
            .await?
            .ok_or(EngineError::NotFound("keyspace"))
    }

    /// One keyspace.
    pub async fn get_keyspace(&self, actor: &Actor, id: &KeyspaceId) -> Result<Keyspace, EngineError> {
        actor.require(management::KEYSPACES_READ)?;
        self.ctx.store.get_keyspace(actor.org_id(), id).await?.ok_or(EngineError::NotFound("keyspace"))
    }

    /// Keyspaces, newest first.
    /// The actor's organization with every keyspace, and its members and
    /// service accounts when the actor may read members (empty otherwise),
    /// in one store call: what a token screen shows beside the tokens.
    pub async fn directory(&self, actor: &Actor) -> Result<Directory, EngineError> {
        actor.require(management::KEYSPACES_READ)?;
        let mut directory = self.ctx.store.directory(actor.org_id()).await?;
        if directory.organization.is_none() {
            return Err(EngineError::NotFound("organization"));
        }
        if !actor.holds(management::MEMBERS_READ) {
            directory.members.clear();
            directory.service_accounts.clear();
        }
        Ok(directory)
    }

    pub async fn list_keyspaces(&self, actor: &Actor, page: &PageRequest) -> Result<Page<Keyspace>, EngineError> {
        actor.require(management::KEYSPACES_READ)?;
        Ok(self.ctx.store.list_keyspaces(actor.org_id(), page).await?)
    }
}

/// A keyspace's lifecycle rules, each checked like the policy's.
pub(crate) fn keyspace_lifecycle(
    rotation_period_days: Option<u32>,
    disable_after_inactive_days: Option<u32>,
) -> Result<KeyspaceLifecycle, InvalidField> {
    Ok(KeyspaceLifecycle {
        rotation_period_days: rotation_period_days
            .map(|days| validate::lifecycle_days("rotation_period_days", days))
            .transpose()?,
        disable_after_inactive_days: disable_after_inactive_days
            .map(|days| validate::lifecycle_days("disable_after_inactive_days", days))
            .transpose()?,
    })
}

/// Most entries in one scope catalog.
pub const MAX_CATALOG_SCOPES: usize = 256;

/// A catalog as given, checked: customer scopes without resource bindings
/// (bindings are chosen per token), each once, each described.
pub(crate) fn normalize_catalog(entries: &[CatalogScope]) -> Result<Vec<CatalogScope>, InvalidField> {
    if entries.len() > MAX_CATALOG_SCOPES {
        return Err(InvalidField::new("scopes", format!("a catalog holds at most {MAX_CATALOG_SCOPES} scopes")));
    }
    let mut seen = std::collections::HashSet::new();
    let mut catalog = Vec::with_capacity(entries.len());
    for entry in entries {
        let name = entry.scope.trim();
        scope::validate(name).map_err(|error| InvalidField::new("scopes", error.to_string()))?;
        if scope::is_management(name) {
            return Err(InvalidField::new("scopes", format!("`{name}` is reserved for Keyward's management keyspace")));
        }
        if name.contains('@') {
            return Err(InvalidField::new(
                "scopes",
                format!("`{name}`: catalog scopes have no resource binding; bindings are chosen per token"),
            ));
        }
        if !seen.insert(name.to_owned()) {
            return Err(InvalidField::new("scopes", format!("`{name}` is listed twice")));
        }
        let description = validate::description("scopes", &entry.description)
            .map_err(|error| InvalidField::new("scopes", format!("description of `{name}` {}", error.message)))?;
        catalog.push(CatalogScope { scope: name.to_owned(), description });
    }
    Ok(catalog)
}
