//! Registering the endpoints that receive lifecycle events. Their signing
//! secrets are shown once and stored only sealed under the master key;
//! delivery itself is the `keyward-webhooks` dispatcher's job.

use keyward_core::audit::AuditEntry;
use keyward_core::id::{new_id, IdKind, WebhookId};
use keyward_core::model::{WebhookDelivery, WebhookEndpoint};
use keyward_core::scope::management;
use keyward_core::validate::{self, InvalidField};
use keyward_core::webhook;
use keyward_core::SecretToken;
use keyward_store::{Page, PageRequest};

use crate::actor::Actor;
use crate::engine::Engine;
use crate::EngineError;

/// Most webhook endpoints per organization: each event is queued for each.
pub const MAX_WEBHOOKS_PER_ORGANIZATION: usize = 20;
/// How long a replaced signing secret keeps signing by default.
pub const DEFAULT_SECRET_OVERLAP_SECONDS: i64 = 86_400;
/// The longest a replaced signing secret may keep signing.
pub const MAX_SECRET_OVERLAP_SECONDS: i64 = 7 * 86_400;

/// Input for registering an endpoint.
#[derive(Debug, Clone, Default)]
pub struct NewWebhook {
    /// Where to POST events: https, or http to a loopback host (which the
    /// operator must have opened).
    pub url: String,
    /// What it is for.
    pub description: Option<String>,
    /// Event types to receive; empty: all.
    pub event_types: Vec<String>,
}

/// An endpoint just registered, with its signing secret (shown once).
#[derive(Debug)]
pub struct CreatedWebhook {
    /// The endpoint.
    pub endpoint: WebhookEndpoint,
    /// The signing secret, `whsec_…`.
    pub secret: SecretToken,
}

/// A signing secret replaced: the new one (shown once) and how long the
/// old one keeps signing alongside.
#[derive(Debug)]
pub struct RotatedSecret {
    /// The endpoint.
    pub endpoint: WebhookEndpoint,
    /// The new signing secret.
    pub secret: SecretToken,
    /// Until then deliveries are signed under both secrets.
    pub previous_secret_signs_until: chrono::DateTime<chrono::Utc>,
}

fn event_types(requested: Vec<String>) -> Result<Vec<String>, InvalidField> {
    let mut types = Vec::with_capacity(requested.len());
    for requested in requested {
        if !webhook::is_event_type(&requested) {
            return Err(InvalidField::new(
                "event_types",
                format!("{requested:?} is not a lifecycle event; use any of: {}", webhook::EVENT_TYPES.join(", ")),
            ));
        }
        if !types.contains(&requested) {
            types.push(requested);
        }
    }
    types.sort();
    Ok(types)
}

impl Engine {
    /// Registers a webhook endpoint. Refused with 409 `master_key_missing`
    /// when the deployment has no master key to seal its secret with, and
    /// with [`EngineError::DestinationForbidden`] when the URL's literal
    /// address is one webhooks may not reach (a name is accepted: what it
    /// resolves to is checked at each delivery).
    pub async fn create_webhook(&self, actor: &Actor, input: NewWebhook) -> Result<CreatedWebhook, EngineError> {
        actor.require(management::WEBHOOKS_WRITE)?;
        let url =
            webhook::validate_url(input.url.trim(), &self.ctx.config.webhook_egress).map_err(|error| match error {
                webhook::UrlError::Invalid(message) => EngineError::from(InvalidField::new("url", message)),
                webhook::UrlError::Forbidden(refusal) => EngineError::DestinationForbidden { field: "url", refusal },
            })?;
        let description = match input.description.as_deref() {
            Some(text) if !text.trim().is_empty() => validate::description("description", text)?,
            _ => String::new(),
        };
        let event_types = event_types(input.event_types)?;
        let Some(master_key) = &self.ctx.config.master_key else {
            return Err(EngineError::Rejected {
                code: "master_key_missing",
                detail: "Webhooks need a master key to seal their signing secrets: start Keyward with \
                         KEYWARD_MASTER_KEY_FILE (a file holding 64 hex characters, e.g. from `openssl rand -hex 32`) \
                         or KEYWARD_MASTER_KEY."
                    .into(),
            });
        };
        if self.ctx.store.list_webhooks(actor.org_id()).await?.len() >= MAX_WEBHOOKS_PER_ORGANIZATION {
            return Err(EngineError::Rejected {
                code: "too_many_webhooks",
                detail: format!(
                    "An organization has at most {MAX_WEBHOOKS_PER_ORGANIZATION} webhook endpoints; remove one first."
                ),
            });
        }
        let endpoint = WebhookEndpoint {
            id: new_id(IdKind::Webhook, self.ctx.rng.as_ref())?,
            org_id: actor.org_id().to_owned(),
            url,
            description,
            event_types,
            created_at: self.ctx.now(),
            created_by: actor.principal.id().to_owned(),
        };
        let secret = webhook::generate_secret(self.ctx.rng.as_ref())?;
        let sealed = master_key.seal(secret.expose().as_bytes(), &endpoint.id, self.ctx.rng.as_ref())?;
        let created = AuditEntry::WebhookCreated { url: &endpoint.url, event_types: &endpoint.event_types };
        let event = self.ctx.event(actor, created, "webhook", &endpoint.id)?;
        self.ctx.store.create_webhook(&endpoint, &sealed, &event).await?;
        Ok(CreatedWebhook { endpoint, secret })
    }

