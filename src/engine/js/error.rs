//! [`JsError`]: why a JavaScript agent could not be loaded or did not return.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::engine::npm::NpmError;

/// An error of the Node bridge, naming the agent (file path or agent name) it is about.
#[derive(Debug, thiserror::Error)]
pub enum JsError {
    /// `--deny-exec` forbids running project JavaScript.
    #[error("refusing to run the JavaScript agent `{agent}` because `--deny-exec` is set")]
    Denied {
        /// The agent or file.
        agent: String,
    },
    /// No `node` on `PATH`.
    #[error("`node` was not found on PATH; it is needed to run the JavaScript agent `{agent}`")]
    NodeMissing {
        /// The agent or file.
        agent: String,
    },
    /// The bridge script could not be written to the cache.
    #[error("cannot write the Node bridge script to `{path}`")]
    WriteScript {
        /// Where it was written.
        path: PathBuf,
        /// The io error.
        #[source]
        source: std::io::Error,
    },
    /// `node` could not be started.
    #[error("cannot start `{program}` for the JavaScript agent `{agent}`")]
    Spawn {
        /// The node binary.
        program: PathBuf,
        /// The agent or file.
        agent: String,
        /// The io error.
        #[source]
        source: std::io::Error,
    },
    /// Importing the file (or compiling the inline body) failed.
    #[error("cannot load the JavaScript agent `{agent}`: {message}{}", install_failure_suffix(.install_failure.as_deref()))]
    Load {
        /// The file path or inline agent name.
        agent: String,
        /// The JavaScript error message.
        message: String,
        /// The JavaScript stack, when there is one.
        stack: Option<String>,
        /// Why the project's dependencies are not installed, when their install failed (the
        /// likely cause of an import that fails).
        install_failure: Option<Arc<NpmError>>,
    },
    /// The agent threw (or its promise rejected).
    #[error("the JavaScript agent `{agent}` failed: {message}")]
    Thrown {
        /// The agent name.
        agent: String,
        /// The JavaScript error message.
        message: String,
        /// The JavaScript stack, when there is one.
        stack: Option<String>,
    },
    /// The result (or a message to the engine) is larger than `--max-tool-result`; it was never
    /// read whole.
    #[error("the JavaScript agent `{agent}` returned too much: {what} is larger than the {} cap (`--max-tool-result`)", crate::project::files::human_size(*.limit as u64))]
    TooLarge {
        /// The agent name.
        agent: String,
        /// What was too large, as the bridge says (`the result`, `the input of \`x\``).
        what: String,
        /// The cap in bytes.
        limit: usize,
    },
    /// The call did not return in time.
    #[error("the JavaScript agent `{agent}` did not return within {}", humantime::format_duration(*.timeout))]
    Timeout {
        /// The agent name.
        agent: String,
        /// The limit.
        timeout: Duration,
    },
    /// Node exited or could not be written to while the call ran.
    #[error("node stopped while running the JavaScript agent `{agent}`{}", stderr_suffix(.stderr))]
    Exited {
        /// The agent name.
        agent: String,
        /// Why (exit status or write error).
        reason: String,
        /// The last lines node wrote to stderr.
        stderr: String,
    },
    /// The bridge answered something unreadable.
    #[error("the Node bridge answered `{agent}` with an unreadable reply: {message}")]
    Protocol {
        /// The agent or file.
        agent: String,
        /// What was wrong.
        message: String,
    },
    /// The handle is not callable (a definition object, not a function).
    #[error("the JavaScript agent `{agent}` is a definition, not a function to call")]
    NotCallable {
        /// The agent.
        agent: String,
    },
}

/// What to say about an agent that fails to load after the project's npm install failed.
pub fn install_failure_hint(failure: &NpmError) -> String {
    let mut hint = format!(
        "the project's `package.json` dependencies are not installed: {}",
        crate::text::error_chain(failure)
    );
    if let Some(fix) = failure.hint() {
        hint.push_str("; ");
        hint.push_str(&fix);
    }
    hint
}

/// ` (the project's npm install failed: …)`, the likely cause of a failed import.
fn install_failure_suffix(failure: Option<&NpmError>) -> String {
    failure
        .map(|failure| {
            format!(
                " (the project's `package.json` dependencies are not installed: {})",
                crate::text::error_chain(failure)
            )
        })
        .unwrap_or_default()
}

fn stderr_suffix(stderr: &str) -> String {
    let trimmed = stderr.trim();
    if trimmed.is_empty() {
        String::new()
    } else {
        let last: Vec<&str> = trimmed.lines().rev().take(8).collect();
        let last: Vec<&str> = last.into_iter().rev().collect();
        format!("; its stderr ends with:\n{}", last.join("\n"))
    }
}

impl JsError {
    /// How to fix it, when there is something to say.
    pub fn hint(&self) -> Option<String> {
        match self {
            Self::NodeMissing { .. } => Some(
                "install Node.js 20 or newer (in GitHub Actions: `actions/setup-node`), or run \
                 with `--engine node` on a runner that has it"
                    .to_owned(),
            ),
            Self::Denied { .. } => Some(
                "remove `--deny-exec` (`AIGNE_CI_DENY_EXEC`) to allow the project's JavaScript"
                    .to_owned(),
            ),
            Self::Timeout { .. } => Some("raise `--timeout`".to_owned()),
            Self::TooLarge { .. } => Some(
                "have the agent return less, or raise `--max-tool-result` (`AIGNE_CI_MAX_TOOL_RESULT`)"
                    .to_owned(),
            ),
            Self::Load {
                install_failure: Some(failure),
                ..
            } => Some(install_failure_hint(failure)),
            _ => None,
        }
    }

    /// The JavaScript stack trace, when the error came from JavaScript.
    pub fn stack(&self) -> Option<&str> {
        match self {
            Self::Load { stack, .. } | Self::Thrown { stack, .. } => stack.as_deref(),
            _ => None,
        }
    }
}
