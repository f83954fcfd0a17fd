//! The stored login: `keyward login` keeps one server address and a
//! management token in `$XDG_CONFIG_HOME/keyward/credentials.toml` (else
//! `~/.config/keyward/credentials.toml`), mode 0600 in a 0700 directory, so
//! client verbs work without `KEYWARD_TOKEN`. Flags and environment variables
//! always win over it, and its token is only ever sent to its own address.

use std::ffi::OsString;
use std::fmt;
use std::fs::{self, DirBuilder, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::CliError;

const FILE_NAME: &str = "credentials.toml";

/// A server address and the management token for it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    /// `http(s)://host:port`, without a trailing slash.
    pub addr: String,
    /// The management token's secret.
    pub token: String,
}

// The token must not reach a log or a panic message through `{:?}`.
impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials").field("addr", &self.addr).field("token", &"<redacted>").finish()
    }
}

/// An address as compared and stored: no trailing slash.
pub fn normalize_addr(addr: &str) -> String {
    addr.trim().trim_end_matches('/').to_owned()
}

/// Where the login is kept, from the environment.
pub fn path() -> Result<PathBuf, CliError> {
    path_from(std::env::var_os("XDG_CONFIG_HOME"), std::env::var_os("HOME"))
        .ok_or_else(|| CliError::Usage("cannot tell where to keep the login: set HOME or XDG_CONFIG_HOME".into()))
}

/// The XDG rule: `$XDG_CONFIG_HOME` when set to an absolute path (a relative
/// one is to be ignored), else `$HOME/.config`.
pub fn path_from(xdg_config_home: Option<OsString>, home: Option<OsString>) -> Option<PathBuf> {
    let base = match xdg_config_home.map(PathBuf::from) {
        Some(xdg) if xdg.is_absolute() => xdg,
        _ => match home.map(PathBuf::from) {
            Some(home) if home.is_absolute() => home.join(".config"),
            _ => return None,
        },
    };
    Some(base.join("keyward").join(FILE_NAME))
}

/// The stored login, if there is one. A file others may read still works,
/// with a warning saying how to fix it.
pub fn load(path: &Path) -> Result<Option<Credentials>, CliError> {
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) if error.kind() == ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(CliError::Usage(format!("cannot read the stored login {}: {error}", path.display()))),
    };
    if let Ok(metadata) = fs::metadata(path) {
        let mode = metadata.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            crate::notice::warn(&format!(
                "{} holds a management token but is mode {mode:04o}; run `chmod 600 {}`",
                path.display(),
                path.display()
            ));
        }
    }
    // toml's error quotes the offending line, which may hold the token: say
    // only that the file is unusable.
    let credentials: Credentials = toml::from_str(&text).map_err(|_| {
        CliError::Usage(format!(
            "the stored login {} is not a valid credentials file; run `keyward login` again, or `keyward logout`",
            path.display()
        ))
    })?;
    Ok(Some(Credentials { addr: normalize_addr(&credentials.addr), token: credentials.token.trim().to_owned() }))
}

/// Writes the login atomically: a new 0600 file beside the old one, flushed
/// to disk, then renamed over it, so a reader never sees half a file and a
/// crash leaves the previous login or the new one. The directory is created 0700.
pub fn store(path: &Path, credentials: &Credentials) -> Result<(), CliError> {
    let failed = |what: &str, error: std::io::Error| CliError::Usage(format!("cannot {what}: {error}"));
    let dir = path.parent().ok_or_else(|| CliError::Usage(format!("{} has no directory", path.display())))?;
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| failed(&format!("create {}", dir.display()), e))?;
    let body = toml::to_string(credentials).map_err(|e| CliError::Usage(format!("cannot encode the login: {e}")))?;
    let text = format!("# Written by `keyward login`; `keyward logout` removes it.\n{body}");
    let temporary = dir.join(format!(".{FILE_NAME}.{}.tmp", std::process::id()));
    let written = (|| {
        let mut file = OpenOptions::new().write(true).create_new(true).mode(0o600).open(&temporary)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        fs::rename(&temporary, path)?;
        // The rename itself is durable once the directory is flushed.
        fs::File::open(dir)?.sync_all()
    })();
    if let Err(error) = written {
        let _ = fs::remove_file(&temporary);
        return Err(failed(&format!("write {}", path.display()), error));
    }
    Ok(())
}

/// Removes the stored login; `false` when there was none.
pub fn remove(path: &Path) -> Result<bool, CliError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(error) if error.kind() == ErrorKind::NotFound => Ok(false),
        Err(error) => Err(CliError::Usage(format!("cannot remove {}: {error}", path.display()))),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    fn sample() -> Credentials {
        Credentials { addr: "https://keyward.example.com".into(), token: "kw_live_secretsecret".into() }
    }

    #[test]
    fn the_path_follows_xdg_and_ignores_a_relative_config_home() {
        let at = |xdg: Option<&str>, home: Option<&str>| path_from(xdg.map(Into::into), home.map(Into::into));
        assert_eq!(at(Some("/xdg"), Some("/home/a")), Some(PathBuf::from("/xdg/keyward/credentials.toml")));
        assert_eq!(at(None, Some("/home/a")), Some(PathBuf::from("/home/a/.config/keyward/credentials.toml")));
        assert_eq!(
            at(Some("relative"), Some("/home/a")),
            Some(PathBuf::from("/home/a/.config/keyward/credentials.toml"))
        );
        assert_eq!(at(None, None), None);
        assert_eq!(at(None, Some("")), None);
    }

    #[test]
    fn a_stored_login_is_private_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config/keyward/credentials.toml");
        store(&path, &sample()).unwrap();
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(fs::metadata(path.parent().unwrap()).unwrap().permissions().mode() & 0o777, 0o700);
        assert_eq!(load(&path).unwrap(), Some(sample()));
        // Replacing it leaves no temporary file behind.
        let other = Credentials { addr: "http://127.0.0.1:1".into(), token: "kw_live_other".into() };
        store(&path, &other).unwrap();
        assert_eq!(load(&path).unwrap(), Some(other));
        let names: Vec<_> = fs::read_dir(path.parent().unwrap()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, vec![OsString::from("credentials.toml")]);
        assert!(remove(&path).unwrap());
        assert!(!remove(&path).unwrap());
        assert_eq!(load(&path).unwrap(), None);
    }

    #[test]
    fn a_broken_file_is_refused_without_quoting_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("credentials.toml");
        fs::write(&path, "addr = \"http://x\"\ntoken = kw_live_unquotedsecret\n").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        let error = load(&path).unwrap_err().to_string();
        assert!(error.contains("not a valid credentials file"), "{error}");
        assert!(!error.contains("unquotedsecret"), "the message must not quote the file: {error}");
    }

    #[test]
    fn debug_output_hides_the_token() {
        let shown = format!("{:?}", sample());
        assert!(shown.contains("keyward.example.com") && !shown.contains("secretsecret"), "{shown}");
    }
}
