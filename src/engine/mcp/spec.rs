//! [`McpServerSpec`]: which MCP server to start or reach, as a `type: mcp` agent file says.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// How a `url` server is spoken to (`transport` key of a `type: mcp` agent).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum McpHttpTransport {
    /// AIGNE's default for `url`: the legacy HTTP+SSE transport (no fallback to streamable HTTP,
    /// as AIGNE picks the transport by this option only).
    #[default]
    Sse,
    /// `transport: streamableHttp`.
    StreamableHttp,
}

/// One MCP server: a command to start (stdio) or a URL to reach (HTTP).
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct McpServerSpec {
    /// Program of a stdio server (`command`).
    pub command: Option<String>,
    /// Its arguments (`args`).
    pub args: Vec<String>,
    /// Extra variables for it (`env`), on top of the inherited safe ones.
    pub env: BTreeMap<String, String>,
    /// Working directory of a stdio server; `None` = aigne-ci's own (as AIGNE does).
    pub cwd: Option<PathBuf>,
    /// URL of an HTTP server (`url`).
    pub url: Option<String>,
    /// Transport of an HTTP server (`transport`).
    pub transport: McpHttpTransport,
    /// URL servers: reconnect attempts after a failed request (`max_reconnects`, default 10).
    pub max_reconnects: Option<u32>,
    /// URL servers: connect timeout of a reconnect (`timeout`, default the request timeout).
    pub reconnect_timeout: Option<Duration>,
    /// URL servers: headers of every request (`opts.requestInit.headers`, which AIGNE passes to
    /// the SDK's transport), e.g. `Authorization`. Values never print.
    pub headers: BTreeMap<String, String>,
}

impl McpServerSpec {
    /// A stdio server.
    pub fn stdio(command: impl Into<String>, args: impl IntoIterator<Item = String>) -> Self {
        Self {
            command: Some(command.into()),
            args: args.into_iter().collect(),
            ..Self::default()
        }
    }

    /// An HTTP server.
    pub fn http(url: impl Into<String>, transport: McpHttpTransport) -> Self {
        Self {
            url: Some(url.into()),
            transport,
            ..Self::default()
        }
    }

    /// Reads the (camelized) keys of a `type: mcp` agent: `url` + `transport` + `maxReconnects` +
    /// `timeout` (ms), or `command` + `args` + `env`. The message names the bad key.
    pub fn from_agent_keys(
        keys: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<Self, String> {
        use serde_json::Value;
        let string = |key: &str| -> Result<Option<String>, String> {
            match keys.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(text)) => Ok(Some(text.clone())),
                Some(_) => Err(format!("`{key}` must be a string")),
            }
        };
        let number = |key: &str| -> Result<Option<u64>, String> {
            match keys.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(value) => value
                    .as_u64()
                    .map(Some)
                    .ok_or_else(|| format!("`{key}` must be a non-negative integer")),
            }
        };
        let args = match keys.get("args") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| match item {
                    Value::String(text) => Ok(text.clone()),
                    _ => Err("`args` must be a list of strings".to_owned()),
                })
                .collect::<Result<_, _>>()?,
            Some(_) => return Err("`args` must be a list of strings".to_owned()),
        };
        let env = match keys.get("env") {
            None | Some(Value::Null) => BTreeMap::new(),
            Some(Value::Object(map)) => map
                .iter()
                .map(|(key, value)| match value {
                    Value::String(text) => Ok((key.clone(), text.clone())),
                    _ => Err(format!("`env.{key}` must be a string")),
                })
                .collect::<Result<_, _>>()?,
            Some(_) => return Err("`env` must be a map of strings".to_owned()),
        };
        let headers = match keys
            .get("opts")
            .and_then(|opts| opts.get("requestInit"))
            .and_then(|init| init.get("headers"))
        {
            None | Some(Value::Null) => BTreeMap::new(),
            Some(Value::Object(map)) => map
                .iter()
                .map(|(key, value)| match value {
                    Value::String(text) => Ok((key.clone(), text.clone())),
                    _ => Err(format!("`opts.requestInit.headers.{key}` must be a string")),
                })
                .collect::<Result<_, _>>()?,
            Some(_) => return Err("`opts.requestInit.headers` must be a map of strings".to_owned()),
        };
        let transport = match string("transport")?.as_deref() {
            Some("streamableHttp") => McpHttpTransport::StreamableHttp,
            _ => McpHttpTransport::Sse,
        };
        let spec = Self {
            command: string("command")?,
            args,
            env,
            cwd: None,
            url: string("url")?,
            transport,
            max_reconnects: number("maxReconnects")?
                .map(|count| u32::try_from(count).unwrap_or(u32::MAX)),
            reconnect_timeout: number("timeout")?.map(Duration::from_millis),
            headers,
        };
        if spec.url.is_none() && spec.command.is_none() {
            return Err("an MCP agent needs `url` or `command`".to_owned());
        }
        Ok(spec)
    }

    /// Whether connecting starts a child process.
    pub fn is_stdio(&self) -> bool {
        self.url.is_none() && self.command.is_some()
    }

    /// How messages name the server: `command arg…` or the URL with credentials masked.
    pub fn label(&self) -> String {
        self.to_string()
    }
}

