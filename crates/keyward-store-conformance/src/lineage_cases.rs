//! Token lineage (which management token made which) and what follows
//! from it: revoking a token with its descendants, refusing children of a
//! revoked parent, and sessions' password confirmations.

use keyward_core::audit::AuditAction;
use keyward_core::id::{new_id, IdKind};
use keyward_core::model::{AuditEvent, RevokedReason, Session, TokenRecord, TokenState};
use keyward_core::{OsRng, TokenDigest};
use keyward_store::{AuditFilter, PageRequest, Store, StoreError};
use serde_json::json;

use crate::cases::seeded_keyspace;
use crate::fixtures::{at, created, event, found, token, ORG, OTHER_ORG};

/// A token of `keyspace` made by `parent`, created in the store.
async fn planted(
    store: &dyn Store,
    keyspace: &keyward_core::model::Keyspace,
    name: &str,
    parent: Option<&TokenRecord>,
) -> TokenRecord {
    let (mut record, digest) = token(keyspace, name, "svc", at(5));
    if record.management {
        record.scopes = vec!["keyward:tokens:write".into()];
    }
    record.parent_token_id = parent.map(|parent| parent.id.clone());
    // A child carries a ceiling on its expiry, stored with it.
    record.expiry_ceiling = parent.map(|_| at(1_000));
    record.created_by = parent.map_or_else(|| "usr_someone".to_owned(), |parent| parent.id.clone());
    store.create_token(&record, &digest, &created(&record), None).await.unwrap();
    record
}

fn descendant_event(root: &str) -> impl Fn(&TokenRecord) -> Result<AuditEvent, StoreError> + Send + Sync + '_ {
    move |token: &TokenRecord| {
        let mut revoked = event(AuditAction::TokenRevoked, "token", &token.id, at(30));
        revoked.org_id = token.org_id.clone();
        revoked.details = json!({"reason": "leaked", "revoked_with": root, "parent_token_id": token.parent_token_id});
        Ok(revoked)
    }
}

async fn state(store: &dyn Store, org: &str, id: &str) -> TokenState {
    store.get_token(org, id).await.unwrap().unwrap().state_at(at(40).timestamp_micros())
}

