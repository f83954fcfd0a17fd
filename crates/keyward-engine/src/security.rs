//! Security events in the audit log: sign-ins and their failures, sessions
//! ending, refused management calls, and what those cost to record.
//!
//! Two of these can be produced by whoever wants to fill the log: failed
//! sign-ins (anyone can try) and refusals (any token can ask for what it may
//! not have). Each is written one by one only within a budget of
//! [`EVENTS_PER_MINUTE`] per organization, kind and source (the address for
//! sign-ins, the caller for refusals) per minute; past it they are counted,
//! and the next flush writes one `security.events_suppressed` event saying
//! how many were not written. Bursts of unknown tokens are the verifier's
//! to count (see `spraying`); only unknown bearer tokens shown to the
//! management API are attributed here, to the operator organization.
//!
//! The budgets are bounded maps, reset every minute: a flood of distinct
//! keys costs a fixed amount of memory, and what does not fit is still
//! counted, in an overflow bucket.

use std::net::IpAddr;

use keyward_core::audit::{self, AuditAction, AuditEntry};
use keyward_core::clock::micros_to_datetime;
use keyward_core::id::{self, new_id, IdKind};
use keyward_core::model::{AuditEvent, Session, User};
use keyward_core::TokenDigest;

use crate::actor::{Actor, RequestContext};
use crate::event_budget::{Suppressed, EVENTS_PER_MINUTE};
use crate::spraying::{grouped, ANONYMOUS_ACTOR, MINUTE_MICROS};
use crate::{Engine, EngineError};

/// Longest user agent and attempted email kept in an event.
const MAX_TEXT_CHARS: usize = 256;

/// `text` without control characters, cut to [`MAX_TEXT_CHARS`]: a user
/// agent is whatever the client sent.
pub(crate) fn sanitized(text: &str) -> String {
    text.chars().filter(|c| !c.is_control()).take(MAX_TEXT_CHARS).collect()
}

/// What the HTTP edge saw refused.
#[derive(Debug, Clone, Copy)]
pub enum Refusal<'a> {
    /// 403: the caller's scopes or role do not allow the call. `code` is the
    /// problem code answered (`insufficient_scope`, `not_token_owner`, …).
    Denied {
        /// The problem code.
        code: &'a str,
    },
    /// 404 for an id: audited only when the id belongs to another organization.
    NotFound,
}

/// A refused call, as the edge describes it.
#[derive(Debug, Clone, Copy)]
pub struct RefusedCall<'a> {
    /// Why.
    pub refusal: Refusal<'a>,
    /// The HTTP method.
    pub method: &'a str,
    /// The route pattern, e.g. `/v1/tokens/{id}/revoke`.
    pub route: &'a str,
    /// The id in the path, as given (already cut to a sane length).
    pub target: Option<&'a str>,
}

fn event_at(
    engine: &Engine,
    org_id: &str,
    actor: &str,
    entry: AuditEntry<'_>,
    target: (&str, &str),
    context: &RequestContext,
) -> Result<AuditEvent, EngineError> {
    Ok(AuditEvent {
        id: new_id(IdKind::Event, engine.ctx.rng.as_ref())?,
        org_id: org_id.to_owned(),
        occurred_at: engine.ctx.now(),
        actor: actor.to_owned(),
        action: entry.action(),
        target_type: target.0.to_owned(),
        target_id: target.1.to_owned(),
        request_id: context.request_id.clone(),
        source_ip: context.source_ip.map(|ip| keyward_core::ip::canonical(ip).to_string()),
        details: crate::context::details(&entry)?,
    })
}

fn address_key(context: &RequestContext) -> String {
    context.source_ip.map_or_else(|| "-".to_owned(), |ip| keyward_core::ip::canonical(ip).to_string())
}

impl Engine {
    /// The event recording a session's start (`method`: `password`,
    /// `sign_up` or `invitation`).
    pub(crate) fn session_started_event(
        &self,
        session: &Session,
        user: &User,
        method: &str,
        context: &RequestContext,
    ) -> Result<AuditEvent, EngineError> {
        let user_agent = context.user_agent.as_deref().map(sanitized);
        let signed_in = AuditEntry::SessionSignedIn {
            email: &user.email,
            session_id: &session.id,
            method,
            user_agent: user_agent.as_deref(),
            expires_at: session.expires_at,
        };
        event_at(self, &session.org_id, &user.id, signed_in, ("user", &user.id), context)
    }

