//! `/v1/token-policy`: the caller's organization's rules for its tokens.

use axum::extract::State;
use axum::Json;

use crate::dto::{
    token_policy, FromStore, IntoView, Page, PageQuery, PolicyFindingView, TokenPolicyView, TokenView, TokenViews,
};
use crate::error::{ApiError, Problem};
use crate::extract::{ApiJson, ApiQuery, Caller};
use crate::routes::page_request;
use crate::AppState;

/// Show the organization's token policy. Any management token of the organization.
#[utoipa::path(get, path = "/v1/token-policy", tag = "policy", security(("bearer" = [])),
    responses((status = 200, body = TokenPolicyView), (status = 401, body = Problem)))]
pub async fn get_token_policy(
    State(state): State<AppState>,
    Caller(actor): Caller,
) -> Result<Json<TokenPolicyView>, ApiError> {
    Ok(Json(state.engine.token_policy(&actor).await?.into_view()))
}

/// Replace the organization's token policy. It governs tokens created or
/// changed from now on; existing tokens that break it keep working and are
/// listed by `GET /v1/token-policy/violations`. Audited with the policy
/// before and after. Needs `keyward:policies:write`.
#[utoipa::path(put, path = "/v1/token-policy", tag = "policy", request_body = TokenPolicyView,
    security(("bearer" = ["keyward:policies:write"])),
    responses((status = 200, body = TokenPolicyView), (status = 400, body = Problem), (status = 401, body = Problem),
              (status = 403, body = Problem)))]
pub async fn set_token_policy(
    State(state): State<AppState>,
    Caller(actor): Caller,
    ApiJson(body): ApiJson<TokenPolicyView>,
) -> Result<Json<TokenPolicyView>, ApiError> {
    let organization = state.engine.set_token_policy(&actor, token_policy(body)).await?;
    Ok(Json(organization.token_policy.into_view()))
}

/// Active tokens that break the current policy, with every broken rule.
/// Pages walk the organization's active tokens, newest first: a page may
/// hold fewer findings than `limit`, or none; follow `next_cursor` to the
/// end. Needs `keyward:tokens:read`.
#[utoipa::path(get, path = "/v1/token-policy/violations", tag = "policy", params(PageQuery),
    security(("bearer" = ["keyward:tokens:read"])),
    responses((status = 200, body = Page<PolicyFindingView>), (status = 400, body = Problem), (status = 401, body = Problem),
              (status = 403, body = Problem)))]
pub async fn list_policy_violations(
    State(state): State<AppState>,
    Caller(actor): Caller,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<Page<PolicyFindingView>>, ApiError> {
    let request = page_request(query.limit, query.cursor.as_deref())?;
    let page = state.engine.policy_violations(&actor, &request).await?;
    let now = state.now_micros();
    Ok(Json(Page::from_store(page, |finding| {
        let token = TokenView {
            policy_violations: finding.violations.iter().map(|v| v.code.to_owned()).collect(),
            ..TokenView::new(finding.token, now)
        };
        PolicyFindingView { token, violations: finding.violations.into_iter().map(Into::into).collect() }
    })))
}
