//! An organization's token policy (its view is keyward-api's, shared with
//! the CLI) and the tokens that break it.

use super::*;

/// The engine's form of a policy a request sent.
pub fn token_policy(view: TokenPolicyView) -> TokenPolicy {
    TokenPolicy {
        max_lifetime_seconds: view.max_lifetime_seconds,
        default_lifetime_seconds: view.default_lifetime_seconds,
        require_expiry: view.require_expiry,
        grantable_scopes: view.grantable_scopes,
        require_ip_allowlist: view.require_ip_allowlist,
        max_active_tokens_per_owner: view.max_active_tokens_per_owner,
        max_rotation_grace_seconds: view.max_rotation_grace_seconds,
        disable_after_inactive_days: view.disable_after_inactive_days,
        warning_days: view.warning_days,
        rotation_period_days: view.rotation_period_days,
    }
}

impl IntoView<TokenPolicyView> for TokenPolicy {
    fn into_view(self) -> TokenPolicyView {
        let policy = self;
        TokenPolicyView {
            max_lifetime_seconds: policy.max_lifetime_seconds,
            default_lifetime_seconds: policy.default_lifetime_seconds,
            require_expiry: policy.require_expiry,
            grantable_scopes: policy.grantable_scopes,
            require_ip_allowlist: policy.require_ip_allowlist,
            max_active_tokens_per_owner: policy.max_active_tokens_per_owner,
            max_rotation_grace_seconds: policy.max_rotation_grace_seconds,
            disable_after_inactive_days: policy.disable_after_inactive_days,
            warning_days: policy.warning_days,
            rotation_period_days: policy.rotation_period_days,
        }
    }
}

/// A token that breaks its organization's current policy.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PolicyFindingView {
    pub token: TokenView,
    pub violations: Vec<crate::error::PolicyViolationView>,
}
