//! [`FetchError`]: every variant names the URL (masked) or path it is about, and the attempts
//! made where the network was involved.

use std::path::PathBuf;

/// Stage 1 failed.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// SOURCE is neither a URL we can fetch nor a path.
    #[error("cannot read the source `{source_text}`: {reason}")]
    InvalidSource {
        /// The source as given (credentials masked).
        source_text: String,
        /// Why it is not usable.
        reason: String,
    },
    /// A local source does not exist.
    #[error("the source `{}` does not exist", path.display())]
    SourceNotFound {
        /// The path looked at.
        path: PathBuf,
    },
    /// A flag does not fit the source (e.g. `--sha256` with a folder).
    #[error("{message}")]
    Unsupported {
        /// What does not fit.
        message: String,
        /// How to fix it.
        hint: Option<String>,
    },
    /// `--subdir` is absolute or contains `..`.
    #[error("`--subdir {}` must be a relative path inside the archive", subdir.display())]
    InvalidSubdir {
        /// The value given.
        subdir: PathBuf,
    },
    /// No `aigne.yaml` where it is looked for.
    #[error("no `aigne.yaml` in {location}{}", subdir.as_ref().map(|subdir| format!(" under `--subdir {}`", subdir.display())).unwrap_or_default())]
    ProjectNotFound {
        /// The extracted archive or folder (`` `url` `` or `` `path` ``).
        location: String,
        /// The `--subdir` given, if any.
        subdir: Option<PathBuf>,
        /// Folders (relative) that do hold an `aigne.yaml`.
        found: Vec<String>,
    },
    /// `--offline` and nothing usable in the cache.
    #[error("no cached copy of `{url}` and `--offline` forbids downloading it{}", pinned.as_ref().map(|sha| format!(" (pinned to sha256 `{sha}`)")).unwrap_or_default())]
    OfflineMiss {
        /// The source URL (credentials masked).
        url: String,
        /// The `--sha256` pin, if any.
        pinned: Option<String>,
    },
    /// The shared HTTP client could not be built.
    #[error("cannot prepare the download of `{url}`")]
    Client {
        /// The source URL (credentials masked).
        url: String,
        /// Why.
        #[source]
        source: crate::http::HttpError,
    },
    /// The request failed without a response (connection, timeout, TLS, redirects).
    #[error("cannot download `{url}` after {attempts} attempt(s)")]
    Request {
        /// The source URL (credentials masked).
        url: String,
        /// Attempts made.
        attempts: u32,
        /// The last error.
        #[source]
        source: reqwest::Error,
    },
    /// The server answered with an error status.
    #[error("downloading `{url}` failed with status `{status}` after {attempts} attempt(s){}", if body.is_empty() { String::new() } else { format!(": {body}") })]
    Status {
        /// The source URL (credentials masked).
        url: String,
        /// The last status.
        status: reqwest::StatusCode,
        /// Attempts made.
        attempts: u32,
        /// The start of the response body (for error pages).
        body: String,
        /// Whether a token was sent.
        authenticated: bool,
    },
    /// The connection broke while the body arrived.
    #[error("the download of `{url}` broke off after {bytes} bytes, after {attempts} attempt(s)")]
    Body {
        /// The source URL (credentials masked).
        url: String,
        /// Bytes received in the last attempt.
        bytes: u64,
        /// Attempts made.
        attempts: u32,
        /// The last error.
        #[source]
        source: std::io::Error,
    },
    /// `--sha256` does not match what was downloaded.
    #[error("sha256 mismatch for `{location}`: expected `{expected}`, got `{actual}`")]
    ChecksumMismatch {
        /// URL or path of the tarball.
        location: String,
        /// The pin.
        expected: String,
        /// What the bytes hash to.
        actual: String,
    },
    /// The archive holds something that must not be extracted.
    #[error("unsafe entry `{entry}` in the archive from `{location}`: {reason}")]
    UnsafeEntry {
        /// URL or path of the tarball.
        location: String,
        /// The entry's path as written in the archive.
        entry: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The archive expands past `--max-unpacked-bytes`.
    #[error("the archive from `{location}` unpacks to more than {limit} bytes{}", entry.as_ref().map(|entry| format!(" (at entry `{entry}`)")).unwrap_or_default())]
    TooLarge {
        /// URL or path of the tarball.
        location: String,
        /// The entry that crossed the limit, if one did.
        entry: Option<String>,
        /// The limit.
        limit: u64,
    },
    /// The archive has more than `--max-entries` entries.
    #[error("the archive from `{location}` has more than {limit} entries")]
    TooManyEntries {
        /// URL or path of the tarball.
        location: String,
        /// The limit.
        limit: u64,
    },
    /// The body is not a (gzipped) tar archive, or it is damaged.
    #[error("the archive from `{location}` is corrupt{}", entry.as_ref().map(|entry| format!(" at entry `{entry}`")).unwrap_or_default())]
    CorruptArchive {
        /// URL or path of the tarball.
        location: String,
        /// The entry being read, if any.
        entry: Option<String>,
        /// What the decoder said.
        #[source]
        source: std::io::Error,
    },
    /// The body is not a tar archive at all.
    #[error("`{location}` is not a tar archive (gzip or plain): {reason}")]
    NotAnArchive {
        /// URL or path of the body.
        location: String,
        /// What was found instead.
        reason: String,
    },
    /// Reading a local tarball failed.
    #[error("cannot read `{}`", path.display())]
    ReadLocal {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The cache folder could not be read or written.
    #[error("cannot {action} `{}` in the cache", path.display())]
    Cache {
        /// What was being done (`create`, `lock`, `write`, …).
        action: &'static str,
        /// The path.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The unpacking thread failed.
    #[error("the unpacking task of `{location}` failed")]
    Task {
        /// URL or path of the tarball.
        location: String,
        /// Why.
        #[source]
        source: tokio::task::JoinError,
    },
}

impl FetchError {
    /// Whether this is a usage error (exit 2) rather than a failed fetch (exit 3): the source
    /// or a flag is wrong, or the archive holds no project where one was asked for.
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            Self::InvalidSource { .. }
                | Self::SourceNotFound { .. }
                | Self::Unsupported { .. }
                | Self::InvalidSubdir { .. }
                | Self::ProjectNotFound { .. }
        )
    }
}

