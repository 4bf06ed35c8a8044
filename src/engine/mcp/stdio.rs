//! The stdio transport of an MCP server, with its answers capped (`--max-tool-result`).
//!
//! rmcp's own stdio transport ([`rmcp::transport::TokioChildProcess`]) drops a line over its
//! cap and logs it, so the call that line answered waits for its timeout and the case ends with
//! "did not answer". Here the server's stdout goes through [`cap_lines`] first: a line over the
//! cap is never held whole; when its first or last bytes name the request it answers (servers
//! write `{"jsonrpc":"2.0","id":N,…` or, as the TypeScript SDK does, `…,"jsonrpc":"2.0","id":N}`),
//! that request gets a JSON-RPC error naming the cap at once ([`is_too_large`] recognises it);
//! any other oversized line is noted in the server's stderr tail. The child's shutdown is rmcp's
//! graceful one: close stdin, wait, `SIGTERM`, wait, kill.

use std::time::Duration;

use process_wrap::tokio::{ChildWrapper, CommandWrap};
use rmcp::RoleClient;
use rmcp::service::{RxJsonRpcMessage, TxJsonRpcMessage};
use rmcp::transport::Transport;
use rmcp::transport::async_rw::AsyncRwTransport;
use tokio::io::{AsyncWriteExt, BufReader, ReadHalf, SimplexStream};
use tokio::process::{ChildStderr, ChildStdin, ChildStdout};

use crate::engine::line_child::{CappedLines, LineRead};

/// The `data` key of the error [`cap_lines`] answers an oversized reply with.
const TOO_LARGE_KEY: &str = "aigne_ci_too_large";

/// How long the child gets to exit after its stdin closes, and again after `SIGTERM`.
const EXIT_WAIT: Duration = Duration::from_secs(3);

/// A stdio MCP server whose answers are capped.
pub(super) struct CappedStdio {
    transport: AsyncRwTransport<RoleClient, ReadHalf<SimplexStream>, ChildStdin>,
    child: Option<Box<dyn ChildWrapper>>,
}

/// Where a note about a dropped line goes (the server's stderr tail).
pub(super) type Note = Box<dyn Fn(String) + Send + Sync>;

impl CappedStdio {
    /// Starts the server; its stdout is read through [`cap_lines`] with `cap`.
    pub(super) fn spawn(
        mut command: CommandWrap,
        cap: usize,
        note: Note,
    ) -> std::io::Result<(Self, Option<ChildStderr>)> {
        command
            .command_mut()
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = command.spawn()?;
        let stdin = child
            .stdin()
            .take()
            .ok_or_else(|| std::io::Error::other("the server's stdin is not piped"))?;
        let stdout = child
            .stdout()
            .take()
            .ok_or_else(|| std::io::Error::other("the server's stdout is not piped"))?;
        let stderr = child.stderr().take();
        let (reader, writer) = tokio::io::simplex(64 * 1024);
        tokio::spawn(cap_lines(stdout, writer, cap, note));
        // rmcp's own cap stays above ours: the lines it sees are at most ours.
        let transport = AsyncRwTransport::new_client(reader, stdin)
            .with_max_line_length(cap.saturating_add(4096));
        Ok((
            Self {
                transport,
                child: Some(child),
            },
            stderr,
        ))
    }

    /// The server's process id (its process group's id too).
    pub(super) fn id(&self) -> Option<u32> {
        self.child.as_ref().and_then(|child| child.id())
    }
}

impl Transport<RoleClient> for CappedStdio {
    type Error = std::io::Error;

    fn send(
        &mut self,
        item: TxJsonRpcMessage<RoleClient>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
        self.transport.send(item)
    }

    fn receive(&mut self) -> impl Future<Output = Option<RxJsonRpcMessage<RoleClient>>> + Send {
        self.transport.receive()
    }

    async fn close(&mut self) -> Result<(), Self::Error> {
        self.transport.close().await?;
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        if tokio::time::timeout(EXIT_WAIT, child.wait()).await.is_ok() {
            return Ok(());
        }
        #[cfg(unix)]
        if child.signal(nix::libc::SIGTERM).is_ok()
            && tokio::time::timeout(EXIT_WAIT, child.wait()).await.is_ok()
        {
            return Ok(());
        }
        Box::into_pin(child.kill()).await
    }
}

impl Drop for CappedStdio {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.start_kill();
        }
    }
}

