//! Keyward's webhook dispatcher. Lifecycle events are queued in the store
//! by the same transaction that logs them (an outbox); the dispatcher claims
//! due deliveries under a lease, POSTs each as signed JSON, and either marks
//! it delivered or schedules the next attempt with exponential backoff.
//!
//! Delivery is at least once: a dispatcher that dies mid-attempt loses its
//! lease and another (or the same, restarted) tries again. Receivers
//! deduplicate on the `Keyward-Event-Id` header. Time comes from the
//! injected clock, so backoff is tested exactly with no sleeping: a test
//! sets the clock and calls [`Dispatcher::run_due`].
//!
//! Deliveries go only where the [`EgressPolicy`] allows: never, by default,
//! to a loopback, private, link-local or otherwise internal address. A
//! literal address is checked before the request; a name is resolved here
//! and the connection is made only to addresses that passed, so a name
//! cannot point elsewhere between the check and the connect. Redirects are
//! not followed and proxies are not used, so nothing else picks the
//! destination. A refused attempt makes no request and is logged with its
//! rule but without a status or a duration, and the delivery fails at once:
//! the destination rules do not change between retries.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use keyward_core::egress::{self, EgressPolicy, Refusal};
use keyward_core::model::{AuditEvent, DeliveryAttempt, DeliveryStatus};
use keyward_core::webhook::{self, MasterKey};
use keyward_core::{Clock, SecretToken};
use keyward_store::{AttemptOutcome, DueDelivery, Store, StoreError};
use serde_json::json;

/// The header numbering the attempt (1 for the first).
pub const ATTEMPT_HEADER: &str = "Keyward-Delivery-Attempt";

/// When to give up, and how long to wait in between.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts before a delivery is marked failed.
    pub max_attempts: u32,
    /// Wait after the first failure; doubled after each further one.
    pub first_delay: Duration,
    /// The longest wait between attempts.
    pub max_delay: Duration,
    /// How long one attempt may take.
    pub timeout: Duration,
    /// How long a claimed delivery is reserved for its dispatcher (longer
    /// than `timeout`, so a live attempt is never taken over).
    pub lease: Duration,
    /// Deliveries claimed per pass.
    pub batch: u32,
}

impl Default for RetryPolicy {
    /// 8 attempts over about 21 minutes: 10 s, 20 s, 40 s, … 640 s apart.
    fn default() -> Self {
        Self {
            max_attempts: 8,
            first_delay: Duration::from_secs(10),
            max_delay: Duration::from_secs(3600),
            timeout: Duration::from_secs(10),
            lease: Duration::from_secs(60),
            batch: 32,
        }
    }
}

impl RetryPolicy {
    /// The wait after failed attempt number `attempt` (1-based).
    pub fn delay_after(&self, attempt: u32) -> Duration {
        let doublings = attempt.saturating_sub(1).min(30);
        self.first_delay.saturating_mul(1 << doublings).min(self.max_delay)
    }
}

/// Delivers what the store's outbox holds.
pub struct Dispatcher {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    master_key: MasterKey,
    http: reqwest::Client,
    policy: RetryPolicy,
    egress: Arc<EgressPolicy>,
}

/// The JSON body of a delivery: the audit event, under stable names. Audit
/// events never hold a secret, so neither does this.
pub fn payload(event: &AuditEvent) -> serde_json::Value {
    json!({
        "id": event.id,
        "type": event.action,
        "created_at": event.occurred_at,
        "organization_id": event.org_id,
        "actor": event.actor,
        "target": {"type": event.target_type, "id": event.target_id},
        "data": event.details,
    })
}

fn to_chrono(duration: Duration) -> TimeDelta {
    TimeDelta::from_std(duration).unwrap_or(TimeDelta::MAX)
}

