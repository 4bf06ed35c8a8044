//! A fluent builder for running the binary, in the spirit of just's `Test`: the project, the
//! inputs, the environment, the arguments and the expected exit code in one expression, and a
//! handle on what came out (stdout, stderr, the `results.jsonl` records, `summary.json`).
//!
//! ```ignore
//! let ran = Run::new()                               // a temp folder of its own (or Run::in_dir)
//!     .project(&[("aigne.yaml", "…"), ("chat.yaml", "…")])
//!     .inputs(&[r#""hello""#, r#"{"input": "x", "expected": "y"}"#]) // prompts.jsonl + --input
//!     .openai(&server, "sk-test")                    // OPENAI_BASE_URL + OPENAI_API_KEY
//!     .args(["run", "."])
//!     .expect_exit(1)                                // checked by run(), stderr in the message
//!     .run();
//! assert_eq!(ran.results()[0]["status"], "passed");  // records sorted by line
//! ```
//!
//! The environment is scrubbed as [`super::command`] does. [`Run::spawn`] starts the binary and
//! returns a [`Running`] to signal and wait for; [`Run::into_command`] gives the
//! `std::process::Command` for tests that drive the process some other way.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::Value;

use super::Ran;
use super::fake_openai::FakeOpenAi;

/// The binary, about to run. Nothing happens until [`Run::run`].
#[must_use]
pub(crate) struct Run {
    dir: PathBuf,
    /// The temp folder this run made for itself, handed on to the [`Ran`].
    temp: Option<tempfile::TempDir>,
    command: Command,
    /// Appended after the test's own arguments (so `inputs` may come before `args(["run", …])`).
    trailing: Vec<String>,
    expected_exit: Option<i32>,
}

impl Run {
    /// A run in a new temp folder of its own.
    pub(crate) fn new() -> Self {
        let temp = tempfile::tempdir().expect("a temp folder");
        let mut run = Self::in_dir(temp.path());
        run.temp = Some(temp);
        run
    }

    /// A run in `dir` (the working folder: the default output lands in `dir/aigne-ci-output`).
    pub(crate) fn in_dir(dir: &Path) -> Self {
        Self {
            dir: dir.to_path_buf(),
            temp: None,
            command: super::command(dir),
            trailing: Vec::new(),
            expected_exit: None,
        }
    }

    /// The working folder.
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes `contents` to `name` (relative to the working folder; parents are created).
    pub(crate) fn file(self, name: &str, contents: &str) -> Self {
        let path = self.dir.join(name);
        if let Some(parent) = path.parent() {
            fs_err::create_dir_all(parent).expect("the file's folder is created");
        }
        fs_err::write(path, contents).expect("the file is written");
        self
    }

    /// Writes each `(name, contents)` of a project into the working folder.
    pub(crate) fn project(self, files: &[(&str, &str)]) -> Self {
        files
            .iter()
            .fold(self, |run, (name, contents)| run.file(name, contents))
    }

    /// Writes these JSONL lines to `prompts.jsonl` and passes `--input prompts.jsonl`.
    pub(crate) fn inputs(mut self, lines: &[&str]) -> Self {
        let mut text = lines.join("\n");
        text.push('\n');
        self.trailing
            .extend(["--input".to_owned(), "prompts.jsonl".to_owned()]);
        self.file("prompts.jsonl", &text)
    }

    /// Points the OpenAI provider at the fake, with this key.
    pub(crate) fn openai(self, server: &FakeOpenAi, key: &str) -> Self {
        self.env("OPENAI_BASE_URL", server.base_url())
            .env("OPENAI_API_KEY", key)
    }

    /// As on a GitHub runner: `GITHUB_OUTPUT` is `<dir>/out` and `GITHUB_STEP_SUMMARY` is
    /// `<dir>/summary.md` (`GITHUB_ACTIONS` is left to the test).
    pub(crate) fn github_files(self) -> Self {
        let (output, summary) = (self.dir.join("out"), self.dir.join("summary.md"));
        self.env("GITHUB_OUTPUT", output)
            .env("GITHUB_STEP_SUMMARY", summary)
    }

