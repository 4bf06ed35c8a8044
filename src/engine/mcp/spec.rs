//! [`McpServerSpec`]: which MCP server to start or reach, as a `type: mcp` agent file says.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// How a `url` server is spoken to (`transport` key of a `type: mcp` agent).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum McpHttpTransport {
    /// AIGNE's default for `url`: the legacy HTTP+SSE transport. aigne-ci first tries streamable
    /// HTTP on the same URL, then falls back to legacy SSE, as the MCP spec's backwards
    /// compatibility section recommends.
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