impl Dispatcher {
    /// A dispatcher over `store`, opening secrets with `master_key`,
    /// delivering only where `egress` allows.
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        master_key: MasterKey,
        policy: RetryPolicy,
        egress: EgressPolicy,
    ) -> Result<Self, reqwest::Error> {
        let egress = Arc::new(egress);
        let http = reqwest::Client::builder()
            .user_agent(concat!("Keyward-Webhooks/", env!("CARGO_PKG_VERSION")))
            .timeout(policy.timeout)
            // A redirect is a failed delivery: following it could send events
            // somewhere nobody registered, past the destination check.
            .redirect(reqwest::redirect::Policy::none())
            // A proxy would resolve and connect on its own, unchecked.
            .no_proxy()
            .dns_resolver(Arc::new(CheckedResolver { egress: egress.clone() }))
            .build()?;
        Ok(Self { store, clock, master_key, http, policy, egress })
    }

    /// One pass: claims the deliveries due now, attempts them concurrently,
    /// and records each outcome. Answers how many were attempted.
    pub async fn run_due(&self) -> Result<usize, StoreError> {
        let now = self.clock.now();
        let lease_until = now + to_chrono(self.policy.lease);
        let due = self.store.claim_deliveries(now, lease_until, self.policy.batch).await?;
        let count = due.len();
        let mut attempts = tokio::task::JoinSet::new();
        for delivery in due {
            let http = self.http.clone();
            let egress = self.egress.clone();
            let unsealed = self.unseal(&delivery);
            attempts.spawn(async move {
                let started = Instant::now();
                let result = match unsealed {
                    Ok(unsealed) => attempt(&http, &egress, &delivery, &unsealed, now).await,
                    Err(error) => Attempted::Failed(error),
                };
                (delivery, now, started.elapsed(), result)
            });
        }
        while let Some(joined) = attempts.join_next().await {
            let Ok((delivery, attempted_at, took, result)) = joined else {
                // A panicking attempt keeps its lease and is retried after it.
                tracing::error!("a webhook attempt panicked");
                continue;
            };
            if let Attempted::Refused { refusal, host, .. } = &result {
                // The operator sees the address; the organization's log does not.
                tracing::warn!(
                    endpoint = %delivery.endpoint_id, event = %delivery.event.id, host = %host,
                    refused = %refusal, rule = refusal.rule.code(),
                    "webhook delivery refused: its destination is not one webhooks may reach ({})",
                    egress::REMEDY
                );
            }
            let outcome = self.outcome(&delivery, attempted_at, took, result);
            match outcome.status {
                DeliveryStatus::Succeeded => {}
                DeliveryStatus::Pending => tracing::info!(
                    endpoint = %delivery.endpoint_id, event = %delivery.event.id, attempt = delivery.attempt,
                    error = outcome.attempt.error.as_deref().unwrap_or_default(), "webhook delivery failed; will retry"
                ),
                DeliveryStatus::Failed => tracing::warn!(
                    endpoint = %delivery.endpoint_id, event = %delivery.event.id, attempt = delivery.attempt,
                    error = outcome.attempt.error.as_deref().unwrap_or_default(), "webhook delivery gave up"
                ),
            }
            self.store.finish_attempt(&outcome).await?;
        }
        Ok(count)
    }

    /// Opens what a delivery holds sealed: the signing secrets (the current
    /// one, and the one it replaces while that still signs) and, for an
    /// automatic rotation, the new token.
    fn unseal(&self, delivery: &DueDelivery) -> Result<Unsealed, String> {
        let open = |sealed: &[u8], context: &str, what: &str| -> Result<SecretToken, String> {
            let bytes = self.master_key.open(sealed, context).map_err(|error| format!("the {what} {error}"))?;
            String::from_utf8(bytes.to_vec())
                .map(SecretToken::new)
                .map_err(|_| format!("the sealed {what} is not text"))
        };
        let mut secrets = vec![open(&delivery.sealed_secret, &delivery.endpoint_id, "signing secret")?];
        if let Some(previous) = &delivery.previous_sealed_secret {
            secrets.push(open(previous, &delivery.endpoint_id, "previous signing secret")?);
        }
        let token = match &delivery.sealed_payload {
            Some(sealed) => Some(open(
                sealed,
                &webhook::handoff_context(&delivery.endpoint_id, &delivery.event.id),
                "rotated token",
            )?),
            None => None,
        };
        Ok(Unsealed { secrets, token })
    }

    fn outcome(
        &self,
        delivery: &DueDelivery,
        attempted_at: DateTime<Utc>,
        took: Duration,
        result: Attempted,
    ) -> AttemptOutcome {
        let took = Some(u64::try_from(took.as_millis()).unwrap_or(u64::MAX));
        // A refusal keeps no status and no time: either would say
        // something about what listens at an address nobody may reach.
        let (status_code, error, duration_ms, refused_by) = match result {
            Attempted::Answered(code) if (200..300).contains(&code) => (Some(code), None, took, None),
            Attempted::Answered(code) => (Some(code), Some(format!("the endpoint answered HTTP {code}")), took, None),
            Attempted::Failed(error) => (None, Some(error), took, None),
            Attempted::Refused { refusal, detail, .. } => (None, Some(detail), None, Some(refusal.rule.code())),
        };
        let (status, next_attempt_at) = if error.is_none() {
            (DeliveryStatus::Succeeded, None)
        } else if refused_by.is_some() || delivery.attempt >= self.policy.max_attempts {
            // Retrying a refusal would only be refused again until an
            // operator changes the rules, which takes a restart.
            (DeliveryStatus::Failed, None)
        } else {
            (DeliveryStatus::Pending, Some(attempted_at + to_chrono(self.policy.delay_after(delivery.attempt))))
        };
        AttemptOutcome {
            endpoint_id: delivery.endpoint_id.clone(),
            event_id: delivery.event.id.clone(),
            attempt: DeliveryAttempt {
                attempt: delivery.attempt,
                attempted_at,
                status_code,
                error,
                duration_ms,
                refused_by: refused_by.map(str::to_owned),
            },
            status,
            next_attempt_at,
        }
    }

    /// Runs passes until `shutdown` resolves: one every `interval`, and at
    /// once again after a full batch (there may be more waiting).
    pub async fn run(self: Arc<Self>, interval: Duration, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            let attempted = match self.run_due().await {
                Ok(count) => count,
                Err(error) => {
                    tracing::error!(%error, "webhook dispatch failed");
                    0
                }
            };
            if attempted >= self.policy.batch as usize {
                continue;
            }
            tokio::select! {
                () = &mut shutdown => return,
                () = tokio::time::sleep(interval) => {}
            }
        }
    }
}

