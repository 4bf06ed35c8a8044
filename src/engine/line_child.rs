//! A child process spoken to in JSON lines: requests on its stdin, replies and its own requests
//! on its stdout, stderr kept (its tail) for error messages. Started and ended by
//! [`crate::process`] (its own process group, killed whole on drop).
//!
//! Used by the Node bridge ([`crate::engine::js`]) and the Node engine host
//! ([`crate::engine::node`]). Requests carry a numeric `id`; a line `{"id", "type": "result", …}`
//! answers the pending request with that id. Every other line goes to the `on_message` callback.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::ChildStdin;
use tokio::sync::oneshot;

use crate::process::{self, Child, ChildSpec, StderrTail, SubprocessLog};

/// How long [`LineChild::shutdown`] gives the child after its stdin closes (and again after
/// `SIGTERM`).
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

/// How long a child whose stdout closed gets to exit before its group is ended.
const EXIT_GRACE: std::time::Duration = std::time::Duration::from_secs(1);

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
}

/// A running child. Cheap to clone; all clones talk to the same process.
#[derive(Clone)]
pub struct LineChild {
    inner: Arc<Inner>,
}

struct Inner {
    stdin: tokio::sync::Mutex<Option<ChildStdin>>,
    pending: Mutex<HashMap<u64, oneshot::Sender<Value>>>,
    next_id: AtomicU64,
    alive: AtomicBool,
    process: Mutex<Option<Child>>,
    stderr: StderrTail,
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
        let mut process = process::spawn(
            &ChildSpec {
                purpose: spec.purpose.clone(),
                program: spec.program.clone(),
                args: spec.args.clone(),
                env: spec.env.clone(),
                working_dir: spec.working_dir.clone(),
                stdin: true,
                stdout: true,
            },
            log,
        )?;
        let stdin = process.take_stdin();
        let stdout = process.take_stdout();
        let stderr = process.stderr();
        let child = Self {
            inner: Arc::new(Inner {
                stdin: tokio::sync::Mutex::new(stdin),
                pending: Mutex::new(HashMap::new()),
                next_id: AtomicU64::new(1),
                alive: AtomicBool::new(true),
                process: Mutex::new(Some(process)),
                stderr,
                exit_status: Mutex::new(None),
            }),
        };
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
        self.inner.stderr.text()
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
        reply
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

    /// Kills the child and its process group at once; every pending request ends with
    /// [`LineChildError::Exited`].
    pub async fn kill(&self) {
        self.inner.alive.store(false, Ordering::SeqCst);
        self.end(std::time::Duration::ZERO).await;
        self.inner.stdin.lock().await.take();
        self.fail_pending();
    }

    /// Closes stdin (the child's signal to exit) and ends it with the process module's shutdown
    /// (grace period, `SIGTERM`, grace period, `SIGKILL` to its group).
    pub async fn shutdown(&self) {
        self.inner.stdin.lock().await.take();
        self.end(SHUTDOWN_GRACE).await;
        self.inner.alive.store(false, Ordering::SeqCst);
        self.fail_pending();
    }

    /// Takes the process (once) and shuts it down with `grace`; keeps its exit status.
    async fn end(&self, grace: std::time::Duration) {
        let process = self
            .inner
            .process
            .lock()
            .ok()
            .and_then(|mut process| process.take());
        if let Some(process) = process {
            let exited = process.shutdown(grace).await;
            if let (Some(_), Ok(mut slot)) = (exited.status, self.inner.exit_status.lock()) {
                *slot = Some(exited.describe());
            }
        }
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
        let mut lines = BufReader::new(stdout).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            let Ok(message) = serde_json::from_str::<Value>(&line) else {
                self.append_stderr(&format!("[stdout] {line}\n"));
                continue;
            };
            let reply_to = (message.get("type").and_then(Value::as_str) == Some("result"))
                .then(|| message.get("id").and_then(Value::as_u64))
                .flatten();
            match reply_to {
                Some(id) => {
                    let sender = self
                        .inner
                        .pending
                        .lock()
                        .ok()
                        .and_then(|mut pending| pending.remove(&id));
                    if let Some(sender) = sender {
                        let _ = sender.send(message);
                    }
                }
                None => on_message(message, self.clone()),
            }
        }
        // stdout closed: the child exited (or is about to); its stderr is read to the end.
        self.inner.alive.store(false, Ordering::SeqCst);
        self.end(EXIT_GRACE).await;
        self.fail_pending();
    }

    fn append_stderr(&self, text: &str) {
        self.inner.stderr.push(text);
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
