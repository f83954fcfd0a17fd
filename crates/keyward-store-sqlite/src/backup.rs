//! Online backups of the SQLite file, and where a `sqlite:` URL keeps it.
//!
//! Copying `keyward.db` while the server runs is not a backup: in WAL mode
//! recent commits (on a young database, every table) live in `keyward.db-wal`
//! until a checkpoint. `VACUUM INTO` instead writes one self-contained file
//! from a single read transaction, so it sees one committed state and does
//! not block the server's writer.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use keyward_store::StoreError;
use sqlx::sqlite::SqliteConnectOptions;

use crate::{backend, SqliteStore};

impl SqliteStore {
    /// Writes a consistent snapshot of the whole database to `path`, which
    /// must not exist or be an empty file (SQLite refuses anything else).
    /// The file is not synced here; the caller decides where it ends up.
    pub async fn backup_to(&self, path: &Path) -> Result<(), StoreError> {
        let target = path
            .to_str()
            .ok_or_else(|| StoreError::Backend(format!("backup path {} is not UTF-8", path.display()).into()))?;
        // A bound parameter, never spliced into the SQL: a path may hold quotes.
        sqlx::query("VACUUM INTO ?").bind(target).execute(&self.reader).await.map_err(backend)?;
        Ok(())
    }
}

/// The database file a `sqlite:` URL names, or `None` for an in-memory database.
pub fn url_file(url: &str) -> Result<Option<PathBuf>, StoreError> {
    let options = SqliteConnectOptions::from_str(url).map_err(backend)?;
    let file = options.get_filename();
    let memory = url.contains(":memory:")
        || url.contains("mode=memory")
        || file.to_str().is_some_and(|name| name.starts_with("file:sqlx-in-memory"));
    Ok((!memory).then(|| file.to_path_buf()))
}
