//! Creating a token: the form, its double-submit guard, and the page that
//! shows the secret once with ready-to-run examples.

use super::*;

#[derive(Default)]
pub struct CreateInput {
    name: String,
    keyspace_id: String,
    new_keyspace: String,
    new_environment: String,
    scopes: HashSet<String>,
    extra_scopes: String,
    /// Ticked: no scope is meant, not forgotten.
    no_scopes: bool,
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

pub(crate) fn nonce() -> String {
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
    if !page.actor.capabilities().may_manage_everyones_tokens {
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
    if let Some(refused) = engine_refusal(&page, Capability::WriteTokens) {
        return refused;
    }
    let input = CreateInput { owner: query.get("owner").cloned().unwrap_or_default(), ..CreateInput::default() };
    new_page(&state, &page, input, CreateErrors::default()).await
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
pub(crate) struct CreatedPage {
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
pub(crate) struct Calls {
    /// The first call, per language.
    pub examples: Vec<(&'static str, String)>,
    /// How a backend then checks tokens presented to it.
    pub verify: String,
}

impl Calls {
    pub(crate) fn for_request(site: &keyward_server::Site, headers: &axum::http::HeaderMap) -> Self {
        let origin = site.origin(headers);
        Self { examples: examples(&origin), verify: verify_example(&origin) }
    }
}

/// The sample route's address: the first call a new token makes.
fn sample_url(origin: &str) -> String {
    format!("{origin}/v1/sample")
}

/// The shortest first call, for the token page while none has arrived.
pub(crate) fn curl_example(origin: &str) -> String {
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
/// `no-store`. The form's nonce is the creation's idempotency key, stored
/// with the token: resubmitting the form (a double click, a reload, on any
/// instance) leads to the token's page instead of making a second token.
pub async fn create(
    State(state): State<AppState>,
    page: SignedInPage,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> Response {
    let form = FormData::parse(&body);
    let input = CreateInput::from_form(&form);
    if !page.csrf_ok(&form) {
        let errors = CreateErrors {
            form: Some("This form expired or came from another page. Check the fields and submit again.".into()),
            ..CreateErrors::default()
        };
        return (StatusCode::FORBIDDEN, new_page(&state, &page, input, errors).await).into_response();
    }
    let nonce = Some(form.get("nonce")).filter(|nonce| !nonce.is_empty());
    if let Some(nonce) = &nonce {
        match state.engine.token_created_with_key(&page.actor, nonce).await {
            // The same form sent again: show what it made. A form edited and
            // sent again under its old nonce (the back button) asks for a
            // different token, which that nonce cannot make.
            Ok(Some(existing)) if existing.name == input.name.trim() => return resubmitted(&existing.id),
            Ok(Some(_)) => {
                let errors = CreateErrors { form: Some(USED_FORM.into()), ..CreateErrors::default() };
                return new_page(&state, &page, input, errors).await;
            }
            Ok(None) => {}
            Err(error) => return failed(error),
        }
    }
    let now = micros_to_datetime(state.now_micros());
    let request = match token_request(&state, &page, &input, now).await {
        Ok(request) => NewToken { idempotency_key: nonce, ..request },
        Err(Refusal::Form(errors)) => return new_page(&state, &page, input, *errors).await,
        Err(Refusal::Engine(error)) => return failed(error),
    };
    let issued = match state.engine.issue_token(&page.actor, request).await {
        Ok(issued) => issued,
        Err(EngineError::AlreadyCreated { token_id, .. }) => return resubmitted(&token_id),
        Err(error) => match issue_errors(error) {
            Ok(errors) => return new_page(&state, &page, input, errors).await,
            Err(error) => return failed(error),
        },
    };
    let keyspace = keyspace_label(&state, &page, &issued.record.keyspace_id).await;
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

/// What a form sent again with other fields is told: its nonce made a token already.
const USED_FORM: &str = "This form already created a token. Check the fields and submit again to create another.";

/// Where a resubmitted form goes: the page of the token it made.
fn resubmitted(token_id: &str) -> Response {
    Redirect::to(&format!("/tokens/{token_id}?resubmitted=1")).into_response()
}

/// Why a form did not become a token: fields to correct, or an engine
/// error with a page of its own.
enum Refusal {
    Form(Box<CreateErrors>),
    Engine(EngineError),
}

impl Refusal {
    fn form(errors: CreateErrors) -> Self {
        Self::Form(Box::new(errors))
    }
}

impl CreateInput {
    fn from_form(form: &FormData) -> Self {
        Self {
            name: form.get("name"),
            keyspace_id: form.get("keyspace_id"),
            new_keyspace: form.get("new_keyspace"),
            new_environment: form.get("new_environment"),
            scopes: form.all("scope").into_iter().collect(),
            extra_scopes: form.get("extra_scopes"),
            no_scopes: form.get("no_scopes") == "yes",
            expires: form.get("expires"),
            expires_on: form.get("expires_on"),
            allowed_ips: form.get("allowed_ips"),
            metadata: form.get("metadata"),
            owner: form.get("owner"),
        }
    }

    /// The scopes ticked and typed, sorted, once each.
    fn scopes(&self) -> Vec<String> {
        let mut scopes: Vec<String> = self.scopes.iter().cloned().collect();
        scopes.extend(self.extra_scopes.split([' ', ',']).filter(|s| !s.is_empty()).map(str::to_owned));
        scopes.sort();
        scopes.dedup();
        scopes
    }
}

/// The token the form asks for, its keyspace created first when the form
/// names a new one (the organization's first token brings its first keyspace).
async fn token_request(
    state: &AppState,
    page: &SignedInPage,
    input: &CreateInput,
    now: DateTime<Utc>,
) -> Result<NewToken, Refusal> {
    let (expires_in, expires_at) = expiry(input, now)
        .map_err(|message| Refusal::form(CreateErrors { expires: Some(message), ..Default::default() }))?;
    let metadata = match input.metadata.as_str() {
        "" => None,
        text => Some(serde_json::from_str::<serde_json::Value>(text).map_err(|error| {
            Refusal::form(CreateErrors { metadata: Some(format!("Not valid JSON: {error}.")), ..Default::default() })
        })?),
    };
    // The engine accepts any owner label from the API; the page offers only
    // the creator and the organization's service accounts.
    if !input.owner.is_empty() && !owner_choices(state, page).await.iter().any(|(id, _)| *id == input.owner) {
        let errors = CreateErrors { owner: Some("Pick one of the owners listed.".into()), ..Default::default() };
        return Err(Refusal::form(errors));
    }
    let scopes = input.scopes();
    let scope_error = match (scopes.is_empty(), input.no_scopes) {
        (true, false) => {
            Some("Choose at least one scope, or tick \"No scopes\" to create a token that may do nothing scoped.")
        }
        (false, true) => Some("\"No scopes\" is ticked, but scopes are chosen: untick it, or clear the scopes."),
        _ => None,
    };
    if let Some(message) = scope_error {
        return Err(Refusal::form(CreateErrors { scopes: Some(message.into()), ..Default::default() }));
    }
    let keyspace_id = match (input.keyspace_id.as_str(), input.new_keyspace.trim()) {
        ("", name) if !name.is_empty() => new_keyspace(state, page, name, &input.new_environment).await?,
        (id, _) => id.to_owned(),
    };
    Ok(NewToken {
        keyspace_id,
        name: input.name.clone(),
        scopes,
        expires_in,
        expires_at,
        metadata,
        allowed_ips: input.allowed_ips.split_whitespace().map(str::to_owned).collect(),
        owner: (!input.owner.is_empty()).then(|| input.owner.clone()),
        ..NewToken::default()
    })
}

/// Creates the keyspace the form names; its id.
async fn new_keyspace(state: &AppState, page: &SignedInPage, name: &str, environment: &str) -> Result<String, Refusal> {
    let new = NewKeyspace {
        name: name.to_owned(),
        environment: if environment == "live" { Environment::Live } else { Environment::Test },
        prefix: None,
        default_ttl_seconds: None,
        scope_catalog: None,
        rotation_period_days: None,
        disable_after_inactive_days: None,
    };
    match state.engine.create_keyspace(&page.actor, new).await {
        Ok(keyspace) => Ok(keyspace.id),
        // The form named it, so it is the one meant: a resubmitted form
        // created it the first time.
        Err(EngineError::KeyspaceExists { id, .. }) => Ok(id),
        Err(EngineError::Invalid(invalid)) => {
            Err(Refusal::form(CreateErrors { keyspace_id: Some(invalid.message), ..Default::default() }))
        }
        Err(EngineError::Forbidden { .. }) => Err(Refusal::form(CreateErrors {
            keyspace_id: Some("Your role cannot create keyspaces; ask an owner or admin to create one.".into()),
            ..Default::default()
        })),
        Err(other) => Err(Refusal::Engine(other)),
    }
}

/// The form fields an issuing error belongs to, or the error when it
/// deserves a page of its own.
fn issue_errors(error: EngineError) -> Result<CreateErrors, EngineError> {
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
        EngineError::Rejected { code: "idempotency_key_reused", .. } => errors.form = Some(USED_FORM.into()),
        // This form offers customer keyspaces only; a management keyspace
        // posted to it is held to the same rule as the API.
        EngineError::SudoRequired { .. } => {
            errors.keyspace_id = Some(
                "Minting a management token needs your password typed within the last 10 minutes; sign in again, \
                 then retry."
                    .into(),
            )
        }
        other => return Err(other),
    }
    Ok(errors)
}
