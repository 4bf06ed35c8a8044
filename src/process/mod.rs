//! Every child process aigne-ci starts (the Node bridge, the Node engine host, npm, stdio MCP
//! servers) is started here, by [`spawn`], and ended here, by [`Child::shutdown`].
//!
//! A project is code: what it starts may start more (`npx` runs the real server as its child, a
//! JavaScript tool may `spawn`). So each child leads its own process group, and every signal goes
//! to the whole group:
//!
//! - [`spawn`] runs the program with exactly the environment and working folder given (nothing
//!   inherited), in a new process group, stderr piped into a bounded [`StderrTail`] (the last
//!   [`STDERR_TAIL_BYTES`], for error messages; the caller masks secrets before showing it), and
//!   records it in the [`SubprocessLog`] for `summary.json`.
//! - [`Child::shutdown`] is the one way to end it: close stdin → wait the grace period → `SIGTERM`
//!   to the group → wait again → `SIGKILL` to the group, then reap. A zero grace period is a kill.
//! - Dropping a [`Child`] (a cancelled case, a timeout, SIGINT dropping the run) kills the group at
//!   once, synchronously, so no process outlives the run even when no async shutdown runs.
//!
//! Groups are made by `process-wrap` (`ProcessGroup::leader`, which also reaps the group's
//! zombies); the group signals are `killpg`, through `nix`. No other module spawns a process
//! (`tests/layering.rs` checks that `Command::new`, `process_group` and `killpg` appear only here).

mod log;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use process_wrap::tokio::{ChildWrapper, CommandWrap, KillOnDrop, ProcessGroup};
use tokio::io::AsyncReadExt;
use tokio::process::{ChildStdin, ChildStdout};
use tokio::sync::watch;

pub use log::{SubprocessLog, SubprocessRecord, find_program, write_script};

/// Most bytes of a child's stderr kept for error messages.
pub const STDERR_TAIL_BYTES: usize = 8 * 1024;

/// How long [`Child::shutdown`] waits for the stderr reader to catch a child's last words.
const STDERR_DRAIN: Duration = Duration::from_millis(200);

/// How to start a child.
#[derive(Debug, Clone)]
pub struct ChildSpec {
    /// Why it is started (`js-bridge`, `node-engine`, `npm-install`, `mcp-server`), recorded in
    /// the [`SubprocessLog`].
    pub purpose: String,
    /// The program (a path, or a name found on the `PATH` of [`Self::env`]).
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<String>,
    /// The complete environment of the child (nothing else is inherited).
    pub env: BTreeMap<String, String>,
    /// Its working folder.
    pub working_dir: PathBuf,
    /// Whether the caller writes to its stdin (else `/dev/null`).
    pub stdin: bool,
    /// Whether the caller reads its stdout (else `/dev/null`).
    pub stdout: bool,
}

/// A running child, leader of its own process group.
///
/// Dropped, it kills its whole group (`SIGKILL`) at once; [`Self::shutdown`] asks it to stop
/// first.
pub struct Child {
    process: Box<dyn ChildWrapper>,
    group: GroupGuard,
    stdin: Option<ChildStdin>,
    stdout: Option<ChildStdout>,
    stderr: StderrTail,
    status: Option<ExitStatus>,
}

impl std::fmt::Debug for Child {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Child")
            .field("pid", &self.group.pgid)
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

/// Starts `spec.program` in a new process group and records it in `log`.
pub fn spawn(spec: &ChildSpec, log: &SubprocessLog) -> std::io::Result<Child> {
    let pipe = |piped: bool| if piped { Stdio::piped() } else { Stdio::null() };
    let mut command = CommandWrap::with_new(&spec.program, |command| {
        command
            .args(&spec.args)
            .env_clear()
            .envs(&spec.env)
            .current_dir(&spec.working_dir)
            .stdin(pipe(spec.stdin))
            .stdout(pipe(spec.stdout))
            .stderr(Stdio::piped());
    });
    command.wrap(ProcessGroup::leader()).wrap(KillOnDrop);
    let mut process = command.spawn()?;
    let pid = process.id();
    log.record(SubprocessRecord {
        purpose: spec.purpose.clone(),
        program: spec.program.clone(),
        args: spec.args.clone(),
        working_dir: spec.working_dir.clone(),
        pid,
    });
    let stderr = StderrTail::default();
    if let Some(pipe) = process.stderr().take() {
        stderr.follow(pipe);
    } else {
        stderr.close();
    }
    Ok(Child {
        stdin: process.stdin().take(),
        stdout: process.stdout().take(),
        process,
        group: GroupGuard::new(pid),
        stderr,
        status: None,
    })
}

impl Child {
    /// Its process id (also its process group id).
    pub fn id(&self) -> Option<u32> {
        self.group.pgid
    }

    /// Its stdin, for the caller to write to (then to drop, which closes it).
    pub fn take_stdin(&mut self) -> Option<ChildStdin> {
        self.stdin.take()
    }

    /// Its stdout, for the caller to read.
    pub fn take_stdout(&mut self) -> Option<ChildStdout> {
        self.stdout.take()
    }

    /// The tail of its stderr (shared: it keeps filling while the child runs).
    pub fn stderr(&self) -> StderrTail {
        self.stderr.clone()
    }

