//! Engine behaviour over a real SQLite store: organizations founded by the
//! operator and kept apart, scope catalogs, and token policies.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod sqlite_harness;

use keyward_core::id::{KeyspaceId, OrgId, TokenId};
use keyward_core::model::{CatalogScope, RevokedReason};
use keyward_core::policy::TokenPolicy;
use keyward_core::scope::management;
use keyward_engine::{Actor, EngineError, NewToken, RequestContext, TokenChanges, VerifyCode, VerifyOptions};
use keyward_store::{AuditFilter, PageRequest, TokenFilter};
use sqlite_harness::{described, harness, keyspace, scopes, Harness};

/// A second organization founded by the operator, and its admin.
async fn tenant(h: &Harness, name: &str) -> (Actor, String) {
    h.clock.advance_secs(1);
    let founded = h.engine.create_organization(&h.admin, name).await.unwrap();
    let secret = founded.admin.secret.expose().to_owned();
    let principal = h.engine.authenticate(&secret, None).await.unwrap().expect("the new admin authenticates");
    assert_eq!(principal.org_id(), founded.organization.id);
    (Actor { principal, context: RequestContext::default() }, secret)
}

#[tokio::test]
async fn organizations_are_founded_by_the_operator_with_their_own_admin() {
    let h = harness().await;
    let (tenant_admin, _) = tenant(&h, "Acme").await;
    let held = tenant_admin.principal.scopes();
    let held: Vec<&str> = held.iter().map(String::as_str).collect();
    assert_eq!(held, management::ORGANIZATION, "organization admins hold no operator scope");
    assert!(matches!(h.engine.create_organization(&tenant_admin, "Nested").await, Err(EngineError::Forbidden { .. })));
    assert!(matches!(
        h.engine.list_organizations(&tenant_admin, &PageRequest::first()).await,
        Err(EngineError::Forbidden { .. })
    ));
    let own = h.engine.get_organization(&tenant_admin, &OrgId::parse(tenant_admin.org_id()).unwrap()).await.unwrap();
    assert_eq!((own.name.as_str(), own.operator), ("Acme", false));
    assert!(matches!(
        h.engine.get_organization(&tenant_admin, &OrgId::parse(h.admin.org_id()).unwrap()).await,
        Err(EngineError::NotFound("organization"))
    ));
    let all = h.engine.list_organizations(&h.admin, &PageRequest::first()).await.unwrap().items;
    assert_eq!(all.len(), 2);
    assert!(matches!(h.engine.create_organization(&h.admin, " ").await, Err(EngineError::Invalid(_))));

    // The tenant admin cannot mint an operator token: it does not hold the scope.
    let spaces = h.engine.list_keyspaces(&tenant_admin, &PageRequest::first()).await.unwrap().items;
    assert_eq!(spaces.len(), 1, "a new organization sees only its own management keyspace");
    let escalation = h
        .engine
        .issue_token(
            &tenant_admin,
            NewToken {
                keyspace_id: spaces[0].id.clone(),
                name: "operator?".into(),
                scopes: scopes(&[management::ORGANIZATIONS_WRITE]),
                ..NewToken::default()
            },
        )
        .await;
    assert!(matches!(escalation, Err(EngineError::Escalation { .. })), "{escalation:?}");

    let log = h.engine.list_audit(&h.admin, &AuditFilter::default(), &PageRequest::first()).await.unwrap().items;
    assert_eq!(log[0].action.as_str(), "organization.created", "the founding is in the operator's log");
}

