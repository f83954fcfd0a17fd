//! The token policy page, for owners: the organization's name, its rules
//! for new tokens (lifetimes, scopes, IP allowlists, rotation, inactivity)
//! in units people write ("90d"), and the live tokens that break them now.

use std::collections::HashMap;

use askama::Template;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use keyward_core::id::OrgId;
use keyward_core::policy::TokenPolicy;
use keyward_core::validate::duration_seconds;
use keyward_engine::prechecks::parse_id;
use keyward_engine::{Capability, EngineError};
use keyward_server::AppState;
use keyward_store::PageRequest;

use super::{engine_refusal, failed, render, UserBar, CSRF_EXPIRED};
use crate::form::FormData;
use crate::session::SignedInPage;

/// Most tokens the page reads looking for violations; the API walks all.
const VIOLATION_SCAN_PAGES: usize = 10;

/// The policy as typed in the form: text, so nothing typed is lost when
/// one field is wrong.
#[derive(Default)]
pub struct PolicyForm {
    max_lifetime: String,
    default_lifetime: String,
    require_expiry: bool,
    grantable_scopes: String,
    require_ip_allowlist: bool,
    max_active_tokens_per_owner: String,
    max_rotation_grace: String,
    disable_after_inactive_days: String,
    warning_days: String,
    rotation_period_days: String,
}

/// `90d` rather than `7776000`: the largest whole unit.
pub(super) fn duration_text(seconds: i64) -> String {
    match seconds {
        s if s % 86_400 == 0 => format!("{}d", s / 86_400),
        s if s % 3_600 == 0 => format!("{}h", s / 3_600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

impl PolicyForm {
    fn of(policy: &TokenPolicy) -> Self {
        let number = |value: Option<u32>| value.map(|n| n.to_string()).unwrap_or_default();
        Self {
            max_lifetime: policy.max_lifetime_seconds.map(duration_text).unwrap_or_default(),
            default_lifetime: policy.default_lifetime_seconds.map(duration_text).unwrap_or_default(),
            require_expiry: policy.require_expiry,
            grantable_scopes: policy.grantable_scopes.as_ref().map(|scopes| scopes.join("\n")).unwrap_or_default(),
            require_ip_allowlist: policy.require_ip_allowlist,
            max_active_tokens_per_owner: number(policy.max_active_tokens_per_owner),
            max_rotation_grace: policy.max_rotation_grace_seconds.map(duration_text).unwrap_or_default(),
            disable_after_inactive_days: number(policy.disable_after_inactive_days),
            warning_days: match &policy.warning_days {
                None => String::new(),
                Some(days) if days.is_empty() => "none".into(),
                Some(days) => days.iter().map(u32::to_string).collect::<Vec<_>>().join(", "),
            },
            rotation_period_days: number(policy.rotation_period_days),
        }
    }

    fn from_form(form: &FormData) -> Self {
        Self {
            max_lifetime: form.get("max_lifetime"),
            default_lifetime: form.get("default_lifetime"),
            require_expiry: !form.get("require_expiry").is_empty(),
            grantable_scopes: form.get("grantable_scopes"),
            require_ip_allowlist: !form.get("require_ip_allowlist").is_empty(),
            max_active_tokens_per_owner: form.get("max_active_tokens_per_owner"),
            max_rotation_grace: form.get("max_rotation_grace"),
            disable_after_inactive_days: form.get("disable_after_inactive_days"),
            warning_days: form.get("warning_days"),
            rotation_period_days: form.get("rotation_period_days"),
        }
    }

    /// The policy, or a message for each field that cannot be read. Range
    /// rules are the engine's ([`TokenPolicy::validate`]).
    fn policy(&self) -> Result<TokenPolicy, HashMap<&'static str, String>> {
        let mut errors = HashMap::new();
        let mut duration = |field: &'static str, text: &str| -> Option<i64> {
            if text.is_empty() {
                return None;
            }
            duration_seconds(text).map_err(|message| errors.insert(field, message)).ok()
        };
        let max_lifetime_seconds = duration("max_lifetime", &self.max_lifetime);
        let default_lifetime_seconds = duration("default_lifetime", &self.default_lifetime);
        let max_rotation_grace_seconds = duration("max_rotation_grace", &self.max_rotation_grace);
        let mut whole = |field: &'static str, text: &str| -> Option<u32> {
            if text.is_empty() {
                return None;
            }
            text.parse::<u32>().map_err(|_| errors.insert(field, "must be a whole number".into())).ok()
        };
        let max_active_tokens_per_owner = whole("max_active_tokens_per_owner", &self.max_active_tokens_per_owner);
        let disable_after_inactive_days = whole("disable_after_inactive_days", &self.disable_after_inactive_days);
        let rotation_period_days = whole("rotation_period_days", &self.rotation_period_days);
        let warning_days = match self.warning_days.as_str() {
            "" => None,
            "none" => Some(Vec::new()),
            text => {
                let parsed: Result<Vec<u32>, _> =
                    text.split([',', ' ']).filter(|part| !part.is_empty()).map(str::parse).collect();
                parsed
                    .map_err(|_| {
                        errors.insert("warning_days", "list whole numbers of days, e.g. 7, 1 (or “none”)".into())
                    })
                    .ok()
            }
        };
        let scopes: Vec<String> = self.grantable_scopes.split_whitespace().map(str::to_owned).collect();
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(TokenPolicy {
            max_lifetime_seconds,
            default_lifetime_seconds,
            require_expiry: self.require_expiry,
            grantable_scopes: (!scopes.is_empty()).then_some(scopes),
            require_ip_allowlist: self.require_ip_allowlist,
            max_active_tokens_per_owner,
            max_rotation_grace_seconds,
            disable_after_inactive_days,
            warning_days,
            rotation_period_days,
        })
    }
}

