//! Watching rotated tokens: which clients still use one during its grace
//! period (so its owner knows whom to update before ending it), and who
//! presents one after the grace ended (a security event: some client still
//! holds the old secret, or someone else does).
//!
//! Both are noted in memory on the verification path, which only reaches
//! here for rotated tokens, and written by the usage flusher.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

use keyward_core::clock::micros_to_datetime;
use keyward_core::model::{ExpiryCause, RevokedReason, TokenRecord};
use keyward_store::ClientSighting;

/// Most distinct (token, address, user agent) triples held between flushes;
/// past it, new clients wait for the next flush's room. Bounds memory under
/// a flood of made-up user agents.
const MAX_PENDING_CLIENTS: usize = 10_000;
/// Most rotated tokens with unreported reuse held between flushes.
const MAX_PENDING_REUSES: usize = 10_000;
/// Longest user agent kept; the rest is cut (at a character boundary).
pub const MAX_USER_AGENT_CHARS: usize = 256;
/// One security event per token per this many microseconds (an hour): a
/// forgotten cron job retrying every second must not bury the audit log.
pub const REUSE_REPORT_INTERVAL_MICROS: i64 = 3600 * 1_000_000;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct ClientKey {
    token_id: String,
    client_ip: Option<IpAddr>,
    user_agent: Option<Box<str>>,
}

#[derive(Debug, Clone, Copy)]
struct Seen {
    uses: u64,
    first_micros: i64,
    last_micros: i64,
}

impl Seen {
    fn merge(&mut self, other: Seen) {
        self.uses = self.uses.saturating_add(other.uses);
        self.first_micros = self.first_micros.min(other.first_micros);
        self.last_micros = self.last_micros.max(other.last_micros);
    }
}

/// Presentations of one rotated token after its grace period, since the last flush.
#[derive(Debug, Clone, PartialEq)]
pub struct Reuse {
    /// Its organization.
    pub org_id: String,
    /// The rotated token.
    pub token_id: String,
    /// The token that replaced it.
    pub replaced_by: Option<String>,
    /// When it stopped verifying (grace end or revocation), microseconds.
    pub ended_micros: i64,
    /// Presentations.
    pub attempts: u64,
    /// First and last presentation, microseconds.
    pub first_micros: i64,
    /// Last presentation, microseconds.
    pub last_micros: i64,
    /// Address of the last presentation, if known.
    pub client_ip: Option<IpAddr>,
    /// User agent of the last presentation, if known.
    pub user_agent: Option<String>,
}

/// The notes, shared by every verification of the instance.
#[derive(Debug, Default)]
pub struct GraceWatch {
    clients: Mutex<HashMap<ClientKey, Seen>>,
    reuses: Mutex<HashMap<String, Reuse>>,
    /// When each token's reuse was last reported, to space the reports.
    reported: Mutex<HashMap<String, i64>>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic elsewhere while holding the lock leaves plain counters: keep going.
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// `text` cut to [`MAX_USER_AGENT_CHARS`] characters, without control
/// characters: a user agent is whatever the client sent, and an embedding
/// service passes it without the HTTP edge's checks (a NUL would fail the
/// PostgreSQL write of a whole batch of samples).
pub(crate) fn truncated(text: &str) -> String {
    text.chars().filter(|c| !c.is_control()).take(MAX_USER_AGENT_CHARS).collect()
}

/// Whether `token` stopped verifying because it was rotated: its grace
/// ended, or it was rotated with none. Presenting it then is a security event.
pub(crate) fn ended_by_rotation(token: &TokenRecord) -> bool {
    token.is_replaced()
        && match token.revoked_reason() {
            Some(reason) => reason == RevokedReason::Rotation,
            None => token.expiry_cause() == ExpiryCause::RotationGraceEnded,
        }
}

impl GraceWatch {
    /// Notes one successful use of a token in its grace period.
    pub fn record_client(&self, token_id: &str, client_ip: Option<IpAddr>, user_agent: Option<&str>, now: i64) {
        let key = ClientKey {
            token_id: token_id.to_owned(),
            client_ip,
            user_agent: user_agent.map(|agent| truncated(agent).into_boxed_str()),
        };
        let seen = Seen { uses: 1, first_micros: now, last_micros: now };
        let mut clients = lock(&self.clients);
        if let Some(known) = clients.get_mut(&key) {
            known.merge(seen);
        } else if clients.len() < MAX_PENDING_CLIENTS {
            clients.insert(key, seen);
        }
    }

