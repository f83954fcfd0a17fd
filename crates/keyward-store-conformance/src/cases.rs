//! The cases. Each takes a fresh, migrated, empty store.

use keyward_core::audit::AuditAction;
use keyward_core::model::{CatalogScope, Revocation, RevokedReason, TokenState};
use keyward_core::policy::TokenPolicy;
use keyward_store::{
    ActiveTokenLimit, AuditFilter, PageRequest, Store, StoreError, TokenFilter, TokenOrder, TokenSortKey, TokenUpdate,
    UsageDelta,
};
use serde_json::json;

use crate::fixtures::{at, created, event, found, founding_parts, keyspace, keyspace_in, token, ORG, OTHER_ORG};

pub use crate::lifecycle_cases::{
    deletion_removes_the_token_and_keeps_its_audit_trail,
    disabling_is_reversible_idempotent_and_never_undoes_a_revocation,
};
pub use crate::lineage_cases::{
    a_revoked_parent_mints_nothing, password_confirmations_are_recorded_with_their_event,
    revocation_with_descendants_takes_the_management_lineage_only,
};
pub use crate::rotation_cases::{
    bulk_revocation_takes_exactly_the_matching_active_tokens, client_sightings_add_up_per_client_and_are_bounded,
    racing_rotations_give_one_replacement, rotation_grace_moves_only_within_its_bounds,
    rotation_replaces_an_active_token_once, usage_is_counted_per_day_and_verifications_are_sampled,
};
pub use crate::schedule_cases::{
    inactivity_disabling_yields_to_a_use_it_did_not_see, lifecycle_candidates_are_the_tokens_with_something_coming,
    notices_are_recorded_once_per_token_kind_and_instant,
};
pub use crate::webhook_cases::{
    a_refused_attempt_is_logged_with_its_rule_and_neither_status_nor_duration,
    deliveries_are_leased_retried_and_logged_attempt_by_attempt,
    handoffs_reach_only_their_endpoint_and_a_rotation_without_one_writes_nothing,
    webhook_events_queue_with_their_change_and_only_for_subscribers,
};

pub use crate::directory_cases::{
    a_session_is_found_with_its_membership_until_that_ends,
    an_organizations_directory_holds_all_of_its_own_and_nothing_else,
};

pub use crate::account_cases::{
    ids_of_other_tenants_are_told_from_missing_ones, password_changes_end_the_other_sessions,
    service_accounts_own_tokens_until_removed, the_last_owner_stays_and_removal_revokes_what_a_member_owns,
    users_invitations_and_sessions_round_trip,
};

pub(crate) async fn seeded_keyspace(store: &dyn Store) -> keyward_core::model::Keyspace {
    found(store, ORG).await;
    let keyspace = keyspace("payments", at(0));
    store
        .create_keyspace(&keyspace, &event(AuditAction::KeyspaceCreated, "keyspace", &keyspace.id, at(0)))
        .await
        .unwrap();
    keyspace
}

pub async fn bootstrap_happens_once(store: &dyn Store) {
    assert!(store.operator_organization().await.unwrap().is_none());
    let mut first = founding_parts(ORG, ORG, at(0));
    first.organization.operator = true;
    first.event.action = AuditAction::AdminBootstrapped;
    assert!(store.bootstrap(&first.founding()).await.unwrap());

    let mut second = founding_parts(OTHER_ORG, OTHER_ORG, at(1));
    second.organization.operator = true;
    assert!(!store.bootstrap(&second.founding()).await.unwrap());

    assert_eq!(store.operator_organization().await.unwrap().as_ref(), Some(&first.organization));
    assert_eq!(store.get_organization(ORG).await.unwrap().as_ref(), Some(&first.organization));
    assert!(store.get_organization(OTHER_ORG).await.unwrap().is_none(), "the losing bootstrap wrote nothing");
    assert_eq!(store.management_keyspace(ORG).await.unwrap().as_ref(), Some(&first.keyspace));
    assert_eq!(store.find_token_by_digest(&first.digest).await.unwrap().as_ref(), Some(&first.token));
    assert!(store.find_token_by_digest(&second.digest).await.unwrap().is_none());
    let events = store.list_audit(ORG, &AuditFilter::default(), &PageRequest::first()).await.unwrap();
    assert_eq!(events.items, vec![first.event], "only the winning bootstrap is audited");

    // Further organizations are ordinary ones, each with its own management keyspace.
    let tenant = founding_parts(OTHER_ORG, ORG, at(2));
    store.create_organization(&tenant.founding()).await.unwrap();
    assert_eq!(store.management_keyspace(OTHER_ORG).await.unwrap().as_ref(), Some(&tenant.keyspace));
    let listed = store.list_organizations(&PageRequest::first()).await.unwrap().items;
    assert_eq!(listed.iter().map(|o| o.id.as_str()).collect::<Vec<_>>(), [OTHER_ORG, ORG]);
    let again = founding_parts(OTHER_ORG, ORG, at(3));
    assert!(matches!(store.create_organization(&again.founding()).await, Err(StoreError::Conflict(_))));
    assert!(store.find_token_by_digest(&again.digest).await.unwrap().is_none(), "a failed founding leaves nothing");
}

