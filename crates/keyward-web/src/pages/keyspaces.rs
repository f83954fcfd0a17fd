//! Keyspaces and their scope catalogs: the list with a create form, one
//! keyspace's page (its rotation and inactivity rules, its catalog as
//! editable lines), and the organization-wide scope catalog. Everyone may
//! read them; admins and owners change them.

use std::collections::HashMap;

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use keyward_core::clock::micros_to_datetime;
use keyward_core::id::KeyspaceId;
use keyward_core::model::{CatalogScope, Keyspace};
use keyward_core::scope::management;
use keyward_core::validate::duration_seconds;
use keyward_core::Environment;
use keyward_engine::prechecks::{self, parse_id};
use keyward_engine::{EngineError, NewKeyspace};
use keyward_server::AppState;

use super::policies::duration_text;
use super::{failed, render, UserBar, When, CSRF_EXPIRED};
use crate::form::FormData;
use crate::session::SignedInPage;

/// A keyspace as the pages show it.
pub struct KeyspaceLine {
    id: String,
    name: String,
    environment: &'static str,
    prefix: String,
    default_lifetime: String,
    scopes: String,
    rotation: String,
    inactivity: String,
    management: bool,
    created: When,
}

impl KeyspaceLine {
    fn of(keyspace: &Keyspace, now: chrono::DateTime<chrono::Utc>) -> Self {
        let days = |value: Option<u32>, otherwise: &str| {
            value.map_or_else(|| otherwise.to_owned(), |days| format!("every {days} days"))
        };
        Self {
            id: keyspace.id.clone(),
            name: keyspace.name.clone(),
            environment: keyspace.environment.as_str(),
            prefix: keyspace.prefix.to_string(),
            default_lifetime: keyspace.default_ttl_seconds.map_or_else(|| "none".to_owned(), duration_text),
            scopes: match &keyspace.scope_catalog {
                _ if keyspace.management => "Keyward's own".into(),
                None => "any".into(),
                Some(catalog) => format!("{} in catalog", catalog.len()),
            },
            rotation: days(keyspace.rotation_period_days, "organization policy"),
            inactivity: keyspace
                .disable_after_inactive_days
                .map_or_else(|| "organization policy".to_owned(), |days| format!("after {days} days unused")),
            management: keyspace.management,
            created: When::of(keyspace.created_at, now),
        }
    }
}

/// What was typed in the create form.
#[derive(Default)]
pub struct KeyspaceForm {
    name: String,
    environment: String,
    prefix: String,
    default_lifetime: String,
    rotation_period_days: String,
    disable_after_inactive_days: String,
}

type FieldErrors = HashMap<&'static str, String>;

fn optional_days(field: &'static str, text: &str, errors: &mut FieldErrors) -> Option<u32> {
    if text.is_empty() {
        return None;
    }
    text.parse().map_err(|_| errors.insert(field, "must be a whole number of days".into())).ok()
}

impl KeyspaceForm {
    fn read(form: &FormData) -> Self {
        Self {
            name: form.get("name"),
            environment: form.get("environment"),
            prefix: form.get("prefix"),
            default_lifetime: form.get("default_lifetime"),
            rotation_period_days: form.get("rotation_period_days"),
            disable_after_inactive_days: form.get("disable_after_inactive_days"),
        }
    }

    fn input(&self) -> Result<NewKeyspace, FieldErrors> {
        let mut errors = FieldErrors::new();
        let environment = match self.environment.parse::<Environment>() {
            Ok(environment) => Some(environment),
            Err(_) => {
                errors.insert("environment", "Pick test or live.".into());
                None
            }
        };
        let default_ttl_seconds = if self.default_lifetime.is_empty() {
            None
        } else {
            duration_seconds(&self.default_lifetime).map_err(|message| errors.insert("default_lifetime", message)).ok()
        };
        let rotation_period_days = optional_days("rotation_period_days", &self.rotation_period_days, &mut errors);
        let disable_after_inactive_days =
            optional_days("disable_after_inactive_days", &self.disable_after_inactive_days, &mut errors);
        match environment {
            Some(environment) if errors.is_empty() => Ok(NewKeyspace {
                name: self.name.clone(),
                environment,
                prefix: (!self.prefix.is_empty()).then(|| self.prefix.clone()),
                default_ttl_seconds,
                scope_catalog: None,
                rotation_period_days,
                disable_after_inactive_days,
            }),
            _ => Err(errors),
        }
    }
}