    /// Notes a presentation of `token` after its rotation's grace period.
    pub fn record_reuse(&self, token: &TokenRecord, client_ip: Option<IpAddr>, user_agent: Option<&str>, now: i64) {
        let mut reuses = lock(&self.reuses);
        if let Some(known) = reuses.get_mut(&token.id) {
            known.attempts = known.attempts.saturating_add(1);
            known.last_micros = known.last_micros.max(now);
            known.client_ip = client_ip.or(known.client_ip);
            if let Some(agent) = user_agent {
                known.user_agent = Some(truncated(agent));
            }
        } else if reuses.len() < MAX_PENDING_REUSES {
            let ended = token.revoked_at().or(token.expires_at).map_or(now, |at| at.timestamp_micros());
            reuses.insert(
                token.id.clone(),
                Reuse {
                    org_id: token.org_id.clone(),
                    token_id: token.id.clone(),
                    replaced_by: token.replaced_by().map(str::to_owned),
                    ended_micros: ended,
                    attempts: 1,
                    first_micros: now,
                    last_micros: now,
                    client_ip,
                    user_agent: user_agent.map(truncated),
                },
            );
        }
    }

    /// Takes the clients noted since the last call.
    pub fn drain_clients(&self) -> Vec<ClientSighting> {
        std::mem::take(&mut *lock(&self.clients))
            .into_iter()
            .map(|(key, seen)| ClientSighting {
                token_id: key.token_id,
                client_ip: key.client_ip.map(|ip| keyward_core::ip::canonical(ip).to_string()),
                user_agent: key.user_agent.map(String::from),
                uses: seen.uses,
                first_seen_at: micros_to_datetime(seen.first_micros),
                last_seen_at: micros_to_datetime(seen.last_micros),
            })
            .collect()
    }

    /// Puts back clients a failed flush could not write.
    pub fn restore_clients(&self, sightings: Vec<ClientSighting>) {
        let mut clients = lock(&self.clients);
        for sighting in sightings {
            let key = ClientKey {
                token_id: sighting.token_id,
                client_ip: sighting.client_ip.and_then(|ip| ip.parse().ok()),
                user_agent: sighting.user_agent.map(String::into_boxed_str),
            };
            let seen = Seen {
                uses: sighting.uses,
                first_micros: sighting.first_seen_at.timestamp_micros(),
                last_micros: sighting.last_seen_at.timestamp_micros(),
            };
            clients.entry(key).and_modify(|known| known.merge(seen)).or_insert(seen);
        }
    }

    /// Takes the reuses due for a report at `now`: at most one per token per
    /// [`REUSE_REPORT_INTERVAL_MICROS`]. Reuses of a token reported less
    /// than that ago are dropped (that report stands for them).
    pub fn due_reuses(&self, now: i64) -> Vec<Reuse> {
        let pending = std::mem::take(&mut *lock(&self.reuses));
        let mut reported = lock(&self.reported);
        reported.retain(|_, at| now - *at < REUSE_REPORT_INTERVAL_MICROS);
        pending
            .into_values()
            .filter(|reuse| {
                if reported.contains_key(&reuse.token_id) {
                    return false;
                }
                reported.insert(reuse.token_id.clone(), now);
                true
            })
            .collect()
    }

