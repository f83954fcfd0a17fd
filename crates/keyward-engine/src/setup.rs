//! The first owner's way in: a setup code, printed by `keyward serve` on a
//! fresh install, that lets one person create their account as owner of the
//! operator organization (the one the first admin token belongs to), so the
//! web screens and that token see the same tokens.
//!
//! The code lives in this process's memory only: it is single-use, valid 15
//! minutes, and a restart prints a fresh one for as long as the organization
//! has no member. Redeeming it is an invitation created and accepted at once,
//! so the account, the membership and their audit events go through the same
//! checked paths as any invited developer's.

use chrono::Duration;

use keyward_core::audit::{AuditEntry, True};
use keyward_core::id::{new_id, IdKind};
use keyward_core::model::Invitation;
use keyward_core::role::Role;
use keyward_core::validate;
use keyward_core::{SecretToken, TokenDigest};

use crate::accounts::{random_secret, NewSession, INVITATION_PREFIX};
use crate::actor::{Actor, RequestContext};
use crate::engine::Engine;
use crate::error::EngineError;

/// How long a printed setup code stays valid.
pub const SETUP_CODE_SECONDS: i64 = 15 * 60;
const SETUP_PREFIX: &str = "kwsetup_";

/// A setup code just issued: print its link once, never log it.
pub struct SetupCode {
    /// The code.
    pub code: SecretToken,
    /// Until when it can be redeemed.
    pub expires_at: chrono::DateTime<chrono::Utc>,
}

fn setup_invalid() -> EngineError {
    EngineError::Rejected {
        code: "setup_invalid",
        detail: "This setup link is invalid, used or expired. Restart `keyward serve` for a fresh one.".into(),
    }
}

impl Engine {
    /// Issues a setup code when the operator organization has no member
    /// yet (a fresh install); `None` once someone owns it.
    pub async fn open_setup(&self) -> Result<Option<SetupCode>, EngineError> {
        let Some(operator) = self.ctx.store.operator_organization().await? else {
            return Ok(None);
        };
        if !self.ctx.store.list_members(&operator.id).await?.is_empty() {
            return Ok(None);
        }
        let code = random_secret(SETUP_PREFIX, self.ctx.rng.as_ref())?;
        let expires_at = self.ctx.now() + Duration::seconds(SETUP_CODE_SECONDS);
        self.setup.put(TokenDigest::of(code.expose()), expires_at.timestamp_micros());
        Ok(Some(SetupCode { code, expires_at }))
    }

    /// Whether `code` is the outstanding setup code, still valid. Answers
    /// the setup page before anything is typed.
    pub fn setup_code_valid(&self, code: &str) -> bool {
        self.setup.matches(code, self.ctx.clock.now_micros())
    }

    /// Redeems the setup code: creates `email`'s account as owner of the
    /// operator organization, names it `organization_name` when given, and
    /// signs the owner in. Bad input leaves the code usable, so a typo
    /// costs nothing.
    pub async fn complete_setup(
        &self,
        code: &str,
        email: &str,
        password: &str,
        organization_name: Option<&str>,
        context: &RequestContext,
    ) -> Result<NewSession, EngineError> {
        if !self.setup_code_valid(code) {
            return Err(setup_invalid());
        }
        let email = validate::email(email)?;
        validate::new_password(password)?;
        let organization_name = organization_name.map(|name| validate::name("organization_name", name)).transpose()?;
        let operator = self.ctx.store.operator_organization().await?.ok_or_else(setup_invalid)?;
        if !self.ctx.store.list_members(&operator.id).await?.is_empty()
            || !self.setup.take(code, self.ctx.clock.now_micros())
        {
            return Err(setup_invalid());
        }
        let system = Actor { context: context.clone(), ..Actor::system() };
        let now = self.ctx.now();
        let secret = random_secret(INVITATION_PREFIX, self.ctx.rng.as_ref())?;
        let invitation = Invitation {
            id: new_id(IdKind::Invitation, self.ctx.rng.as_ref())?,
            org_id: operator.id.clone(),
            email,
            role: Role::Owner,
            created_at: now,
            created_by: system.principal.id().to_owned(),
            expires_at: now + Duration::seconds(SETUP_CODE_SECONDS),
            accepted_at: None,
        };
        let invited = AuditEntry::InvitationCreated {
            email: &invitation.email,
            role: Role::Owner,
            expires_at: invitation.expires_at,
            setup: Some(True),
        };
        let event = self.ctx.event_in(&operator.id, &system, invited, "invitation", &invitation.id)?;
        self.ctx.store.create_invitation(&invitation, &TokenDigest::of(secret.expose()), &event).await?;
        let session = self.accept_invitation(secret.expose(), password, context).await?;
        if let Some(organization_name) = organization_name.filter(|name| *name != operator.name) {
            let renamed = AuditEntry::OrganizationRenamed {
                name_before: &operator.name,
                name_after: &organization_name,
                setup: Some(True),
            };
            let event = self.ctx.event_in(&operator.id, &system, renamed, "organization", &operator.id)?;
            // The owner exists and is signed in: a failed rename is theirs to
            // redo on the policy page, not a reason to fail the setup.
            if let Err(error) = self.ctx.store.rename_organization(&operator.id, &organization_name, &event).await {
                tracing::error!(%error, "naming the organization at setup failed");
            }
        }
        Ok(session)
    }
}
