//! The three GitHub REST calls of the comment: list a pull request's comments (every page,
//! following `Link: rel="next"`), create one, edit one.
//!
//! Built on the shared client ([`crate::http`]: timeouts, proxies, redirects that never carry the
//! token to another origin) and its retry policy. Listing and editing are idempotent and retried
//! on transient failures; creating is not (a 502 may hide a comment that was made), so
//! [`super::upsert`] retries a failed creation by listing again first. Every answer is read
//! within [`MAX_ANSWER_BYTES`]; an error's message is quoted bounded and masked.

use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderValue, LINK};
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use url::Url;

use crate::http::retry::{self, RetryPolicy};
use crate::secret::{Redactor, SafeUrl, Secret};

use super::error::CommentError;

/// The largest answer read (a page of 100 comments of at most 65,536 characters each).
pub const MAX_ANSWER_BYTES: usize = 32 * 1024 * 1024;

/// Most pages of comments read (100 comments each).
pub const MAX_PAGES: usize = 100;

/// The API version asked for.
const API_VERSION: &str = "2022-11-28";

/// One comment of a pull request, as far as the upsert needs it.
#[derive(Debug, Clone, Deserialize)]
pub struct IssueComment {
    pub id: u64,
    #[serde(default)]
    pub body: Option<String>,
    #[serde(default)]
    pub html_url: Option<String>,
}

/// An answer that says the token may not do this (403).
#[derive(Debug, Clone)]
pub struct Forbidden {
    /// The action refused.
    pub action: &'static str,
    /// The status and the API's message, bounded and masked.
    pub message: String,
}

/// A call's result: done, refused for lack of permission, or failed.
pub type Answer<T> = Result<Result<T, Forbidden>, CommentError>;

/// The GitHub API of one repository, with a token.
pub struct Api {
    client: reqwest::Client,
    retry: RetryPolicy,
    base: Url,
    token: Secret,
    redactor: Redactor,
}

impl Api {
    /// `base` is `GITHUB_API_URL` (`https://api.github.com`, or `https://HOST/api/v3` on GitHub
    /// Enterprise Server).
    pub fn new(
        client: reqwest::Client,
        retry: RetryPolicy,
        base: Url,
        token: Secret,
        redactor: Redactor,
    ) -> Self {
        Self {
            client,
            retry,
            base,
            token,
            redactor,
        }
    }

    /// The retry policy (for the upsert's own retries of a creation).
    pub fn retry_policy(&self) -> &RetryPolicy {
        &self.retry
    }

    /// `{base}/{path}`, the base's own path kept (`/api/v3`).
    fn url(&self, path: &str) -> Url {
        let mut url = self.base.clone();
        let joined = format!("{}/{}", self.base.path().trim_end_matches('/'), path);
        url.set_path(&joined);
        url
    }

    fn masked(&self, url: &Url) -> String {
        self.redactor
            .redact(&SafeUrl::new(url.clone()).masked())
            .into_owned()
    }

    fn request(&self, method: Method, url: &Url) -> reqwest::RequestBuilder {
        let mut authorization = HeaderValue::from_str(&format!("Bearer {}", self.token.expose()))
            .unwrap_or_else(|_| HeaderValue::from_static("Bearer invalid"));
        authorization.set_sensitive(true);
        self.client
            .request(method, url.clone())
            .header(ACCEPT, "application/vnd.github+json")
            .header("X-GitHub-Api-Version", API_VERSION)
            .header(AUTHORIZATION, authorization)
    }

    /// Every comment of issue (pull request) `number`, page by page, until `stop` says one is
    /// the one looked for (`Some`) or the pages end (`None`).
    pub async fn find_comment(
        &self,
        repository: &str,
        number: u64,
        stop: impl Fn(&IssueComment) -> bool,
    ) -> Answer<Option<IssueComment>> {
        const ACTION: &str = "list the comments";
        let mut next = Some(self.url(&format!("repos/{repository}/issues/{number}/comments")));
        if let Some(url) = &mut next {
            url.query_pairs_mut().append_pair("per_page", "100");
        }
        let mut pages = 0;
        while let Some(url) = next.take() {
            pages += 1;
            if pages > MAX_PAGES {
                return Err(CommentError::TooManyPages { limit: MAX_PAGES });
            }
            let sent = retry::send(&self.retry, |_| self.request(Method::GET, &url))
                .await
                .map_err(|source| CommentError::Request {
                    action: ACTION,
                    url: self.masked(&url),
                    source,
                })?;
            let link = sent
                .response
                .headers()
                .get_all(LINK)
                .iter()
                .filter_map(|value| value.to_str().ok())
                .find_map(next_link);
            let body = match self.answer(ACTION, &url, sent.response).await? {
                Ok(body) => body,
                Err(forbidden) => return Ok(Err(forbidden)),
            };
            let comments: Vec<IssueComment> =
                serde_json::from_slice(&body).map_err(|source| CommentError::Answer {
                    action: ACTION,
                    url: self.masked(&url),
                    source,
                })?;
            if let Some(found) = comments.into_iter().find(|comment| stop(comment)) {
                return Ok(Ok(Some(found)));
            }
            if let Some(link) = link {
                let target = url.join(&link).map_err(|_| CommentError::ForeignPage {
                    url: self.redactor.redact(&link).into_owned(),
                })?;
                if target.origin() != self.base.origin() {
                    return Err(CommentError::ForeignPage {
                        url: self.masked(&target),
                    });
                }
                next = Some(target);
            }
        }
        Ok(Ok(None))
    }

