//! [`ModelSettings`]: what stage 3a needs, resolved from the `ModelArgs` flags, the
//! [`Environment`] snapshot and the `.env` files (dotenv-flow precedence, as the AIGNE CLI).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};

use super::ModelError;
use super::types::ModelOptions;
use crate::cli::ModelArgs;
use crate::env_vars::EnvVars;
use crate::http::{HttpSettings, ProxySettings, RetryPolicy};
use crate::settings::Environment;

/// The OpenAI SDK's default timeout: 10 minutes.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(600);

/// Settings of the model stage.
#[derive(Debug, Clone)]
pub struct ModelSettings {
    /// `--model`, else `MODEL` (overrides every agent's model, as AIGNE).
    pub model_override: Option<String>,
    /// `--temperature`, `--top-p`, … as AIGNE's camelCase model options.
    pub cli_options: ModelOptions,
    /// The shared HTTP client settings; `http.retry.max_retries` is `--retries`.
    pub http: HttpSettings,
    /// AIGNE's `ChatModel` retries on structured-output and network errors (3).
    pub framework_retries: u32,
    /// Zero back-off everywhere (test knob).
    pub no_retry_delay: bool,
    /// Whole-request timeout of one attempt (the OpenAI SDK's default: 10 minutes).
    pub request_timeout: Duration,
    pub record: Option<PathBuf>,
    pub replay: Option<PathBuf>,
    /// Base URLs by provider id that replace the built-in ones (tests:
    /// `AIGNE_CI_TEST_BASE_URL_<PROVIDER>`).
    pub base_url_overrides: BTreeMap<String, String>,
    /// The environment merged with `.env` files: real environment > current-folder files >
    /// project-folder files.
    pub variables: BTreeMap<String, String>,
}

impl ModelSettings {
    /// Resolves the settings. `project_dir` is the project folder, whose `.env*` files are read
    /// after the current folder's (AIGNE's `run` command loads them from the agent folder).
    pub fn resolve(
        args: &ModelArgs,
        environment: &Environment,
        project_dir: Option<&Path>,
    ) -> Result<Self, ModelError> {
        let mut folders = vec![environment.current_dir.clone()];
        if let Some(project_dir) = project_dir {
            folders.push(environment.absolute(project_dir));
        }
        let variables = load_dotenv_flow(&environment.variables, &folders)?;
        let model_override = args
            .model
            .clone()
            .filter(|model| !model.is_empty())
            .or_else(|| {
                variables
                    .get(EnvVars::MODEL)
                    .filter(|model| !model.is_empty())
                    .cloned()
            });
        Ok(Self {
            model_override,
            cli_options: cli_options(args)?,
            // A model may think for minutes before its first byte: reads wait as long as the
            // whole request may take.
            http: environment.http_settings(Duration::from_secs(30), REQUEST_TIMEOUT, args.retries),
            framework_retries: 3,
            no_retry_delay: environment.no_retry_delay(),
            request_timeout: REQUEST_TIMEOUT,
            record: args.record.as_ref().map(|path| environment.absolute(path)),
            replay: args.replay.as_ref().map(|path| environment.absolute(path)),
            base_url_overrides: base_url_overrides(&variables),
            variables,
        })
    }

    /// Makes every back-off zero (HTTP and framework retries).
    pub fn without_retry_delays(mut self) -> Self {
        self.no_retry_delay = true;
        self.http.retry.no_delay = true;
        self
    }

    /// Settings for tests and programmatic use: no flags, these variables.
    pub fn from_variables(variables: BTreeMap<String, String>) -> Self {
        Self {
            model_override: None,
            cli_options: ModelOptions::new(),
            http: HttpSettings {
                connect_timeout: Duration::from_secs(30),
                read_timeout: REQUEST_TIMEOUT,
                proxies: ProxySettings::default(),
                retry: RetryPolicy {
                    max_retries: 3,
                    ..RetryPolicy::default()
                },
            },
            framework_retries: 3,
            no_retry_delay: false,
            request_timeout: REQUEST_TIMEOUT,
            record: None,
            replay: None,
            base_url_overrides: base_url_overrides(&variables),
            variables,
        }
    }

