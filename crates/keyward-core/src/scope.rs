//! Scopes: `resource:action` strings (more segments allowed, e.g.
//! `keyward:tokens:write`), optionally bound to named resources with `@`
//! (`invoices:read@project/123`). A wildcard is always explicit: a held
//! scope whose last segment is `*` covers everything below its other
//! segments (`invoices:*` covers `invoices:read`); a binding whose last
//! path segment is `*` covers the resources below it (`@project/*` covers
//! `@project/123`); nothing else is ever implied.
//!
//! An unbound scope covers every resource, so `invoices:read` grants
//! `invoices:read@project/123`. A bound scope grants only within its
//! binding: `invoices:read@project/123` does not grant the unbound
//! `invoices:read`, which asks for all of them.

/// Longest scope accepted, binding included.
pub const MAX_SCOPE_LEN: usize = 200;
/// Most scopes on one token.
pub const MAX_SCOPES: usize = 64;
/// The namespace reserved for Keyward's own management permissions.
pub const MANAGEMENT_NAMESPACE: &str = "keyward:";

/// Keyward's own management scopes.
pub mod management {
    /// Create keyspaces.
    pub const KEYSPACES_WRITE: &str = "keyward:keyspaces:write";
    /// Read keyspaces.
    pub const KEYSPACES_READ: &str = "keyward:keyspaces:read";
    /// Issue, update and revoke tokens.
    pub const TOKENS_WRITE: &str = "keyward:tokens:write";
    /// List and show tokens.
    pub const TOKENS_READ: &str = "keyward:tokens:read";
    /// Call `POST /v1/verify`.
    pub const VERIFY: &str = "keyward:verify";
    /// Read the audit log.
    pub const AUDIT_READ: &str = "keyward:audit:read";

    /// List members, invitations and service accounts.
    pub const MEMBERS_READ: &str = "keyward:members:read";
    /// Invite, change and remove members; create and remove service accounts.
    pub const MEMBERS_WRITE: &str = "keyward:members:write";
    /// Change the organization's token policy.
    pub const POLICIES_WRITE: &str = "keyward:policies:write";
    /// List webhook endpoints and their delivery logs.
    pub const WEBHOOKS_READ: &str = "keyward:webhooks:read";
    /// Register and remove webhook endpoints.
    pub const WEBHOOKS_WRITE: &str = "keyward:webhooks:write";
    /// List and show every organization of the deployment (operator only).
    pub const ORGANIZATIONS_READ: &str = "keyward:organizations:read";
    /// Create organizations (operator only).
    pub const ORGANIZATIONS_WRITE: &str = "keyward:organizations:write";

    /// The scopes that act within one organization: what an organization's
    /// first admin token holds.
    pub const ORGANIZATION: &[&str] = &[
        KEYSPACES_READ,
        KEYSPACES_WRITE,
        TOKENS_READ,
        TOKENS_WRITE,
        VERIFY,
        AUDIT_READ,
        MEMBERS_READ,
        MEMBERS_WRITE,
        POLICIES_WRITE,
        WEBHOOKS_READ,
        WEBHOOKS_WRITE,
    ];

    /// Every management scope: what the operator's first admin token holds.
    pub const ALL: &[&str] = &[
        KEYSPACES_READ,
        KEYSPACES_WRITE,
        TOKENS_READ,
        TOKENS_WRITE,
        VERIFY,
        AUDIT_READ,
        MEMBERS_READ,
        MEMBERS_WRITE,
        POLICIES_WRITE,
        WEBHOOKS_READ,
        WEBHOOKS_WRITE,
        ORGANIZATIONS_READ,
        ORGANIZATIONS_WRITE,
    ];

    /// Whether `scope` is one of [`ALL`], or an explicit wildcard that covers
    /// at least one of them, without a resource binding. Unknown management
    /// scopes are refused rather than stored, so a typo never looks granted.
    pub fn is_known(scope: &str) -> bool {
        !scope.contains('@') && ALL.iter().any(|known| super::grants(scope, known))
    }
}

