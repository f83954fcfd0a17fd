//! CLI failures and the exit codes a shell script can rely on.

use std::process::ExitCode;

/// Why a command failed. Each prints as one line and maps to an exit code.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Bad flags or input (exit 2).
    #[error("{0}")]
    Usage(String),
    /// The server answered with a problem.
    #[error("{detail} ({code})")]
    Api { status: u16, code: String, detail: String },
    /// The server could not be reached (exit 7).
    #[error("cannot reach the Keyward server at {addr}: {reason}")]
    Unreachable { addr: String, reason: String },
    /// The server answered, but not in the shape of the API's types (exit 1):
    /// a server of another version, or not a Keyward server at all.
    #[error("the server at {addr} answered in an unexpected shape: {reason}")]
    Unexpected { addr: String, reason: String },
    /// The store failed on the server side of `serve`/`init`/`migrate` (exit 1).
    #[error("{0}")]
    Store(String),
    /// `verify` answered that the token is not valid (exit 6).
    #[error("token is not valid: {0}")]
    InvalidToken(String),
}

impl From<keyward_engine::EngineError> for CliError {
    fn from(error: keyward_engine::EngineError) -> Self {
        CliError::Store(error.to_string())
    }
}

impl CliError {
    /// The documented exit code (see `keyward --help`).
    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(match self {
            CliError::Usage(_) => 2,
            CliError::Api { status, .. } => match status {
                400 | 413 | 415 | 422 => 2,
                401 | 403 => 3,
                404 => 4,
                409 => 5,
                _ => 1,
            },
            CliError::Unreachable { .. } => 7,
            CliError::Unexpected { .. } | CliError::Store(_) => 1,
            CliError::InvalidToken(_) => 6,
        })
    }
}
