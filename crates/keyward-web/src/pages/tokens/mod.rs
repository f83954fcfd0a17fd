//! The API Tokens screen: the table, creation with the secret shown once,
//! a token's page (usage chart, recent verifications, audit trail), and
//! revocation (typed confirmation in live keyspaces). Rotation and bulk
//! revocation are in [`super::lifecycle`].

use std::collections::{HashMap, HashSet};

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, NaiveDate, Utc};
use keyward_core::clock::micros_to_datetime;
use keyward_core::id::{KeyspaceId, TokenId};
use keyward_core::model::{CatalogScope, Keyspace, RevokedReason, TokenRecord, TokenState};
use keyward_core::policy::TokenPolicy;
use keyward_core::scope::management;
use keyward_core::Environment;
use keyward_core::{base62, OsRng, SecureRng};
use keyward_engine::prechecks::parse_id;
use keyward_engine::{Capability, Engine, EngineError, NewKeyspace, NewToken};
use keyward_server::AppState;
use keyward_store::{AuditFilter, Cursor, Directory, PageRequest, TokenFilter, TokenOrder, TokenSortKey};

use super::{engine_refusal, failed, render, UserBar, When};
use crate::form::FormData;
use crate::session::SignedInPage;

mod create;
mod detail;

pub use create::*;
pub use detail::*;

const STATES: [(&str, &str); 6] = [
    ("active", "Active"),
    ("expiring", "Expiring soon"),
    ("grace", "In rotation grace"),
    ("expired", "Expired"),
    ("disabled", "Disabled"),
    ("revoked", "Revoked"),
];
/// "Expiring soon" means within this many days.
const EXPIRING_SOON_DAYS: i64 = 7;
/// Days the usage chart covers.
const CHART_DAYS: u32 = 30;
const EXPIRY_PRESETS: [(&str, &str); 6] = [
    ("30d", "In 30 days"),
    ("7d", "In 7 days"),
    ("90d", "In 90 days"),
    ("365d", "In 1 year"),
    ("never", "Never"),
    ("date", "On the date below"),
];

pub struct Row {
    pub(super) id: String,
    pub(super) name: String,
    pub(super) masked: String,
    pub(super) keyspace: String,
    pub(super) environment: String,
    pub(super) owner: String,
    pub(super) scopes: Vec<String>,
    pub(super) created: When,
    pub(super) expires: Option<When>,
    pub(super) last_used: Option<When>,
    /// Address and client of its last successful use, when sampled.
    pub(super) last_client: Option<String>,
    pub(super) state: &'static str,
    pub(super) state_label: &'static str,
    /// Whether it can still be revoked (not revoked already).
    pub(super) revocable: bool,
}

#[derive(Default)]
pub struct ListFilter {
    q: String,
    state: String,
    keyspace: String,
    owner: String,
    scope: String,
    /// The order's wire name (`-created`, `name`, …).
    order: String,
}

impl ListFilter {
    /// `/tokens` with these filters in order `order`, from the first page
    /// (or from `after`).
    fn url(&self, order: &str, after: Option<&Cursor>) -> String {
        let mut url = url::form_urlencoded::Serializer::for_suffix(String::from("/tokens?"), "/tokens?".len());
        for (name, value) in [
            ("q", &self.q),
            ("state", &self.state),
            ("keyspace", &self.keyspace),
            ("owner", &self.owner),
            ("scope", &self.scope),
        ] {
            if !value.is_empty() {
                url.append_pair(name, value);
            }
        }
        url.append_pair("order", order);
        if let Some(cursor) = after {
            url.append_pair("after", &cursor.encode());
        }
        url.finish()
    }
}

/// A column header that sorts the whole list (not just the page) in the
/// store: a link to the list in its order, flipped when it is the current one.
pub struct SortHeader {
    label: &'static str,
    href: String,
    /// `ascending`, `descending` or `none`, for `aria-sort`.
    aria_sort: &'static str,
}

/// The sortable columns, each with the direction its first click sorts in.
const SORTABLE: [(&str, TokenSortKey, bool); 4] = [
    ("Name", TokenSortKey::Name, false),
    ("Created", TokenSortKey::Created, true),
    ("Expires", TokenSortKey::Expires, false),
    ("Last used", TokenSortKey::LastUsed, true),
];

