//! A child process spoken to in JSON lines: requests on its stdin, replies and its own requests
//! on its stdout, stderr kept (its tail) for error messages.
//!
//! Used by the Node bridge ([`crate::engine::js`]) and the Node engine host
//! ([`crate::engine::node`]). Requests carry a numeric `id`; a line `{"id", "type": "result", …}`
//! answers the pending request with that id. Every other line goes to the `on_message` callback.
//!
//! The child runs project code, so its stdout is untrusted: a line longer than
//! [`LineChildSpec::max_line_bytes`] is never buffered whole. Its first bytes name the request it
//! answers (both scripts write `{"id":N,"type":"result",…` first), which then fails at once with
//! [`LineChildError::TooLong`]; the rest of the line is read and dropped, so memory stays bounded
//! and the protocol stays in step. tokio-util's `LinesCodec` caps lines too, but ends the stream
//! after an oversized one and keeps none of its head, so the reader is written here.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::oneshot;

use crate::engine::subprocess::{SubprocessLog, SubprocessRecord};

/// Most bytes of stderr kept for error messages.
const STDERR_TAIL_BYTES: usize = 8 * 1024;

/// How to start the child.
#[derive(Debug, Clone)]
pub struct LineChildSpec {
    /// Why it is started (recorded in the [`SubprocessLog`]).
    pub purpose: String,
    /// Resolved program path.
    pub program: PathBuf,
    /// Arguments.
    pub args: Vec<String>,
    /// The complete environment of the child (nothing else is inherited).
    pub env: BTreeMap<String, String>,
    /// Working folder.
    pub working_dir: PathBuf,
    /// Longest line read from its stdout (`--max-tool-result`).
    pub max_line_bytes: usize,
}

/// Called with every line that is not a reply; gets the child to answer through.
pub type MessageHandler = Arc<dyn Fn(Value, LineChild) + Send + Sync>;

/// Why a request got no reply.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LineChildError {
    /// The child closed stdout or was killed; carries its exit status and stderr tail.
    #[error("the process exited{status}")]
    Exited {
        /// `" with status N"` when known, else empty.
        status: String,
        /// The last bytes it wrote to stderr.
        stderr: String,
    },
    /// Writing to its stdin failed.
    #[error("cannot write to the process: {message}")]
    Write {
        /// The io error.
        message: String,
    },
    /// The reply line is longer than the cap; it was dropped unread.
    #[error("the reply is larger than the {} cap", crate::project::files::human_size(*limit as u64))]
    TooLong {
        /// The cap in bytes.
        limit: usize,
    },
}

/// A running child. Cheap to clone; all clones talk to the same process.
#[derive(Clone)]
pub struct LineChild {
    inner: Arc<Inner>,
}

struct Inner {
    stdin: tokio::sync::Mutex<Option<ChildStdin>>,
    pending: Mutex<HashMap<u64, oneshot::Sender<Result<Value, LineChildError>>>>,
    max_line_bytes: usize,
    next_id: AtomicU64,
    alive: AtomicBool,
    process: Mutex<Option<Child>>,
    stderr: Arc<Mutex<String>>,
    exit_status: Mutex<Option<String>>,
}

impl std::fmt::Debug for LineChild {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("LineChild")
            .field("alive", &self.is_alive())
            .finish_non_exhaustive()
    }
}

