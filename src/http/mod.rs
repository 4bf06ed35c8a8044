//! The shared HTTP layer: one reqwest client per run, with connect and read timeouts, proxies
//! taken from the environment snapshot, a user agent, the retry policy and loop every stage uses
//! ([`retry`]), and the one server-sent-events parser ([`sse`]).
//!
//! Used by stage 1 (`fetch`) for tarballs and by stage 3a (`model`) for provider calls.
//! Deps: `secret` only. Must not import any stage.
//!
//! ```no_run
//! # async fn demo(settings: &aigne_ci::http::HttpSettings) -> Result<(), aigne_ci::http::HttpError> {
//! use aigne_ci::http::{self, retry};
//! let client = http::client(settings)?;
//! let outcome = retry::send(&settings.retry, |_attempt| client.get("https://example.com/")).await;
//! # Ok(()) }
//! ```

pub mod retry;
pub mod sse;

mod error;

use std::time::Duration;

pub use error::HttpError;
pub use retry::RetryPolicy;

/// The user agent of every request: `aigne-ci/<version>`.
pub const USER_AGENT: &str = concat!("aigne-ci/", env!("CARGO_PKG_VERSION"));

/// How the shared client is built. Resolved once in [`crate::settings`].
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// Longest wait for a TCP/TLS connection.
    pub connect_timeout: Duration,
    /// Longest pause allowed between two reads of a response (headers or body).
    pub read_timeout: Duration,
    /// Proxies, from `HTTPS_PROXY`/`HTTP_PROXY`/`ALL_PROXY`/`NO_PROXY` (either case).
    pub proxies: ProxySettings,
    /// Retries and back-off for transient failures.
    pub retry: RetryPolicy,
    /// `--allow-insecure-redirect`: follow a redirect from https to http.
    pub allow_insecure_redirect: bool,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(30),
            proxies: ProxySettings::default(),
            retry: RetryPolicy::default(),
            allow_insecure_redirect: false,
        }
    }
}

/// Proxy URLs read from the environment snapshot (never from the process environment here).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProxySettings {
    /// Proxy for `http://` URLs (`HTTP_PROXY`).
    pub http: Option<String>,
    /// Proxy for `https://` URLs (`HTTPS_PROXY`).
    pub https: Option<String>,
    /// Proxy for every URL (`ALL_PROXY`), used when the scheme has none of its own.
    pub all: Option<String>,
    /// Hosts that bypass the proxies (`NO_PROXY`, comma-separated).
    pub no_proxy: Option<String>,
}

/// Most redirects followed for one request.
pub const MAX_REDIRECTS: usize = 10;

/// Why a redirect is not followed.
#[derive(Debug, thiserror::Error)]
pub enum RedirectRefused {
    /// More than [`MAX_REDIRECTS`].
    #[error("more than {MAX_REDIRECTS} redirects")]
    TooMany,
    /// From https to http, without `--allow-insecure-redirect`.
    #[error(
        "refusing to follow a redirect from https to http (`{from}` to `{to}`); pass `--allow-insecure-redirect` to allow it"
    )]
    Insecure {
        /// The https URL that redirected (masked).
        from: String,
        /// The http target (masked).
        to: String,
    },
}

/// The redirect policy: at most [`MAX_REDIRECTS`] hops, and never from https down to http
/// unless `allow_insecure` (once a chain was encrypted, it stays so).
pub fn check_redirect(
    previous: &[url::Url],
    next: &url::Url,
    allow_insecure: bool,
) -> Result<(), RedirectRefused> {
    if previous.len() > MAX_REDIRECTS {
        return Err(RedirectRefused::TooMany);
    }
    if !allow_insecure
        && next.scheme() == "http"
        && let Some(from) = previous.iter().rev().find(|url| url.scheme() == "https")
    {
        return Err(RedirectRefused::Insecure {
            from: crate::secret::SafeUrl::new(from.clone()).masked(),
            to: crate::secret::SafeUrl::new(next.clone()).masked(),
        });
    }
    Ok(())
}

