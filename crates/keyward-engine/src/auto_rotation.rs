//! Automatic rotation, for owners who opt in: when a token's rotation falls
//! due, the lifecycle scheduler replaces it as the `system` actor and hands
//! the new secret to the one webhook endpoint the owner chose, while the old
//! token keeps verifying for the chosen grace period so the receiver can
//! switch over without an outage.
//!
//! The handoff is the only delivery that ever carries a secret. It is
//! queued in the rotation's own transaction, sealed under the master key
//! and bound to its endpoint and event, never fanned out to subscriptions
//! (`token.auto_rotated` is not a subscribable event type), and erased from
//! the outbox once the delivery ends. The audit log records that it
//! happened, never what it carried.

use chrono::{DateTime, Utc};
use keyward_core::audit::AuditEntry;
use keyward_core::id::{self, IdKind};
use keyward_core::model::{AuditEvent, AutoRotate, TokenRecord};
use keyward_core::policy::TokenPolicy;
use keyward_core::validate::InvalidField;
use keyward_core::{webhook, SecretToken};

use crate::actor::Actor;
use crate::engine::Engine;
use crate::rotation::Rotated;
use crate::EngineError;

/// The shortest grace an automatic rotation may leave: the receiver needs
/// time to take the new token into use before the old one stops.
pub const MIN_AUTO_ROTATE_GRACE_SECONDS: u32 = 60;

/// What the rotation transaction needs to queue the handoff: the
/// `token.auto_rotated` event and the new secret sealed for it.
pub(crate) type SealedHandoff = (AuditEvent, Vec<u8>);

impl Engine {
    /// Checks an owner's opt-in before it is stored: a master key to seal
    /// the handoff, an endpoint of this organization to receive it, a
    /// grace period the policy allows, and a rotation period that will
    /// ever make the token due: `period_days` (the token's own, else its
    /// keyspace's) or the policy's.
    pub(crate) async fn checked_auto_rotate(
        &self,
        org_id: &str,
        policy: &TokenPolicy,
        auto: AutoRotate,
        period_days: Option<u32>,
    ) -> Result<AutoRotate, EngineError> {
        if self.ctx.config.master_key.is_none() {
            return Err(EngineError::Rejected {
                code: "master_key_missing",
                detail: "Automatic rotation hands the new token to a webhook and needs a master key to seal it: \
                         start Keyward with KEYWARD_MASTER_KEY_FILE or KEYWARD_MASTER_KEY."
                    .into(),
            });
        }
        let unknown =
            || InvalidField::new("auto_rotate.webhook_id", "no webhook endpoint with this id in the organization");
        if !id::looks_like(IdKind::Webhook, &auto.webhook_id) {
            return Err(unknown().into());
        }
        if self.ctx.store.get_webhook(org_id, &auto.webhook_id).await?.is_none() {
            return Err(unknown().into());
        }
        let limit = policy.rotation_grace_limit();
        if auto.grace_period_seconds < MIN_AUTO_ROTATE_GRACE_SECONDS || i64::from(auto.grace_period_seconds) > limit {
            return Err(InvalidField::new(
                "auto_rotate.grace_period",
                format!(
                    "must be between {MIN_AUTO_ROTATE_GRACE_SECONDS} seconds (time for the receiver to switch) and \
                     {limit} seconds (the organization's maximum grace period)"
                ),
            )
            .into());
        }
        if period_days.or(policy.rotation_period_days).is_none() {
            return Err(InvalidField::new(
                "auto_rotate",
                "the token has no rotation period, so it would never be rotated: set rotation_period_days \
                 (or the organization's policy) as well",
            )
            .into());
        }
        Ok(auto)
    }

    /// Rotates a token whose rotation fell due and whose owner opted in,
    /// as the `system` actor, queuing the handoff to the chosen endpoint.
    /// A grace period above the policy's current maximum is cut to it.
    pub(crate) async fn auto_rotate(
        &self,
        system: &Actor,
        token: &TokenRecord,
        auto: &AutoRotate,
        policy: &TokenPolicy,
    ) -> Result<Rotated, EngineError> {
        let grace = i64::from(auto.grace_period_seconds).min(policy.rotation_grace_limit());
        self.replace(system, token, policy, grace, None, Some(auto)).await
    }

    /// The `token.auto_rotated` event and the new secret sealed for its one
    /// delivery.
    pub(crate) fn seal_handoff(
        &self,
        actor: &Actor,
        old: &TokenRecord,
        new: &TokenRecord,
        secret: &SecretToken,
        auto: &AutoRotate,
        grace_ends_at: Option<DateTime<Utc>>,
    ) -> Result<SealedHandoff, EngineError> {
        let Some(master_key) = &self.ctx.config.master_key else {
            return Err(EngineError::Rejected {
                code: "master_key_missing",
                detail: "Automatic rotation needs a master key to seal the new token.".into(),
            });
        };
        let event = self.ctx.event_in(
            &old.org_id,
            actor,
            AuditEntry::TokenAutoRotated {
                rotated_from: &old.id,
                name: &new.name,
                owner: &new.owner,
                keyspace_id: &new.keyspace_id,
                scopes: &new.scopes,
                masked: new.masked(),
                expires_at: new.expires_at,
                old_token_grace_ends_at: grace_ends_at,
                webhook_id: &auto.webhook_id,
            },
            "token",
            &new.id,
        )?;
        let context = webhook::handoff_context(&auto.webhook_id, &event.id);
        let sealed = master_key.seal(secret.expose().as_bytes(), &context, self.ctx.rng.as_ref())?;
        Ok((event, sealed))
    }
}
