//! The embedded store's files on disk: one process at a time, private modes.
//!
//! Two servers on one SQLite file both answer, but each caches tokens and
//! neither hears of the other's revocations, so a revoked token stays VALID
//! on the other one. Hence an exclusive `flock` beside the database, held
//! for the life of `serve` (and of `init`/`migrate`, so no server starts
//! mid-migration). The kernel drops a flock when its holder dies, even by
//! `kill -9`, so a lock file left behind never blocks a restart: only the
//! lock counts, never the file's existence. The PID inside is for the
//! refusal message alone.
//!
//! The files hold password hashes, e-mail addresses and the audit log, so
//! the directory is 0700 and the database 0600. SQLite gives `-wal` and
//! `-shm` the mode of the main file, which is why that file is created (or
//! tightened) before SQLite opens it.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::error::CliError;

/// Proof that this process alone uses an embedded database; released when
/// dropped or when the process ends, however it ends.
#[derive(Debug)]
pub struct StoreLock {
    _file: File,
}

/// The lock file that guards `database`: `keyward.db` is guarded by
/// `keyward.lock` beside it.
pub fn lock_path(database: &Path) -> PathBuf {
    database.with_extension("lock")
}

impl StoreLock {
    /// Takes the lock guarding `database` without waiting; `subject` is what
    /// the refusal names (the data directory, or the file of a `sqlite:` URL).
    pub fn acquire(database: &Path, subject: &Path) -> Result<StoreLock, CliError> {
        let path = lock_path(database);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .map_err(|e| CliError::Store(format!("cannot open the lock file {}: {e}", path.display())))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = match holder.trim() {
                    "" => "PID unknown".to_owned(),
                    pid => format!("PID {pid}"),
                };
                return Err(CliError::Store(format!(
                    "{} is in use by another keyward process ({holder}); only one server, init or migrate \
                     may use an embedded database at a time, so stop that one first",
                    subject.display()
                )));
            }
            Err(TryLockError::Error(e)) => {
                return Err(CliError::Store(format!("cannot lock {}: {e}", path.display())));
            }
        }
        let written = file
            .set_len(0)
            .and_then(|()| file.seek(SeekFrom::Start(0)))
            .and_then(|_| file.write_all(format!("{}\n", std::process::id()).as_bytes()));
        written.map_err(|e| CliError::Store(format!("cannot write {}: {e}", path.display())))?;
        Ok(StoreLock { _file: file })
    }
}

/// Creates the data directory 0700, or tightens an existing one that others
/// may enter (saying so).
pub fn prepare_dir(dir: &Path) -> Result<(), CliError> {
    let metadata = match std::fs::metadata(dir) {
        Ok(metadata) => metadata,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            return std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|e| CliError::Store(format!("cannot create data directory {}: {e}", dir.display())));
        }
        Err(error) => return Err(CliError::Store(format!("cannot read data directory {}: {error}", dir.display()))),
    };
    if !metadata.is_dir() {
        return Err(CliError::Store(format!("data directory {} is not a directory", dir.display())));
    }
    tighten(dir, metadata.permissions().mode(), 0o700, "data directory");
    Ok(())
}

/// Creates `database` empty with mode 0600 if missing, so SQLite (and its
/// `-wal`/`-shm`) inherit that mode; tightens the files if they exist.
pub fn prepare_database_file(database: &Path) -> Result<(), CliError> {
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(database)
        .map_err(|e| CliError::Store(format!("cannot create {}: {e}", database.display())))?;
    for suffix in ["", "-wal", "-shm"] {
        let mut name = database.as_os_str().to_owned();
        name.push(suffix);
        let path = PathBuf::from(name);
        if let Ok(metadata) = std::fs::metadata(&path) {
            tighten(&path, metadata.permissions().mode(), 0o600, "database file");
        }
    }
    Ok(())
}

/// Removes group and other access from `path`: done and said in one warning
/// line, or (not ours to change) said in one warning line.
fn tighten(path: &Path, mode: u32, wanted: u32, what: &str) {
    let mode = mode & 0o777;
    if mode & 0o077 == 0 {
        return;
    }
    match std::fs::set_permissions(path, std::fs::Permissions::from_mode(wanted)) {
        Ok(()) => eprintln!(
            "keyward: warning: {what} {} was open to other users (mode {mode:04o}); changed it to {wanted:04o}",
            path.display()
        ),
        Err(error) => eprintln!(
            "keyward: warning: {what} {} is open to other users (mode {mode:04o}) and cannot be changed to \
             {wanted:04o}: {error}",
            path.display()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_with_the_first_ones_pid_until_it_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let database = dir.path().join("keyward.db");
        let first = StoreLock::acquire(&database, dir.path()).unwrap();
        let refused = StoreLock::acquire(&database, dir.path()).unwrap_err().to_string();
        assert!(refused.contains(&format!("PID {}", std::process::id())), "{refused}");
        assert!(refused.contains(&dir.path().display().to_string()), "{refused}");
        assert!(!refused.contains('\n'));
        drop(first);
        assert!(lock_path(&database).exists(), "the file stays; only the lock counts");
        StoreLock::acquire(&database, dir.path()).unwrap();
    }

    #[test]
    fn loose_modes_are_tightened() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
        prepare_dir(&data).unwrap();
        assert_eq!(std::fs::metadata(&data).unwrap().permissions().mode() & 0o777, 0o700);
        let database = data.join("keyward.db");
        std::fs::write(&database, b"").unwrap();
        std::fs::set_permissions(&database, std::fs::Permissions::from_mode(0o644)).unwrap();
        prepare_database_file(&database).unwrap();
        assert_eq!(std::fs::metadata(&database).unwrap().permissions().mode() & 0o777, 0o600);
        let fresh = data.join("fresh.db");
        prepare_database_file(&fresh).unwrap();
        assert_eq!(std::fs::metadata(&fresh).unwrap().permissions().mode() & 0o777, 0o600);
    }
}
