//! Cases for people: users, memberships, invitations, sessions and service
//! accounts, and what their removal revokes.

use keyward_core::audit::AuditAction;
use keyward_core::id::{new_id, IdKind};
use keyward_core::model::{AuditEvent, Invitation, Member, RevokedReason, ServiceAccount, Session, TokenRecord, User};
use keyward_core::role::Role;
use keyward_core::{OsRng, TokenDigest};
use keyward_store::{Acceptance, AuditFilter, Founding, PageRequest, Store, StoreError};

use crate::fixtures::{at, created, event, found, founding_parts, keyspace, token, ORG, OTHER_ORG};

pub(crate) fn user(email: &str) -> User {
    User {
        id: new_id(IdKind::User, &OsRng).unwrap(),
        email: email.into(),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA".into(),
        created_at: at(0),
    }
}

fn member(org: &str, user: &User, role: Role) -> Member {
    Member { org_id: org.into(), user_id: user.id.clone(), email: user.email.clone(), role, joined_at: at(0) }
}

fn invitation(org: &str, email: &str, role: Role, expires_after: i64) -> (Invitation, TokenDigest) {
    let id = new_id(IdKind::Invitation, &OsRng).unwrap();
    let digest = TokenDigest::of(&format!("kwi_secret_of_{id}"));
    let invitation = Invitation {
        id,
        org_id: org.into(),
        email: email.into(),
        role,
        created_at: at(1),
        created_by: "tok_creator".into(),
        expires_at: at(expires_after),
        accepted_at: None,
    };
    (invitation, digest)
}

/// Founds [`ORG`] with `owner` as its first owner, the way open sign-up does.
pub(crate) async fn found_with_owner(store: &dyn Store, owner: &User) -> Member {
    let parts = founding_parts(ORG, ORG, at(-100));
    let membership = member(ORG, owner, Role::Owner);
    let founding = Founding {
        organization: &parts.organization,
        keyspace: &parts.keyspace,
        admin: None,
        owner: Some((owner, &membership)),
        event: &parts.event,
    };
    store.create_organization(&founding).await.unwrap();
    membership
}

/// Joins `user` to [`ORG`] as `role` through an invitation.
async fn join(store: &dyn Store, user: &User, role: Role, new_user: bool) -> Member {
    let (invitation, digest) = invitation(ORG, &user.email, role, 1000);
    let invited = event(AuditAction::InvitationCreated, "invitation", &invitation.id, at(1));
    store.create_invitation(&invitation, &digest, &invited).await.unwrap();
    let membership = member(ORG, user, role);
    let joined = event(AuditAction::MemberJoined, "user", &user.id, at(2));
    let acceptance = Acceptance {
        invitation_id: &invitation.id,
        at: at(2),
        new_user: new_user.then_some(user),
        member: &membership,
        event: &joined,
    };
    assert!(store.accept_invitation(&acceptance).await.unwrap());
    membership
}

async fn actions_in(store: &dyn Store, org: &str, target: &str) -> Vec<AuditAction> {
    let filter = AuditFilter { target_id: Some(target.into()), ..AuditFilter::default() };
    let events = store.list_audit(org, &filter, &PageRequest::first()).await.unwrap().items;
    events.into_iter().map(|e| e.action).collect()
}

fn revocation(reason: &'static str) -> impl Fn(&TokenRecord) -> Result<AuditEvent, StoreError> + Send + Sync {
    move |token| {
        let mut revoked = event(AuditAction::TokenRevoked, "token", &token.id, at(50));
        revoked.details = serde_json::json!({ "reason": reason });
        Ok(revoked)
    }
}

