//! `comment`'s plan: the flags and the runner's variables (`GITHUB_EVENT_NAME`,
//! `GITHUB_EVENT_PATH`, `GITHUB_REPOSITORY`, `GITHUB_API_URL`, `GITHUB_WORKFLOW`, `GITHUB_JOB`,
//! the run's URL, the token) resolved into [`CommentSettings`], checked here.

use url::Url;

use crate::cli::CommentArgs;
use crate::comment::{CommentError, CommentSettings};
use crate::env_vars::EnvVars;
use crate::secret::Secret;
use crate::settings::Environment;

/// The API of github.com, when `GITHUB_API_URL` is not set.
pub const DEFAULT_API_URL: &str = "https://api.github.com";

/// Resolves `comment`'s flags and the runner's variables.
pub fn resolve(
    args: &CommentArgs,
    environment: &Environment,
) -> Result<CommentSettings, CommentError> {
    let out_dir = environment.absolute(&args.out_dir);
    let summary_path = args.summary.as_ref().map_or_else(
        || out_dir.join("summary.json"),
        |path| environment.absolute(path),
    );
    let api_text = environment
        .get(EnvVars::GITHUB_API_URL)
        .unwrap_or(DEFAULT_API_URL);
    let api_url = Url::parse(api_text)
        .ok()
        .filter(|url| matches!(url.scheme(), "https" | "http") && url.has_host())
        .ok_or_else(|| CommentError::Variable {
            variable: EnvVars::GITHUB_API_URL,
            problem: format!(
                "is not an http(s) URL: `{}`",
                crate::secret::mask_url_text(api_text)
            ),
        })?;
    let repository = environment
        .get(EnvVars::GITHUB_REPOSITORY)
        .map(|repository| {
            if is_repository(repository) {
                Ok(repository.to_owned())
            } else {
                Err(CommentError::Variable {
                    variable: EnvVars::GITHUB_REPOSITORY,
                    problem: format!("is not `owner/name`: `{repository}`"),
                })
            }
        })
        .transpose()?;
    let run_url = match (
        environment.get(EnvVars::GITHUB_SERVER_URL),
        &repository,
        environment.get(EnvVars::GITHUB_RUN_ID),
    ) {
        (Some(server), Some(repository), Some(run_id))
            if run_id.chars().all(|character| character.is_ascii_digit()) =>
        {
            Url::parse(server)
                .ok()
                .filter(|url| matches!(url.scheme(), "https" | "http"))
                .map(|server| {
                    let mut url = server;
                    let path = format!(
                        "{}/{repository}/actions/runs/{run_id}",
                        url.path().trim_end_matches('/')
                    );
                    url.set_path(&path);
                    url.to_string()
                })
        }
        _ => None,
    };
    let token = args
        .github_token
        .as_deref()
        .filter(|token| !token.is_empty())
        .or_else(|| environment.get(EnvVars::GITHUB_TOKEN))
        .map(Secret::new);
    Ok(CommentSettings {
        summary_path,
        event_name: environment
            .get(EnvVars::GITHUB_EVENT_NAME)
            .map(str::to_owned),
        event_path: environment
            .get(EnvVars::GITHUB_EVENT_PATH)
            .map(|path| environment.absolute(std::path::Path::new(path))),
        api_url,
        repository,
        workflow: environment
            .get(EnvVars::GITHUB_WORKFLOW)
            .unwrap_or("")
            .to_owned(),
        job: environment
            .get(EnvVars::GITHUB_JOB)
            .unwrap_or("")
            .to_owned(),
        run_url,
        token,
        http: environment.http_settings(args.connect_timeout, args.read_timeout, args.http_retries),
    })
}

/// `owner/name` as GitHub allows them (letters, digits, `-`, `_`, `.`), so the name can go in a
/// URL path as it is.
fn is_repository(text: &str) -> bool {
    let valid = |part: &str| {
        !part.is_empty()
            && part != "."
            && part != ".."
            && part
                .chars()
                .all(|character| character.is_ascii_alphanumeric() || "-_.".contains(character))
    };
    matches!(text.split_once('/'), Some((owner, name)) if valid(owner) && valid(name))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::PathBuf;

    use clap::Parser;

    use super::*;

    fn settings(
        variables: &[(&str, &str)],
        flags: &[&str],
    ) -> Result<CommentSettings, CommentError> {
        let environment = Environment::from_variables(
            variables
                .iter()
                .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
                .collect::<BTreeMap<_, _>>(),
            PathBuf::from("/work"),
        );
        let cli = crate::cli::Cli::parse_from(["aigne-ci", "comment"].iter().chain(flags).copied());
        let crate::cli::Command::Comment(args) = cli.command else {
            unreachable!()
        };
        resolve(&args, &environment)
    }

    #[test]
    fn runner_variables_become_settings() {
        let resolved = settings(
            &[
                ("GITHUB_API_URL", "https://ghe.example/api/v3"),
                ("GITHUB_REPOSITORY", "octo/repo"),
                ("GITHUB_SERVER_URL", "https://ghe.example"),
                ("GITHUB_RUN_ID", "42"),
                ("GITHUB_TOKEN", "env-token"),
                ("GITHUB_WORKFLOW", "CI"),
                ("GITHUB_JOB", "eval"),
                ("GITHUB_EVENT_NAME", "pull_request"),
                ("GITHUB_EVENT_PATH", "event.json"),
            ],
            &["--out-dir", "out"],
        )
        .unwrap();
        assert_eq!(
            resolved.summary_path,
            PathBuf::from("/work/out/summary.json")
        );
        assert_eq!(resolved.api_url.as_str(), "https://ghe.example/api/v3");
        assert_eq!(
            resolved.run_url.as_deref(),
            Some("https://ghe.example/octo/repo/actions/runs/42")
        );
        assert_eq!(resolved.token.unwrap().expose(), "env-token");
        assert_eq!(resolved.event_path, Some(PathBuf::from("/work/event.json")));
        assert_eq!(
            (resolved.workflow.as_str(), resolved.job.as_str()),
            ("CI", "eval")
        );

        let flagged = settings(
            &[("GITHUB_TOKEN", "env-token")],
            &["--github-token", "flag-token"],
        )
        .unwrap();
        assert_eq!(flagged.token.unwrap().expose(), "flag-token");
        assert_eq!(flagged.api_url.as_str(), "https://api.github.com/");
        assert_eq!(flagged.run_url, None);

        assert!(settings(&[("GITHUB_REPOSITORY", "../x")], &[]).is_err());
        assert!(settings(&[("GITHUB_REPOSITORY", "a/b/c")], &[]).is_err());
        assert!(settings(&[("GITHUB_API_URL", "file:///etc")], &[]).is_err());
    }
}
