//! Values that must never be printed: [`Secret`], [`SafeUrl`] and the [`Redactor`] that masks
//! secret values in everything aigne-ci writes.
//!
//! A leaf module: it imports nothing from the crate.

use std::borrow::Cow;
use std::fmt;
use std::sync::LazyLock;

use regex::Regex;

/// A credential (API key, token). `Debug` and `Display` print `****`; only
/// [`Secret::expose`] gives the value, and only code that sends it may call it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a credential.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The credential itself, for an `Authorization` header and nothing else.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("Secret(****)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("****")
    }
}

/// Query parameters whose values are masked when a URL is displayed (compared without case).
/// Signed URLs carry their credentials here: AWS (`X-Amz-Signature`, `X-Amz-Credential`,
/// `X-Amz-Security-Token`), Google Cloud Storage (`X-Goog-Signature`, `X-Goog-Credential`,
/// `Signature`, `GoogleAccessId`), Azure SAS (`sig`), CDNs and artifact stores (`jwt`,
/// `token`, `Policy`, `Key-Pair-Id`).
const SECRET_QUERY_KEYS: &[&str] = &[
    "key",
    "sig",
    "jwt",
    "code",
    "auth",
    "pwd",
    "sas",
    "policy",
    "key-pair-id",
    "googleaccessid",
];

/// Parts of query parameter names that mark a secret value (`access_token`, `X-Goog-Signature`,
/// `client_secret`, `api_key`, `X-Amz-Credential`, …).
const SECRET_QUERY_PARTS: &[&str] = &[
    "token",
    "signature",
    "secret",
    "password",
    "passwd",
    "credential",
    "apikey",
    "api_key",
    "api-key",
    "jwt",
    "session",
    "auth",
];

/// Whether a query parameter's value is masked when its URL is shown.
pub fn is_secret_query_key(key: &str) -> bool {
    let lower = key.to_ascii_lowercase();
    SECRET_QUERY_KEYS.contains(&lower.as_str())
        || SECRET_QUERY_PARTS.iter().any(|part| lower.contains(part))
}

/// A URL whose `Display` masks the password of its userinfo and secret-looking query values,
/// so that it can go into errors and logs.
#[derive(Clone, PartialEq, Eq)]
pub struct SafeUrl(url::Url);

impl SafeUrl {
    /// Wraps a URL.
    pub fn new(url: url::Url) -> Self {
        Self(url)
    }

    /// The real URL, for sending a request.
    pub fn expose(&self) -> &url::Url {
        &self.0
    }

    /// The URL as it may be shown.
    pub fn masked(&self) -> String {
        let mut url = self.0.clone();
        if url.password().is_some() {
            let _ = url.set_password(Some("****"));
        } else if !url.username().is_empty() {
            let _ = url.set_username("****");
        }
        if let Some(query) = url.query() {
            let masked = mask_pairs(query);
            url.set_query(Some(&masked));
        }
        // OAuth's implicit flow puts tokens in the fragment (`#access_token=…`).
        if let Some(fragment) = url.fragment()
            && fragment.contains('=')
        {
            let masked = mask_pairs(fragment);
            url.set_fragment(Some(&masked));
        }
        url.to_string()
    }
}

/// `a=1&token=x` → `a=1&token=****`: every pair keeps its name and its place, and only the
/// value of a secret name is replaced (the rest of the text is left as it was written).
fn mask_pairs(pairs: &str) -> String {
    pairs
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((key, _)) => {
                let name: String = url::form_urlencoded::parse(key.as_bytes())
                    .map(|(name, _)| name.into_owned())
                    .next()
                    .unwrap_or_default();
                if is_secret_query_key(&name) {
                    format!("{key}=****")
                } else {
                    pair.to_owned()
                }
            }
            None => pair.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// Masks a URL given as text (proxy settings, user input): through [`SafeUrl`] when it parses,
/// otherwise everything between `://` and the last `@` is replaced with `****`.
pub fn mask_url_text(text: &str) -> String {
    if let Ok(url) = url::Url::parse(text) {
        return SafeUrl::new(url).masked();
    }
    match (text.find("://"), text.rfind('@')) {
        (Some(start), Some(end)) if end > start + 3 => {
            format!("{}****{}", &text[..start + 3], &text[end..])
        }
        _ => text.to_owned(),
    }
}

impl fmt::Display for SafeUrl {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.masked())
    }
}

