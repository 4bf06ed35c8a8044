//! [`McpError`]: every variant names the server (`command arg…` or masked URL) and, for calls,
//! the tool.

use std::time::Duration;

/// An MCP server could not be started, reached or used.
#[derive(Debug, thiserror::Error)]
pub enum McpError {
    /// `--deny-exec` forbids starting stdio servers.
    #[error("refusing to start the stdio MCP server `{server}` because of `--deny-exec`")]
    DenyExec {
        /// The command line.
        server: String,
    },
    /// The agent file names neither `command` nor `url`.
    #[error("the MCP server definition has neither `command` nor `url`")]
    NoServer,
    /// The program could not be started.
    #[error("could not start the MCP server `{server}`")]
    Spawn {
        /// The command line.
        server: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The `url` is not a valid URL.
    #[error("invalid MCP server URL `{url}`")]
    InvalidUrl {
        /// The URL as written.
        url: String,
        /// Why.
        #[source]
        source: url::ParseError,
    },
    /// A header of `opts.requestInit.headers` is not a valid HTTP header (the value never prints).
    #[error("invalid header `{name}` in `opts.requestInit.headers` of the MCP server `{server}`")]
    InvalidHeader {
        /// The masked URL.
        server: String,
        /// The header name.
        name: String,
    },
    /// The HTTP client could not be built.
    #[error("could not build the HTTP client for the MCP server `{server}`")]
    HttpClient {
        /// The masked URL.
        server: String,
        /// Why.
        #[source]
        source: crate::http::HttpError,
    },
    /// The MCP handshake failed.
    #[error("could not connect to the MCP server `{server}`{}", stderr_suffix(.stderr))]
    Connect {
        /// The server.
        server: String,
        /// The last lines the server wrote to stderr (stdio servers).
        stderr: String,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A request got no answer in time.
    #[error(
        "the MCP server `{server}` did not answer `{method}`{} within {}",
        tool_suffix(.tool),
        humantime::format_duration(*.timeout)
    )]
    Timeout {
        /// The server.
        server: String,
        /// `initialize`, `tools/list` or `tools/call`.
        method: &'static str,
        /// The tool, for `tools/call`.
        tool: Option<String>,
        /// The timeout that ran out.
        timeout: Duration,
    },
    /// The server closed the connection (a stdio server exited) before answering.
    #[error(
        "the MCP server `{server}` closed the connection during `{method}`{}{}",
        tool_suffix(.tool),
        stderr_suffix(.stderr)
    )]
    Closed {
        /// The server.
        server: String,
        /// The request that was pending.
        method: &'static str,
        /// The tool, for `tools/call`.
        tool: Option<String>,
        /// The last lines the server wrote to stderr (stdio servers).
        stderr: String,
    },
    /// The server answered with an error, or the transport failed.
    #[error("the MCP server `{server}` failed `{method}`{}", tool_suffix(.tool))]
    Request {
        /// The server.
        server: String,
        /// The request.
        method: &'static str,
        /// The tool, for `tools/call`.
        tool: Option<String>,
        /// Why.
        #[source]
        source: rmcp::service::ServiceError,
    },
    /// The answer is larger than `--max-tool-result`; it was never read whole.
    #[error("the MCP server `{server}` answered tool `{tool}` with more than the {} cap (`--max-tool-result`)", crate::project::files::human_size(*.limit as u64))]
    TooLarge {
        /// The server.
        server: String,
        /// The tool.
        tool: String,
        /// The cap in bytes.
        limit: usize,
    },
    /// The server does not offer this tool.
    #[error("the MCP server `{server}` has no tool `{tool}`")]
    UnknownTool {
        /// The server.
        server: String,
        /// The tool asked for.
        tool: String,
    },
    /// The connection was shut down already.
    #[error("the MCP server `{server}` was shut down")]
    ShutDown {
        /// The server.
        server: String,
    },
}

fn tool_suffix(tool: &Option<String>) -> String {
    tool.as_ref()
        .map(|tool| format!(" for tool `{tool}`"))
        .unwrap_or_default()
}

fn stderr_suffix(stderr: &str) -> String {
    let stderr = stderr.trim();
    if stderr.is_empty() {
        String::new()
    } else {
        format!("; its stderr ends with: {stderr}")
    }
}

impl McpError {
    /// Whether an aigne-ci limit stopped it (an answer over `--max-tool-result`).
    pub fn is_limit(&self) -> bool {
        matches!(self, Self::TooLarge { .. })
    }
}

impl crate::hint::Hint for McpError {
    fn hint(&self) -> Option<String> {
        match self {
            Self::DenyExec { .. } => Some(
                "drop `--deny-exec` (or `AIGNE_CI_DENY_EXEC`) to let the project start MCP servers, or use a `url` server"
                    .to_owned(),
            ),
            Self::Timeout { .. } => Some(
                "set `MCP_TIMEOUT` (milliseconds) to wait longer for slow MCP servers".to_owned(),
            ),
            Self::TooLarge { .. } => Some(
                "have the tool return less, or raise `--max-tool-result` (`AIGNE_CI_MAX_TOOL_RESULT`)"
                    .to_owned(),
            ),
            Self::Spawn { .. } => {
                Some("check that the server's `command` is installed and on `PATH`".to_owned())
            }
            _ => None,
        }
    }
}
