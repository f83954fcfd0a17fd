//! Reads that gather what one request needs in one call: a session with
//! its membership, and an organization with its keyspaces and people.

use keyward_core::audit::AuditAction;
use keyward_core::id::{new_id, IdKind};
use keyward_core::model::{ServiceAccount, Session};
use keyward_core::role::Role;
use keyward_core::{OsRng, TokenDigest};
use keyward_store::Store;

use crate::account_cases::{found_with_owner, user};
use crate::fixtures::{at, event, found, keyspace, keyspace_in, ORG, OTHER_ORG};

fn session_of(user_id: &str, org: &str) -> Session {
    Session {
        id: new_id(IdKind::Session, &OsRng).unwrap(),
        user_id: user_id.into(),
        org_id: org.into(),
        created_at: at(10),
        expires_at: at(10 + 3600),
        password_confirmed_at: at(10),
    }
}

pub async fn a_session_is_found_with_its_membership_until_that_ends(store: &dyn Store) {
    let ada = user("ada@example.com");
    let owner = found_with_owner(store, &ada).await;
    let session = session_of(&ada.id, ORG);
    let started = event(AuditAction::SessionSignedIn, "session", &session.id, at(10));
    store.create_session(&session, &TokenDigest::of("kws_ada"), &started).await.unwrap();

    let (found_session, member) = store.find_signed_in(&TokenDigest::of("kws_ada")).await.unwrap().unwrap();
    assert_eq!(found_session, session);
    assert_eq!(member, Some(owner));
    assert_eq!(member.map(|m| m.role), Some(Role::Owner));
    assert!(store.find_signed_in(&TokenDigest::of("kws_nobody")).await.unwrap().is_none());

    // A session naming an organization its user does not belong to comes
    // back without a membership, so the caller refuses it.
    found(store, OTHER_ORG).await;
    let stray = session_of(&ada.id, OTHER_ORG);
    let started = event(AuditAction::SessionSignedIn, "session", &stray.id, at(10));
    store.create_session(&stray, &TokenDigest::of("kws_stray"), &started).await.unwrap();
    let (found_stray, none) = store.find_signed_in(&TokenDigest::of("kws_stray")).await.unwrap().unwrap();
    assert_eq!((found_stray, none), (stray, None));
}

pub async fn an_organizations_directory_holds_all_of_its_own_and_nothing_else(store: &dyn Store) {
    let ada = user("ada@example.com");
    let owner = found_with_owner(store, &ada).await;
    // More keyspaces than any page holds: a directory has no page end.
    let count = usize::try_from(keyward_store::MAX_PAGE_SIZE).unwrap() + 3;
    for n in 0..count {
        let made = keyspace(&format!("keyspace {n}"), at(i64::try_from(n).unwrap()));
        store.create_keyspace(&made, &event(AuditAction::KeyspaceCreated, "keyspace", &made.id, at(0))).await.unwrap();
    }
    let account = ServiceAccount {
        id: new_id(IdKind::ServiceAccount, &OsRng).unwrap(),
        org_id: ORG.into(),
        name: "billing deploys".into(),
        created_at: at(1),
        created_by: "tok_creator".into(),
    };
    let made = event(AuditAction::ServiceAccountCreated, "service_account", &account.id, at(1));
    store.create_service_account(&account, &made).await.unwrap();
    found(store, OTHER_ORG).await;
    let foreign = keyspace_in(OTHER_ORG, "theirs", at(5));
    store
        .create_keyspace(&foreign, &event(AuditAction::KeyspaceCreated, "keyspace", &foreign.id, at(5)))
        .await
        .unwrap();

    let directory = store.directory(ORG).await.unwrap();
    assert_eq!(directory.organization.as_ref().map(|o| o.id.as_str()), Some(ORG));
    assert_eq!(directory.keyspaces.len(), count + 1, "every keyspace and the management one");
    assert!(directory.keyspaces.iter().all(|k| k.org_id == ORG));
    let newest_first: Vec<_> = directory.keyspaces.iter().map(|k| (k.created_at, k.id.clone())).collect();
    let mut sorted = newest_first.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(newest_first, sorted, "newest first");
    assert_eq!(directory.members, vec![owner]);
    assert_eq!(directory.service_accounts, vec![account]);

    let nowhere = store.directory("org_00000000000000000000000").await.unwrap();
    assert!(nowhere.organization.is_none() && nowhere.keyspaces.is_empty() && nowhere.members.is_empty());
}