fn sort_headers(filter: &ListFilter, current: TokenOrder) -> [SortHeader; 4] {
    SORTABLE.map(|(label, key, first_descending)| {
        let (next, aria_sort) = if current.key == key {
            let flipped = TokenOrder { key, descending: !current.descending };
            (flipped, if current.descending { "descending" } else { "ascending" })
        } else {
            (TokenOrder { key, descending: first_descending }, "none")
        };
        SortHeader { label, href: filter.url(&next.as_text(), None), aria_sort }
    })
}

#[derive(Template)]
#[template(path = "tokens.html")]
struct TokensPage {
    signed_in: Option<UserBar>,
    notice: Option<String>,
    may_write: bool,
    csrf: String,
    states: [(&'static str, &'static str); 6],
    keyspaces: Vec<Keyspace>,
    owners: Vec<(String, String)>,
    catalog: Vec<CatalogScope>,
    filter: ListFilter,
    filtered: bool,
    /// Name, Created, Expires, Last used.
    sorts: [SortHeader; 4],
    rows: Vec<Row>,
    next_page: Option<String>,
}

/// A token's state as the screen shows it: the stored state, refined for
/// an active token that is in rotation grace, breaks the organization's
/// policy, or expires within [`EXPIRING_SOON_DAYS`].
pub(super) fn shown_state(
    record: &TokenRecord,
    now: DateTime<Utc>,
    policy: Option<&TokenPolicy>,
) -> (&'static str, &'static str) {
    let micros = now.timestamp_micros();
    match record.state_at(micros) {
        TokenState::Expired => ("expired", "Expired"),
        TokenState::Disabled => ("disabled", "Disabled"),
        TokenState::Revoked => ("revoked", "Revoked"),
        TokenState::Active if record.in_rotation_grace(micros) => ("grace", "In rotation grace"),
        TokenState::Active if policy.is_some_and(|policy| !Engine::violations_of(policy, record).is_empty()) => {
            ("violation", "Policy violation")
        }
        TokenState::Active
            if record.expires_at.is_some_and(|at| at - now <= chrono::Duration::days(EXPIRING_SOON_DAYS)) =>
        {
            ("expiring", "Expiring soon")
        }
        TokenState::Active => ("active", "Active"),
    }
}

/// Readable names of the organization's token owners (members by email,
/// service accounts by name), for those allowed to list them.
pub(super) async fn owner_names(state: &AppState, page: &SignedInPage) -> HashMap<String, String> {
    state.engine.directory(&page.actor).await.map(|directory| names_of_owners(&directory)).unwrap_or_default()
}

/// Owners' names by id, as far as the caller may read members.
pub(super) fn names_of_owners(directory: &Directory) -> HashMap<String, String> {
    let members = directory.members.iter().map(|member| (member.user_id.clone(), member.email.clone()));
    let accounts = directory
        .service_accounts
        .iter()
        .map(|account| (account.id.clone(), format!("{} (service account)", account.name)));
    members.chain(accounts).collect()
}

pub(super) fn row(
    record: &TokenRecord,
    keyspaces: &HashMap<&str, &Keyspace>,
    owners: &HashMap<String, String>,
    policy: Option<&TokenPolicy>,
    now: DateTime<Utc>,
) -> Row {
    let (state, state_label) = shown_state(record, now, policy);
    Row {
        id: record.id.clone(),
        name: record.name.clone(),
        masked: record.masked(),
        keyspace: keyspaces
            .get(record.keyspace_id.as_str())
            .map_or_else(|| record.keyspace_id.clone(), |k| k.name.clone()),
        environment: record.environment.as_str().to_owned(),
        owner: owners.get(&record.owner).cloned().unwrap_or_else(|| record.owner.clone()),
        scopes: record.scopes.clone(),
        created: When::of(record.created_at, now),
        expires: record.expires_at.map(|at| When::of(at, now)),
        last_used: record.usage.last_used_at.map(|at| When::of(at, now)),
        last_client: None,
        state,
        state_label,
        revocable: !record.is_revoked(),
    }
}

