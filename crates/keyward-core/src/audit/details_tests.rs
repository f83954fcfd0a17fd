//! Each entry against the `json!` object its action carried before details
//! were typed: same keys, same `null`s, same encodings. A change here is a
//! change to what stored rows, webhooks and exports say.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::*;
use crate::clock::micros_to_datetime;
use crate::model::tests_support::record;

fn at(seconds: i64) -> DateTime<Utc> {
    micros_to_datetime(seconds * 1_000_000)
}

fn details(entry: &AuditEntry<'_>) -> Value {
    entry.details().unwrap()
}

fn nets(list: &[&str]) -> Vec<IpNet> {
    list.iter().map(|net| net.parse().unwrap()).collect()
}

#[test]
fn organization_and_keyspace_entries_keep_their_shapes() {
    let ips = nets(&["10.0.0.0/8"]);
    let created = AuditEntry::OrganizationCreated {
        name: "acme",
        admin_token_id: "tok_1",
        admin_expires_at: None,
        admin_allowed_ips: &ips,
        inherited_from_parent: &["expires_at"],
    };
    assert_eq!(created.action(), AuditAction::OrganizationCreated);
    assert_eq!(
        details(&created),
        json!({"name": "acme", "admin_token_id": "tok_1", "admin_expires_at": null,
               "admin_allowed_ips": ips, "inherited_from_parent": ["expires_at"]})
    );
    let prefix = TokenPrefix::new("acme").unwrap();
    let keyspace = AuditEntry::KeyspaceCreated {
        name: "billing",
        environment: Environment::Live,
        prefix: &prefix,
        rotation_period_days: Some(90),
        disable_after_inactive_days: None,
    };
    assert_eq!(
        details(&keyspace),
        json!({"name": "billing", "environment": Environment::Live, "prefix": prefix,
               "rotation_period_days": 90, "disable_after_inactive_days": null})
    );
    assert_eq!(details(&keyspace)["environment"], json!("live"));
    let lifecycle = AuditEntry::KeyspaceLifecycleChanged {
        before: LifecycleDays { rotation_period_days: None, disable_after_inactive_days: Some(30) },
        after: LifecycleDays { rotation_period_days: Some(60), disable_after_inactive_days: None },
    };
    assert_eq!(
        details(&lifecycle),
        json!({"before": {"rotation_period_days": null, "disable_after_inactive_days": 30},
               "after": {"rotation_period_days": 60, "disable_after_inactive_days": null}})
    );
    let catalog = vec![CatalogScope { scope: "invoices:read".into(), description: "Read invoices".into() }];
    let scopes = AuditEntry::KeyspaceScopesChanged { scopes_before: None, scopes_after: Some(&catalog) };
    assert_eq!(details(&scopes), json!({"scopes_before": null, "scopes_after": catalog}));
    let policy = TokenPolicy::default();
    let changed = AuditEntry::PolicyChanged { policy_before: &policy, policy_after: &policy };
    assert_eq!(details(&changed), json!({"policy_before": policy, "policy_after": policy}));
}

#[test]
fn a_setup_mark_is_present_only_at_setup() {
    let renamed = AuditEntry::OrganizationRenamed { name_before: "operator", name_after: "Acme", setup: None };
    assert_eq!(details(&renamed), json!({"name_before": "operator", "name_after": "Acme"}));
    let at_setup = AuditEntry::OrganizationRenamed { name_before: "operator", name_after: "Acme", setup: Some(True) };
    assert_eq!(details(&at_setup), json!({"name_before": "operator", "name_after": "Acme", "setup": true}));
    let invited = AuditEntry::InvitationCreated { email: "a@b.c", role: Role::Admin, expires_at: at(5), setup: None };
    assert_eq!(details(&invited), json!({"email": "a@b.c", "role": Role::Admin, "expires_at": at(5)}));
    assert_eq!(details(&invited)["role"], json!("admin"));
    let first_owner =
        AuditEntry::InvitationCreated { email: "a@b.c", role: Role::Owner, expires_at: at(5), setup: Some(True) };
    assert_eq!(
        details(&first_owner),
        json!({"email": "a@b.c", "role": Role::Owner, "expires_at": at(5), "setup": true})
    );
}