/// An organization's second management keyspace is refused by the schema.
pub async fn one_management_keyspace_per_organization(store: &dyn Store) {
    found(store, ORG).await;
    let mut second = keyspace("second keyward", at(1));
    second.management = true;
    let result =
        store.create_keyspace(&second, &event(AuditAction::KeyspaceCreated, "keyspace", &second.id, at(1))).await;
    assert!(matches!(result, Err(StoreError::Conflict(_))), "{result:?}");
    found(store, OTHER_ORG).await;
}

/// Nothing of one organization is visible or changeable through another:
/// every scoped call answers exactly as for a missing id.
pub async fn tenants_are_isolated(store: &dyn Store) {
    found(store, ORG).await;
    found(store, OTHER_ORG).await;
    let ours = keyspace("ours", at(1));
    store.create_keyspace(&ours, &event(AuditAction::KeyspaceCreated, "keyspace", &ours.id, at(1))).await.unwrap();
    let (token_of_ours, digest) = token(&ours, "ours", "user_1", at(2));
    store.create_token(&token_of_ours, &digest, &created(&token_of_ours), None).await.unwrap();
    let theirs = keyspace_in(OTHER_ORG, "theirs", at(3));
    let mut theirs_created = event(AuditAction::KeyspaceCreated, "keyspace", &theirs.id, at(3));
    theirs_created.org_id = OTHER_ORG.into();
    store.create_keyspace(&theirs, &theirs_created).await.unwrap();

    assert!(store.get_keyspace(OTHER_ORG, &ours.id).await.unwrap().is_none());
    let their_spaces = store.list_keyspaces(OTHER_ORG, &PageRequest::first()).await.unwrap().items;
    assert!(their_spaces.iter().all(|k| k.org_id == OTHER_ORG) && their_spaces.len() == 2, "{their_spaces:?}");
    assert!(store.get_token(OTHER_ORG, &token_of_ours.id).await.unwrap().is_none());
    let now = at(10);
    let any = TokenFilter { now, ..TokenFilter::default() };
    let their_tokens = store.list_tokens(OTHER_ORG, &any, &PageRequest::first()).await.unwrap().items;
    assert!(their_tokens.iter().all(|t| t.org_id == OTHER_ORG) && their_tokens.len() == 1, "{their_tokens:?}");
    let by_keyspace = TokenFilter { keyspace_id: Some(ours.id.clone()), now, ..TokenFilter::default() };
    assert!(store.list_tokens(OTHER_ORG, &by_keyspace, &PageRequest::first()).await.unwrap().items.is_empty());

    let mut foreign_update = event(AuditAction::TokenUpdated, "token", &token_of_ours.id, at(11));
    foreign_update.org_id = OTHER_ORG.into();
    let rename = TokenUpdate { name: Some("hijacked".into()), ..TokenUpdate::default() };
    assert!(store.update_token(OTHER_ORG, &token_of_ours.id, &rename, &foreign_update).await.unwrap().is_none());
    let guarded = TokenUpdate { if_scopes_are: Some(token_of_ours.scopes.clone()), ..rename };
    let mut guarded_event = foreign_update.clone();
    guarded_event.id = "evt_guarded".into();
    let answer = store.update_token(OTHER_ORG, &token_of_ours.id, &guarded, &guarded_event).await;
    assert!(matches!(answer, Ok(None)), "a guarded foreign update is a miss, not a conflict: {answer:?}");
    let mut foreign_revoke = event(AuditAction::TokenRevoked, "token", &token_of_ours.id, at(12));
    foreign_revoke.org_id = OTHER_ORG.into();
    assert!(store
        .revoke_token(OTHER_ORG, &token_of_ours.id, at(12), RevokedReason::UserAction, &foreign_revoke)
        .await
        .unwrap()
        .is_none());
    let untouched = store.get_token(ORG, &token_of_ours.id).await.unwrap().unwrap();
    assert_eq!(untouched, token_of_ours, "foreign calls changed nothing");

    // A token cannot be filed under another organization's keyspace.
    let mut smuggled = token(&ours, "smuggled", "user_2", at(13));
    smuggled.0.org_id = OTHER_ORG.into();
    let result = store.create_token(&smuggled.0, &smuggled.1, &created(&smuggled.0), None).await;
    assert!(matches!(result, Err(StoreError::MissingReference(_))), "{result:?}");

    let their_log = store.list_audit(OTHER_ORG, &AuditFilter::default(), &PageRequest::first()).await.unwrap().items;
    assert_eq!(their_log.iter().map(|e| e.action).collect::<Vec<_>>(), [AuditAction::KeyspaceCreated]);
    let by_target = AuditFilter { target_id: Some(token_of_ours.id.clone()), ..AuditFilter::default() };
    assert!(store.list_audit(OTHER_ORG, &by_target, &PageRequest::first()).await.unwrap().items.is_empty());
    assert_eq!(store.list_audit(ORG, &by_target, &PageRequest::first()).await.unwrap().items.len(), 1);
}

