//! Small text helpers shared by every stage: an error and its causes on one line, and a short
//! excerpt of a long text. A leaf module: it imports nothing from the crate, so any stage can use
//! it without reaching up to the top error module.

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