#[test]
fn token_creation_keeps_its_two_shapes() {
    let auto = AutoRotate { webhook_id: "whk_1".into(), grace_period_seconds: 60 };
    let ips = nets(&["192.0.2.0/24"]);
    let scopes = vec!["invoices:read".to_owned()];
    let issued = AuditEntry::TokenCreated {
        keyspace_id: "ks_1",
        name: "ci",
        owner: "usr_1",
        scopes: &scopes,
        allowed_ips: &ips,
        expires_at: Some(at(9)),
        rotation_period_days: None,
        auto_rotate: Some(&auto),
        parent_token_id: None,
        inherited_from_parent: &[],
    };
    assert_eq!(issued.action(), AuditAction::TokenCreated);
    assert_eq!(
        details(&issued),
        json!({"keyspace_id": "ks_1", "name": "ci", "owner": "usr_1", "scopes": scopes, "allowed_ips": ips,
               "expires_at": at(9), "rotation_period_days": null, "auto_rotate": auto, "parent_token_id": null,
               "inherited_from_parent": Vec::<&str>::new()})
    );
    let successor = AuditEntry::TokenCreatedByRotation {
        keyspace_id: "ks_1",
        name: "ci",
        owner: "usr_1",
        scopes: &scopes,
        allowed_ips: &[],
        expires_at: None,
        rotated_from: "tok_old",
        parent_token_id: Some("tok_parent"),
        inherited_from_parent: &["allowed_ips"],
    };
    assert_eq!(successor.action(), AuditAction::TokenCreated);
    assert_eq!(
        details(&successor),
        json!({"keyspace_id": "ks_1", "name": "ci", "owner": "usr_1", "scopes": scopes, "allowed_ips": [],
               "expires_at": null, "rotated_from": "tok_old", "parent_token_id": "tok_parent",
               "inherited_from_parent": ["allowed_ips"]})
    );
}

#[test]
fn a_token_update_names_only_what_changed() {
    let nothing = AuditEntry::TokenUpdated {
        name: None,
        metadata_replaced: None,
        allowed_ips: None,
        rotation_period_days: None,
        auto_rotate: None,
        scopes: None,
    };
    assert_eq!(details(&nothing), json!({}));
    let before = vec!["a:read".to_owned()];
    let after = vec!["a:read".to_owned(), "a:write".to_owned()];
    let ips = nets(&["203.0.113.0/24"]);
    let everything = AuditEntry::TokenUpdated {
        name: Some("renamed"),
        metadata_replaced: Some(True),
        allowed_ips: Some(&ips),
        rotation_period_days: Some(None),
        auto_rotate: Some(None),
        scopes: Some(ScopesChanged { scopes_before: &before, scopes_after: &after, broadened: true }),
    };
    assert_eq!(
        details(&everything),
        json!({"name": "renamed", "metadata_replaced": true, "allowed_ips": ips, "rotation_period_days": null,
               "auto_rotate": null, "scopes_before": before, "scopes_after": after, "broadened": true})
    );
    let auto = AutoRotate { webhook_id: "whk_1".into(), grace_period_seconds: 0 };
    let set = AuditEntry::TokenUpdated {
        name: None,
        metadata_replaced: None,
        allowed_ips: None,
        rotation_period_days: Some(Some(30)),
        auto_rotate: Some(Some(&auto)),
        scopes: None,
    };
    assert_eq!(details(&set), json!({"rotation_period_days": 30, "auto_rotate": auto}));
}

#[test]
fn revocations_keep_each_of_their_shapes() {
    let alone = AuditEntry::TokenRevoked { reason: RevokedReason::Leaked };
    assert_eq!(details(&alone), json!({"reason": "leaked"}));
    let root = AuditEntry::TokenRevokedWithDescendants {
        reason: RevokedReason::UserAction,
        with_descendants: True,
        customer_tokens: false,
    };
    assert_eq!(details(&root), json!({"reason": "user_action", "with_descendants": true, "customer_tokens": false}));
    let descendant =
        AuditEntry::TokenRevokedWith { reason: RevokedReason::Leaked, revoked_with: "tok_root", parent_token_id: None };
    assert_eq!(details(&descendant), json!({"reason": "leaked", "revoked_with": "tok_root", "parent_token_id": null}));
    let bulk = AuditEntry::TokenRevokedInBulk { reason: RevokedReason::Policy, bulk_event_id: "evt_1" };
    assert_eq!(details(&bulk), json!({"reason": "policy", "bulk_event_id": "evt_1"}));
    let member = AuditEntry::TokenRevokedWithOwner { reason: OwnerGone::MemberRemoved, owner: "usr_1" };
    assert_eq!(details(&member), json!({"reason": "member_removed", "owner": "usr_1"}));
    let account = AuditEntry::TokenRevokedWithOwner { reason: OwnerGone::ServiceAccountRemoved, owner: "sva_1" };
    assert_eq!(details(&account), json!({"reason": "service_account_removed", "owner": "sva_1"}));
    for entry in [alone, root, descendant, bulk, member, account] {
        assert_eq!(entry.action(), AuditAction::TokenRevoked);
    }
    let ids = vec!["tok_1".to_owned()];
    let described = AuditEntry::TokensBulkRevoked {
        owner: Some("usr_1"),
        keyspace_id: None,
        name_prefix: Some("ci-"),
        scope: None,
        ids: &ids,
        reason: RevokedReason::Leaked,
        expected_count: Some(3),
    };
    assert_eq!(
        details(&described),
        json!({"owner": "usr_1", "keyspace_id": null, "name_prefix": "ci-", "scope": null, "ids": ids,
               "reason": "leaked", "expected_count": 3})
    );
}