pub async fn users_invitations_and_sessions_round_trip(store: &dyn Store) {
    let ada = user("ada@example.com");
    let owner = found_with_owner(store, &ada).await;
    assert_eq!(store.find_user_by_email("ada@example.com").await.unwrap().as_ref(), Some(&ada));
    assert_eq!(store.get_user(&ada.id).await.unwrap().as_ref(), Some(&ada));
    assert!(store.find_user_by_email("nobody@example.com").await.unwrap().is_none());
    assert_eq!(store.memberships_of(&ada.id).await.unwrap(), vec![owner.clone()]);
    assert_eq!(store.get_member(ORG, &ada.id).await.unwrap().as_ref(), Some(&owner));

    let (pending, bob) = an_invitation_is_spent_once(store, &owner).await;
    let (twice, twice_digest) = refused_acceptances_write_nothing(store, &bob).await;

    // Withdrawing: only pending ones, only in their own organization.
    let withdraw = event(AuditAction::InvitationRevoked, "invitation", &twice.id, at(8));
    assert!(!store.revoke_invitation(OTHER_ORG, &twice.id, &withdraw).await.unwrap());
    assert!(store.revoke_invitation(ORG, &twice.id, &withdraw).await.unwrap());
    assert!(store.find_invitation(&twice_digest).await.unwrap().is_none());
    assert!(!store.revoke_invitation(ORG, &pending.id, &withdraw).await.unwrap(), "an accepted one stays");

    sessions_are_found_until_deleted(store, &bob).await;

    // Another tenant sees none of it.
    found(store, OTHER_ORG).await;
    assert!(store.get_member(OTHER_ORG, &bob.id).await.unwrap().is_none());
    assert!(store.list_members(OTHER_ORG).await.unwrap().is_empty());
}

/// Invites Bob as a developer and has him accept, once: the invitation
/// and Bob.
async fn an_invitation_is_spent_once(store: &dyn Store, owner: &Member) -> (Invitation, User) {
    // A pending invitation is found by digest and listed until it expires.
    let (pending, digest) = invitation(ORG, "bob@example.com", Role::Developer, 100);
    store
        .create_invitation(&pending, &digest, &event(AuditAction::InvitationCreated, "invitation", &pending.id, at(1)))
        .await
        .unwrap();
    assert_eq!(store.find_invitation(&digest).await.unwrap().as_ref(), Some(&pending));
    assert_eq!(store.list_pending_invitations(ORG, at(99)).await.unwrap(), vec![pending.clone()]);
    assert!(store.list_pending_invitations(ORG, at(100)).await.unwrap().is_empty(), "expired at expires_at");
    assert!(store.list_pending_invitations(OTHER_ORG, at(99)).await.unwrap().is_empty());

    // Accepting spends it once; a second acceptance loses.
    let bob = user("bob@example.com");
    // Joined after the owner, so the oldest-first order is not a tie.
    let bob_member = Member { joined_at: at(5), ..member(ORG, &bob, Role::Developer) };
    let joined = event(AuditAction::MemberJoined, "user", &bob.id, at(5));
    let acceptance =
        Acceptance { invitation_id: &pending.id, at: at(5), new_user: Some(&bob), member: &bob_member, event: &joined };
    assert!(store.accept_invitation(&acceptance).await.unwrap());
    let mut again_event = joined.clone();
    again_event.id = new_id(IdKind::Event, &OsRng).unwrap();
    let again = Acceptance { event: &again_event, new_user: None, ..acceptance };
    assert!(!store.accept_invitation(&again).await.unwrap(), "single use");
    assert_eq!(store.find_invitation(&digest).await.unwrap().unwrap().accepted_at, Some(at(5)));
    assert!(store.list_pending_invitations(ORG, at(6)).await.unwrap().is_empty());
    assert_eq!(store.list_members(ORG).await.unwrap(), vec![owner.clone(), bob_member.clone()]);
    assert_eq!(actions_in(store, ORG, &bob.id).await, [AuditAction::MemberJoined]);
    (pending, bob)
}

/// An expired invitation and a second membership are refused, writing
/// nothing: the invitation that would have made Bob a member twice.
async fn refused_acceptances_write_nothing(store: &dyn Store, bob: &User) -> (Invitation, TokenDigest) {
    // An expired invitation cannot be accepted, and accepting writes nothing.
    let (late, late_digest) = invitation(ORG, "cy@example.com", Role::Viewer, 10);
    store
        .create_invitation(&late, &late_digest, &event(AuditAction::InvitationCreated, "invitation", &late.id, at(1)))
        .await
        .unwrap();
    let cy = user("cy@example.com");
    let cy_member = member(ORG, &cy, Role::Viewer);
    let cy_joined = event(AuditAction::MemberJoined, "user", &cy.id, at(10));
    let expired =
        Acceptance { invitation_id: &late.id, at: at(10), new_user: Some(&cy), member: &cy_member, event: &cy_joined };
    assert!(!store.accept_invitation(&expired).await.unwrap());
    assert!(store.find_user_by_email("cy@example.com").await.unwrap().is_none());

    // Joining twice is a conflict that leaves the invitation unspent.
    let (twice, twice_digest) = invitation(ORG, "bob@example.com", Role::Admin, 1000);
    store
        .create_invitation(
            &twice,
            &twice_digest,
            &event(AuditAction::InvitationCreated, "invitation", &twice.id, at(1)),
        )
        .await
        .unwrap();
    let bob_again = member(ORG, bob, Role::Admin);
    let dup_event = event(AuditAction::MemberJoined, "user", &bob.id, at(7));
    let duplicate =
        Acceptance { invitation_id: &twice.id, at: at(7), new_user: None, member: &bob_again, event: &dup_event };
    assert!(matches!(store.accept_invitation(&duplicate).await, Err(StoreError::Conflict(_))));
    assert_eq!(store.find_invitation(&twice_digest).await.unwrap().unwrap().accepted_at, None);
    assert_eq!(store.get_member(ORG, &bob.id).await.unwrap().unwrap().role, Role::Developer);
    (twice, twice_digest)
}

