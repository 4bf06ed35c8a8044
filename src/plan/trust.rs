//! A project cannot point the runner's credentials at another host.
//!
//! A project's `.env` is untrusted input. An endpoint or proxy it sets (`OPENAI_BASE_URL`,
//! `AIGNE_HUB_API_URL`, `AWS_ENDPOINT_URL*`, `HTTPS_PROXY`, …) is used only together with a key
//! that the same project `.env` files set: then the project sends its own key to its own host.
//! Paired with a key from anywhere else (the workflow's environment, the current folder's
//! `.env`), the run is refused before any request — exit 2, naming the file and the variable —
//! unless `--trust-project-env` is given.
//!
//! "The project's `.env` files" are the dotenv-flow files of the project folder (`.env`,
//! `.env.local`, `.env.<NODE_ENV>`, …): one project, one set of files.

use std::path::{Path, PathBuf};

use crate::env_vars::EnvVars;
use crate::model::providers::{self, PROVIDERS};

use super::dotenv::ProjectEnv;

/// A project `.env` would send a credential from elsewhere to an endpoint it sets.
#[derive(Debug, thiserror::Error)]
#[error(
    "`{}` sets `{variable}`, which would send `{credential}` (from {}) to a host the project chose",
    file.display(),
    match credential_file {
        Some(path) => format!("`{}`", path.display()),
        None => "the environment".to_owned(),
    }
)]
pub struct RedirectError {
    /// The project's `.env` file.
    pub file: PathBuf,
    /// The endpoint or proxy variable it sets.
    pub variable: String,
    /// The credential that would go there.
    pub credential: String,
    /// Where that credential comes from (`None`: the environment).
    pub credential_file: Option<PathBuf>,
}

impl crate::hint::Hint for RedirectError {
    fn hint(&self) -> Option<String> {
        Some(format!(
            "set `{}` in the same project `.env`, remove `{}` from it, or pass `--trust-project-env` (`AIGNE_CI_TRUST_PROJECT_ENV=true`) if you trust this project",
            self.credential, self.variable
        ))
    }
}

/// AWS credentials (any `AWS_ENDPOINT_URL*` carries them): Bedrock's row.
fn aws_credentials() -> Vec<&'static str> {
    providers::by_id(crate::model::bedrock::PROVIDER)
        .map(|bedrock| bedrock.credentials().collect())
        .unwrap_or_default()
}

/// Every provider credential variable aigne-ci or the official runtime sends (sorted): each
/// row's keys and other secrets.
pub fn credential_names() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = PROVIDERS
        .iter()
        .flat_map(|provider| provider.credentials())
        .collect();
    names.sort_unstable();
    names.dedup();
    names
}

/// The credentials a variable would redirect, when it is an endpoint or a proxy.
fn redirected_credentials(variable: &str) -> Option<Vec<&'static str>> {
    let upper = variable.to_ascii_uppercase();
    if matches!(
        upper.as_str(),
        EnvVars::HTTP_PROXY | EnvVars::HTTPS_PROXY | EnvVars::ALL_PROXY
    ) || upper.starts_with(EnvVars::AIGNE_CI_TEST_BASE_URL_PREFIX)
    {
        return Some(credential_names());
    }
    if upper.starts_with(EnvVars::AWS_ENDPOINT_URL) {
        return Some(aws_credentials());
    }
    if let Some(provider) = PROVIDERS
        .iter()
        .find(|provider| provider.base_url_variable == Some(upper.as_str()))
    {
        return Some(provider.credentials().collect());
    }
    // Any other endpoint-looking variable (`DEEPSEEK_BASE_URL`, `FOO_API_URL`, …): the
    // credentials of the same prefix, and every provider key when the prefix names none.
    if upper.ends_with("_BASE_URL") || upper.ends_with("_API_URL") || upper.ends_with("_ENDPOINT") {
        let prefix = upper.split('_').next().unwrap_or_default();
        let same: Vec<&'static str> = credential_names()
            .into_iter()
            .filter(|key| key.split('_').next() == Some(prefix))
            .collect();
        return Some(if same.is_empty() {
            credential_names()
        } else {
            same
        });
    }
    None
}