pub async fn keyspaces_round_trip_and_paginate(store: &dyn Store) {
    found(store, ORG).await;
    let mut created = Vec::new();
    for n in 0..5 {
        let mut space = keyspace(&format!("space {n}"), at(n));
        if n == 1 {
            space.scope_catalog = None;
            space.default_ttl_seconds = None;
        }
        store
            .create_keyspace(&space, &event(AuditAction::KeyspaceCreated, "keyspace", &space.id, at(n)))
            .await
            .unwrap();
        created.push(space);
    }
    assert_eq!(store.get_keyspace(ORG, &created[1].id).await.unwrap().as_ref(), Some(&created[1]));
    assert!(store.get_keyspace(ORG, "ks_missing").await.unwrap().is_none());

    let first = store.list_keyspaces(ORG, &PageRequest::new(Some(2), None)).await.unwrap();
    let second = store.list_keyspaces(ORG, &PageRequest::new(Some(2), first.next.clone())).await.unwrap();
    let third = store.list_keyspaces(ORG, &PageRequest::new(Some(2), second.next.clone())).await.unwrap();
    let names: Vec<_> = [first.items, second.items, third.items].concat().into_iter().map(|k| k.name).collect();
    assert_eq!(names, ["space 4", "space 3", "space 2", "space 1", "space 0", "keyward"]);
    assert!(third.next.is_none());
}

pub async fn tokens_round_trip_by_id_and_digest(store: &dyn Store) {
    let space = seeded_keyspace(store).await;
    let (mut record, digest) = token(&space, "ci deploy", "user_1", at(10));
    record.expires_at = Some(at(100));
    record.metadata = json!({"nested": {"list": [1, 2, 3]}, "unicode": "çé✓"});
    store.create_token(&record, &digest, &created(&record), None).await.unwrap();

    assert_eq!(store.get_token(ORG, &record.id).await.unwrap().as_ref(), Some(&record));
    assert_eq!(store.find_token_by_digest(&digest).await.unwrap().as_ref(), Some(&record));
    let (_, unknown) = token(&space, "other", "user_1", at(10));
    assert!(store.find_token_by_digest(&unknown).await.unwrap().is_none());
    assert!(store.get_token(ORG, "tok_missing").await.unwrap().is_none());
    store.ping().await.unwrap();
}

pub async fn duplicate_digest_is_a_conflict_and_writes_nothing(store: &dyn Store) {
    let space = seeded_keyspace(store).await;
    let (first, digest) = token(&space, "first", "user_1", at(10));
    store.create_token(&first, &digest, &created(&first), None).await.unwrap();
    let (second, _) = token(&space, "second", "user_1", at(11));
    let second_event = created(&second);
    let error = store.create_token(&second, &digest, &second_event, None).await.unwrap_err();
    assert!(matches!(error, StoreError::Conflict(_)), "{error:?}");
    assert!(store.get_token(ORG, &second.id).await.unwrap().is_none());
    let filter = AuditFilter { target_id: Some(second.id.clone()), ..AuditFilter::default() };
    assert!(store.list_audit(ORG, &filter, &PageRequest::first()).await.unwrap().items.is_empty());
}

pub async fn concurrent_creations_succeed_or_fail_independently(store: &dyn Store) {
    let space = seeded_keyspace(store).await;
    let (taken, taken_digest) = token(&space, "taken", "user_1", at(1));
    store.create_token(&taken, &taken_digest, &created(&taken), None).await.unwrap();
    let mut batch = Vec::new();
    for n in 0..40 {
        let (record, digest) = token(&space, &format!("burst {n}"), "user_1", at(2));
        // One creation in the burst reuses a digest and must fail alone.
        batch.push((record, if n == 17 { taken_digest } else { digest }));
    }
    let results = futures::future::join_all(
        batch
            .iter()
            .map(|(record, digest)| async move { store.create_token(record, digest, &created(record), None).await }),
    )
    .await;
    for (n, result) in results.iter().enumerate() {
        if n == 17 {
            assert!(matches!(result, Err(StoreError::Conflict(_))), "{result:?}");
        } else {
            assert!(result.is_ok(), "creation {n}: {result:?}");
        }
    }
    let filter = TokenFilter { keyspace_id: Some(space.id.clone()), now: at(3), ..TokenFilter::default() };
    let stored = store.list_tokens(ORG, &filter, &PageRequest::new(Some(200), None)).await.unwrap().items;
    assert_eq!(stored.len(), 40, "the taken token and 39 of the burst");
    let audit = AuditFilter { action: Some(AuditAction::TokenCreated.to_string()), ..AuditFilter::default() };
    assert_eq!(store.list_audit(ORG, &audit, &PageRequest::new(Some(200), None)).await.unwrap().items.len(), 40);
}

