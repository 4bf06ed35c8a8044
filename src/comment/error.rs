//! [`CommentError`]: the comment cannot be written (exit 2). A pull request the token may not
//! write to is not an error: it is [`super::Outcome::Skipped`].

use std::path::PathBuf;

/// Why `aigne-ci comment` failed.
#[derive(Debug, thiserror::Error)]
pub enum CommentError {
    /// A file it needs (the event, `summary.json`, `results.jsonl`) cannot be read.
    #[error("cannot read {what} `{path}`")]
    Read {
        /// "the event file", "the summary".
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A file it needs is larger than the cap.
    #[error("{what} `{path}` is larger than {limit} bytes")]
    TooLarge {
        what: &'static str,
        path: PathBuf,
        limit: u64,
    },
    /// A file it needs is not the JSON it should be.
    #[error("{what} `{path}` is not valid (line {line})")]
    Parse {
        what: &'static str,
        path: PathBuf,
        line: usize,
        #[source]
        source: serde_json::Error,
    },
    /// A runner variable it needs is missing or malformed.
    #[error("`{variable}` {problem}")]
    Variable {
        variable: &'static str,
        /// "is not set", "is not a URL: …".
        problem: String,
    },
    /// No token.
    #[error("no GitHub token to write the comment with")]
    NoToken,
    /// The HTTP client cannot be built.
    #[error(transparent)]
    Http(#[from] crate::http::HttpError),
    /// A request failed (after its retries).
    #[error("GitHub API: cannot {action} (`{url}`)")]
    Request {
        /// "list the comments", "create the comment", "edit the comment".
        action: &'static str,
        /// The URL, masked.
        url: String,
        #[source]
        source: crate::http::retry::SendError,
    },
    /// The body of an answer could not be read.
    #[error("GitHub API: cannot read the answer to {action} (`{url}`)")]
    Body {
        action: &'static str,
        url: String,
        #[source]
        source: reqwest::Error,
    },
    /// The API answered with an error status.
    #[error("GitHub API: cannot {action}: {status} (`{url}`){message}")]
    Status {
        action: &'static str,
        url: String,
        status: reqwest::StatusCode,
        /// `: <the API's message>`, bounded and masked, or nothing.
        message: String,
    },
    /// An answer is larger than the cap.
    #[error("GitHub API: the answer to {action} is larger than {limit} bytes (`{url}`)")]
    AnswerTooLarge {
        action: &'static str,
        url: String,
        limit: usize,
    },
    /// An answer is not the JSON it should be.
    #[error("GitHub API: the answer to {action} is not what GitHub sends (`{url}`)")]
    Answer {
        action: &'static str,
        url: String,
        #[source]
        source: serde_json::Error,
    },
    /// A `Link: rel="next"` points away from the API (the token would go with it).
    #[error("GitHub API: the next page of comments is on another origin (`{url}`), not followed")]
    ForeignPage { url: String },
    /// More pages than the cap.
    #[error("GitHub API: the pull request has more than {limit} pages of comments")]
    TooManyPages { limit: usize },
}

impl crate::hint::Hint for CommentError {
    fn hint(&self) -> Option<String> {
        match self {
            Self::NoToken => Some(
                "pass `--github-token`, or set `GITHUB_TOKEN` (in a workflow: `GITHUB_TOKEN: ${{ github.token }}` in the step's `env`, with `permissions: pull-requests: write`)"
                    .to_owned(),
            ),
            Self::Read { what: "the summary", .. } => Some(
                "run `aigne-ci comment` after `aigne-ci run` or `merge`, with the same `--out-dir` (or `--summary`)"
                    .to_owned(),
            ),
            Self::Status { status, .. } if status.as_u16() == 401 => {
                Some("the token is not valid (expired, or for another host)".to_owned())
            }
            Self::Variable { .. } => Some(
                "`aigne-ci comment` reads the variables GitHub Actions sets in every job".to_owned(),
            ),
            _ => None,
        }
    }
}
