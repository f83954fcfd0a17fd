//! A management token cannot plant a stronger one: what it mints in the
//! management keyspace expires no later than it and is usable only from
//! its networks; what it planted can be revoked with it; and a signed-in
//! person mints management credentials only shortly after typing their
//! password. On every available store, with a manual clock.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use keyward_core::id::TokenId;
use std::net::IpAddr;

use chrono::Duration;
use keyward_core::audit::AuditAction;
use keyward_core::model::AutoRotate;
use keyward_core::model::RevokedReason;
use keyward_core::role::Role;
use keyward_core::scope::management;
use keyward_core::webhook::MasterKey;
use keyward_core::SeededRng;
use keyward_engine::{
    Actor, EngineConfig, EngineError, Issued, NewToken, NewWebhook, RequestContext, RotationRequest, TokenChanges,
    VerifyCode, VerifyOptions, INHERITED_EXPIRY, INHERITED_NETWORKS, SUDO_WINDOW,
};
use keyward_store::PageRequest;
use support::{harnesses, harnesses_with, Harness};

const LOOPBACK: [u8; 4] = [127, 0, 0, 1];

async fn management_keyspace(h: &Harness) -> String {
    let keyspaces = h.engine.list_keyspaces(&h.admin, &PageRequest::new(Some(100), None)).await.unwrap();
    keyspaces.items.into_iter().find(|k| k.management).unwrap().id
}

fn management_token(keyspace_id: &str, name: &str) -> NewToken {
    NewToken {
        keyspace_id: keyspace_id.into(),
        name: name.into(),
        scopes: vec![management::TOKENS_READ.into(), management::TOKENS_WRITE.into()],
        ..NewToken::default()
    }
}

/// The actor a token's bearer is, presenting it from 127.0.0.1.
async fn acting(h: &Harness, issued: &Issued) -> Actor {
    let address = IpAddr::from(LOOPBACK);
    let principal = h.engine.authenticate(issued.secret.expose(), Some(address)).await.unwrap().unwrap();
    Actor { principal, context: RequestContext { source_ip: Some(address), ..RequestContext::default() } }
}

async fn code_from_loopback(h: &Harness, secret: &str) -> VerifyCode {
    let options = VerifyOptions { client_ip: Some(IpAddr::from(LOOPBACK)), ..VerifyOptions::default() };
    h.engine.verify_with(secret, &options, |verdict| verdict.code).await.unwrap()
}

fn exceeds(result: Result<impl std::fmt::Debug, EngineError>) -> (&'static str, String) {
    match result {
        Err(EngineError::ExceedsParentBounds { field, detail }) => (field, detail),
        other => panic!("expected exceeds_parent_bounds, got {other:?}"),
    }
}

/// The CI token of the report: an hour long, loopback only.
async fn ci_token(h: &Harness, keyspace: &str) -> Issued {
    let input = NewToken {
        expires_in: Some(3600),
        allowed_ips: vec!["127.0.0.1/32".into()],
        ..management_token(keyspace, "ci")
    };
    h.engine.issue_token(&h.admin, input).await.unwrap()
}

