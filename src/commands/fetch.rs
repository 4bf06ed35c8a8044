//! `aigne-ci fetch SOURCE`: stage 1 only; prints the [`FetchedProject`] as JSON on stdout.

use std::io::Write;

use crate::cli::FetchArgs;
use crate::error::Error;
use crate::exit_status::ExitStatus;
use crate::fetch::{self, FetchedProject};
use crate::report::{self, FetchProgress};
use crate::settings::Environment;

/// Runs `fetch`.
pub(crate) async fn run(args: FetchArgs, environment: &Environment) -> Result<ExitStatus, Error> {
    let source = args
        .source
        .or(args.url)
        .ok_or_else(|| Error::usage("SOURCE is required", Some("`aigne-ci fetch URL`".into())))?;
    let settings = crate::plan::fetch_settings(environment, source, &args.source_args)?;
    let redactor = environment.redactor(settings.token.as_ref());
    if environment.in_github_actions() {
        report::announce_masks(&redactor);
    }
    let reporter =
        FetchProgress::new(FetchProgress::stderr_is_terminal()).with_redactor(redactor.clone());
    let fetched: FetchedProject = fetch::fetch(&settings, &reporter).await?;
    let fetched = redactor
        .redact_record(&fetched)
        .map_err(|error| Error::usage(format!("cannot serialize the result: {error}"), None))?;
    let json = serde_json::to_string_pretty(&fetched)
        .map_err(|error| Error::usage(format!("cannot serialize the result: {error}"), None))?;
    let mut stdout = std::io::stdout().lock();
    // A closed stdout (e.g. `| head`) is not worth failing a fetch that succeeded.
    let _ = writeln!(stdout, "{json}");
    let _ = stdout.flush();
    Ok(ExitStatus::Success)
}
