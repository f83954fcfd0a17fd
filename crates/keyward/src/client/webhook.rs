//! `keyward webhook create|list|delete|rotate-secret|deliveries`

use std::io::IsTerminal;

use serde_json::{json, Value};

use super::output::{page_items, print_fields, print_line, print_objects};
use super::token::path_segment;
use super::{query, Api};
use crate::cli::WebhookCommand;
use crate::error::CliError;

pub async fn run(command: WebhookCommand) -> Result<(), CliError> {
    match command {
        WebhookCommand::Create { client, url, events, description } => {
            let api = Api::new(&client)?;
            let mut body = json!({"url": url, "event_types": events});
            if let Some(description) = description {
                body["description"] = Value::from(description);
            }
            let created = api.post("/v1/webhooks", body).await?;
            let secret = created["secret"].as_str().unwrap_or_default();
            if api.json {
                api.print_json(&created)?;
            } else if std::io::stdout().is_terminal() {
                print_fields(&created, &["id", "url", "event_types"]);
                print_line(&format!("\n{secret}\n"));
                eprintln!(
                    "This signing secret is shown only now. Give it to the receiver to check each delivery's \
                     Keyward-Signature header (docs/webhooks.md)."
                );
            } else {
                // Piped: the secret alone, for `SECRET=$(keyward webhook create …)`.
                print_line(secret);
            }
            Ok(())
        }
        WebhookCommand::List { client } => {
            let api = Api::new(&client)?;
            let listed = api.get("/v1/webhooks", &[]).await?;
            if api.json {
                api.print_json(&listed)?;
            } else {
                print_objects(
                    page_items(&listed),
                    &[("ID", "id"), ("URL", "url"), ("EVENTS", "event_types"), ("DESCRIPTION", "description")],
                );
            }
            Ok(())
        }
        WebhookCommand::Delete { client, id } => {
            let api = Api::new(&client)?;
            api.delete(&format!("/v1/webhooks/{}", path_segment(&id)?)).await?;
            if api.json {
                api.print_json(&json!({"id": id, "deleted": true}))?;
            } else {
                print_line(&format!("Removed webhook {id}."));
            }
            Ok(())
        }
        WebhookCommand::RotateSecret { client, id, overlap } => {
            let api = Api::new(&client)?;
            let mut body = json!({});
            if let Some(seconds) = overlap {
                body["overlap"] = Value::from(seconds);
            }
            let rotated = api.post(&format!("/v1/webhooks/{}/rotate-secret", path_segment(&id)?), body).await?;
            let secret = rotated["secret"].as_str().unwrap_or_default();
            if api.json {
                api.print_json(&rotated)?;
            } else if std::io::stdout().is_terminal() {
                print_fields(&rotated, &["id", "url", "previous_secret_signs_until"]);
                print_line(&format!("\n{secret}\n"));
                eprintln!(
                    "This signing secret is shown only now. Until previous_secret_signs_until each delivery is \
                     signed with the old secret as well, so switch the receiver over before then."
                );
            } else {
                print_line(secret);
            }
            Ok(())
        }
        WebhookCommand::Deliveries { client, id, limit } => {
            let api = Api::new(&client)?;
            let path = format!("/v1/webhooks/{}/deliveries", path_segment(&id)?);
            let page = api.get(&path, &query(&[("limit", limit.map(|n| n.to_string()))])).await?;
            if api.json {
                api.print_json(&page)?;
            } else {
                let rows: Vec<Value> = page_items(&page)
                    .iter()
                    .map(|delivery| {
                        let attempts = delivery["attempts"].as_array().map(Vec::as_slice).unwrap_or_default();
                        let last = attempts.last().cloned().unwrap_or(Value::Null);
                        let outcome = match (&last["status_code"], &last["error"]) {
                            (Value::Number(code), Value::Null) => format!("HTTP {code}"),
                            (_, Value::String(error)) => error.clone(),
                            _ => "-".into(),
                        };
                        json!({
                            "event_id": delivery["event_id"],
                            "event_type": delivery["event_type"],
                            "status": delivery["status"],
                            "attempts": attempts.len(),
                            "last": outcome,
                            "next": delivery["next_attempt_at"],
                        })
                    })
                    .collect();
                print_objects(
                    &rows,
                    &[
                        ("EVENT", "event_id"),
                        ("TYPE", "event_type"),
                        ("STATUS", "status"),
                        ("ATTEMPTS", "attempts"),
                        ("LAST OUTCOME", "last"),
                        ("NEXT ATTEMPT", "next"),
                    ],
                );
            }
            Ok(())
        }
    }
}
