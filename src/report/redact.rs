//! [`Redactor`]: replaces the values of secrets found in the environment and the project's
//! `.env` files (provider keys, tokens) with `****` in everything the report writes, in case a
//! model or an error message echoes one. Credentials of well-known formats (OpenAI, Anthropic,
//! Google, AWS, GitHub, Slack, Hugging Face) are masked too, even when no variable holds them: a
//! key hard-coded in a project or returned by a tool is still a key.

use std::borrow::Cow;
use std::sync::LazyLock;

use regex::Regex;

/// Well-known credential formats. Each needs a long random tail, so ordinary text does not match.
static KNOWN_FORMATS: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(concat!(
        r"\b(?:",
        r"sk-(?:ant-|proj-|svcacct-|admin-)?[A-Za-z0-9_-]{32,}", // OpenAI, Anthropic
        r"|AIza[0-9A-Za-z_-]{35}",                               // Google API keys
        r"|(?:AKIA|ASIA)[0-9A-Z]{16}",                           // AWS access key ids
        r"|gh[pousr]_[A-Za-z0-9]{36,}",                          // GitHub tokens
        r"|github_pat_[A-Za-z0-9_]{40,}",                        // GitHub fine-grained tokens
        r"|xox[abprs]-[A-Za-z0-9-]{10,}",                        // Slack tokens
        r"|hf_[A-Za-z0-9]{32,}",                                 // Hugging Face tokens
        r")\b",
    ))
    .ok()
});

/// Shortest secret that is redacted (shorter values would mangle ordinary text).
const MIN_SECRET_LEN: usize = 6;

/// Exact-match redaction of known secret values.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    secrets: Vec<String>,
}

impl Redactor {
    /// A redactor for these values (short and empty ones are ignored).
    pub fn new(secrets: impl IntoIterator<Item = String>) -> Self {
        let mut secrets: Vec<String> = secrets
            .into_iter()
            .flat_map(|secret| {
                // A multi-line secret is masked line by line, like `::add-mask::`.
                let mut parts: Vec<String> = secret
                    .lines()
                    .map(str::trim)
                    .filter(|line| !line.is_empty())
                    .map(str::to_owned)
                    .collect();
                if secret.contains('\n') {
                    parts.push(secret);
                }
                parts
            })
            .filter(|secret| secret.len() >= MIN_SECRET_LEN)
            .collect();
        // Longest first, so a secret containing another is replaced whole.
        secrets.sort_by_key(|secret| std::cmp::Reverse(secret.len()));
        secrets.dedup();
        Self { secrets }
    }

    /// This redactor plus more values (e.g. the secrets of a project's `.env` files); the second
    /// value lists the ones that are new, for `::add-mask::`.
    pub fn with(&self, more: impl IntoIterator<Item = String>) -> (Self, Vec<String>) {
        let added: Vec<String> = Redactor::new(more)
            .secrets
            .into_iter()
            .filter(|secret| !self.secrets.contains(secret))
            .collect();
        let combined = Redactor::new(self.secrets.iter().cloned().chain(added.iter().cloned()));
        (combined, added)
    }

    /// The values, for `::add-mask::`.
    pub fn secrets(&self) -> &[String] {
        &self.secrets
    }

    /// The text with every secret, and every credential of a known format, replaced by `****`.
    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut text = Cow::Borrowed(text);
        for secret in &self.secrets {
            if text.contains(secret.as_str()) {
                text = Cow::Owned(text.replace(secret.as_str(), "****"));
            }
        }
        if let Some(formats) = KNOWN_FORMATS.as_ref()
            && formats.is_match(&text)
        {
            text = Cow::Owned(formats.replace_all(&text, "****").into_owned());
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_every_secret() {
        let redactor = Redactor::new(["sk-test-123456".to_owned(), "abc".to_owned()]);
        assert_eq!(
            redactor.redact("key sk-test-123456 and abc"),
            "key **** and abc"
        );
        assert!(matches!(redactor.redact("clean"), Cow::Borrowed(_)));
    }

    #[test]
    fn masks_credentials_of_known_formats_without_a_variable() {
        let redactor = Redactor::default();
        let cases = [
            (
                "key: sk-proj-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789_-ab.",
                "key: ****.",
            ),
            ("sk-ant-api03-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789", "****"),
            ("\"AIzaSyA1234567890abcdefghijklmnopqrstuv\"", "\"****\""),
            ("id=AKIAIOSFODNN7EXAMPLE&x", "id=****&x"),
            ("ghp_abcdefghijklmnopqrstuvwxyz0123456789 ok", "**** ok"),
            ("hf_abcdefghijklmnopqrstuvwxyzABCDEF", "****"),
        ];
        for (text, expected) in cases {
            assert_eq!(redactor.redact(text), expected, "{text}");
        }
        // Look-alikes that are ordinary text stay.
        for text in [
            "sk-short",
            "task-1234567890",
            "AKIA is not a key",
            "risk-assessment-of-the-quarterly-numbers-and-more",
        ] {
            assert!(matches!(redactor.redact(text), Cow::Borrowed(_)), "{text}");
        }
    }

    #[test]
    fn with_adds_values_and_names_the_new_ones() {
        let redactor = Redactor::new(["env-secret-1".to_owned()]);
        let (combined, added) =
            redactor.with(["env-secret-1".to_owned(), "dotenv-secret-2".to_owned()]);
        assert_eq!(added, vec!["dotenv-secret-2".to_owned()]);
        assert_eq!(combined.redact("env-secret-1 dotenv-secret-2"), "**** ****");
    }
}