pub async fn racing_creations_never_pass_the_owner_limit(store: &dyn Store) {
    let space = seeded_keyspace(store).await;
    // Alice holds one active token; an expired and a revoked one do not count.
    for (n, (expires, revoked)) in [(None, None), (Some(at(50)), None), (None, Some(at(20)))].into_iter().enumerate() {
        let (mut record, digest) = token(&space, &format!("old {n}"), "alice", at(10));
        record.expires_at = expires;
        record.revocation = revoked.map(|at| Revocation { at, reason: None });
        store.create_token(&record, &digest, &created(&record), None).await.unwrap();
    }
    let limit = Some(ActiveTokenLimit { max: 4, now: at(100) });
    let burst: Vec<_> = (0..12)
        .map(|n| token(&space, &format!("alice {n}"), "alice", at(100)))
        .chain((0..3).map(|n| token(&space, &format!("bob {n}"), "bob", at(100))))
        .collect();
    let results = futures::future::join_all(
        burst
            .iter()
            .map(|(record, digest)| async move { store.create_token(record, digest, &created(record), limit).await }),
    )
    .await;
    let passed = |owner: &str| {
        burst.iter().zip(&results).filter(|((record, _), result)| record.owner == owner && result.is_ok()).count()
    };
    assert_eq!(passed("alice"), 3, "one active + three new = the limit of four");
    assert_eq!(passed("bob"), 3, "another owner is not held back");
    for ((record, _), result) in burst.iter().zip(&results) {
        if let Err(error) = result {
            assert!(matches!(error, StoreError::LimitReached(_)), "{error:?}");
            assert!(store.get_token(ORG, &record.id).await.unwrap().is_none(), "a refused creation writes nothing");
        }
    }
    assert_eq!(store.count_active_tokens(ORG, "alice", at(100)).await.unwrap(), 4);
    let audit = AuditFilter { action: Some(AuditAction::TokenCreated.to_string()), ..AuditFilter::default() };
    let events = store.list_audit(ORG, &audit, &PageRequest::new(Some(200), None)).await.unwrap().items;
    assert_eq!(events.len(), 3 + 3 + 3, "no audit event for a refused creation");
}

pub async fn unknown_keyspace_is_a_missing_reference(store: &dyn Store) {
    let space = keyspace("never stored", at(0));
    let (record, digest) = token(&space, "orphan", "user_1", at(10));
    let error = store.create_token(&record, &digest, &created(&record), None).await.unwrap_err();
    assert!(matches!(error, StoreError::MissingReference(_)), "{error:?}");
    assert!(store.get_token(ORG, &record.id).await.unwrap().is_none());
}

pub async fn failed_audit_write_rolls_back_the_change(store: &dyn Store) {
    let space = seeded_keyspace(store).await;
    let (first, first_digest) = token(&space, "first", "user_1", at(10));
    let first_event = created(&first);
    store.create_token(&first, &first_digest, &first_event, None).await.unwrap();

    // Reusing an event id makes the audit insert fail inside the transaction.
    let (second, second_digest) = token(&space, "second", "user_1", at(11));
    let mut clashing = created(&second);
    clashing.id = first_event.id.clone();
    assert!(store.create_token(&second, &second_digest, &clashing, None).await.is_err());
    assert!(store.get_token(ORG, &second.id).await.unwrap().is_none(), "token must not outlive its failed audit");

    let mut clashing_revoke = event(AuditAction::TokenRevoked, "token", &first.id, at(12));
    clashing_revoke.id = first_event.id.clone();
    assert!(store.revoke_token(ORG, &first.id, at(12), RevokedReason::UserAction, &clashing_revoke).await.is_err());
    let after = store.get_token(ORG, &first.id).await.unwrap().unwrap();
    assert_eq!(after.revoked_at(), None, "revocation must not outlive its failed audit");

    let mut clashing_update = event(AuditAction::TokenUpdated, "token", &first.id, at(13));
    clashing_update.id = first_event.id;
    let rename = TokenUpdate { name: Some("renamed".into()), ..TokenUpdate::default() };
    assert!(store.update_token(ORG, &first.id, &rename, &clashing_update).await.is_err());
    assert_eq!(store.get_token(ORG, &first.id).await.unwrap().unwrap().name, "first");
}