impl crate::hint::Hint for FetchError {
    fn hint(&self) -> Option<String> {
        match self {
            Self::SourceNotFound { .. } => Some(
                "SOURCE is an http(s) or file:// URL, a project folder or a path to `aigne.yaml`"
                    .to_owned(),
            ),
            Self::Unsupported { hint, .. } => hint.clone(),
            Self::ProjectNotFound { found, .. } if found.is_empty() => Some(
                "the archive holds no `aigne.yaml`; check the URL (a GitHub `tree` page is HTML, use its `archive/<ref>.tar.gz`)"
                    .to_owned(),
            ),
            Self::ProjectNotFound { found, .. } => Some(format!(
                "`aigne.yaml` files exist in: {}; pass one of them with `--subdir`",
                found
                    .iter()
                    .map(|folder| format!("`{folder}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
            Self::OfflineMiss { .. } => Some(
                "run once without `--offline` to fill the cache, or restore it (e.g. with `actions/cache` and the `cache_key` of a previous run)"
                    .to_owned(),
            ),
            Self::Status {
                status,
                authenticated,
                ..
            } if matches!(status.as_u16(), 401 | 403 | 404) && !authenticated => Some(
                "if the archive is private, pass `--token` (or set `GITHUB_TOKEN` for github.com)"
                    .to_owned(),
            ),
            Self::Status { status, .. } if matches!(status.as_u16(), 401 | 403) => {
                Some("the token was refused; check that it can read this repository".to_owned())
            }
            Self::Request { .. } | Self::Body { .. } => Some(
                "check the network or proxy (`HTTPS_PROXY`); raise `--http-retries` or `--read-timeout` for flaky hosts"
                    .to_owned(),
            ),
            Self::ChecksumMismatch { .. } => Some(
                "the tarball changed or was tampered with; if the change is expected, update `--sha256`"
                    .to_owned(),
            ),
            Self::TooLarge { .. } => {
                Some("raise `--max-unpacked-bytes` if the archive is trusted".to_owned())
            }
            Self::TooManyEntries { .. } => {
                Some("raise `--max-entries` if the archive is trusted".to_owned())
            }
            Self::NotAnArchive { .. } => Some(
                "the URL must point at a `.tar.gz`, `.tgz` or `.tar` file (a GitHub archive: `https://github.com/OWNER/REPO/archive/REF.tar.gz`)"
                    .to_owned(),
            ),
            _ => None,
        }
    }
}