async fn sessions_are_found_until_deleted(store: &dyn Store, bob: &User) {
    // Sessions are found by digest until deleted.
    let session = Session {
        id: new_id(IdKind::Session, &OsRng).unwrap(),
        user_id: bob.id.clone(),
        org_id: ORG.into(),
        created_at: at(5),
        expires_at: at(5 + 3600),
        password_confirmed_at: at(5),
    };
    let session_digest = TokenDigest::of("kws_session_secret");
    let signed_in = event(AuditAction::SessionSignedIn, "session", &session.id, at(5));
    store.create_session(&session, &session_digest, &signed_in).await.unwrap();
    assert_eq!(store.find_session(&session_digest).await.unwrap().as_ref(), Some(&session));
    let signed_out = event(AuditAction::SessionSignedOut, "session", &session.id, at(6));
    assert!(store.delete_session(&session_digest, Some(&signed_out)).await.unwrap());
    let twice = AuditEvent { id: new_id(IdKind::Event, &OsRng).unwrap(), ..signed_out.clone() };
    assert!(!store.delete_session(&session_digest, Some(&twice)).await.unwrap());
    assert!(store.find_session(&session_digest).await.unwrap().is_none());
    assert_eq!(
        actions_in(store, ORG, &session.id).await,
        [AuditAction::SessionSignedOut, AuditAction::SessionSignedIn],
        "the start and one end are logged, a second sign-out is not"
    );
}