/// The form field an engine field is typed in.
fn form_field(engine_field: &'static str) -> &'static str {
    match engine_field {
        "default_ttl_seconds" => "default_lifetime",
        other => other,
    }
}

#[derive(Template)]
#[template(path = "keyspaces.html")]
struct KeyspacesPage {
    signed_in: Option<UserBar>,
    notice: Option<String>,
    csrf: String,
    may_write: bool,
    keyspaces: Vec<KeyspaceLine>,
    form: KeyspaceForm,
    errors: FieldErrors,
}

impl KeyspacesPage {
    fn error(&self, field: &str) -> Option<&String> {
        self.errors.get(field)
    }
}

/// Every keyspace of the organization: pages are followed to the end, since
/// stopping at the first (200, the store's largest) hid the rest from the
/// screens' lists and filters without a word.
pub(super) async fn all_keyspaces(state: &AppState, page: &SignedInPage) -> Result<Vec<Keyspace>, EngineError> {
    Ok(state.engine.directory(&page.actor).await?.keyspaces)
}

async fn keyspaces_page(state: &AppState, page: &SignedInPage, form: KeyspaceForm, errors: FieldErrors) -> Response {
    let keyspaces = match all_keyspaces(state, page).await {
        Ok(keyspaces) => keyspaces,
        Err(error) => return failed(error),
    };
    let now = micros_to_datetime(state.now_micros());
    let status = if errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    let rendered = render(&KeyspacesPage {
        signed_in: Some(UserBar::from(page)),
        notice: None,
        csrf: page.csrf.clone(),
        may_write: page.actor.capabilities().may_write_keyspaces,
        keyspaces: keyspaces.iter().map(|keyspace| KeyspaceLine::of(keyspace, now)).collect(),
        form,
        errors,
    });
    (status, rendered).into_response()
}

/// `GET /keyspaces`
pub async fn list(State(state): State<AppState>, page: SignedInPage) -> Response {
    let form = KeyspaceForm { environment: "test".into(), ..KeyspaceForm::default() };
    keyspaces_page(&state, &page, form, FieldErrors::new()).await
}

/// `POST /keyspaces`: creates one and opens its page, where its scope
/// catalog is written.
pub async fn create(State(state): State<AppState>, page: SignedInPage, body: Bytes) -> Response {
    let submitted = FormData::parse(&body);
    let form = KeyspaceForm::read(&submitted);
    if !page.csrf_ok(&submitted) {
        let errors = FieldErrors::from([("form", CSRF_EXPIRED.to_owned())]);
        return (StatusCode::FORBIDDEN, keyspaces_page(&state, &page, form, errors).await).into_response();
    }
    let input = match form.input() {
        Ok(input) => input,
        Err(errors) => return keyspaces_page(&state, &page, form, errors).await,
    };
    match state.engine.create_keyspace(&page.actor, input).await {
        Ok(keyspace) => Redirect::to(&format!("/keyspaces/{}?created=1", keyspace.id)).into_response(),
        Err(EngineError::Invalid(invalid)) => {
            let errors = FieldErrors::from([(form_field(invalid.field), invalid.message)]);
            keyspaces_page(&state, &page, form, errors).await
        }
        Err(EngineError::Conflict(_) | EngineError::KeyspaceExists { .. }) => {
            let errors = FieldErrors::from([("name", "A keyspace with this name exists; pick another.".to_owned())]);
            keyspaces_page(&state, &page, form, errors).await
        }
        Err(error) => failed(error),
    }
}

/// A catalog as lines of text: the scope, then its description.
fn catalog_text(catalog: &[CatalogScope]) -> String {
    catalog.iter().map(|entry| format!("{} {}", entry.scope, entry.description)).collect::<Vec<_>>().join("\n")
}

/// Reads catalog lines (`scope description`); a line without a
/// description is named by its number. Blank lines are skipped.
fn parse_catalog(text: &str) -> Result<Vec<CatalogScope>, String> {
    let mut catalog = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let (scope, description) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        if description.trim().is_empty() {
            return Err(format!(
                "Line {}: write what `{scope}` lets a token do after the scope, e.g. “{scope} Read invoices”.",
                number + 1
            ));
        }
        catalog.push(CatalogScope { scope: scope.to_owned(), description: description.trim().to_owned() });
    }
    Ok(catalog)
}

#[derive(Template)]
#[template(path = "keyspace.html")]
struct KeyspacePage {
    signed_in: Option<UserBar>,
    notice: Option<String>,
    csrf: String,
    may_write: bool,
    keyspace: KeyspaceLine,
    catalog: Vec<CatalogScope>,
    restricted: bool,
    catalog_text: String,
    rotation_period_days: String,
    disable_after_inactive_days: String,
    errors: FieldErrors,
}

impl KeyspacePage {
    fn error(&self, field: &str) -> Option<&String> {
        self.errors.get(field)
    }
}

