//! `keyward completions SHELL` and `keyward man`: shell completion scripts
//! and manual pages generated from the very definition the parser uses, so
//! they cannot fall behind it, and need no build step of their own.

use std::io::Write;
use std::path::Path;

use clap::CommandFactory;
use clap_complete::Shell;

use crate::cli::Cli;
use crate::error::CliError;

/// Prints the completion script for `shell`.
pub fn completions(shell: Shell) -> Result<(), CliError> {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "keyward", &mut script);
    write_stdout(&script)
}

/// Prints `keyward.1`, or writes it and a page per subcommand into `dir`.
pub fn man(dir: Option<&Path>) -> Result<(), CliError> {
    let failed = |error: std::io::Error| CliError::Usage(format!("cannot write the manual: {error}"));
    let command = Cli::command();
    match dir {
        None => {
            let mut page = Vec::new();
            clap_mangen::Man::new(command).render(&mut page).map_err(failed)?;
            write_stdout(&page)
        }
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(failed)?;
            clap_mangen::generate_to(command, dir).map_err(failed)?;
            let written = std::fs::read_dir(dir).map_err(failed)?.count();
            eprintln!("Wrote the manual to {} ({written} files): `man -l {}/keyward.1`", dir.display(), dir.display());
            Ok(())
        }
    }
}

/// Writes to stdout; a reader that went away (`| head`) is not an error.
fn write_stdout(bytes: &[u8]) -> Result<(), CliError> {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Err(error) if error.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(CliError::Usage(format!("cannot write to standard output: {error}")))
        }
        _ => Ok(()),
    }
}
