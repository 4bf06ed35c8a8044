//! `aigne-ci comment`: one comment on the pull request of the current `pull_request` (or
//! `pull_request_target`) event with the run's results, upserted: a hidden marker naming the
//! workflow and job ([`body::marker`]) finds the comment an earlier run (or attempt) wrote, and
//! that one is edited instead of adding another.
//!
//! Input: the run's `summary.json` and `results.jsonl` (already masked, masked again here) and
//! [`CommentSettings`] (resolved in [`crate::plan::comment`]). Output: at most one comment, and an
//! [`Outcome`] the command prints. An event without a pull request, a pull request from a fork
//! under `pull_request` (its token is read-only), and a 403 from the API are
//! [`Outcome::Skipped`] (a notice, exit 0): commenting is a courtesy that must not fail a job the
//! workflow's permissions do not allow it in.
//!
//! Deps: `report` (the summary, the briefs, the Markdown escaping), `http`, `secret`, `text`.

pub mod api;
pub mod body;
pub mod error;
pub mod event;

use std::io::{BufRead, Read};
use std::path::{Path, PathBuf};

use url::Url;

use crate::http::HttpSettings;
use crate::http::retry::{self, Verdict};
use crate::report::{Brief, Redactor, ResultRecord, Summary};
use crate::secret::Secret;

pub use error::CommentError;

/// The largest `summary.json` read.
pub const MAX_SUMMARY_BYTES: u64 = 16 * 1024 * 1024;

/// The longest line of `results.jsonl` read; a longer one is passed over.
pub const MAX_RESULT_LINE_BYTES: u64 = 64 * 1024 * 1024;

/// Everything the comment needs, resolved from the flags and the runner's variables.
#[derive(Debug, Clone)]
pub struct CommentSettings {
    /// `summary.json`.
    pub summary_path: PathBuf,
    /// `GITHUB_EVENT_NAME`.
    pub event_name: Option<String>,
    /// `GITHUB_EVENT_PATH`.
    pub event_path: Option<PathBuf>,
    /// `GITHUB_API_URL` (default `https://api.github.com`).
    pub api_url: Url,
    /// `GITHUB_REPOSITORY` (`owner/name`), checked.
    pub repository: Option<String>,
    /// The marker's keys: `GITHUB_WORKFLOW`, `GITHUB_JOB`.
    pub workflow: String,
    pub job: String,
    /// `GITHUB_SERVER_URL/GITHUB_REPOSITORY/actions/runs/GITHUB_RUN_ID`, when all are set.
    pub run_url: Option<String>,
    /// `--github-token`, else `GITHUB_TOKEN`.
    pub token: Option<Secret>,
    /// Timeouts, proxies and retries of the API calls.
    pub http: HttpSettings,
}

/// What `comment` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A new comment.
    Created { id: u64, url: Option<String> },
    /// The comment of an earlier run, edited.
    Updated { id: u64, url: Option<String> },
    /// Nothing written, and why (a notice).
    Skipped { reason: String },
}

/// Writes (or edits) the comment.
pub async fn upsert(
    settings: &CommentSettings,
    redactor: &Redactor,
) -> Result<Outcome, CommentError> {
    let number = match event::target(
        settings.event_name.as_deref(),
        settings.event_path.as_deref(),
    )? {
        event::Target::PullRequest(number) => number,
        event::Target::Skip(reason) => return Ok(Outcome::Skipped { reason }),
    };
    let repository = settings
        .repository
        .clone()
        .ok_or_else(|| CommentError::Variable {
            variable: crate::env_vars::EnvVars::GITHUB_REPOSITORY,
            problem: "is not set".to_owned(),
        })?;
    let token = settings.token.clone().ok_or(CommentError::NoToken)?;
    let summary = read_summary(&settings.summary_path)?;
    let cases = read_cases(&results_path(&summary, &settings.summary_path), redactor)?;
    let marker = body::marker(&settings.workflow, &settings.job);
    let text = body::render(&body::Content {
        summary: &summary,
        cases: &cases,
        run_url: settings.run_url.as_deref(),
        marker: &marker,
    });
    // Masked once more as a whole (the parts were masked before they were escaped).
    let text = redactor.redact(&text).into_owned();

    let client = crate::http::client(&settings.http)?;
    let api = api::Api::new(
        client,
        settings.http.retry,
        settings.api_url.clone(),
        token,
        redactor.clone(),
    );
    let forbidden = |forbidden: api::Forbidden| Outcome::Skipped {
        reason: format!(
            "the token may not {} on pull request #{number} ({}): no comment written (the job needs `permissions: pull-requests: write`)",
            forbidden.action, forbidden.message
        ),
    };
    // A failed creation may have created the comment: each try lists again first. The tries
    // go through the shared retry loop (its back-off, `Retry-After` honoured).
    let (outcome, _) = retry::run(
        api.retry_policy(),
        |_| async {
            let found = match api
                .find_comment(&repository, number, |comment| {
                    comment
                        .body
                        .as_deref()
                        .is_some_and(|body| body.starts_with(&marker))
                })
                .await
            {
                Ok(Ok(found)) => found,
                Ok(Err(refused)) => return Verdict::Done(Ok(forbidden(refused))),
                Err(error) => return Verdict::Done(Err(error)),
            };
            if let Some(existing) = found {
                return Verdict::Done(
                    match api.edit_comment(&repository, existing.id, &text).await {
                        Ok(Ok(comment)) => Ok(Outcome::Updated {
                            id: comment.id,
                            url: comment.html_url,
                        }),
                        Ok(Err(refused)) => Ok(forbidden(refused)),
                        Err(error) => Err(error),
                    },
                );
            }
            match api.create_comment(&repository, number, &text).await {
                Ok(answer) => Verdict::Done(answer.map(|created| match created {
                    Ok(comment) => Outcome::Created {
                        id: comment.id,
                        url: comment.html_url,
                    },
                    Err(refused) => forbidden(refused),
                })),
                Err(transient) => Verdict::Retry {
                    outcome: Err(transient.last.unwrap_or(CommentError::Status {
                        action: "create the comment",
                        url: format!("repos/{repository}/issues/{number}/comments"),
                        status: reqwest::StatusCode::SERVICE_UNAVAILABLE,
                        message: format!(": {}", transient.reason),
                    })),
                    retry_after: transient.retry_after,
                    reason: transient.reason,
                },
            }
        },
        |_, notice| {
            crate::report::log_line(&format!(
                "creating the comment failed ({}); retrying in {}",
                notice.reason,
                humantime::format_duration(notice.delay)
            ));
        },
    )
    .await;
    outcome
}