/// What the keyspace page's forms hold when they are shown again.
#[derive(Default)]
struct Typed {
    restricted: Option<bool>,
    catalog_text: Option<String>,
    lifecycle: Option<(String, String)>,
}

async fn keyspace_page(
    state: &AppState,
    page: &SignedInPage,
    id: &str,
    typed: Typed,
    errors: FieldErrors,
    notice: Option<String>,
) -> Response {
    let lookup = async {
        let id: KeyspaceId = parse_id(id, || page.actor.require(management::KEYSPACES_READ))?;
        state.engine.get_keyspace(&page.actor, &id).await
    };
    let keyspace = match lookup.await {
        Ok(keyspace) => keyspace,
        Err(error) => return failed(error),
    };
    let now = micros_to_datetime(state.now_micros());
    let catalog = keyspace.scope_catalog.clone().unwrap_or_default();
    let number = |value: Option<u32>| value.map(|n| n.to_string()).unwrap_or_default();
    let (rotation_period_days, disable_after_inactive_days) = typed
        .lifecycle
        .unwrap_or_else(|| (number(keyspace.rotation_period_days), number(keyspace.disable_after_inactive_days)));
    let status = if errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    let rendered = render(&KeyspacePage {
        signed_in: Some(UserBar::from(page)),
        notice,
        csrf: page.csrf.clone(),
        may_write: page.actor.capabilities().may_write_keyspaces && !keyspace.management,
        restricted: typed.restricted.unwrap_or(keyspace.scope_catalog.is_some()),
        catalog_text: typed.catalog_text.unwrap_or_else(|| catalog_text(&catalog)),
        keyspace: KeyspaceLine::of(&keyspace, now),
        catalog,
        rotation_period_days,
        disable_after_inactive_days,
        errors,
    });
    (status, rendered).into_response()
}

/// `GET /keyspaces/{id}`
pub async fn detail(
    State(state): State<AppState>,
    page: SignedInPage,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let notice = query.contains_key("created").then(|| {
        "Keyspace created. Describe the scopes its tokens may carry below, or leave it open to any scope.".into()
    });
    keyspace_page(&state, &page, &id, Typed::default(), FieldErrors::new(), notice).await
}

/// `POST /keyspaces/{id}/scopes`: replaces the catalog. Tokens already
/// holding a scope that leaves it keep it.
pub async fn save_scopes(
    State(state): State<AppState>,
    page: SignedInPage,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let submitted = FormData::parse(&body);
    let restricted = submitted.get("restrict") == "catalog";
    let text = submitted.raw("catalog");
    let typed = Typed { restricted: Some(restricted), catalog_text: Some(text.clone()), lifecycle: None };
    if !page.csrf_ok(&submitted) {
        let errors = FieldErrors::from([("catalog", CSRF_EXPIRED.to_owned())]);
        let response = keyspace_page(&state, &page, &id, typed, errors, None).await;
        return (StatusCode::FORBIDDEN, response).into_response();
    }
    let catalog = if restricted {
        match parse_catalog(&text) {
            Ok(catalog) => Some(catalog),
            Err(message) => {
                return keyspace_page(&state, &page, &id, typed, FieldErrors::from([("catalog", message)]), None).await
            }
        }
    } else {
        None
    };
    let replacing = async {
        let keyspace_id: KeyspaceId =
            parse_id(&id, || prechecks::scope_catalog(&page.actor, catalog.as_deref()).map(drop))?;
        state.engine.replace_scope_catalog(&page.actor, &keyspace_id, catalog).await
    };
    match replacing.await {
        Ok(keyspace) => {
            let notice = match &keyspace.scope_catalog {
                None => "Saved: tokens in this keyspace may be given any scope.".to_owned(),
                Some(catalog) => format!(
                    "Saved: {} scopes in the catalog. Tokens already holding a scope you removed keep it until rotated.",
                    catalog.len()
                ),
            };
            keyspace_page(&state, &page, &id, Typed::default(), FieldErrors::new(), Some(notice)).await
        }
        Err(EngineError::Invalid(invalid)) => {
            keyspace_page(&state, &page, &id, typed, FieldErrors::from([("catalog", invalid.message)]), None).await
        }
        Err(error) => failed(error),
    }
}