#[tokio::test]
async fn one_tenant_finds_nothing_of_another() {
    let h = harness().await;
    let (other, _) = tenant(&h, "Other").await;
    let ours = keyspace(&h, None).await;
    let issued = h
        .engine
        .issue_token(
            &h.admin,
            NewToken {
                keyspace_id: ours.clone(),
                name: "ours".into(),
                scopes: scopes(&["invoices:read"]),
                ..NewToken::default()
            },
        )
        .await
        .unwrap();
    let id = issued.record.id.clone();
    let not_found = |result: Result<_, EngineError>, what: &str| match result {
        Err(EngineError::NotFound(_)) => {}
        other => panic!("{what}: expected NotFound, got {:?}", other.map(|_| ())),
    };
    not_found(h.engine.get_keyspace(&other, &KeyspaceId::parse(&ours).unwrap()).await.map(|_| ()), "get keyspace");
    not_found(h.engine.get_token(&other, &TokenId::parse(&id).unwrap()).await.map(|_| ()), "get token");
    not_found(
        h.engine
            .update_token(
                &other,
                &TokenId::parse(&id).unwrap(),
                TokenChanges { name: Some("x".into()), ..TokenChanges::default() },
            )
            .await
            .map(|_| ()),
        "update token",
    );
    not_found(
        h.engine.revoke_token(&other, &TokenId::parse(&id).unwrap(), RevokedReason::UserAction).await.map(|_| ()),
        "revoke token",
    );
    not_found(
        h.engine
            .issue_token(&other, NewToken { keyspace_id: ours.clone(), name: "in".into(), ..NewToken::default() })
            .await
            .map(|_| ()),
        "issue into a foreign keyspace",
    );
    let listed = h.engine.list_tokens(&other, TokenFilter::default(), &PageRequest::first()).await.unwrap().items;
    assert!(listed.iter().all(|t| t.org_id == other.org_id()));
    let by_target = AuditFilter { target_id: Some(id.clone()), ..AuditFilter::default() };
    assert!(h.engine.list_audit(&other, &by_target, &PageRequest::first()).await.unwrap().items.is_empty());

    // Verification through the other tenant's eyes: as unknown as garbage.
    let secret = issued.secret.expose();
    let foreign = VerifyOptions { org_id: Some(other.org_id()), ..VerifyOptions::default() };
    let code = h.engine.verify_with(secret, &foreign, |verdict| verdict.code).await.unwrap();
    assert_eq!(code, VerifyCode::NotFound);
    let own = VerifyOptions { org_id: Some(h.admin.org_id()), ..VerifyOptions::default() };
    assert_eq!(h.engine.verify_with(secret, &own, |verdict| verdict.code).await.unwrap(), VerifyCode::Valid);
    assert_eq!(
        h.engine.get_token(&h.admin, &TokenId::parse(&id).unwrap()).await.unwrap().name,
        "ours",
        "foreign calls changed nothing"
    );
}

#[tokio::test]
async fn scope_catalogs_are_checked_described_and_replaced_with_an_audit_trail() {
    let h = harness().await;
    let ks = keyspace(&h, Some(vec!["invoices:read", "refunds:*"])).await;
    let issue = |scope: &str| {
        h.engine.issue_token(
            &h.admin,
            NewToken { keyspace_id: ks.clone(), name: "t".into(), scopes: scopes(&[scope]), ..NewToken::default() },
        )
    };
    issue("invoices:read@project/7").await.expect("a binding of a catalog scope");
    issue("refunds:create").await.expect("covered by the catalog's explicit wildcard");
    match issue("invoices:write").await {
        Err(EngineError::Invalid(field)) => {
            assert_eq!(field.field, "scopes");
            assert!(field.message.contains("`invoices:write` is not in the scope catalog"), "{}", field.message);
            assert!(field.message.contains("invoices:read, refunds:*"), "names what is offered: {}", field.message);
        }
        other => panic!("expected a refusal, got {other:?}"),
    }

    let ks_id = KeyspaceId::parse(&ks).unwrap();
    let invalid = |entries: Vec<CatalogScope>| h.engine.replace_scope_catalog(&h.admin, &ks_id, Some(entries));
    for (entries, needle) in [
        (vec![described("invoices:read"), described("invoices:read")], "listed twice"),
        (vec![described("Invoices:Read")], "lowercase"),
        (vec![described("invoices:read@project/1")], "no resource binding"),
        (vec![described("keyward:tokens:write")], "reserved"),
        (
            vec![CatalogScope { scope: "invoices:read".into(), description: "  ".into() }],
            "description of `invoices:read`",
        ),
    ] {
        match invalid(entries).await {
            Err(EngineError::Invalid(field)) => assert!(field.message.contains(needle), "{needle}: {}", field.message),
            other => panic!("{needle}: expected a refusal, got {other:?}"),
        }
    }
    let too_many = (0..=256).map(|n| described(&format!("r{n}:read"))).collect();
    assert!(matches!(invalid(too_many).await, Err(EngineError::Invalid(_))));

    let updated = invalid(vec![described("invoices:write")]).await.unwrap();
    assert_eq!(updated.scope_catalog.unwrap()[0].description, "Lets a token invoices:write");
    issue("invoices:write").await.expect("the new catalog applies at once");
    assert!(matches!(issue("invoices:read").await, Err(EngineError::Invalid(_))));

    let filter = AuditFilter { action: Some("keyspace.scopes_changed".into()), ..AuditFilter::default() };
    let events = h.engine.list_audit(&h.admin, &filter, &PageRequest::first()).await.unwrap().items;
    assert_eq!(events.len(), 1, "refused changes leave no trace");
    assert_eq!(events[0].details["scopes_before"][1]["scope"], "refunds:*");
    assert_eq!(events[0].details["scopes_after"][0]["scope"], "invoices:write");

    let management_ks = h.engine.list_keyspaces(&h.admin, &PageRequest::first()).await.unwrap();
    let management_ks = management_ks.items.iter().find(|k| k.management).unwrap().id.clone();
    assert!(matches!(
        h.engine.replace_scope_catalog(&h.admin, &KeyspaceId::parse(&management_ks).unwrap(), None).await,
        Err(EngineError::Invalid(_))
    ));
    let (other, _) = tenant(&h, "Other").await;
    assert!(matches!(
        h.engine.replace_scope_catalog(&other, &KeyspaceId::parse(&ks).unwrap(), None).await,
        Err(EngineError::NotFound("keyspace"))
    ));
}

