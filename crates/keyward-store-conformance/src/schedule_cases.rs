//! Cases for what the lifecycle scheduler reads and writes: the tokens that
//! may be owed a notice, notices recorded exactly once, and the inactivity
//! disabling that a late use still prevents.

use keyward_core::audit::AuditAction;
use keyward_core::model::{DisabledReason, Keyspace, RevokedReason, TokenRecord};
use keyward_store::{Guarded, KeyspaceLifecycle, LifecycleWindow, NoticeWrite, Store, Switch, TokenUpdate, UsageDelta};

use crate::cases::seeded_keyspace;
use crate::fixtures::{at, created, event, token, ORG, OTHER_ORG};

const DAY: i64 = 86_400;

async fn candidate_names(store: &dyn Store, window: &LifecycleWindow) -> Vec<String> {
    // Two tokens per page, so the cursor is exercised.
    let mut names = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = store.lifecycle_candidates(ORG, window, after.as_deref(), 2).await.unwrap();
        let Some(last) = page.last() else { break };
        after = Some(last.id.clone());
        names.extend(page.into_iter().map(|token| token.name));
    }
    names.sort();
    names
}

pub async fn lifecycle_candidates_are_the_tokens_with_something_coming(store: &dyn Store) {
    let space = seeded_keyspace(store).await;
    let make = |name: &str, expires_day: Option<i64>| {
        let (mut record, digest) = token(&space, name, "alice", at(0));
        record.expires_at = expires_day.map(|day| at(day * DAY));
        (record, digest)
    };
    let plain = make("plain", None);
    let soon = make("expires soon", Some(12));
    let far = make("expires far", Some(100));
    let long_gone = make("expired long ago", Some(1));
    let (mut own_period, own_digest) = make("own period", None);
    own_period.rotation_period_days = Some(5);
    let revoked = make("revoked", Some(12));
    for (record, digest) in [&plain, &soon, &far, &long_gone, &revoked] {
        store.create_token(record, digest, &created(record), None).await.unwrap();
    }
    store.create_token(&own_period, &own_digest, &created(&own_period), None).await.unwrap();
    let revocation = event(AuditAction::TokenRevoked, "token", &revoked.0.id, at(DAY));
    store.revoke_token(ORG, &revoked.0.id, at(DAY), RevokedReason::UserAction, &revocation).await.unwrap();
    // Used on day 8: not idle by day 10's standard.
    store
        .record_usage(&[UsageDelta { token_id: soon.0.id.clone(), uses: 1, last_used_at: at(8 * DAY) }])
        .await
        .unwrap();

    let day10 = |idle_since: Option<i64>, rotation_period_days: Option<u32>| LifecycleWindow {
        now: at(10 * DAY),
        expiring_until: at(17 * DAY),
        expired_since: at(3 * DAY),
        idle_since: idle_since.map(|day| at(day * DAY)),
        rotation_period_days,
        keyspace_id: None,
    };
    assert_eq!(candidate_names(store, &day10(None, None)).await, ["expires soon", "own period"]);
    assert_eq!(
        candidate_names(store, &day10(Some(5), None)).await,
        ["expires far", "expires soon", "own period", "plain"],
        "idle since day 5: every live customer token not used since (never a management token)"
    );
    assert_eq!(
        candidate_names(store, &day10(None, Some(10))).await,
        ["admin", "expires far", "expires soon", "own period", "plain"],
        "the organization's period applies to tokens without their own, management tokens too"
    );
    assert!(store.lifecycle_candidates(OTHER_ORG, &day10(Some(5), Some(1)), None, 50).await.unwrap().is_empty());
    // Keyspace by keyspace: the management keyspace holds only the admin token.
    let management = store.management_keyspace(ORG).await.unwrap().unwrap();
    let only = |keyspace: &str| LifecycleWindow { keyspace_id: Some(keyspace.to_owned()), ..day10(None, Some(10)) };
    assert_eq!(candidate_names(store, &only(&management.id)).await, ["admin"]);
    assert_eq!(candidate_names(store, &only(&space.id)).await, ["expires far", "expires soon", "own period", "plain"]);

    keyspace_lifecycle_rules_round_trip(store, &space).await;
    recorded_endings_are_not_read_again(store, &soon.0, &own_period, &day10(None, None)).await;
}

/// A keyspace's own rules round-trip, within its organization only.
async fn keyspace_lifecycle_rules_round_trip(store: &dyn Store, space: &Keyspace) {
    let rules = KeyspaceLifecycle { rotation_period_days: Some(5), disable_after_inactive_days: Some(40) };
    let changed = || event(AuditAction::KeyspaceLifecycleChanged, "keyspace", &space.id, at(DAY));
    assert!(store.set_keyspace_lifecycle(OTHER_ORG, &space.id, &rules, &changed()).await.unwrap().is_none());
    let updated = store.set_keyspace_lifecycle(ORG, &space.id, &rules, &changed()).await.unwrap().unwrap();
    assert_eq!((updated.rotation_period_days, updated.disable_after_inactive_days), (Some(5), Some(40)));
    let read = store.get_keyspace(ORG, &space.id).await.unwrap().unwrap();
    assert_eq!(read, updated);
    let cleared = store.set_keyspace_lifecycle(ORG, &space.id, &KeyspaceLifecycle::default(), &changed()).await;
    assert_eq!(cleared.unwrap().unwrap().rotation_period_days, None);
}