#[tokio::test]
async fn a_short_lived_loopback_token_cannot_mint_an_unbounded_management_token() {
    for h in harnesses().await {
        let keyspace = management_keyspace(&h).await;
        let ci = ci_token(&h, &keyspace).await;
        let parent = acting(&h, &ci).await;
        let parent_expiry = ci.record.expires_at.unwrap();

        // Asking for more than the parent has is refused, naming the bound.
        let forever = NewToken { expires_in: Some(10 * 365 * 86_400), ..management_token(&keyspace, "backdoor") };
        let (field, detail) = exceeds(h.engine.issue_token(&parent, forever).await);
        assert_eq!(field, "expires_at", "{}", h.name);
        assert!(detail.contains(&parent_expiry.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)), "{detail}");
        let anywhere = NewToken { allowed_ips: vec!["0.0.0.0/0".into()], ..management_token(&keyspace, "backdoor") };
        let (field, detail) = exceeds(h.engine.issue_token(&parent, anywhere).await);
        assert_eq!(field, "allowed_ips");
        assert!(detail.contains("0.0.0.0/0") && detail.contains("127.0.0.1/32"), "{detail}");
        let one_second_late = NewToken {
            expires_at: Some(parent_expiry + Duration::seconds(1)),
            ..management_token(&keyspace, "backdoor")
        };
        assert_eq!(exceeds(h.engine.issue_token(&parent, one_second_late).await).0, "expires_at");

        // Leaving them open inherits them, and the answer says so.
        let child = h.engine.issue_token(&parent, management_token(&keyspace, "ci child")).await.unwrap();
        assert_eq!(child.inherited_from_parent, vec![INHERITED_EXPIRY, INHERITED_NETWORKS]);
        assert_eq!(child.record.expires_at, Some(parent_expiry));
        assert_eq!(child.record.allowed_ips, ci.record.allowed_ips);
        assert_eq!(child.record.parent_token_id.as_deref(), Some(ci.record.id.as_str()));
        assert_eq!(child.record.created_by, ci.record.id);

        // Narrower is fine and inherits nothing.
        let narrow = NewToken {
            expires_in: Some(60),
            allowed_ips: vec!["127.0.0.1".into()],
            ..management_token(&keyspace, "narrow")
        };
        let narrow = h.engine.issue_token(&parent, narrow).await.unwrap();
        assert!(narrow.inherited_from_parent.is_empty());
        assert_eq!(narrow.record.expires_at, Some(h.engine.clock().now() + Duration::seconds(60)));

        // Customer tokens are the keyspace's business, not bounded by it.
        let customer = NewToken {
            keyspace_id: h.keyspace_id.clone(),
            name: "deploy key".into(),
            scopes: vec!["invoices:read".into()],
            ..NewToken::default()
        };
        let customer = h.engine.issue_token(&parent, customer).await.unwrap();
        assert_eq!(customer.record.expires_at, None);
        assert!(customer.record.allowed_ips.is_empty());
        assert_eq!(customer.record.parent_token_id.as_deref(), Some(ci.record.id.as_str()));

        // Nor can a child be widened later by the token.
        for widened in [vec![], vec!["10.0.0.1".to_owned()]] {
            let changes = TokenChanges { allowed_ips: Some(widened), ..TokenChanges::default() };
            assert_eq!(
                exceeds(h.engine.update_token(&parent, &TokenId::parse(&child.record.id).unwrap(), changes).await).0,
                "allowed_ips"
            );
        }
        let changes = TokenChanges { allowed_ips: Some(vec!["127.0.0.1/32".into()]), ..TokenChanges::default() };
        h.engine.update_token(&parent, &TokenId::parse(&child.record.id).unwrap(), changes).await.unwrap();
        // A person (the admin token here has no bounds) may still widen it.
        let changes = TokenChanges { allowed_ips: Some(vec![]), ..TokenChanges::default() };
        assert!(h
            .engine
            .update_token(&h.admin, &TokenId::parse(&child.record.id).unwrap(), changes)
            .await
            .unwrap()
            .allowed_ips
            .is_empty());

        // The child carries its parent's expiry as a ceiling, so an
        // unbounded rotation of it (a person's, the scheduler's) still ends
        // by then: a longer lifetime asked for is refused, a default capped.
        assert_eq!(child.record.expiry_ceiling, Some(parent_expiry));
        let longer = RotationRequest { grace_period_seconds: 0, expires_in: Some(10 * 86_400) };
        let (field, detail) =
            exceeds(h.engine.rotate_token(&h.admin, &TokenId::parse(&child.record.id).unwrap(), longer).await);
        assert_eq!(field, "expires_at");
        assert!(detail.contains("expiry ceiling"), "{detail}");
        let rotation = RotationRequest { grace_period_seconds: 0, expires_in: None };
        let successor =
            h.engine.rotate_token(&h.admin, &TokenId::parse(&child.record.id).unwrap(), rotation).await.unwrap().issued;
        assert_eq!(
            (successor.record.expires_at, successor.record.expiry_ceiling),
            (Some(parent_expiry), Some(parent_expiry))
        );
        let stored = h.engine.get_token(&h.admin, &TokenId::parse(&successor.record.id).unwrap()).await.unwrap();
        assert_eq!(stored.expiry_ceiling, Some(parent_expiry), "{}: the ceiling is stored", h.name);

        // Rotating itself does not extend it either: the successor ends
        // when the parent did, however long its lifetime was.
        h.at(h.engine.clock().now() + Duration::seconds(1800));
        let longer = RotationRequest { grace_period_seconds: 0, expires_in: Some(7200) };
        assert_eq!(
            exceeds(h.engine.rotate_token(&parent, &TokenId::parse(&ci.record.id).unwrap(), longer).await).0,
            "expires_at"
        );
        let rotation = RotationRequest { grace_period_seconds: 60, expires_in: None };
        let rotated = h.engine.rotate_token(&parent, &TokenId::parse(&ci.record.id).unwrap(), rotation).await.unwrap();
        assert_eq!(rotated.issued.record.expires_at, Some(parent_expiry), "{}", h.name);
        assert_eq!(rotated.issued.inherited_from_parent, vec![INHERITED_EXPIRY]);
        assert_eq!(rotated.issued.record.parent_token_id.as_deref(), Some(ci.record.id.as_str()));
        h.cleanup().await;
    }
}

