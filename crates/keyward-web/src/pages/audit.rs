//! The organization's audit log: filters by actor, action, token and
//! dates, cursor pages, and export as JSON lines or CSV.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{NaiveDate, Utc};
use keyward_core::audit::AuditAction;
use keyward_core::clock::micros_to_datetime;
use keyward_core::model::AuditEvent;
use keyward_engine::Capability;
use keyward_server::AppState;
use keyward_store::{AuditFilter, Cursor, PageRequest};

use super::tokens::{owner_names, AuditLine};
use super::{engine_refusal, failed, render, UserBar, When};
use crate::session::SignedInPage;

/// Most events one export holds; narrow the filters for more.
const EXPORT_LIMIT: usize = 100_000;

#[derive(Default)]
pub struct AuditQuery {
    actor: String,
    action: String,
    token: String,
    since: String,
    until: String,
}

impl AuditQuery {
    fn from(query: &HashMap<String, String>) -> Self {
        let value = |name: &str| query.get(name).map(|v| v.trim().to_owned()).unwrap_or_default();
        Self {
            actor: value("actor"),
            action: value("action"),
            token: value("token"),
            since: value("since"),
            until: value("until"),
        }
    }

    /// The store filter, or the field that is not a date.
    fn filter(&self) -> Result<AuditFilter, &'static str> {
        let day = |text: &str, field: &'static str| -> Result<Option<chrono::DateTime<Utc>>, &'static str> {
            if text.is_empty() {
                return Ok(None);
            }
            let date = NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| field)?;
            Ok(date.and_hms_opt(0, 0, 0).map(|at| at.and_utc()))
        };
        let until = day(&self.until, "until")?.map(|start| start + chrono::Duration::days(1));
        Ok(AuditFilter {
            actor: (!self.actor.is_empty()).then(|| self.actor.clone()),
            action: (!self.action.is_empty()).then(|| self.action.clone()),
            target_id: (!self.token.is_empty()).then(|| self.token.clone()),
            since: day(&self.since, "since")?,
            until,
        })
    }

    fn link(&self, path: &str, extra: &[(&str, &str)]) -> String {
        let mut url = url::form_urlencoded::Serializer::new(format!("{path}?"));
        url.append_pair("actor", &self.actor).append_pair("action", &self.action).append_pair("token", &self.token);
        url.append_pair("since", &self.since).append_pair("until", &self.until);
        for (name, value) in extra {
            url.append_pair(name, value);
        }
        url.finish()
    }
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    signed_in: Option<UserBar>,
    notice: Option<String>,
    query: AuditQuery,
    error: Option<String>,
    events: Vec<(AuditLine, String, String, Option<String>)>,
    next_page: Option<String>,
    export_jsonl: String,
    export_csv: String,
}

/// `GET /audit`
pub async fn audit(
    State(state): State<AppState>,
    page: SignedInPage,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    if let Some(refused) = engine_refusal(&page, Capability::ReadAudit) {
        return refused;
    }
    let audit_query = AuditQuery::from(&query);
    let now = micros_to_datetime(state.now_micros());
    let owners = owner_names(&state, &page).await;
    let (events, next_page, error) = match audit_query.filter() {
        Err(field) => (Vec::new(), None, Some(format!("“{field}” must be a date (YYYY-MM-DD)."))),
        Ok(filter) => {
            let after = query.get("after").and_then(|cursor| Cursor::decode(cursor));
            match state.engine.list_audit(&page.actor, &filter, &PageRequest::new(Some(50), after)).await {
                Err(error) => return failed(error),
                Ok(listed) => {
                    let next = listed.next.map(|cursor| audit_query.link("/audit", &[("after", &cursor.encode())]));
                    let lines = listed
                        .items
                        .into_iter()
                        .map(|event| {
                            let target = format!("{} {}", event.target_type, event.target_id);
                            let details = event.details.to_string();
                            let summary = readable(&event);
                            let line = AuditLine {
                                when: When::of(event.occurred_at, now),
                                actor: owners.get(&event.actor).cloned().unwrap_or(event.actor),
                                action: event.action.to_string(),
                                source_ip: event.source_ip.unwrap_or_default(),
                            };
                            (line, target, details, summary)
                        })
                        .collect();
                    (lines, next, None)
                }
            }
        }
    };
    let status = if error.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    let export_jsonl = audit_query.link("/audit/export", &[("format", "jsonl")]);
    let export_csv = audit_query.link("/audit/export", &[("format", "csv")]);
    let rendered = render(&AuditPage {
        signed_in: Some(UserBar::from(&page)),
        notice: None,
        query: audit_query,
        error,
        events,
        next_page,
        export_jsonl,
        export_csv,
    });
    (status, rendered).into_response()
}

/// A CSV field, quoted when it must be (RFC 4180), and defused against
/// spreadsheet formula injection (a leading `=`, `+`, `-` or `@`).
fn csv_field(text: &str) -> String {
    let defused = if text.starts_with(['=', '+', '-', '@']) { format!("'{text}") } else { text.to_owned() };
    if defused.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", defused.replace('"', "\"\""))
    } else {
        defused
    }
}

fn csv_line(event: &AuditEvent) -> String {
    let fields = [
        event.occurred_at.to_rfc3339(),
        event.id.clone(),
        event.actor.clone(),
        event.action.to_string(),
        event.target_type.clone(),
        event.target_id.clone(),
        event.source_ip.clone().unwrap_or_default(),
        event.request_id.clone().unwrap_or_default(),
        event.details.to_string(),
    ];
    let mut line = fields.iter().map(|field| csv_field(field)).collect::<Vec<_>>().join(",");
    line.push_str("\r\n");
    line
}