/// `own_period`'s period changes and clears; once `soon`'s expiry and
/// `own_period`'s overdue rotation are recorded, neither is read again
/// (`base` is day 10 without idleness or an organization period).
async fn recorded_endings_are_not_read_again(
    store: &dyn Store,
    soon: &TokenRecord,
    own_period: &TokenRecord,
    base: &LifecycleWindow,
) {
    // A token's own period can be changed and cleared.
    let clear = TokenUpdate { rotation_period_days: Some(None), ..TokenUpdate::default() };
    let cleared = event(AuditAction::TokenUpdated, "token", &own_period.id, at(DAY));
    let updated = store.update_token(ORG, &own_period.id, &clear, &cleared).await.unwrap().unwrap();
    assert_eq!(updated.record.rotation_period_days, None);
    assert_eq!(candidate_names(store, base).await, ["expires soon"]);
    let set = TokenUpdate { rotation_period_days: Some(Some(9)), ..TokenUpdate::default() };
    let reset = event(AuditAction::TokenUpdated, "token", &own_period.id, at(DAY));
    let updated = store.update_token(ORG, &own_period.id, &set, &reset).await.unwrap().unwrap();
    assert_eq!(updated.record.rotation_period_days, Some(9));

    // Once their ending is recorded, an expired or overdue token is not read again.
    let expired_window = LifecycleWindow { now: at(13 * DAY), expiring_until: at(20 * DAY), ..base.clone() };
    assert_eq!(candidate_names(store, &expired_window).await, ["expires soon", "own period"]);
    for (token_id, kind, about) in [(&soon.id, "expired", at(12 * DAY)), (&own_period.id, "rotation_due", at(9 * DAY))]
    {
        let notice = NoticeWrite { org_id: ORG, token_id, kind, about, noticed_at: at(13 * DAY) };
        assert!(store
            .record_notice(&notice, &event(AuditAction::TokenExpired, "token", token_id, at(13 * DAY)))
            .await
            .unwrap());
    }
    assert!(candidate_names(store, &expired_window).await.is_empty());
}

pub async fn notices_are_recorded_once_per_token_kind_and_instant(store: &dyn Store) {
    let space = seeded_keyspace(store).await;
    let (record, digest) = token(&space, "expiring", "alice", at(0));
    store.create_token(&record, &digest, &created(&record), None).await.unwrap();
    let notice = |kind, about| NoticeWrite { org_id: ORG, token_id: &record.id, kind, about, noticed_at: at(5) };
    let warning = |n| event(AuditAction::TokenExpiring, "token", &record.id, at(n));

    assert!(store.record_notice(&notice("expiring:7d", at(100)), &warning(5)).await.unwrap());
    assert!(!store.record_notice(&notice("expiring:7d", at(100)), &warning(6)).await.unwrap(), "twice: once");
    assert!(store.record_notice(&notice("expiring:1d", at(100)), &warning(7)).await.unwrap(), "another period");
    assert!(store.record_notice(&notice("expiring:7d", at(200)), &warning(8)).await.unwrap(), "a moved expiry");
    let foreign = NoticeWrite { org_id: OTHER_ORG, ..notice("expired", at(100)) };
    assert!(!store.record_notice(&foreign, &warning(9)).await.unwrap(), "not another tenant's token");
    let missing = NoticeWrite { token_id: "tok_nosuchtoken00000000000", ..notice("expired", at(100)) };
    assert!(!store.record_notice(&missing, &warning(9)).await.unwrap());

    let filter = keyward_store::AuditFilter { target_id: Some(record.id.clone()), ..Default::default() };
    let log = store.list_audit(ORG, &filter, &keyward_store::PageRequest::new(Some(50), None)).await.unwrap();
    let times: Vec<_> =
        log.items.iter().filter(|e| e.action == AuditAction::TokenExpiring).map(|e| e.occurred_at).collect();
    assert_eq!(times, [at(8), at(7), at(5)], "one event per recorded notice, none for the repeats");

    // Deleting the token takes its notices with it.
    store.delete_token(ORG, &record.id, &event(AuditAction::TokenDeleted, "token", &record.id, at(10))).await.unwrap();
}

pub async fn inactivity_disabling_yields_to_a_use_it_did_not_see(store: &dyn Store) {
    let space = seeded_keyspace(store).await;
    let (record, digest) = token(&space, "idle", "alice", at(0));
    store.create_token(&record, &digest, &created(&record), None).await.unwrap();
    let seen = at(0);
    store
        .record_usage(&[UsageDelta { token_id: record.id.clone(), uses: 1, last_used_at: at(30 * DAY) }])
        .await
        .unwrap();
    let disable = Switch::DisableInactive { at: at(31 * DAY), last_activity_at: seen };
    let idle = event(AuditAction::TokenDisabledInactive, "token", &record.id, at(31 * DAY));
    let Guarded::Applied(late) = store.switch_token(ORG, &record.id, disable, &idle).await.unwrap() else {
        panic!("the token exists and is not revoked");
    };
    assert!(!late.changed, "used after the scheduler read it: stays enabled");
    assert_eq!(late.token.record.disabled_at(), None);

    let current = Switch::DisableInactive { at: at(61 * DAY), last_activity_at: at(30 * DAY) };
    let Guarded::Applied(done) = store.switch_token(ORG, &record.id, current, &idle).await.unwrap() else {
        panic!("the token exists and is not revoked");
    };
    assert!(done.changed);
    assert_eq!(done.token.record.disabled_at(), Some(at(61 * DAY)));
    assert_eq!(done.token.record.disabled_reason(), Some(DisabledReason::Inactivity));
}
