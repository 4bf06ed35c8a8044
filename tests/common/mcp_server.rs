//! A real MCP server written with rmcp, for the tests: served over stdio by the
//! `mcp_test_server` example, or over streamable HTTP on 127.0.0.1 inside a test.
//!
//! Tools: `echo`, `add`, `ping` (no arguments), `env` (reads a variable), `fail` (a tool error),
//! `crash` (the process exits mid-call), `hang` (answers only once cancelled), `spawn_child` (starts a
//! grandchild `sleep` and returns its pid).

#![allow(dead_code)]

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, ContentBlock, Implementation, ServerCapabilities, ServerConfig};
use rmcp::{ServerHandler, schemars, tool, tool_handler, tool_router};

/// Name the server reports.
pub(crate) const SERVER_NAME: &str = "aigne-ci-test-server";

#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
pub(crate) struct EchoRequest {
    /// Text to send back.
    pub text: String,
}

#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
pub(crate) struct AddRequest {
    /// First number.
    pub a: i64,
    /// Second number.
    pub b: i64,
}

#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
pub(crate) struct EnvRequest {
    /// Variable name.
    pub name: String,
}

/// The test server.
#[derive(Debug, Clone)]
pub(crate) struct TestServer {
    tool_router: ToolRouter<Self>,
}

impl Default for TestServer {
    fn default() -> Self {
        Self {
            tool_router: Self::tool_router(),
        }
    }
}

#[tool_router]
impl TestServer {
    #[tool(description = "Echo the text back")]
    fn echo(&self, Parameters(EchoRequest { text }): Parameters<EchoRequest>) -> CallToolResult {
        CallToolResult::success(vec![ContentBlock::text(text)])
    }

    #[tool(description = "Add two numbers")]
    fn add(&self, Parameters(AddRequest { a, b }): Parameters<AddRequest>) -> CallToolResult {
        CallToolResult::success(vec![ContentBlock::text((a + b).to_string())])
    }

    #[tool(description = "Answer pong")]
    fn ping(&self) -> CallToolResult {
        CallToolResult::success(vec![ContentBlock::text("pong")])
    }

    #[tool(description = "Read an environment variable of the server process")]
    fn env(&self, Parameters(EnvRequest { name }): Parameters<EnvRequest>) -> CallToolResult {
        let value = std::env::var(&name).unwrap_or_else(|_| "<unset>".to_owned());
        CallToolResult::success(vec![ContentBlock::text(value)])
    }

    #[tool(description = "Always fail")]
    fn fail(&self) -> CallToolResult {
        CallToolResult::error(vec![ContentBlock::text("it failed on purpose")])
    }

    #[tool(description = "Exit the server process in the middle of the call")]
    #[allow(
        clippy::print_stderr,
        clippy::exit,
        reason = "the test server dies on purpose"
    )]
    fn crash(&self) -> CallToolResult {
        eprintln!("test server: crashing on purpose");
        std::process::exit(3)
    }

    #[tool(description = "Never answer (until the client cancels the request)")]
    async fn hang(&self, cancelled: tokio_util::sync::CancellationToken) -> CallToolResult {
        cancelled.cancelled().await;
        // Tests check that the client cancelled the request (`notifications/cancelled`).
        if let Ok(path) = std::env::var("MCP_TEST_CANCELLED_FILE") {
            let _ = fs_err::write(path, "hang");
        }
        CallToolResult::error(vec![ContentBlock::text("cancelled")])
    }

    #[tool(description = "Start a grandchild process that sleeps, and return its pid")]
    fn spawn_child(&self) -> CallToolResult {
        match std::process::Command::new("sleep").arg("600").spawn() {
            Ok(child) => CallToolResult::success(vec![ContentBlock::text(child.id().to_string())]),
            Err(error) => CallToolResult::error(vec![ContentBlock::text(error.to_string())]),
        }
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for TestServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new(SERVER_NAME, "1.2.3"))
    }
}