    /// Records a failed sign-in. The installation's log (the operator
    /// organization's) gets every failure with the email as given, never
    /// saying whether such an account exists; when it does, each of its
    /// organizations gets one too, so their admins see attempts on their
    /// members. Never fails the caller: a failure to log is logged.
    pub(crate) async fn record_sign_in_failure(
        &self,
        email: Option<&str>,
        user: Option<&User>,
        reason: &'static str,
        context: &RequestContext,
    ) {
        if let Err(error) = self.try_record_sign_in_failure(email, user, reason, context).await {
            tracing::warn!(%error, "a failed sign-in could not be written to the audit log");
        }
    }

    async fn try_record_sign_in_failure(
        &self,
        email: Option<&str>,
        user: Option<&User>,
        reason: &'static str,
        context: &RequestContext,
    ) -> Result<(), EngineError> {
        let now = self.ctx.clock.now_micros();
        let subject = address_key(context);
        let user_agent = context.user_agent.as_deref().map(sanitized);
        let email = email.map(sanitized);
        let mut orgs: Vec<(String, &'static str)> = Vec::new();
        let operator = match self.operator_org.get() {
            Some(operator) => Some(operator.clone()),
            None => self.ctx.store.operator_organization().await?.map(|org| org.id),
        };
        if let Some(operator) = &operator {
            // Wrong password and unknown account look alike here.
            let public =
                if reason == "wrong_password" || reason == "unknown_account" { "invalid_credentials" } else { reason };
            orgs.push((operator.clone(), public));
        }
        if let Some(user) = user {
            for member in self.ctx.store.memberships_of(&user.id).await? {
                if Some(&member.org_id) != operator.as_ref() {
                    orgs.push((member.org_id, reason));
                }
            }
        }
        for (org, reason) in orgs {
            if !self.security_budget.admit(&org, AuditAction::SessionSignInFailed, &subject, now) {
                continue;
            }
            let target = match user {
                Some(user) if reason != "invalid_credentials" => ("user", user.id.as_str()),
                _ => ("email", ""),
            };
            let failed =
                AuditEntry::SessionSignInFailed { email: email.as_deref(), reason, user_agent: user_agent.as_deref() };
            let event = event_at(self, &org, ANONYMOUS_ACTOR, failed, target, context)?;
            self.ctx.store.append_audit_event(&event).await?;
        }
        Ok(())
    }

    /// Ends the session with this secret, logging `session.signed_out`.
    /// Whether there was one.
    pub(crate) async fn end_session(
        &self,
        digest: &TokenDigest,
        context: &RequestContext,
    ) -> Result<bool, EngineError> {
        let Some(session) = self.ctx.store.find_session(digest).await? else {
            return Ok(false);
        };
        let user_agent = context.user_agent.as_deref().map(sanitized);
        let signed_out = AuditEntry::SessionSignedOut { session_id: &session.id, user_agent: user_agent.as_deref() };
        let event = event_at(self, &session.org_id, &session.user_id, signed_out, ("user", &session.user_id), context)?;
        Ok(self.ctx.store.delete_session(digest, Some(&event)).await?)
    }

    /// Deletes a session presented after its end, logging `session.expired` once.
    pub(crate) async fn expire_session(&self, digest: &TokenDigest, session: &Session) -> Result<(), EngineError> {
        let expired = AuditEntry::SessionExpired { session_id: &session.id, expired_at: session.expires_at };
        let context = RequestContext::default();
        let event = event_at(self, &session.org_id, &session.user_id, expired, ("user", &session.user_id), &context)?;
        self.ctx.store.delete_session(digest, Some(&event)).await?;
        Ok(())
    }

    /// Audits a refused management call: a 403 in the caller's
    /// organization; a 404 whose id belongs to another organization in
    /// *that* organization (with the caller's organization named), never
    /// in the caller's, whose log would otherwise tell an existing foreign
    /// id from a missing one. Within the per-minute budget; never fails the
    /// caller.
    pub async fn record_refusal(&self, actor: &Actor, call: &RefusedCall<'_>) {
        if let Err(error) = self.try_record_refusal(actor, call).await {
            tracing::warn!(%error, "a refused call could not be written to the audit log");
        }
    }

    async fn try_record_refusal(&self, actor: &Actor, call: &RefusedCall<'_>) -> Result<(), EngineError> {
        let org = actor.org_id();
        if org.is_empty() {
            return Ok(());
        }
        let (action, code, filed_in) = match call.refusal {
            Refusal::Denied { code } => (AuditAction::AccessDenied, code, vec![org.to_owned()]),
            Refusal::NotFound => {
                let Some(target) = call.target else { return Ok(()) };
                (AuditAction::CrossTenantProbe, "not_found", self.ctx.store.organizations_holding(org, target).await?)
            }
        };
        let target = call.target.unwrap_or("");
        let target_type = id_kind_name(target);
        let now = self.ctx.clock.now_micros();
        for filed_in in filed_in {
            if !self.security_budget.admit(&filed_in, action, actor.principal.id(), now) {
                continue;
            }
            let refused =
                audit::RefusedCall { method: call.method, route: call.route, code, caller_organization_id: org };
            let entry = match action {
                AuditAction::AccessDenied => AuditEntry::AccessDenied(refused),
                _ => AuditEntry::CrossTenantProbe(refused),
            };
            let event = self.ctx.event_in(&filed_in, actor, entry, target_type, target)?;
            self.ctx.store.append_audit_event(&event).await?;
        }
        Ok(())
    }

    /// Writes one `security.events_suppressed` event per budget exceeded
    /// in minutes that have ended. Runs with the usage flush.
    pub(crate) async fn flush_suppressed(&self) -> Result<(), EngineError> {
        let now = self.ctx.clock.now_micros();
        let mut first_error = None;
        for suppressed in self.security_budget.take_closed(now) {
            if let Err(error) = self.write_suppressed(&suppressed).await {
                first_error.get_or_insert(error);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Counts a bearer token the management API was shown that no one
    /// issued. Nobody is calling on anyone's behalf, so the burst is the
    /// operator's to know of: it is counted for the installation and filed
    /// in the operator organization's log, found when the minute is written
    /// (never here: an unknown token costs no database work, even before
    /// bootstrap or while the database struggles).
    #[cold]
    pub(crate) fn note_unknown_bearer(&self, client_ip: Option<IpAddr>, now: i64) {
        if self.ctx.config.token_spraying_threshold == 0 {
            return;
        }
        self.verifier.note_unknown_token(crate::spraying::INSTALLATION, ANONYMOUS_ACTOR, client_ip, now);
    }

    async fn write_suppressed(&self, suppressed: &Suppressed) -> Result<(), EngineError> {
        let start = micros_to_datetime(suppressed.minute * MINUTE_MICROS);
        let end = micros_to_datetime((suppressed.minute + 1) * MINUTE_MICROS);
        let by_address = suppressed.action == AuditAction::SessionSignInFailed;
        let summary = format!(
            "{} more {} events from {} in 60 s were counted, not written one by one",
            grouped(suppressed.count),
            suppressed.action,
            suppressed.subject
        );
        let entry = AuditEntry::SecurityEventsSuppressed {
            summary: &summary,
            action: suppressed.action,
            suppressed: suppressed.count,
            written: EVENTS_PER_MINUTE,
            window_start: start,
            window_end: end,
        };
        let event = AuditEvent {
            id: new_id(IdKind::Event, self.ctx.rng.as_ref())?,
            org_id: suppressed.org_id.clone(),
            occurred_at: end,
            actor: if by_address { ANONYMOUS_ACTOR.to_owned() } else { suppressed.subject.clone() },
            action: entry.action(),
            target_type: "action".to_owned(),
            target_id: suppressed.action.as_str().to_owned(),
            request_id: None,
            source_ip: (by_address && suppressed.subject != "-").then(|| suppressed.subject.clone()),
            details: crate::context::details(&entry)?,
        };
        self.ctx.store.append_audit_event(&event).await?;
        Ok(())
    }
}

/// The kind of thing an id names, for the audit target type.
fn id_kind_name(id: &str) -> &'static str {
    [
        (IdKind::Token, "token"),
        (IdKind::Keyspace, "keyspace"),
        (IdKind::Webhook, "webhook"),
        (IdKind::Invitation, "invitation"),
        (IdKind::ServiceAccount, "service_account"),
        (IdKind::User, "user"),
        (IdKind::Organization, "organization"),
    ]
    .into_iter()
    .find(|(kind, _)| id::looks_like(*kind, id))
    .map_or("route", |(_, name)| name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_read_like_sentences() {
        assert_eq!(grouped(1500), "1,500");
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(1_234_567), "1,234,567");
        assert_eq!(sanitized("curl/8\r\nX-Evil: 1"), "curl/8X-Evil: 1");
        assert_eq!(sanitized(&"a".repeat(1000)).len(), MAX_TEXT_CHARS);
    }
}
