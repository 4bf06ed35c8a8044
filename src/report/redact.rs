//! [`Redactor`]: replaces the values of secrets found in the environment (provider keys,
//! tokens) with `****` in everything the report writes, in case a model or an error message
//! echoes one.

use std::borrow::Cow;

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

    /// The values, for `::add-mask::`.
    pub fn secrets(&self) -> &[String] {
        &self.secrets
    }

    /// The text with every secret replaced by `****`.
    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut text = Cow::Borrowed(text);
        for secret in &self.secrets {
            if text.contains(secret.as_str()) {
                text = Cow::Owned(text.replace(secret.as_str(), "****"));
            }
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
}