/// Why a scope string is malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScopeError {
    /// Empty or longer than [`MAX_SCOPE_LEN`].
    #[error("scope must be 1 to {MAX_SCOPE_LEN} characters")]
    Length,
    /// Fewer than two `:`-separated segments.
    #[error("scope `{0}` must have the form resource:action")]
    Segments(String),
    /// A segment with characters outside `a-z 0-9 _ - .`, or empty.
    #[error("scope `{0}` may only use lowercase letters, digits, `_`, `-` and `.` in each segment")]
    Characters(String),
    /// `*` anywhere but as the whole last segment.
    #[error("scope `{0}` may use `*` only as its whole last segment")]
    Wildcard(String),
    /// A malformed resource binding.
    #[error(
        "scope `{0}` has a malformed resource binding: after `@` use `/`-separated names of letters, digits, `_`, `-` and `.`, with `*` only as a whole last segment after a name"
    )]
    Binding(String),
}

/// Checks one scope's syntax.
pub fn validate(scope: &str) -> Result<(), ScopeError> {
    if scope.is_empty() || scope.len() > MAX_SCOPE_LEN {
        return Err(ScopeError::Length);
    }
    let (permission, binding) = split_binding(scope);
    if let Some(binding) = binding {
        let segments: Vec<&str> = binding.split('/').collect();
        let last = segments.len() - 1;
        let valid = segments.iter().enumerate().all(|(index, segment)| {
            (*segment == "*" && index == last && index > 0)
                || (!segment.is_empty()
                    && segment.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.')))
        });
        if !valid {
            return Err(ScopeError::Binding(scope.to_owned()));
        }
    }
    let segments: Vec<&str> = permission.split(':').collect();
    if segments.len() < 2 {
        return Err(ScopeError::Segments(scope.to_owned()));
    }
    let last = segments.len() - 1;
    for (index, segment) in segments.iter().enumerate() {
        if *segment == "*" {
            if index != last || index == 0 {
                return Err(ScopeError::Wildcard(scope.to_owned()));
            }
            continue;
        }
        if segment.contains('*') {
            return Err(ScopeError::Wildcard(scope.to_owned()));
        }
        let valid = !segment.is_empty()
            && segment.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'-' | b'.'));
        if !valid {
            return Err(ScopeError::Characters(scope.to_owned()));
        }
    }
    Ok(())
}

/// Splits `invoices:read@project/1` into the permission and the binding.
#[inline]
pub fn split_binding(scope: &str) -> (&str, Option<&str>) {
    match scope.split_once('@') {
        Some((permission, binding)) => (permission, Some(binding)),
        None => (scope, None),
    }
}

/// `held` covers `required` when equal, or when `held` ends in the explicit
/// wildcard `<separator>*` and `required` continues strictly past its stem.
#[inline]
fn covers(held: &str, required: &str, separator: char) -> bool {
    if held == required {
        return true;
    }
    match held.strip_suffix('*') {
        Some(stem) if stem.ends_with(separator) => required.len() > stem.len() && required.starts_with(stem),
        _ => false,
    }
}

/// Whether `held` grants `required` (see the module docs for the rules).
#[inline]
pub fn grants(held: &str, required: &str) -> bool {
    if held == required {
        return true;
    }
    let (held_permission, held_binding) = split_binding(held);
    let (required_permission, required_binding) = split_binding(required);
    if !covers(held_permission, required_permission, ':') {
        return false;
    }
    match (held_binding, required_binding) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some(held), Some(required)) => covers(held, required, '/'),
    }
}

/// Every held scope that would grant `required`, and nothing else: its
/// permission or an explicit wildcard above it, combined with no binding,
/// the same binding, or a binding wildcard above it. `grants(h, required)`
/// holds exactly when `h` is in this list (a property test pins that), so a
/// verifier can precompute the list once and answer by equality alone.
pub fn grantors(required: &str) -> Vec<String> {
    fn covering(text: &str, separator: char) -> impl Iterator<Item = String> + '_ {
        let wildcards = text
            .char_indices()
            .filter(move |(at, c)| *c == separator && at + 1 < text.len())
            .map(|(at, _)| format!("{}*", &text[..=at]));
        std::iter::once(text.to_owned()).chain(wildcards)
    }
    let (permission, binding) = split_binding(required);
    let mut found = Vec::new();
    for held_permission in covering(permission, ':') {
        if let Some(binding) = binding {
            found.extend(covering(binding, '/').map(|held_binding| format!("{held_permission}@{held_binding}")));
        }
        found.push(held_permission);
    }
    found
}