#[tokio::test]
async fn revoking_with_descendants_takes_planted_management_tokens_at_once_and_keeps_customer_ones() {
    for h in harnesses().await {
        let keyspace = management_keyspace(&h).await;
        let ci = ci_token(&h, &keyspace).await;
        let child = h.engine.issue_token(&acting(&h, &ci).await, management_token(&keyspace, "child")).await.unwrap();
        let child_actor = acting(&h, &child).await;
        let grandchild = h.engine.issue_token(&child_actor, management_token(&keyspace, "grandchild")).await.unwrap();
        let customer = NewToken {
            keyspace_id: h.keyspace_id.clone(),
            name: "deploy key".into(),
            scopes: vec!["invoices:read".into()],
            ..NewToken::default()
        };
        let deploy_key = h.engine.issue_token(&child_actor, customer).await.unwrap();
        let unrelated = h.engine.issue_token(&h.admin, management_token(&keyspace, "unrelated")).await.unwrap();
        // Every one of them is cached as valid before the revocation.
        for token in [&ci, &child, &grandchild, &deploy_key, &unrelated] {
            assert_eq!(code_from_loopback(&h, token.secret.expose()).await, VerifyCode::Valid, "{}", token.record.name);
        }

        // A customer token has nothing to take with it.
        let deploy_key_id = TokenId::parse(&deploy_key.record.id).unwrap();
        let refused = h.engine.revoke_token_with_descendants(&h.admin, &deploy_key_id, RevokedReason::Leaked, true);
        assert!(matches!(refused.await, Err(EngineError::Invalid(field)) if field.field == "with_descendants"));

        h.at(h.engine.clock().now() + Duration::seconds(1));
        let revoked = h
            .engine
            .revoke_token_with_descendants(
                &h.admin,
                &TokenId::parse(&ci.record.id).unwrap(),
                RevokedReason::Leaked,
                false,
            )
            .await
            .unwrap();
        assert_eq!(revoked.token.revoked_reason(), Some(RevokedReason::Leaked));
        let mut taken: Vec<&str> = revoked.descendants.iter().map(|token| token.name.as_str()).collect();
        taken.sort_unstable();
        assert_eq!(taken, vec!["child", "grandchild"], "{}", h.name);
        for gone in [&ci, &child, &grandchild] {
            assert_eq!(code_from_loopback(&h, gone.secret.expose()).await, VerifyCode::Revoked, "{}", gone.record.name);
            assert!(h.engine.authenticate(gone.secret.expose(), Some(IpAddr::from(LOOPBACK))).await.unwrap().is_none());
        }
        assert_eq!(code_from_loopback(&h, deploy_key.secret.expose()).await, VerifyCode::Valid, "customer tokens stay");
        assert_eq!(code_from_loopback(&h, unrelated.secret.expose()).await, VerifyCode::Valid);
        assert_eq!(
            h.actions_on(&grandchild.record.id).await,
            vec![AuditAction::TokenRevoked, AuditAction::TokenCreated]
        );

        // Asked for, the customer tokens the lineage made go too.
        let again = h
            .engine
            .revoke_token_with_descendants(
                &h.admin,
                &TokenId::parse(&ci.record.id).unwrap(),
                RevokedReason::Leaked,
                true,
            )
            .await
            .unwrap();
        assert_eq!(
            again.descendants.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(),
            vec![deploy_key.record.id.as_str()]
        );
        assert_eq!(code_from_loopback(&h, deploy_key.secret.expose()).await, VerifyCode::Revoked);
        assert_eq!(code_from_loopback(&h, unrelated.secret.expose()).await, VerifyCode::Valid);
        h.cleanup().await;
    }
}

