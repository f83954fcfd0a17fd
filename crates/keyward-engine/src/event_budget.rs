//! The per-minute budget of security events anyone can provoke (failed
//! sign-ins, refused calls): within it they are written one by one, past it
//! counted and summed up in one event. A leaf, so the engine can hold it
//! without importing the security service that writes the events.

use std::collections::HashMap;
use std::sync::Mutex;

use keyward_core::audit::AuditAction;

use crate::spraying::minute_of;

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Counters only: after a panic elsewhere they are still usable.
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Security events of one kind, organization and source written one by
/// one per minute; the rest are summed up in one event.
pub const EVENTS_PER_MINUTE: u32 = 20;
/// Distinct (organization, kind, source) budgets tracked per minute.
const MAX_BUDGETS: usize = 10_000;
/// A minute's worth of security events one source may write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Suppressed {
    pub org_id: String,
    pub action: AuditAction,
    pub subject: String,
    pub minute: i64,
    pub count: u64,
}

#[derive(Default)]
struct BudgetState {
    minute: i64,
    used: HashMap<(String, AuditAction, String), (u32, u64)>,
    overflow: u64,
    closed: Vec<Suppressed>,
}

impl BudgetState {
    fn roll(&mut self, minute: i64) {
        if self.minute == minute {
            return;
        }
        let closed_minute = self.minute;
        for ((org_id, action, subject), (_, count)) in self.used.drain() {
            // Bounded by MAX_BUDGETS per minute, and drained by every flush.
            if count > 0 && self.closed.len() < MAX_BUDGETS {
                self.closed.push(Suppressed { org_id, action, subject, minute: closed_minute, count });
            }
        }
        if self.overflow > 0 {
            tracing::warn!(
                suppressed = self.overflow,
                "security events from more sources than tracked in one minute were not written"
            );
        }
        self.overflow = 0;
        self.minute = minute;
    }
}

/// The per-minute budget of security events (see the module comment).
#[derive(Default)]
pub(crate) struct EventBudget {
    state: Mutex<BudgetState>,
}

impl EventBudget {
    /// Whether an event of `action` in `org` from `subject` may be written now.
    pub(crate) fn admit(&self, org: &str, action: AuditAction, subject: &str, now: i64) -> bool {
        let mut state = lock(&self.state);
        state.roll(minute_of(now));
        let key = (org.to_owned(), action, subject.to_owned());
        if !state.used.contains_key(&key) && state.used.len() >= MAX_BUDGETS {
            state.overflow += 1;
            return false;
        }
        let entry = state.used.entry(key).or_insert((0, 0));
        if entry.0 < EVENTS_PER_MINUTE {
            entry.0 += 1;
            true
        } else {
            entry.1 += 1;
            false
        }
    }

    /// The counts of minutes that have ended.
    pub(crate) fn take_closed(&self, now: i64) -> Vec<Suppressed> {
        let mut state = lock(&self.state);
        state.roll(minute_of(now));
        std::mem::take(&mut state.closed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spraying::MINUTE_MICROS;

    // On a minute boundary.
    const T0: i64 = 31_666_666 * MINUTE_MICROS;

    #[test]
    fn the_budget_admits_a_minutes_share_and_counts_the_rest() {
        let budget = EventBudget::default();
        let admitted = (0..EVENTS_PER_MINUTE + 7)
            .filter(|_| budget.admit("org_a", AuditAction::AccessDenied, "tok_1", T0))
            .count();
        assert_eq!(admitted, EVENTS_PER_MINUTE as usize);
        assert!(budget.admit("org_a", AuditAction::AccessDenied, "tok_2", T0), "another source has its own budget");
        assert!(budget.take_closed(T0 + 1).is_empty());
        let closed = budget.take_closed(T0 + MINUTE_MICROS);
        assert_eq!(
            closed,
            [Suppressed {
                org_id: "org_a".into(),
                action: AuditAction::AccessDenied,
                subject: "tok_1".into(),
                minute: minute_of(T0),
                count: 7
            }]
        );
        assert!(
            budget.admit("org_a", AuditAction::AccessDenied, "tok_1", T0 + MINUTE_MICROS),
            "a new minute, a new budget"
        );
    }
}
