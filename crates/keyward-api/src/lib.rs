//! One definition of the API's wire types, shared by the server that sends
//! them and the CLI that reads them, so the two cannot drift apart the way
//! hand-kept key lists did. Conversions from stored records stay in
//! keyward-server: this crate knows the shapes, not the engine behind them.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub mod accounts;
pub mod audit;
pub mod keyspaces;
pub mod organizations;
pub mod tokens;
pub mod webhooks;

/// A secret in the one response that shows it. Serialized as the plain
/// string; its `Debug` prints a placeholder, so no log line, panic message
/// or test failure built from a response can carry it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ShownOnce(String);

impl ShownOnce {
    /// The response field for `secret`.
    pub fn new(secret: &keyward_core::SecretToken) -> Self {
        Self(secret.expose().to_owned())
    }

    /// The secret itself, for the one place that shows it to its owner.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for ShownOnce {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ShownOnce(<redacted>)")
    }
}

/// A page of results.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Page<T> {
    pub data: Vec<T>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// A whole list (members, invitations and service accounts are few).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct List<T> {
    pub data: Vec<T>,
}

#[cfg(test)]
mod shown_once_tests {
    #![allow(clippy::unwrap_used)]

    use super::ShownOnce;

    #[test]
    fn a_shown_once_secret_serializes_plainly_and_never_debugs() {
        let secret = keyward_core::SecretToken::new("kw_live_secretsecretsecret".to_owned());
        let shown = ShownOnce::new(&secret);
        assert_eq!(serde_json::to_string(&shown).unwrap(), "\"kw_live_secretsecretsecret\"");
        assert!(!format!("{shown:?}").contains("secretsecret"));
        let back: ShownOnce = serde_json::from_str("\"kw_live_secretsecretsecret\"").unwrap();
        assert_eq!(back, shown);
        assert_eq!(back.expose(), "kw_live_secretsecretsecret");
    }
}