pub async fn update_changes_only_given_fields(store: &dyn Store) {
    let space = seeded_keyspace(store).await;
    let (record, digest) = token(&space, "before", "user_1", at(10));
    store.create_token(&record, &digest, &created(&record), None).await.unwrap();

    let rename = TokenUpdate { name: Some("after".into()), ..TokenUpdate::default() };
    let updated = store
        .update_token(ORG, &record.id, &rename, &event(AuditAction::TokenUpdated, "token", &record.id, at(11)))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(updated.record.name, "after");
    assert_eq!(updated.record.metadata, record.metadata);
    assert_eq!(updated.digest, digest);

    assert_eq!(updated.record.allowed_ips, record.allowed_ips, "the IP allowlist round-trips untouched");

    let remeta = TokenUpdate { metadata: Some(json!({"replaced": true})), ..TokenUpdate::default() };
    let updated = store
        .update_token(ORG, &record.id, &remeta, &event(AuditAction::TokenUpdated, "token", &record.id, at(12)))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((updated.record.name.as_str(), updated.record.metadata), ("after", json!({"replaced": true})));

    let narrowed = TokenUpdate {
        scopes: Some(vec!["invoices:read@project/1".into()]),
        allowed_ips: Some(Vec::new()),
        ..TokenUpdate::default()
    };
    let updated = store
        .update_token(ORG, &record.id, &narrowed, &event(AuditAction::TokenUpdated, "token", &record.id, at(12)))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(updated.record.scopes, vec!["invoices:read@project/1".to_owned()]);
    assert!(updated.record.allowed_ips.is_empty());
    assert_eq!(store.find_token_by_digest(&digest).await.unwrap().unwrap().scopes, updated.record.scopes);

    // A scope change decided on a stale read is refused, and changes nothing.
    let stale = TokenUpdate {
        scopes: Some(vec!["invoices:*".into()]),
        if_scopes_are: Some(vec!["invoices:read".into()]),
        ..TokenUpdate::default()
    };
    let refused = store
        .update_token(ORG, &record.id, &stale, &event(AuditAction::TokenUpdated, "token", &record.id, at(12)))
        .await;
    assert!(matches!(refused, Err(StoreError::Conflict(_))), "{refused:?}");
    assert_eq!(
        store.get_token(ORG, &record.id).await.unwrap().unwrap().scopes,
        vec!["invoices:read@project/1".to_owned()]
    );
    let current = TokenUpdate { if_scopes_are: Some(vec!["invoices:read@project/1".into()]), ..stale };
    let applied = store
        .update_token(ORG, &record.id, &current, &event(AuditAction::TokenUpdated, "token", &record.id, at(12)))
        .await;
    assert_eq!(applied.unwrap().unwrap().record.scopes, vec!["invoices:*".to_owned()]);

    let missing = store
        .update_token(ORG, "tok_missing", &rename, &event(AuditAction::TokenUpdated, "token", "tok_missing", at(13)))
        .await
        .unwrap();
    assert!(missing.is_none());
    let filter = AuditFilter { action: Some(AuditAction::TokenUpdated.to_string()), ..AuditFilter::default() };
    assert_eq!(store.list_audit(ORG, &filter, &PageRequest::first()).await.unwrap().items.len(), 4);
}

pub async fn revoke_is_idempotent_and_audited_once(store: &dyn Store) {
    let space = seeded_keyspace(store).await;
    let (record, digest) = token(&space, "doomed", "user_1", at(10));
    store.create_token(&record, &digest, &created(&record), None).await.unwrap();

    let first = store
        .revoke_token(
            ORG,
            &record.id,
            at(20),
            RevokedReason::Leaked,
            &event(AuditAction::TokenRevoked, "token", &record.id, at(20)),
        )
        .await
        .unwrap()
        .unwrap();
    assert!(first.newly_revoked);
    assert_eq!(first.token.record.revoked_at(), Some(at(20)));
    assert_eq!(first.token.digest, digest);

    let again = store
        .revoke_token(
            ORG,
            &record.id,
            at(30),
            RevokedReason::UserAction,
            &event(AuditAction::TokenRevoked, "token", &record.id, at(30)),
        )
        .await
        .unwrap()
        .unwrap();
    assert!(!again.newly_revoked);
    assert_eq!(again.token.record.revoked_at(), Some(at(20)), "the first revocation time stands");
    assert_eq!(again.token.record.revoked_reason(), Some(RevokedReason::Leaked), "and so does its reason");
    assert_eq!(
        store.find_token_by_digest(&digest).await.unwrap().unwrap().state_at(at(15).timestamp_micros()),
        TokenState::Revoked
    );

    let filter = AuditFilter { action: Some(AuditAction::TokenRevoked.to_string()), ..AuditFilter::default() };
    assert_eq!(store.list_audit(ORG, &filter, &PageRequest::first()).await.unwrap().items.len(), 1);
    let missing = store
        .revoke_token(
            ORG,
            "tok_missing",
            at(30),
            RevokedReason::UserAction,
            &event(AuditAction::TokenRevoked, "token", "tok_missing", at(30)),
        )
        .await
        .unwrap();
    assert!(missing.is_none());
}