/// `env` values (often tokens) never print.
impl fmt::Debug for McpServerSpec {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("McpServerSpec")
            .field("server", &self.label())
            .field("env", &self.env.keys().collect::<Vec<_>>())
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field("cwd", &self.cwd)
            .field("transport", &self.transport)
            .finish_non_exhaustive()
    }
}

impl fmt::Display for McpServerSpec {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.url, &self.command) {
            (Some(url), _) => match url::Url::parse(url) {
                Ok(parsed) => formatter.write_str(&crate::secret::SafeUrl::new(parsed).masked()),
                Err(_) => formatter.write_str(url),
            },
            (None, Some(command)) => {
                formatter.write_str(command)?;
                for arg in &self.args {
                    write!(formatter, " {arg}")?;
                }
                Ok(())
            }
            (None, None) => formatter.write_str("unknown"),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn keys(value: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
        match value {
            serde_json::Value::Object(map) => map,
            _ => serde_json::Map::new(),
        }
    }

    #[test]
    fn reads_stdio_and_url_servers() {
        let spec = McpServerSpec::from_agent_keys(&keys(json!({
            "command": "npx",
            "args": ["-y", "@modelcontextprotocol/server-filesystem", "."],
            "env": {"TOKEN": "secret-value"}
        })))
        .unwrap();
        assert!(spec.is_stdio());
        assert_eq!(
            spec.label(),
            "npx -y @modelcontextprotocol/server-filesystem ."
        );
        assert_eq!(
            spec.env.get("TOKEN").map(String::as_str),
            Some("secret-value")
        );
        assert!(!format!("{spec:?}").contains("secret-value"));

        let spec = McpServerSpec::from_agent_keys(&keys(json!({
            "url": "http://127.0.0.1:1/mcp",
            "transport": "streamableHttp",
            "maxReconnects": 0,
            "timeout": 1500
        })))
        .unwrap();
        assert!(!spec.is_stdio());
        assert_eq!(spec.transport, McpHttpTransport::StreamableHttp);
        assert_eq!(spec.max_reconnects, Some(0));
        assert_eq!(spec.reconnect_timeout, Some(Duration::from_millis(1500)));
        let spec = McpServerSpec::from_agent_keys(&keys(json!({"url": "http://h/sse"}))).unwrap();
        assert_eq!(spec.transport, McpHttpTransport::Sse);
        let spec = McpServerSpec::from_agent_keys(&keys(json!({
            "url": "http://h/sse",
            "opts": {"requestInit": {"headers": {"Authorization": "Bearer tok-secret"}}}
        })))
        .unwrap();
        assert_eq!(
            spec.headers.get("Authorization").map(String::as_str),
            Some("Bearer tok-secret")
        );
        assert!(!format!("{spec:?}").contains("tok-secret"));
        assert!(!spec.label().contains("tok-secret"));
    }

    #[test]
    fn rejects_bad_keys() {
        for (value, message) in [
            (json!({}), "an MCP agent needs `url` or `command`"),
            (
                json!({"command": "x", "args": "-y"}),
                "`args` must be a list of strings",
            ),
            (
                json!({"command": "x", "env": {"A": 1}}),
                "`env.A` must be a string",
            ),
            (json!({"command": 3}), "`command` must be a string"),
            (
                json!({"url": "http://h", "opts": {"requestInit": {"headers": {"X": 1}}}}),
                "`opts.requestInit.headers.X` must be a string",
            ),
        ] {
            assert_eq!(
                McpServerSpec::from_agent_keys(&keys(value)).unwrap_err(),
                message
            );
        }
    }
}
