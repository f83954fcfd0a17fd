//! A token's page (usage chart, recent verifications, audit trail) and its
//! revocation, with the name typed in live keyspaces.

use super::*;

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
    /// The latest any rotation of it may expire, when a token bounded it.
    expiry_ceiling: Option<When>,
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
pub(crate) fn source(client_ip: Option<&str>, user_agent: Option<&str>) -> String {
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
    let (id, record) = match shown_token(state, page, id).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    // Names of keyspaces and owners, and the policy, in one read.
    let directory = state.engine.directory(&page.actor).await.unwrap_or_default();
    let now = micros_to_datetime(state.now_micros());
    let by_id: HashMap<&str, &Keyspace> = directory.keyspaces.iter().map(|k| (k.id.as_str(), k)).collect();
    let owners = names_of_owners(&directory);
    let policy = directory.organization.as_ref().map(|organization| organization.token_policy.clone());
    let violations = broken_rules(policy.as_ref(), &record);
    let row = row(&record, &by_id, &owners, policy.as_ref(), now);
    let activity = match state.engine.token_activity(&page.actor, &id, CHART_DAYS).await {
        Ok(activity) => activity,
        Err(error) => return failed(error),
    };
    let recent: Vec<Verification> = activity.recent.iter().map(|sample| Verification::of(sample, now)).collect();
    let active = record.state_at(now.timestamp_micros()) == TokenState::Active;
    let first_call = recent.iter().find(|check| check.valid);
    let notice = first_call_notice(&shown, first_call);
    // Until a call has worked, the page says how to make one.
    let try_it = (active && first_call.is_none()).then(|| curl_example(shown.origin));
    let in_grace = record.in_rotation_grace(now.timestamp_micros());
    let clients = if in_grace { recent_clients(state, page, &id, now).await } else { Vec::new() };
    let may = page.actor.capabilities();
    let audit = match may.may_read_audit {
        true => match audit_lines(state, page, &record.id, &owners, now).await {
            Ok(lines) => Some(lines),
            Err(error) => return failed(error),
        },
        false => None,
    };
    let may_write = may.may_write_tokens;
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
        use_count: record.usage.use_count,
        state: row.state,
        state_label: row.state_label,
        revocable: !record.is_revoked(),
        may_write,
        revoke_error,
        violations,
        may_rotate: may_write && active && !record.is_replaced(),
        parent_token_id: record.parent_token_id.clone(),
        expiry_ceiling: record.expiry_ceiling.map(|at| When::of(at, now)),
        rotated_from: record.rotated_from.clone(),
        replaced_by: record.replaced_by().map(str::to_owned),
        grace_ends: if in_grace { record.expires_at.map(|at| When::of(at, now)) } else { None },
        clients,
        chart: crate::pages::chart::usage_svg(&activity.days),
        recent,
        try_it,
        audit,
    });
    (status, rendered).into_response()
}

/// The organization's policy rules the token breaks, in words.
fn broken_rules(policy: Option<&TokenPolicy>, record: &TokenRecord) -> Vec<String> {
    let Some(policy) = policy else { return Vec::new() };
    Engine::violations_of(policy, record).iter().map(|violation| violation.explain(policy)).collect()
}

impl Verification {
    fn of(sample: &keyward_store::VerificationSample, now: DateTime<Utc>) -> Self {
        Verification {
            when: When::of(sample.at, now),
            valid: sample.outcome == "VALID",
            outcome: sample.outcome.clone(),
            source: source(sample.client_ip.as_deref(), sample.user_agent.as_deref()),
        }
    }
}

/// The notice the page opens with: one passed in, or, when the creator
/// asked whether the first call arrived, the answer.
fn first_call_notice(shown: &Shown<'_>, first_call: Option<&Verification>) -> Option<String> {
    match (&shown.notice, shown.checking_first_call, first_call) {
        (Some(notice), _, _) => Some(notice.clone()),
        (None, true, Some(call)) => {
            Some(format!("It works: a verified call arrived {} from {}.", call.when.relative, call.source))
        }
        (None, true, None) => Some(
            "No verified call has arrived yet. Run one of the examples with the token, wait a second, then check again."
                .to_owned(),
        ),
        (None, false, _) => None,
    }
}

/// The clients seen using a token in its rotation grace: they need the new one.
async fn recent_clients(state: &AppState, page: &SignedInPage, id: &TokenId, now: DateTime<Utc>) -> Vec<String> {
    let clients = state.engine.token_clients(&page.actor, id).await.unwrap_or_default();
    clients
        .iter()
        .map(|client| {
            let seen = When::of(client.last_seen_at, now).relative;
            let uses = client.uses;
            format!("{} ({uses} uses, last {seen})", source(client.client_ip.as_deref(), client.user_agent.as_deref()))
        })
        .collect()
}

/// The token's last 20 audit events, actors named.
async fn audit_lines(
    state: &AppState,
    page: &SignedInPage,
    id: &str,
    owners: &HashMap<String, String>,
    now: DateTime<Utc>,
) -> Result<Vec<AuditLine>, EngineError> {
    let filter = AuditFilter { target_id: Some(id.to_owned()), ..AuditFilter::default() };
    let events = state.engine.list_audit(&page.actor, &filter, &PageRequest::new(Some(20), None)).await?;
    Ok(events
        .items
        .into_iter()
        .map(|event| AuditLine {
            when: When::of(event.occurred_at, now),
            actor: owners.get(&event.actor).cloned().unwrap_or(event.actor),
            action: event.action.to_string(),
            source_ip: event.source_ip.unwrap_or_default(),
        })
        .collect())
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
    let (token_id, record) = match shown_token(&state, &page, &id).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    if record.environment == keyward_core::Environment::Live && form.get("confirm") != record.name {
        let message = format!("Type the token's name exactly, “{}”, to revoke it.", record.name);
        return detail_page(&state, &page, &id, shown, Some(message)).await;
    }
    match state.engine.revoke_token(&page.actor, &token_id, RevokedReason::UserAction).await {
        Ok(_) => Redirect::to(&format!("/tokens/{id}?revoked=1")).into_response(),
        Err(error) => failed(error),
    }
}