pub async fn token_filters_and_pagination(store: &dyn Store) {
    let space = seeded_keyspace(store).await;
    let other_space = keyspace("other", at(1));
    store
        .create_keyspace(&other_space, &event(AuditAction::KeyspaceCreated, "keyspace", &other_space.id, at(1)))
        .await
        .unwrap();

    let mut ids = Vec::new();
    for n in 0..7 {
        let owner = if n % 2 == 0 { "alice" } else { "bob" };
        let (mut record, digest) = token(&space, &format!("t{n}"), owner, at(10 + n));
        if n == 3 {
            record.expires_at = Some(at(50));
        }
        store.create_token(&record, &digest, &created(&record), None).await.unwrap();
        ids.push(record.id);
    }
    // Same timestamp for two tokens: ordering must fall back to the id.
    let (twin, twin_digest) = token(&other_space, "twin", "carol", at(16));
    store.create_token(&twin, &twin_digest, &created(&twin), None).await.unwrap();
    store
        .revoke_token(
            ORG,
            &ids[5],
            at(40),
            RevokedReason::UserAction,
            &event(AuditAction::TokenRevoked, "token", &ids[5], at(40)),
        )
        .await
        .unwrap();

    let now = at(60);
    let all = TokenFilter { now, ..TokenFilter::default() };
    let mut seen = Vec::new();
    let mut page = PageRequest::new(Some(3), None);
    loop {
        let result = store.list_tokens(ORG, &all, &page).await.unwrap();
        assert!(result.items.len() <= 3);
        seen.extend(result.items.into_iter().map(|t| (t.created_at, t.id)));
        match result.next {
            Some(next) => page = PageRequest::new(Some(3), Some(next)),
            None => break,
        }
    }
    assert_eq!(seen.len(), 9, "every token exactly once across pages (the organization's admin token too)");
    let mut sorted = seen.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(seen, sorted, "newest first, ties broken by id");

    let count = |filter: TokenFilter| async move {
        store.list_tokens(ORG, &filter, &PageRequest::new(Some(200), None)).await.unwrap().items.len()
    };
    assert_eq!(count(TokenFilter { keyspace_id: Some(space.id.clone()), now, ..TokenFilter::default() }).await, 7);
    assert_eq!(count(TokenFilter { owner: Some("alice".into()), now, ..TokenFilter::default() }).await, 4);
    assert_eq!(count(TokenFilter { state: Some(TokenState::Revoked), now, ..TokenFilter::default() }).await, 1);
    let named = |needle: &str| TokenFilter { name_contains: Some(needle.into()), now, ..TokenFilter::default() };
    assert_eq!(count(named("T1")).await, 1, "a name search ignores case");
    assert_eq!(count(named("win")).await, 1, "and matches anywhere in the name");
    assert_eq!(count(named("%")).await, 0, "a wildcard character is a plain character");
    assert_eq!(count(named("_")).await, 0);
    let expiring = TokenFilter { expires_before: Some(at(51)), now, ..TokenFilter::default() };
    assert_eq!(count(expiring).await, 1);
    assert_eq!(count(TokenFilter { replaced: true, now, ..TokenFilter::default() }).await, 0, "nothing was rotated");
    assert_eq!(count(TokenFilter { state: Some(TokenState::Expired), now, ..TokenFilter::default() }).await, 1);
    assert_eq!(count(TokenFilter { state: Some(TokenState::Active), now, ..TokenFilter::default() }).await, 7);
    // At the exact expiry instant the token counts as expired; a microsecond before, active.
    let at_expiry = TokenFilter { state: Some(TokenState::Expired), now: at(50), ..TokenFilter::default() };
    assert_eq!(count(at_expiry).await, 1);
    let before_expiry = TokenFilter {
        state: Some(TokenState::Expired),
        now: at(50) - chrono::Duration::microseconds(1),
        ..TokenFilter::default()
    };
    assert_eq!(count(before_expiry).await, 0);
}

pub async fn tokens_page_in_every_order(store: &dyn Store) {
    let space = seeded_keyspace(store).await;
    // Names in mixed case and beyond ASCII; expiries and last uses with
    // ties and gaps ("never"), so the id tie-break and sentinels are hit.
    let rows = [
        ("beta", Some(40), Some(20)),
        ("Alpha", None, None),
        ("alpha", Some(40), Some(25)),
        ("Émile", Some(30), None),
        ("zeta", None, Some(20)),
        ("Gamma two", Some(35), Some(22)),
        ("gamma", Some(50), None),
    ];
    let mut ids = Vec::new();
    for (n, (name, expires, used)) in rows.iter().enumerate() {
        let (mut record, digest) = token(&space, name, "alice", at(10 + (n as i64 % 3)));
        record.expires_at = expires.map(at);
        store.create_token(&record, &digest, &created(&record), None).await.unwrap();
        if let Some(used) = used {
            let delta = UsageDelta { token_id: record.id.clone(), uses: 1, last_used_at: at(*used) };
            store.record_usage(&[delta]).await.unwrap();
        }
        ids.push(record.id);
    }
    let mine = TokenFilter { keyspace_id: Some(space.id.clone()), now: at(60), ..TokenFilter::default() };
    let everything = store.list_tokens(ORG, &mine, &PageRequest::new(Some(200), None)).await.unwrap().items;
    assert_eq!(everything.len(), rows.len());
    for key in [TokenSortKey::Created, TokenSortKey::Expires, TokenSortKey::LastUsed, TokenSortKey::Name] {
        for descending in [false, true] {
            let order = TokenOrder { key, descending };
            let filter = TokenFilter { order, ..mine.clone() };
            let mut walked = Vec::new();
            let mut page = PageRequest::new(Some(2), None);
            loop {
                let result = store.list_tokens(ORG, &filter, &page).await.unwrap();
                walked.extend(result.items.iter().map(|t| t.id.clone()));
                match result.next {
                    Some(next) => {
                        assert!(order.fits(&next), "{order:?} makes cursors it accepts");
                        let decoded = keyward_store::Cursor::decode(&next.encode()).unwrap();
                        page = PageRequest::new(Some(2), Some(decoded));
                    }
                    None => break,
                }
            }
            let mut expected = everything.clone();
            expected.sort_by(|a, b| {
                let by_key = match key {
                    TokenSortKey::Name => a.name.to_ascii_lowercase().cmp(&b.name.to_ascii_lowercase()),
                    _ => order.micros_of(a).cmp(&order.micros_of(b)),
                };
                let ordered = by_key.then_with(|| a.id.cmp(&b.id));
                if descending {
                    ordered.reverse()
                } else {
                    ordered
                }
            });
            let expected: Vec<String> = expected.into_iter().map(|t| t.id).collect();
            assert_eq!(walked, expected, "{order:?}: every token once, in order, across pages of 2");
        }
    }
    let by_name = TokenFilter { order: TokenOrder { key: TokenSortKey::Name, descending: false }, ..mine.clone() };
    let names: Vec<String> = store
        .list_tokens(ORG, &by_name, &PageRequest::new(Some(200), None))
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|t| t.name)
        .collect();
    assert_eq!(
        names[..5].iter().map(|n| n.to_ascii_lowercase()).collect::<Vec<_>>(),
        ["alpha", "alpha", "beta", "gamma", "gamma two"]
    );
    assert_eq!(names[5..], ["zeta", "Émile"], "letters beyond ASCII sort by their bytes, after ASCII");
}