impl fmt::Debug for SafeUrl {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "SafeUrl({})", self.masked())
    }
}

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

/// URLs inside text (error messages, logs), whose signed parameters are masked.
static URLS_IN_TEXT: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r#"(?i)\b(?:https?|wss?)://[^\s"'<>`]+"#).ok());

/// Shortest value treated as a secret: shorter ones (`1`, `true`, `prod`) would mangle
/// ordinary text, and no real credential is that short.
pub const MIN_SECRET_CHARS: usize = 8;

/// Longest value that may still be an ordinary word or phrase (see [`is_maskable`]).
const MAX_COMMON_CHARS: usize = 20;

/// The mask that replaces a secret.
pub const MASK: &str = "****";

/// Whether a value is worth masking: long enough, and not an ordinary word or number. A variable named like a secret may hold `status`, `production`, `true` or `8080`;
/// masking those would rewrite ordinary text and the values of result fields (`"status"`,
/// `"passed"`, a port), and they protect nothing.
pub fn is_maskable(value: &str) -> bool {
    let value = value.trim();
    let chars = value.chars().count();
    if chars < MIN_SECRET_CHARS {
        return false;
    }
    if value.chars().all(|c| c.is_ascii_digit()) && chars < 16 {
        return false;
    }
    // One word (`status`, `production`, `timed_out`, `DISABLED`): letters and underscores.
    let wordlike = value.chars().all(|c| c.is_ascii_alphabetic() || c == '_');
    if wordlike && chars <= MAX_COMMON_CHARS {
        let letters: Vec<char> = value.chars().filter(char::is_ascii_alphabetic).collect();
        let lower = letters.iter().all(char::is_ascii_lowercase);
        let upper = letters.iter().all(char::is_ascii_uppercase);
        let capitalised = letters.first().is_some_and(char::is_ascii_uppercase)
            && letters[1..].iter().all(char::is_ascii_lowercase);
        if lower || upper || capitalised {
            return false;
        }
    }
    true
}

/// Secrets a command learns while it runs (the values of a project's `.env` files), shared with
/// `main` so that an error it returns is masked with them too. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct LateSecrets(std::sync::Arc<std::sync::Mutex<Vec<String>>>);

impl LateSecrets {
    /// Adds values (masked from now on in whatever `main` prints).
    pub fn add(&self, values: impl IntoIterator<Item = String>) {
        if let Ok(mut secrets) = self.0.lock() {
            secrets.extend(values);
        }
    }

    /// Every value added so far.
    pub fn values(&self) -> Vec<String> {
        self.0
            .lock()
            .map(|secrets| secrets.clone())
            .unwrap_or_default()
    }
}

/// Masks secret values (provider keys, tokens, `--token`) in everything aigne-ci writes:
/// records are masked string by string before they are serialised ([`Redactor::redact_value`]),
/// so a secret holding `"`, `\`, a tab or any other character is found as it is, and keys and
/// structure are never touched. Text already rendered ([`Redactor::redact`]) is searched for
/// the value as written, JSON-escaped and URL-encoded. Credentials of well-known formats
/// (OpenAI, Anthropic, Google, AWS, GitHub, Slack, Hugging Face) are masked too, even when no
/// variable holds them, and so are signed parameters of URLs found in text (`jwt=`,
/// `X-Goog-Signature=`, `sig=`, …).
///
/// Values too short or too common to be secrets ([`is_maskable`]) are ignored.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    /// The secrets as they are (one entry per line of a multi-line secret, plus the whole).
    secrets: Vec<String>,
    /// What is searched for in rendered text: each secret, JSON-escaped and URL-encoded.
    needles: Vec<String>,
}

