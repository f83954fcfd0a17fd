//! The checks several services apply alike (which scopes an actor may
//! grant, which revocation reasons callers may give, how policy breaches
//! are refused, how allowlists are read), kept free of the engine so every
//! service can use them without importing another.

use keyward_core::ip::{self, IpNet};
use keyward_core::model::{Keyspace, RevokedReason};
use keyward_core::policy::{TokenPolicy, Violation};
use keyward_core::scope::{self, management};
use keyward_core::validate::InvalidField;

use crate::actor::Actor;
use crate::error::PolicyProblem;
use crate::EngineError;

/// The scopes `actor` may put on a token of `keyspace`, normalized. A
/// management token carries only known management scopes, and only ones
/// the actor holds itself (no escalation); a customer token carries only
/// customer scopes, each covered by the keyspace's catalog when it has one.
pub(crate) fn grantable_scopes(
    actor: &Actor,
    keyspace: &Keyspace,
    requested: &[String],
) -> Result<Vec<String>, EngineError> {
    if !keyspace.management {
        let scopes = normalize_customer_scopes("scopes", requested)?;
        if let Some(catalog) = &keyspace.scope_catalog {
            if let Some(outside) = scopes.iter().find(|s| !catalog.iter().any(|entry| scope::grants(&entry.scope, s))) {
                const SHOWN: usize = 20;
                let mut known: Vec<&str> = catalog.iter().take(SHOWN).map(|entry| entry.scope.as_str()).collect();
                if catalog.len() > SHOWN {
                    known.push("…");
                }
                return Err(InvalidField::new(
                    "scopes",
                    format!(
                        "`{outside}` is not in the scope catalog of keyspace {}; it offers: {}",
                        keyspace.id,
                        if known.is_empty() { "nothing yet".to_owned() } else { known.join(", ") }
                    ),
                )
                .into());
            }
        }
        return Ok(scopes);
    }
    let scopes = scope::normalize(requested).map_err(|e| InvalidField::new("scopes", e.to_string()))?;
    if let Some(foreign) = scopes.iter().find(|s| !scope::is_management(s)) {
        return Err(InvalidField::new(
            "scopes",
            format!("`{foreign}` is not a management scope; management tokens carry only keyward:* scopes"),
        )
        .into());
    }
    if let Some(unknown) = scopes.iter().find(|s| !management::is_known(s)) {
        return Err(InvalidField::new(
            "scopes",
            format!("`{unknown}` is not a Keyward management scope; known: {}", management::ALL.join(", ")),
        )
        .into());
    }
    // No escalation: a token can only hand out what it holds itself.
    let beyond: Vec<String> = scopes.iter().filter(|s| !actor.holds(s)).cloned().collect();
    if !beyond.is_empty() {
        return Err(EngineError::Escalation { scopes: beyond });
    }
    Ok(scopes)
}

/// Fails for the revocation reasons only Keyward itself records.
pub(crate) fn refuse_reserved_reason(reason: RevokedReason) -> Result<(), InvalidField> {
    match reason {
        RevokedReason::Rotation | RevokedReason::MemberRemoved => Err(InvalidField::new(
            "reason",
            "is set by Keyward itself; use user_action, policy, leaked or suspicious_activity",
        )),
        _ => Ok(()),
    }
}

/// Fails with every broken rule explained, if any.
pub(crate) fn refuse_violations(policy: &TokenPolicy, violations: Vec<Violation>) -> Result<(), EngineError> {
    if violations.is_empty() {
        return Ok(());
    }
    let violations = violations.iter().map(|violation| PolicyProblem::explain(violation, policy)).collect();
    Err(EngineError::PolicyViolation { violations })
}

/// An allowlist as given, parsed.
pub(crate) fn parse_allowed_ips(entries: &[String]) -> Result<Vec<IpNet>, InvalidField> {
    ip::parse_list(entries).map_err(|error| InvalidField::new("allowed_ips", error.to_string()))
}

/// Customer scopes as given, normalized; Keyward's own are refused.
pub(crate) fn normalize_customer_scopes(field: &'static str, scopes: &[String]) -> Result<Vec<String>, InvalidField> {
    let scopes = scope::normalize(scopes).map_err(|e| InvalidField::new(field, e.to_string()))?;
    if let Some(reserved) = scopes.iter().find(|s| scope::is_management(s)) {
        return Err(InvalidField::new(field, format!("`{reserved}` is reserved for Keyward's management keyspace")));
    }
    Ok(scopes)
}