    /// Replaces an endpoint's signing secret and shows the new one once.
    /// For `overlap_seconds` (0 ends it at once) deliveries carry a `v1=`
    /// signature under each secret, so the receiver can switch to the new
    /// secret without rejecting a single event.
    pub async fn rotate_webhook_secret(
        &self,
        actor: &Actor,
        id: &WebhookId,
        overlap_seconds: i64,
    ) -> Result<RotatedSecret, EngineError> {
        crate::prechecks::webhook_secret_rotation(actor, overlap_seconds)?;
        let endpoint = self.get_webhook(actor, id).await?;
        let Some(master_key) = &self.ctx.config.master_key else {
            return Err(EngineError::Rejected {
                code: "master_key_missing",
                detail: "Webhook signing secrets are sealed under the master key, which this deployment lacks.".into(),
            });
        };
        let secret = webhook::generate_secret(self.ctx.rng.as_ref())?;
        let sealed = master_key.seal(secret.expose().as_bytes(), &endpoint.id, self.ctx.rng.as_ref())?;
        let previous_until = self.ctx.now() + chrono::Duration::seconds(overlap_seconds);
        let rotated = AuditEntry::WebhookSecretRotated { previous_secret_signs_until: previous_until };
        let event = self.ctx.event(actor, rotated, "webhook", &endpoint.id)?;
        if !self.ctx.store.rotate_webhook_secret(actor.org_id(), &endpoint.id, &sealed, previous_until, &event).await? {
            return Err(EngineError::NotFound("webhook"));
        }
        Ok(RotatedSecret { endpoint, secret, previous_secret_signs_until: previous_until })
    }

    /// The organization's webhook endpoints (never their secrets).
    pub async fn list_webhooks(&self, actor: &Actor) -> Result<Vec<WebhookEndpoint>, EngineError> {
        actor.require(management::WEBHOOKS_READ)?;
        Ok(self.ctx.store.list_webhooks(actor.org_id()).await?)
    }

    /// One webhook endpoint.
    pub async fn get_webhook(&self, actor: &Actor, id: &WebhookId) -> Result<WebhookEndpoint, EngineError> {
        actor.require(management::WEBHOOKS_READ)?;
        self.ctx.store.get_webhook(actor.org_id(), id).await?.ok_or(EngineError::NotFound("webhook"))
    }

    /// Removes an endpoint; what was queued for it is dropped with it.
    pub async fn delete_webhook(&self, actor: &Actor, id: &WebhookId) -> Result<(), EngineError> {
        actor.require(management::WEBHOOKS_WRITE)?;
        let event = self.ctx.event(actor, AuditEntry::WebhookDeleted {}, "webhook", id)?;
        if self.ctx.store.delete_webhook(actor.org_id(), id, &event).await? {
            Ok(())
        } else {
            Err(EngineError::NotFound("webhook"))
        }
    }

    /// An endpoint's delivery log, newest first, each delivery with its attempts.
    pub async fn list_deliveries(
        &self,
        actor: &Actor,
        id: &WebhookId,
        page: &PageRequest,
    ) -> Result<Page<WebhookDelivery>, EngineError> {
        self.get_webhook(actor, id).await?;
        Ok(self.ctx.store.list_deliveries(actor.org_id(), id, page).await?)
    }
}

/// Fails unless the old secret's overlap is within 0 to 7 days.
pub(crate) fn check_overlap(overlap_seconds: i64) -> Result<(), InvalidField> {
    if !(0..=MAX_SECRET_OVERLAP_SECONDS).contains(&overlap_seconds) {
        return Err(InvalidField::new(
            "overlap",
            format!("must be between 0 and {MAX_SECRET_OVERLAP_SECONDS} seconds (7 days)"),
        ));
    }
    Ok(())
}