#[tokio::test]
async fn a_session_mints_management_tokens_only_shortly_after_typing_its_password() {
    for h in harnesses().await {
        let keyspace = management_keyspace(&h).await;
        let invited = h.engine.invite(&h.admin, "ada@example.com", Role::Admin, None).await.unwrap();
        let context = RequestContext { source_ip: Some(IpAddr::from([192, 0, 2, 1])), ..RequestContext::default() };
        let session = h.engine.accept_invitation(invited.secret.expose(), "correct horse battery staple", &context);
        let session = session.await.unwrap();
        let signed_in = |h: &Harness| {
            let secret = session.secret.expose().to_owned();
            let engine = h.engine.clone();
            let context = context.clone();
            async move { Actor { principal: engine.authenticate_session(&secret).await.unwrap().unwrap(), context } }
        };

        // Just signed in: the password was typed moments ago.
        let fresh = signed_in(&h).await;
        h.engine.issue_token(&fresh, management_token(&keyspace, "laptop cli")).await.unwrap();

        // Past the window, management credentials need the password again;
        // customer tokens do not.
        h.at(h.engine.clock().now() + Duration::from_std(SUDO_WINDOW).unwrap());
        let stale = signed_in(&h).await;
        let refused = h.engine.issue_token(&stale, management_token(&keyspace, "laptop cli 2")).await;
        assert!(matches!(refused, Err(EngineError::SudoRequired { window_seconds: 600 })), "{refused:?}");
        let customer = NewToken {
            keyspace_id: h.keyspace_id.clone(),
            name: "deploy key".into(),
            scopes: vec!["invoices:read".into()],
            ..NewToken::default()
        };
        h.engine.issue_token(&stale, customer).await.unwrap();

        assert!(matches!(h.engine.confirm_password(&stale, "wrong").await, Err(EngineError::InvalidCredentials)));
        h.at(h.engine.clock().now() + Duration::seconds(1));
        let confirmed = h.engine.confirm_password(&stale, "correct horse battery staple").await.unwrap();
        h.engine.issue_token(&confirmed, management_token(&keyspace, "laptop cli 2")).await.unwrap();
        // The window is the session's: the next request sees it open.
        let next = signed_in(&h).await;
        let minted = h.engine.issue_token(&next, management_token(&keyspace, "laptop cli 3")).await.unwrap();
        assert_eq!(minted.record.parent_token_id, None, "a person's mint has no parent token");

        let session_id = next.principal.signed_in().unwrap().session_id.clone();
        let logged: Vec<AuditAction> = h.actions_on(&session_id).await;
        assert_eq!(logged, vec![AuditAction::SessionSudoGranted, AuditAction::SessionSudoFailed], "{}", h.name);
        h.cleanup().await;
    }
}

