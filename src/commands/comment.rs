//! `aigne-ci comment [--out-dir DIR]`: upserts the pull-request comment of the run in DIR
//! ([`crate::comment`]); prints what it did as JSON on stdout (`{"comment": "created" |
//! "updated" | "skipped", …}`), and a skip as a notice too. Exit 0 unless the comment could not
//! be written (exit 2).

use serde_json::json;

use crate::cli::CommentArgs;
use crate::comment::{self, Outcome};
use crate::error::Error;
use crate::exit_status::ExitStatus;
use crate::report;
use crate::settings::Environment;

/// Runs `comment`.
pub(crate) async fn run(args: CommentArgs, environment: &Environment) -> Result<ExitStatus, Error> {
    let settings = crate::plan::comment::resolve(&args, environment)?;
    let redactor = environment.redactor(settings.token.as_ref());
    let github_actions = environment.in_github_actions();
    if github_actions {
        report::announce_masks(&redactor);
    }
    let outcome = comment::upsert(&settings, &redactor).await?;
    let data = match &outcome {
        Outcome::Created { id, url } | Outcome::Updated { id, url } => {
            let action = if matches!(outcome, Outcome::Created { .. }) {
                "created"
            } else {
                "updated"
            };
            report::log_line(&format!(
                "{action} the pull-request comment {}",
                url.clone().unwrap_or_else(|| format!("#{id}"))
            ));
            json!({"comment": action, "id": id, "url": url})
        }
        Outcome::Skipped { reason } => {
            report::notice(reason, github_actions, &redactor);
            json!({"comment": "skipped", "reason": reason})
        }
    };
    report::print_output(&data, &redactor);
    Ok(ExitStatus::Success)
}
