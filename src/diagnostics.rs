//! Renders an [`Error`] on stderr as `error:` / `  Caused by:` / blank line / `hint:`.
//!
//! With GitHub Actions it also emits an `::error::` workflow command so the failure shows in
//! the run's annotations. This and `report/` are the only places that write to the terminal.
//!
//! Error messages quote project, input, model and subprocess text (a file name, an agent
//! name, an MCP server's stderr): the text is masked ([`Redactor`]) and no line of it can
//! begin a workflow command ([`neutralize`]).

use std::borrow::Cow;
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

/// Text in which no line can start a workflow command. The runner reads a command from any
/// line (of stdout or stderr) that starts with `::` once trimmed, and from any line holding
/// `##[` (the old syntax); such a line gets its leading `::` written as `%3A%3A` and its `##[`
/// as `##%5B` (the runner's own escapes), so it shows as text. `\r` ends a line for the
/// runner, as `\n` does. Only the lines aigne-ci writes as commands skip this.
pub fn neutralize(text: &str) -> Cow<'_, str> {
    let dangerous = |line: &str| line.trim_start().starts_with("::") || line.contains("##[");
    if !text.split(['\n', '\r']).any(dangerous) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    let mut rest = text;
    loop {
        let end = rest.find(['\n', '\r']).unwrap_or(rest.len());
        let line = &rest[..end];
        if dangerous(line) {
            let mut line = line.replace("##[", "##%5B");
            let trimmed = line.trim_start();
            if trimmed.starts_with("::") {
                let start = line.len() - trimmed.len();
                line.replace_range(start..start + 2, "%3A%3A");
            }
            out.push_str(&line);
        } else {
            out.push_str(line);
        }
        if end == rest.len() {
            break;
        }
        let separator_len = rest[end..].chars().next().map_or(1, char::len_utf8);
        out.push_str(&rest[end..end + separator_len]);
        rest = &rest[end + separator_len..];
    }
    Cow::Owned(out)
}

/// One line of data for a log line: CR and LF become `⏎`, so the data cannot end the line it
/// is quoted in and start another.
pub fn one_line(text: &str) -> Cow<'_, str> {
    if text.contains(['\n', '\r']) {
        Cow::Owned(text.replace("\r\n", "⏎").replace(['\n', '\r'], "⏎"))
    } else {
        Cow::Borrowed(text)
    }
}

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

/// Escapes a workflow-command data value (`%`, CR, LF).
pub fn escape_data(value: &str) -> String {
    value
        .replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
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
