//! Webhooks: the requests and how stored endpoints and deliveries become
//! their views (keyward-api's, shared with the CLI).

pub use keyward_api::webhooks::*;

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

impl IntoView<WebhookView> for keyward_core::model::WebhookEndpoint {
    fn into_view(self) -> WebhookView {
        let endpoint = self;
        WebhookView {
            id: endpoint.id,
            url: endpoint.url,
            description: endpoint.description,
            event_types: endpoint.event_types,
            created_at: endpoint.created_at,
            created_by: endpoint.created_by,
        }
    }
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

impl IntoView<DeliveryView> for keyward_core::model::WebhookDelivery {
    fn into_view(self) -> DeliveryView {
        let delivery = self;
        DeliveryView {
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
