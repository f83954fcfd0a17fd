//! Webhook endpoints, their secrets and deliveries.

use super::*;

/// `POST /v1/webhooks`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhook {
    /// Where events are POSTed: https, or http to localhost.
    pub url: String,
    /// What it is for.
    pub description: Option<String>,
    /// Event types to receive, e.g. `["token.revoked"]`; empty or absent: all.
    #[serde(default)]
    pub event_types: Vec<String>,
}

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

impl From<keyward_core::model::WebhookEndpoint> for WebhookView {
    fn from(endpoint: keyward_core::model::WebhookEndpoint) -> Self {
        Self {
            id: endpoint.id,
            url: endpoint.url,
            description: endpoint.description,
            event_types: endpoint.event_types,
            created_at: endpoint.created_at,
            created_by: endpoint.created_by,
        }
    }
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

/// `POST /v1/webhooks/{id}/rotate-secret` (the body may be left out).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateWebhookSecret {
    /// How long the replaced secret keeps signing alongside the new one:
    /// seconds or a duration such as `"1h"`; 0 ends it at once, at most 7
    /// days. Default: 1 day.
    #[serde(default, deserialize_with = "seconds_or_duration")]
    #[schema(value_type = Option<String>, example = "1d")]
    pub overlap: Option<i64>,
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

impl From<keyward_core::model::WebhookDelivery> for DeliveryView {
    fn from(delivery: keyward_core::model::WebhookDelivery) -> Self {
        Self {
            event_id: delivery.event_id,
            event_type: delivery.event_type,
            status: delivery.status.as_str().to_owned(),
            created_at: delivery.created_at,
            next_attempt_at: delivery.next_attempt_at,
            delivered_at: delivery.delivered_at,
            attempts: delivery
                .attempts
                .into_iter()
                .map(|a| AttemptView {
                    attempt: a.attempt,
                    attempted_at: a.attempted_at,
                    status_code: a.status_code,
                    error: a.error,
                    duration_ms: a.duration_ms,
                    refused_by: a.refused_by,
                })
                .collect(),
        }
    }
}
