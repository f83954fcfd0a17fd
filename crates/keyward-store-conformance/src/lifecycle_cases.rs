//! Cases for stopping a token short of revocation (disabling, which can be
//! undone) and for removing it for good (deletion, which keeps its audit trail).

use keyward_core::audit::AuditAction;
use keyward_core::model::{DisabledReason, RevokedReason, TokenState};
use keyward_store::{AuditFilter, Guarded, PageRequest, Store, Switch, Switched, TokenFilter};

use crate::cases::seeded_keyspace;
use crate::fixtures::{at, created, event, token, ORG, OTHER_ORG};

fn switched(outcome: Guarded<Switched>) -> Switched {
    match outcome {
        Guarded::Applied(switched) => switched,
        other => panic!("expected the switch to apply, got {other:?}"),
    }
}

async fn events_about(store: &dyn Store, id: &str) -> Vec<AuditAction> {
    let filter = AuditFilter { target_id: Some(id.into()), ..AuditFilter::default() };
    let page = store.list_audit(ORG, &filter, &PageRequest::new(Some(50), None)).await.unwrap();
    page.items.into_iter().rev().map(|event| event.action).collect()
}

pub async fn disabling_is_reversible_idempotent_and_never_undoes_a_revocation(store: &dyn Store) {
    let space = seeded_keyspace(store).await;
    let (record, digest) = token(&space, "nightly export", "alice", at(10));
    store.create_token(&record, &digest, &created(&record), None).await.unwrap();
    let disable = event(AuditAction::TokenDisabled, "token", &record.id, at(20));

    let other =
        store.switch_token(OTHER_ORG, &record.id, Switch::Disable(at(20), DisabledReason::UserAction), &disable);
    assert!(matches!(other.await.unwrap(), Guarded::Missing), "another tenant's token is missing");
    let missing = store.switch_token(ORG, "tok_nosuchtoken00000000000", Switch::Enable(at(20)), &disable);
    assert!(matches!(missing.await.unwrap(), Guarded::Missing));

    let first = switched(
        store
            .switch_token(ORG, &record.id, Switch::Disable(at(20), DisabledReason::UserAction), &disable)
            .await
            .unwrap(),
    );
    assert!(first.changed);
    assert_eq!(first.token.digest, digest, "the digest comes back so caches can drop it");
    assert_eq!(first.token.record.disabled_at(), Some(at(20)));
    assert_eq!(first.token.record.disabled_reason(), Some(DisabledReason::UserAction));
    assert_eq!(first.token.record.state_at(at(21).timestamp_micros()), TokenState::Disabled);
    let found = store.find_token_by_digest(&digest).await.unwrap().unwrap();
    assert_eq!(found.disabled_at(), Some(at(20)), "verification sees it");

    // Again, later and for another reason: the first time and reason stay, and nothing is logged.
    let again = event(AuditAction::TokenDisabledInactive, "token", &record.id, at(25));
    let second = switched(
        store.switch_token(ORG, &record.id, Switch::Disable(at(25), DisabledReason::Inactivity), &again).await.unwrap(),
    );
    assert!(!second.changed);
    assert_eq!(second.token.record.disabled_at(), Some(at(20)));
    assert_eq!(second.token.record.disabled_reason(), Some(DisabledReason::UserAction));

    let listed = |state| TokenFilter {
        keyspace_id: Some(space.id.clone()),
        state: Some(state),
        now: at(30),
        ..TokenFilter::default()
    };
    let page = PageRequest::new(Some(50), None);
    let disabled = store.list_tokens(ORG, &listed(TokenState::Disabled), &page).await.unwrap();
    assert_eq!(disabled.items.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(), [record.id.as_str()]);
    assert!(store.list_tokens(ORG, &listed(TokenState::Active), &page).await.unwrap().items.is_empty());

    let enable = event(AuditAction::TokenEnabled, "token", &record.id, at(40));
    let enabled = switched(store.switch_token(ORG, &record.id, Switch::Enable(at(40)), &enable).await.unwrap());
    assert!(enabled.changed);
    assert_eq!((enabled.token.record.disabled_at(), enabled.token.record.disabled_reason()), (None, None));
    assert_eq!(enabled.token.record.enabled_at, Some(at(40)), "inactivity counts from here");
    assert_eq!(enabled.token.record.state_at(at(41).timestamp_micros()), TokenState::Active);
    let noop = switched(store.switch_token(ORG, &record.id, Switch::Enable(at(45)), &enable).await.unwrap());
    assert!(!noop.changed, "enabling an enabled token changes nothing");
    assert_eq!(noop.token.record.enabled_at, Some(at(40)));
    assert_eq!(
        events_about(store, &record.id).await,
        [AuditAction::TokenCreated, AuditAction::TokenDisabled, AuditAction::TokenEnabled]
    );

    // Revocation is final: neither switch applies to a revoked token, even a disabled one.
    let disable_again = event(AuditAction::TokenDisabled, "token", &record.id, at(50));
    let disabling = Switch::Disable(at(50), DisabledReason::UserAction);
    assert!(switched(store.switch_token(ORG, &record.id, disabling, &disable_again).await.unwrap()).changed);
    let revoke = event(AuditAction::TokenRevoked, "token", &record.id, at(60));
    store.revoke_token(ORG, &record.id, at(60), RevokedReason::Leaked, &revoke).await.unwrap();
    let enable_late = event(AuditAction::TokenEnabled, "token", &record.id, at(70));
    let refused = store.switch_token(ORG, &record.id, Switch::Enable(at(70)), &enable_late).await.unwrap();
    let Guarded::Refused(revoked) = refused else { panic!("expected a refusal, got {refused:?}") };
    assert_eq!(revoked.state_at(at(70).timestamp_micros()), TokenState::Revoked);
    assert_eq!(revoked.disabled_at(), Some(at(50)), "nothing was written");
    assert_eq!(events_about(store, &record.id).await.len(), 5, "no event for the refusal");
}

