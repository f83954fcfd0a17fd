//! Cases for webhook endpoints and their outbox: deliveries are queued by
//! the very write that logs their event, claimed under a lease, and
//! finished with a log of every attempt.

use keyward_core::audit::AuditAction;
use keyward_core::id::{new_id, IdKind};
use keyward_core::model::{DeliveryAttempt, DeliveryStatus, RevokedReason, WebhookEndpoint};
use keyward_core::OsRng;
use keyward_store::{AttemptOutcome, DueDelivery, PageRequest, Store};

use crate::cases::seeded_keyspace;
use crate::fixtures::{at, created, event, found, token, ORG, OTHER_ORG};

fn endpoint(org: &str, event_types: &[AuditAction], created_at: i64) -> WebhookEndpoint {
    WebhookEndpoint {
        id: new_id(IdKind::Webhook, &OsRng).unwrap(),
        org_id: org.into(),
        url: "https://hooks.example.com/keyward".into(),
        description: "ops".into(),
        event_types: event_types.iter().map(AuditAction::to_string).collect(),
        created_at: at(created_at),
        created_by: "tok_creator".into(),
    }
}

async fn register(store: &dyn Store, endpoint: &WebhookEndpoint) {
    let mut registered = event(AuditAction::WebhookCreated, "webhook", &endpoint.id, endpoint.created_at);
    registered.org_id = endpoint.org_id.clone();
    store.create_webhook(endpoint, b"sealed bytes", &registered).await.unwrap();
}

async fn logged(store: &dyn Store, org: &str, endpoint_id: &str) -> Vec<(String, DeliveryStatus, usize)> {
    let page = store.list_deliveries(org, endpoint_id, &PageRequest::new(Some(100), None)).await.unwrap();
    page.items.into_iter().map(|d| (d.event_type, d.status, d.attempts.len())).collect()
}

fn outcome(due: &DueDelivery, seconds: i64, status: DeliveryStatus, next: Option<i64>) -> AttemptOutcome {
    AttemptOutcome {
        endpoint_id: due.endpoint_id.clone(),
        event_id: due.event.id.clone(),
        attempt: DeliveryAttempt {
            attempt: due.attempt,
            attempted_at: at(seconds),
            status_code: Some(if status == DeliveryStatus::Succeeded { 204 } else { 503 }),
            error: (status != DeliveryStatus::Succeeded).then(|| "the endpoint answered 503".to_owned()),
            duration_ms: Some(12),
            refused_by: None,
        },
        status,
        next_attempt_at: next.map(at),
    }
}