#[tokio::test]
async fn a_short_lived_operator_token_founds_organizations_whose_admin_it_bounds() {
    for h in harnesses().await {
        let keyspace = management_keyspace(&h).await;
        let input = NewToken {
            scopes: vec![management::ORGANIZATIONS_WRITE.into()],
            expires_in: Some(3600),
            allowed_ips: vec!["127.0.0.1/32".into()],
            ..management_token(&keyspace, "provisioning")
        };
        let provisioning = h.engine.issue_token(&h.admin, input).await.unwrap();
        let parent = acting(&h, &provisioning).await;

        let founded = h.engine.create_organization(&parent, "Acme").await.unwrap();
        let admin = &founded.admin.record;
        assert_eq!(admin.expires_at, provisioning.record.expires_at, "{}", h.name);
        assert_eq!(admin.allowed_ips, provisioning.record.allowed_ips, "{}", h.name);
        assert_eq!(founded.admin.inherited_from_parent, vec![INHERITED_EXPIRY, INHERITED_NETWORKS]);
        // Lineage stays inside an organization: the bound is carried, the link is not.
        assert_eq!(admin.parent_token_id, None);
        assert_eq!(code_from_loopback(&h, founded.admin.secret.expose()).await, VerifyCode::Valid);
        let elsewhere = VerifyOptions { client_ip: Some(IpAddr::from([203, 0, 113, 9])), ..VerifyOptions::default() };
        let code = h.engine.verify_with(founded.admin.secret.expose(), &elsewhere, |verdict| verdict.code).await;
        assert_ne!(code.unwrap(), VerifyCode::Valid, "{}: usable only from the founder's networks", h.name);

        let filter = keyward_store::AuditFilter {
            action: Some(AuditAction::OrganizationCreated.to_string()),
            ..keyward_store::AuditFilter::default()
        };
        let events = h.engine.list_audit(&h.admin, &filter, &PageRequest::first()).await.unwrap().items;
        assert_eq!(events[0].details["inherited_from_parent"], serde_json::json!(["expires_at", "allowed_ips"]));

        // An hour later the founded admin has expired with its founder.
        h.clock.advance_secs(3601);
        assert_eq!(code_from_loopback(&h, founded.admin.secret.expose()).await, VerifyCode::Expired, "{}", h.name);

        // The unbounded operator admin still founds with an unbounded admin.
        let free = h.engine.create_organization(&h.admin, "Globex").await.unwrap();
        assert_eq!((free.admin.record.expires_at, free.admin.record.allowed_ips.len()), (None, 0));
        assert!(free.admin.inherited_from_parent.is_empty());
        assert_eq!(free.admin.record.expiry_ceiling, None);
    }
}

/// The founded admin of a tenant an expiring token made: its automatic
/// rotation (by Keyward, bounded by no token) still ends with its founder,
/// and it cannot invite a person who would outlast it.
#[tokio::test]
async fn a_founded_admin_keeps_its_founders_expiry_through_automatic_rotation_and_invites_nobody() {
    let master_key = MasterKey::generate(&SeededRng::new(5)).unwrap().0;
    let config = EngineConfig { master_key: Some(master_key), ..EngineConfig::default() };
    for h in harnesses_with(config).await {
        let keyspace = management_keyspace(&h).await;
        let input = NewToken {
            scopes: vec![management::ORGANIZATIONS_WRITE.into()],
            expires_in: Some(10 * 86_400),
            allowed_ips: vec!["127.0.0.1/32".into()],
            ..management_token(&keyspace, "provisioning")
        };
        let provisioning = h.engine.issue_token(&h.admin, input).await.unwrap();
        let founder_expiry = provisioning.record.expires_at.unwrap();
        let founded = h.engine.create_organization(&acting(&h, &provisioning).await, "Acme").await.unwrap();
        assert_eq!(founded.admin.record.expiry_ceiling, Some(founder_expiry), "{}", h.name);
        let acme = acting(&h, &founded.admin).await;

        // Nobody joins through it: a membership would outlast its bound.
        for role in [Role::Owner, Role::Viewer] {
            let (field, detail) = exceeds(h.engine.invite(&acme, "mallory@example.com", role, None).await);
            assert_eq!(field, "role", "{}", h.name);
            assert!(detail.contains(role.as_str()) && detail.contains("signed-in session"), "{detail}");
        }
        // An unbounded token of the operator still invites.
        h.engine.invite(&h.admin, "colleague@example.com", Role::Viewer, None).await.unwrap();

        // It opts in to daily automatic rotation, delivered to a hook.
        let hook =
            NewWebhook { url: "https://hooks.acme.example/keyward".into(), description: None, event_types: vec![] };
        let endpoint = h.engine.create_webhook(&acme, hook).await.unwrap().endpoint;
        let auto = AutoRotate { webhook_id: endpoint.id.clone(), grace_period_seconds: 3600 };
        let changes = TokenChanges {
            rotation_period_days: Some(Some(1)),
            auto_rotate: Some(Some(auto)),
            ..TokenChanges::default()
        };
        h.engine.update_token(&acme, &TokenId::parse(&founded.admin.record.id).unwrap(), changes).await.unwrap();

        // Nine and a half days on, Keyward rotates it: the successor's
        // ten-day lifetime is cut to what is left of the founder's.
        h.at(h.engine.clock().now() + Duration::seconds(9 * 86_400 + 43_200));
        let report = h.engine.run_lifecycle().await.unwrap();
        assert_eq!(report.rotated, 1, "{}: {report:?}", h.name);
        let old = h.engine.get_token(&acme, &TokenId::parse(&founded.admin.record.id).unwrap()).await.unwrap();
        let successor = h.engine.get_token(&acme, &TokenId::parse(old.replaced_by().unwrap()).unwrap()).await.unwrap();
        assert_eq!(successor.expires_at, Some(founder_expiry), "{}", h.name);
        assert_eq!(successor.expiry_ceiling, Some(founder_expiry));
        assert_eq!(successor.allowed_ips, provisioning.record.allowed_ips);
        h.cleanup().await;
    }
}