    /// A variable's value, when set and not empty.
    pub fn variable(&self, name: &str) -> Option<&str> {
        self.variables
            .get(name)
            .map(String::as_str)
            .filter(|value| !value.is_empty())
    }
}

fn base_url_overrides(variables: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    variables
        .iter()
        .filter(|(_, value)| !value.is_empty())
        .filter_map(|(name, value)| {
            let provider = name.strip_prefix(EnvVars::AIGNE_CI_TEST_BASE_URL_PREFIX)?;
            Some((provider.to_ascii_lowercase(), value.clone()))
        })
        .collect()
}

/// A JSON number as JavaScript writes it (`1`, not `1.0`).
fn js_number(value: f64) -> Value {
    if value.fract() == 0.0 && value.abs() < 9.0e15 {
        // Exact: the value is integral and well inside i64.
        #[expect(clippy::cast_possible_truncation)]
        let integer = value as i64;
        json!(integer)
    } else {
        json!(value)
    }
}

fn cli_options(args: &ModelArgs) -> Result<ModelOptions, ModelError> {
    let mut options = ModelOptions::new();
    let ranged = |name: &str, value: f64, low: f64, high: f64| {
        if value.is_finite() && (low..=high).contains(&value) {
            Ok(js_number(value))
        } else {
            Err(ModelError::InvalidSetting {
                name: format!("--{name}"),
                message: format!("`{value}` is not between {low} and {high}"),
            })
        }
    };
    if let Some(value) = args.temperature {
        options.insert(
            "temperature".to_owned(),
            ranged("temperature", value, 0.0, 2.0)?,
        );
    }
    if let Some(value) = args.top_p {
        options.insert("topP".to_owned(), ranged("top-p", value, 0.0, 1.0)?);
    }
    if let Some(value) = args.frequency_penalty {
        options.insert(
            "frequencyPenalty".to_owned(),
            ranged("frequency-penalty", value, -2.0, 2.0)?,
        );
    }
    if let Some(value) = args.presence_penalty {
        options.insert(
            "presencePenalty".to_owned(),
            ranged("presence-penalty", value, -2.0, 2.0)?,
        );
    }
    if let Some(effort) = &args.reasoning_effort {
        let value = match effort.as_str() {
            "minimal" | "low" | "medium" | "high" => json!(effort),
            other => match other.parse::<f64>() {
                Ok(number) if number.is_finite() && number >= 0.0 => js_number(number),
                _ => {
                    return Err(ModelError::InvalidSetting {
                        name: "--reasoning-effort".to_owned(),
                        message: format!(
                            "`{other}` is not `minimal`, `low`, `medium`, `high` or a token budget"
                        ),
                    });
                }
            },
        };
        options.insert("reasoningEffort".to_owned(), value);
    }
    Ok(options)
}

/// dotenv-flow's files for one folder, lowest priority first: `.env.defaults`, `.env`,
/// `.env.local` (skipped when `NODE_ENV=test`), `.env.<NODE_ENV>`, `.env.<NODE_ENV>.local`.
fn dotenv_files(folder: &Path, node_env: Option<&str>) -> Vec<PathBuf> {
    let mut names = vec![".env.defaults".to_owned(), ".env".to_owned()];
    if node_env != Some("test") {
        names.push(".env.local".to_owned());
    }
    if let Some(node_env) = node_env {
        names.push(format!(".env.{node_env}"));
        names.push(format!(".env.{node_env}.local"));
    }
    names
        .into_iter()
        .map(|name| folder.join(name))
        // Present at all (a FIFO or a device named `.env` is an error, not skipped).
        .filter(|path| path.exists() && !path.is_dir())
        .collect()
}

/// The values of secret-named variables (`*_API_KEY`, `*_TOKEN`, …) that the `.env*` files of the
/// current folder and `project_dir` add to the environment: the report masks them like the
/// environment's own.
pub fn dotenv_secrets(
    environment: &Environment,
    project_dir: &Path,
) -> Result<Vec<String>, ModelError> {
    let folders = [
        environment.current_dir.clone(),
        environment.absolute(project_dir),
    ];
    let variables = load_dotenv_flow(&environment.variables, &folders)?;
    Ok(variables
        .into_iter()
        .filter(|(name, value)| {
            crate::settings::is_secret_name(name)
                && !value.trim().is_empty()
                && environment.variables.get(name) != Some(value)
        })
        .map(|(_, value)| value)
        .collect())
}