    /// Creates a comment on issue (pull request) `number`: one attempt (see the module's
    /// notes). `Err(Transient)` inside says it may be tried again after listing.
    pub async fn create_comment(
        &self,
        repository: &str,
        number: u64,
        body: &str,
    ) -> Result<Answer<IssueComment>, Transient> {
        const ACTION: &str = "create the comment";
        let url = self.url(&format!("repos/{repository}/issues/{number}/comments"));
        let outcome = self
            .request(Method::POST, &url)
            .json(&serde_json::json!({ "body": body }))
            .send()
            .await;
        match retry::classify(&outcome) {
            retry::Classification::Transient { retry_after } => {
                let reason = match &outcome {
                    Ok(response) => response.status().to_string(),
                    Err(error) => self
                        .redactor
                        .redact(&crate::text::error_chain(error))
                        .into_owned(),
                };
                return Err(Transient {
                    retry_after,
                    reason,
                    last: outcome.err().map(|source| CommentError::Request {
                        action: ACTION,
                        url: self.masked(&url),
                        source: retry::SendError {
                            attempts: 1,
                            source,
                        },
                    }),
                });
            }
            retry::Classification::Permanent | retry::Classification::Done => {}
        }
        let response = match outcome {
            Ok(response) => response,
            Err(source) => {
                return Ok(Err(CommentError::Request {
                    action: ACTION,
                    url: self.masked(&url),
                    source: retry::SendError {
                        attempts: 1,
                        source,
                    },
                }));
            }
        };
        Ok(self.comment_answer(ACTION, &url, response).await)
    }

    /// Replaces the body of comment `id`.
    pub async fn edit_comment(
        &self,
        repository: &str,
        id: u64,
        body: &str,
    ) -> Answer<IssueComment> {
        const ACTION: &str = "edit the comment";
        let url = self.url(&format!("repos/{repository}/issues/comments/{id}"));
        let payload = serde_json::json!({ "body": body });
        let sent = retry::send(&self.retry, |_| {
            self.request(Method::PATCH, &url).json(&payload)
        })
        .await
        .map_err(|source| CommentError::Request {
            action: ACTION,
            url: self.masked(&url),
            source,
        })?;
        self.comment_answer(ACTION, &url, sent.response).await
    }

    async fn comment_answer(
        &self,
        action: &'static str,
        url: &Url,
        response: reqwest::Response,
    ) -> Answer<IssueComment> {
        let body = match self.answer(action, url, response).await? {
            Ok(body) => body,
            Err(forbidden) => return Ok(Err(forbidden)),
        };
        serde_json::from_slice(&body)
            .map(Ok)
            .map_err(|source| CommentError::Answer {
                action,
                url: self.masked(url),
                source,
            })
    }

    /// The body of a 2xx answer; a 403 is [`Forbidden`]; any other status is an error quoting the
    /// API's message (a 404 too: a wrong `GITHUB_API_URL` must not pass for a read-only token).
    async fn answer(
        &self,
        action: &'static str,
        url: &Url,
        response: reqwest::Response,
    ) -> Answer<Vec<u8>> {
        let status = response.status();
        let body = read_body(response, MAX_ANSWER_BYTES)
            .await
            .map_err(|error| match error {
                BodyError::TooLarge => CommentError::AnswerTooLarge {
                    action,
                    url: self.masked(url),
                    limit: MAX_ANSWER_BYTES,
                },
                BodyError::Read(source) => CommentError::Body {
                    action,
                    url: self.masked(url),
                    source,
                },
            })?;
        if status.is_success() {
            return Ok(Ok(body));
        }
        let message = api_message(&body)
            .map(|message| {
                let message = crate::text::excerpt(&crate::text::one_line(&message), 300);
                format!(": {}", self.redactor.redact(&message))
            })
            .unwrap_or_default();
        if status == StatusCode::FORBIDDEN {
            return Ok(Err(Forbidden {
                action,
                message: format!("{status}{message}"),
            }));
        }
        Err(CommentError::Status {
            action,
            url: self.masked(url),
            status,
            message,
        })
    }
}