pub async fn revocation_with_descendants_takes_the_management_lineage_only(store: &dyn Store) {
    let customer = seeded_keyspace(store).await;
    let management = store.management_keyspace(ORG).await.unwrap().unwrap();
    let root = planted(store, &management, "ci", None).await;
    let child = planted(store, &management, "ci child", Some(&root)).await;
    let grandchild = planted(store, &management, "ci grandchild", Some(&child)).await;
    let customer_of_child = planted(store, &customer, "deploy key", Some(&child)).await;
    let customer_of_root = planted(store, &customer, "pipeline key", Some(&root)).await;
    let unrelated = planted(store, &management, "someone else's", None).await;
    // Another tenant's token naming the root as parent (ids are not secret)
    // stays out of reach.
    let foreign_keyspace = found(store, OTHER_ORG).await;
    let foreign = planted(store, &foreign_keyspace, "foreign", Some(&root)).await;
    let stored = store.get_token(ORG, &grandchild.id).await.unwrap().unwrap();
    assert_eq!((stored.parent_token_id, stored.expiry_ceiling), (Some(child.id.clone()), Some(at(1_000))));
    assert_eq!(store.get_token(ORG, &root.id).await.unwrap().unwrap().expiry_ceiling, None);

    // The child was revoked on its own before: its descendants are still
    // the root's.
    let alone = event(AuditAction::TokenRevoked, "token", &child.id, at(20));
    store.revoke_token(ORG, &child.id, at(20), RevokedReason::UserAction, &alone).await.unwrap().unwrap();

    let root_event = event(AuditAction::TokenRevoked, "token", &root.id, at(30));
    let each = descendant_event(&root.id);
    let done = store
        .revoke_with_descendants(ORG, &root.id, at(30), RevokedReason::Leaked, false, &root_event, &each)
        .await
        .unwrap()
        .unwrap();
    assert!(done.root.newly_revoked);
    assert_eq!(done.root.token.record.revoked_reason(), Some(RevokedReason::Leaked));
    let taken: Vec<&str> = done.descendants.iter().map(|token| token.record.id.as_str()).collect();
    assert_eq!(taken, vec![grandchild.id.as_str()], "the child was revoked already; customer tokens stay");
    assert_eq!(done.descendants[0].record.revoked_at(), Some(at(30)));
    let by_digest = store.find_token_by_digest(&done.descendants[0].digest).await.unwrap().unwrap();
    assert_eq!(by_digest.id, grandchild.id, "digests come back, for caches to drop");
    for kept in [&customer_of_child, &customer_of_root, &unrelated] {
        assert_eq!(state(store, ORG, &kept.id).await, TokenState::Active, "{}", kept.name);
    }
    assert_eq!(state(store, OTHER_ORG, &foreign.id).await, TokenState::Active);
    let child_now = store.get_token(ORG, &child.id).await.unwrap().unwrap();
    assert_eq!(child_now.revoked_at(), Some(at(20)), "an earlier revocation keeps its time");

    let revocations = AuditFilter { action: Some(AuditAction::TokenRevoked.to_string()), ..AuditFilter::default() };
    let logged = store.list_audit(ORG, &revocations, &PageRequest::first()).await.unwrap().items;
    assert_eq!(logged.len(), 3, "the child's own, the root's and the grandchild's");
    let grandchild_event = logged.iter().find(|event| event.target_id == grandchild.id).unwrap();
    assert_eq!(grandchild_event.details["revoked_with"], json!(root.id));

    // Asked again with customer tokens: the root is not revoked twice, the
    // customer tokens the lineage made go now.
    let again = store
        .revoke_with_descendants(ORG, &root.id, at(35), RevokedReason::Leaked, true, &root_event, &each)
        .await
        .unwrap()
        .unwrap();
    assert!(!again.root.newly_revoked);
    let mut taken: Vec<String> = again.descendants.iter().map(|token| token.record.id.clone()).collect();
    taken.sort();
    let mut expected = vec![customer_of_child.id.clone(), customer_of_root.id.clone()];
    expected.sort();
    assert_eq!(taken, expected);
    assert_eq!(state(store, ORG, &unrelated.id).await, TokenState::Active);
    assert_eq!(state(store, OTHER_ORG, &foreign.id).await, TokenState::Active);
    assert_eq!(store.list_audit(ORG, &revocations, &PageRequest::first()).await.unwrap().items.len(), 5);

    only_a_management_token_of_the_organization_has_descendants(store, &root_event, &root, &customer_of_root).await;
}

/// Revoking with descendants from `customer_token`, from `root` in another
/// organization, or from a missing token finds nothing to revoke.
async fn only_a_management_token_of_the_organization_has_descendants(
    store: &dyn Store,
    root_event: &AuditEvent,
    root: &TokenRecord,
    customer_token: &TokenRecord,
) {
    let nothing = |at_token: &str, org: &str| {
        let root_event = root_event.clone();
        let org = org.to_owned();
        let id = at_token.to_owned();
        async move {
            store
                .revoke_with_descendants(&org, &id, at(36), RevokedReason::Leaked, true, &root_event, &|_| {
                    unreachable!("nothing is revoked")
                })
                .await
                .unwrap()
        }
    };
    assert!(nothing(&customer_token.id, ORG).await.is_none());
    assert!(nothing(&root.id, OTHER_ORG).await.is_none());
    assert!(nothing("tok_missing", ORG).await.is_none());
}

