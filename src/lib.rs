//! aigne-ci: run AIGNE agent projects in CI.
//!
//! Data flows one way: `config → fetch → project → engine (model) → batch → report`.
//! This file is the composition root: [`run`] dispatches a parsed [`cli::Cli`] to its command.

pub mod atomic_file;
pub mod batch;
pub mod cli;
pub mod comment;
pub mod diagnostics;
pub mod engine;
pub mod env_vars;
pub mod error;
pub mod exit_status;
pub mod fetch;
pub mod hint;
pub mod http;
pub mod model;
pub mod output_file;
pub mod plan;
pub mod process;
pub mod project;
pub mod report;
pub mod secret;
pub mod settings;
pub mod text;
pub mod transcript;
pub mod zod;

mod commands;
#[cfg(test)]
mod fuzz;

use cli::{Cli, Command};
use error::Error;
use exit_status::ExitStatus;
use settings::Environment;

/// The secrets of an invocation, masked in everything it prints and writes: the values of
/// credential-named variables of the environment, and `--token`.
pub fn redactor(cli: &Cli, environment: &Environment) -> secret::Redactor {
    let token = match &cli.command {
        Command::Run(args) => args.source_args.token.as_deref(),
        Command::Fetch(args) => args.source_args.token.as_deref(),
        Command::Inspect(args) => args.source_args.token.as_deref(),
        Command::Merge(_) => None,
        Command::Comment(args) => args.github_token.as_deref(),
    };
    environment.redactor(token.map(secret::Secret::new).as_ref())
}

/// Runs one command. Holds no global state, so it can be called more than once. Secrets it learns
/// on the way (a project's `.env` values) go to `late`, so that the caller masks them in the
/// error it prints.
pub async fn run(
    cli: Cli,
    environment: Environment,
    late: &secret::LateSecrets,
) -> Result<ExitStatus, Error> {
    match cli.command {
        Command::Run(args) => commands::run::run(*args, environment, late).await,
        Command::Merge(args) => commands::merge::run(args, environment).await,
        Command::Fetch(args) => commands::fetch::run(args, &environment).await,
        Command::Inspect(args) => commands::inspect::run(args, &environment, late).await,
        Command::Comment(args) => commands::comment::run(args, &environment).await,
    }
}