/// The environment with each folder's `.env*` files merged under it (dotenv-flow `config` run
/// once per folder: a variable already set is never overridden, so the real environment wins,
/// then earlier folders).
pub fn load_dotenv_flow(
    environment: &BTreeMap<String, String>,
    folders: &[PathBuf],
) -> Result<BTreeMap<String, String>, ModelError> {
    let mut variables = environment.clone();
    let mut seen = Vec::new();
    for folder in folders {
        if seen.contains(folder) {
            continue;
        }
        seen.push(folder.clone());
        let node_env = variables.get("NODE_ENV").cloned();
        let mut merged: BTreeMap<String, String> = BTreeMap::new();
        for path in dotenv_files(folder, node_env.as_deref().filter(|env| !env.is_empty())) {
            // Bounded like every file a project names: a regular file within the size cap (a FIFO
            // or `/dev/zero` named `.env` would otherwise hold the run).
            let limits = crate::project::ReadLimits::default();
            let text =
                crate::project::files::read_regular_text(&path, &limits).map_err(|problem| {
                    ModelError::DotEnv {
                        path: path.clone(),
                        source: dotenvy::Error::Io(std::io::Error::other(problem.to_string())),
                    }
                })?;
            let iter = dotenvy::from_read_iter(std::io::Cursor::new(text));
            for item in iter {
                let (key, value) = item.map_err(|source| ModelError::DotEnv {
                    path: path.clone(),
                    source,
                })?;
                merged.insert(key, value);
            }
        }
        for (key, value) in merged {
            variables.entry(key).or_insert(value);
        }
    }
    Ok(variables)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &Path, text: &str) {
        fs_err::write(path, text).unwrap();
    }

    #[test]
    fn dotenv_flow_precedence() {
        let cwd = tempfile::tempdir().unwrap();
        let project = tempfile::tempdir().unwrap();
        write(
            &cwd.path().join(".env"),
            "A=cwd-env\nB=cwd-env\nC=cwd-env\n",
        );
        write(&cwd.path().join(".env.local"), "B=cwd-local\n");
        write(
            &project.path().join(".env"),
            "C=project\nD=project\nE=project\n",
        );
        write(
            &project.path().join(".env.production"),
            "E=project-production\n",
        );
        let mut environment = BTreeMap::new();
        environment.insert("A".to_owned(), "real".to_owned());
        environment.insert("NODE_ENV".to_owned(), "production".to_owned());
        let variables = load_dotenv_flow(
            &environment,
            &[cwd.path().to_path_buf(), project.path().to_path_buf()],
        )
        .unwrap();
        let get = |key: &str| variables.get(key).map(String::as_str);
        assert_eq!(get("A"), Some("real"));
        assert_eq!(get("B"), Some("cwd-local"));
        assert_eq!(get("C"), Some("cwd-env"));
        assert_eq!(get("D"), Some("project"));
        assert_eq!(get("E"), Some("project-production"));
    }

    #[test]
    fn test_env_skips_local() {
        let cwd = tempfile::tempdir().unwrap();
        write(&cwd.path().join(".env"), "A=env\n");
        write(&cwd.path().join(".env.local"), "A=local\n");
        write(&cwd.path().join(".env.test.local"), "B=test-local\n");
        let mut environment = BTreeMap::new();
        environment.insert("NODE_ENV".to_owned(), "test".to_owned());
        let variables = load_dotenv_flow(&environment, &[cwd.path().to_path_buf()]).unwrap();
        assert_eq!(variables.get("A").map(String::as_str), Some("env"));
        assert_eq!(variables.get("B").map(String::as_str), Some("test-local"));
    }

    #[test]
    fn numbers_print_like_javascript() {
        assert_eq!(js_number(1.0).to_string(), "1");
        assert_eq!(js_number(0.7).to_string(), "0.7");
    }
}