/// Whether any of `held` grants `required`. Exact holdings are looked for
/// first: every management call asks this of its caller's scopes, which
/// almost always name the scope needed outright, and equality rejects most
/// strings on their length alone.
#[inline]
pub fn any_grants<H: AsRef<str>>(held: &[H], required: &str) -> bool {
    held.iter().any(|have| have.as_ref() == required) || held.iter().any(|have| grants(have.as_ref(), required))
}

/// Whether `held` grants every required scope (no allocation).
#[inline]
pub fn grants_all<H: AsRef<str>>(held: &[H], required: &[String]) -> bool {
    required.iter().all(|needed| held.iter().any(|have| grants(have.as_ref(), needed)))
}

/// The required scopes that `held` does not grant, in the order asked.
pub fn missing<'a, H: AsRef<str>>(held: &[H], required: &'a [String]) -> Vec<&'a str> {
    required
        .iter()
        .filter(|needed| !held.iter().any(|have| grants(have.as_ref(), needed)))
        .map(String::as_str)
        .collect()
}

/// Whether a scope lies in Keyward's reserved management namespace.
pub fn is_management(scope: &str) -> bool {
    scope.starts_with(MANAGEMENT_NAMESPACE)
}

/// Validates a requested list: syntax of each, count, and no duplicates
/// (a duplicate is almost always a typo somewhere else). Returns the list
/// in a stable order.
pub fn normalize(scopes: &[String]) -> Result<Vec<String>, ScopeError> {
    if scopes.len() > MAX_SCOPES {
        return Err(ScopeError::Length);
    }
    for scope in scopes {
        validate(scope)?;
    }
    let mut sorted = scopes.to_vec();
    sorted.sort();
    sorted.dedup();
    Ok(sorted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn syntax() {
        for good in ["invoices:read", "invoices:*", "keyward:tokens:write", "a.b:c-d_e", "x:y:*"] {
            assert_eq!(validate(good), Ok(()), "{good}");
        }
        assert_eq!(validate(""), Err(ScopeError::Length));
        assert!(matches!(validate("invoices"), Err(ScopeError::Segments(_))));
        assert!(matches!(validate("Invoices:read"), Err(ScopeError::Characters(_))));
        assert!(matches!(validate("invoices::read"), Err(ScopeError::Characters(_))));
        assert!(matches!(validate("*:read"), Err(ScopeError::Wildcard(_))));
        assert!(matches!(validate("invoices:re*"), Err(ScopeError::Wildcard(_))));
        assert!(matches!(validate("invoices:*:read"), Err(ScopeError::Wildcard(_))));
        assert_eq!(validate(&"a:".repeat(101)), Err(ScopeError::Length));
        for good in ["invoices:read@project/123", "invoices:*@project/*", "a:b@Org_1/proj.x/run-2"] {
            assert_eq!(validate(good), Ok(()), "{good}");
        }
        for bad in ["invoices:read@", "invoices:read@*", "a:b@x//y", "a:b@x/*/y", "a:b@x y", "a:b@x@y", "a:b@x/y*"] {
            assert!(matches!(validate(bad), Err(ScopeError::Binding(_))), "{bad}");
        }
        assert!(matches!(validate("invoices@project/1"), Err(ScopeError::Segments(_))));
    }

    #[test]
    fn management_scopes_must_be_known() {
        for known in ["keyward:tokens:write", "keyward:*", "keyward:tokens:*", "keyward:verify"] {
            assert!(management::is_known(known), "{known}");
        }
        for unknown in ["keyward:token:write", "keyward:users:*", "keyward:verify@x", "invoices:read"] {
            assert!(!management::is_known(unknown), "{unknown}");
        }
    }

    #[test]
    fn bindings_narrow_and_unbound_covers_all() {
        assert!(grants("invoices:read", "invoices:read@project/123"));
        assert!(grants("invoices:*", "invoices:read@project/123"));
        assert!(grants("invoices:read@project/123", "invoices:read@project/123"));
        assert!(grants("invoices:*@project/123", "invoices:read@project/123"));
        assert!(grants("invoices:read@project/*", "invoices:read@project/123"));
        assert!(!grants("invoices:read@project/123", "invoices:read"), "a binding never grants everything");
        assert!(!grants("invoices:read@project/123", "invoices:read@project/1234"));
        assert!(!grants("invoices:read@project/123", "invoices:write@project/123"));
        assert!(!grants("invoices:read@project/*", "invoices:read@project"));
        assert!(!grants("invoices:read@project/*", "invoices:read@projectx/1"));
    }

    #[test]
    fn wildcards_are_explicit_and_never_implied() {
        assert!(grants("invoices:read", "invoices:read"));
        assert!(grants("invoices:*", "invoices:read"));
        assert!(grants("keyward:*", "keyward:tokens:write"));
        assert!(!grants("invoices:read", "invoices:write"));
        assert!(!grants("invoices:read", "invoices:*"));
        assert!(!grants("invoices:*", "invoicesx:read"));
        assert!(!grants("invoices:*", "invoices:"));
        assert!(!grants("invoices", "invoices:read"));
    }

    #[test]
    fn missing_lists_what_is_not_granted_in_order() {
        let held = ["invoices:read", "users:*"];
        let required = vec!["invoices:write".to_owned(), "users:delete".to_owned(), "a:b".to_owned()];
        assert_eq!(missing(&held, &required), vec!["invoices:write", "a:b"]);
    }

    proptest! {
        #[test]
        fn exact_scopes_grant_exactly_subsets(
            held in prop::collection::btree_set("[a-c]:[a-c]", 0..6),
            requested in prop::collection::btree_set("[a-c]:[a-c]", 0..6),
        ) {
            let held: Vec<String> = held.into_iter().collect();
            let requested: Vec<String> = requested.into_iter().collect();
            let subset = requested.iter().all(|r| held.contains(r));
            prop_assert_eq!(missing(&held, &requested).is_empty(), subset);
        }

        #[test]
        fn bound_exact_scopes_grant_exactly_subsets(
            held in prop::collection::btree_set("[a-c]:[a-c]@p/[1-3]", 0..8),
            requested in prop::collection::btree_set("[a-c]:[a-c]@p/[1-3]", 0..8),
        ) {
            let held: Vec<String> = held.into_iter().collect();
            let requested: Vec<String> = requested.into_iter().collect();
            let subset = requested.iter().all(|r| held.contains(r));
            prop_assert_eq!(grants_all(&held, &requested), subset);
        }

        #[test]
        fn any_grants_is_any_single_grant(
            held in prop::collection::vec("[ab](:[ab*]){1,2}(@[xy](/[xy*]){0,2})?", 0..5),
            required in "[ab](:[ab*]){1,2}(@[xy](/[xy*]){0,2})?",
        ) {
            prop_assert_eq!(any_grants(&held, &required), held.iter().any(|have| grants(have, &required)));
        }

        #[test]
        fn grantors_list_exactly_the_scopes_that_grant(
            held in "[ab](:[ab*]){1,2}(@[xy](/[xy*]){0,2})?",
            required in "[ab](:[ab*]){1,2}(@[xy](/[xy*]){0,2})?",
        ) {
            prop_assert_eq!(grantors(&required).contains(&held), grants(&held, &required), "{} / {}", held, required);
        }

        #[test]
        fn without_a_wildcard_only_the_same_scope_or_a_narrower_binding_is_granted(
            held in "[a-c]:[a-c](@p/[1-3])?",
            required in "[a-c]:[a-c](@p/[1-3])?",
        ) {
            let expected = held == required || (!held.contains('@') && required.starts_with(&format!("{held}@")));
            prop_assert_eq!(grants(&held, &required), expected);
        }
    }
}