#[test]
fn switches_and_deletion_keep_their_shapes() {
    assert_eq!(
        details(&AuditEntry::TokenDisabled { reason: DisabledReason::UserAction }),
        json!({"reason": "user_action"})
    );
    assert_eq!(details(&AuditEntry::TokenEnabled {}), json!({}));
    assert_eq!(details(&AuditEntry::WebhookDeleted {}), json!({}));
    assert_eq!(details(&AuditEntry::InvitationRevoked {}), json!({}));
    let token = record(None, None);
    let deleted = AuditEntry::TokenDeleted {
        name: &token.name,
        masked: token.masked(),
        keyspace_id: &token.keyspace_id,
        owner: &token.owner,
        state: token.state_at(0),
        created_at: token.created_at,
    };
    assert_eq!(
        details(&deleted),
        json!({"name": token.name, "masked": token.masked(), "keyspace_id": token.keyspace_id,
               "owner": token.owner, "state": token.state_at(0).as_str(), "created_at": token.created_at})
    );
}

#[test]
fn notices_name_their_token_beside_their_own_facts() {
    let token = record(Some(50_000_000), None);
    let named = || NoticedToken {
        name: &token.name,
        owner: &token.owner,
        keyspace_id: &token.keyspace_id,
        masked: token.masked(),
    };
    let with_token = |mut facts: Value| {
        let object = facts.as_object_mut().unwrap();
        object.insert("name".into(), json!(token.name));
        object.insert("owner".into(), json!(token.owner));
        object.insert("keyspace_id".into(), json!(token.keyspace_id));
        object.insert("masked".into(), json!(token.masked()));
        facts
    };
    let expiring = AuditEntry::TokenExpiring { expires_at: at(50), days_before: 7, token: named() };
    assert_eq!(details(&expiring), with_token(json!({"expires_at": at(50), "days_before": 7})));
    let expired = AuditEntry::TokenExpired { expires_at: at(50), token: named() };
    assert_eq!(details(&expired), with_token(json!({"expires_at": at(50)})));
    let warning = AuditEntry::TokenInactivityWarning {
        disables_at: at(90),
        days_before: 3,
        last_activity_at: at(1),
        token: named(),
    };
    assert_eq!(
        details(&warning),
        with_token(json!({"disables_at": at(90), "days_before": 3, "last_activity_at": at(1)}))
    );
    let idle = AuditEntry::TokenDisabledInactive {
        reason: DisabledReason::Inactivity,
        last_activity_at: at(1),
        token: named(),
    };
    assert_eq!(details(&idle), with_token(json!({"reason": "inactivity", "last_activity_at": at(1)})));
    let due = AuditEntry::TokenRotationDue { due_at: at(80), rotation_period_days: 90, token: named() };
    assert_eq!(details(&due), with_token(json!({"due_at": at(80), "rotation_period_days": 90})));
}

#[test]
fn rotation_entries_keep_their_shapes() {
    let rotated = AuditEntry::TokenRotated { replaced_by: "tok_new", grace_period_seconds: 0, grace_ends_at: None };
    assert_eq!(details(&rotated), json!({"replaced_by": "tok_new", "grace_period_seconds": 0, "grace_ends_at": null}));
    let grace = AuditEntry::TokenGraceChanged { grace_ends_at_before: Some(at(4)), requested_grace_ends_at: at(8) };
    assert_eq!(details(&grace), json!({"grace_ends_at_before": at(4), "requested_grace_ends_at": at(8)}));
    let scopes = vec!["a:read".to_owned()];
    let auto = AuditEntry::TokenAutoRotated {
        rotated_from: "tok_old",
        name: "ci",
        owner: "usr_1",
        keyspace_id: "ks_1",
        scopes: &scopes,
        masked: "kw_test_…abcd".into(),
        expires_at: None,
        old_token_grace_ends_at: Some(at(3)),
        webhook_id: "whk_1",
    };
    assert_eq!(
        details(&auto),
        json!({"rotated_from": "tok_old", "name": "ci", "owner": "usr_1", "keyspace_id": "ks_1", "scopes": scopes,
               "masked": "kw_test_…abcd", "expires_at": null, "old_token_grace_ends_at": at(3),
               "webhook_id": "whk_1"})
    );
    let reused = AuditEntry::TokenReusedAfterRotation {
        replaced_by: Some("tok_new"),
        stopped_verifying_at: at(1),
        attempts: 4,
        first_attempt_at: at(2),
        last_attempt_at: at(3),
        user_agent: None,
    };
    assert_eq!(
        details(&reused),
        json!({"replaced_by": "tok_new", "stopped_verifying_at": at(1), "attempts": 4,
               "first_attempt_at": at(2), "last_attempt_at": at(3), "user_agent": null})
    );
}

