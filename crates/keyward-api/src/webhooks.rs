//! Webhook endpoints as shown, their secrets shown once, and deliveries.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::ShownOnce;

/// A webhook endpoint (never its signing secret).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct WebhookView {
    pub id: String,
    pub url: String,
    pub description: String,
    /// Event types it receives; empty: all.
    pub event_types: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
}

/// `POST /v1/webhooks` → 201: the endpoint and its signing secret, shown only here.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CreatedWebhookView {
    /// `whsec_…`: verify each delivery's `Keyward-Signature` with it (see docs/webhooks.md).
    #[schema(value_type = String)]
    pub secret: ShownOnce,
    #[serde(flatten)]
    pub endpoint: WebhookView,
}

/// A replaced signing secret: the new one, shown this once.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RotatedWebhookSecret {
    /// The new `whsec_…`.
    #[schema(value_type = String)]
    pub secret: ShownOnce,
    /// Until then deliveries carry a second `v1=` signature under the old secret.
    pub previous_secret_signs_until: DateTime<Utc>,
    #[serde(flatten)]
    pub endpoint: WebhookView,
}

/// The endpoints of the organization.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct WebhookList {
    pub data: Vec<WebhookView>,
}

/// One event on its way to one endpoint, with every attempt.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DeliveryView {
    /// The event's id (the `Keyward-Event-Id` header; the audit event's id).
    pub event_id: String,
    pub event_type: String,
    /// `pending`, `succeeded` or `failed`.
    pub status: String,
    pub created_at: DateTime<Utc>,
    /// When the next attempt is due (pending only).
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub attempts: Vec<AttemptView>,
}

/// One try at a delivery.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AttemptView {
    pub attempt: u32,
    pub attempted_at: DateTime<Utc>,
    /// The endpoint's HTTP status, if it answered.
    pub status_code: Option<u16>,
    pub error: Option<String>,
    /// How long the attempt took; null when the destination was refused.
    pub duration_ms: Option<u64>,
    /// The destination rule that refused the attempt (`loopback`,
    /// `private`, `link_local`, …); no request was made, and neither a
    /// status nor a duration is recorded.
    pub refused_by: Option<String>,
}