/// Every scope the keyspaces' catalogs describe, each once.
fn catalog_of(keyspaces: &[Keyspace]) -> Vec<CatalogScope> {
    let mut catalog: Vec<CatalogScope> = Vec::new();
    for entry in keyspaces.iter().filter_map(|k| k.scope_catalog.as_ref()).flatten() {
        if !catalog.iter().any(|known| known.scope == entry.scope) {
            catalog.push(entry.clone());
        }
    }
    catalog
}

pub(super) async fn customer_keyspaces(state: &AppState, page: &SignedInPage) -> Result<Vec<Keyspace>, EngineError> {
    Ok(customer_keyspaces_of(state.engine.directory(&page.actor).await?))
}

/// The keyspaces tokens are issued in here: every one but the management keyspace.
pub(super) fn customer_keyspaces_of(directory: Directory) -> Vec<Keyspace> {
    directory.keyspaces.into_iter().filter(|keyspace| !keyspace.management).collect()
}

/// "203.0.113.7 · curl/8.5.0": where a verification came from, as far as
/// it is known.
pub(super) fn client_label(sample: &keyward_store::VerificationSample) -> Option<String> {
    let parts: Vec<&str> = [sample.client_ip.as_deref(), sample.user_agent.as_deref()]
        .into_iter()
        .flatten()
        .filter(|part| !part.is_empty())
        .collect();
    (!parts.is_empty()).then(|| parts.join(" · "))
}

/// `GET /tokens`
pub async fn list(
    State(state): State<AppState>,
    page: SignedInPage,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let mut notices = Vec::new();
    let (mut filter, order) = ListFilter::from_query(&query, &mut notices);
    let directory = match state.engine.directory(&page.actor).await {
        Ok(directory) => directory,
        Err(error) => return failed(error),
    };
    let owners = names_of_owners(&directory);
    let policy = directory.organization.as_ref().map(|organization| organization.token_policy.clone());
    let keyspaces = customer_keyspaces_of(directory);
    let now = micros_to_datetime(state.now_micros());
    let store_filter = filter.store_filter(order, now, &mut notices);
    let after = page_after(&query, order, &mut notices);
    let listed = match state.engine.list_tokens(&page.actor, store_filter, &PageRequest::new(Some(50), after)).await {
        Ok(listed) => listed,
        Err(error) => return failed(error),
    };
    let by_id: HashMap<&str, &Keyspace> = keyspaces.iter().map(|k| (k.id.as_str(), k)).collect();
    let ids: Vec<String> =
        listed.items.iter().filter(|record| !record.management).map(|record| record.id.clone()).collect();
    // Where tokens were last used is a nicety: the table shows without it.
    let mut last_uses = state.engine.last_uses(&page.actor, &ids).await.unwrap_or_default();
    let rows = listed
        .items
        .iter()
        .filter(|record| !record.management)
        .map(|record| Row {
            last_client: last_uses.remove(&record.id).and_then(|sample| client_label(&sample)),
            ..row(record, &by_id, &owners, policy.as_ref(), now)
        })
        .collect();
    let next_page = listed.next.map(|cursor| filter.url(&filter.order, Some(&cursor)));
    let notice = list_notice(&query, notices);
    let filtered = filter.narrows();
    let mut owners: Vec<(String, String)> = owners.into_iter().collect();
    owners.sort_by(|a, b| a.1.cmp(&b.1));
    let sorts = sort_headers(&filter, order);
    render(&TokensPage {
        signed_in: Some(UserBar::from(&page)),
        notice,
        may_write: page.actor.capabilities().may_write_tokens,
        csrf: page.csrf.clone(),
        states: STATES,
        catalog: catalog_of(&keyspaces),
        keyspaces,
        owners,
        filter,
        filtered,
        sorts,
        rows,
        next_page,
    })
}

impl ListFilter {
    /// The filters and order a `/tokens` query asks for; an order Keyward
    /// does not know falls back to newest first, with a notice.
    fn from_query(query: &HashMap<String, String>, notices: &mut Vec<&'static str>) -> (Self, TokenOrder) {
        let value = |name: &str| query.get(name).map(|v| v.trim().to_owned()).unwrap_or_default();
        let mut filter = ListFilter {
            q: value("q"),
            state: value("state"),
            keyspace: value("keyspace"),
            owner: value("owner"),
            scope: value("scope"),
            order: value("order"),
        };
        let order = match filter.order.as_str() {
            "" => TokenOrder::default(),
            text => TokenOrder::parse(text).unwrap_or_else(|| {
                notices.push("That sort order is not one Keyward knows; showing the newest first.");
                TokenOrder::default()
            }),
        };
        filter.order = order.as_text();
        (filter, order)
    }