/// A bounded token cannot arrange what it may not do itself: automatic
/// rotation of an unbounded management token (Keyward would make the
/// successor, unbounded, and hand it to the token's endpoint), nor a
/// membership through an invitation it made before such tokens were refused.
#[tokio::test]
async fn a_bounded_token_sets_no_automatic_rotation_beyond_itself_and_its_old_invitations_fail() {
    let master_key = MasterKey::generate(&SeededRng::new(9)).unwrap().0;
    let config = EngineConfig { master_key: Some(master_key), ..EngineConfig::default() };
    for h in harnesses_with(config).await {
        let keyspace = management_keyspace(&h).await;
        let input = NewToken {
            scopes: vec![
                management::TOKENS_READ.into(),
                management::TOKENS_WRITE.into(),
                management::WEBHOOKS_READ.into(),
                management::WEBHOOKS_WRITE.into(),
                management::MEMBERS_WRITE.into(),
            ],
            expires_in: Some(3600),
            allowed_ips: vec!["127.0.0.1/32".into()],
            ..management_token(&keyspace, "ci")
        };
        let ci = h.engine.issue_token(&h.admin, input).await.unwrap();
        let ci_actor = acting(&h, &ci).await;
        let service = h.engine.issue_token(&h.admin, management_token(&keyspace, "service")).await.unwrap();
        let hook = NewWebhook { url: "https://hooks.example.com/ci".into(), description: None, event_types: vec![] };
        let endpoint = h.engine.create_webhook(&ci_actor, hook).await.unwrap().endpoint;
        let auto = AutoRotate { webhook_id: endpoint.id.clone(), grace_period_seconds: 3600 };
        let changes = TokenChanges {
            rotation_period_days: Some(Some(1)),
            auto_rotate: Some(Some(auto.clone())),
            ..TokenChanges::default()
        };
        let (field, _) = exceeds(
            h.engine.update_token(&ci_actor, &TokenId::parse(&service.record.id).unwrap(), changes.clone()).await,
        );
        assert_eq!(field, "auto_rotate", "{}", h.name);
        // Its own child ends with it: automatic rotation of that is fine.
        let child = h.engine.issue_token(&ci_actor, management_token(&keyspace, "ci child")).await.unwrap();
        h.engine.update_token(&ci_actor, &TokenId::parse(&child.record.id).unwrap(), changes.clone()).await.unwrap();
        // A person (here the unbounded admin token) may set it anywhere.
        h.engine.update_token(&h.admin, &TokenId::parse(&service.record.id).unwrap(), changes).await.unwrap();

        // An invitation made while its token was unbounded, accepted after
        // the token was limited to networks: refused.
        let inviter = NewToken {
            scopes: [
                management::KEYSPACES_READ,
                management::TOKENS_READ,
                management::AUDIT_READ,
                management::MEMBERS_READ,
                management::WEBHOOKS_READ,
                management::MEMBERS_WRITE,
            ]
            .map(String::from)
            .to_vec(),
            ..management_token(&keyspace, "inviter")
        };
        let inviter = h.engine.issue_token(&h.admin, inviter).await.unwrap();
        let invited =
            h.engine.invite(&acting(&h, &inviter).await, "viewer@example.com", Role::Viewer, None).await.unwrap();
        let limit = TokenChanges { allowed_ips: Some(vec!["127.0.0.1/32".into()]), ..TokenChanges::default() };
        h.engine.update_token(&h.admin, &TokenId::parse(&inviter.record.id).unwrap(), limit).await.unwrap();
        let accepted = h
            .engine
            .accept_invitation(invited.secret.expose(), "a long enough passphrase", &RequestContext::default())
            .await;
        assert!(matches!(accepted, Err(EngineError::InvitationInvalid)), "{}: {accepted:?}", h.name);
        h.cleanup().await;
    }
}
