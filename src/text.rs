//! Small text helpers shared by every stage: an error and its causes on one line, and a short
//! excerpt of a long text. A leaf module: it imports nothing from the crate, so any stage can use
//! it without reaching up to the top error module.

use std::borrow::Cow;

/// An error and its causes on one line (`a: b: c`), for logs and result records. A cause whose
/// message the text already holds (a wrapper that repeats its source) is not repeated.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let message = cause.to_string();
        if !text.contains(&message) {
            text.push_str(": ");
            text.push_str(&message);
        }
        source = cause.source();
    }
    text
}

/// `text` itself when it holds at most `limit` characters; otherwise its first `limit - 3`
/// characters and `...`, so the excerpt is never longer than `limit`.
pub fn excerpt(text: &str, limit: usize) -> String {
    if text.chars().count() > limit {
        let cut: String = text.chars().take(limit.saturating_sub(3)).collect();
        format!("{cut}...")
    } else {
        text.to_owned()
    }
}

/// Escapes a GitHub workflow-command data value (`%`, CR, LF), so the value cannot end the
/// command line and start another.
pub fn escape_workflow_data(value: &str) -> String {
    value
        .replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
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

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer: {0}")]
    struct Repeats(#[source] std::io::Error);

    #[test]
    fn a_cause_already_in_the_message_is_not_repeated() {
        let error = Repeats(std::io::Error::other("inner"));
        assert_eq!(error_chain(&error), "outer: inner");
        let plain = std::io::Error::other("alone");
        assert_eq!(error_chain(&plain), "alone");
    }

    #[test]
    fn excerpt_keeps_short_text_and_cuts_long_text_to_the_limit() {
        assert_eq!(excerpt("short", 80), "short");
        let long = "é".repeat(100);
        let cut = excerpt(&long, 80);
        assert_eq!(cut.chars().count(), 80);
        assert!(cut.ends_with("..."));
    }
}