pub async fn a_revoked_parent_mints_nothing(store: &dyn Store) {
    let customer = seeded_keyspace(store).await;
    let management = store.management_keyspace(ORG).await.unwrap().unwrap();
    let parent = planted(store, &management, "parent", None).await;
    let before = planted(store, &customer, "made in time", Some(&parent)).await;
    let revoked = event(AuditAction::TokenRevoked, "token", &parent.id, at(10));
    store.revoke_token(ORG, &parent.id, at(10), RevokedReason::Leaked, &revoked).await.unwrap().unwrap();

    let (mut late, digest) = token(&customer, "made too late", "svc", at(11));
    late.parent_token_id = Some(parent.id.clone());
    let refused = store.create_token(&late, &digest, &created(&late), None).await;
    assert!(matches!(refused, Err(StoreError::Conflict(_))), "{refused:?}");
    assert!(store.get_token(ORG, &late.id).await.unwrap().is_none());
    assert!(store.find_token_by_digest(&digest).await.unwrap().is_none());
    assert_eq!(state(store, ORG, &before.id).await, TokenState::Active, "what it made before stays");
    let filter = AuditFilter { target_id: Some(late.id.clone()), ..AuditFilter::default() };
    assert!(store.list_audit(ORG, &filter, &PageRequest::first()).await.unwrap().items.is_empty());
}

pub async fn password_confirmations_are_recorded_with_their_event(store: &dyn Store) {
    found(store, ORG).await;
    let user = keyward_core::model::User {
        id: new_id(IdKind::User, &OsRng).unwrap(),
        email: "ada@example.com".into(),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA".into(),
        created_at: at(0),
    };
    let member = keyward_core::model::Member {
        org_id: ORG.into(),
        user_id: user.id.clone(),
        email: user.email.clone(),
        role: keyward_core::role::Role::Owner,
        joined_at: at(0),
    };
    let invitation = keyward_core::model::Invitation {
        id: new_id(IdKind::Invitation, &OsRng).unwrap(),
        org_id: ORG.into(),
        email: user.email.clone(),
        role: member.role,
        created_at: at(0),
        created_by: "tok_creator".into(),
        expires_at: at(3600),
        accepted_at: None,
    };
    let invited = event(AuditAction::InvitationCreated, "invitation", &invitation.id, at(0));
    store.create_invitation(&invitation, &TokenDigest::of("kwi_ada"), &invited).await.unwrap();
    let joined = event(AuditAction::MemberJoined, "user", &user.id, at(1));
    let acceptance = keyward_store::Acceptance {
        invitation_id: &invitation.id,
        at: at(1),
        new_user: Some(&user),
        member: &member,
        event: &joined,
    };
    assert!(store.accept_invitation(&acceptance).await.unwrap());

    let session = Session {
        id: new_id(IdKind::Session, &OsRng).unwrap(),
        user_id: user.id.clone(),
        org_id: ORG.into(),
        created_at: at(5),
        expires_at: at(5 + 3600),
        password_confirmed_at: at(5),
    };
    let digest = TokenDigest::of("kws_ada_session");
    let signed_in = event(AuditAction::SessionSignedIn, "session", &session.id, at(5));
    store.create_session(&session, &digest, &signed_in).await.unwrap();
    assert_eq!(store.find_session(&digest).await.unwrap().unwrap().password_confirmed_at, at(5));

    let granted = event(AuditAction::SessionSudoGranted, "session", &session.id, at(900));
    assert!(!store.confirm_session_password(OTHER_ORG, &session.id, at(900), &granted).await.unwrap());
    assert!(!store.confirm_session_password(ORG, "ses_missing", at(900), &granted).await.unwrap());
    assert_eq!(store.find_session(&digest).await.unwrap().unwrap().password_confirmed_at, at(5));
    assert!(store.confirm_session_password(ORG, &session.id, at(900), &granted).await.unwrap());
    let found = store.find_session(&digest).await.unwrap().unwrap();
    assert_eq!(found.password_confirmed_at, at(900));
    assert_eq!(found.created_at, at(5), "the session itself is unchanged");
    let filter = AuditFilter { action: Some(AuditAction::SessionSudoGranted.to_string()), ..AuditFilter::default() };
    let logged = store.list_audit(ORG, &filter, &PageRequest::first()).await.unwrap().items;
    assert_eq!(logged.len(), 1, "only the confirmation that found its session is logged");
    assert_eq!(logged[0].target_id, session.id);
}