pub async fn deletion_removes_the_token_and_keeps_its_audit_trail(store: &dyn Store) {
    let space = seeded_keyspace(store).await;
    let (record, digest) = token(&space, "legacy", "alice", at(10));
    store.create_token(&record, &digest, &created(&record), None).await.unwrap();
    let (kept, kept_digest) = token(&space, "kept", "alice", at(11));
    store.create_token(&kept, &kept_digest, &created(&kept), None).await.unwrap();
    store
        .record_client_sightings(&[keyward_store::ClientSighting {
            token_id: record.id.clone(),
            client_ip: Some("192.0.2.7".into()),
            user_agent: Some("cron/1".into()),
            uses: 3,
            first_seen_at: at(12),
            last_seen_at: at(13),
        }])
        .await
        .unwrap();
    let delete = event(AuditAction::TokenDeleted, "token", &record.id, at(20));

    assert!(store.delete_token(OTHER_ORG, &record.id, &delete).await.unwrap().is_none(), "tenants stay apart");
    assert!(store.get_token(ORG, &record.id).await.unwrap().is_some());

    let deleted = store.delete_token(ORG, &record.id, &delete).await.unwrap().expect("it existed");
    assert_eq!(deleted.record.id, record.id);
    assert_eq!(deleted.digest, digest, "the digest comes back so caches can drop it");
    assert!(store.get_token(ORG, &record.id).await.unwrap().is_none());
    assert!(store.find_token_by_digest(&digest).await.unwrap().is_none(), "it can never verify again");
    assert!(store.list_token_clients(ORG, &record.id).await.unwrap().is_empty());
    assert!(store.delete_token(ORG, &record.id, &delete).await.unwrap().is_none(), "a second deletion finds nothing");
    assert_eq!(events_about(store, &record.id).await, [AuditAction::TokenCreated, AuditAction::TokenDeleted]);
    assert!(store.get_token(ORG, &kept.id).await.unwrap().is_some(), "only that token went");
}