/// `POST /keyspaces/{id}/lifecycle`: its own rotation period and
/// inactivity rule (empty: the organization's policy).
pub async fn save_lifecycle(
    State(state): State<AppState>,
    page: SignedInPage,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let submitted = FormData::parse(&body);
    let rotation = submitted.get("rotation_period_days");
    let inactivity = submitted.get("disable_after_inactive_days");
    let typed = Typed { lifecycle: Some((rotation.clone(), inactivity.clone())), ..Typed::default() };
    if !page.csrf_ok(&submitted) {
        let errors = FieldErrors::from([("lifecycle", CSRF_EXPIRED.to_owned())]);
        let response = keyspace_page(&state, &page, &id, typed, errors, None).await;
        return (StatusCode::FORBIDDEN, response).into_response();
    }
    let mut errors = FieldErrors::new();
    let rotation_days = optional_days("rotation_period_days", &rotation, &mut errors);
    let inactivity_days = optional_days("disable_after_inactive_days", &inactivity, &mut errors);
    if !errors.is_empty() {
        return keyspace_page(&state, &page, &id, typed, errors, None).await;
    }
    let setting = async {
        let before = || prechecks::keyspace_lifecycle(&page.actor, rotation_days, inactivity_days).map(drop);
        let keyspace_id: KeyspaceId = parse_id(&id, before)?;
        state.engine.set_keyspace_lifecycle(&page.actor, &keyspace_id, rotation_days, inactivity_days).await
    };
    match setting.await {
        Ok(_) => {
            let notice = "Saved. The lifecycle scheduler applies these rules from its next pass.".to_owned();
            keyspace_page(&state, &page, &id, Typed::default(), FieldErrors::new(), Some(notice)).await
        }
        Err(EngineError::Invalid(invalid)) => {
            keyspace_page(&state, &page, &id, typed, FieldErrors::from([(invalid.field, invalid.message)]), None).await
        }
        Err(error) => failed(error),
    }
}

/// One scope of the organization-wide catalog, with where it is offered.
pub struct ScopeLine {
    scope: String,
    description: String,
    keyspaces: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "scopes.html")]
struct ScopesPage {
    signed_in: Option<UserBar>,
    notice: Option<String>,
    may_write: bool,
    scopes: Vec<ScopeLine>,
    open_keyspaces: Vec<(String, String)>,
}

/// `GET /scopes`: every scope any keyspace's catalog offers.
pub async fn scopes(State(state): State<AppState>, page: SignedInPage) -> Response {
    let keyspaces = match all_keyspaces(&state, &page).await {
        Ok(keyspaces) => keyspaces,
        Err(error) => return failed(error),
    };
    let mut scopes: Vec<ScopeLine> = Vec::new();
    let mut open_keyspaces = Vec::new();
    for keyspace in keyspaces.iter().filter(|keyspace| !keyspace.management) {
        let Some(catalog) = &keyspace.scope_catalog else {
            open_keyspaces.push((keyspace.id.clone(), keyspace.name.clone()));
            continue;
        };
        for entry in catalog {
            let place = (keyspace.id.clone(), keyspace.name.clone());
            match scopes.iter_mut().find(|line| line.scope == entry.scope) {
                Some(line) => line.keyspaces.push(place),
                None => scopes.push(ScopeLine {
                    scope: entry.scope.clone(),
                    description: entry.description.clone(),
                    keyspaces: vec![place],
                }),
            }
        }
    }
    scopes.sort_by(|a, b| a.scope.cmp(&b.scope));
    render(&ScopesPage {
        signed_in: Some(UserBar::from(&page)),
        notice: None,
        may_write: page.actor.capabilities().may_write_keyspaces,
        scopes,
        open_keyspaces,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_lines_read_back_as_written() {
        let catalog = vec![
            CatalogScope { scope: "invoices:read".into(), description: "Read invoices and their lines".into() },
            CatalogScope { scope: "invoices:*".into(), description: "Everything on invoices".into() },
        ];
        let text = catalog_text(&catalog);
        assert_eq!(parse_catalog(&text), Ok(catalog));
        assert_eq!(
            parse_catalog("\n  a:read   Read a  \n\n"),
            Ok(vec![CatalogScope { scope: "a:read".into(), description: "Read a".into() }])
        );
    }

    #[test]
    fn a_line_without_a_description_is_named() {
        let error = parse_catalog("a:read Read a\nb:write").err().unwrap_or_default();
        assert!(error.starts_with("Line 2:"), "{error}");
        assert!(error.contains("b:write"), "{error}");
    }

    #[test]
    fn the_create_form_names_each_unreadable_field() {
        let form = KeyspaceForm {
            name: "billing".into(),
            environment: "staging".into(),
            default_lifetime: "a month".into(),
            rotation_period_days: "thirty".into(),
            ..KeyspaceForm::default()
        };
        let errors = form.input().err().unwrap_or_default();
        let mut fields: Vec<_> = errors.keys().copied().collect();
        fields.sort_unstable();
        assert_eq!(fields, ["default_lifetime", "environment", "rotation_period_days"]);
    }
}
