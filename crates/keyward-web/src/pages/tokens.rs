//! The API Tokens screen: the table, creation with the secret shown once,
//! a token's page, and revocation (typed confirmation in live keyspaces).

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
use keyward_core::scope::management;
use keyward_core::{base62, OsRng, SecureRng};
use keyward_engine::{EngineError, NewToken};
use keyward_server::AppState;
use keyward_store::{Cursor, PageRequest, TokenFilter};

use super::{render, UserBar, When};
use crate::form::FormData;
use crate::session::SignedInPage;

const STATES: [(&str, &str); 4] =
    [("active", "Active"), ("expired", "Expired"), ("disabled", "Disabled"), ("revoked", "Revoked")];
const EXPIRY_PRESETS: [(&str, &str); 6] = [
    ("30d", "In 30 days"),
    ("7d", "In 7 days"),
    ("90d", "In 90 days"),
    ("365d", "In 1 year"),
    ("never", "Never"),
    ("date", "On the date below"),
];

pub struct Row {
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
    state: &'static str,
    state_label: &'static str,
}

#[derive(Default)]
pub struct ListFilter {
    q: String,
    state: String,
    keyspace: String,
}

#[derive(Template)]
#[template(path = "tokens.html")]
struct TokensPage {
    signed_in: Option<UserBar>,
    notice: Option<String>,
    may_write: bool,
    states: [(&'static str, &'static str); 4],
    keyspaces: Vec<Keyspace>,
    filter: ListFilter,
    filtered: bool,
    rows: Vec<Row>,
    next_page: Option<String>,
}

fn state_label(state: TokenState) -> &'static str {
    match state {
        TokenState::Active => "Active",
        TokenState::Expired => "Expired",
        TokenState::Disabled => "Disabled",
        TokenState::Revoked => "Revoked",
    }
}

fn row(record: &TokenRecord, keyspaces: &HashMap<&str, &Keyspace>, now: DateTime<Utc>) -> Row {
    let state = record.state_at(now.timestamp_micros());
    Row {
        id: record.id.clone(),
        name: record.name.clone(),
        masked: record.masked(),
        keyspace: keyspaces
            .get(record.keyspace_id.as_str())
            .map_or_else(|| record.keyspace_id.clone(), |k| k.name.clone()),
        environment: record.environment.as_str().to_owned(),
        owner: record.owner.clone(),
        scopes: record.scopes.clone(),
        created: When::of(record.created_at, now),
        expires: record.expires_at.map(|at| When::of(at, now)),
        last_used: record.last_used_at.map(|at| When::of(at, now)),
        state: state.as_str(),
        state_label: state_label(state),
    }
}

async fn customer_keyspaces(state: &AppState, page: &SignedInPage) -> Result<Vec<Keyspace>, EngineError> {
    let listed = state.engine.list_keyspaces(&page.actor, &PageRequest::new(Some(200), None)).await?;
    Ok(listed.items.into_iter().filter(|keyspace| !keyspace.management).collect())
}

fn failed(error: EngineError) -> Response {
    match error {
        EngineError::Forbidden { .. } => {
            (StatusCode::FORBIDDEN, "Your role does not allow this. Ask an owner or admin of your organization.")
                .into_response()
        }
        EngineError::NotFound(what) => (StatusCode::NOT_FOUND, format!("No such {what}.")).into_response(),
        other => {
            tracing::error!(error = %other, "a tokens page failed");
            super::unavailable()
        }
    }
}

