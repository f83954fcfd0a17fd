//! Who acts in the organization: members (roles, removal, invitations
//! shown once) and service accounts (the owners of tokens meant to outlive
//! anyone's membership). Everyone may see them; admins and owners change
//! them, and removing anyone asks for their name typed out, because it
//! revokes every token they own.

use std::collections::HashMap;

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use keyward_core::clock::micros_to_datetime;
use keyward_core::id::{ServiceAccountId, UserId};
use keyward_core::model::TokenState;
use keyward_core::role::Role;
use keyward_core::scope::management;
use keyward_engine::prechecks::parse_id;
use keyward_engine::{Capability, EngineError};
use keyward_server::AppState;
use keyward_store::{PageRequest, TokenFilter};

use super::{engine_refusal, failed, render, UserBar, When, CSRF_EXPIRED};
use crate::form::FormData;
use crate::session::SignedInPage;

const ROLES: [&str; 4] = ["viewer", "developer", "admin", "owner"];
/// Most live tokens counted on a removal's confirmation page.
const COUNT_LIMIT: u32 = 500;

pub struct MemberLine {
    user_id: String,
    email: String,
    role: &'static str,
    joined: When,
    is_you: bool,
}

#[derive(Template)]
#[template(path = "members.html")]
struct MembersPage {
    signed_in: Option<UserBar>,
    notice: Option<String>,
    csrf: String,
    may_manage: bool,
    members: Vec<MemberLine>,
    invitations: Vec<(String, String, When)>,
    roles: [&'static str; 4],
    email: String,
    role: String,
    error: Option<String>,
    member_error: Option<String>,
    invitation_link: Option<String>,
}

/// What the members page shows besides the lists.
#[derive(Default)]
struct MembersView {
    invite: (String, String),
    error: Option<String>,
    member_error: Option<String>,
    invitation_link: Option<String>,
    notice: Option<String>,
}

async fn members_page(state: &AppState, page: &SignedInPage, view: MembersView) -> Response {
    let now = micros_to_datetime(state.now_micros());
    let members = match state.engine.list_members(&page.actor).await {
        Ok(members) => members,
        Err(error) => return failed(error),
    };
    let invitations = state.engine.list_invitations(&page.actor).await.unwrap_or_default();
    let failed_form = view.error.is_some() || view.member_error.is_some();
    let status = if failed_form { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    let you = page.actor.principal.id().to_owned();
    let rendered = render(&MembersPage {
        signed_in: Some(UserBar::from(page)),
        notice: view.notice,
        csrf: page.csrf.clone(),
        may_manage: page.actor.capabilities().may_manage_members,
        members: members
            .into_iter()
            .map(|member| MemberLine {
                is_you: member.user_id == you,
                user_id: member.user_id,
                email: member.email,
                role: member.role.as_str(),
                joined: When::of(member.joined_at, now),
            })
            .collect(),
        invitations: invitations
            .into_iter()
            .filter(|invitation| invitation.accepted_at.is_none())
            .map(|i| (i.email, i.role.as_str().to_owned(), When::of(i.expires_at, now)))
            .collect(),
        roles: ROLES,
        email: view.invite.0,
        role: if view.invite.1.is_empty() { "developer".into() } else { view.invite.1 },
        error: view.error,
        member_error: view.member_error,
        invitation_link: view.invitation_link,
    });
    (status, rendered).into_response()
}

fn removed_notice(query: &HashMap<String, String>) -> Option<String> {
    let who = query.get("removed")?;
    let revoked = query.get("revoked").and_then(|count| count.parse::<u64>().ok()).unwrap_or(0);
    let (plural, verb) = if revoked == 1 { ("", "was") } else { ("s", "were") };
    Some(format!("Removed {who}. {revoked} token{plural} they owned {verb} revoked; verifications of them now fail."))
}

/// `GET /members`
pub async fn members(
    State(state): State<AppState>,
    page: SignedInPage,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    // members_page's first call, list_members, refuses those who may not see them.
    let notice = removed_notice(&query).or_else(|| {
        query.get("role_changed").map(|email| format!("{email}'s role is changed; it applies to their next request."))
    });
    members_page(&state, &page, MembersView { notice, ..MembersView::default() }).await
}

/// `POST /members/invite`: the invitation link is shown once, on this response.
pub async fn invite(State(state): State<AppState>, page: SignedInPage, headers: HeaderMap, body: Bytes) -> Response {
    let form = FormData::parse(&body);
    let invite = (form.get("email"), form.get("role"));
    let refused = |invite, error: &str| MembersView { invite, error: Some(error.to_owned()), ..MembersView::default() };
    if !page.csrf_ok(&form) {
        let response = members_page(&state, &page, refused(invite, CSRF_EXPIRED)).await;
        return (StatusCode::FORBIDDEN, response).into_response();
    }
    let Ok(role) = invite.1.parse::<Role>() else {
        return members_page(&state, &page, refused(invite, "Pick one of the roles.")).await;
    };
    match state.engine.invite(&page.actor, &invite.0, role, None).await {
        Ok(created) => {
            let link = format!("{}/setup?invitation={}", state.site.origin(&headers), created.secret.expose());
            members_page(&state, &page, MembersView { invitation_link: Some(link), ..MembersView::default() }).await
        }
        Err(EngineError::Invalid(invalid)) => members_page(&state, &page, refused(invite, &invalid.message)).await,
        Err(EngineError::Forbidden { .. }) | Err(EngineError::Escalation { .. }) => {
            let error = "You cannot invite someone with more standing than your own.";
            members_page(&state, &page, refused(invite, error)).await
        }
        Err(EngineError::Conflict(message)) => members_page(&state, &page, refused(invite, &message)).await,
        Err(other) => failed(other),
    }
}

/// `POST /members/{id}/role`
pub async fn change_role(
    State(state): State<AppState>,
    page: SignedInPage,
    Path(user_id): Path<String>,
    body: Bytes,
) -> Response {
    let form = FormData::parse(&body);
    let refused = |error: &str| MembersView { member_error: Some(error.to_owned()), ..MembersView::default() };
    if !page.csrf_ok(&form) {
        return (StatusCode::FORBIDDEN, members_page(&state, &page, refused(CSRF_EXPIRED)).await).into_response();
    }
    let Ok(role) = form.get("role").parse::<Role>() else {
        return members_page(&state, &page, refused("Pick one of the roles.")).await;
    };
    let change = async {
        let user_id: UserId = parse_id(&user_id, || page.actor.require(management::MEMBERS_WRITE))?;
        state.engine.set_member_role(&page.actor, &user_id, role).await
    };
    match change.await {
        Ok(member) => {
            let mut url = url::form_urlencoded::Serializer::new(String::from("/members?"));
            url.append_pair("role_changed", &member.email);
            Redirect::to(&url.finish()).into_response()
        }
        Err(EngineError::Escalation { .. }) => {
            let error = "You can only give or take roles up to your own.";
            members_page(&state, &page, refused(error)).await
        }
        Err(EngineError::Rejected { detail, .. }) => members_page(&state, &page, refused(&detail)).await,
        Err(error) => failed(error),
    }
}

#[derive(Template)]
#[template(path = "confirm_remove.html")]
struct ConfirmRemovePage {
    signed_in: Option<UserBar>,
    notice: Option<String>,
    csrf: String,
    heading: String,
    /// What the person types: an email or a service account's name.
    expected: String,
    what: &'static str,
    live_tokens: String,
    action: String,
    back: &'static str,
    error: Option<String>,
}

/// "12", or "500 or more" past what the page counts.
async fn live_token_count(state: &AppState, page: &SignedInPage, owner: &str) -> String {
    let now = micros_to_datetime(state.now_micros());
    let filter =
        TokenFilter { owner: Some(owner.to_owned()), state: Some(TokenState::Active), now, ..TokenFilter::default() };
    match state.engine.list_tokens(&page.actor, filter, &PageRequest::new(Some(COUNT_LIMIT), None)).await {
        Ok(listed) if listed.next.is_some() => format!("{COUNT_LIMIT} or more"),
        Ok(listed) => listed.items.len().to_string(),
        Err(_) => "all".into(),
    }
}

#[derive(Clone, Copy)]
enum Removing {
    Member,
    ServiceAccount,
}

/// Who is being removed, as the confirmation names them.
struct Removable {
    /// What the person types: an email or a service account's name.
    name: String,
    what: &'static str,
    /// The list page, which the removal returns to.
    path: &'static str,
    /// Emails are compared without case, as they are stored.
    case_insensitive: bool,
}

async fn removable(state: &AppState, page: &SignedInPage, removing: Removing, id: &str) -> Result<Removable, Response> {
    match removing {
        Removing::Member => {
            let members = state.engine.list_members(&page.actor).await.map_err(failed)?;
            let member = members
                .into_iter()
                .find(|member| member.user_id == id)
                .ok_or_else(|| failed(EngineError::NotFound("member")))?;
            Ok(Removable { name: member.email, what: "email", path: "/members", case_insensitive: true })
        }
        Removing::ServiceAccount => {
            let accounts = state.engine.list_service_accounts(&page.actor).await.map_err(failed)?;
            let account = accounts
                .into_iter()
                .find(|account| account.id == id)
                .ok_or_else(|| failed(EngineError::NotFound("service account")))?;
            Ok(Removable { name: account.name, what: "name", path: "/service-accounts", case_insensitive: false })
        }
    }
}

/// The confirmation page for removing a member or a service account.
async fn confirm_page(
    state: &AppState,
    page: &SignedInPage,
    removing: Removing,
    id: &str,
    error: Option<String>,
) -> Response {
    let target = match removable(state, page, removing, id).await {
        Ok(target) => target,
        Err(response) => return response,
    };
    let status = if error.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    let rendered = render(&ConfirmRemovePage {
        signed_in: Some(UserBar::from(page)),
        notice: None,
        csrf: page.csrf.clone(),
        heading: format!("Remove {}?", target.name),
        live_tokens: live_token_count(state, page, id).await,
        what: target.what,
        action: format!("{}/{id}/remove", target.path),
        back: target.path,
        expected: target.name,
        error,
    });
    (status, rendered).into_response()
}

/// `GET /members/{id}/remove`
pub async fn confirm_member_removal(
    State(state): State<AppState>,
    page: SignedInPage,
    Path(user_id): Path<String>,
) -> Response {
    if let Some(refused) = engine_refusal(&page, Capability::ManageMembers) {
        return refused;
    }
    confirm_page(&state, &page, Removing::Member, &user_id, None).await
}

/// Whether the typed confirmation names what is removed.
fn confirmed(form: &FormData, expected: &str, case_insensitive: bool) -> bool {
    let typed = form.get("confirm");
    if case_insensitive {
        typed.eq_ignore_ascii_case(expected)
    } else {
        typed == expected
    }
}

/// Removes a member (ending their sessions) or a service account, once the
/// name is typed; either way every token they own is revoked.
async fn remove(state: &AppState, page: &SignedInPage, removing: Removing, id: &str, body: &Bytes) -> Response {
    if let Some(refused) = engine_refusal(page, Capability::ManageMembers) {
        return refused;
    }
    let form = FormData::parse(body);
    if !page.csrf_ok(&form) {
        let response = confirm_page(state, page, removing, id, Some(CSRF_EXPIRED.into())).await;
        return (StatusCode::FORBIDDEN, response).into_response();
    }
    let target = match removable(state, page, removing, id).await {
        Ok(target) => target,
        Err(response) => return response,
    };
    if !confirmed(&form, &target.name, target.case_insensitive) {
        let error = format!("Type {} exactly to confirm; nothing was removed.", target.name);
        return confirm_page(state, page, removing, id, Some(error)).await;
    }
    let may_manage = || page.actor.require(management::MEMBERS_WRITE);
    let removed = match removing {
        Removing::Member => match parse_id::<UserId>(id, may_manage) {
            Ok(user_id) => state.engine.remove_member(&page.actor, &user_id).await,
            Err(refused) => Err(refused),
        },
        Removing::ServiceAccount => match parse_id::<ServiceAccountId>(id, may_manage) {
            Ok(account_id) => state.engine.remove_service_account(&page.actor, &account_id).await,
            Err(refused) => Err(refused),
        },
    };
    match removed {
        Ok(revoked) => {
            let mut url = url::form_urlencoded::Serializer::new(format!("{}?", target.path));
            url.append_pair("removed", &target.name).append_pair("revoked", &revoked.len().to_string());
            Redirect::to(&url.finish()).into_response()
        }
        Err(EngineError::Rejected { detail, .. }) => confirm_page(state, page, removing, id, Some(detail)).await,
        Err(EngineError::Escalation { .. }) => {
            let error = "Only an owner can remove an owner.".to_owned();
            confirm_page(state, page, removing, id, Some(error)).await
        }
        Err(error) => failed(error),
    }
}

/// `POST /members/{id}/remove`: ends their sessions and revokes the tokens
/// they own.
pub async fn remove_member(
    State(state): State<AppState>,
    page: SignedInPage,
    Path(user_id): Path<String>,
    body: Bytes,
) -> Response {
    remove(&state, &page, Removing::Member, &user_id, &body).await
}

pub struct AccountLine {
    id: String,
    name: String,
    created: When,
}

#[derive(Template)]
#[template(path = "service_accounts.html")]
struct ServiceAccountsPage {
    signed_in: Option<UserBar>,
    notice: Option<String>,
    csrf: String,
    may_manage: bool,
    may_issue: bool,
    accounts: Vec<AccountLine>,
    name: String,
    error: Option<String>,
}

async fn accounts_page(
    state: &AppState,
    page: &SignedInPage,
    name: String,
    error: Option<String>,
    notice: Option<String>,
) -> Response {
    let accounts = match state.engine.list_service_accounts(&page.actor).await {
        Ok(accounts) => accounts,
        Err(error) => return failed(error),
    };
    let now = micros_to_datetime(state.now_micros());
    let status = if error.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    let may = page.actor.capabilities();
    let rendered = render(&ServiceAccountsPage {
        signed_in: Some(UserBar::from(page)),
        notice,
        csrf: page.csrf.clone(),
        may_manage: may.may_manage_members,
        may_issue: may.may_issue_for_others,
        accounts: accounts
            .into_iter()
            .map(|account| AccountLine {
                id: account.id,
                name: account.name,
                created: When::of(account.created_at, now),
            })
            .collect(),
        name,
        error,
    });
    (status, rendered).into_response()
}

/// `GET /service-accounts`
pub async fn service_accounts(
    State(state): State<AppState>,
    page: SignedInPage,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let notice = removed_notice(&query).or_else(|| {
        query.get("created").map(|name| format!("Service account {name} created. Create a token it owns from here."))
    });
    accounts_page(&state, &page, String::new(), None, notice).await
}

/// `POST /service-accounts`
pub async fn create_service_account(State(state): State<AppState>, page: SignedInPage, body: Bytes) -> Response {
    let form = FormData::parse(&body);
    let name = form.get("name");
    if !page.csrf_ok(&form) {
        let response = accounts_page(&state, &page, name, Some(CSRF_EXPIRED.into()), None).await;
        return (StatusCode::FORBIDDEN, response).into_response();
    }
    match state.engine.create_service_account(&page.actor, &name).await {
        Ok(account) => {
            let mut url = url::form_urlencoded::Serializer::new(String::from("/service-accounts?"));
            url.append_pair("created", &account.name);
            Redirect::to(&url.finish()).into_response()
        }
        Err(EngineError::Invalid(invalid)) => {
            accounts_page(&state, &page, name, Some(format!("The name {}.", invalid.message)), None).await
        }
        Err(EngineError::Conflict(_)) => {
            let error = "A service account with this name exists; pick another.".to_owned();
            accounts_page(&state, &page, name, Some(error), None).await
        }
        Err(error) => failed(error),
    }
}

/// `GET /service-accounts/{id}/remove`
pub async fn confirm_account_removal(
    State(state): State<AppState>,
    page: SignedInPage,
    Path(id): Path<String>,
) -> Response {
    if let Some(refused) = engine_refusal(&page, Capability::ManageMembers) {
        return refused;
    }
    confirm_page(&state, &page, Removing::ServiceAccount, &id, None).await
}

/// `POST /service-accounts/{id}/remove`: revokes every token it owns.
pub async fn remove_service_account(
    State(state): State<AppState>,
    page: SignedInPage,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    remove(&state, &page, Removing::ServiceAccount, &id, &body).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confirmation_must_name_what_is_removed() {
        let form = FormData::parse(&Bytes::from_static(b"confirm=+Ada%40Example.com+"));
        assert!(confirmed(&form, "ada@example.com", true));
        assert!(!confirmed(&form, "ada@example.com", false));
        let empty = FormData::parse(&Bytes::from_static(b"confirm="));
        assert!(!confirmed(&empty, "deploys", false));
    }

    #[test]
    fn the_removal_notice_counts_revoked_tokens() {
        let query =
            HashMap::from([("removed".to_owned(), "deploys".to_owned()), ("revoked".to_owned(), "1".to_owned())]);
        assert_eq!(
            removed_notice(&query).as_deref(),
            Some("Removed deploys. 1 token they owned was revoked; verifications of them now fail.")
        );
    }
}
