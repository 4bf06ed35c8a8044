//! [`McpSettings`]: what the MCP client needs from the environment and the flags.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::env_vars::EnvVars;
use crate::http::{HttpSettings, ProxySettings};
use crate::settings::Environment;

/// AIGNE's default request timeout (`MCPAgent` `DEFAULT_TIMEOUT`).
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Resolved settings of the MCP client.
#[derive(Debug, Clone)]
pub struct McpSettings {
    /// Timeout of every MCP request (initialize, list, call): `MCP_TIMEOUT`, else `TIMEOUT`
    /// (milliseconds, as AIGNE reads them), else 60 s.
    pub request_timeout: Duration,
    /// `--deny-exec`: refuse to start stdio servers.
    pub deny_exec: bool,
    /// The variables a stdio server inherits (`HOME`, `PATH`, … as the MCP SDK does); its own
    /// `env` is added on top. Nothing else leaks into the child, so provider keys stay here.
    pub inherited_env: BTreeMap<String, String>,
    /// Zero back-off between reconnect attempts (tests).
    pub no_retry_delay: bool,
    /// Proxies for URL servers (from the environment snapshot).
    pub proxies: ProxySettings,
    /// Largest answer of a server, on any transport (`--max-tool-result`).
    pub max_result_bytes: usize,
}

impl Default for McpSettings {
    fn default() -> Self {
        Self {
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            deny_exec: false,
            inherited_env: BTreeMap::new(),
            no_retry_delay: false,
            proxies: ProxySettings::default(),
            max_result_bytes: crate::engine::DEFAULT_MAX_TOOL_RESULT,
        }
    }
}

impl McpSettings {
    /// Reads the timeout and inherited variables from the environment snapshot.
    pub fn resolve(environment: &Environment, deny_exec: bool) -> Self {
        Self {
            request_timeout: request_timeout(
                environment
                    .get(EnvVars::MCP_TIMEOUT)
                    .or_else(|| environment.get(EnvVars::TIMEOUT)),
            ),
            deny_exec,
            inherited_env: EnvVars::MCP_INHERITED
                .iter()
                .filter_map(|name| {
                    let value = environment.get(name)?;
                    // The SDK skips exported shell functions.
                    (!value.starts_with("()")).then(|| ((*name).to_owned(), value.to_owned()))
                })
                .collect(),
            no_retry_delay: environment.no_retry_delay(),
            proxies: environment.proxy_settings(),
            max_result_bytes: crate::engine::DEFAULT_MAX_TOOL_RESULT,
        }
    }

    /// The HTTP client settings of URL servers: the shared layer's proxies and connect timeout,
    /// but no read timeout of its own — a tool may stream for up to [`Self::request_timeout`],
    /// and that timeout bounds every request already.
    pub fn http_settings(&self) -> HttpSettings {
        HttpSettings {
            read_timeout: Duration::from_secs(24 * 3600),
            proxies: self.proxies.clone(),
            ..HttpSettings::default()
        }
    }
}

/// AIGNE: `z.coerce.number().int().min(0).safeParse(value).data || 60e3` — a non-negative integer
/// of milliseconds; anything else, and zero, mean the default.
fn request_timeout(value: Option<&str>) -> Duration {
    value
        .and_then(|value| value.trim().parse::<u64>().ok())
        .filter(|millis| *millis > 0)
        .map_or(DEFAULT_REQUEST_TIMEOUT, Duration::from_millis)
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn environment(pairs: &[(&str, &str)]) -> Environment {
        Environment::from_variables(
            pairs
                .iter()
                .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
                .collect(),
            PathBuf::from("/"),
        )
    }

    #[test]
    fn timeout_reads_mcp_timeout_then_timeout() {
        let settings = McpSettings::resolve(
            &environment(&[("MCP_TIMEOUT", "1500"), ("TIMEOUT", "9")]),
            false,
        );
        assert_eq!(settings.request_timeout, Duration::from_millis(1500));
        let settings = McpSettings::resolve(&environment(&[("TIMEOUT", "2000")]), false);
        assert_eq!(settings.request_timeout, Duration::from_secs(2));
        for bad in ["0", "-5", "1.5", "soon"] {
            let settings = McpSettings::resolve(&environment(&[("MCP_TIMEOUT", bad)]), false);
            assert_eq!(settings.request_timeout, DEFAULT_REQUEST_TIMEOUT, "{bad}");
        }
    }

    #[test]
    fn only_safe_variables_are_inherited() {
        let settings = McpSettings::resolve(
            &environment(&[
                ("PATH", "/bin"),
                ("HOME", "/home/ci"),
                ("SHELL", "() { :; }"),
                ("OPENAI_API_KEY", "sk-secret"),
            ]),
            true,
        );
        assert!(settings.deny_exec);
        assert_eq!(
            settings.inherited_env.into_iter().collect::<Vec<_>>(),
            vec![
                ("HOME".to_owned(), "/home/ci".to_owned()),
                ("PATH".to_owned(), "/bin".to_owned())
            ]
        );
    }
}