pub async fn usage_batches_accumulate(store: &dyn Store) {
    let space = seeded_keyspace(store).await;
    let (record, digest) = token(&space, "busy", "user_1", at(10));
    store.create_token(&record, &digest, &created(&record), None).await.unwrap();

    store
        .record_usage(&[
            UsageDelta { token_id: record.id.clone(), uses: 5, last_used_at: at(20) },
            UsageDelta { token_id: "tok_deleted_meanwhile".into(), uses: 9, last_used_at: at(20) },
        ])
        .await
        .unwrap();
    // An older batch arriving late must not move last_used_at backwards.
    store.record_usage(&[UsageDelta { token_id: record.id.clone(), uses: 2, last_used_at: at(15) }]).await.unwrap();
    store.record_usage(&[]).await.unwrap();
    let after = store.get_token(ORG, &record.id).await.unwrap().unwrap();
    assert_eq!(after.usage.use_count, 7);
    assert_eq!(after.usage.last_used_at, Some(at(20)));
}

pub async fn audit_filters_and_pagination(store: &dyn Store) {
    let space = seeded_keyspace(store).await;
    for n in 0..4 {
        let (record, digest) = token(&space, &format!("t{n}"), "user_1", at(10 + n));
        store.create_token(&record, &digest, &created(&record), None).await.unwrap();
        if n == 2 {
            store
                .revoke_token(
                    ORG,
                    &record.id,
                    at(30),
                    RevokedReason::UserAction,
                    &event(AuditAction::TokenRevoked, "token", &record.id, at(30)),
                )
                .await
                .unwrap();
        }
    }
    let everything = store.list_audit(ORG, &AuditFilter::default(), &PageRequest::new(Some(200), None)).await.unwrap();
    assert_eq!(everything.items.len(), 6, "keyspace + 4 tokens + 1 revocation");
    assert_eq!(everything.items[0].action, AuditAction::TokenRevoked, "newest first");
    let event = &everything.items[0];
    assert_eq!(event.request_id.as_deref(), Some("req-1"));
    assert_eq!(event.source_ip.as_deref(), Some("203.0.113.7"));
    assert_eq!(event.details, json!({"why": "test"}));

    let created_only = AuditFilter { action: Some(AuditAction::TokenCreated.to_string()), ..AuditFilter::default() };
    assert_eq!(store.list_audit(ORG, &created_only, &PageRequest::first()).await.unwrap().items.len(), 4);
    let window = AuditFilter { since: Some(at(11)), until: Some(at(13)), ..AuditFilter::default() };
    assert_eq!(store.list_audit(ORG, &window, &PageRequest::first()).await.unwrap().items.len(), 2);
    let by_actor = AuditFilter { actor: Some("nobody".into()), ..AuditFilter::default() };
    assert!(store.list_audit(ORG, &by_actor, &PageRequest::first()).await.unwrap().items.is_empty());

    let first = store.list_audit(ORG, &AuditFilter::default(), &PageRequest::new(Some(4), None)).await.unwrap();
    let rest = store.list_audit(ORG, &AuditFilter::default(), &PageRequest::new(Some(4), first.next)).await.unwrap();
    assert_eq!(first.items.len() + rest.items.len(), 6);
    assert!(rest.next.is_none());
}

