//! Cases for the token lifecycle beyond one revocation: rotation, grace
//! periods, the clients seen during them, bulk revocation, and the use a
//! token's page charts.

use chrono::{DateTime, Utc};
use keyward_core::audit::AuditAction;
use keyward_core::model::{Keyspace, RevokedReason, TokenRecord, TokenState};
use keyward_core::TokenDigest;
use keyward_store::{
    AuditFilter, BulkFilter, BulkRevocation, ClientSighting, DailyUsage, Guarded, PageRequest, RotationWrite, Store,
    StoredToken, UsageDelta, VerificationSample, MAX_CLIENTS_PER_TOKEN, MAX_SAMPLES_PER_TOKEN,
};

use crate::cases::seeded_keyspace;
use crate::fixtures::{at, created, event, token, ORG, OTHER_ORG};

/// A replacement for `old`, as the engine makes one.
fn successor(space: &Keyspace, old: &TokenRecord, created_at: DateTime<Utc>) -> (TokenRecord, TokenDigest) {
    let (mut record, digest) = token(space, &old.name, &old.owner, created_at);
    record.rotated_from = Some(old.id.clone());
    (record, digest)
}

async fn rotate(
    store: &dyn Store,
    org: &str,
    old_id: &str,
    new: &(TokenRecord, TokenDigest),
    rotated_at: DateTime<Utc>,
    grace_ends_at: Option<DateTime<Utc>>,
) -> Guarded<StoredToken> {
    let events = [event(AuditAction::TokenRotated, "token", old_id, rotated_at), created(&new.0)];
    let rotation = RotationWrite {
        old_id,
        at: rotated_at,
        grace_ends_at,
        new_token: &new.0,
        new_digest: &new.1,
        events: &events,
        handoff: None,
    };
    store.rotate_token(org, &rotation).await.unwrap()
}

async fn count(store: &dyn Store, action: AuditAction) -> usize {
    let filter = AuditFilter { action: Some(action.to_string()), ..AuditFilter::default() };
    store.list_audit(ORG, &filter, &PageRequest::new(Some(200), None)).await.unwrap().items.len()
}

fn applied(outcome: Guarded<StoredToken>) -> StoredToken {
    match outcome {
        Guarded::Applied(token) => token,
        other => panic!("expected the write to apply, got {other:?}"),
    }
}