#[test]
fn account_entries_keep_their_shapes() {
    let joined =
        AuditEntry::MemberJoined { email: "a@b.c", role: Role::Developer, invitation_id: "inv_1", new_account: true };
    assert_eq!(
        details(&joined),
        json!({"email": "a@b.c", "role": "developer", "invitation_id": "inv_1", "new_account": true})
    );
    let changed =
        AuditEntry::MemberRoleChanged { email: "a@b.c", role_before: Role::Developer, role_after: Role::Admin };
    assert_eq!(details(&changed), json!({"email": "a@b.c", "role_before": "developer", "role_after": "admin"}));
    let granted = AuditEntry::SessionSudoGranted { window_seconds: 300, until: at(300) };
    assert_eq!(details(&granted), json!({"window_seconds": 300, "until": at(300)}));
    let failed = AuditEntry::SessionSudoFailed { reason: SudoFailure::WrongPassword };
    assert_eq!(details(&failed), json!({"reason": "wrong_password"}));
    let signed_in = AuditEntry::SessionSignedIn {
        email: "a@b.c",
        session_id: "ses_1",
        method: "password",
        user_agent: None,
        expires_at: at(10),
    };
    assert_eq!(
        details(&signed_in),
        json!({"email": "a@b.c", "session_id": "ses_1", "method": "password", "user_agent": null,
               "expires_at": at(10)})
    );
    let failed =
        AuditEntry::SessionSignInFailed { email: None, reason: "invalid_credentials", user_agent: Some("curl/8") };
    assert_eq!(details(&failed), json!({"email": null, "reason": "invalid_credentials", "user_agent": "curl/8"}));
    let password = AuditEntry::PasswordChanged {
        email: "a@b.c",
        session_id: "ses_1",
        user_agent: Some("curl/8"),
        other_sessions_ended: True,
    };
    assert_eq!(
        details(&password),
        json!({"email": "a@b.c", "session_id": "ses_1", "user_agent": "curl/8", "other_sessions_ended": true})
    );
}

#[test]
fn security_entries_keep_their_shapes() {
    let call =
        RefusedCall { method: "GET", route: "/v1/tokens/{id}", code: "not_found", caller_organization_id: "org_2" };
    let expected =
        json!({"method": "GET", "route": "/v1/tokens/{id}", "code": "not_found", "caller_organization_id": "org_2"});
    assert_eq!(details(&AuditEntry::CrossTenantProbe(call.clone())), expected);
    assert_eq!(AuditEntry::CrossTenantProbe(call.clone()).action(), AuditAction::CrossTenantProbe);
    assert_eq!(AuditEntry::AccessDenied(call).action(), AuditAction::AccessDenied);
    let suppressed = AuditEntry::SecurityEventsSuppressed {
        summary: "7 more",
        action: AuditAction::SessionSignInFailed,
        suppressed: 7,
        written: 20,
        window_start: at(0),
        window_end: at(60),
    };
    assert_eq!(
        details(&suppressed),
        json!({"summary": "7 more", "action": "session.sign_in_failed", "suppressed": 7, "written": 20,
               "window_start": at(0), "window_end": at(60)})
    );
    let spraying = AuditEntry::TokenSpraying {
        summary: "1,500 unknown tokens",
        unknown_tokens: 1500,
        source: "203.0.113.9",
        window_start: at(0),
        window_end: at(60),
        window_seconds: 60,
        threshold: 1000,
        presented_to: "verify",
    };
    assert_eq!(
        details(&spraying),
        json!({"summary": "1,500 unknown tokens", "unknown_tokens": 1500, "source": "203.0.113.9",
               "window_start": at(0), "window_end": at(60), "window_seconds": 60, "threshold": 1000,
               "presented_to": "verify"})
    );
}
