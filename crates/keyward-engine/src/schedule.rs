//! The lifecycle scheduler: one pass, on the engine's clock, over every
//! organization's tokens with something coming (an expiry, a long silence,
//! a rotation falling due), sending each notice once and disabling tokens
//! left unused longer than the organization allows.
//!
//! A pass reads only candidates ([`keyward_store::LifecycleWindow`]); the
//! pure [`keyward_core::lifecycle::due`] decides what each is owed. Notices
//! are recorded with their event in one transaction, keyed so that a second
//! pass, or a pass on another instance, announces nothing twice. `keyward
//! serve` runs a pass every minute; tests call [`Engine::run_lifecycle`]
//! with a manual clock and land on the exact instants.
//!
//! A token whose owner opted in to automatic rotation is rotated when its
//! rotation falls due instead of being announced (see `auto_rotation`);
//! if that fails, it is announced as due like any other.

use std::time::Duration;

use chrono::Duration as Span;
use keyward_core::lifecycle::{self, Notice, Schedule};
use keyward_core::model::{Keyspace, Organization, TokenRecord};
use keyward_core::policy::TokenPolicy;
use keyward_store::{Guarded, LifecycleWindow, NoticeWrite, PageRequest, Switch};

use crate::actor::Actor;
use crate::engine::Engine;
use crate::EngineError;

/// Tokens read per query.
const CANDIDATE_BATCH: u32 = 200;
/// How far back a pass still announces an expiry: a scheduler that was
/// down for longer does not flood receivers with stale news.
const EXPIRED_LOOKBACK_DAYS: i64 = 7;

/// The rotation periods of an organization's tokens that have none of their own.
#[derive(Debug, Clone, Default)]
pub struct RotationPeriods {
    /// The organization's policy.
    pub organization: Option<u32>,
    /// Keyspaces that set their own.
    pub keyspaces: std::collections::HashMap<String, u32>,
}

impl RotationPeriods {
    /// The period for tokens of `keyspace_id` without their own.
    pub fn for_keyspace(&self, keyspace_id: &str) -> Option<u32> {
        self.keyspaces.get(keyspace_id).copied().or(self.organization)
    }
}

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LifecycleReport {
    /// Notices recorded (and announced) for the first time.
    pub notices: u64,
    /// Tokens disabled for inactivity.
    pub disabled: u64,
    /// Tokens rotated automatically (their owners opted in).
    pub rotated: u64,
}

impl std::ops::AddAssign for LifecycleReport {
    fn add_assign(&mut self, other: Self) {
        self.notices += other.notices;
        self.disabled += other.disabled;
        self.rotated += other.rotated;
    }
}

impl Engine {
    /// Runs one lifecycle pass at the engine clock's current instant.
    pub async fn run_lifecycle(&self) -> Result<LifecycleReport, EngineError> {
        // Uses counted in memory must reach the store first, or a token used
        // a moment ago could be judged idle.
        self.flush_usage().await?;
        let now = self.ctx.now();
        let mut report = LifecycleReport::default();
        let mut page = PageRequest::new(Some(100), None);
        loop {
            let organizations = self.ctx.store.list_organizations(&page).await?;
            for organization in &organizations.items {
                report += self.run_lifecycle_of(organization, now).await?;
            }
            match organizations.next {
                Some(next) => page = PageRequest::new(Some(100), Some(next)),
                None => return Ok(report),
            }
        }
    }

