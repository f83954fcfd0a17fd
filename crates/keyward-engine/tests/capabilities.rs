//! The screens show and refuse what `Actor::capabilities` says, so each
//! capability must answer exactly what its service does: for every role,
//! a capability the actor lacks is refused by the real service call on a
//! real store, and one it has is not refused for standing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use keyward_core::id::ServiceAccountId;
use keyward_core::policy::TokenPolicy;
use keyward_core::role::Role;
use keyward_engine::{Actor, Capability, EngineError, NewKeyspace, NewToken, RequestContext};
use keyward_store::{AuditFilter, PageRequest, TokenFilter};
use support::{harnesses, Harness};

const EVERY_CAPABILITY: [Capability; 9] = [
    Capability::ReadTokens,
    Capability::WriteTokens,
    Capability::IssueForOthers,
    Capability::ReadAudit,
    Capability::ReadMembers,
    Capability::ManageMembers,
    Capability::ReadKeyspaces,
    Capability::WriteKeyspaces,
    Capability::SetPolicy,
];

/// A person (`name`) of the harness's organization with `role`, signed in.
async fn signed_in_as(h: &Harness, role: Role, name: &str) -> Actor {
    let email = format!("{name}.{}@example.com", role.as_str());
    let invited = h.engine.invite(&h.admin, &email, role, None).await.unwrap();
    let context = RequestContext::default();
    let session =
        h.engine.accept_invitation(invited.secret.expose(), "correct horse battery staple", &context).await.unwrap();
    let principal = h.engine.authenticate_session(session.secret.expose()).await.unwrap().unwrap();
    Actor { principal, context }
}

/// Runs the service call behind `capability` as `actor`; `service_account`
/// owns the tokens issued for others.
async fn attempt(h: &Harness, actor: &Actor, capability: Capability, service_account: &str) -> Result<(), EngineError> {
    let page = PageRequest::new(Some(10), None);
    let token = |owner: Option<String>| NewToken {
        keyspace_id: h.keyspace_id.clone(),
        name: "capability probe".into(),
        owner,
        ..NewToken::default()
    };
    match capability {
        Capability::ReadTokens => h.engine.list_tokens(actor, TokenFilter::default(), &page).await.map(drop),
        Capability::WriteTokens => h.engine.issue_token(actor, token(None)).await.map(drop),
        Capability::IssueForOthers => {
            h.engine.issue_token(actor, token(Some(service_account.to_owned()))).await.map(drop)
        }
        Capability::ReadAudit => h.engine.list_audit(actor, &AuditFilter::default(), &page).await.map(drop),
        Capability::ReadMembers => h.engine.list_members(actor).await.map(drop),
        // Removing someone who does not exist: past the check, it is not found.
        Capability::ManageMembers => h
            .engine
            .remove_service_account(actor, &ServiceAccountId::parse("sa_0000000000000000000000").unwrap())
            .await
            .map(drop),
        Capability::ReadKeyspaces => h.engine.list_keyspaces(actor, &page).await.map(drop),
        Capability::WriteKeyspaces => {
            let keyspace = NewKeyspace {
                name: format!("probe {}", actor.principal.id()),
                environment: keyward_core::Environment::Test,
                prefix: None,
                default_ttl_seconds: None,
                scope_catalog: None,
                rotation_period_days: None,
                disable_after_inactive_days: None,
            };
            h.engine.create_keyspace(actor, keyspace).await.map(drop)
        }
        Capability::SetPolicy => h.engine.set_token_policy(actor, TokenPolicy::default()).await.map(drop),
    }
}

fn refused_for_standing(result: &Result<(), EngineError>) -> bool {
    matches!(result, Err(EngineError::Forbidden { .. } | EngineError::NotOwner))
}

#[tokio::test]
async fn each_capability_answers_what_its_service_call_does_for_every_role() {
    for h in harnesses().await {
        let service_account = h.engine.create_service_account(&h.admin, "probe").await.unwrap().id;
        let mut actors = vec![("bootstrap token".to_owned(), h.admin.clone())];
        for role in Role::ALL {
            actors.push((role.as_str().to_owned(), signed_in_as(&h, role, "probe").await));
        }
        for (who, actor) in &actors {
            for capability in EVERY_CAPABILITY {
                let result = attempt(&h, actor, capability, &service_account).await;
                let may = actor.may(capability);
                assert_eq!(
                    refused_for_standing(&result),
                    !may,
                    "{}: {who} may {capability:?} = {may}, but the service answered {result:?}",
                    h.name
                );
                if !may {
                    let preflight = actor.require_capability(capability);
                    assert_eq!(
                        std::mem::discriminant(&preflight.err().unwrap()),
                        std::mem::discriminant(&result.err().unwrap()),
                        "{}: {who} is refused {capability:?} up front as the service refuses it",
                        h.name
                    );
                }
            }
        }
        h.cleanup().await;
    }
}

#[tokio::test]
async fn the_named_booleans_agree_with_the_capabilities_they_name() {
    for h in harnesses().await {
        for role in Role::ALL {
            let actor = signed_in_as(&h, role, "named").await;
            let seen = actor.capabilities();
            let named = [
                (Capability::ReadTokens, seen.may_read_tokens),
                (Capability::WriteTokens, seen.may_write_tokens),
                (Capability::IssueForOthers, seen.may_issue_for_others),
                (Capability::ReadAudit, seen.may_read_audit),
                (Capability::ReadMembers, seen.may_read_members),
                (Capability::ManageMembers, seen.may_manage_members),
                (Capability::ReadKeyspaces, seen.may_read_keyspaces),
                (Capability::WriteKeyspaces, seen.may_write_keyspaces),
                (Capability::SetPolicy, seen.may_set_policy),
            ];
            for (capability, answer) in named {
                assert_eq!(actor.may(capability), answer, "{}: {role:?} {capability:?}", h.name);
            }
            assert_eq!(seen.may_manage_everyones_tokens, role.manages_everyones_tokens(), "{role:?}");
        }
        // Developers write their own tokens, never others'.
        let developer = signed_in_as(&h, Role::Developer, "dev").await.capabilities();
        assert!(developer.may_write_tokens && !developer.may_issue_for_others);
        let viewer = signed_in_as(&h, Role::Viewer, "viewer").await.capabilities();
        assert!(viewer.may_read_tokens && !viewer.may_write_tokens && !viewer.may_set_policy);
        h.cleanup().await;
    }
}
