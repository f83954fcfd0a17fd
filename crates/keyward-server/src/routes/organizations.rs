//! `/v1/organizations`: tenants. Founding and listing them is the
//! operator's business; any management token may read its own.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use keyward_core::id::OrgId;

use crate::dto::{
    CreateOrganization, CreatedToken, FoundedOrganization, FromStore, IntoView, OrganizationView, Page, PageQuery,
    TokenView, TokenViews,
};
use crate::error::{ApiError, Problem};
use crate::extract::{path_id, ApiJson, ApiQuery, Caller};
use crate::routes::{page_request, shown_once_headers};
use crate::AppState;

/// Found an organization: its management keyspace and first admin token,
/// whose secret this response shows once. Needs `keyward:organizations:write`
/// (held only by the operator organization). A calling token bounds that
/// admin token as it bounds any management token it mints: it expires no
/// later than the caller and is usable only from the caller's networks
/// (`inherited_from_parent` names what it took); a session needs its
/// password typed within 10 minutes.
#[utoipa::path(post, path = "/v1/organizations", tag = "organizations", request_body = CreateOrganization,
    security(("bearer" = ["keyward:organizations:write"])),
    responses((status = 201, body = FoundedOrganization), (status = 400, body = Problem), (status = 401, body = Problem),
              (status = 403, body = Problem)))]
pub async fn create_organization(
    State(state): State<AppState>,
    Caller(actor): Caller,
    ApiJson(body): ApiJson<CreateOrganization>,
) -> Result<(StatusCode, HeaderMap, Json<FoundedOrganization>), ApiError> {
    let founded = state.engine.create_organization(&actor, &body.name).await?;
    let headers = shown_once_headers(Some(&format!("/v1/organizations/{}", founded.organization.id)));
    let admin_token = CreatedToken {
        token: crate::dto::ShownOnce::new(&founded.admin.secret),
        inherited_from_parent: founded.admin.inherited_from_parent.iter().map(|field| (*field).to_owned()).collect(),
        view: TokenView::new(founded.admin.record, state.now_micros()),
    };
    let body = FoundedOrganization {
        organization: founded.organization.into_view(),
        management_keyspace: founded.management_keyspace.into_view(),
        admin_token,
    };
    Ok((StatusCode::CREATED, headers, Json(body)))
}

/// List every organization, newest first. Needs `keyward:organizations:read`.
#[utoipa::path(get, path = "/v1/organizations", tag = "organizations", params(PageQuery),
    security(("bearer" = ["keyward:organizations:read"])),
    responses((status = 200, body = Page<OrganizationView>), (status = 400, body = Problem), (status = 401, body = Problem),
              (status = 403, body = Problem)))]
pub async fn list_organizations(
    State(state): State<AppState>,
    Caller(actor): Caller,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<Page<OrganizationView>>, ApiError> {
    let page = state.engine.list_organizations(&actor, &page_request(query.limit, query.cursor.as_deref())?).await?;
    Ok(Json(Page::from_store(page, IntoView::into_view)))
}

/// Show one organization: the caller's own, or any with
/// `keyward:organizations:read`. Another tenant's is a 404.
#[utoipa::path(get, path = "/v1/organizations/{id}", tag = "organizations", params(("id" = String, Path)),
    security(("bearer" = [])),
    responses((status = 200, body = OrganizationView), (status = 401, body = Problem), (status = 404, body = Problem)))]
pub async fn get_organization(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
) -> Result<Json<OrganizationView>, ApiError> {
    // Nothing is refused before the lookup: another tenant's is a 404 too.
    let id: OrgId = path_id(&id, || Ok(()))?;
    Ok(Json(state.engine.get_organization(&actor, &id).await?.into_view()))
}