/// The results file: the summary's `results_file`, or `results.jsonl` beside the summary when
/// that is gone (the out-dir was downloaded as an artifact into another folder).
fn results_path(summary: &Summary, summary_path: &Path) -> PathBuf {
    let named = PathBuf::from(&summary.results_file);
    let named = if named.is_absolute() {
        named
    } else {
        summary_path.parent().unwrap_or(Path::new(".")).join(named)
    };
    if named.is_file() {
        return named;
    }
    summary_path
        .parent()
        .unwrap_or(Path::new("."))
        .join("results.jsonl")
}

/// Reads `summary.json` (a regular file within [`MAX_SUMMARY_BYTES`]).
pub fn read_summary(path: &Path) -> Result<Summary, CommentError> {
    let text = read_bounded(path, MAX_SUMMARY_BYTES, "the summary")?;
    serde_json::from_str(&text).map_err(|source| CommentError::Parse {
        what: "the summary",
        path: path.to_path_buf(),
        line: source.line(),
        source,
    })
}

/// The briefs of the cases the comment lists (failed, errored or flaky), masked, read one line
/// at a time (a line longer than [`MAX_RESULT_LINE_BYTES`] is passed over). A missing results
/// file gives none: the counts still come from the summary.
pub fn read_cases(path: &Path, redactor: &Redactor) -> Result<Vec<Brief>, CommentError> {
    let read_error = |source| CommentError::Read {
        what: "the results",
        path: path.to_path_buf(),
        source,
    };
    let file = match open_regular(path) {
        Ok(file) => file,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => return Err(read_error(error)),
    };
    let mut reader = std::io::BufReader::new(file);
    let mut line = Vec::new();
    let mut number = 0;
    let mut briefs = Vec::new();
    loop {
        line.clear();
        number += 1;
        let read = (&mut reader)
            .take(MAX_RESULT_LINE_BYTES + 1)
            .read_until(b'\n', &mut line)
            .map_err(read_error)?;
        if read == 0 {
            break;
        }
        if line.len() as u64 > MAX_RESULT_LINE_BYTES {
            // Too long: skip to the end of the line.
            if line.last() != Some(&b'\n') {
                skip_line(&mut reader).map_err(read_error)?;
            }
            continue;
        }
        let text = String::from_utf8_lossy(&line);
        if text.trim().is_empty() {
            continue;
        }
        let record: ResultRecord =
            serde_json::from_str(&text).map_err(|source| CommentError::Parse {
                what: "the results",
                path: path.to_path_buf(),
                line: number,
                source,
            })?;
        let brief = Brief::of(&record);
        if brief.flaky
            || matches!(
                brief.status,
                crate::batch::CaseStatus::Failed | crate::batch::CaseStatus::Errored
            )
        {
            briefs.push(brief.redacted(redactor));
        }
    }
    Ok(briefs)
}

fn skip_line(reader: &mut impl BufRead) -> std::io::Result<()> {
    loop {
        let buffer = reader.fill_buf()?;
        if buffer.is_empty() {
            return Ok(());
        }
        if let Some(end) = buffer.iter().position(|&byte| byte == b'\n') {
            reader.consume(end + 1);
            return Ok(());
        }
        let length = buffer.len();
        reader.consume(length);
    }
}

/// Opens a regular file (never a FIFO or a device, which could block or never end).
#[expect(
    clippy::disallowed_methods,
    reason = "the caller's error names the path"
)]
fn open_regular(path: &Path) -> std::io::Result<std::fs::File> {
    let metadata = std::fs::metadata(path)?;
    if !metadata.is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    std::fs::File::open(path)
}

/// A regular file's text, at most `limit` bytes.
pub(crate) fn read_bounded(
    path: &Path,
    limit: u64,
    what: &'static str,
) -> Result<String, CommentError> {
    let read_error = |source| CommentError::Read {
        what,
        path: path.to_path_buf(),
        source,
    };
    let file = open_regular(path).map_err(read_error)?;
    let mut bytes = Vec::new();
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(read_error)?;
    if bytes.len() as u64 > limit {
        return Err(CommentError::TooLarge {
            what,
            path: path.to_path_buf(),
            limit,
        });
    }
    String::from_utf8(bytes)
        .map_err(|error| read_error(std::io::Error::new(std::io::ErrorKind::InvalidData, error)))
}