pub async fn the_last_owner_stays_and_removal_revokes_what_a_member_owns(store: &dyn Store) {
    let ada = user("ada@example.com");
    found_with_owner(store, &ada).await;
    let ks = keyspace("payments", at(0));
    store.create_keyspace(&ks, &event(AuditAction::KeyspaceCreated, "keyspace", &ks.id, at(0))).await.unwrap();

    // The only owner can neither step down nor leave; nothing is written.
    let demote = event(AuditAction::MemberRoleChanged, "user", &ada.id, at(3));
    assert!(matches!(store.set_member_role(ORG, &ada.id, Role::Admin, &demote).await, Err(StoreError::Conflict(_))));
    let leave = event(AuditAction::MemberRemoved, "user", &ada.id, at(3));
    let removal = revocation("member_removed");
    assert!(matches!(store.remove_member(ORG, &ada.id, at(3), &leave, &removal).await, Err(StoreError::Conflict(_))));
    assert_eq!(store.get_member(ORG, &ada.id).await.unwrap().unwrap().role, Role::Owner);
    assert!(actions_in(store, ORG, &ada.id).await.is_empty());

    // With a second owner, the first may step down.
    let bea = user("bea@example.com");
    join(store, &bea, Role::Owner, true).await;
    let changed = store.set_member_role(ORG, &ada.id, Role::Admin, &demote).await.unwrap().unwrap();
    assert_eq!(changed.role, Role::Admin);
    assert!(store.set_member_role(OTHER_ORG, &ada.id, Role::Viewer, &demote).await.unwrap().is_none());

    // Removing a member revokes the tokens they own (not others'), ends
    // their sessions, and logs each revocation.
    let dev = user("dev@example.com");
    join(store, &dev, Role::Developer, true).await;
    let (mine, mine_digest) = token(&ks, "mine", &dev.id, at(10));
    let (old, old_digest) = token(&ks, "old", &dev.id, at(11));
    let (theirs, theirs_digest) = token(&ks, "theirs", &bea.id, at(12));
    for (record, digest) in [(&mine, &mine_digest), (&old, &old_digest), (&theirs, &theirs_digest)] {
        store.create_token(record, digest, &created(record), None).await.unwrap();
    }
    store
        .revoke_token(
            ORG,
            &old.id,
            at(20),
            RevokedReason::UserAction,
            &event(AuditAction::TokenRevoked, "token", &old.id, at(20)),
        )
        .await
        .unwrap();
    let session = Session {
        id: new_id(IdKind::Session, &OsRng).unwrap(),
        user_id: dev.id.clone(),
        org_id: ORG.into(),
        created_at: at(10),
        expires_at: at(10 + 3600),
        password_confirmed_at: at(10),
    };
    let started = event(AuditAction::SessionSignedIn, "session", &session.id, at(10));
    store.create_session(&session, &TokenDigest::of("kws_dev_session"), &started).await.unwrap();

    let gone = event(AuditAction::MemberRemoved, "user", &dev.id, at(50));
    assert!(store.remove_member(OTHER_ORG, &dev.id, at(50), &gone, &removal).await.unwrap().is_none());
    let revoked = store.remove_member(ORG, &dev.id, at(50), &gone, &removal).await.unwrap().unwrap();
    assert_eq!(revoked.iter().map(|t| t.record.id.as_str()).collect::<Vec<_>>(), [mine.id.as_str()]);
    assert_eq!(revoked[0].digest, mine_digest, "the digest comes back for cache eviction");
    assert_eq!(store.get_token(ORG, &mine.id).await.unwrap().unwrap().revoked_at(), Some(at(50)));
    assert_eq!(store.get_token(ORG, &old.id).await.unwrap().unwrap().revoked_at(), Some(at(20)), "untouched");
    let reason = |id: String| async move { store.get_token(ORG, &id).await.unwrap().unwrap().revoked_reason() };
    assert_eq!(reason(mine.id.clone()).await, Some(RevokedReason::MemberRemoved));
    assert_eq!(reason(old.id.clone()).await, Some(RevokedReason::UserAction));
    assert_eq!(store.get_token(ORG, &theirs.id).await.unwrap().unwrap().revoked_at(), None);
    assert_eq!(actions_in(store, ORG, &mine.id).await, [AuditAction::TokenRevoked, AuditAction::TokenCreated]);
    assert_eq!(actions_in(store, ORG, &dev.id).await, [AuditAction::MemberRemoved, AuditAction::MemberJoined]);
    assert!(store.get_member(ORG, &dev.id).await.unwrap().is_none());
    assert!(store.find_session(&TokenDigest::of("kws_dev_session")).await.unwrap().is_none());
    assert!(store.remove_member(ORG, &dev.id, at(51), &gone, &removal).await.unwrap().is_none());
    assert!(store.get_user(&dev.id).await.unwrap().is_some(), "the account outlives the membership");
}

pub async fn service_accounts_own_tokens_until_removed(store: &dyn Store) {
    found(store, ORG).await;
    let ks = keyspace("payments", at(0));
    store.create_keyspace(&ks, &event(AuditAction::KeyspaceCreated, "keyspace", &ks.id, at(0))).await.unwrap();
    let account = ServiceAccount {
        id: new_id(IdKind::ServiceAccount, &OsRng).unwrap(),
        org_id: ORG.into(),
        name: "billing deploys".into(),
        created_at: at(1),
        created_by: "tok_creator".into(),
    };
    let made = event(AuditAction::ServiceAccountCreated, "service_account", &account.id, at(1));
    store.create_service_account(&account, &made).await.unwrap();
    let twin = ServiceAccount { id: new_id(IdKind::ServiceAccount, &OsRng).unwrap(), ..account.clone() };
    assert!(matches!(store.create_service_account(&twin, &made).await, Err(StoreError::Conflict(_))));
    assert_eq!(store.get_service_account(ORG, &account.id).await.unwrap().as_ref(), Some(&account));
    assert!(store.get_service_account(OTHER_ORG, &account.id).await.unwrap().is_none());
    assert_eq!(store.list_service_accounts(ORG).await.unwrap(), vec![account.clone()]);

    let (deploy, deploy_digest) = token(&ks, "deploy", &account.id, at(2));
    store.create_token(&deploy, &deploy_digest, &created(&deploy), None).await.unwrap();
    let removed = event(AuditAction::ServiceAccountRemoved, "service_account", &account.id, at(9));
    let removal = revocation("service_account_removed");
    assert!(store.remove_service_account(OTHER_ORG, &account.id, at(9), &removed, &removal).await.unwrap().is_none());
    assert!(store.get_token(ORG, &deploy.id).await.unwrap().unwrap().revoked_at().is_none());
    let revoked = store.remove_service_account(ORG, &account.id, at(9), &removed, &removal).await.unwrap().unwrap();
    assert_eq!(revoked.len(), 1);
    assert_eq!(store.get_token(ORG, &deploy.id).await.unwrap().unwrap().revoked_at(), Some(at(9)));
    assert!(store.list_service_accounts(ORG).await.unwrap().is_empty());
    assert!(store.remove_service_account(ORG, &account.id, at(9), &removed, &removal).await.unwrap().is_none());
}