fn refused(outcome: Guarded<StoredToken>) -> TokenRecord {
    match outcome {
        Guarded::Refused(token) => *token,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

pub async fn rotation_replaces_an_active_token_once(store: &dyn Store) {
    let space = seeded_keyspace(store).await;
    let (old, old_digest) = token(&space, "deploys", "alice", at(10));
    store.create_token(&old, &old_digest, &created(&old), None).await.unwrap();

    // With a grace period: the old token keeps verifying until its end.
    let new = successor(&space, &old, at(20));
    assert!(matches!(rotate(store, OTHER_ORG, &old.id, &new, at(20), Some(at(80))).await, Guarded::Missing));
    assert!(store.get_token(ORG, &new.0.id).await.unwrap().is_none(), "a foreign rotation writes nothing");
    let rotated = applied(rotate(store, ORG, &old.id, &new, at(20), Some(at(80))).await);
    assert_eq!(rotated.digest, old_digest, "the old digest comes back for cache eviction");
    let record = rotated.record;
    assert_eq!(record.replaced_by(), Some(new.0.id.as_str()));
    assert_eq!(record.rotated_at(), Some(at(20)));
    assert_eq!(record.expires_at, Some(at(80)));
    assert_eq!(record.expires_at_before_rotation(), None, "it had no expiry of its own");
    assert_eq!(record.revoked_at(), None);
    assert_eq!(record.state_at(at(79).timestamp_micros()), TokenState::Active);
    assert_eq!(record.state_at(at(80).timestamp_micros()), TokenState::Expired);
    assert_eq!(store.find_token_by_digest(&old_digest).await.unwrap().as_ref(), Some(&record));
    let stored_new = store.find_token_by_digest(&new.1).await.unwrap().unwrap();
    assert_eq!(stored_new.rotated_from.as_deref(), Some(old.id.as_str()));
    assert_eq!(count(store, AuditAction::TokenRotated).await, 1);

    // Once replaced, never replaced again: rotate the new token instead.
    let twice = successor(&space, &old, at(30));
    assert_eq!(refused(rotate(store, ORG, &old.id, &twice, at(30), Some(at(40))).await).id, old.id);
    assert!(store.get_token(ORG, &twice.0.id).await.unwrap().is_none(), "a refused rotation writes nothing");
    assert_eq!(count(store, AuditAction::TokenRotated).await, 1, "and logs nothing");
    assert_eq!(count(store, AuditAction::TokenCreated).await, 2, "the original and its replacement");
    assert_eq!(count(store, AuditAction::TokenCreated).await, 2, "the original and its replacement");

    // A grace end past the token's own expiry is cut to it; that expiry is kept.
    let (mut short, short_digest) = token(&space, "short", "alice", at(10));
    short.expires_at = Some(at(50));
    store.create_token(&short, &short_digest, &created(&short), None).await.unwrap();
    let after_short = successor(&space, &short, at(20));
    let record = applied(rotate(store, ORG, &short.id, &after_short, at(20), Some(at(90))).await).record;
    assert_eq!(record.expires_at, Some(at(50)));
    assert_eq!(record.expires_at_before_rotation(), Some(at(50)));

    // No grace period: revoked at once, with the rotation as its reason.
    let (now_gone, now_gone_digest) = token(&space, "now", "alice", at(10));
    store.create_token(&now_gone, &now_gone_digest, &created(&now_gone), None).await.unwrap();
    let after_now = successor(&space, &now_gone, at(25));
    let record = applied(rotate(store, ORG, &now_gone.id, &after_now, at(25), None).await).record;
    assert_eq!(record.revoked_at(), Some(at(25)));
    assert_eq!(record.revoked_reason(), Some(RevokedReason::Rotation));
    assert_eq!(record.replaced_by(), Some(after_now.0.id.as_str()));

    // Revoked and expired tokens are not rotated; the refusal shows why.
    let (revoked, revoked_digest) = token(&space, "revoked", "alice", at(10));
    store.create_token(&revoked, &revoked_digest, &created(&revoked), None).await.unwrap();
    let revoke = event(AuditAction::TokenRevoked, "token", &revoked.id, at(11));
    store.revoke_token(ORG, &revoked.id, at(11), RevokedReason::Leaked, &revoke).await.unwrap();
    let refusal = refused(rotate(store, ORG, &revoked.id, &successor(&space, &revoked, at(20)), at(20), None).await);
    assert_eq!(refusal.revoked_reason(), Some(RevokedReason::Leaked));
    // Expiry at the exact boundary: at t the token is already expired.
    let (mut expiring, expiring_digest) = token(&space, "expiring", "alice", at(10));
    expiring.expires_at = Some(at(30));
    store.create_token(&expiring, &expiring_digest, &created(&expiring), None).await.unwrap();
    let late = successor(&space, &expiring, at(30));
    assert_eq!(refused(rotate(store, ORG, &expiring.id, &late, at(30), Some(at(40))).await).id, expiring.id);
    let in_time = successor(&space, &expiring, at(29));
    applied(rotate(store, ORG, &expiring.id, &in_time, at(29), Some(at(40))).await);

    // Presenting a replaced token after its grace is logged on its own.
    let reuse = event(AuditAction::TokenReusedAfterRotation, "token", &old.id, at(90));
    store.append_audit_event(&reuse).await.unwrap();
    let filter = AuditFilter { target_id: Some(old.id.clone()), ..AuditFilter::default() };
    let trail = store.list_audit(ORG, &filter, &PageRequest::first()).await.unwrap().items;
    let trail: Vec<_> = trail.iter().map(|event| event.action).collect();
    assert_eq!(trail, [AuditAction::TokenReusedAfterRotation, AuditAction::TokenRotated, AuditAction::TokenCreated]);
}

pub async fn rotation_grace_moves_only_within_its_bounds(store: &dyn Store) {
    let space = seeded_keyspace(store).await;
    let (mut old, old_digest) = token(&space, "deploys", "alice", at(10));
    old.expires_at = Some(at(500));
    store.create_token(&old, &old_digest, &created(&old), None).await.unwrap();
    let grace = |id: &str, ends_at: DateTime<Utc>, now: DateTime<Utc>| {
        let event = event(AuditAction::TokenGraceChanged, "token", id, now);
        let id = id.to_owned();
        async move { store.set_rotation_grace(ORG, &id, ends_at, now, &event).await.unwrap() }
    };

    // Not rotated: there is no grace period to move.
    assert_eq!(refused(grace(&old.id, at(100), at(20)).await).id, old.id);
    assert!(matches!(grace("tok_missing", at(100), at(20)).await, Guarded::Missing));

    applied(rotate(store, ORG, &old.id, &successor(&space, &old, at(20)), at(20), Some(at(100))).await);
    // Extended, but never past the token's own expiry.
    assert_eq!(applied(grace(&old.id, at(200), at(30)).await).record.expires_at, Some(at(200)));
    assert_eq!(applied(grace(&old.id, at(900), at(31)).await).record.expires_at, Some(at(500)));
    // Ended early.
    assert_eq!(applied(grace(&old.id, at(40), at(39)).await).record.expires_at, Some(at(40)));
    // At the grace end it is over: it cannot be revived.
    assert_eq!(refused(grace(&old.id, at(300), at(40)).await).expires_at, Some(at(40)));
    assert_eq!(count(store, AuditAction::TokenGraceChanged).await, 3, "refusals log nothing");
    assert!(matches!(
        store
            .set_rotation_grace(
                OTHER_ORG,
                &old.id,
                at(300),
                at(35),
                &event(AuditAction::TokenGraceChanged, "token", &old.id, at(35))
            )
            .await,
        Ok(Guarded::Missing)
    ));
}

pub async fn racing_rotations_give_one_replacement(store: &dyn Store) {
    let space = seeded_keyspace(store).await;
    let (old, old_digest) = token(&space, "contended", "alice", at(10));
    store.create_token(&old, &old_digest, &created(&old), None).await.unwrap();
    let successors: Vec<_> = (0..8).map(|_| successor(&space, &old, at(20))).collect();
    let outcomes =
        futures::future::join_all(successors.iter().map(|new| rotate(store, ORG, &old.id, new, at(20), Some(at(60)))))
            .await;
    let winners = outcomes.iter().filter(|outcome| matches!(outcome, Guarded::Applied(_))).count();
    assert_eq!(winners, 1, "exactly one rotation wins: {outcomes:?}");
    let kept: Vec<_> = futures::future::join_all(successors.iter().map(|(new, _)| store.get_token(ORG, &new.id)))
        .await
        .into_iter()
        .filter_map(|found| found.unwrap())
        .collect();
    assert_eq!(kept.len(), 1, "the losers' tokens were not written");
    let old_now = store.get_token(ORG, &old.id).await.unwrap().unwrap();
    assert_eq!(old_now.replaced_by(), Some(kept[0].id.as_str()));
    assert_eq!(count(store, AuditAction::TokenRotated).await, 1);
    assert_eq!(count(store, AuditAction::TokenCreated).await, 2, "the original and the one kept replacement");
}

pub async fn client_sightings_add_up_per_client_and_are_bounded(store: &dyn Store) {
    let space = seeded_keyspace(store).await;
    let (record, digest) = token(&space, "watched", "alice", at(10));
    store.create_token(&record, &digest, &created(&record), None).await.unwrap();
    let sighting = |ip: Option<&str>, agent: Option<&str>, uses: u64, first: i64, last: i64| ClientSighting {
        token_id: record.id.clone(),
        client_ip: ip.map(str::to_owned),
        user_agent: agent.map(str::to_owned),
        uses,
        first_seen_at: at(first),
        last_seen_at: at(last),
    };
    store
        .record_client_sightings(&[
            sighting(Some("203.0.113.7"), Some("billing/1.2"), 3, 20, 25),
            sighting(None, None, 1, 21, 21),
            ClientSighting { token_id: "tok_missing".into(), ..sighting(None, None, 1, 21, 21) },
        ])
        .await
        .unwrap();
    store.record_client_sightings(&[sighting(Some("203.0.113.7"), Some("billing/1.2"), 2, 30, 31)]).await.unwrap();
    let clients = store.list_token_clients(ORG, &record.id).await.unwrap();
    assert_eq!(
        clients,
        [sighting(Some("203.0.113.7"), Some("billing/1.2"), 5, 20, 31), sighting(None, None, 1, 21, 21)],
        "most recent first; totals add up; the first sighting is kept"
    );
    assert!(store.list_token_clients(OTHER_ORG, &record.id).await.unwrap().is_empty(), "tenants stay apart");

    let flood: Vec<_> =
        (0..MAX_CLIENTS_PER_TOKEN + 20).map(|n| sighting(Some(&format!("198.51.100.{n}")), None, 1, 40, 40)).collect();
    store.record_client_sightings(&flood).await.unwrap();
    let clients = store.list_token_clients(ORG, &record.id).await.unwrap();
    assert_eq!(clients.len() as i64, MAX_CLIENTS_PER_TOKEN, "distinct clients are capped");
    // A client already known keeps being counted past the cap.
    store.record_client_sightings(&[sighting(None, None, 4, 50, 50)]).await.unwrap();
    let unknown = store.list_token_clients(ORG, &record.id).await.unwrap();
    assert_eq!(unknown[0], sighting(None, None, 5, 21, 50));
}

pub async fn bulk_revocation_takes_exactly_the_matching_active_tokens(store: &dyn Store) {
    let space = seeded_keyspace(store).await;
    let made = bulk_candidates(store, &space).await;
    let filter = BulkFilter {
        owner: Some("alice".into()),
        keyspace_id: Some(space.id.clone()),
        name_prefix: Some("ci deploy".into()),
        scope: None,
        ids: Vec::new(),
        except_id: None,
        now: at(30),
    };
    bulk_counts_follow_the_filters(store, &made, &filter).await;

    let bulk = event(AuditAction::TokensBulkRevoked, "organization", ORG, at(30));
    let each = |record: &TokenRecord| Ok(event(AuditAction::TokenRevoked, "token", &record.id, at(30)));
    // A count decided earlier that no longer holds: nothing is written.
    let changed = store.revoke_matching(ORG, &filter, RevokedReason::Leaked, Some(3), &bulk, &each).await.unwrap();
    assert!(matches!(changed, BulkRevocation::CountChanged(2)), "{changed:?}");
    assert_eq!(count(store, AuditAction::TokensBulkRevoked).await, 0);
    assert!(store.get_token(ORG, &made[0].id).await.unwrap().unwrap().revoked_at().is_none());

    let done = store.revoke_matching(ORG, &filter, RevokedReason::Leaked, Some(2), &bulk, &each).await.unwrap();
    let BulkRevocation::Revoked(revoked) = done else { panic!("expected a revocation, got {done:?}") };
    let mut ids: Vec<_> = revoked.iter().map(|t| t.record.id.clone()).collect();
    ids.sort();
    let mut expected = vec![made[0].id.clone(), made[1].id.clone()];
    expected.sort();
    assert_eq!(ids, expected);
    for token in &revoked {
        assert_eq!(token.record.revoked_reason(), Some(RevokedReason::Leaked));
        assert_eq!(token.record.revoked_at(), Some(at(30)));
        assert_eq!(store.find_token_by_digest(&token.digest).await.unwrap().unwrap().revoked_at(), Some(at(30)));
    }
    assert_eq!(count(store, AuditAction::TokensBulkRevoked).await, 1);
    assert_eq!(count(store, AuditAction::TokenRevoked).await, 1 + 2, "the earlier one and one per token");
    assert_eq!(store.count_matching(ORG, &filter).await.unwrap(), 0, "idempotent: nothing left to take");
    assert!(store.get_token(ORG, &made[2].id).await.unwrap().unwrap().revoked_at().is_none(), "no wildcard match");
    let again = event(AuditAction::TokensBulkRevoked, "organization", ORG, at(31));
    let empty = store.revoke_matching(ORG, &filter, RevokedReason::Leaked, None, &again, &each).await.unwrap();
    assert!(matches!(empty, BulkRevocation::Revoked(ref none) if none.is_empty()));

    bulk_revocation_by_scope_is_exact(store, &space).await;
}

/// Alice's and Bob's tokens, some of which a bulk revocation of Alice's
/// "ci deploy" tokens in `space` must take: the first two only.
async fn bulk_candidates(store: &dyn Store, space: &Keyspace) -> Vec<TokenRecord> {
    let other_space = crate::fixtures::keyspace("other", at(1));
    store
        .create_keyspace(&other_space, &event(AuditAction::KeyspaceCreated, "keyspace", &other_space.id, at(1)))
        .await
        .unwrap();
    let mut made = Vec::new();
    for (name, owner, keyspace, expires, revoked) in [
        ("ci deploy 1", "alice", space, None, false),
        ("ci deploy 2", "alice", space, None, false),
        ("ci_deploy 3", "alice", space, None, false), // `_` is a LIKE wildcard: must not match "ci deploy"
        ("laptop", "alice", space, None, false),
        ("ci deploy 4", "alice", space, Some(at(20)), false), // expired by then
        ("ci deploy 5", "alice", space, None, true),          // revoked already
        ("ci deploy 6", "alice", &other_space, None, false),
        ("ci deploy 7", "bob", space, None, false),
    ] {
        let (mut record, digest) = token(keyspace, name, owner, at(10));
        record.expires_at = expires;
        store.create_token(&record, &digest, &created(&record), None).await.unwrap();
        if revoked {
            let revoke = event(AuditAction::TokenRevoked, "token", &record.id, at(11));
            store.revoke_token(ORG, &record.id, at(11), RevokedReason::UserAction, &revoke).await.unwrap();
        }
        made.push(record);
    }
    made
}

async fn bulk_counts_follow_the_filters(store: &dyn Store, made: &[TokenRecord], filter: &BulkFilter) {
    assert_eq!(store.count_matching(ORG, filter).await.unwrap(), 2);
    assert_eq!(store.count_matching(OTHER_ORG, filter).await.unwrap(), 0, "tenants stay apart");
    let owner_only = BulkFilter { owner: Some("alice".into()), now: at(30), ..BulkFilter::default() };
    assert_eq!(store.count_matching(ORG, &owner_only).await.unwrap(), 5);
    let except = BulkFilter { except_id: Some(made[0].id.clone()), ..owner_only.clone() };
    assert_eq!(store.count_matching(ORG, &except).await.unwrap(), 4);
    // A selection: only the ids named, and still only the active ones of this tenant.
    let selected = BulkFilter {
        ids: vec![made[1].id.clone(), made[4].id.clone(), made[5].id.clone(), made[7].id.clone()],
        now: at(30),
        ..BulkFilter::default()
    };
    assert_eq!(store.count_matching(ORG, &selected).await.unwrap(), 2, "the expired and revoked ones are left out");
    assert_eq!(store.count_matching(OTHER_ORG, &selected).await.unwrap(), 0, "tenants stay apart");
    let selected_of_alice = BulkFilter { owner: Some("alice".into()), ..selected.clone() };
    assert_eq!(store.count_matching(ORG, &selected_of_alice).await.unwrap(), 1, "filters combine with a selection");
}

async fn bulk_revocation_by_scope_is_exact(store: &dyn Store, space: &Keyspace) {
    let each = |record: &TokenRecord| Ok(event(AuditAction::TokenRevoked, "token", &record.id, at(30)));
    // By scope: exactly the scope as granted, nothing that merely resembles it.
    let (mut refunds, digest) = token(space, "refunds bot", "carol", at(10));
    refunds.scopes = vec!["invoices:read".into(), "refunds:write".into()];
    store.create_token(&refunds, &digest, &created(&refunds), None).await.unwrap();
    let by_scope = |scope: &str| BulkFilter { scope: Some(scope.into()), now: at(30), ..BulkFilter::default() };
    assert_eq!(store.count_matching(ORG, &by_scope("refunds:write")).await.unwrap(), 1);
    assert_eq!(store.count_matching(ORG, &by_scope("refunds:*")).await.unwrap(), 0, "not a pattern");
    assert_eq!(store.count_matching(ORG, &by_scope("refunds")).await.unwrap(), 0, "not a substring");
    assert_eq!(store.count_matching(OTHER_ORG, &by_scope("refunds:write")).await.unwrap(), 0);
    let scoped = event(AuditAction::TokensBulkRevoked, "organization", ORG, at(32));
    let refunds_write = by_scope("refunds:write");
    let taken = store.revoke_matching(ORG, &refunds_write, RevokedReason::Leaked, Some(1), &scoped, &each);
    let BulkRevocation::Revoked(taken) = taken.await.unwrap() else { panic!("expected a revocation") };
    assert_eq!(taken.iter().map(|t| t.record.id.as_str()).collect::<Vec<_>>(), [refunds.id.as_str()]);
}

pub async fn usage_is_counted_per_day_and_verifications_are_sampled(store: &dyn Store) {
    let space = seeded_keyspace(store).await;
    let (record, digest) = token(&space, "charted", "alice", at(10));
    store.create_token(&record, &digest, &created(&record), None).await.unwrap();
    let day = keyward_store::day_of(at(10));
    let one_day = 86_400;
    let usage = |uses: u64, seconds: i64| UsageDelta { token_id: record.id.clone(), uses, last_used_at: at(seconds) };
    store.record_usage(&[usage(3, 20), UsageDelta { token_id: "tok_missing".into(), ..usage(1, 20) }]).await.unwrap();
    store.record_usage(&[usage(2, 30)]).await.unwrap();
    store.record_usage(&[usage(7, 20 + 2 * one_day)]).await.unwrap();
    let days = store.usage_by_day(ORG, &record.id, day).await.unwrap();
    let second = keyward_store::day_of(at(20 + 2 * one_day));
    assert_eq!(
        days,
        [DailyUsage { day: keyward_store::day_of(at(20)), uses: 5 }, DailyUsage { day: second, uses: 7 }],
        "batches of one day add up; days without use are absent"
    );
    assert_eq!(store.usage_by_day(ORG, &record.id, second).await.unwrap().len(), 1, "from the day asked");
    assert!(store.usage_by_day(OTHER_ORG, &record.id, day).await.unwrap().is_empty(), "tenants stay apart");
    assert_eq!(store.get_token(ORG, &record.id).await.unwrap().unwrap().usage.use_count, 12, "totals still add up");

    let sample = |seconds: i64, outcome: &str, ip: Option<&str>| VerificationSample {
        token_id: record.id.clone(),
        at: at(seconds),
        outcome: outcome.into(),
        client_ip: ip.map(str::to_owned),
        user_agent: ip.map(|_| "billing/1.2".to_owned()),
    };
    store
        .record_verification_samples(&[
            sample(40, "VALID", Some("203.0.113.7")),
            sample(41, "INSUFFICIENT_SCOPE", None),
            VerificationSample { token_id: "tok_missing".into(), ..sample(41, "VALID", None) },
        ])
        .await
        .unwrap();
    let recent = store.recent_verifications(ORG, &record.id, 10).await.unwrap();
    assert_eq!(recent, [sample(41, "INSUFFICIENT_SCOPE", None), sample(40, "VALID", Some("203.0.113.7"))]);
    assert!(store.recent_verifications(OTHER_ORG, &record.id, 10).await.unwrap().is_empty(), "tenants stay apart");
    let asked = [record.id.clone(), "tok_missing".to_owned()];
    assert_eq!(
        store.last_successful_verifications(ORG, &asked).await.unwrap(),
        [sample(40, "VALID", Some("203.0.113.7"))],
        "each token's newest success (denials skipped), unknown ids skipped"
    );
    assert!(store.last_successful_verifications(OTHER_ORG, &asked).await.unwrap().is_empty(), "tenants stay apart");
    assert!(store.last_successful_verifications(ORG, &[]).await.unwrap().is_empty());
    store
        .record_verification_samples(&[sample(45, "VALID", None), sample(44, "VALID", Some("198.51.100.2"))])
        .await
        .unwrap();
    assert_eq!(
        store.last_successful_verifications(ORG, &asked).await.unwrap(),
        [sample(45, "VALID", None)],
        "the newest success wins, whatever order it arrived in"
    );
    let flood: Vec<_> = (0..MAX_SAMPLES_PER_TOKEN + 10).map(|n| sample(100 + n, "REVOKED", None)).collect();
    store.record_verification_samples(&flood).await.unwrap();
    let kept = store.recent_verifications(ORG, &record.id, 1_000).await.unwrap();
    assert_eq!(kept.len() as i64, MAX_SAMPLES_PER_TOKEN, "the sample per token is bounded");
    assert_eq!(kept[0].at, at(100 + MAX_SAMPLES_PER_TOKEN + 9), "the newest are kept");
    assert_eq!(store.recent_verifications(ORG, &record.id, 3).await.unwrap().len(), 3, "the limit holds");
}