/// `GET /tokens`
pub async fn list(
    State(state): State<AppState>,
    page: SignedInPage,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let value = |name: &str| query.get(name).map(|v| v.trim().to_owned()).unwrap_or_default();
    let filter = ListFilter { q: value("q"), state: value("state"), keyspace: value("keyspace") };
    let keyspaces = match customer_keyspaces(&state, &page).await {
        Ok(keyspaces) => keyspaces,
        Err(error) => return failed(error),
    };
    let token_state = STATES
        .iter()
        .position(|(name, _)| *name == filter.state)
        .map(|index| [TokenState::Active, TokenState::Expired, TokenState::Disabled, TokenState::Revoked][index]);
    let store_filter = TokenFilter {
        keyspace_id: (!filter.keyspace.is_empty()).then(|| filter.keyspace.clone()),
        owner: None,
        state: token_state,
        now: micros_to_datetime(state.now_micros()),
    };
    let after = query.get("after").and_then(|cursor| Cursor::decode(cursor));
    let listed = match state.engine.list_tokens(&page.actor, store_filter, &PageRequest::new(Some(50), after)).await {
        Ok(listed) => listed,
        Err(error) => return failed(error),
    };
    let now = micros_to_datetime(state.now_micros());
    let by_id: HashMap<&str, &Keyspace> = keyspaces.iter().map(|k| (k.id.as_str(), k)).collect();
    let needle = filter.q.to_lowercase();
    let rows = listed
        .items
        .iter()
        .filter(|record| !record.management)
        .filter(|record| needle.is_empty() || record.name.to_lowercase().contains(&needle))
        .map(|record| row(record, &by_id, now))
        .collect();
    let next_page = listed.next.map(|cursor| {
        let mut url = url::form_urlencoded::Serializer::new(String::from("/tokens?"));
        url.append_pair("q", &filter.q).append_pair("state", &filter.state).append_pair("keyspace", &filter.keyspace);
        url.append_pair("after", &cursor.encode());
        url.finish()
    });
    let notice = query.contains_key("welcome").then(|| {
        "Your account is ready. Create a token to let a service call your API; its secret is shown once.".to_owned()
    });
    let filtered = !(filter.q.is_empty() && filter.state.is_empty() && filter.keyspace.is_empty());
    render(&TokensPage {
        signed_in: Some(UserBar::from(&page)),
        notice,
        may_write: page.actor.holds(management::TOKENS_WRITE),
        states: STATES,
        keyspaces,
        filter,
        filtered,
        rows,
        next_page,
    })
}

#[derive(Default)]
pub struct CreateInput {
    name: String,
    keyspace_id: String,
    scopes: HashSet<String>,
    extra_scopes: String,
    expires: String,
    expires_on: String,
    allowed_ips: String,
    metadata: String,
}

#[derive(Default)]
pub struct CreateErrors {
    form: Option<String>,
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
    input: CreateInput,
    errors: CreateErrors,
}

fn nonce() -> String {
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
    let mut catalog: Vec<CatalogScope> = Vec::new();
    for entry in keyspaces.iter().filter_map(|k| k.scope_catalog.as_ref()).flatten() {
        if !catalog.iter().any(|known| known.scope == entry.scope) {
            catalog.push(entry.clone());
        }
    }
    let policy_limit = match state.engine.token_policy(&page.actor).await {
        Ok(policy) => {
            policy.max_lifetime_seconds.map(|seconds| format!("tokens expire within {} days", seconds / 86_400))
        }
        Err(_) => None,
    };
    let status = if errors.form.is_some()
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
    let input = CreateInput { expires: if input.expires.is_empty() { "30d".into() } else { input.expires }, ..input };
    let rendered = render(&NewTokenPage {
        signed_in: Some(UserBar::from(page)),
        notice: None,
        csrf: page.csrf.clone(),
        nonce: nonce(),
        keyspaces,
        catalog,
        expiry_presets: EXPIRY_PRESETS,
        policy_limit,
        input,
        errors,
    });
    (status, rendered).into_response()
}

/// `GET /tokens/new`
pub async fn new_form(State(state): State<AppState>, page: SignedInPage) -> Response {
    if !page.actor.holds(management::TOKENS_WRITE) {
        return failed(EngineError::Forbidden { missing: vec![management::TOKENS_WRITE.into()] });
    }
    new_page(&state, &page, CreateInput::default(), CreateErrors::default()).await
}

