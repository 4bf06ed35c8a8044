//! The tests' MCP server over stdio (see `tests/common/mcp_server.rs`). Not part of aigne-ci.
//!
//! Writes its pid to `$MCP_TEST_PID_FILE` when set, so tests can check that it is gone, and
//! `closed` to `$MCP_TEST_SHUTDOWN_FILE` when its MCP session ends because its stdin reached EOF
//! (a clean shutdown by the client; a killed server writes nothing). With `$MCP_TEST_SILENT`
//! set it never answers the handshake.

#[path = "../tests/common/mcp_server.rs"]
mod mcp_server;

use rmcp::ServiceExt;
use rmcp::service::QuitReason;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    if let Ok(path) = std::env::var("MCP_TEST_PID_FILE") {
        fs_err::write(path, std::process::id().to_string())?;
    }
    if std::env::var_os("MCP_TEST_SILENT").is_some() {
        // A server that never answers the handshake.
        std::thread::sleep(std::time::Duration::from_secs(600));
        return Ok(());
    }
    let service = mcp_server::TestServer::default()
        .serve(rmcp::transport::stdio())
        .await?;
    let reason = service.waiting().await?;
    if let Ok(path) = std::env::var("MCP_TEST_SHUTDOWN_FILE") {
        let text = match reason {
            QuitReason::Closed => "closed".to_owned(),
            other => format!("{other:?}"),
        };
        fs_err::write(path, text)?;
    }
    Ok(())
}
