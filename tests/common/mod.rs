//! Shared test helpers: [`command`] (the binary with a scrubbed environment), the [`Run`] builder
//! on top of it, the loopback server bootstrap ([`server`]) under every fake, and [`skip`].

#![allow(dead_code)]

pub(crate) mod fake_github;
pub(crate) mod fake_openai;
pub(crate) mod fake_provider;
mod run;
pub(crate) mod server;

pub(crate) use run::{Run, records, summary};

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Path of the binary under test.
pub(crate) fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_aigne-ci"))
}

/// Variables that must not leak from the developer's machine into a test run.
const SCRUBBED_PREFIXES: &[&str] = &[
    "AIGNE_",
    "OPENAI_",
    "ANTHROPIC_",
    "CLAUDE_",
    "GEMINI_",
    "GOOGLE_",
    "DEEPSEEK_",
    "OPEN_ROUTER_",
    "XAI_",
    "OLLAMA_",
    "DOUBAO_",
    "POE_",
    "LM_STUDIO_",
    "AWS_",
    "BLOCKLET_",
    "GITHUB_",
    "MODEL",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
];

/// A `Command` for the binary with a clean environment, running in `dir`.
pub(crate) fn command(dir: &Path) -> Command {
    let mut command = Command::new(binary());
    command.current_dir(dir);
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy().into_owned();
        if SCRUBBED_PREFIXES
            .iter()
            .any(|prefix| key.starts_with(prefix))
        {
            command.env_remove(&key);
        }
    }
    command.env("NO_COLOR", "1");
    command.env("AIGNE_CI_TEST_NO_RETRY_DELAY", "1");
    command.stdin(std::process::Stdio::null());
    command
}

/// Output as text, for assertions, and where the run happened (for its records).
pub(crate) struct Ran {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    /// The working folder of the run.
    pub dir: PathBuf,
    /// The temp folder a [`Run::new`] made, kept as long as the result.
    temp: Option<tempfile::TempDir>,
}

impl Ran {
    /// The working folder of the run.
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// The default output folder, `<dir>/aigne-ci-output`.
    pub(crate) fn out(&self) -> PathBuf {
        self.dir.join("aigne-ci-output")
    }

    /// The records of the default `results.jsonl`, sorted by input line.
    pub(crate) fn results(&self) -> Vec<serde_json::Value> {
        records(&self.out())
    }

    /// The default `summary.json`.
    pub(crate) fn summary(&self) -> serde_json::Value {
        summary(&self.out())
    }
}

/// Runs a command and captures everything.
pub(crate) fn run(command: &mut Command) -> Ran {
    let dir = command
        .get_current_dir()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let Output {
        status,
        stdout,
        stderr,
    } = command.output().expect("the aigne-ci binary runs");
    Ran {
        code: status.code(),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
        dir,
        temp: None,
    }
}
pub(crate) mod mcp_server;

/// A test that cannot do its work here (no node, no reference runtime, no npx) says so and
/// returns; when `CI` is set it fails instead, so a missing install step never passes silently.
#[track_caller]
pub(crate) fn skip(reason: &str) {
    if std::env::var_os("CI").is_some_and(|value| !value.is_empty()) {
        panic!("{reason}, and CI is set: a test that needs it must not pass without it");
    }
    let _ = std::io::Write::write_all(
        &mut std::io::stderr(),
        format!("skipped: {reason}\n").as_bytes(),
    );
}

/// Polls `done` every 10 ms until it holds; fails, naming `what`, after 30 s.
#[track_caller]
pub(crate) fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let started = std::time::Instant::now();
    while !done() {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "timed out waiting for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// The validator of `schemas/<name>` (the JSON Schemas the outputs are published with).
pub(crate) fn schema(name: &str) -> jsonschema::Validator {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("schemas")
        .join(name);
    let text = fs_err::read_to_string(path).expect("the schema is readable");
    let schema: serde_json::Value = serde_json::from_str(&text).expect("the schema is JSON");
    jsonschema::validator_for(&schema).expect("the schema compiles")
}

/// Fails, listing every error, unless `instance` is valid.
#[track_caller]
pub(crate) fn assert_valid(validator: &jsonschema::Validator, instance: &serde_json::Value) {
    let errors: Vec<String> = validator
        .iter_errors(instance)
        .map(|error| format!("{} at {}", error, error.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:?}\n{instance:#}");
}
