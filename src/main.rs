//! The `aigne-ci` binary: parse, run, render the error, exit with the status of DESIGN.md.

use std::process::ExitCode;

use clap::Parser;

use aigne_ci::{cli::Cli, diagnostics, exit_status::ExitStatus, settings::Environment};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let environment = Environment::capture();
    let github_actions = environment.in_github_actions();
    let redactor = aigne_ci::redactor(&cli, &environment);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            let error = aigne_ci::error::Error::usage(
                format!("cannot start the async runtime: {error}"),
                None,
            );
            diagnostics::report(&error, github_actions, &redactor);
            return ExitStatus::Usage.into();
        }
    };
    // A project's `.env` secrets, once read: masked in the error too.
    let late = aigne_ci::secret::LateSecrets::default();
    let result = runtime.block_on(aigne_ci::run(cli, environment, &late));
    // Spawned tasks still running (an npm install cut short by a signal, a server connection) are
    // dropped before the exit, so the process groups they own are killed; a blocking task still
    // busy (an unpacking thread) holds the exit for at most this long.
    runtime.shutdown_timeout(std::time::Duration::from_millis(200));
    match result {
        Ok(status) => status.into(),
        Err(error) => {
            let (redactor, _) = redactor.with(late.values());
            diagnostics::report(&error, github_actions, &redactor);
            error.exit_status().into()
        }
    }
}