pub async fn scope_catalogs_are_replaced_whole_within_the_organization(store: &dyn Store) {
    let space = seeded_keyspace(store).await;
    let catalog = vec![CatalogScope { scope: "refunds:*".into(), description: "Everything about refunds".into() }];
    let changed = event(AuditAction::KeyspaceScopesChanged, "keyspace", &space.id, at(5));
    let updated = store.replace_scope_catalog(ORG, &space.id, Some(&catalog), &changed).await.unwrap().unwrap();
    assert_eq!(updated.scope_catalog.as_deref(), Some(&catalog[..]));
    assert_eq!(store.get_keyspace(ORG, &space.id).await.unwrap().unwrap(), updated);

    // Another organization's call is a miss and changes nothing.
    let mut foreign = event(AuditAction::KeyspaceScopesChanged, "keyspace", &space.id, at(6));
    foreign.org_id = OTHER_ORG.into();
    assert!(store.replace_scope_catalog(OTHER_ORG, &space.id, None, &foreign).await.unwrap().is_none());
    // A failed audit write undoes the change.
    let mut clashing = event(AuditAction::KeyspaceScopesChanged, "keyspace", &space.id, at(7));
    clashing.id = changed.id.clone();
    assert!(store.replace_scope_catalog(ORG, &space.id, None, &clashing).await.is_err());
    assert_eq!(store.get_keyspace(ORG, &space.id).await.unwrap().unwrap().scope_catalog, Some(catalog));

    let opened = event(AuditAction::KeyspaceScopesChanged, "keyspace", &space.id, at(8));
    let opened = store.replace_scope_catalog(ORG, &space.id, None, &opened).await.unwrap().unwrap();
    assert_eq!(opened.scope_catalog, None);
    let filter = AuditFilter { action: Some(AuditAction::KeyspaceScopesChanged.to_string()), ..AuditFilter::default() };
    assert_eq!(store.list_audit(ORG, &filter, &PageRequest::first()).await.unwrap().items.len(), 2);
}

pub async fn token_policies_and_active_counts(store: &dyn Store) {
    let space = seeded_keyspace(store).await;
    let policy = TokenPolicy {
        max_lifetime_seconds: Some(86_400),
        require_expiry: true,
        grantable_scopes: Some(vec!["invoices:*".into()]),
        max_active_tokens_per_owner: Some(3),
        ..TokenPolicy::default()
    };
    let changed = event(AuditAction::PolicyChanged, "organization", ORG, at(1));
    let updated = store.set_token_policy(ORG, &policy, &changed).await.unwrap().unwrap();
    assert_eq!(updated.token_policy, policy);
    assert_eq!(store.get_organization(ORG).await.unwrap().unwrap().token_policy, policy);
    let mut foreign = event(AuditAction::PolicyChanged, "organization", "org_missing", at(2));
    foreign.org_id = "org_missing".into();
    assert!(store.set_token_policy("org_missing", &policy, &foreign).await.unwrap().is_none());

    let renamed = event(AuditAction::OrganizationRenamed, "organization", ORG, at(3));
    let organization = store.rename_organization(ORG, "Acme Payments", &renamed).await.unwrap().unwrap();
    assert_eq!(
        (organization.name.as_str(), &organization.token_policy),
        ("Acme Payments", &policy),
        "only the name changes"
    );
    assert_eq!(store.get_organization(ORG).await.unwrap().unwrap().name, "Acme Payments");
    let filter = AuditFilter { action: Some(AuditAction::OrganizationRenamed.to_string()), ..AuditFilter::default() };
    assert_eq!(store.list_audit(ORG, &filter, &PageRequest::first()).await.unwrap().items.len(), 1, "audited with it");
    let mut foreign = event(AuditAction::OrganizationRenamed, "organization", "org_missing", at(4));
    foreign.org_id = "org_missing".into();
    assert!(store.rename_organization("org_missing", "x", &foreign).await.unwrap().is_none());

    for (n, (expires, revoked)) in
        [(None, None), (Some(at(50)), None), (Some(at(200)), None), (None, Some(at(30)))].into_iter().enumerate()
    {
        let (mut record, digest) = token(&space, &format!("t{n}"), "alice", at(10));
        record.expires_at = expires;
        record.revocation = revoked.map(|at| Revocation { at, reason: None });
        store.create_token(&record, &digest, &created(&record), None).await.unwrap();
    }
    let (bob, bob_digest) = token(&space, "bob's", "bob", at(10));
    store.create_token(&bob, &bob_digest, &created(&bob), None).await.unwrap();
    assert_eq!(store.count_active_tokens(ORG, "alice", at(40)).await.unwrap(), 3, "a revoked token never counts");
    assert_eq!(store.count_active_tokens(ORG, "alice", at(50)).await.unwrap(), 2, "expired at the instant");
    assert_eq!(store.count_active_tokens(ORG, "bob", at(40)).await.unwrap(), 1);
    assert_eq!(store.count_active_tokens(OTHER_ORG, "alice", at(20)).await.unwrap(), 0);
}
