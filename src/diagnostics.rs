//! Renders an [`Error`] on stderr as `error:` / `  Caused by:` / blank line / `hint:`.
//!
//! With GitHub Actions it also emits an `::error::` workflow command so the failure shows in
//! the run's annotations. This and `report/` are the only places that write to the terminal.
//!
//! Error messages quote project, input, model and subprocess text (a file name, an agent
//! name, an MCP server's stderr): the text is masked ([`Redactor`]) and no line of it can
//! begin a workflow command ([`neutralize`]).

use std::error::Error as _;
use std::io::Write;

use crate::error::Error;
use crate::secret::Redactor;

/// Writes the error chain and hint to stderr, with secrets masked.
pub fn report(error: &Error, github_actions: bool, redactor: &Redactor) {
    let mut stderr = std::io::stderr().lock();
    let text = render(error);
    let text = redactor.redact(&text);
    let _ = stderr.write_all(neutralize(&text).as_bytes());
    if github_actions {
        let _ = writeln!(
            stderr,
            "::error title=aigne-ci::{}",
            escape_data(&redactor.redact(&error.to_string()))
        );
    }
}

pub use crate::text::{neutralize, one_line};

/// The text [`report`] writes.
pub fn render(error: &Error) -> String {
    let mut text = format!("error: {error}\n");
    let mut source = error.source();
    // `#[error(transparent)]` variants repeat their inner error as the first source.
    let mut previous = error.to_string();
    while let Some(cause) = source {
        let message = cause.to_string();
        if message != previous {
            text.push_str(&format!("  Caused by: {message}\n"));
        }
        previous = message;
        source = cause.source();
    }
    if let Some(hint) = error.hint() {
        text.push_str(&format!("\nhint: {hint}\n"));
    }
    text
}

/// Writes a warning the run goes on after: `warning:` / `  Caused by:` / blank line / `hint:`
/// (and a `::warning::` workflow command in GitHub Actions).
pub fn warn(
    message: &str,
    cause: &dyn std::error::Error,
    hint: Option<&str>,
    github_actions: bool,
    redactor: &Redactor,
) {
    let mut stderr = std::io::stderr().lock();
    let text = render_warning(message, cause, hint);
    let _ = stderr.write_all(redactor.redact(&text).as_bytes());
    if github_actions {
        let _ = writeln!(
            stderr,
            "::warning title=aigne-ci::{}",
            escape_data(
                &redactor.redact(&format!("{message}: {}", crate::text::error_chain(cause)))
            )
        );
    }
}

/// The text [`warn`] writes.
pub fn render_warning(message: &str, cause: &dyn std::error::Error, hint: Option<&str>) -> String {
    let mut text = format!("warning: {message}\n");
    let mut source = Some(cause);
    while let Some(error) = source {
        text.push_str(&format!("  Caused by: {error}\n"));
        source = error.source();
    }
    if let Some(hint) = hint {
        text.push_str(&format!("\nhint: {hint}\n"));
    }
    text
}

/// Escapes a workflow-command data value (`%`, CR, LF).
pub fn escape_data(value: &str) -> String {
    crate::text::escape_workflow_data(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_message_and_hint() {
        let error = Error::usage(
            "`--shard` must look like `K/N`",
            Some("try `--shard 1/4`".into()),
        );
        assert_eq!(
            render(&error),
            "error: `--shard` must look like `K/N`\n\nhint: try `--shard 1/4`\n"
        );
    }

    #[test]
    fn lines_never_start_a_workflow_command() {
        assert_eq!(neutralize("plain\ntext"), "plain\ntext");
        assert_eq!(
            neutralize("file `a\n::error::pwned` \r  ::set-output name=x::y\nok ##[error]old"),
            "file `a\n%3A%3Aerror::pwned` \r  %3A%3Aset-output name=x::y\nok ##%5Berror]old"
        );
        assert_eq!(one_line("a\r\n::b\nc"), "a⏎::b⏎c");
    }

    #[test]
    fn escapes_workflow_data() {
        assert_eq!(escape_data("a%b\nc\r"), "a%25b%0Ac%0D");
    }
}