impl LineChild {
    /// Starts the child and records it in `log`.
    pub fn spawn(
        spec: &LineChildSpec,
        log: &SubprocessLog,
        on_message: MessageHandler,
    ) -> std::io::Result<Self> {
        let mut command = Command::new(&spec.program);
        command
            .args(&spec.args)
            .env_clear()
            .envs(&spec.env)
            .current_dir(&spec.working_dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut process = command.spawn()?;
        log.record(SubprocessRecord {
            purpose: spec.purpose.clone(),
            program: spec.program.clone(),
            args: spec.args.clone(),
            working_dir: spec.working_dir.clone(),
            pid: process.id(),
        });
        let stdin = process.stdin.take();
        let stdout = process.stdout.take();
        let stderr = process.stderr.take();
        let child = Self {
            inner: Arc::new(Inner {
                stdin: tokio::sync::Mutex::new(stdin),
                pending: Mutex::new(HashMap::new()),
                next_id: AtomicU64::new(1),
                alive: AtomicBool::new(true),
                process: Mutex::new(Some(process)),
                stderr: Arc::new(Mutex::new(String::new())),
                exit_status: Mutex::new(None),
                max_line_bytes: spec.max_line_bytes.max(1),
            }),
        };
        if let Some(stderr) = stderr {
            let tail = Arc::clone(&child.inner.stderr);
            tokio::spawn(read_stderr(stderr, tail));
        }
        if let Some(stdout) = stdout {
            let reader = child.clone();
            tokio::spawn(async move { reader.read_stdout(stdout, on_message).await });
        }
        Ok(child)
    }

    /// Whether the child still runs (as far as we know).
    pub fn is_alive(&self) -> bool {
        self.inner.alive.load(Ordering::SeqCst)
    }

    /// The last bytes the child wrote to stderr.
    pub fn stderr_tail(&self) -> String {
        self.inner
            .stderr
            .lock()
            .map(|text| text.clone())
            .unwrap_or_default()
    }

    /// Sends `message` with a fresh `id` and waits for its reply line.
    pub async fn request(&self, mut message: Value) -> Result<Value, LineChildError> {
        let id = self.inner.next_id.fetch_add(1, Ordering::SeqCst);
        let (sender, receiver) = oneshot::channel();
        if let Ok(mut pending) = self.inner.pending.lock() {
            pending.insert(id, sender);
        }
        if let Value::Object(map) = &mut message {
            map.insert("id".to_owned(), Value::from(id));
        }
        let guard = PendingGuard { child: self, id };
        if !self.is_alive() {
            return Err(self.exited());
        }
        self.send(&message).await?;
        let reply = receiver.await.map_err(|_| self.exited());
        drop(guard);
        reply?
    }

    /// Writes one line (no reply expected).
    pub async fn send(&self, message: &Value) -> Result<(), LineChildError> {
        let mut line = serde_json::to_vec(message).map_err(|error| LineChildError::Write {
            message: error.to_string(),
        })?;
        line.push(b'\n');
        let mut stdin = self.inner.stdin.lock().await;
        let Some(stdin) = stdin.as_mut() else {
            return Err(self.exited());
        };
        let written = async {
            stdin.write_all(&line).await?;
            stdin.flush().await
        }
        .await;
        written.map_err(|error| {
            if self.is_alive() {
                LineChildError::Write {
                    message: error.to_string(),
                }
            } else {
                self.exited()
            }
        })
    }

    /// Kills the child; every pending request ends with [`LineChildError::Exited`].
    pub async fn kill(&self) {
        self.inner.alive.store(false, Ordering::SeqCst);
        let process = self
            .inner
            .process
            .lock()
            .ok()
            .and_then(|mut process| process.take());
        if let Some(mut process) = process {
            let _ = process.start_kill();
            let _ = process.wait().await;
        }
        self.inner.stdin.lock().await.take();
        self.fail_pending();
    }

    /// Closes stdin (the child's signal to exit) and waits for it.
    pub async fn shutdown(&self) {
        self.inner.stdin.lock().await.take();
        let process = self
            .inner
            .process
            .lock()
            .ok()
            .and_then(|mut process| process.take());
        if let Some(mut process) = process {
            let waited =
                tokio::time::timeout(std::time::Duration::from_secs(2), process.wait()).await;
            if waited.is_err() {
                let _ = process.start_kill();
                let _ = process.wait().await;
            }
        }
        self.inner.alive.store(false, Ordering::SeqCst);
        self.fail_pending();
    }

    fn exited(&self) -> LineChildError {
        let status = self
            .inner
            .exit_status
            .lock()
            .ok()
            .and_then(|status| status.clone())
            .unwrap_or_default();
        LineChildError::Exited {
            status,
            stderr: self.stderr_tail(),
        }
    }

    fn fail_pending(&self) {
        if let Ok(mut pending) = self.inner.pending.lock() {
            pending.clear();
        }
    }

    async fn read_stdout(&self, stdout: tokio::process::ChildStdout, on_message: MessageHandler) {
        let mut lines = CappedLines::new(BufReader::new(stdout), self.inner.max_line_bytes);
        let mut line = Vec::new();
        loop {
            match lines.next(&mut line).await {
                Ok(LineRead::Line) => {}
                Ok(LineRead::TooLong) => {
                    self.too_long(&line);
                    continue;
                }
                Ok(LineRead::End) | Err(_) => break,
            }
            let text = String::from_utf8_lossy(&line);
            let Ok(message) = serde_json::from_str::<Value>(&text) else {
                if !text.trim().is_empty() {
                    self.append_stderr(&format!("[stdout] {}\n", text.trim_end()));
                }
                continue;
            };
            let reply_to = (message.get("type").and_then(Value::as_str) == Some("result"))
                .then(|| message.get("id").and_then(Value::as_u64))
                .flatten();
            match reply_to {
                Some(id) => self.answer(id, Ok(message)),
                None => on_message(message, self.clone()),
            }
        }
        // stdout closed: the child exited (or is about to).
        self.inner.alive.store(false, Ordering::SeqCst);
        let process = self
            .inner
            .process
            .lock()
            .ok()
            .and_then(|mut process| process.take());
        if let Some(mut process) = process {
            let status = tokio::time::timeout(std::time::Duration::from_secs(1), process.wait())
                .await
                .ok()
                .and_then(Result::ok);
            if let (Some(status), Ok(mut slot)) = (status, self.inner.exit_status.lock()) {
                *slot = Some(match status.code() {
                    Some(code) => format!(" with status {code}"),
                    None => " on a signal".to_owned(),
                });
            }
        }
        // Give the stderr reader a moment to catch the last words.
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        self.fail_pending();
    }

    fn answer(&self, id: u64, reply: Result<Value, LineChildError>) {
        let sender = self
            .inner
            .pending
            .lock()
            .ok()
            .and_then(|mut pending| pending.remove(&id));
        if let Some(sender) = sender {
            let _ = sender.send(reply);
        }
    }

    /// A line over the cap (`head` holds its first bytes): the reply it starts fails now; any
    /// other line is only noted in the stderr tail.
    fn too_long(&self, head: &[u8]) {
        match reply_id(head) {
            Some(id) => self.answer(
                id,
                Err(LineChildError::TooLong {
                    limit: self.inner.max_line_bytes,
                }),
            ),
            None => self.append_stderr(&format!(
                "[stdout] a line over the {} cap (`--max-tool-result`) was dropped: {}…\n",
                crate::project::files::human_size(self.inner.max_line_bytes as u64),
                String::from_utf8_lossy(head)
            )),
        }
    }

    fn append_stderr(&self, text: &str) {
        if let Ok(mut tail) = self.inner.stderr.lock() {
            push_tail(&mut tail, text);
        }
    }
}

struct PendingGuard<'a> {
    child: &'a LineChild,
    id: u64,
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        if let Ok(mut pending) = self.child.inner.pending.lock() {
            pending.remove(&self.id);
        }
    }
}

