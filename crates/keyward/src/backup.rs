//! `keyward backup --to FILE`: a consistent copy of the embedded database,
//! taken while the server runs.
//!
//! It only reads, so it does not take the store's lock (a running server
//! holds it). The snapshot is written under a temporary name in the target's
//! directory, synced, then linked into place, which fails rather than
//! replace an existing file: a crash leaves no partial backup under FILE,
//! and an older backup is never clobbered. The master key is not in the
//! database, so the verb says where it is, to be kept beside the backup.

use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::config::ServerConfig;
use crate::error::CliError;
use crate::server::{open_sqlite, Location};

/// `keyward backup`
pub async fn run(config: &ServerConfig, to: &Path) -> Result<(), CliError> {
    let (url, file) = match Location::of(config)? {
        Location::Postgres(_) => {
            return Err(CliError::Usage(
                "keyward backup copies the embedded SQLite database; back up PostgreSQL with pg_dump \
                 (see docs/operations.md)"
                    .into(),
            ))
        }
        Location::Sqlite { file: None, .. } => {
            return Err(CliError::Usage("an in-memory database cannot be backed up".into()));
        }
        Location::Sqlite { url, file: Some(file) } => (url, file),
    };
    if !file.is_file() {
        return Err(CliError::Store(format!("there is no database at {} to back up", file.display())));
    }
    if to.symlink_metadata().is_ok() {
        return Err(CliError::Usage(format!("{} already exists; a backup never replaces a file", to.display())));
    }
    let store = open_sqlite(url.as_deref(), Some(&file)).await?;
    let temporary = temporary_name(to)?;
    let written = write_snapshot(&store, &temporary, to).await;
    let _ = std::fs::remove_file(&temporary);
    written?;
    eprintln!("keyward: wrote a consistent backup of {} to {} (mode 0600).", file.display(), to.display());
    if let Some(reminder) = master_key_reminder(config) {
        eprintln!("keyward: {reminder}");
    }
    Ok(())
}

async fn write_snapshot(
    store: &keyward_store_sqlite::SqliteStore,
    temporary: &Path,
    to: &Path,
) -> Result<(), CliError> {
    let failed = |e: &dyn std::fmt::Display| CliError::Store(format!("cannot write the backup {}: {e}", to.display()));
    // An empty file is what VACUUM INTO accepts besides none, and creating
    // it ourselves fixes its mode: SQLite would create it 0644.
    std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(temporary).map_err(|e| failed(&e))?;
    store.backup_to(temporary).await.map_err(|e| failed(&e))?;
    std::fs::File::open(temporary).and_then(|f| f.sync_all()).map_err(|e| failed(&e))?;
    std::fs::hard_link(temporary, to).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            CliError::Usage(format!("{} already exists; a backup never replaces a file", to.display()))
        } else {
            failed(&e)
        }
    })?;
    // The new name is durable only once its directory is synced.
    if let Some(dir) = to.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(|e| failed(&e))?;
    }
    Ok(())
}

fn temporary_name(to: &Path) -> Result<PathBuf, CliError> {
    let name = to
        .file_name()
        .ok_or_else(|| CliError::Usage(format!("{} does not name a file", to.display())))?
        .to_string_lossy();
    Ok(to.with_file_name(format!(".{name}.partial-{}", std::process::id())))
}

fn master_key_reminder(config: &ServerConfig) -> Option<String> {
    let what = "the backup does not contain the master key that seals webhook signing secrets;";
    if config.master_key.is_some() {
        Some(format!("{what} keep the master key you configure (master_key or KEYWARD_MASTER_KEY_FILE) with it"))
    } else if config.database_url.is_none() {
        let path = config.data_dir.join("master.key");
        Some(format!("{what} back up {} separately", path.display()))
    } else {
        None
    }
}
