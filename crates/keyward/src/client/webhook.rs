//! `keyward webhook create|list|delete|rotate-secret|deliveries`

use std::io::IsTerminal;

use keyward_api::webhooks::{CreatedWebhookView, DeliveryView, RotatedWebhookSecret, WebhookList};
use keyward_api::Page;
use serde_json::{json, Value};

use super::output::{cell, print_line, print_pairs, print_table};
use super::token::path_segment;
use super::{query, Api};
use crate::cli::{ClientArgs, WebhookCommand};
use crate::error::CliError;

pub async fn run(command: WebhookCommand) -> Result<(), CliError> {
    match command {
        WebhookCommand::Create { client, url, events, description } => {
            let mut body = json!({"url": url, "event_types": events});
            if let Some(description) = description {
                body["description"] = Value::from(description);
            }
            create(&client, body).await
        }
        WebhookCommand::List { client } => list(&client).await,
        WebhookCommand::Delete { client, id } => delete(&client, &id).await,
        WebhookCommand::RotateSecret { client, id, overlap } => {
            let mut body = json!({});
            if let Some(seconds) = overlap {
                body["overlap"] = Value::from(seconds);
            }
            rotate_secret(&client, &id, body).await
        }
        WebhookCommand::Deliveries { client, id, limit } => deliveries(&client, &id, limit).await,
    }
}

/// `webhook create`: the signing secret, shown once; alone on stdout when piped.
async fn create(client: &ClientArgs, body: Value) -> Result<(), CliError> {
    let api = Api::new(client)?;
    let created = api.post("/v1/webhooks", body).await?;
    api.show(created, |created: CreatedWebhookView| {
        let secret = created.secret.expose();
        if std::io::stdout().is_terminal() {
            let endpoint = &created.endpoint;
            print_pairs(&[
                ("id", cell(&endpoint.id)),
                ("url", cell(&endpoint.url)),
                ("event_types", cell(&endpoint.event_types)),
            ]);
            print_line(&format!("\n{secret}\n"));
            eprintln!(
                "This signing secret is shown only now. Give it to the receiver to check each delivery's \
                 Keyward-Signature header (docs/webhooks.md)."
            );
        } else {
            // Piped: the secret alone, for `SECRET=$(keyward webhook create …)`.
            print_line(secret);
        }
    })
}

/// `webhook list`
async fn list(client: &ClientArgs) -> Result<(), CliError> {
    let api = Api::new(client)?;
    let listed = api.get("/v1/webhooks", &[]).await?;
    api.show(listed, |listed: WebhookList| {
        let rows = listed.data.iter().map(|endpoint| {
            vec![cell(&endpoint.id), cell(&endpoint.url), cell(&endpoint.event_types), cell(&endpoint.description)]
        });
        print_table(&["ID", "URL", "EVENTS", "DESCRIPTION"], rows.collect());
    })
}

/// `webhook delete`
async fn delete(client: &ClientArgs, id: &str) -> Result<(), CliError> {
    let api = Api::new(client)?;
    api.delete(&format!("/v1/webhooks/{}", path_segment(id)?)).await?;
    if api.json {
        api.print_json(&json!({"id": id, "deleted": true}))?;
    } else {
        print_line(&format!("Removed webhook {id}."));
    }
    Ok(())
}

/// `webhook rotate-secret`: the new secret, shown once, and how long the old one still signs.
async fn rotate_secret(client: &ClientArgs, id: &str, body: Value) -> Result<(), CliError> {
    let api = Api::new(client)?;
    let rotated = api.post(&format!("/v1/webhooks/{}/rotate-secret", path_segment(id)?), body).await?;
    api.show(rotated, |rotated: RotatedWebhookSecret| {
        let secret = rotated.secret.expose();
        if std::io::stdout().is_terminal() {
            print_pairs(&[
                ("id", cell(&rotated.endpoint.id)),
                ("url", cell(&rotated.endpoint.url)),
                ("previous_secret_signs_until", cell(&rotated.previous_secret_signs_until)),
            ]);
            print_line(&format!("\n{secret}\n"));
            eprintln!(
                "This signing secret is shown only now. Until previous_secret_signs_until each delivery is \
                 signed with the old secret as well, so switch the receiver over before then."
            );
        } else {
            print_line(secret);
        }
    })
}

/// `webhook deliveries`: each event with its last attempt's outcome.
async fn deliveries(client: &ClientArgs, id: &str, limit: Option<u32>) -> Result<(), CliError> {
    let api = Api::new(client)?;
    let path = format!("/v1/webhooks/{}/deliveries", path_segment(id)?);
    let page = api.get(&path, &query(&[("limit", limit.map(|n| n.to_string()))])).await?;
    api.show(page, |page: Page<DeliveryView>| {
        let rows = page.data.iter().map(|delivery| {
            vec![
                cell(&delivery.event_id),
                cell(&delivery.event_type),
                cell(&delivery.status),
                delivery.attempts.len().to_string(),
                last_outcome(delivery),
                cell(&delivery.next_attempt_at),
            ]
        });
        print_table(&["EVENT", "TYPE", "STATUS", "ATTEMPTS", "LAST OUTCOME", "NEXT ATTEMPT"], rows.collect());
    })
}

/// The last attempt's HTTP status, or its error; `-` before any attempt.
fn last_outcome(delivery: &DeliveryView) -> String {
    match delivery.attempts.last().map(|last| (last.status_code, &last.error)) {
        Some((Some(code), None)) => format!("HTTP {code}"),
        Some((_, Some(error))) => error.clone(),
        _ => "-".into(),
    }
}