    /// Waits until it exits by itself (its group's other members may live on: end them with
    /// [`Self::shutdown`]). Cancel-safe.
    pub async fn wait(&mut self) -> std::io::Result<ExitStatus> {
        if let Some(status) = self.status {
            return Ok(status);
        }
        let status = self.process.wait().await?;
        self.status = Some(status);
        Ok(status)
    }

    /// Ends it: closes its stdin (if the caller took it, the caller closes it first by dropping
    /// it), waits up to `grace` for it to exit, then sends `SIGTERM` to its group and waits up to
    /// `grace` again, then `SIGKILL`s the group and reaps it. Whatever else is left in the group
    /// (a background process of a child that exited) is killed too. Returns its exit status,
    /// when there is one, and the tail of its stderr (read to its end, briefly).
    pub async fn shutdown(mut self, grace: Duration) -> Exited {
        self.stdin = None;
        let mut status = self.wait_for(grace).await;
        if status.is_none() {
            self.group.signal(Signal::Term);
            status = self.wait_for(grace).await;
        }
        self.group.signal(Signal::Kill);
        if status.is_none() {
            status = self.wait().await.ok();
        }
        self.group.disarm();
        Exited {
            status,
            stderr: self.stderr.finished(STDERR_DRAIN).await,
        }
    }

    async fn wait_for(&mut self, grace: Duration) -> Option<ExitStatus> {
        // `timeout` polls the wait once before it looks at the clock: a zero grace period still
        // sees a child that has already exited.
        tokio::time::timeout(grace, self.wait())
            .await
            .ok()
            .and_then(Result::ok)
    }
}

/// How a child ended ([`Child::shutdown`]).
#[derive(Debug, Clone)]
pub struct Exited {
    /// Its exit status, when it could be read.
    pub status: Option<ExitStatus>,
    /// The last [`STDERR_TAIL_BYTES`] it wrote to stderr.
    pub stderr: String,
}

impl Exited {
    /// `" with status N"`, `" on a signal"`, or empty when unknown (for "the process exited…").
    pub fn describe(&self) -> String {
        match self.status {
            Some(status) => match status.code() {
                Some(code) => format!(" with status {code}"),
                None => " on a signal".to_owned(),
            },
            None => String::new(),
        }
    }
}

enum Signal {
    Term,
    Kill,
}

/// Signals a process group; kills it once, synchronously, when dropped armed. After the group is
/// reaped it is disarmed, so that a process group id reused later is never hit.
struct GroupGuard {
    pgid: Option<u32>,
    armed: AtomicBool,
}

impl GroupGuard {
    fn new(pgid: Option<u32>) -> Self {
        Self {
            pgid,
            armed: AtomicBool::new(pgid.is_some()),
        }
    }

    fn signal(&self, signal: Signal) {
        if !self.armed.load(Ordering::SeqCst) {
            return;
        }
        #[cfg(unix)]
        if let Some(pgid) = self.pgid.and_then(|pgid| i32::try_from(pgid).ok()) {
            use nix::sys::signal::{Signal as Sig, killpg};
            let signal = match signal {
                Signal::Term => Sig::SIGTERM,
                Signal::Kill => Sig::SIGKILL,
            };
            // ESRCH (the group is already gone) is the normal case after a clean exit.
            let _ = killpg(nix::unistd::Pid::from_raw(pgid), signal);
        }
        #[cfg(not(unix))]
        let _ = signal;
    }

    fn disarm(&self) {
        self.armed.store(false, Ordering::SeqCst);
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        self.signal(Signal::Kill);
        self.disarm();
    }
}

/// The last [`STDERR_TAIL_BYTES`] a child wrote to stderr (plus notes the caller adds), read as
/// it comes. Cheap to clone; all clones share the text. Never masked here: secrets are the
/// caller's to mask before the text reaches any output.
#[derive(Clone, Debug)]
pub struct StderrTail {
    text: Arc<Mutex<String>>,
    open: watch::Sender<bool>,
}

impl Default for StderrTail {
    fn default() -> Self {
        Self {
            text: Arc::default(),
            open: watch::Sender::new(true),
        }
    }
}

impl StderrTail {
    fn follow(&self, mut pipe: tokio::process::ChildStderr) {
        let tail = self.clone();
        tokio::spawn(async move {
            let mut buffer = [0_u8; 4096];
            while let Ok(read) = pipe.read(&mut buffer).await {
                if read == 0 {
                    break;
                }
                tail.push(&String::from_utf8_lossy(&buffer[..read]));
            }
            tail.close();
        });
    }

    fn close(&self) {
        self.open.send_replace(false);
    }

    /// Appends `text`, keeping only the last [`STDERR_TAIL_BYTES`].
    pub fn push(&self, text: &str) {
        if let Ok(mut tail) = self.text.lock() {
            push_tail(&mut tail, text);
        }
    }

    /// The text so far.
    pub fn text(&self) -> String {
        self.text
            .lock()
            .map(|text| text.clone())
            .unwrap_or_default()
    }

    /// Its last `count` lines.
    pub fn last_lines(&self, count: usize) -> String {
        let text = self.text();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(count)..].join("\n")
    }

    /// The text once the child's stderr is closed, waiting at most `within` for that.
    pub async fn finished(&self, within: Duration) -> String {
        let mut open = self.open.subscribe();
        let _ = tokio::time::timeout(within, open.wait_for(|open| !open)).await;
        self.text()
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
mod tests;
