//! The context every engine service shares (store, clock, randomness,
//! cache, settings) and the helpers they all need from it: the time, audit
//! events, and minting a token. Services depend on it, never on each other
//! for these.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use keyward_core::audit::AuditEntry;
use keyward_core::clock::micros_to_datetime;
use keyward_core::id::{new_id, IdKind};
use keyward_core::ip::IpNet;
use keyward_core::model::{AuditEvent, Keyspace, TokenRecord, TokenUsage};
use keyward_core::{token, Clock, SecretToken, SecureRng};
use keyward_store::Store;
use serde_json::Value;

use crate::actor::{Actor, RequestContext};
use crate::cache::TokenCache;
use crate::config::EngineConfig;
use crate::EngineError;

/// `entry`'s details as stored. None of the detail types can fail to become
/// JSON; were one to, the event could not be written, as when the store
/// cannot encode a row.
pub(crate) fn details(entry: &AuditEntry<'_>) -> Result<Value, EngineError> {
    entry.details().map_err(|error| EngineError::Store(keyward_store::StoreError::backend(error)))
}

/// What every service of the engine works with: the store, the clock, the
/// randomness, the verification cache every change invalidates, and the
/// settings. Services reach it as `engine.ctx`.
pub(crate) struct ServiceContext {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) rng: Arc<dyn SecureRng>,
    /// The verifier's cache, for the changes that invalidate it.
    pub(crate) cache: Arc<TokenCache>,
    pub(crate) config: EngineConfig,
}

impl ServiceContext {
    /// Now, as every judgement of the engine sees it.
    pub(crate) fn now(&self) -> DateTime<Utc> {
        micros_to_datetime(self.clock.now_micros())
    }

    /// An event in the actor's organization's log.
    pub(crate) fn event(
        &self,
        actor: &Actor,
        entry: AuditEntry<'_>,
        target_type: &str,
        target_id: &str,
    ) -> Result<AuditEvent, EngineError> {
        self.event_in(actor.org_id(), actor, entry, target_type, target_id)
    }

    /// An event in `org_id`'s log, done by `actor`.
    pub(crate) fn event_in(
        &self,
        org_id: &str,
        actor: &Actor,
        entry: AuditEntry<'_>,
        target_type: &str,
        target_id: &str,
    ) -> Result<AuditEvent, EngineError> {
        Ok(AuditEvent {
            id: new_id(IdKind::Event, self.rng.as_ref())?,
            org_id: org_id.to_owned(),
            occurred_at: self.now(),
            actor: actor.principal.id().to_owned(),
            action: entry.action(),
            target_type: target_type.to_owned(),
            target_id: target_id.to_owned(),
            request_id: actor.context.request_id.clone(),
            source_ip: actor.context.source_ip.map(|ip| ip.to_string()),
            details: details(&entry)?,
        })
    }

    /// An event `user_id` did in `org_id` before any session or token spoke
    /// for them (signing up, accepting an invitation): they are its actor
    /// and its target.
    pub(crate) fn user_event(
        &self,
        org_id: &str,
        user_id: &str,
        context: &RequestContext,
        at: DateTime<Utc>,
        entry: AuditEntry<'_>,
    ) -> Result<AuditEvent, EngineError> {
        Ok(AuditEvent {
            id: new_id(IdKind::Event, self.rng.as_ref())?,
            org_id: org_id.to_owned(),
            occurred_at: at,
            actor: user_id.to_owned(),
            action: entry.action(),
            target_type: "user".into(),
            target_id: user_id.to_owned(),
            request_id: context.request_id.clone(),
            source_ip: context.source_ip.map(|ip| ip.to_string()),
            details: details(&entry)?,
        })
    }

    /// A new token of `keyspace` and its record, not yet stored.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn mint(
        &self,
        keyspace: &Keyspace,
        name: String,
        owner: String,
        scopes: Vec<String>,
        allowed_ips: Vec<IpNet>,
        // The instant its expiry was computed from, so a lifetime of "30d"
        // is exactly 30 days between `created_at` and `expires_at`.
        created_at: DateTime<Utc>,
        expires_at: Option<DateTime<Utc>>,
        metadata: Value,
        actor: &Actor,
    ) -> Result<(SecretToken, TokenRecord), EngineError> {
        let secret = token::generate(&keyspace.prefix, keyspace.environment, self.rng.as_ref())?;
        let text = secret.expose();
        let record = TokenRecord {
            id: new_id(IdKind::Token, self.rng.as_ref())?,
            org_id: keyspace.org_id.clone(),
            keyspace_id: keyspace.id.clone(),
            management: keyspace.management,
            name,
            owner,
            scopes,
            allowed_ips,
            metadata,
            environment: keyspace.environment,
            prefix: keyspace.prefix.as_str().to_owned(),
            last4: text[text.len() - 4..].to_owned(),
            created_at,
            created_by: actor.principal.id().to_owned(),
            parent_token_id: actor.minting_token().map(|token| token.id.clone()),
            // Set by the caller, which knows whether a bound applies.
            expiry_ceiling: None,
            idempotency_key: None,
            expires_at,
            revocation: None,
            rotated_from: None,
            replacement: None,
            disabling: None,
            enabled_at: None,
            rotation_period_days: None,
            auto_rotate: None,
            usage: TokenUsage::default(),
        };
        Ok((secret, record))
    }
}