pub async fn webhook_events_queue_with_their_change_and_only_for_subscribers(store: &dyn Store) {
    let space = seeded_keyspace(store).await;
    found(store, OTHER_ORG).await;
    let all = endpoint(ORG, &[], 1);
    let revocations = endpoint(ORG, &[AuditAction::TokenRevoked], 2);
    let foreign = endpoint(OTHER_ORG, &[], 3);
    for registered in [&all, &revocations, &foreign] {
        register(store, registered).await;
    }
    let listed: Vec<_> = store.list_webhooks(ORG).await.unwrap().into_iter().map(|e| e.id).collect();
    assert_eq!(listed, [all.id.clone(), revocations.id.clone()], "oldest first, own organization only");
    assert_eq!(store.get_webhook(ORG, &revocations.id).await.unwrap(), Some(revocations.clone()));
    assert_eq!(store.get_webhook(OTHER_ORG, &revocations.id).await.unwrap(), None, "tenants stay apart");

    let (record, digest) = token(&space, "deploys", "alice", at(10));
    store.create_token(&record, &digest, &created(&record), None).await.unwrap();
    let revoke = event(AuditAction::TokenRevoked, "token", &record.id, at(20));
    store.revoke_token(ORG, &record.id, at(20), RevokedReason::Leaked, &revoke).await.unwrap();
    // Not a lifecycle event: audited, not delivered.
    store.append_audit_event(&event(AuditAction::KeyspaceCreated, "keyspace", &space.id, at(21))).await.unwrap();
    // A change that fails writes neither its event nor a delivery.
    let duplicate = store.create_token(&record, &digest, &created(&record), None).await;
    assert!(duplicate.is_err());

    let pending = |t: AuditAction| (t.to_string(), DeliveryStatus::Pending, 0);
    assert_eq!(
        logged(store, ORG, &all.id).await,
        [pending(AuditAction::TokenRevoked), pending(AuditAction::TokenCreated)]
    );
    assert_eq!(logged(store, ORG, &revocations.id).await, [pending(AuditAction::TokenRevoked)]);
    assert!(logged(store, OTHER_ORG, &foreign.id).await.is_empty());
    assert!(logged(store, OTHER_ORG, &all.id).await.is_empty(), "another tenant reads nothing of ours");

    // Removing an endpoint removes its queue; the others keep theirs.
    let removal = event(AuditAction::WebhookDeleted, "webhook", &all.id, at(30));
    assert!(store.delete_webhook(ORG, &all.id, &removal).await.unwrap());
    assert!(!store.delete_webhook(ORG, &all.id, &removal).await.unwrap());
    assert!(logged(store, ORG, &all.id).await.is_empty());
    let due = store.claim_deliveries(at(40), at(100), 10).await.unwrap();
    assert_eq!(due.iter().map(|d| d.endpoint_id.as_str()).collect::<Vec<_>>(), [revocations.id.as_str()]);
}

pub async fn deliveries_are_leased_retried_and_logged_attempt_by_attempt(store: &dyn Store) {
    let space = seeded_keyspace(store).await;
    let hook = endpoint(ORG, &[], 1);
    register(store, &hook).await;
    let (record, digest) = token(&space, "deploys", "alice", at(10));
    store.create_token(&record, &digest, &created(&record), None).await.unwrap();

    assert!(store.claim_deliveries(at(9), at(70), 10).await.unwrap().is_empty(), "not due before its event");
    let first = store.claim_deliveries(at(10), at(70), 10).await.unwrap();
    assert_eq!(first.len(), 1);
    let due = &first[0];
    assert_eq!(
        (due.attempt, due.url.as_str(), due.sealed_secret.as_slice()),
        (1, hook.url.as_str(), &b"sealed bytes"[..])
    );
    assert_eq!(due.event.action, AuditAction::TokenCreated);
    assert_eq!(due.event.target_id, record.id);
    assert!(store.claim_deliveries(at(69), at(130), 10).await.unwrap().is_empty(), "leased until 70");

    // The lease ran out (the dispatcher died): claimed again as attempt 2.
    let second = store.claim_deliveries(at(70), at(130), 10).await.unwrap();
    assert_eq!(second[0].attempt, 2);
    // The first dispatcher's late outcome is logged but moves nothing.
    store.finish_attempt(&outcome(due, 71, DeliveryStatus::Succeeded, None)).await.unwrap();
    assert_eq!(logged(store, ORG, &hook.id).await[0].1, DeliveryStatus::Pending);

    store.finish_attempt(&outcome(&second[0], 72, DeliveryStatus::Pending, Some(82))).await.unwrap();
    assert!(store.claim_deliveries(at(81), at(200), 10).await.unwrap().is_empty(), "backing off until 82");
    let third = store.claim_deliveries(at(82), at(200), 10).await.unwrap();
    assert_eq!(third[0].attempt, 3);
    store.finish_attempt(&outcome(&third[0], 83, DeliveryStatus::Succeeded, None)).await.unwrap();
    assert!(store.claim_deliveries(at(1000), at(2000), 10).await.unwrap().is_empty(), "delivered: never again");

    let page = store.list_deliveries(ORG, &hook.id, &PageRequest::new(Some(10), None)).await.unwrap();
    let delivery = &page.items[0];
    assert_eq!(delivery.status, DeliveryStatus::Succeeded);
    assert_eq!(delivery.delivered_at, Some(at(83)));
    assert_eq!(delivery.event_id, due.event.id);
    let attempts: Vec<_> = delivery.attempts.iter().map(|a| (a.attempt, a.status_code)).collect();
    assert_eq!(attempts, [(1, Some(204)), (2, Some(503)), (3, Some(204))]);
    assert_eq!(delivery.attempts[1].error.as_deref(), Some("the endpoint answered 503"));

    // A delivery that gives up stays in the log as failed.
    let revoke = event(AuditAction::TokenRevoked, "token", &record.id, at(300));
    store.revoke_token(ORG, &record.id, at(300), RevokedReason::Leaked, &revoke).await.unwrap();
    let last = store.claim_deliveries(at(300), at(360), 10).await.unwrap();
    store.finish_attempt(&outcome(&last[0], 301, DeliveryStatus::Failed, None)).await.unwrap();
    assert!(store.claim_deliveries(at(5000), at(6000), 10).await.unwrap().is_empty());
    let log = logged(store, ORG, &hook.id).await;
    assert_eq!(log[0], (AuditAction::TokenRevoked.to_string(), DeliveryStatus::Failed, 1));

    // Paged newest first.
    let one = store.list_deliveries(ORG, &hook.id, &PageRequest::new(Some(1), None)).await.unwrap();
    assert_eq!(one.items[0].event_type, AuditAction::TokenRevoked.as_str());
    let rest = store.list_deliveries(ORG, &hook.id, &PageRequest::new(Some(1), one.next.clone())).await.unwrap();
    assert_eq!(rest.items[0].event_type, AuditAction::TokenCreated.as_str());
    assert!(rest.next.is_none());
}

