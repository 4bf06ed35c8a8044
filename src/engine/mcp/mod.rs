//! MCP servers as tools (`type: mcp`, spec §2.11 and §3.4): start a stdio server or reach an
//! HTTP one (streamable HTTP with rmcp, legacy SSE with [`SseClientTransport`]), list its tools, call them, and end every server process with the run.
//!
//! Input: [`McpServerSpec`] (from the project) and [`McpSettings`]. Output: [`McpTool`]s and
//! `CallToolResult` JSON. Must not import `batch` or `report`.

mod cap;
mod connection;
mod error;
mod pool;
mod settings;
mod spec;
mod sse;
mod stdio;

pub use connection::{McpConnection, McpTool};
pub use error::McpError;
pub use pool::McpPool;
pub use settings::{DEFAULT_REQUEST_TIMEOUT, McpSettings};
pub use spec::{McpHttpTransport, McpServerSpec};
pub use sse::{SseClientTransport, SseError};