/// Refuses a project `.env` endpoint or proxy paired with a credential from elsewhere.
pub fn check(dotenv: &ProjectEnv) -> Result<(), RedirectError> {
    let in_project = |path: &Path| path.parent() == Some(dotenv.project_dir.as_path());
    for (variable, file) in &dotenv.origins {
        if !in_project(file) || dotenv.get(variable).is_none() {
            continue;
        }
        let Some(credentials) = redirected_credentials(variable) else {
            continue;
        };
        for credential in credentials {
            if dotenv.get(credential).is_none() {
                continue;
            }
            let credential_file = dotenv.origin(credential);
            if credential_file.is_some_and(in_project) {
                continue;
            }
            return Err(RedirectError {
                file: file.clone(),
                variable: variable.clone(),
                credential: credential.to_owned(),
                credential_file: credential_file.map(Path::to_path_buf),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::settings::Environment;

    fn read(cwd_env: &str, project_env: &str, real: &[(&str, &str)]) -> ProjectEnv {
        let cwd = tempfile::tempdir().unwrap();
        let project = tempfile::tempdir().unwrap();
        fs_err::write(cwd.path().join(".env"), cwd_env).unwrap();
        fs_err::write(project.path().join(".env"), project_env).unwrap();
        let variables: BTreeMap<String, String> = real
            .iter()
            .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
            .collect();
        let environment = Environment::from_variables(variables, cwd.path().to_path_buf());
        ProjectEnv::read(
            &environment,
            project.path(),
            &crate::project::LoadSettings::default(),
        )
        .unwrap()
    }

    #[test]
    fn a_project_endpoint_with_the_environment_key_is_refused() {
        let dotenv = read(
            "",
            "OPENAI_BASE_URL=http://127.0.0.1:9/v1\n",
            &[("OPENAI_API_KEY", "sk-runner")],
        );
        let error = check(&dotenv).unwrap_err();
        assert_eq!(error.variable, "OPENAI_BASE_URL");
        assert_eq!(error.credential, "OPENAI_API_KEY");
        assert_eq!(error.credential_file, None);
        assert!(error.to_string().ends_with(
            ".env` sets `OPENAI_BASE_URL`, which would send `OPENAI_API_KEY` (from the environment) to a host the project chose"
        ), "{error}");
    }

    #[test]
    fn a_project_endpoint_with_its_own_key_is_used() {
        let dotenv = read(
            "",
            "OPENAI_BASE_URL=http://127.0.0.1:9/v1\nOPENAI_API_KEY=sk-project\n",
            &[],
        );
        assert!(check(&dotenv).is_ok());
        // No key at all: nothing to redirect.
        assert!(check(&read("", "ANTHROPIC_BASE_URL=http://x\n", &[])).is_ok());
    }

    #[test]
    fn proxies_hub_aws_and_test_knobs_are_endpoints_too() {
        for (line, key) in [
            ("HTTPS_PROXY=http://127.0.0.1:9", "GEMINI_API_KEY"),
            ("https_proxy=http://127.0.0.1:9", "GEMINI_API_KEY"),
            ("ALL_PROXY=socks5://127.0.0.1:9", "OPENAI_API_KEY"),
            ("AIGNE_HUB_API_URL=http://127.0.0.1:9", "AIGNE_HUB_API_KEY"),
            (
                "AWS_ENDPOINT_URL_BEDROCK_RUNTIME=http://127.0.0.1:9",
                "AWS_SECRET_ACCESS_KEY",
            ),
            (
                "AIGNE_CI_TEST_BASE_URL_XAI=http://127.0.0.1:9",
                "XAI_API_KEY",
            ),
            ("DEEPSEEK_BASE_URL=http://127.0.0.1:9", "DEEPSEEK_API_KEY"),
        ] {
            let dotenv = read("", &format!("{line}\n"), &[(key, "secret-value")]);
            let error = check(&dotenv).expect_err(line);
            assert_eq!(error.credential, key, "{line}");
        }
    }

    /// Every endpoint variable of the provider table guards every credential of its row, the
    /// native providers' and the hub's Blocklet credential included.
    #[test]
    fn each_endpoint_of_the_provider_table_guards_its_rows_credentials() {
        for provider in PROVIDERS {
            let Some(variable) = provider.base_url_variable else {
                continue;
            };
            for key in provider.credentials() {
                let dotenv = read(
                    "",
                    &format!("{variable}=http://127.0.0.1:9\n"),
                    &[(key, "secret-value")],
                );
                let error = check(&dotenv).expect_err(variable);
                assert_eq!(error.credential, key, "{variable}");
            }
        }
        assert!(credential_names().contains(&"BLOCKLET_AIGNE_API_CREDENTIAL"));
    }

    #[test]
    fn a_key_from_the_current_folder_is_not_the_projects() {
        let dotenv = read(
            "OPENAI_API_KEY=sk-workflow\n",
            "OPENAI_BASE_URL=http://127.0.0.1:9/v1\n",
            &[],
        );
        let error = check(&dotenv).unwrap_err();
        assert!(error.credential_file.is_some());
        // The current folder's own endpoint (the workflow's repository) is not the project's.
        let dotenv = read(
            "OPENAI_BASE_URL=http://127.0.0.1:9/v1\n",
            "",
            &[("OPENAI_API_KEY", "sk-runner")],
        );
        assert!(check(&dotenv).is_ok());
    }
}