/// How many bytes of an oversized line are kept (to find the request it answers).
pub(crate) const HEAD_BYTES: usize = 64;

/// What [`CappedLines::next`] found.
pub(crate) enum LineRead {
    /// A whole line (without its `\n`) is in the buffer.
    Line,
    /// The line grew over the cap: the buffer holds its first [`HEAD_BYTES`]. The rest of it is
    /// dropped by the next call.
    TooLong,
    /// End of the stream.
    End,
}

/// Lines of a reader, none held longer than `cap` bytes.
pub(crate) struct CappedLines<R> {
    reader: R,
    cap: usize,
    /// Inside a line that went over the cap: drop bytes up to its end.
    skipping: bool,
}

impl<R: tokio::io::AsyncBufRead + Unpin> CappedLines<R> {
    /// Lines of `reader`, each at most `cap` bytes.
    pub(crate) fn new(reader: R, cap: usize) -> Self {
        Self {
            reader,
            cap: cap.max(1),
            skipping: false,
        }
    }

    /// After [`LineRead::TooLong`]: reads the rest of that line, keeping its last
    /// [`HEAD_BYTES`] in `tail` (an MCP server may write the id of a reply last).
    pub(crate) async fn skip_rest(&mut self, tail: &mut Vec<u8>) -> std::io::Result<()> {
        tail.clear();
        while self.skipping {
            let available = self.reader.fill_buf().await?;
            if available.is_empty() {
                self.skipping = false;
                break;
            }
            let newline = available.iter().position(|byte| *byte == b'\n');
            let content = newline.unwrap_or(available.len());
            tail.extend_from_slice(&available[content.saturating_sub(HEAD_BYTES)..content]);
            if tail.len() > HEAD_BYTES {
                tail.drain(..tail.len() - HEAD_BYTES);
            }
            let take = newline.map_or(available.len(), |index| index + 1);
            self.reader.consume(take);
            self.skipping = newline.is_none();
        }
        Ok(())
    }

