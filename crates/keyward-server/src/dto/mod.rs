//! The wire shapes of the API. Requests reject unknown fields; responses
//! never contain a digest, and a secret only in [`CreatedToken`]. The
//! views the CLI reads too are defined in keyward-api and re-exported here.

use chrono::{DateTime, Utc};
use keyward_core::model::{
    AuditEvent, CatalogScope, DisabledReason, Keyspace, Organization, RevokedReason, TokenRecord,
};
use keyward_core::policy::TokenPolicy;
use keyward_core::Environment;
use keyward_engine::{Verdict, VerifyCode};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

mod accounts;
mod audit;
mod keyspaces;
mod organizations;
mod policy;
mod tokens;
mod verify;
mod webhooks;

pub use accounts::*;
pub use audit::*;
pub use keyspaces::*;
pub use organizations::*;
pub use policy::*;
pub use tokens::*;
pub use verify::*;
pub use webhooks::*;

pub use keyward_api::{List, Page, ShownOnce};

/// `From` for views. The views are keyward-api's types and the records
/// keyward-core's or the store's, so the orphan rule leaves the conversion,
/// which belongs to the server, to a trait of its own.
pub trait IntoView<V> {
    /// The wire form of this record.
    fn into_view(self) -> V;
}

/// Builds a [`Page`] from a store page; a trait because [`Page`] is
/// keyward-api's, which knows no store.
pub trait FromStore<T>: Sized {
    /// The wire form of a store page, each item mapped by `view`.
    fn from_store<S>(page: keyward_store::Page<S>, view: impl FnMut(S) -> T) -> Self;
}

impl<T> FromStore<T> for Page<T> {
    fn from_store<S>(page: keyward_store::Page<S>, view: impl FnMut(S) -> T) -> Self {
        Self { data: page.items.into_iter().map(view).collect(), next_cursor: page.next.map(|cursor| cursor.encode()) }
    }
}

/// A lifetime given as a number of seconds or as a duration text.
fn seconds_or_duration<'de, D>(deserializer: D) -> Result<Option<i64>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Lifetime {
        Seconds(i64),
        Text(String),
    }
    match Option::<Lifetime>::deserialize(deserializer)? {
        None => Ok(None),
        Some(Lifetime::Seconds(seconds)) => Ok(Some(seconds)),
        Some(Lifetime::Text(text)) => {
            keyward_core::validate::duration_seconds(&text).map(Some).map_err(serde::de::Error::custom)
        }
    }
}

/// Tells a field given as `null` (`Some(None)`) from one left out (`None`).
fn present_or_null<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// Paging for `GET /v1/keyspaces`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// 1-200; default 50.
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Health answers.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Health {
    pub status: String,
    /// What an operator should act on soon although the server is ready
    /// (a TLS certificate expiring within two weeks); absent when none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}