/// Builds the shared client: timeouts, user agent, proxies, redirects by [`check_redirect`].
///
/// Redirects keep the request's headers only on the same scheme, host and port: reqwest drops
/// `Authorization` (and cookies) when a redirect crosses to another origin, so a token never
/// reaches another host.
pub fn client(settings: &HttpSettings) -> Result<reqwest::Client, HttpError> {
    let mut builder = reqwest::Client::builder()
        .user_agent(USER_AGENT)
        .connect_timeout(settings.connect_timeout)
        .read_timeout(settings.read_timeout)
        .redirect({
            let allow_insecure = settings.allow_insecure_redirect;
            reqwest::redirect::Policy::custom(move |attempt| {
                match check_redirect(attempt.previous(), attempt.url(), allow_insecure) {
                    Ok(()) => attempt.follow(),
                    Err(refused) => attempt.error(refused),
                }
            })
        })
        .tcp_keepalive(Duration::from_secs(30))
        // Proxies come from the environment snapshot only, never from reqwest's own env reads.
        .no_proxy();
    let no_proxy = settings
        .proxies
        .no_proxy
        .as_deref()
        .and_then(reqwest::NoProxy::from_string);
    let proxies = [
        (settings.proxies.http.as_deref(), ProxyScheme::Http),
        (settings.proxies.https.as_deref(), ProxyScheme::Https),
        (settings.proxies.all.as_deref(), ProxyScheme::All),
    ];
    for (url, scheme) in proxies {
        let Some(url) = url else { continue };
        let proxy = match scheme {
            ProxyScheme::Http => reqwest::Proxy::http(url),
            ProxyScheme::Https => reqwest::Proxy::https(url),
            ProxyScheme::All => reqwest::Proxy::all(url),
        }
        .map_err(|source| HttpError::Proxy {
            proxy: crate::secret::mask_url_text(url),
            source,
        })?;
        builder = builder.proxy(proxy.no_proxy(no_proxy.clone()));
    }
    builder
        .build()
        .map_err(|source| HttpError::Client { source })
}

#[derive(Clone, Copy)]
enum ProxyScheme {
    Http,
    Https,
    All,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_with_and_without_proxies() {
        let mut settings = HttpSettings::default();
        assert!(client(&settings).is_ok());
        settings.proxies = ProxySettings {
            http: Some("http://proxy.local:3128".into()),
            https: Some("http://user:pw@proxy.local:3128".into()),
            all: None,
            no_proxy: Some("localhost,127.0.0.1".into()),
        };
        assert!(client(&settings).is_ok());
    }

    #[test]
    fn redirects_never_go_from_https_down_to_http_unless_allowed() {
        let url = |text: &str| url::Url::parse(text).unwrap();
        let secure = [url("https://host.test/p.tgz")];
        let insecure_target = url("http://cdn.test/p.tgz?jwt=secret-jwt");
        let refused = check_redirect(&secure, &insecure_target, false).unwrap_err();
        assert_eq!(
            refused.to_string(),
            "refusing to follow a redirect from https to http (`https://host.test/p.tgz` to `http://cdn.test/p.tgz?jwt=****`); pass `--allow-insecure-redirect` to allow it"
        );
        assert!(check_redirect(&secure, &insecure_target, true).is_ok());
        // Once encrypted, always: https → https → http is refused too.
        let chain = [url("https://a.test/"), url("https://b.test/")];
        assert!(check_redirect(&chain, &url("http://c.test/"), false).is_err());
        assert!(check_redirect(&chain, &url("https://c.test/"), false).is_ok());
        // http → http and http → https are fine.
        assert!(check_redirect(&[url("http://a.test/")], &url("http://b.test/"), false).is_ok());
        assert!(check_redirect(&[url("http://a.test/")], &url("https://b.test/"), false).is_ok());
        let long: Vec<url::Url> = (0..=MAX_REDIRECTS)
            .map(|_| url("https://a.test/"))
            .collect();
        assert!(matches!(
            check_redirect(&long, &url("https://a.test/"), false),
            Err(RedirectRefused::TooMany)
        ));
    }

    #[test]
    fn bad_proxy_is_named_without_credentials() {
        let settings = HttpSettings {
            proxies: ProxySettings {
                https: Some("http://user:secret@[bad".into()),
                ..ProxySettings::default()
            },
            ..HttpSettings::default()
        };
        let error = client(&settings).unwrap_err().to_string();
        assert!(!error.contains("secret"), "{error}");
        assert!(error.contains("proxy"), "{error}");
    }
}