/// A delivery's secrets, opened for one attempt.
struct Unsealed {
    /// Signing secrets, the current one first.
    secrets: Vec<SecretToken>,
    /// An automatic rotation's new token.
    token: Option<SecretToken>,
}

/// The body of an automatic rotation's handoff: the event, with the new
/// token under `data.token`. The only payload that carries a secret, sent
/// only to the endpoint the token's owner chose.
pub fn handoff_payload(event: &AuditEvent, token: &SecretToken) -> serde_json::Value {
    let mut body = payload(event);
    if let Some(data) = body.get_mut("data").and_then(serde_json::Value::as_object_mut) {
        data.insert("token".into(), serde_json::Value::String(token.expose().to_owned()));
    }
    body
}

/// What became of one attempt.
enum Attempted {
    /// The endpoint answered with this HTTP status.
    Answered(u16),
    /// No answer; why, for the delivery log.
    Failed(String),
    /// The destination was refused; no request was made.
    Refused {
        /// The URL's host as written.
        host: String,
        /// The (first) address refused, and why.
        refusal: Refusal,
        /// For the delivery log: the rule, without the address a name resolved to.
        detail: String,
    },
}

/// POSTs one delivery, to a destination the egress policy allows.
async fn attempt(
    http: &reqwest::Client,
    egress: &EgressPolicy,
    delivery: &DueDelivery,
    unsealed: &Unsealed,
    now: DateTime<Utc>,
) -> Attempted {
    let Ok(url) = url::Url::parse(&delivery.url) else {
        return Attempted::Failed("the endpoint URL does not parse".into());
    };
    // The HTTP client connects to a literal address without resolving it,
    // so literals are checked here; names, in the resolver.
    if let Some(address) = webhook::host_address(&url) {
        if let Err(refusal) = egress.check(address) {
            let detail = format!("refused: {refusal}; {}", refusal.remedy());
            return Attempted::Refused { host: address.to_string(), refusal, detail };
        }
    }
    let body = match &unsealed.token {
        Some(token) => handoff_payload(&delivery.event, token),
        None => payload(&delivery.event),
    };
    let body = match serde_json::to_vec(&body) {
        Ok(body) => body,
        Err(error) => return Attempted::Failed(error.to_string()),
    };
    let signature = webhook::signature_header_for(&unsealed.secrets, now.timestamp(), &body);
    let sent = http
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(webhook::SIGNATURE_HEADER, signature)
        .header(webhook::EVENT_ID_HEADER, &delivery.event.id)
        .header(webhook::EVENT_TYPE_HEADER, delivery.event.action.as_str())
        .header(ATTEMPT_HEADER, delivery.attempt.to_string())
        .body(body)
        .send()
        .await;
    match sent {
        Ok(response) => Attempted::Answered(response.status().as_u16()),
        Err(error) => match refused_name(&error) {
            Some(refused) => Attempted::Refused {
                host: refused.host.clone(),
                refusal: refused.refusal.clone(),
                detail: refused.to_string(),
            },
            None => Attempted::Failed(describe(&error)),
        },
    }
}

