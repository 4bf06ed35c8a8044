//! The environment snapshot: read once at start; [`crate::plan`] resolves the flags and these
//! variables into per-stage settings.
//!
//! The environment is read once, here ([`Environment::capture`]); no other module calls
//! `std::env::var`. Each stage receives only its own settings struct.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::env_vars::EnvVars;
use crate::http::{HttpSettings, ProxySettings, RetryPolicy};

/// The runner variables aigne-ci reads, deserialized with envy.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RunnerEnvironment {
    /// `GITHUB_ACTIONS`
    pub github_actions: Option<String>,
    /// `GITHUB_WORKSPACE`
    pub github_workspace: Option<PathBuf>,
    /// `GITHUB_OUTPUT`
    pub github_output: Option<PathBuf>,
    /// `GITHUB_STEP_SUMMARY`
    pub github_step_summary: Option<PathBuf>,
    /// `CI`
    pub ci: Option<String>,
}

/// A snapshot of the process environment, taken once at start.
#[derive(Debug, Clone, Default)]
pub struct Environment {
    /// The runner variables.
    pub runner: RunnerEnvironment,
    /// Every variable (provider keys are looked up here by name from [`EnvVars`]).
    pub variables: BTreeMap<String, String>,
    /// The working directory at start.
    pub current_dir: PathBuf,
}

impl Environment {
    /// Reads the process environment.
    pub fn capture() -> Self {
        let variables: BTreeMap<String, String> = std::env::vars_os()
            .filter_map(|(key, value)| Some((key.into_string().ok()?, value.into_string().ok()?)))
            .collect();
        Self::from_variables(
            variables,
            std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")),
        )
    }

    /// Builds an environment from explicit variables (tests, and `capture`).
    pub fn from_variables(variables: BTreeMap<String, String>, current_dir: PathBuf) -> Self {
        let runner = envy::from_iter::<_, RunnerEnvironment>(variables.clone()).unwrap_or_default();
        Self {
            runner,
            variables,
            current_dir,
        }
    }

    /// A variable's value, when set and not empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.variables
            .get(name)
            .map(String::as_str)
            .filter(|value| !value.is_empty())
    }

    /// Values of variables that hold credentials (provider keys, tokens, passwords), for
    /// `::add-mask::` and for redacting everything aigne-ci writes.
    pub fn secret_values(&self) -> Vec<String> {
        self.variables
            .iter()
            .filter(|(name, value)| is_secret_name(name) && !value.trim().is_empty())
            .map(|(_, value)| value.clone())
            .collect()
    }

    /// The redactor of an invocation: every secret of this environment, and `--token` (masked
    /// like a key: a server that echoes it in an error body must not print it).
    pub fn redactor(&self, token: Option<&crate::secret::Secret>) -> crate::secret::Redactor {
        crate::secret::Redactor::new(
            self.secret_values()
                .into_iter()
                .chain(token.map(|token| token.expose().to_owned())),
        )
    }

    /// Whether we run inside GitHub Actions.
    pub fn in_github_actions(&self) -> bool {
        self.runner.github_actions.as_deref() == Some("true")
    }

    /// Whether a test asked for zero retry delays.
    pub fn no_retry_delay(&self) -> bool {
        self.get(EnvVars::AIGNE_CI_TEST_NO_RETRY_DELAY).is_some()
    }

    /// Proxies from `HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY` and `NO_PROXY` (upper case first,
    /// then lower case, as curl does).
    pub fn proxy_settings(&self) -> ProxySettings {
        let either = |name: &str| {
            self.get(name)
                .or_else(|| self.get(&name.to_ascii_lowercase()))
                .map(str::to_owned)
        };
        ProxySettings {
            http: either(EnvVars::HTTP_PROXY),
            https: either(EnvVars::HTTPS_PROXY),
            all: either(EnvVars::ALL_PROXY),
            no_proxy: either(EnvVars::NO_PROXY),
        }
    }

    /// The shared HTTP client settings: the given timeouts and retries, proxies from the
    /// environment, and the test knob for zero retry delays.
    pub fn http_settings(
        &self,
        connect_timeout: Duration,
        read_timeout: Duration,
        max_retries: u32,
    ) -> HttpSettings {
        HttpSettings {
            connect_timeout,
            read_timeout,
            proxies: self.proxy_settings(),
            retry: RetryPolicy {
                max_retries,
                no_delay: self.no_retry_delay(),
                ..RetryPolicy::default()
            },
            allow_insecure_redirect: false,
        }
    }

    /// `--cache-dir`, else `${GITHUB_WORKSPACE:-$PWD}/.aigne-cache`.
    pub fn cache_dir(&self, flag: Option<&PathBuf>) -> PathBuf {
        match flag {
            Some(dir) => self.absolute(dir),
            None => self
                .runner
                .github_workspace
                .clone()
                .filter(|dir| !dir.as_os_str().is_empty())
                .unwrap_or_else(|| self.current_dir.clone())
                .join(".aigne-cache"),
        }
    }

    /// A path made absolute against the start directory.
    pub fn absolute(&self, path: &std::path::Path) -> PathBuf {
        if path.is_absolute() {
            path.to_path_buf()
        } else {
            self.current_dir.join(path)
        }
    }
}

