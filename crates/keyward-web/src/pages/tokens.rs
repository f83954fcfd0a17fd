//! The API Tokens screen: the table, creation with the secret shown once,
//! a token's page (usage chart, recent verifications, audit trail), and
//! revocation (typed confirmation in live keyspaces). Rotation and bulk
//! revocation are in [`super::lifecycle`].

use std::collections::{HashMap, HashSet};
use std::sync::{LazyLock, Mutex};

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, NaiveDate, Utc};
use keyward_core::clock::micros_to_datetime;
use keyward_core::model::{CatalogScope, Keyspace, RevokedReason, TokenRecord, TokenState};
use keyward_core::policy::TokenPolicy;
use keyward_core::scope::management;
use keyward_core::Environment;
use keyward_core::{base62, OsRng, SecureRng};
use keyward_engine::{Engine, EngineError, NewKeyspace, NewToken};
use keyward_server::AppState;
use keyward_store::{AuditFilter, Cursor, PageRequest, TokenFilter, TokenOrder, TokenSortKey};

use super::{failed, refused_without, render, UserBar, When};
use crate::form::FormData;
use crate::session::SignedInPage;

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
    let mut names = HashMap::new();
    if let Ok(members) = state.engine.list_members(&page.actor).await {
        names.extend(members.into_iter().map(|member| (member.user_id, member.email)));
    }
    if let Ok(accounts) = state.engine.list_service_accounts(&page.actor).await {
        names.extend(accounts.into_iter().map(|account| (account.id, format!("{} (service account)", account.name))));
    }
    names
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
        last_used: record.last_used_at.map(|at| When::of(at, now)),
        last_client: None,
        state,
        state_label,
        revocable: record.revoked_at.is_none(),
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
    let keyspaces = super::keyspaces::all_keyspaces(state, page).await?;
    Ok(keyspaces.into_iter().filter(|keyspace| !keyspace.management).collect())
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
    let value = |name: &str| query.get(name).map(|v| v.trim().to_owned()).unwrap_or_default();
    let mut notices = Vec::new();
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
    let keyspaces = match customer_keyspaces(&state, &page).await {
        Ok(keyspaces) => keyspaces,
        Err(error) => return failed(error),
    };
    let now = micros_to_datetime(state.now_micros());
    let mut store_filter = TokenFilter {
        order,
        keyspace_id: (!filter.keyspace.is_empty()).then(|| filter.keyspace.clone()),
        owner: (!filter.owner.is_empty()).then(|| filter.owner.clone()),
        name_contains: (!filter.q.is_empty()).then(|| filter.q.clone()),
        scope: (!filter.scope.is_empty()).then(|| filter.scope.clone()),
        now,
        ..TokenFilter::default()
    };
    match filter.state.as_str() {
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
            filter.state.clear();
        }
    }
    let after = match query.get("after").filter(|cursor| !cursor.is_empty()) {
        None => None,
        Some(cursor) => match Cursor::decode(cursor).filter(|cursor| order.fits(cursor)) {
            Some(cursor) => Some(cursor),
            None => {
                notices.push("That page link is not valid any more; showing the first page.");
                None
            }
        },
    };
    let listed = match state.engine.list_tokens(&page.actor, store_filter, &PageRequest::new(Some(50), after)).await {
        Ok(listed) => listed,
        Err(error) => return failed(error),
    };
    let by_id: HashMap<&str, &Keyspace> = keyspaces.iter().map(|k| (k.id.as_str(), k)).collect();
    let owners = owner_names(&state, &page).await;
    let policy = state.engine.token_policy(&page.actor).await.ok();
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
    if query.contains_key("welcome") {
        notices.push("Your account is ready. Create a token to let a service call your API; its secret is shown once.");
    }
    let bulk_notice = query.get("bulk_revoked").and_then(|count| count.parse::<u64>().ok()).map(|count| {
        let plural = if count == 1 { "" } else { "s" };
        format!("{count} token{plural} revoked. Verifications of them now fail.")
    });
    let notice = bulk_notice.or_else(|| (!notices.is_empty()).then(|| notices.join(" ")));
    let filtered = !(filter.q.is_empty()
        && filter.state.is_empty()
        && filter.keyspace.is_empty()
        && filter.owner.is_empty()
        && filter.scope.is_empty());
    let mut owners: Vec<(String, String)> = owners.into_iter().collect();
    owners.sort_by(|a, b| a.1.cmp(&b.1));
    let sorts = sort_headers(&filter, order);
    render(&TokensPage {
        signed_in: Some(UserBar::from(&page)),
        notice,
        may_write: page.actor.holds(management::TOKENS_WRITE),
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

#[derive(Default)]
pub struct CreateInput {
    name: String,
    keyspace_id: String,
    new_keyspace: String,
    new_environment: String,
    scopes: HashSet<String>,
    extra_scopes: String,
    expires: String,
    expires_on: String,
    allowed_ips: String,
    metadata: String,
    /// Empty: the creator; else a service account's id.
    owner: String,
}

#[derive(Default)]
pub struct CreateErrors {
    form: Option<String>,
    owner: Option<String>,
    name: Option<String>,
    keyspace_id: Option<String>,
    scopes: Option<String>,
    expires: Option<String>,
    allowed_ips: Option<String>,
    metadata: Option<String>,
}

#[derive(Template)]
#[template(path = "token_new.html")]
struct NewTokenPage {
    signed_in: Option<UserBar>,
    notice: Option<String>,
    csrf: String,
    nonce: String,
    keyspaces: Vec<Keyspace>,
    catalog: Vec<CatalogScope>,
    expiry_presets: [(&'static str, &'static str); 6],
    policy_limit: Option<String>,
    /// Whom the token may belong to; empty when only the creator.
    owners: Vec<(String, String)>,
    input: CreateInput,
    errors: CreateErrors,
}

pub(super) fn nonce() -> String {
    let mut bytes = [0u8; 16];
    // A nonce only spots double submits; without randomness it is empty and
    // such a form is simply not deduplicated.
    if OsRng.fill(&mut bytes).is_err() {
        return String::new();
    }
    base62::encode_u128(u128::from_le_bytes(bytes))
}

async fn new_page(state: &AppState, page: &SignedInPage, input: CreateInput, errors: CreateErrors) -> Response {
    let keyspaces = match customer_keyspaces(state, page).await {
        Ok(keyspaces) => keyspaces,
        Err(error) => return failed(error),
    };
    let catalog = catalog_of(&keyspaces);
    let policy_limit = match state.engine.token_policy(&page.actor).await {
        Ok(policy) => {
            policy.max_lifetime_seconds.map(|seconds| format!("tokens expire within {} days", seconds / 86_400))
        }
        Err(_) => None,
    };
    let owners = owner_choices(state, page).await;
    let status = if errors.form.is_some()
        || errors.owner.is_some()
        || errors.name.is_some()
        || errors.keyspace_id.is_some()
        || errors.scopes.is_some()
        || errors.expires.is_some()
        || errors.allowed_ips.is_some()
        || errors.metadata.is_some()
    {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let input = CreateInput {
        expires: if input.expires.is_empty() { "30d".into() } else { input.expires },
        new_keyspace: if input.new_keyspace.is_empty() { "default".into() } else { input.new_keyspace },
        ..input
    };
    let rendered = render(&NewTokenPage {
        signed_in: Some(UserBar::from(page)),
        notice: None,
        csrf: page.csrf.clone(),
        nonce: nonce(),
        keyspaces,
        catalog,
        expiry_presets: EXPIRY_PRESETS,
        policy_limit,
        owners,
        input,
        errors,
    });
    (status, rendered).into_response()
}

/// Whom a new token may belong to, for those who may issue tokens for
/// others: themselves (empty id) and each service account. Empty for
/// developers, whose tokens are always their own.
async fn owner_choices(state: &AppState, page: &SignedInPage) -> Vec<(String, String)> {
    if !super::people::manages_everyones_tokens(page) {
        return Vec::new();
    }
    let accounts = state.engine.list_service_accounts(&page.actor).await.unwrap_or_default();
    if accounts.is_empty() {
        return Vec::new();
    }
    let mut choices = vec![(String::new(), format!("You ({})", page.email))];
    choices.extend(accounts.into_iter().map(|account| (account.id, format!("{} (service account)", account.name))));
    choices
}

/// `GET /tokens/new` (`?owner=sa_…` preselects a service account)
pub async fn new_form(
    State(state): State<AppState>,
    page: SignedInPage,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    if let Some(refused) = refused_without(&page, management::TOKENS_WRITE) {
        return refused;
    }
    let input = CreateInput { owner: query.get("owner").cloned().unwrap_or_default(), ..CreateInput::default() };
    new_page(&state, &page, input, CreateErrors::default()).await
}

/// Forms already submitted in this process: nonce → the token it created
/// (`None` while being created), so a double click or a resubmitted form
/// never makes a second token nor shows the secret again.
/// Per nonce: the token created (`None` while creating) and when.
type Submissions = HashMap<String, (Option<String>, i64)>;
static SUBMITTED: LazyLock<Mutex<Submissions>> = LazyLock::new(Default::default);
const SUBMISSION_MEMORY_MICROS: i64 = 3_600_000_000;

pub(super) enum Submission {
    First,
    Pending,
    Done(String),
}

pub(super) fn claim_submission(nonce: &str, now_micros: i64) -> Submission {
    if nonce.is_empty() {
        return Submission::First;
    }
    let mut submitted = SUBMITTED.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    submitted.retain(|_, (_, at)| now_micros - *at < SUBMISSION_MEMORY_MICROS);
    match submitted.get(nonce) {
        Some((Some(id), _)) => Submission::Done(id.clone()),
        Some((None, _)) => Submission::Pending,
        None => {
            submitted.insert(nonce.to_owned(), (None, now_micros));
            Submission::First
        }
    }
}

pub(super) fn settle_submission(nonce: &str, token_id: Option<String>, now_micros: i64) {
    if nonce.is_empty() {
        return;
    }
    let mut submitted = SUBMITTED.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    match token_id {
        Some(id) => submitted.insert(nonce.to_owned(), (Some(id), now_micros)),
        // A failed attempt may be corrected and sent again with the same nonce.
        None => submitted.remove(nonce),
    };
}

fn expiry(input: &CreateInput, now: DateTime<Utc>) -> Result<(Option<i64>, Option<DateTime<Utc>>), String> {
    let days = |n: i64| Ok((Some(n * 86_400), None));
    match input.expires.as_str() {
        "7d" => days(7),
        "30d" | "" => days(30),
        "90d" => days(90),
        "365d" => days(365),
        "never" => Ok((None, None)),
        "date" => {
            let date = NaiveDate::parse_from_str(&input.expires_on, "%Y-%m-%d")
                .map_err(|_| "Pick a date, or one of the presets.".to_owned())?;
            let at = date.and_hms_opt(23, 59, 59).map(|at| at.and_utc()).ok_or("Pick a valid date.")?;
            if at <= now {
                return Err("Pick a date in the future.".into());
            }
            Ok((None, Some(at)))
        }
        _ => Err("Pick one of the presets.".into()),
    }
}

/// What the shown-once page says of the token a rotation replaced.
pub struct Replaced {
    pub id: String,
    /// When it stops verifying; `None`: it was revoked at once.
    pub grace_ends: Option<When>,
    /// Clients seen using it recently: they need the new token.
    pub clients: Vec<String>,
}

#[derive(Template)]
#[template(path = "token_created.html")]
pub(super) struct CreatedPage {
    pub signed_in: Option<UserBar>,
    pub notice: Option<String>,
    pub id: String,
    pub name: String,
    pub secret: String,
    pub scopes: Vec<String>,
    pub expires: String,
    pub keyspace: String,
    pub calls: Calls,
    pub replaced: Option<Replaced>,
}

/// The calls the shown-once page offers, against the address the browser used.
pub(super) struct Calls {
    /// The first call, per language.
    pub examples: Vec<(&'static str, String)>,
    /// How a backend then checks tokens presented to it.
    pub verify: String,
}

impl Calls {
    pub(super) fn for_request(site: &keyward_server::Site, headers: &axum::http::HeaderMap) -> Self {
        let origin = site.origin(headers);
        Self { examples: examples(&origin), verify: verify_example(&origin) }
    }
}

/// The sample route's address: the first call a new token makes.
fn sample_url(origin: &str) -> String {
    format!("{origin}/v1/sample")
}

/// The shortest first call, for the token page while none has arrived.
fn curl_example(origin: &str) -> String {
    format!("curl -sS {} \\\n  -H \"Authorization: Bearer $KEYWARD_API_TOKEN\"", sample_url(origin))
}

/// Ready-to-run first calls, each a whole program needing only the
/// language's standard tools (and `reqwest`/`tokio` for Rust): the token,
/// from `$KEYWARD_API_TOKEN`, is the only credential.
fn examples(origin: &str) -> Vec<(&'static str, String)> {
    let url = sample_url(origin);
    vec![
        ("curl", curl_example(origin)),
        (
            "Python",
            format!(
                "import json, os, urllib.error, urllib.request\n\nrequest = urllib.request.Request(\n    \"{url}\",\n    headers={{\"Authorization\": f\"Bearer {{os.environ['KEYWARD_API_TOKEN']}}\"}},\n)\ntry:\n    with urllib.request.urlopen(request, timeout=5) as response:\n        print(response.status, json.load(response))\nexcept urllib.error.HTTPError as refused:\n    print(refused.code, json.load(refused))"
            ),
        ),
        (
            "JavaScript",
            format!(
                "// first-call.mjs, run with: node first-call.mjs (Node 18 or later)\nconst response = await fetch(\"{url}\", {{\n  headers: {{ Authorization: `Bearer ${{process.env.KEYWARD_API_TOKEN}}` }},\n}});\nconsole.log(response.status, await response.json());"
            ),
        ),
        (
            "Go",
            format!(
                "package main\n\nimport (\n\t\"fmt\"\n\t\"io\"\n\t\"net/http\"\n\t\"os\"\n)\n\nfunc main() {{\n\treq, _ := http.NewRequest(\"GET\", \"{url}\", nil)\n\treq.Header.Set(\"Authorization\", \"Bearer \"+os.Getenv(\"KEYWARD_API_TOKEN\"))\n\tresp, err := http.DefaultClient.Do(req)\n\tif err != nil {{\n\t\tfmt.Fprintln(os.Stderr, err)\n\t\tos.Exit(1)\n\t}}\n\tdefer resp.Body.Close()\n\tbody, _ := io.ReadAll(resp.Body)\n\tfmt.Println(resp.StatusCode, string(body))\n}}"
            ),
        ),
        (
            "Rust",
            format!(
                "// Cargo.toml: reqwest = \"0.12\", tokio = {{ version = \"1\", features = [\"full\"] }}\n#[tokio::main]\nasync fn main() -> Result<(), Box<dyn std::error::Error>> {{\n    let response = reqwest::Client::new()\n        .get(\"{url}\")\n        .bearer_auth(std::env::var(\"KEYWARD_API_TOKEN\")?)\n        .send()\n        .await?;\n    println!(\"{{}} {{}}\", response.status(), response.text().await?);\n    Ok(())\n}}"
            ),
        ),
    ]
}

/// How a backend checks tokens presented to it, once the first call worked.
fn verify_example(origin: &str) -> String {
    let body = r#"{"token": "'"$KEYWARD_API_TOKEN"'", "required_scopes": []}"#;
    format!(
        "curl -sS -X POST {origin}/v1/verify \\\n  -H \"Authorization: Bearer $KEYWARD_VERIFY_TOKEN\" \\\n  -H 'Content-Type: application/json' \\\n  -d '{body}'"
    )
}

/// `POST /tokens/new`: the one response that holds the secret; it is
/// `no-store`, and resubmitting it leads to the token's page instead.
pub async fn create(
    State(state): State<AppState>,
    page: SignedInPage,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> Response {
    let form = FormData::parse(&body);
    let input = CreateInput {
        name: form.get("name"),
        keyspace_id: form.get("keyspace_id"),
        new_keyspace: form.get("new_keyspace"),
        new_environment: form.get("new_environment"),
        scopes: form.all("scope").into_iter().collect(),
        extra_scopes: form.get("extra_scopes"),
        expires: form.get("expires"),
        expires_on: form.get("expires_on"),
        allowed_ips: form.get("allowed_ips"),
        metadata: form.get("metadata"),
        owner: form.get("owner"),
    };
    if !page.csrf_ok(&form) {
        let errors = CreateErrors {
            form: Some("This form expired or came from another page. Check the fields and submit again.".into()),
            ..CreateErrors::default()
        };
        return (StatusCode::FORBIDDEN, new_page(&state, &page, input, errors).await).into_response();
    }
    let now_micros = state.now_micros();
    let nonce = form.get("nonce");
    match claim_submission(&nonce, now_micros) {
        Submission::First => {}
        Submission::Done(id) => return Redirect::to(&format!("/tokens/{id}?resubmitted=1")).into_response(),
        Submission::Pending => return Redirect::to("/tokens").into_response(),
    }
    let now = micros_to_datetime(now_micros);
    let (expires_in, expires_at) = match expiry(&input, now) {
        Ok(expiry) => expiry,
        Err(message) => {
            settle_submission(&nonce, None, now_micros);
            let errors = CreateErrors { expires: Some(message), ..CreateErrors::default() };
            return new_page(&state, &page, input, errors).await;
        }
    };
    let metadata = if input.metadata.is_empty() {
        None
    } else {
        match serde_json::from_str::<serde_json::Value>(&input.metadata) {
            Ok(value) => Some(value),
            Err(error) => {
                settle_submission(&nonce, None, now_micros);
                let errors =
                    CreateErrors { metadata: Some(format!("Not valid JSON: {error}.")), ..CreateErrors::default() };
                return new_page(&state, &page, input, errors).await;
            }
        }
    };
    let mut keyspace_id = input.keyspace_id.clone();
    if keyspace_id.is_empty() && !input.new_keyspace.trim().is_empty() {
        // The organization's first token brings its first keyspace.
        let environment = if input.new_environment == "live" { Environment::Live } else { Environment::Test };
        let new = NewKeyspace {
            name: input.new_keyspace.trim().to_owned(),
            environment,
            prefix: None,
            default_ttl_seconds: None,
            scope_catalog: None,
            rotation_period_days: None,
            disable_after_inactive_days: None,
        };
        match state.engine.create_keyspace(&page.actor, new).await {
            Ok(keyspace) => keyspace_id = keyspace.id,
            Err(error) => {
                settle_submission(&nonce, None, now_micros);
                let message = match error {
                    EngineError::Invalid(invalid) => invalid.message,
                    EngineError::Forbidden { .. } => {
                        "Your role cannot create keyspaces; ask an owner or admin to create one.".to_owned()
                    }
                    other => return failed(other),
                };
                let errors = CreateErrors { keyspace_id: Some(message), ..CreateErrors::default() };
                return new_page(&state, &page, input, errors).await;
            }
        }
    }
    let mut scopes: Vec<String> = input.scopes.iter().cloned().collect();
    scopes.extend(input.extra_scopes.split([' ', ',']).filter(|s| !s.is_empty()).map(str::to_owned));
    scopes.sort();
    scopes.dedup();
    // The engine accepts any owner label from the API; the page offers only
    // the creator and the organization's service accounts.
    if !input.owner.is_empty() && !owner_choices(&state, &page).await.iter().any(|(id, _)| *id == input.owner) {
        settle_submission(&nonce, None, now_micros);
        let errors = CreateErrors { owner: Some("Pick one of the owners listed.".into()), ..CreateErrors::default() };
        return new_page(&state, &page, input, errors).await;
    }
    let request = NewToken {
        keyspace_id,
        name: input.name.clone(),
        scopes,
        expires_in,
        expires_at,
        metadata,
        allowed_ips: input.allowed_ips.split_whitespace().map(str::to_owned).collect(),
        owner: (!input.owner.is_empty()).then(|| input.owner.clone()),
        ..NewToken::default()
    };
    let issued = match state.engine.issue_token(&page.actor, request).await {
        Ok(issued) => issued,
        Err(error) => {
            settle_submission(&nonce, None, now_micros);
            let mut errors = CreateErrors::default();
            match error {
                EngineError::Invalid(invalid) => match invalid.field {
                    "name" => errors.name = Some(invalid.message),
                    "keyspace_id" => errors.keyspace_id = Some(invalid.message),
                    "owner" => errors.owner = Some("Pick one of the owners listed.".into()),
                    field if field.starts_with("scope") => errors.scopes = Some(invalid.message),
                    field if field.starts_with("expires") => errors.expires = Some(invalid.message),
                    field if field.starts_with("allowed_ips") => errors.allowed_ips = Some(invalid.message),
                    field if field.starts_with("metadata") => errors.metadata = Some(invalid.message),
                    _ => errors.form = Some(invalid.message),
                },
                EngineError::NotFound("keyspace") => errors.keyspace_id = Some("Pick one of your keyspaces.".into()),
                EngineError::NotOwner => errors.owner = Some("Your role creates tokens only for yourself.".into()),
                EngineError::Escalation { scopes } => {
                    errors.scopes = Some(format!("You cannot grant scopes you do not hold: {}.", scopes.join(", ")))
                }
                EngineError::PolicyViolation { .. } => errors.form = Some(error.to_string()),
                // This form offers customer keyspaces only; a management
                // keyspace posted to it is held to the same rule as the API.
                EngineError::SudoRequired { .. } => {
                    errors.keyspace_id = Some(
                        "Minting a management token needs your password typed within the last 10 minutes; \
                         sign in again, then retry."
                            .into(),
                    )
                }
                other => return failed(other),
            }
            return new_page(&state, &page, input, errors).await;
        }
    };
    settle_submission(&nonce, Some(issued.record.id.clone()), now_micros);
    let keyspace = state
        .engine
        .get_keyspace(&page.actor, &issued.record.keyspace_id)
        .await
        .map_or_else(|_| issued.record.keyspace_id.clone(), |k| format!("{} ({})", k.name, k.environment.as_str()));
    render(&CreatedPage {
        signed_in: Some(UserBar::from(&page)),
        notice: None,
        id: issued.record.id.clone(),
        name: issued.record.name.clone(),
        secret: issued.secret.expose().to_owned(),
        scopes: issued.record.scopes.clone(),
        expires: issued.record.expires_at.map_or_else(|| "never".to_owned(), |at| When::of(at, now).exact),
        keyspace,
        calls: Calls::for_request(&state.site, &headers),
        replaced: None,
    })
}

#[derive(Template)]
#[template(path = "token_detail.html")]
struct DetailPage {
    signed_in: Option<UserBar>,
    notice: Option<String>,
    csrf: String,
    id: String,
    name: String,
    masked: String,
    keyspace: String,
    environment: String,
    owner: String,
    scopes: Vec<String>,
    created: When,
    expires: Option<When>,
    last_used: Option<When>,
    use_count: i64,
    state: &'static str,
    state_label: &'static str,
    live: bool,
    revocable: bool,
    may_write: bool,
    revoke_error: Option<String>,
    violations: Vec<String>,
    may_rotate: bool,
    /// The management token that made it, if one did.
    parent_token_id: Option<String>,
    rotated_from: Option<String>,
    replaced_by: Option<String>,
    grace_ends: Option<When>,
    clients: Vec<String>,
    chart: String,
    recent: Vec<Verification>,
    /// The first call to make, while none has worked.
    try_it: Option<String>,
    audit: Option<Vec<AuditLine>>,
}

/// What a token page shows besides the token: a notice from the action
/// that led here, and whether the person came to see their first call land.
struct Shown<'a> {
    notice: Option<String>,
    checking_first_call: bool,
    /// The address the examples call.
    origin: &'a str,
}

/// One sampled verification, as the token page lists it.
pub struct Verification {
    when: When,
    outcome: String,
    valid: bool,
    source: String,
}

/// One audit event about a token.
pub struct AuditLine {
    pub when: When,
    pub action: String,
    pub actor: String,
    pub source_ip: String,
}

/// "203.0.113.7 · billing/1.2", or what is known of it.
pub(super) fn source(client_ip: Option<&str>, user_agent: Option<&str>) -> String {
    match (client_ip, user_agent) {
        (Some(ip), Some(agent)) => format!("{ip} · {agent}"),
        (Some(ip), None) => ip.to_owned(),
        (None, Some(agent)) => agent.to_owned(),
        (None, None) => "unknown source".to_owned(),
    }
}

async fn detail_page(
    state: &AppState,
    page: &SignedInPage,
    id: &str,
    shown: Shown<'_>,
    revoke_error: Option<String>,
) -> Response {
    let record = match state.engine.get_token(&page.actor, id).await {
        Ok(record) if !record.management => record,
        Ok(_) => return failed(EngineError::NotFound("token")),
        Err(error) => return failed(error),
    };
    // One keyspace to name, not the organization's list.
    let keyspace = state.engine.get_keyspace(&page.actor, &record.keyspace_id).await.ok();
    let now = micros_to_datetime(state.now_micros());
    let by_id: HashMap<&str, &Keyspace> = keyspace.iter().map(|k| (k.id.as_str(), k)).collect();
    let owners = owner_names(state, page).await;
    let policy = state.engine.token_policy(&page.actor).await.ok();
    let violations = policy
        .as_ref()
        .map(|policy| Engine::violations_of(policy, &record).iter().map(|v| v.explain(policy)).collect())
        .unwrap_or_default();
    let row = row(&record, &by_id, &owners, policy.as_ref(), now);
    let activity = match state.engine.token_activity(&page.actor, id, CHART_DAYS).await {
        Ok(activity) => activity,
        Err(error) => return failed(error),
    };
    let recent: Vec<Verification> = activity
        .recent
        .iter()
        .map(|sample| Verification {
            when: When::of(sample.at, now),
            valid: sample.outcome == "VALID",
            outcome: sample.outcome.clone(),
            source: source(sample.client_ip.as_deref(), sample.user_agent.as_deref()),
        })
        .collect();
    let active = record.state_at(now.timestamp_micros()) == TokenState::Active;
    let first_call = recent.iter().find(|check| check.valid);
    let notice = match (shown.notice, shown.checking_first_call, first_call) {
        (Some(notice), _, _) => Some(notice),
        (None, true, Some(call)) => {
            Some(format!("It works: a verified call arrived {} from {}.", call.when.relative, call.source))
        }
        (None, true, None) => Some(
            "No verified call has arrived yet. Run one of the examples with the token, wait a second, then check again."
                .to_owned(),
        ),
        (None, false, _) => None,
    };
    // Until a call has worked, the page says how to make one.
    let try_it = (active && first_call.is_none()).then(|| curl_example(shown.origin));
    let in_grace = record.in_rotation_grace(now.timestamp_micros());
    let clients = if in_grace {
        state
            .engine
            .token_clients(&page.actor, id)
            .await
            .unwrap_or_default()
            .iter()
            .map(|client| {
                let seen = When::of(client.last_seen_at, now).relative;
                let uses = client.uses;
                format!(
                    "{} ({uses} uses, last {seen})",
                    source(client.client_ip.as_deref(), client.user_agent.as_deref())
                )
            })
            .collect()
    } else {
        Vec::new()
    };
    let audit = if page.actor.holds(management::AUDIT_READ) {
        let filter = AuditFilter { target_id: Some(record.id.clone()), ..AuditFilter::default() };
        match state.engine.list_audit(&page.actor, &filter, &PageRequest::new(Some(20), None)).await {
            Ok(events) => Some(
                events
                    .items
                    .into_iter()
                    .map(|event| AuditLine {
                        when: When::of(event.occurred_at, now),
                        actor: owners.get(&event.actor).cloned().unwrap_or(event.actor),
                        action: event.action,
                        source_ip: event.source_ip.unwrap_or_default(),
                    })
                    .collect(),
            ),
            Err(error) => return failed(error),
        }
    } else {
        None
    };
    let may_write = page.actor.holds(management::TOKENS_WRITE);
    let status = if revoke_error.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    let rendered = render(&DetailPage {
        signed_in: Some(UserBar::from(page)),
        notice,
        csrf: page.csrf.clone(),
        id: row.id,
        name: row.name,
        masked: row.masked,
        keyspace: row.keyspace,
        live: record.environment == keyward_core::Environment::Live,
        environment: row.environment,
        owner: row.owner,
        scopes: row.scopes,
        created: row.created,
        expires: row.expires,
        last_used: row.last_used,
        use_count: record.use_count,
        state: row.state,
        state_label: row.state_label,
        revocable: record.revoked_at.is_none(),
        may_write,
        revoke_error,
        violations,
        may_rotate: may_write && active && record.replaced_by.is_none(),
        parent_token_id: record.parent_token_id.clone(),
        rotated_from: record.rotated_from.clone(),
        replaced_by: record.replaced_by.clone(),
        grace_ends: if in_grace { record.expires_at.map(|at| When::of(at, now)) } else { None },
        clients,
        chart: super::chart::usage_svg(&activity.days),
        recent,
        try_it,
        audit,
    });
    (status, rendered).into_response()
}

/// `GET /tokens/{id}`
pub async fn detail(
    State(state): State<AppState>,
    page: SignedInPage,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: axum::http::HeaderMap,
) -> Response {
    let notice = if query.contains_key("resubmitted") {
        Some("This token was created already by that form; its secret is not shown again.".to_owned())
    } else if query.contains_key("revoked") {
        Some("Token revoked. Verifications of it now fail.".to_owned())
    } else if query.contains_key("rotated") {
        Some("This token was rotated; its replacement's secret is not shown again.".to_owned())
    } else {
        None
    };
    let origin = state.site.origin(&headers);
    let shown = Shown { notice, checking_first_call: query.contains_key("check"), origin: &origin };
    detail_page(&state, &page, &id, shown, None).await
}

/// `POST /tokens/{id}/revoke`: in a live keyspace the form must carry the
/// token's name, typed.
pub async fn revoke(
    State(state): State<AppState>,
    page: SignedInPage,
    Path(id): Path<String>,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> Response {
    let form = FormData::parse(&body);
    let origin = state.site.origin(&headers);
    let shown = Shown { notice: None, checking_first_call: false, origin: &origin };
    if !page.csrf_ok(&form) {
        return detail_page(&state, &page, &id, shown, Some("This form expired; confirm again.".into())).await;
    }
    let record = match state.engine.get_token(&page.actor, &id).await {
        Ok(record) if !record.management => record,
        Ok(_) => return failed(EngineError::NotFound("token")),
        Err(error) => return failed(error),
    };
    if record.environment == keyward_core::Environment::Live && form.get("confirm") != record.name {
        let message = format!("Type the token's name exactly, “{}”, to revoke it.", record.name);
        return detail_page(&state, &page, &id, shown, Some(message)).await;
    }
    match state.engine.revoke_token(&page.actor, &id, RevokedReason::UserAction).await {
        Ok(_) => Redirect::to(&format!("/tokens/{id}?revoked=1")).into_response(),
        Err(error) => failed(error),
    }
}