    async fn run_lifecycle_of(
        &self,
        organization: &Organization,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<LifecycleReport, EngineError> {
        let mut report = LifecycleReport::default();
        // Keyspace by keyspace: each may set its own rotation period and
        // inactivity rule over the organization's.
        for keyspace in self.all_keyspaces(&organization.id).await? {
            report += self.run_lifecycle_of_keyspace(organization, &keyspace, now).await?;
        }
        Ok(report)
    }

    async fn all_keyspaces(&self, org_id: &str) -> Result<Vec<Keyspace>, EngineError> {
        let mut keyspaces = Vec::new();
        let mut page = PageRequest::new(Some(100), None);
        loop {
            let batch = self.ctx.store.list_keyspaces(org_id, &page).await?;
            keyspaces.extend(batch.items);
            match batch.next {
                Some(next) => page = PageRequest::new(Some(100), Some(next)),
                None => return Ok(keyspaces),
            }
        }
    }

    async fn run_lifecycle_of_keyspace(
        &self,
        organization: &Organization,
        keyspace: &Keyspace,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<LifecycleReport, EngineError> {
        let schedule = Schedule::for_keyspace(&organization.token_policy, keyspace);
        let longest_warning = Span::days(i64::from(schedule.warning_days.first().copied().unwrap_or(0)));
        let window = LifecycleWindow {
            now,
            expiring_until: now + longest_warning,
            expired_since: now - Span::days(EXPIRED_LOOKBACK_DAYS),
            idle_since: schedule
                .disable_after_inactive_days
                .map(|days| (now - Span::days(i64::from(days)) + longest_warning).min(now)),
            rotation_period_days: schedule.rotation_period_days,
            keyspace_id: Some(keyspace.id.clone()),
        };
        let system = Actor::system();
        let mut report = LifecycleReport::default();
        let mut after: Option<String> = None;
        loop {
            let batch = self
                .ctx
                .store
                .lifecycle_candidates(&organization.id, &window, after.as_deref(), CANDIDATE_BATCH)
                .await?;
            let Some(last) = batch.last() else { return Ok(report) };
            after = Some(last.id.clone());
            for token in &batch {
                for notice in lifecycle::due(token, &schedule, now) {
                    match self.deliver_notice(&system, organization, token, &notice, now).await {
                        Ok(Outcome::Noticed) => report.notices += 1,
                        Ok(Outcome::Disabled) => report.disabled += 1,
                        Ok(Outcome::Rotated) => report.rotated += 1,
                        Ok(Outcome::Nothing) => {}
                        // One token's trouble must not starve the others.
                        Err(error) => {
                            tracing::warn!(token = %token.id, kind = %notice.kind(), %error, "lifecycle notice failed")
                        }
                    }
                }
            }
        }
    }

    /// The rotation periods that apply to tokens without their own: each
    /// keyspace's, else the organization's `policy` (the caller's, already
    /// read). For flagging due tokens in views.
    pub async fn rotation_periods(&self, actor: &Actor, policy: &TokenPolicy) -> Result<RotationPeriods, EngineError> {
        let keyspaces = self
            .all_keyspaces(actor.org_id())
            .await?
            .into_iter()
            .filter_map(|keyspace| keyspace.rotation_period_days.map(|days| (keyspace.id, days)))
            .collect();
        Ok(RotationPeriods { organization: policy.rotation_period_days, keyspaces })
    }

    async fn deliver_notice(
        &self,
        system: &Actor,
        organization: &Organization,
        token: &TokenRecord,
        notice: &Notice,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Outcome, EngineError> {
        if let (Notice::RotationDue { .. }, Some(auto)) = (notice, &token.auto_rotate) {
            match self.auto_rotate(system, token, auto, &organization.token_policy).await {
                Ok(rotated) => {
                    tracing::info!(token = %token.id, replaced_by = %rotated.issued.record.id, "rotated automatically");
                    return Ok(Outcome::Rotated);
                }
                // Announced as due instead, so a person can rotate it.
                Err(error) => tracing::warn!(
                    token = %token.id, %error,
                    "automatic rotation failed; announcing the rotation as due instead"
                ),
            }
        }
        let event = self.ctx.event_in(&token.org_id, system, notice.entry(token), "token", &token.id)?;
        if let Notice::DisableInactive { last_activity_at, .. } = notice {
            let switch = Switch::DisableInactive { at: now, last_activity_at: *last_activity_at };
            return Ok(match self.ctx.store.switch_token(&token.org_id, &token.id, switch, &event).await? {
                Guarded::Applied(switched) if switched.changed => {
                    self.ctx.cache.invalidate(&switched.token.digest);
                    Outcome::Disabled
                }
                _ => Outcome::Nothing,
            });
        }
        let kind = notice.kind();
        let write = NoticeWrite {
            org_id: &token.org_id,
            token_id: &token.id,
            kind: &kind,
            about: notice.about(),
            noticed_at: now,
        };
        Ok(match self.ctx.store.record_notice(&write, &event).await? {
            true => Outcome::Noticed,
            false => Outcome::Nothing,
        })
    }

    /// Runs a lifecycle pass every `interval` until `shutdown` resolves.
    pub async fn run_lifecycle_scheduler(&self, interval: Duration, shutdown: impl std::future::Future<Output = ()>) {
        crate::periodic::every(interval, shutdown, || async {
            match self.run_lifecycle().await {
                Ok(report) if report != LifecycleReport::default() => {
                    tracing::info!(
                        notices = report.notices,
                        disabled = report.disabled,
                        rotated = report.rotated,
                        "lifecycle pass"
                    );
                }
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "lifecycle pass failed; the next one retries"),
            }
        })
        .await;
    }
}

enum Outcome {
    Noticed,
    Disabled,
    Rotated,
    Nothing,
}