/// `GET /audit/export?format=jsonl|csv`: every event matching the filters,
/// newest first, as a download.
pub async fn export(
    State(state): State<AppState>,
    page: SignedInPage,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    if let Some(refused) = engine_refusal(&page, Capability::ReadAudit) {
        return refused;
    }
    let csv = match query.get("format").map(String::as_str) {
        Some("csv") => true,
        Some("jsonl") | None => false,
        Some(_) => return (StatusCode::BAD_REQUEST, "Use format=jsonl or format=csv.").into_response(),
    };
    let filter = match AuditQuery::from(&query).filter() {
        Ok(filter) => filter,
        Err(field) => {
            return (StatusCode::BAD_REQUEST, format!("“{field}” must be a date (YYYY-MM-DD).")).into_response()
        }
    };
    let mut body = String::new();
    if csv {
        body.push_str("occurred_at,id,actor,action,target_type,target_id,source_ip,request_id,details\r\n");
    }
    let mut written = 0;
    let mut after = None;
    loop {
        let listed = match state.engine.list_audit(&page.actor, &filter, &PageRequest::new(Some(200), after)).await {
            Ok(listed) => listed,
            Err(error) => return failed(error),
        };
        for event in &listed.items {
            if csv {
                body.push_str(&csv_line(event));
            } else {
                match serde_json::to_string(event) {
                    Ok(json) => {
                        body.push_str(&json);
                        body.push('\n');
                    }
                    Err(error) => {
                        tracing::error!(%error, "an audit event failed to serialize");
                        return super::unavailable();
                    }
                }
            }
            written += 1;
        }
        match listed.next {
            Some(next) if written < EXPORT_LIMIT => after = Some(next),
            _ => break,
        }
    }
    let (content_type, extension) =
        if csv { ("text/csv; charset=utf-8", "csv") } else { ("application/x-ndjson", "jsonl") };
    let disposition = format!("attachment; filename=\"keyward-audit.{extension}\"");
    ([(header::CONTENT_TYPE, content_type.to_owned()), (header::CONTENT_DISPOSITION, disposition)], body)
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_and_defused() {
        assert_eq!(csv_field("token.created"), "token.created");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_field("-1"), "'-1");
    }
}

/// A sentence for the security events, whose details are otherwise a
/// wall of JSON; `None` for the rest.
fn readable(event: &AuditEvent) -> Option<String> {
    let text = |name: &str| event.details.get(name).and_then(|value| value.as_str()).unwrap_or_default().to_owned();
    let agent = || {
        let agent = text("user_agent");
        if agent.is_empty() {
            String::new()
        } else {
            format!(", with {agent}")
        }
    };
    let from = event.source_ip.as_deref().map(|ip| format!(" from {ip}")).unwrap_or_default();
    Some(match event.action {
        AuditAction::SessionSignedIn => format!("{} signed in{from}{} ({})", text("email"), agent(), text("method")),
        AuditAction::SessionSignInFailed => {
            let email = text("email");
            let who = if email.is_empty() { "an unreadable email".to_owned() } else { email };
            format!("Sign-in as {who} failed{from}{}: {}", agent(), text("reason").replace('_', " "))
        }
        AuditAction::SessionSignedOut => format!("Signed out{from}{}", agent()),
        AuditAction::SessionExpired => "A session was presented after it expired; it is deleted".to_owned(),
        AuditAction::PasswordChanged => format!("{} changed their password{from}; other sessions ended", text("email")),
        AuditAction::AccessDenied => {
            format!("Refused {} {}{from}: {}", text("method"), text("route"), text("code").replace('_', " "))
        }
        AuditAction::CrossTenantProbe => format!(
            "{} {}{from}, by organization {}, named this organization's {} {} (answered: not found)",
            text("method"),
            text("route"),
            text("caller_organization_id"),
            event.target_type,
            event.target_id
        ),
        AuditAction::TokenSpraying | AuditAction::SecurityEventsSuppressed => text("summary"),
        _ => return None,
    })
}

#[cfg(test)]
mod readable_tests {
    use super::*;
    use serde_json::json;

    fn event(action: AuditAction, details: serde_json::Value) -> AuditEvent {
        AuditEvent {
            id: "evt_1".into(),
            org_id: "org_1".into(),
            occurred_at: micros_to_datetime(0),
            actor: "anonymous".into(),
            action,
            target_type: "token".into(),
            target_id: "tok_1".into(),
            request_id: None,
            source_ip: Some("203.0.113.9".into()),
            details,
        }
    }

    #[test]
    fn security_events_read_as_sentences() {
        let failed = event(
            AuditAction::SessionSignInFailed,
            json!({"email": "ada@example.com", "reason": "invalid_credentials", "user_agent": "curl/8"}),
        );
        assert_eq!(
            readable(&failed).as_deref(),
            Some("Sign-in as ada@example.com failed from 203.0.113.9, with curl/8: invalid credentials")
        );
        let probe = event(
            AuditAction::CrossTenantProbe,
            json!({"method": "GET", "route": "/v1/tokens/{id}", "caller_organization_id": "org_2"}),
        );
        assert_eq!(
            readable(&probe).as_deref(),
            Some(
                "GET /v1/tokens/{id} from 203.0.113.9, by organization org_2, named this organization's token tok_1 \
                 (answered: not found)"
            )
        );
        let spray = event(
            AuditAction::TokenSpraying,
            json!({"summary": "1,500 unknown tokens presented from 203.0.113.9 in 60 s"}),
        );
        assert_eq!(readable(&spray).as_deref(), Some("1,500 unknown tokens presented from 203.0.113.9 in 60 s"));
        assert_eq!(readable(&event(AuditAction::TokenRevoked, json!({}))), None);
    }
}