pub async fn handoffs_reach_only_their_endpoint_and_a_rotation_without_one_writes_nothing(store: &dyn Store) {
    use keyward_core::model::AutoRotate;
    use keyward_store::{Guarded, Handoff, RotationWrite, StoreError};

    let space = seeded_keyspace(store).await;
    found(store, OTHER_ORG).await;
    let receiver = endpoint(ORG, &[AuditAction::TokenRevoked], 1);
    let foreign = endpoint(OTHER_ORG, &[], 2);
    register(store, &receiver).await;
    register(store, &foreign).await;

    let (mut old, old_digest) = token(&space, "worker", "alice", at(10));
    old.rotation_period_days = Some(30);
    old.auto_rotate = Some(AutoRotate { webhook_id: receiver.id.clone(), grace_period_seconds: 600 });
    store.create_token(&old, &old_digest, &created(&old), None).await.unwrap();
    assert_eq!(store.get_token(ORG, &old.id).await.unwrap().unwrap().auto_rotate, old.auto_rotate, "round trip");

    let (mut new, new_digest) = token(&space, "worker", "alice", at(20));
    new.rotated_from = Some(old.id.clone());
    new.auto_rotate = old.auto_rotate.clone();
    let events = [event(AuditAction::TokenRotated, "token", &old.id, at(20)), created(&new)];
    let handoff_event = event(AuditAction::TokenAutoRotated, "token", &new.id, at(20));
    let rotation = |endpoint_id| RotationWrite {
        old_id: &old.id,
        at: at(20),
        grace_ends_at: Some(at(620)),
        new_token: &new,
        new_digest: &new_digest,
        events: &events,
        handoff: Some(Handoff { endpoint_id, event: &handoff_event, sealed_token: b"sealed token" }),
    };

    // Another tenant's endpoint is no receiver: nothing of the rotation is written.
    match store.rotate_token(ORG, &rotation(&foreign.id)).await {
        Err(StoreError::MissingReference(_)) => {}
        other => panic!("expected a missing reference, got {other:?}"),
    }
    assert_eq!(store.get_token(ORG, &old.id).await.unwrap().unwrap().replaced_by(), None, "old token untouched");
    assert_eq!(store.get_token(ORG, &new.id).await.unwrap(), None, "no successor");

    assert!(matches!(store.rotate_token(ORG, &rotation(&receiver.id)).await.unwrap(), Guarded::Applied(_)));
    // Delivered to its endpoint although that subscribes to revocations only,
    // and to nobody else.
    assert_eq!(
        logged(store, ORG, &receiver.id).await,
        [(AuditAction::TokenAutoRotated.to_string(), DeliveryStatus::Pending, 0)]
    );
    assert!(logged(store, OTHER_ORG, &foreign.id).await.is_empty());
    let due = store.claim_deliveries(at(20), at(80), 10).await.unwrap();
    let [handoff] = &due[..] else { panic!("expected the handoff alone, got {due:?}") };
    assert_eq!(handoff.sealed_payload.as_deref(), Some(&b"sealed token"[..]));
    assert_eq!(handoff.previous_sealed_secret, None, "no secret being replaced");
    store.finish_attempt(&outcome(handoff, 21, DeliveryStatus::Succeeded, None)).await.unwrap();

    // A signing secret replaced: the old one is handed out until the overlap ends.
    let rotated = event(AuditAction::WebhookSecretRotated, "webhook", &receiver.id, at(30));
    assert!(!store.rotate_webhook_secret(OTHER_ORG, &receiver.id, b"new sealed", at(100), &rotated).await.unwrap());
    assert!(store.rotate_webhook_secret(ORG, &receiver.id, b"new sealed", at(100), &rotated).await.unwrap());
    let revoke = event(AuditAction::TokenRevoked, "token", &old.id, at(40));
    store.revoke_token(ORG, &old.id, at(40), RevokedReason::Leaked, &revoke).await.unwrap();
    let due = store.claim_deliveries(at(99), at(99), 10).await.unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].sealed_secret, b"new sealed");
    assert_eq!(due[0].previous_sealed_secret.as_deref(), Some(&b"sealed bytes"[..]), "still in the overlap");
    assert_eq!(due[0].sealed_payload, None);
    let due = store.claim_deliveries(at(100), at(160), 10).await.unwrap();
    assert_eq!(due.len(), 1, "the lease ran out");
    assert_eq!(due[0].previous_sealed_secret, None, "the overlap ended");

    // Deleting the endpoint turns the opt-in off rather than leaving it dangling.
    let removal = event(AuditAction::WebhookDeleted, "webhook", &receiver.id, at(200));
    assert!(store.delete_webhook(ORG, &receiver.id, &removal).await.unwrap());
    assert_eq!(store.get_token(ORG, &new.id).await.unwrap().unwrap().auto_rotate, None);
}