    /// Sets an environment variable of the run.
    pub(crate) fn env(
        mut self,
        key: impl AsRef<std::ffi::OsStr>,
        value: impl AsRef<std::ffi::OsStr>,
    ) -> Self {
        self.command.env(key, value);
        self
    }

    /// Removes an environment variable from the run.
    pub(crate) fn env_remove(mut self, key: impl AsRef<std::ffi::OsStr>) -> Self {
        self.command.env_remove(key);
        self
    }

    /// One argument.
    pub(crate) fn arg(mut self, arg: impl AsRef<std::ffi::OsStr>) -> Self {
        self.command.arg(arg);
        self
    }

    /// Arguments.
    pub(crate) fn args<S: AsRef<std::ffi::OsStr>>(
        mut self,
        args: impl IntoIterator<Item = S>,
    ) -> Self {
        self.command.args(args);
        self
    }

    /// The exit code [`Run::run`] must see (it panics with stdout and stderr otherwise).
    pub(crate) fn expect_exit(mut self, code: i32) -> Self {
        self.expected_exit = Some(code);
        self
    }

    /// The command as it would run, for tests that spawn the binary themselves.
    pub(crate) fn into_command(mut self) -> Command {
        self.command.args(&self.trailing);
        self.command
    }

    /// Runs the binary to its end and checks the exit code, if one was expected.
    #[track_caller]
    pub(crate) fn run(mut self) -> Ran {
        self.command.args(&self.trailing);
        let mut ran = super::run(&mut self.command);
        ran.temp = self.temp;
        check_exit(&ran, self.expected_exit);
        ran
    }

    /// Starts the binary (stdout and stderr captured) and returns at once, for tests that
    /// signal it while it runs; [`Running::wait`] collects it.
    pub(crate) fn spawn(mut self) -> Running {
        self.command
            .args(&self.trailing)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let child = self.command.spawn().expect("the aigne-ci binary starts");
        Running {
            child,
            dir: self.dir,
            temp: self.temp,
            expected_exit: self.expected_exit,
        }
    }
}

/// The binary, started by [`Run::spawn`].
#[must_use]
pub(crate) struct Running {
    child: Child,
    dir: PathBuf,
    temp: Option<tempfile::TempDir>,
    expected_exit: Option<i32>,
}

impl Running {
    /// Sends `signal` to the process.
    #[cfg(unix)]
    pub(crate) fn signal(&self, signal: nix::sys::signal::Signal) {
        let pid = nix::unistd::Pid::from_raw(i32::try_from(self.child.id()).expect("a pid"));
        nix::sys::signal::kill(pid, signal).expect("the signal is sent");
    }

    /// Waits for the end and checks the exit code, if one was expected.
    #[track_caller]
    pub(crate) fn wait(self) -> Ran {
        let output = self
            .child
            .wait_with_output()
            .expect("the aigne-ci binary is waited for");
        let ran = Ran {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            dir: self.dir,
            temp: self.temp,
        };
        check_exit(&ran, self.expected_exit);
        ran
    }
}

#[track_caller]
fn check_exit(ran: &Ran, expected: Option<i32>) {
    if let Some(expected) = expected {
        assert_eq!(
            ran.code,
            Some(expected),
            "exit code\n--- stdout ---\n{}\n--- stderr ---\n{}",
            ran.stdout,
            ran.stderr
        );
    }
}

/// The records of `<out>/results.jsonl`, sorted by input line.
pub(crate) fn records(out: &Path) -> Vec<Value> {
    let path = out.join("results.jsonl");
    let text = fs_err::read_to_string(&path).expect("results.jsonl is readable");
    let mut records: Vec<Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).expect("each results.jsonl line is JSON"))
        .collect();
    records.sort_by_key(|record| record["line"].as_u64());
    records
}

/// `<out>/summary.json`.
pub(crate) fn summary(out: &Path) -> Value {
    let text = fs_err::read_to_string(out.join("summary.json")).expect("summary.json is readable");
    serde_json::from_str(&text).expect("summary.json is JSON")
}