/// Copies the server's stdout lines to `writer`, none longer than `cap`: an oversized answer
/// to a request becomes a JSON-RPC error for it; any other oversized line is dropped and noted.
async fn cap_lines(
    stdout: ChildStdout,
    mut writer: tokio::io::WriteHalf<SimplexStream>,
    cap: usize,
    note: Note,
) {
    let mut lines = CappedLines::new(BufReader::new(stdout), cap);
    let mut line = Vec::new();
    let mut tail = Vec::new();
    loop {
        let line_out = match lines.next(&mut line).await {
            Ok(LineRead::Line) => {
                line.push(b'\n');
                std::mem::take(&mut line)
            }
            Ok(LineRead::TooLong) => {
                if lines.skip_rest(&mut tail).await.is_err() {
                    break;
                }
                match answered_id(&line, &tail) {
                    Some(id) => too_large_error(&id, cap),
                    None => {
                        note(format!(
                            "aigne-ci: dropped a line of the server's stdout over the {} cap (`--max-tool-result`): {}…",
                            crate::project::files::human_size(cap as u64),
                            String::from_utf8_lossy(&line)
                        ));
                        continue;
                    }
                }
            }
            Ok(LineRead::End) | Err(_) => break,
        };
        if writer.write_all(&line_out).await.is_err() {
            break;
        }
    }
    let _ = writer.shutdown().await;
}

/// The id of the JSON-RPC response a line is, from its first or last bytes: `{"jsonrpc":"2.0",
/// "id":N` or `{"id":N` at the start, `"id":N}` at the end (a numeric or string id).
fn answered_id(head: &[u8], tail: &[u8]) -> Option<String> {
    static HEAD: std::sync::LazyLock<regex::bytes::Regex> = std::sync::LazyLock::new(|| {
        regex::bytes::Regex::new(
            r#"^\s*\{\s*(?:"jsonrpc"\s*:\s*"2\.0"\s*,\s*)?"id"\s*:\s*(-?\d+|"[^"\\]*")\s*,"#,
        )
        .expect("a valid pattern")
    });
    static TAIL: std::sync::LazyLock<regex::bytes::Regex> = std::sync::LazyLock::new(|| {
        regex::bytes::Regex::new(
            r#","\s*(?:jsonrpc"\s*:\s*"2\.0"\s*,\s*")?id"\s*:\s*(-?\d+|"[^"\\]*")\s*\}\s*$"#,
        )
        .expect("a valid pattern")
    });
    let found = HEAD
        .captures(head)
        .or_else(|| TAIL.captures(tail))
        .and_then(|captures| captures.get(1))?;
    Some(String::from_utf8_lossy(found.as_bytes()).into_owned())
}

/// The JSON-RPC error that answers request `id` (as written: a number or a quoted string).
fn too_large_error(id: &str, cap: usize) -> Vec<u8> {
    let id: serde_json::Value = serde_json::from_str(id).unwrap_or(serde_json::Value::Null);
    let mut line = serde_json::to_vec(&serde_json::json!({
        "jsonrpc": "2.0",
        "id": id,
        "error": {
            "code": -32603,
            "message": format!(
                "the answer is larger than the {} cap (`--max-tool-result`)",
                crate::project::files::human_size(cap as u64)
            ),
            "data": { TOO_LARGE_KEY: cap },
        },
    }))
    .unwrap_or_default();
    line.push(b'\n');
    line
}

/// The cap, when `error` is the answer [`cap_lines`] gave an oversized reply.
pub(super) fn too_large_cap(error: &rmcp::service::ServiceError) -> Option<usize> {
    let rmcp::service::ServiceError::McpError(data) = error else {
        return None;
    };
    let cap = data.data.as_ref()?.get(TOO_LARGE_KEY)?.as_u64()?;
    usize::try_from(cap).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_come_from_the_head_or_the_tail() {
        assert_eq!(
            answered_id(br#"{"jsonrpc":"2.0","id":3,"result":{"content":[{"#, b"").as_deref(),
            Some("3")
        );
        assert_eq!(
            answered_id(
                br#"{"result":{"content":[{"type":"text","#,
                br#"xxx"}]},"jsonrpc":"2.0","id":12}"#
            )
            .as_deref(),
            Some("12")
        );
        assert_eq!(
            answered_id(br#"{"id":"a-1","jsonrpc":"2.0","#, b"").as_deref(),
            Some("\"a-1\"")
        );
        // An id nested in the result is not the answer's.
        assert_eq!(
            answered_id(br#"{"result":{"items":[{"#, br#"{"id":5}]}}"#),
            None
        );
        assert_eq!(answered_id(b"garbage", b"more garbage"), None);
    }

    #[test]
    fn the_error_names_the_request_and_the_cap() {
        let line = too_large_error("7", 1024);
        let value: serde_json::Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(value["id"], 7);
        assert_eq!(value["error"]["data"][TOO_LARGE_KEY], 1024);
        assert!(
            value["error"]["message"]
                .as_str()
                .unwrap()
                .contains("1 KiB cap")
        );
    }
}