    /// Forgets that `reuse` was reported, so a failed write is retried.
    pub fn unreport(&self, reuse: Reuse) {
        lock(&self.reported).remove(&reuse.token_id);
        let mut reuses = lock(&self.reuses);
        let key = reuse.token_id.clone();
        reuses
            .entry(key)
            .and_modify(|known| {
                known.attempts = known.attempts.saturating_add(reuse.attempts);
                known.first_micros = known.first_micros.min(reuse.first_micros);
            })
            .or_insert(reuse);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rotated(id: &str) -> TokenRecord {
        serde_json::from_value(serde_json::json!({
            "id": id, "org_id": "org_x", "keyspace_id": "ks_x", "management": false, "name": "n", "owner": "o",
            "scopes": [], "allowed_ips": [], "metadata": {}, "environment": "test", "prefix": "kw", "last4": "abcd",
            "created_at": "2027-01-01T00:00:00Z", "created_by": "system", "expires_at": "2027-01-02T00:00:00Z",
            "revoked_at": null, "revoked_reason": null, "rotated_from": null, "replaced_by": "tok_new",
            "rotated_at": "2027-01-01T12:00:00Z", "expires_at_before_rotation": null,
            "last_used_at": null, "use_count": 0
        }))
        .unwrap()
    }

    #[test]
    fn clients_add_up_per_address_and_agent() {
        let watch = GraceWatch::default();
        let ip: IpAddr = "203.0.113.7".parse().unwrap();
        watch.record_client("tok_a", Some(ip), Some("billing/1"), 10);
        watch.record_client("tok_a", Some(ip), Some("billing/1"), 30);
        watch.record_client("tok_a", None, None, 20);
        let mut drained = watch.drain_clients();
        drained.sort_by_key(|sighting| sighting.uses);
        assert_eq!(drained.len(), 2);
        assert_eq!((drained[1].uses, drained[1].client_ip.as_deref()), (2, Some("203.0.113.7")));
        assert_eq!(drained[1].first_seen_at.timestamp_micros(), 10);
        assert_eq!(drained[1].last_seen_at.timestamp_micros(), 30);
        assert!(watch.drain_clients().is_empty(), "drained means gone");
        watch.restore_clients(drained);
        assert_eq!(watch.drain_clients().len(), 2, "a failed flush puts them back");
    }

    #[test]
    fn control_characters_never_reach_a_stored_user_agent() {
        assert_eq!(truncated("curl\0/8.5\u{1b}[31m\u{85}"), "curl/8.5[31m");
        assert_eq!(truncated(&"é".repeat(MAX_USER_AGENT_CHARS + 5)).chars().count(), MAX_USER_AGENT_CHARS);
    }

    #[test]
    fn long_user_agents_are_cut_and_new_clients_are_bounded() {
        let watch = GraceWatch::default();
        let long = "é".repeat(MAX_USER_AGENT_CHARS + 10);
        watch.record_client("tok_a", None, Some(&long), 1);
        let kept = watch.drain_clients().remove(0).user_agent.unwrap();
        assert_eq!(kept.chars().count(), MAX_USER_AGENT_CHARS);
        for n in 0..MAX_PENDING_CLIENTS + 5 {
            watch.record_client("tok_a", None, Some(&n.to_string()), 1);
        }
        assert_eq!(watch.drain_clients().len(), MAX_PENDING_CLIENTS);
    }

    #[test]
    fn reuse_is_reported_once_per_token_per_interval() {
        let watch = GraceWatch::default();
        let token = rotated("tok_old");
        watch.record_reuse(&token, None, Some("cron"), 100);
        watch.record_reuse(&token, "198.51.100.1".parse().ok(), None, 200);
        let due = watch.due_reuses(300);
        assert_eq!(due.len(), 1);
        assert_eq!((due[0].attempts, due[0].first_micros, due[0].last_micros), (2, 100, 200));
        assert_eq!(due[0].user_agent.as_deref(), Some("cron"));
        assert_eq!(due[0].replaced_by.as_deref(), Some("tok_new"));

        watch.record_reuse(&token, None, None, 400);
        assert!(watch.due_reuses(300 + REUSE_REPORT_INTERVAL_MICROS - 1).is_empty(), "within the hour: folded");
        watch.record_reuse(&token, None, None, 500);
        assert_eq!(watch.due_reuses(300 + REUSE_REPORT_INTERVAL_MICROS).len(), 1, "an hour later: reported again");

        watch.record_reuse(&rotated("tok_other"), None, None, 600);
        let failed = watch.due_reuses(REUSE_REPORT_INTERVAL_MICROS * 3).remove(0);
        watch.unreport(failed);
        assert_eq!(watch.due_reuses(REUSE_REPORT_INTERVAL_MICROS * 3).len(), 1, "a failed write is retried");
    }
}