/// Forms already submitted in this process: nonce → the token it created
/// (`None` while being created), so a double click or a resubmitted form
/// never makes a second token nor shows the secret again.
/// Per nonce: the token created (`None` while creating) and when.
type Submissions = HashMap<String, (Option<String>, i64)>;
static SUBMITTED: LazyLock<Mutex<Submissions>> = LazyLock::new(Default::default);
const SUBMISSION_MEMORY_MICROS: i64 = 3_600_000_000;

enum Submission {
    First,
    Pending,
    Done(String),
}

fn claim_submission(nonce: &str, now_micros: i64) -> Submission {
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

fn settle_submission(nonce: &str, token_id: Option<String>, now_micros: i64) {
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

#[derive(Template)]
#[template(path = "token_created.html")]
struct CreatedPage {
    signed_in: Option<UserBar>,
    notice: Option<String>,
    id: String,
    name: String,
    secret: String,
    scopes: Vec<String>,
    expires: String,
    keyspace: String,
    examples: Vec<(&'static str, String)>,
}

fn examples(origin: &str) -> Vec<(&'static str, String)> {
    let body = r#"{"token": "'"$KEYWARD_API_TOKEN"'"}"#;
    vec![
        (
            "curl",
            format!(
                "curl -sS -X POST {origin}/v1/verify \\\n  -H \"Authorization: Bearer $KEYWARD_VERIFY_TOKEN\" \\\n  -H 'Content-Type: application/json' \\\n  -d '{body}'"
            ),
        ),
        (
            "Python",
            format!(
                "import os, requests\n\nanswer = requests.post(\n    \"{origin}/v1/verify\",\n    headers={{\"Authorization\": f\"Bearer {{os.environ['KEYWARD_VERIFY_TOKEN']}}\"}},\n    json={{\"token\": os.environ[\"KEYWARD_API_TOKEN\"]}},\n    timeout=5,\n).json()\nprint(answer[\"valid\"], answer[\"code\"])"
            ),
        ),
        (
            "JavaScript",
            format!(
                "const answer = await fetch(\"{origin}/v1/verify\", {{\n  method: \"POST\",\n  headers: {{\n    Authorization: `Bearer ${{process.env.KEYWARD_VERIFY_TOKEN}}`,\n    \"Content-Type\": \"application/json\",\n  }},\n  body: JSON.stringify({{ token: process.env.KEYWARD_API_TOKEN }}),\n}}).then((r) => r.json());\nconsole.log(answer.valid, answer.code);"
            ),
        ),
        (
            "Go",
            format!(
                "body, _ := json.Marshal(map[string]string{{\"token\": os.Getenv(\"KEYWARD_API_TOKEN\")}})\nreq, _ := http.NewRequest(\"POST\", \"{origin}/v1/verify\", bytes.NewReader(body))\nreq.Header.Set(\"Authorization\", \"Bearer \"+os.Getenv(\"KEYWARD_VERIFY_TOKEN\"))\nreq.Header.Set(\"Content-Type\", \"application/json\")\nresp, err := http.DefaultClient.Do(req)"
            ),
        ),
        (
            "Rust",
            format!(
                "let answer: serde_json::Value = reqwest::Client::new()\n    .post(\"{origin}/v1/verify\")\n    .bearer_auth(std::env::var(\"KEYWARD_VERIFY_TOKEN\")?)\n    .json(&serde_json::json!({{ \"token\": std::env::var(\"KEYWARD_API_TOKEN\")? }}))\n    .send()\n    .await?\n    .json()\n    .await?;\nprintln!(\"{{}} {{}}\", answer[\"valid\"], answer[\"code\"]);"
            ),
        ),
    ]
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
        scopes: form.all("scope").into_iter().collect(),
        extra_scopes: form.get("extra_scopes"),
        expires: form.get("expires"),
        expires_on: form.get("expires_on"),
        allowed_ips: form.get("allowed_ips"),
        metadata: form.get("metadata"),
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
    let mut scopes: Vec<String> = input.scopes.iter().cloned().collect();
    scopes.extend(input.extra_scopes.split([' ', ',']).filter(|s| !s.is_empty()).map(str::to_owned));
    scopes.sort();
    scopes.dedup();
    let request = NewToken {
        keyspace_id: input.keyspace_id.clone(),
        name: input.name.clone(),
        scopes,
        expires_in,
        expires_at,
        metadata,
        allowed_ips: input.allowed_ips.split_whitespace().map(str::to_owned).collect(),
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
                    field if field.starts_with("scope") => errors.scopes = Some(invalid.message),
                    field if field.starts_with("expires") => errors.expires = Some(invalid.message),
                    field if field.starts_with("allowed_ips") => errors.allowed_ips = Some(invalid.message),
                    field if field.starts_with("metadata") => errors.metadata = Some(invalid.message),
                    _ => errors.form = Some(invalid.message),
                },
                EngineError::NotFound("keyspace") => errors.keyspace_id = Some("Pick one of your keyspaces.".into()),
                EngineError::Escalation { scopes } => {
                    errors.scopes = Some(format!("You cannot grant scopes you do not hold: {}.", scopes.join(", ")))
                }
                EngineError::PolicyViolation { .. } => errors.form = Some(error.to_string()),
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
    let origin = headers
        .get(axum::http::header::HOST)
        .and_then(|host| host.to_str().ok())
        .map_or_else(|| "http://127.0.0.1:8420".to_owned(), |host| format!("http://{host}"));
    render(&CreatedPage {
        signed_in: Some(UserBar::from(&page)),
        notice: None,
        id: issued.record.id.clone(),
        name: issued.record.name.clone(),
        secret: issued.secret.expose().to_owned(),
        scopes: issued.record.scopes.clone(),
        expires: issued.record.expires_at.map_or_else(|| "never".to_owned(), |at| When::of(at, now).exact),
        keyspace,
        examples: examples(&origin),
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
}

async fn detail_page(
    state: &AppState,
    page: &SignedInPage,
    id: &str,
    notice: Option<String>,
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
    let row = row(&record, &by_id, now);
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
        may_write: page.actor.holds(management::TOKENS_WRITE),
        revoke_error,
    });
    (status, rendered).into_response()
}

/// `GET /tokens/{id}`
pub async fn detail(
    State(state): State<AppState>,
    page: SignedInPage,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let notice = if query.contains_key("resubmitted") {
        Some("This token was created already by that form; its secret is not shown again.".to_owned())
    } else if query.contains_key("revoked") {
        Some("Token revoked. Verifications of it now fail.".to_owned())
    } else {
        None
    };
    detail_page(&state, &page, &id, notice, None).await
}

/// `POST /tokens/{id}/revoke`: in a live keyspace the form must carry the
/// token's name, typed.
pub async fn revoke(
    State(state): State<AppState>,
    page: SignedInPage,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let form = FormData::parse(&body);
    if !page.csrf_ok(&form) {
        return detail_page(&state, &page, &id, None, Some("This form expired; confirm again.".into())).await;
    }
    let record = match state.engine.get_token(&page.actor, &id).await {
        Ok(record) if !record.management => record,
        Ok(_) => return failed(EngineError::NotFound("token")),
        Err(error) => return failed(error),
    };
    if record.environment == keyward_core::Environment::Live && form.get("confirm") != record.name {
        let message = format!("Type the token's name exactly, “{}”, to revoke it.", record.name);
        return detail_page(&state, &page, &id, None, Some(message)).await;
    }
    match state.engine.revoke_token(&page.actor, &id, RevokedReason::UserAction).await {
        Ok(_) => Redirect::to(&format!("/tokens/{id}?revoked=1")).into_response(),
        Err(error) => failed(error),
    }
}