/// A creation that failed in a way worth another try.
#[derive(Debug)]
pub struct Transient {
    /// The server's `Retry-After`.
    pub retry_after: Option<std::time::Duration>,
    /// `502 Bad Gateway`, `connection reset`, … (masked).
    pub reason: String,
    /// The error to report when no try is left (`None`: a transient status, reported as such).
    pub last: Option<CommentError>,
}

enum BodyError {
    TooLarge,
    Read(reqwest::Error),
}

/// The body, at most `limit` bytes.
async fn read_body(mut response: reqwest::Response, limit: usize) -> Result<Vec<u8>, BodyError> {
    if response
        .content_length()
        .is_some_and(|length| length > limit as u64)
    {
        return Err(BodyError::TooLarge);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(BodyError::Read)? {
        if body.len() + chunk.len() > limit {
            return Err(BodyError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The `message` of a GitHub error answer (`{"message": "…", "documentation_url": …}`).
fn api_message(body: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct Message {
        message: String,
    }
    serde_json::from_slice::<Message>(body)
        .ok()
        .map(|message| message.message)
}

/// The `rel="next"` target of one `Link` header value (RFC 8288), e.g.
/// `<https://api.github.com/…?page=2>; rel="next", <…?page=5>; rel="last"`.
///
/// Hand-written: the header GitHub sends is this simple form, the crates that parse it
/// (`parse_link_header`) would add a dependency for these lines, and the target's origin is
/// checked by the caller either way.
pub fn next_link(header: &str) -> Option<String> {
    let mut rest = header;
    loop {
        let start = rest.find('<')?;
        let end = start + rest[start..].find('>')?;
        let target = &rest[start + 1..end];
        rest = &rest[end + 1..];
        // The parameters run to the next link (a `,` outside quotes) or the end.
        let mut in_quotes = false;
        let params_end = rest
            .char_indices()
            .find(|&(_, character)| {
                if character == '"' {
                    in_quotes = !in_quotes;
                }
                character == ',' && !in_quotes
            })
            .map_or(rest.len(), |(index, _)| index);
        let params = &rest[..params_end];
        let is_next = params.split(';').any(|param| {
            let Some((key, value)) = param.split_once('=') else {
                return false;
            };
            key.trim().eq_ignore_ascii_case("rel")
                && value
                    .trim()
                    .trim_matches('"')
                    .split_ascii_whitespace()
                    .any(|rel| rel.eq_ignore_ascii_case("next"))
        });
        if is_next {
            return Some(target.to_owned());
        }
        rest = &rest[params_end..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_links() {
        let header = r#"<https://api.github.com/repositories/1/issues/2/comments?per_page=100&page=2>; rel="next", <https://api.github.com/repositories/1/issues/2/comments?per_page=100&page=5>; rel="last""#;
        assert_eq!(
            next_link(header).as_deref(),
            Some("https://api.github.com/repositories/1/issues/2/comments?per_page=100&page=2")
        );
        let header =
            r#"<https://x/?page=1>; rel="prev", <https://x/?page=3>; title="a, b"; rel="next""#;
        assert_eq!(next_link(header).as_deref(), Some("https://x/?page=3"));
        assert_eq!(next_link(r#"<https://x/?page=1>; rel="prev""#), None);
        assert_eq!(next_link(r#"<https://x/>; rel="nextish""#), None);
        assert_eq!(
            next_link(r#"<https://x/2>; rel=next"#).as_deref(),
            Some("https://x/2")
        );
        assert_eq!(next_link("garbage"), None);
        assert_eq!(next_link("<unterminated; rel=\"next\""), None);
    }

    #[test]
    fn urls_keep_the_base_path_of_github_enterprise() {
        let api = Api::new(
            reqwest::Client::new(),
            RetryPolicy::default(),
            Url::parse("https://ghe.example/api/v3/").unwrap(),
            Secret::new("t"),
            Redactor::new(Vec::new()),
        );
        assert_eq!(
            api.url("repos/o/r/issues/1/comments").as_str(),
            "https://ghe.example/api/v3/repos/o/r/issues/1/comments"
        );
    }
}