pub async fn a_refused_attempt_is_logged_with_its_rule_and_neither_status_nor_duration(store: &dyn Store) {
    let space = seeded_keyspace(store).await;
    let hook = endpoint(ORG, &[], 1);
    register(store, &hook).await;
    let (record, digest) = token(&space, "deploys", "alice", at(10));
    store.create_token(&record, &digest, &created(&record), None).await.unwrap();
    let due = store.claim_deliveries(at(10), at(70), 10).await.unwrap();
    let refused = AttemptOutcome {
        endpoint_id: due[0].endpoint_id.clone(),
        event_id: due[0].event.id.clone(),
        attempt: DeliveryAttempt {
            attempt: due[0].attempt,
            attempted_at: at(11),
            status_code: None,
            error: Some("refused: a loopback address (127.0.0.0/8)".into()),
            duration_ms: None,
            refused_by: Some("loopback".into()),
        },
        status: DeliveryStatus::Failed,
        next_attempt_at: None,
    };
    store.finish_attempt(&refused).await.unwrap();
    let page = store.list_deliveries(ORG, &hook.id, &PageRequest::new(Some(10), None)).await.unwrap();
    assert_eq!(page.items[0].status, DeliveryStatus::Failed);
    assert_eq!(page.items[0].attempts, std::slice::from_ref(&refused.attempt), "round trip, absences included");
    assert!(store.claim_deliveries(at(5000), at(6000), 10).await.unwrap().is_empty(), "not retried");
}
