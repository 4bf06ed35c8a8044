//! aigne-ci: run AIGNE agent projects in CI.
//!
//! Data flows one way: `config → fetch → project → engine (model) → batch → report`.
//! This file is the composition root: [`run`] dispatches a parsed [`cli::Cli`] to its command.

pub mod batch;
pub mod cli;
pub mod diagnostics;
pub mod engine;
pub mod env_vars;
pub mod error;
pub mod exit_status;
pub mod fetch;
pub mod hint;
pub mod http;
pub mod model;
pub mod plan;
pub mod project;
pub mod report;
pub mod secret;
pub mod settings;
pub mod text;
pub mod transcript;

mod commands;

use cli::{Cli, Command};
use error::Error;
use exit_status::ExitStatus;
use settings::Environment;

/// Runs one command. Holds no global state, so it can be called more than once.
pub async fn run(cli: Cli, environment: Environment) -> Result<ExitStatus, Error> {
    match cli.command {
        Command::Run(args) => commands::run::run(*args, environment).await,
        Command::Merge(args) => commands::merge::run(args, environment).await,
        Command::Fetch(args) => commands::fetch::run(args, &environment).await,
        Command::Inspect(args) => commands::inspect::run(args, &environment).await,
    }
}