/// Whether a variable name looks like it holds a credential.
pub fn is_secret_name(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    const SUFFIXES: &[&str] = &[
        "_API_KEY",
        "_APIKEY",
        "_KEY",
        "_TOKEN",
        "_SECRET",
        "_PASSWORD",
        "_ACCESS_KEY_ID",
        "_SECRET_ACCESS_KEY",
        "_SESSION_TOKEN",
        "_CREDENTIALS",
    ];
    SUFFIXES.iter().any(|suffix| upper.ends_with(suffix))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxies_and_retry_knob() {
        let mut variables = BTreeMap::new();
        variables.insert("https_proxy".to_owned(), "http://lower:1".to_owned());
        variables.insert("HTTPS_PROXY".to_owned(), "http://upper:1".to_owned());
        variables.insert("no_proxy".to_owned(), "localhost".to_owned());
        variables.insert(
            EnvVars::AIGNE_CI_TEST_NO_RETRY_DELAY.to_owned(),
            "1".to_owned(),
        );
        let environment = Environment::from_variables(variables, PathBuf::from("/"));
        let settings = environment.http_settings(Duration::from_secs(1), Duration::from_secs(2), 7);
        assert_eq!(settings.proxies.https.as_deref(), Some("http://upper:1"));
        assert_eq!(settings.proxies.http, None);
        assert_eq!(settings.proxies.no_proxy.as_deref(), Some("localhost"));
        assert!(settings.retry.no_delay);
        assert_eq!(settings.retry.max_retries, 7);
    }

    #[test]
    fn cache_dir_prefers_flag_then_workspace() {
        let mut variables = BTreeMap::new();
        variables.insert("GITHUB_WORKSPACE".to_owned(), "/ws".to_owned());
        variables.insert("GITHUB_ACTIONS".to_owned(), "true".to_owned());
        let environment = Environment::from_variables(variables, PathBuf::from("/cwd"));
        assert!(environment.in_github_actions());
        assert_eq!(
            environment.cache_dir(None),
            PathBuf::from("/ws/.aigne-cache")
        );
        assert_eq!(
            environment.cache_dir(Some(&PathBuf::from("c"))),
            PathBuf::from("/cwd/c")
        );
        let bare = Environment::from_variables(BTreeMap::new(), PathBuf::from("/cwd"));
        assert!(is_secret_name("OPENAI_API_KEY") && is_secret_name("GITHUB_TOKEN"));
        assert!(!is_secret_name("OPENAI_BASE_URL") && !is_secret_name("MODEL"));
        assert_eq!(bare.cache_dir(None), PathBuf::from("/cwd/.aigne-cache"));
    }
}