/// The form field an engine field name is typed in.
fn form_field(engine_field: &'static str) -> &'static str {
    match engine_field {
        "max_lifetime_seconds" => "max_lifetime",
        "default_lifetime_seconds" => "default_lifetime",
        "max_rotation_grace_seconds" => "max_rotation_grace",
        other => other,
    }
}

pub struct ViolationLine {
    id: String,
    name: String,
    problems: Vec<String>,
}

#[derive(Template)]
#[template(path = "policies.html")]
struct PoliciesPage {
    signed_in: Option<UserBar>,
    notice: Option<String>,
    csrf: String,
    organization_name: String,
    form: PolicyForm,
    errors: HashMap<&'static str, String>,
    violations: Vec<ViolationLine>,
    scanned_all: bool,
}

impl PoliciesPage {
    fn error(&self, field: &str) -> Option<&String> {
        self.errors.get(field)
    }
}

async fn violations(state: &AppState, page: &SignedInPage) -> Result<(Vec<ViolationLine>, bool), EngineError> {
    let mut lines = Vec::new();
    let mut after = None;
    for _ in 0..VIOLATION_SCAN_PAGES {
        let found = state.engine.policy_violations(&page.actor, &PageRequest::new(Some(200), after)).await?;
        lines.extend(found.items.into_iter().filter(|finding| !finding.token.management).map(|finding| {
            ViolationLine {
                id: finding.token.id,
                name: finding.token.name,
                problems: finding.violations.into_iter().map(|problem| problem.detail).collect(),
            }
        }));
        match found.next {
            Some(next) => after = Some(next),
            None => return Ok((lines, true)),
        }
    }
    Ok((lines, false))
}

async fn policies_page(
    state: &AppState,
    page: &SignedInPage,
    form: PolicyForm,
    errors: HashMap<&'static str, String>,
    notice: Option<String>,
) -> Response {
    named_policies_page(state, page, None, form, errors, notice).await
}

/// The page, with the organization name as typed (`None`: as stored).
async fn named_policies_page(
    state: &AppState,
    page: &SignedInPage,
    organization_name: Option<String>,
    form: PolicyForm,
    errors: HashMap<&'static str, String>,
    notice: Option<String>,
) -> Response {
    let (violations, scanned_all) = match violations(state, page).await {
        Ok(found) => found,
        Err(error) => return failed(error),
    };
    let organization_name = match organization_name {
        Some(name) => name,
        None => match own_organization(state, page).await {
            Ok(organization) => organization.name,
            Err(error) => return failed(error),
        },
    };
    let status = if errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    let rendered = render(&PoliciesPage {
        signed_in: Some(UserBar::from(page)),
        notice,
        csrf: page.csrf.clone(),
        organization_name,
        form,
        errors,
        violations,
        scanned_all,
    });
    (status, rendered).into_response()
}

/// `GET /policies`
pub async fn show(State(state): State<AppState>, page: SignedInPage) -> Response {
    if let Some(refused) = engine_refusal(&page, Capability::SetPolicy) {
        return refused;
    }
    match state.engine.token_policy(&page.actor).await {
        Ok(policy) => policies_page(&state, &page, PolicyForm::of(&policy), HashMap::new(), None).await,
        Err(error) => failed(error),
    }
}

/// `POST /policies`: replaces the policy; existing tokens are not changed,
/// only reported below when they break it.
pub async fn save(State(state): State<AppState>, page: SignedInPage, body: Bytes) -> Response {
    if let Some(refused) = engine_refusal(&page, Capability::SetPolicy) {
        return refused;
    }
    let submitted = FormData::parse(&body);
    let form = PolicyForm::from_form(&submitted);
    if !page.csrf_ok(&submitted) {
        let errors = HashMap::from([("form", CSRF_EXPIRED.into())]);
        let response = policies_page(&state, &page, form, errors, None).await;
        return (StatusCode::FORBIDDEN, response).into_response();
    }
    let policy = match form.policy() {
        Ok(policy) => policy,
        Err(errors) => return policies_page(&state, &page, form, errors, None).await,
    };
    match state.engine.set_token_policy(&page.actor, policy).await {
        Ok(organization) => {
            let notice = "Policy saved. It applies to tokens created or changed from now on; tokens that break it are listed below.";
            policies_page(
                &state,
                &page,
                PolicyForm::of(&organization.token_policy),
                HashMap::new(),
                Some(notice.into()),
            )
            .await
        }
        Err(EngineError::Invalid(invalid)) => {
            let errors = HashMap::from([(form_field(invalid.field), invalid.message)]);
            policies_page(&state, &page, form, errors, None).await
        }
        Err(error) => failed(error),
    }
}

/// `POST /policies/organization`: renames the organization.
pub async fn rename(State(state): State<AppState>, page: SignedInPage, body: Bytes) -> Response {
    if let Some(refused) = engine_refusal(&page, Capability::SetPolicy) {
        return refused;
    }
    let submitted = FormData::parse(&body);
    let name = submitted.get("organization_name");
    let current = match state.engine.token_policy(&page.actor).await {
        Ok(policy) => PolicyForm::of(&policy),
        Err(error) => return failed(error),
    };
    if !page.csrf_ok(&submitted) {
        let errors = HashMap::from([("organization_name", CSRF_EXPIRED.into())]);
        let response = named_policies_page(&state, &page, Some(name), current, errors, None).await;
        return (StatusCode::FORBIDDEN, response).into_response();
    }
    match state.engine.rename_organization(&page.actor, &name).await {
        Ok(organization) => {
            let notice = format!("Your organization is now called {}.", organization.name);
            named_policies_page(&state, &page, None, current, HashMap::new(), Some(notice)).await
        }
        Err(EngineError::Invalid(invalid)) => {
            let errors = HashMap::from([("organization_name", format!("The name {}.", invalid.message))]);
            named_policies_page(&state, &page, Some(name), current, errors, None).await
        }
        Err(error) => failed(error),
    }
}

/// The caller's own organization. Nothing is refused before the lookup,
/// so a malformed id (none is expected here) is simply not found.
async fn own_organization(
    state: &AppState,
    page: &SignedInPage,
) -> Result<keyward_core::model::Organization, EngineError> {
    let own: OrgId = parse_id(page.actor.org_id(), || Ok(()))?;
    state.engine.get_organization(&page.actor, &own).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_form_reads_back_what_it_shows() {
        let policy = TokenPolicy {
            max_lifetime_seconds: Some(90 * 86_400),
            default_lifetime_seconds: Some(12 * 3_600),
            require_expiry: true,
            grantable_scopes: Some(vec!["invoices:read".into(), "invoices:write".into()]),
            max_rotation_grace_seconds: Some(90),
            warning_days: Some(Vec::new()),
            rotation_period_days: Some(30),
            ..TokenPolicy::default()
        };
        let form = PolicyForm::of(&policy);
        assert_eq!(form.max_lifetime, "90d");
        assert_eq!(form.default_lifetime, "12h");
        assert_eq!(form.max_rotation_grace, "90s");
        assert_eq!(form.warning_days, "none");
        assert_eq!(form.policy().ok(), Some(policy));
    }

    #[test]
    fn unreadable_fields_are_each_named() {
        let form = PolicyForm {
            max_lifetime: "ninety days".into(),
            max_active_tokens_per_owner: "-3".into(),
            warning_days: "7, soon".into(),
            ..PolicyForm::default()
        };
        let errors = form.policy().err().unwrap_or_default();
        let mut fields: Vec<_> = errors.keys().copied().collect();
        fields.sort_unstable();
        assert_eq!(fields, ["max_active_tokens_per_owner", "max_lifetime", "warning_days"]);
    }

    #[test]
    fn warning_days_read_as_a_list() {
        let form = PolicyForm { warning_days: "14, 3 1".into(), ..PolicyForm::default() };
        assert_eq!(form.policy().ok().and_then(|policy| policy.warning_days), Some(vec![14, 3, 1]));
    }
}