    /// What the store is asked for; an unknown state filter is dropped, with a notice.
    fn store_filter(&mut self, order: TokenOrder, now: DateTime<Utc>, notices: &mut Vec<&'static str>) -> TokenFilter {
        let some = |text: &String| (!text.is_empty()).then(|| text.clone());
        let mut store_filter = TokenFilter {
            order,
            keyspace_id: some(&self.keyspace),
            owner: some(&self.owner),
            name_contains: some(&self.q),
            scope: some(&self.scope),
            now,
            ..TokenFilter::default()
        };
        match self.state.as_str() {
            "" => {}
            "active" => store_filter.state = Some(TokenState::Active),
            "expiring" => {
                store_filter.state = Some(TokenState::Active);
                store_filter.expires_before = Some(now + chrono::Duration::days(EXPIRING_SOON_DAYS));
            }
            "grace" => {
                store_filter.state = Some(TokenState::Active);
                store_filter.replaced = true;
            }
            "expired" => store_filter.state = Some(TokenState::Expired),
            "disabled" => store_filter.state = Some(TokenState::Disabled),
            "revoked" => store_filter.state = Some(TokenState::Revoked),
            _ => {
                notices.push("That state filter is not one Keyward knows; showing every state.");
                self.state.clear();
            }
        }
        store_filter
    }

    /// Whether any filter narrows the list.
    fn narrows(&self) -> bool {
        !(self.q.is_empty()
            && self.state.is_empty()
            && self.keyspace.is_empty()
            && self.owner.is_empty()
            && self.scope.is_empty())
    }
}

/// The page a `/tokens` link continues from; a stale or foreign cursor
/// restarts at the first page, with a notice.
fn page_after(query: &HashMap<String, String>, order: TokenOrder, notices: &mut Vec<&'static str>) -> Option<Cursor> {
    let cursor = query.get("after").filter(|cursor| !cursor.is_empty())?;
    let valid = Cursor::decode(cursor).filter(|cursor| order.fits(cursor));
    if valid.is_none() {
        notices.push("That page link is not valid any more; showing the first page.");
    }
    valid
}

/// The line above the table: a bulk revocation's count, the welcome, or
/// what was wrong with the query.
fn list_notice(query: &HashMap<String, String>, mut notices: Vec<&'static str>) -> Option<String> {
    if query.contains_key("welcome") {
        notices.push("Your account is ready. Create a token to let a service call your API; its secret is shown once.");
    }
    let bulk_notice = query.get("bulk_revoked").and_then(|count| count.parse::<u64>().ok()).map(|count| {
        let plural = if count == 1 { "" } else { "s" };
        format!("{count} token{plural} revoked. Verifications of them now fail.")
    });
    bulk_notice.or_else(|| (!notices.is_empty()).then(|| notices.join(" ")))
}

/// A keyspace as shown beside a token: its name and environment, or its id
/// when it cannot be read (a stored id of another shape names no keyspace).
pub(crate) async fn keyspace_label(state: &AppState, page: &SignedInPage, keyspace_id: &str) -> String {
    let keyspace = match KeyspaceId::parse(keyspace_id) {
        Ok(id) => state.engine.get_keyspace(&page.actor, &id).await.ok(),
        Err(_) => None,
    };
    keyspace.map_or_else(|| keyspace_id.to_owned(), |k| format!("{} ({})", k.name, k.environment.as_str()))
}

/// The customer token a page shows, by its path id. A malformed id is
/// refused as the engine refused it when it checked the shape itself; it,
/// an unknown id and a management token are all "no such token".
pub(crate) async fn shown_token(
    state: &AppState,
    page: &SignedInPage,
    id: &str,
) -> Result<(TokenId, TokenRecord), Response> {
    let id: TokenId = parse_id(id, || page.actor.require(management::TOKENS_READ)).map_err(failed)?;
    match state.engine.get_token(&page.actor, &id).await {
        Ok(record) if !record.management => Ok((id, record)),
        Ok(_) => Err(failed(EngineError::NotFound("token"))),
        Err(error) => Err(failed(error)),
    }
}
