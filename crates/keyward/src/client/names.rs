//! Readable names beside ids in human output: `alice@example.com (usr_…)`
//! for members, a service account's or management token's name for theirs.
//!
//! Best effort and quiet: the names are read only with the scopes the
//! credential holds (asked of `/v1/whoami` first, so no lookup is ever
//! refused and audited as a denied call), and an id nothing names is shown
//! as it is.

use std::collections::HashMap;

use keyward_api::accounts::{MemberView, ServiceAccountView};
use keyward_api::keyspaces::KeyspaceView;
use keyward_api::tokens::TokenView;
use keyward_core::id::{looks_like, IdKind};
use keyward_core::scope::management;
use serde_json::Value;

use super::Api;

/// Names by id, for one command's output.
#[derive(Default)]
pub struct Names(HashMap<String, String>);

/// Management tokens listed to name token actors: an organization has few.
const MOST_MANAGEMENT_TOKENS: &str = "200";

impl Names {
    /// The names of the principals among `ids`. Nothing is fetched for
    /// `--json` output (scripts get ids only) or when no id needs a name.
    pub async fn of<'a>(api: &Api, ids: impl IntoIterator<Item = &'a str>) -> Names {
        if api.json {
            return Names::default();
        }
        let ids: Vec<&str> = ids.into_iter().collect();
        let people = ids.iter().any(|id| looks_like(IdKind::User, id) || looks_like(IdKind::ServiceAccount, id));
        let tokens = ids.iter().any(|id| looks_like(IdKind::Token, id));
        if !people && !tokens {
            return Names::default();
        }
        let Ok(whoami) = api.get("/v1/whoami", &[]).await else {
            return Names::default();
        };
        let holds = |scope: &str| whoami["scopes"].as_array().is_some_and(|held| held.iter().any(|s| s == scope));
        let mut names = HashMap::new();
        if people && holds(management::MEMBERS_READ) {
            names.extend(Self::people(api).await);
        }
        if tokens && holds(management::TOKENS_READ) && holds(management::KEYSPACES_READ) {
            names.extend(Self::management_tokens(api).await);
        }
        Names(names)
    }

    async fn people(api: &Api) -> Vec<(String, String)> {
        let mut names = Vec::new();
        if let Ok(members) = api.get("/v1/members", &[]).await {
            let members: Vec<MemberView> = data(members);
            names.extend(members.into_iter().map(|member| (member.user_id, member.email)));
        }
        if let Ok(accounts) = api.get("/v1/service-accounts", &[]).await {
            let accounts: Vec<ServiceAccountView> = data(accounts);
            names.extend(
                accounts.into_iter().map(|account| (account.id, format!("{} (service account)", account.name))),
            );
        }
        names
    }

    /// The organization's management tokens: the only tokens that act.
    async fn management_tokens(api: &Api) -> Vec<(String, String)> {
        // Keyspaces come newest first and the management keyspace is the
        // oldest: page until it shows up.
        let mut cursor: Option<String> = None;
        let management = loop {
            let mut query = vec![("limit", "200".to_owned())];
            query.extend(cursor.take().map(|cursor| ("cursor", cursor)));
            let Ok(page) = api.get("/v1/keyspaces", &query).await else {
                return Vec::new();
            };
            let next = page["next_cursor"].as_str().map(str::to_owned);
            let keyspaces: Vec<KeyspaceView> = data(page);
            if let Some(management) = keyspaces.into_iter().find(|keyspace| keyspace.management) {
                break management;
            }
            match next {
                Some(next) => cursor = Some(next),
                None => return Vec::new(),
            }
        };
        let query = [("keyspace_id", management.id), ("limit", MOST_MANAGEMENT_TOKENS.to_owned())];
        let Ok(tokens) = api.get("/v1/tokens", &query).await else {
            return Vec::new();
        };
        let tokens: Vec<TokenView> = data(tokens);
        tokens.into_iter().map(|token| (token.id, token.name)).collect()
    }

    /// `name (id)`, or the id alone when nothing names it.
    pub fn label(&self, id: &str) -> String {
        match self.0.get(id) {
            Some(name) => format!("{name} ({id})"),
            None => id.to_owned(),
        }
    }
}

/// The items of a list or page answer (both carry `data`); nothing when
/// the answer has another shape.
fn data<T: serde::de::DeserializeOwned>(mut answer: Value) -> Vec<T> {
    serde_json::from_value(answer["data"].take()).unwrap_or_default()
}