    /// Reads the next line into `line` (cleared first).
    pub(crate) async fn next(&mut self, line: &mut Vec<u8>) -> std::io::Result<LineRead> {
        line.clear();
        loop {
            let available = self.reader.fill_buf().await?;
            if available.is_empty() {
                return Ok(if line.is_empty() {
                    LineRead::End
                } else {
                    LineRead::Line
                });
            }
            let newline = available.iter().position(|byte| *byte == b'\n');
            let take = newline.map_or(available.len(), |index| index + 1);
            if self.skipping {
                self.reader.consume(take);
                self.skipping = newline.is_none();
                continue;
            }
            let content = newline.unwrap_or(available.len());
            if line.len() + content > self.cap {
                // Keep the head; the rest of the line (its end included) is left to the next
                // call or to `skip_rest`.
                let head = HEAD_BYTES.saturating_sub(line.len()).min(content);
                line.extend_from_slice(&available[..head]);
                line.truncate(HEAD_BYTES);
                self.reader.consume(head);
                self.skipping = true;
                return Ok(LineRead::TooLong);
            }
            line.extend_from_slice(&available[..content]);
            self.reader.consume(take);
            if newline.is_some() {
                return Ok(LineRead::Line);
            }
        }
    }
}

/// The id of the request a line answers, from its first bytes (`{"id":N,"type":"result"`, as
/// both scripts write their replies).
fn reply_id(head: &[u8]) -> Option<u64> {
    let rest = head.strip_prefix(br#"{"id":"#)?;
    let digits = rest.iter().take_while(|byte| byte.is_ascii_digit()).count();
    if !rest[digits..].starts_with(br#","type":"result""#) {
        return None;
    }
    std::str::from_utf8(&rest[..digits]).ok()?.parse().ok()
}

async fn read_stderr(mut stderr: tokio::process::ChildStderr, tail: Arc<Mutex<String>>) {
    let mut buffer = [0_u8; 4096];
    while let Ok(read) = stderr.read(&mut buffer).await {
        if read == 0 {
            break;
        }
        let text = String::from_utf8_lossy(&buffer[..read]);
        if let Ok(mut tail) = tail.lock() {
            push_tail(&mut tail, &text);
        }
    }
}

fn push_tail(tail: &mut String, text: &str) {
    tail.push_str(text);
    if tail.len() > STDERR_TAIL_BYTES {
        let mut cut = tail.len() - STDERR_TAIL_BYTES;
        while !tail.is_char_boundary(cut) {
            cut += 1;
        }
        tail.drain(..cut);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shell_child(script: &str, cap: usize) -> LineChild {
        let spec = LineChildSpec {
            purpose: "test".to_owned(),
            program: PathBuf::from("/bin/sh"),
            args: vec!["-c".to_owned(), script.to_owned()],
            env: BTreeMap::new(),
            working_dir: std::env::temp_dir(),
            max_line_bytes: cap,
        };
        LineChild::spawn(&spec, &SubprocessLog::default(), Arc::new(|_, _| {})).unwrap()
    }

    #[tokio::test]
    async fn an_oversized_reply_fails_its_request_and_the_next_one_still_works() {
        // 10 MB of reply to request 1 against a 1 KiB cap, then a small reply to request 2.
        let child = shell_child(
            r#"read a; printf '{"id":1,"type":"result","value":"'; head -c 10000000 /dev/zero | tr '\0' x; printf '"}\n'; read b; printf '{"id":2,"type":"result","value":"ok"}\n'; read c"#,
            1024,
        );
        let first = child.request(serde_json::json!({"type": "call"})).await;
        assert!(
            matches!(first, Err(LineChildError::TooLong { limit: 1024 })),
            "{first:?}"
        );
        assert_eq!(
            first.unwrap_err().to_string(),
            "the reply is larger than the 1 KiB cap"
        );
        let second = child.request(serde_json::json!({"type": "call"})).await;
        assert_eq!(second.unwrap()["value"], "ok");
        child.kill().await;
    }

    #[tokio::test]
    async fn an_oversized_line_that_answers_nothing_is_noted_and_dropped() {
        let child = shell_child(
            r#"read a; head -c 100000 /dev/zero | tr '\0' y; printf '\n{"id":1,"type":"result","value":"ok"}\n'; read b"#,
            1024,
        );
        let reply = child.request(serde_json::json!({"type": "call"})).await;
        assert_eq!(reply.unwrap()["value"], "ok");
        let tail = child.stderr_tail();
        assert!(
            tail.contains("a line over the 1 KiB cap (`--max-tool-result`) was dropped: yyyy"),
            "{tail}"
        );
        assert!(tail.len() < 1024, "{tail}");
        child.kill().await;
    }

    #[tokio::test]
    async fn capped_lines_split_keep_heads_and_skip_tails() {
        let input: &[u8] = b"short\n0123456789abcdef\nlast-no-newline";
        let mut lines = CappedLines::new(tokio::io::BufReader::with_capacity(4, input), 8);
        let mut line = Vec::new();
        assert!(matches!(
            lines.next(&mut line).await.unwrap(),
            LineRead::Line
        ));
        assert_eq!(line, b"short");
        assert!(matches!(
            lines.next(&mut line).await.unwrap(),
            LineRead::TooLong
        ));
        assert!(line.starts_with(b"0123") && line.len() <= HEAD_BYTES);
        // The tail of the long line is dropped; the cap is not crossed by the last line.
        assert!(matches!(
            lines.next(&mut line).await.unwrap(),
            LineRead::TooLong
        ));
        assert!(line.starts_with(b"last"));
        assert!(matches!(
            lines.next(&mut line).await.unwrap(),
            LineRead::End
        ));
    }

    #[tokio::test]
    async fn skip_rest_keeps_the_tail_of_an_oversized_line() {
        let long = format!("HEAD{}TAIL-END\nnext\n", "x".repeat(1000));
        let mut lines = CappedLines::new(
            tokio::io::BufReader::with_capacity(16, long.as_bytes()),
            100,
        );
        let (mut line, mut tail) = (Vec::new(), Vec::new());
        assert!(matches!(
            lines.next(&mut line).await.unwrap(),
            LineRead::TooLong
        ));
        assert!(line.starts_with(b"HEAD"));
        lines.skip_rest(&mut tail).await.unwrap();
        assert!(
            tail.ends_with(b"TAIL-END") && tail.len() <= HEAD_BYTES,
            "{tail:?}"
        );
        assert!(matches!(
            lines.next(&mut line).await.unwrap(),
            LineRead::Line
        ));
        assert_eq!(line, b"next");
    }

    #[test]
    fn reply_ids_come_from_the_head_of_a_reply() {
        assert_eq!(
            reply_id(br#"{"id":42,"type":"result","ok":true,"value":"xx"#),
            Some(42)
        );
        assert_eq!(reply_id(br#"{"id":"js-1","type":"invoke""#), None);
        assert_eq!(reply_id(br#"{"id":7,"type":"invoke""#), None);
        assert_eq!(reply_id(b"garbage"), None);
    }

    #[test]
    fn tail_keeps_the_end() {
        let mut tail = String::new();
        push_tail(&mut tail, &"a".repeat(STDERR_TAIL_BYTES));
        push_tail(&mut tail, "éz");
        assert!(tail.len() <= STDERR_TAIL_BYTES);
        assert!(tail.ends_with("éz"));
    }
}