#[tokio::test]
async fn token_policies_govern_new_and_changed_tokens_and_report_old_ones() {
    let h = harness().await;
    let ks = keyspace(&h, None).await;
    let new_token = |name: &str, scope: &str| NewToken {
        keyspace_id: ks.clone(),
        name: name.into(),
        scopes: scopes(&[scope]),
        owner: Some("usr_alice".into()),
        allowed_ips: vec!["10.0.0.0/8".into()],
        expires_in: Some(3600),
        ..NewToken::default()
    };
    // Made before the policy: never expires, holds a scope the policy will not grant.
    let old = h
        .engine
        .issue_token(&h.admin, NewToken { expires_in: None, allowed_ips: vec![], ..new_token("old", "users:delete") })
        .await
        .unwrap();

    let invalid =
        TokenPolicy { max_lifetime_seconds: Some(60), default_lifetime_seconds: Some(120), ..TokenPolicy::default() };
    assert!(matches!(h.engine.set_token_policy(&h.admin, invalid).await, Err(EngineError::Invalid(_))));
    let policy = TokenPolicy {
        max_lifetime_seconds: Some(7 * 86_400),
        default_lifetime_seconds: Some(86_400),
        require_expiry: true,
        grantable_scopes: Some(vec!["invoices:*".into()]),
        require_ip_allowlist: true,
        max_active_tokens_per_owner: Some(3),
        max_rotation_grace_seconds: Some(3600),
        disable_after_inactive_days: Some(90),
        warning_days: Some(vec![14, 3]),
        rotation_period_days: Some(30),
    };
    let organization = h.engine.set_token_policy(&h.admin, policy.clone()).await.unwrap();
    assert_eq!(organization.token_policy, policy);

    let codes = |result: Result<keyward_engine::Issued, EngineError>| match result {
        Err(EngineError::PolicyViolation { violations }) => violations.iter().map(|v| v.code).collect::<Vec<_>>(),
        other => panic!("expected a policy violation, got {:?}", other.map(|issued| issued.record.id)),
    };
    h.clock.advance_secs(1);
    let defaulted = h.engine.issue_token(&h.admin, NewToken { expires_in: None, ..new_token("a", "invoices:read") });
    let defaulted = defaulted.await.unwrap();
    assert_eq!(defaulted.record.expires_at, Some(defaulted.record.created_at + chrono::Duration::days(1)));
    let too_long = NewToken { expires_in: Some(7 * 86_400 + 1), ..new_token("b", "invoices:read") };
    assert_eq!(codes(h.engine.issue_token(&h.admin, too_long).await), ["lifetime_too_long"]);
    let at_limit = NewToken { expires_in: Some(7 * 86_400), ..new_token("b", "invoices:read") };
    h.engine.issue_token(&h.admin, at_limit).await.expect("exactly the maximum lifetime");
    let everything_wrong = NewToken { allowed_ips: vec![], ..new_token("c", "users:delete") };
    assert_eq!(
        codes(h.engine.issue_token(&h.admin, everything_wrong).await),
        ["scope_not_grantable", "ip_allowlist_required", "too_many_active_tokens"],
        "alice holds three active tokens already (old, a, b); every broken rule is named"
    );
    let bob = NewToken { owner: Some("usr_bob".into()), ..new_token("d", "invoices:write") };
    h.engine.issue_token(&h.admin, bob).await.expect("another owner has room");

    // Changes may not introduce violations in what they change, but an old
    // violation elsewhere does not block an unrelated change.
    let widen = TokenChanges {
        scopes: Some(scopes(&["refunds:read"])),
        confirm_broader_scopes: true,
        ..TokenChanges::default()
    };
    match h.engine.update_token(&h.admin, &TokenId::parse(&defaulted.record.id).unwrap(), widen).await {
        Err(EngineError::PolicyViolation { violations }) => assert_eq!(violations[0].field, "scopes"),
        other => panic!("expected a policy violation, got {other:?}"),
    }
    let open_up = TokenChanges { allowed_ips: Some(vec![]), ..TokenChanges::default() };
    assert!(matches!(
        h.engine.update_token(&h.admin, &TokenId::parse(&defaulted.record.id).unwrap(), open_up).await,
        Err(EngineError::PolicyViolation { .. })
    ));
    let rename = TokenChanges { name: Some("old, renamed".into()), ..TokenChanges::default() };
    h.engine
        .update_token(&h.admin, &TokenId::parse(&old.record.id).unwrap(), rename)
        .await
        .expect("renaming a violating token is fine");

    // The old token keeps working, and is reported.
    assert!(h.engine.verify(old.secret.expose(), &[]).await.unwrap().is_valid());
    let findings = h.engine.policy_violations(&h.admin, &PageRequest::new(Some(200), None)).await.unwrap().items;
    let old_finding = findings.iter().find(|f| f.token.id == old.record.id).expect("the old token is reported");
    let old_codes: Vec<&str> = old_finding.violations.iter().map(|v| v.code).collect();
    assert_eq!(old_codes, ["expiry_required", "scope_not_grantable", "ip_allowlist_required"]);
    assert!(findings.iter().all(|f| f.token.id != defaulted.record.id), "compliant tokens are not reported");
    let management_admin = findings.iter().find(|f| f.token.management).expect("the bootstrap admin never expires");
    assert_eq!(management_admin.violations[0].code, "expiry_required");

    let log = h
        .engine
        .list_audit(
            &h.admin,
            &AuditFilter { action: Some("organization.policy_changed".into()), ..AuditFilter::default() },
            &PageRequest::first(),
        )
        .await
        .unwrap()
        .items;
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].details["policy_after"]["max_active_tokens_per_owner"], 3);
    assert_eq!(log[0].details["policy_before"]["require_expiry"], false);
}

#[tokio::test]
async fn creations_racing_for_one_owner_stop_at_the_limit() {
    let h = harness().await;
    let ks = keyspace(&h, None).await;
    let policy = TokenPolicy { max_active_tokens_per_owner: Some(2), ..TokenPolicy::default() };
    h.engine.set_token_policy(&h.admin, policy).await.unwrap();
    let attempts = (0..8).map(|n| {
        let token = NewToken {
            keyspace_id: ks.clone(),
            name: format!("racer {n}"),
            scopes: scopes(&["invoices:read"]),
            owner: Some("usr_alice".into()),
            ..NewToken::default()
        };
        h.engine.issue_token(&h.admin, token)
    });
    let results = futures::future::join_all(attempts).await;
    let issued = results.iter().filter(|result| result.is_ok()).count();
    assert_eq!(issued, 2, "the limit holds however the creations interleave");
    for result in results.iter().filter_map(|result| result.as_ref().err()) {
        match result {
            EngineError::PolicyViolation { violations } => assert_eq!(violations[0].code, "too_many_active_tokens"),
            other => panic!("expected the limit, got {other:?}"),
        }
    }
}
