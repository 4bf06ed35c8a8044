//! [`ModelSettings`]: what stage 3a needs, resolved by the run plan ([`crate::plan`]) from the
//! model flags ([`ModelFlags`], already validated), the [`Environment`] snapshot and the
//! variables of the `.env` files (read once by the plan).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Value, json};

use super::transport::DEFAULT_MAX_RESPONSE_BYTES;
use super::types::ModelOptions;
use crate::env_vars::EnvVars;
use crate::http::{HttpSettings, ProxySettings, RetryPolicy};
use crate::settings::Environment;

/// The model flags, validated (`--model`, `--temperature` … as AIGNE's camelCase options,
/// `--retries`, `--max-response-size`, `--record`, `--replay`).
#[derive(Debug, Clone)]
pub struct ModelFlags {
    /// `--model`, when given and not empty.
    pub model: Option<String>,
    /// `--temperature`, `--top-p`, … checked against their ranges.
    pub options: ModelOptions,
    /// `--retries`.
    pub retries: u32,
    /// `--max-response-size`, in bytes.
    pub max_response_bytes: usize,
    /// `--record` (absolute).
    pub record: Option<PathBuf>,
    /// `--replay` (absolute).
    pub replay: Option<PathBuf>,
}

impl Default for ModelFlags {
    fn default() -> Self {
        Self {
            model: None,
            options: ModelOptions::new(),
            retries: 0,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            record: None,
            replay: None,
        }
    }
}

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
    /// The largest answer body read (`--max-response-size`).
    pub max_response_bytes: usize,
    pub record: Option<PathBuf>,
    pub replay: Option<PathBuf>,
    /// Base URLs by provider id that replace the built-in ones (tests:
    /// `AIGNE_CI_TEST_BASE_URL_<PROVIDER>`).
    pub base_url_overrides: BTreeMap<String, String>,
    /// The environment merged with `.env` files: real environment > current-folder files >
    /// project-folder files.
    pub variables: BTreeMap<String, String>,
    /// Secrets besides those of `variables` that a recorded cassette masks (`--token`).
    pub extra_secrets: Vec<String>,
}

impl ModelSettings {
    /// Resolves the settings from the validated flags, the environment snapshot (HTTP client
    /// settings) and `variables`: the environment with the `.env` files merged under it.
    pub fn resolve(
        flags: &ModelFlags,
        environment: &Environment,
        variables: BTreeMap<String, String>,
    ) -> Self {
        let model_override = flags
            .model
            .clone()
            .filter(|model| !model.is_empty())
            .or_else(|| {
                variables
                    .get(EnvVars::MODEL)
                    .filter(|model| !model.is_empty())
                    .cloned()
            });
        Self {
            model_override,
            cli_options: flags.options.clone(),
            // A model may think for minutes before its first byte: reads wait as long as the
            // whole request may take.
            http: environment.http_settings(
                Duration::from_secs(30),
                REQUEST_TIMEOUT,
                flags.retries,
            ),
            framework_retries: 3,
            no_retry_delay: environment.no_retry_delay(),
            request_timeout: REQUEST_TIMEOUT,
            max_response_bytes: flags.max_response_bytes,
            record: flags.record.clone(),
            replay: flags.replay.clone(),
            base_url_overrides: base_url_overrides(&variables),
            variables,
            extra_secrets: Vec::new(),
        }
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
                allow_insecure_redirect: false,
                test_root_certificate: None,
            },
            framework_retries: 3,
            no_retry_delay: false,
            request_timeout: REQUEST_TIMEOUT,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            record: None,
            replay: None,
            base_url_overrides: base_url_overrides(&variables),
            variables,
            extra_secrets: Vec::new(),
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

/// `AIGNE_CI_TEST_BASE_URL_<PROVIDER>`: a test-only redirect of a provider whose base URL AIGNE
/// hard-codes. It exists only in debug builds (the integration tests run the debug binary): a
/// release build has no variable that sends a provider's key elsewhere.
#[cfg(debug_assertions)]
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

/// Release builds: no test-only redirect (see the debug version).
#[cfg(not(debug_assertions))]
fn base_url_overrides(_variables: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    BTreeMap::new()
}

/// A JSON number as JavaScript writes it (`1`, not `1.0`).
pub fn js_number(value: f64) -> Value {
    if value.fract() == 0.0 && value.abs() < 9.0e15 {
        // Exact: the value is integral and well inside i64.
        #[expect(clippy::cast_possible_truncation)]
        let integer = value as i64;
        json!(integer)
    } else {
        json!(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_print_like_javascript() {
        assert_eq!(js_number(1.0).to_string(), "1");
        assert_eq!(js_number(0.7).to_string(), "0.7");
    }
}
