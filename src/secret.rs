//! Values that must never be printed: [`Secret`] and [`SafeUrl`].
//!
//! A leaf module: it imports nothing from the crate.

use std::fmt;

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

/// Query parameters whose values are masked when a URL is displayed.
const SECRET_QUERY_KEYS: &[&str] = &[
    "token",
    "access_token",
    "api_key",
    "apikey",
    "key",
    "sig",
    "signature",
    "x-amz-signature",
    "x-amz-credential",
    "x-amz-security-token",
    "password",
    "secret",
    "client_secret",
];

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
        if url.query().is_some() {
            let pairs: Vec<(String, String)> = url
                .query_pairs()
                .map(|(key, value)| {
                    let masked = SECRET_QUERY_KEYS
                        .iter()
                        .any(|secret| key.eq_ignore_ascii_case(secret));
                    let value = if masked {
                        "****".to_owned()
                    } else {
                        value.into_owned()
                    };
                    (key.into_owned(), value)
                })
                .collect();
            url.query_pairs_mut().clear().extend_pairs(pairs);
        }
        url.to_string()
    }
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
}