impl Redactor {
    /// A redactor for these values (short and common ones are ignored).
    pub fn new(secrets: impl IntoIterator<Item = String>) -> Self {
        let mut values: Vec<String> = secrets
            .into_iter()
            .flat_map(|secret| {
                // A multi-line secret is masked line by line, like `::add-mask::`.
                let mut parts: Vec<String> = secret
                    .lines()
                    .map(str::trim)
                    .filter(|line| !line.is_empty())
                    .map(str::to_owned)
                    .collect();
                // The whole value too, when it is not one of its trimmed lines.
                if secret.contains('\n') || secret.trim() != secret {
                    parts.push(secret);
                }
                parts
            })
            .filter(|secret| is_maskable(secret))
            .collect();
        // Longest first, so a secret containing another is replaced whole.
        values.sort_by_key(|secret| std::cmp::Reverse(secret.len()));
        values.dedup();
        let mut needles: Vec<String> = Vec::new();
        for secret in &values {
            let json = serde_json::to_string(secret).unwrap_or_default();
            let json = json
                .strip_prefix('"')
                .and_then(|json| json.strip_suffix('"'))
                .unwrap_or(secret)
                .to_owned();
            let encoded: String = url::form_urlencoded::byte_serialize(secret.as_bytes()).collect();
            for needle in [secret.clone(), json, encoded] {
                if !needles.contains(&needle) {
                    needles.push(needle);
                }
            }
        }
        needles.sort_by_key(|needle| std::cmp::Reverse(needle.len()));
        Self {
            secrets: values,
            needles,
        }
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

    /// A text (a string value of a record, a log line, an error message, an HTTP body) with
    /// every secret, every credential of a known format and every signed URL parameter replaced
    /// by `****`. A secret is found as it is, and also JSON-escaped or URL-encoded (a string may
    /// quote a JSON body or a URL).
    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut text = Cow::Borrowed(text);
        for needle in &self.needles {
            if text.contains(needle.as_str()) {
                text = Cow::Owned(text.replace(needle.as_str(), MASK));
            }
        }
        if let Some(formats) = KNOWN_FORMATS.as_ref()
            && formats.is_match(&text)
        {
            text = Cow::Owned(formats.replace_all(&text, MASK).into_owned());
        }
        if text.contains("://")
            && let Some(urls) = URLS_IN_TEXT.as_ref()
        {
            let masked = urls.replace_all(&text, |found: &regex::Captures<'_>| {
                let found = &found[0];
                // Only a URL with something to mask is rewritten (never normalised otherwise).
                match url::Url::parse(found) {
                    Ok(url) if SafeUrl::new(url.clone()).masked() != url.as_str() => {
                        mask_url_text(found)
                    }
                    _ => found.to_owned(),
                }
            });
            if let Cow::Owned(masked) = masked
                && masked != *text
            {
                text = Cow::Owned(masked);
            }
        }
        text
    }

    /// Masks every string value of a JSON value in place, at any depth. Object keys, numbers,
    /// booleans and the shape of the value are never changed.
    pub fn redact_value(&self, value: &mut serde_json::Value) {
        match value {
            serde_json::Value::String(text) => {
                if let Cow::Owned(masked) = self.redact(text) {
                    *text = masked;
                }
            }
            serde_json::Value::Array(items) => {
                for item in items {
                    self.redact_value(item);
                }
            }
            serde_json::Value::Object(map) => {
                for (_, item) in map.iter_mut() {
                    self.redact_value(item);
                }
            }
            _ => {}
        }
    }

    /// A record as a JSON value with every string masked ([`Redactor::redact_value`]): what is
    /// serialised to a file.
    pub fn redact_record<T: serde::Serialize>(
        &self,
        record: &T,
    ) -> Result<serde_json::Value, serde_json::Error> {
        let mut value = serde_json::to_value(record)?;
        self.redact_value(&mut value);
        Ok(value)
    }

    /// [`Redactor::redact_typed`] of a record given away: the record is dropped once it is
    /// serialised, so a large output is held twice at most, not three times.
    pub fn redact_owned<T>(&self, record: T) -> Result<T, serde_json::Error>
    where
        T: serde::Serialize + serde::de::DeserializeOwned,
    {
        let mut value = serde_json::to_value(&record)?;
        drop(record);
        self.redact_value(&mut value);
        serde_json::from_value(value)
    }

    /// A record of the same type with every string masked (for the text reports rendered from
    /// it).
    pub fn redact_typed<T>(&self, record: &T) -> Result<T, serde_json::Error>
    where
        T: serde::Serialize + serde::de::DeserializeOwned,
    {
        serde_json::from_value(self.redact_record(record)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_never_displays() {
        let secret = Secret::new("sk-live-123");
        assert_eq!(format!("{secret} {secret:?}"), "**** Secret(****)");
        assert_eq!(secret.expose(), "sk-live-123");
    }

    #[test]
    fn text_urls_are_masked() {
        assert_eq!(mask_url_text("http://u:pw@[bad"), "http://****@[bad");
        assert_eq!(
            mask_url_text("http://u:pw@proxy:1"),
            "http://u:****@proxy:1/"
        );
        assert_eq!(mask_url_text("proxy:1"), "proxy:1");
    }

    #[test]
    fn url_masks_credentials_and_tokens() {
        let url = url::Url::parse("https://user:pw@example.com/a.tgz?token=abc&x=1").unwrap();
        let shown = SafeUrl::new(url).to_string();
        assert_eq!(shown, "https://user:****@example.com/a.tgz?token=****&x=1");
        let url = url::Url::parse("https://ghp_abc@example.com/a.tgz").unwrap();
        assert_eq!(
            SafeUrl::new(url).to_string(),
            "https://****@example.com/a.tgz"
        );
    }

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

    #[test]
    fn masks_values_whatever_characters_they_hold_and_never_keys() {
        let hostile = "k\"ey\\with\ttab-é✓-123";
        let redactor = Redactor::new([hostile.to_owned(), "status".to_owned()]);
        let mut record = serde_json::json!({
            "status": "passed",
            "output": {"message": format!("the key is {hostile}!"), "status": ["status"]},
            hostile: 1,
        });
        redactor.redact_value(&mut record);
        assert_eq!(
            record,
            serde_json::json!({
                "status": "passed",
                "output": {"message": "the key is ****!", "status": ["status"]},
                hostile: 1,
            })
        );
        // Rendered text: as written, JSON-escaped and URL-encoded.
        let json = serde_json::to_string(&format!("a {hostile} b")).unwrap();
        assert_eq!(redactor.redact(&json), "\"a **** b\"");
        let encoded: String = url::form_urlencoded::byte_serialize(hostile.as_bytes()).collect();
        assert_eq!(redactor.redact(&format!("?q={encoded}&x=1")), "?q=****&x=1");
        assert_eq!(redactor.secrets(), [hostile.to_owned()]);
    }

    #[test]
    fn short_and_common_values_are_not_secrets() {
        for common in [
            "status",
            "passed",
            "production",
            "timed_out",
            "DISABLED",
            "8080",
            "true",
        ] {
            assert!(!is_maskable(common), "{common}");
        }
        for secret in [
            "sk-secret-value",
            "hunter2hunter2",
            "correct horse battery",
            "Pa55word",
        ] {
            assert!(is_maskable(secret), "{secret}");
        }
    }

    #[test]
    fn signed_url_parameters_are_masked_in_urls_and_text() {
        let url = url::Url::parse(
            "https://storage.example/p.tgz?X-Goog-Algorithm=GOOG4&X-Goog-Credential=svc%2F2026&X-Goog-Signature=abcd&jwt=eyJ.x.y&sig=s1&X-Amz-Signature=s2&X-Amz-Credential=c&plain=1#access_token=t",
        )
        .unwrap();
        assert_eq!(
            SafeUrl::new(url).masked(),
            "https://storage.example/p.tgz?X-Goog-Algorithm=GOOG4&X-Goog-Credential=****&X-Goog-Signature=****&jwt=****&sig=****&X-Amz-Signature=****&X-Amz-Credential=****&plain=1#access_token=****"
        );
        let redactor = Redactor::default();
        assert_eq!(
            redactor.redact("error for url (https://cdn.example/a.tgz?jwt=eyJhbGci.x.y&v=2): 403"),
            "error for url (https://cdn.example/a.tgz?jwt=****&v=2): 403"
        );
        // A URL with nothing to mask is left exactly as written.
        assert!(matches!(
            redactor.redact("see http://example.com and https://x.test/a?b=1"),
            Cow::Borrowed(_)
        ));
    }
}