pub async fn password_changes_end_the_other_sessions(store: &dyn Store) {
    let ada = user("ada@example.com");
    found_with_owner(store, &ada).await;
    let session = |n: i64| Session {
        id: new_id(IdKind::Session, &OsRng).unwrap(),
        user_id: ada.id.clone(),
        org_id: ORG.into(),
        created_at: at(n),
        expires_at: at(n + 3600),
        password_confirmed_at: at(n),
    };
    let (here, elsewhere) = (session(1), session(2));
    for (session, secret) in [(&here, "kws_here"), (&elsewhere, "kws_elsewhere")] {
        let started = event(AuditAction::SessionSignedIn, "session", &session.id, session.created_at);
        store.create_session(session, &TokenDigest::of(secret), &started).await.unwrap();
    }
    let changed = event(AuditAction::PasswordChanged, "user", &ada.id, at(3));
    let new_hash = "$argon2id$v=19$m=19456,t=2,p=1$bmV3c2FsdA$bmV3aGFzaG5ld2hhc2g";
    assert!(store.change_password(&ada.id, new_hash, Some(&here.id), std::slice::from_ref(&changed)).await.unwrap());
    assert_eq!(store.get_user(&ada.id).await.unwrap().unwrap().password_hash, new_hash);
    assert!(store.find_session(&TokenDigest::of("kws_here")).await.unwrap().is_some(), "the changing one stays");
    assert!(store.find_session(&TokenDigest::of("kws_elsewhere")).await.unwrap().is_none(), "the others end");
    assert_eq!(actions_in(store, ORG, &ada.id).await, [AuditAction::PasswordChanged]);
    let nobody = event(AuditAction::PasswordChanged, "user", "usr_nobody", at(4));
    assert!(!store.change_password("usr_nobody", new_hash, None, &[nobody]).await.unwrap());
    assert_eq!(actions_in(store, ORG, "usr_nobody").await, Vec::<AuditAction>::new(), "nothing logged for no one");
}

pub async fn ids_of_other_tenants_are_told_from_missing_ones(store: &dyn Store) {
    let mine = found(store, ORG).await;
    let theirs = found(store, OTHER_ORG).await;
    let (token, digest) = token(&theirs, "theirs", "admin", at(1));
    store.create_token(&token, &digest, &created(&token), None).await.unwrap();
    let holding = |org: &'static str, id: String| async move { store.organizations_holding(org, &id).await.unwrap() };
    assert_eq!(holding(ORG, token.id.clone()).await, [OTHER_ORG]);
    assert!(holding(OTHER_ORG, token.id.clone()).await.is_empty(), "its own organization's");
    assert_eq!(holding(ORG, theirs.id.clone()).await, [OTHER_ORG]);
    assert!(holding(ORG, mine.id.clone()).await.is_empty());
    assert_eq!(holding(ORG, OTHER_ORG.into()).await, [OTHER_ORG]);
    assert!(holding(ORG, ORG.into()).await.is_empty());
    let unknown = new_id(IdKind::Token, &OsRng).unwrap();
    assert!(holding(ORG, unknown).await.is_empty(), "a mistyped id is no probe");
    assert!(holding(ORG, "not an id".into()).await.is_empty());
    let account = ServiceAccount {
        id: new_id(IdKind::ServiceAccount, &OsRng).unwrap(),
        org_id: OTHER_ORG.into(),
        name: "deploys".into(),
        created_at: at(1),
        created_by: "tok_creator".into(),
    };
    let made = AuditEvent {
        org_id: OTHER_ORG.into(),
        ..event(AuditAction::ServiceAccountCreated, "service_account", &account.id, at(1))
    };
    store.create_service_account(&account, &made).await.unwrap();
    assert_eq!(holding(ORG, account.id.clone()).await, [OTHER_ORG]);
}