/// Why a request got no answer, in a line for the delivery log.
fn describe(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        "the endpoint did not answer in time".into()
    } else if error.is_connect() {
        "could not connect to the endpoint".into()
    } else {
        format!("the request failed: {error}")
    }
}

/// The resolver's refusal, if that is why a request failed.
fn refused_name(error: &reqwest::Error) -> Option<&RefusedName> {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(current) = cause {
        if let Some(refused) = current.downcast_ref::<RefusedName>() {
            return Some(refused);
        }
        cause = current.source();
    }
    None
}

/// Resolves endpoint names for the HTTP client and hands it only the
/// addresses the egress policy allows. The client connects to what this
/// returns, so the address checked is the address connected to: a name
/// that resolves differently a moment later (DNS rebinding) gains nothing.
struct CheckedResolver {
    egress: Arc<EgressPolicy>,
}

impl reqwest::dns::Resolve for CheckedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let egress = self.egress.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            // Port 0: the client puts the URL's port in.
            let resolved: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let mut refused = None;
            let mut allowed = Vec::with_capacity(resolved.len());
            for address in resolved {
                match egress.check(address.ip()) {
                    Ok(()) => allowed.push(address),
                    Err(refusal) => {
                        refused.get_or_insert(refusal);
                    }
                }
            }
            if allowed.is_empty() {
                if let Some(refusal) = refused {
                    return Err(Box::new(RefusedName { host, refusal }) as Box<dyn std::error::Error + Send + Sync>);
                }
            }
            let addresses: reqwest::dns::Addrs = Box::new(allowed.into_iter());
            Ok(addresses)
        })
    }
}

/// A name whose every address is refused.
#[derive(Debug)]
struct RefusedName {
    host: String,
    refusal: Refusal,
}

impl std::fmt::Display for RefusedName {
    /// Leaves out the address: the reader is the organization's admin, who
    /// should not learn what an internal name resolves to.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "refused: {} resolves only to addresses webhooks may not reach, such as {}; {}",
            self.host,
            self.refusal.kind(),
            egress::REMEDY
        )
    }
}

impl std::error::Error for RefusedName {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_the_first_delay_up_to_the_cap() {
        let policy = RetryPolicy::default();
        let waits: Vec<u64> = (1..=9).map(|n| policy.delay_after(n).as_secs()).collect();
        assert_eq!(waits, [10, 20, 40, 80, 160, 320, 640, 1280, 2560]);
        assert_eq!(policy.delay_after(40), Duration::from_secs(3600));
    }
}
