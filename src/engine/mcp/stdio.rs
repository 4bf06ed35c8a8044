//! The stdio transport of an MCP server, with its answers capped (`--max-tool-result`).
//!
//! rmcp's own stdio transport ([`rmcp::transport::TokioChildProcess`]) drops a line over its
//! cap and logs it, so the call that line answered waits for its timeout and the case ends with
//! "did not answer". Here the server's stdout goes through [`cap_lines`] first: a line over the
//! cap is never held whole; when its first or last bytes name the request it answers (servers
//! write `{"jsonrpc":"2.0","id":N,…` or, as the TypeScript SDK does, `…,"jsonrpc":"2.0","id":N}`),
//! that request gets a JSON-RPC error naming the cap at once ([`super::cap::too_large_cap`]
//! recognises it); any other oversized line is noted in the server's stderr tail and fails every
//! request still waiting (the one it answered is among them). The process itself is the
//! caller's ([`crate::process::Child`], which shuts it down): closing this transport closes the
//! server's stdin.

use rmcp::RoleClient;
use rmcp::service::{RxJsonRpcMessage, TxJsonRpcMessage};
use rmcp::transport::Transport;
use rmcp::transport::async_rw::AsyncRwTransport;
use tokio::io::{AsyncWriteExt, BufReader, ReadHalf, SimplexStream};
use tokio::process::{ChildStdin, ChildStdout};

use super::cap::{Pending, too_large_error};
use crate::engine::line_child::{CappedLines, LineRead};

/// A stdio MCP server whose answers are capped.
pub(super) struct CappedStdio {
    transport: AsyncRwTransport<RoleClient, ReadHalf<SimplexStream>, ChildStdin>,
    pending: Pending,
}

/// Where a note about a dropped line goes (the server's stderr tail).
pub(super) type Note = Box<dyn Fn(String) + Send + Sync>;

impl CappedStdio {
    /// Speaks to a started server through its `stdin` and `stdout`; `stdout` is read through
    /// [`cap_lines`] with `cap`.
    pub(super) fn new(stdout: ChildStdout, stdin: ChildStdin, cap: usize, note: Note) -> Self {
        let (reader, writer) = tokio::io::simplex(64 * 1024);
        let pending = Pending::default();
        tokio::spawn(cap_lines(stdout, writer, cap, pending.clone(), note));
        // rmcp's own cap stays above ours: the lines it sees are at most ours.
        let transport = AsyncRwTransport::new_client(reader, stdin)
            .with_max_line_length(cap.saturating_add(4096));
        Self { transport, pending }
    }
}

impl Transport<RoleClient> for CappedStdio {
    type Error = std::io::Error;

    fn send(
        &mut self,
        item: TxJsonRpcMessage<RoleClient>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
        self.pending.sent(&item);
        self.transport.send(item)
    }

    fn receive(&mut self) -> impl Future<Output = Option<RxJsonRpcMessage<RoleClient>>> + Send {
        let pending = self.pending.clone();
        let received = self.transport.receive();
        async move {
            let message = received.await;
            if let Some(message) = &message {
                pending.received(message);
            }
            message
        }
    }

    /// Closes the server's stdin (its signal to exit; the caller's [`crate::process::Child`]
    /// does the rest of the shutdown).
    async fn close(&mut self) -> Result<(), Self::Error> {
        self.transport.close().await
    }
}

/// Copies the server's stdout lines to `writer`, none longer than `cap`: an oversized answer
/// to a request becomes a JSON-RPC error for it; an oversized line that does not say which
/// request it answers fails every request still `pending` (one of them waits for it), and is
/// noted.
async fn cap_lines(
    stdout: ChildStdout,
    mut writer: tokio::io::WriteHalf<SimplexStream>,
    cap: usize,
    pending: Pending,
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
                        pending
                            .take_all()
                            .iter()
                            .flat_map(|id| too_large_error(id, cap))
                            .collect()
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
}
