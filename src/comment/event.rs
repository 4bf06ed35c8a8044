//! The event that started the workflow (`GITHUB_EVENT_NAME`, `GITHUB_EVENT_PATH`): which pull
//! request to comment on, and whether the job's token may write to it.

use std::path::Path;

use serde::Deserialize;

use super::error::CommentError;

/// The largest event file read (GitHub's webhook payloads are capped at 25 MB).
pub const MAX_EVENT_BYTES: u64 = 25 * 1024 * 1024;

/// The events whose payload names the pull request to comment on.
pub const PULL_REQUEST_EVENTS: &[&str] = &["pull_request", "pull_request_target"];

/// What the event says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Comment on this pull request.
    PullRequest(u64),
    /// Nothing to comment on, and why (printed as a notice; exit 0).
    Skip(String),
}

#[derive(Debug, Deserialize)]
struct Payload {
    pull_request: Option<PullRequest>,
}

#[derive(Debug, Deserialize)]
struct PullRequest {
    number: u64,
    head: Option<Side>,
    base: Option<Side>,
}

#[derive(Debug, Deserialize)]
struct Side {
    repo: Option<Repo>,
}

#[derive(Debug, Deserialize)]
struct Repo {
    full_name: Option<String>,
}

/// Reads the event: the pull request of a `pull_request` or `pull_request_target` event, or why
/// there is nothing to comment on. A `pull_request` event from a fork gets a read-only token
/// (GitHub's rule for forks), so it is skipped without a request; `pull_request_target` runs
/// with the base repository's token and may write.
pub fn target(name: Option<&str>, path: Option<&Path>) -> Result<Target, CommentError> {
    let Some(name) = name.filter(|name| PULL_REQUEST_EVENTS.contains(name)) else {
        return Ok(Target::Skip(format!(
            "not a pull request event ({}): no comment to write",
            name.map_or_else(
                || "`GITHUB_EVENT_NAME` is not set".to_owned(),
                |name| format!("`{name}`")
            )
        )));
    };
    let Some(path) = path else {
        return Err(CommentError::Variable {
            variable: crate::env_vars::EnvVars::GITHUB_EVENT_PATH,
            problem: "is not set".to_owned(),
        });
    };
    let text = super::read_bounded(path, MAX_EVENT_BYTES, "the event file")?;
    let payload: Payload = serde_json::from_str(&text).map_err(|source| CommentError::Parse {
        what: "the event file",
        path: path.to_path_buf(),
        line: source.line(),
        source,
    })?;
    let Some(pull_request) = payload.pull_request else {
        return Ok(Target::Skip(format!(
            "the `{name}` event names no pull request: no comment to write"
        )));
    };
    if name == "pull_request" {
        let repo = |side: &Option<Side>| {
            side.as_ref()
                .and_then(|side| side.repo.as_ref())
                .and_then(|repo| repo.full_name.clone())
        };
        let head = repo(&pull_request.head);
        let base = repo(&pull_request.base);
        if head.is_none() || head != base {
            return Ok(Target::Skip(format!(
                "pull request #{} comes from a fork ({}), so this job's token may not write to it: no comment written (use `pull_request_target`, or a `workflow_run` job, to comment on pull requests from forks)",
                pull_request.number,
                head.as_deref().unwrap_or("a deleted repository")
            )));
        }
    }
    Ok(Target::PullRequest(pull_request.number))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(json: &str) -> tempfile::NamedTempFile {
        let file = tempfile::NamedTempFile::new().unwrap();
        fs_err::write(file.path(), json).unwrap();
        file
    }

    #[test]
    fn pull_requests_forks_and_other_events() {
        let same = event(
            r#"{"pull_request": {"number": 7, "head": {"repo": {"full_name": "o/r"}}, "base": {"repo": {"full_name": "o/r"}}}}"#,
        );
        assert_eq!(
            target(Some("pull_request"), Some(same.path())).unwrap(),
            Target::PullRequest(7)
        );
        let fork = event(
            r#"{"pull_request": {"number": 8, "head": {"repo": {"full_name": "x/r"}}, "base": {"repo": {"full_name": "o/r"}}}}"#,
        );
        let Target::Skip(reason) = target(Some("pull_request"), Some(fork.path())).unwrap() else {
            panic!("a fork's pull request is skipped");
        };
        assert!(reason.contains("fork (x/r)"), "{reason}");
        // `pull_request_target` runs with the base repository's token.
        assert_eq!(
            target(Some("pull_request_target"), Some(fork.path())).unwrap(),
            Target::PullRequest(8)
        );
        assert!(matches!(
            target(Some("push"), None).unwrap(),
            Target::Skip(reason) if reason.contains("`push`")
        ));
        assert!(matches!(target(None, None).unwrap(), Target::Skip(_)));
        assert!(matches!(
            target(Some("pull_request"), Some(event("{}").path())).unwrap(),
            Target::Skip(_)
        ));
        assert!(matches!(
            target(Some("pull_request"), Some(event("{").path())),
            Err(CommentError::Parse { .. })
        ));
        assert!(matches!(
            target(Some("pull_request"), None),
            Err(CommentError::Variable { .. })
        ));
    }
}
