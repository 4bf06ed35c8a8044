//! Errors of `--engine node`: [`NodeEngineError`] stops the run (nothing can run), while
//! [`NodeInvokeError`] fails one case.

use std::path::PathBuf;
use std::time::Duration;

use crate::engine::npm::NpmError;

/// The Node engine could not start: packages missing, node missing, project does not load.
#[derive(Debug, thiserror::Error)]
pub enum NodeEngineError {
    /// `--deny-exec` forbids starting node.
    #[error("refusing to start the Node engine because `--deny-exec` is set")]
    Denied,
    /// No `node` on `PATH`.
    #[error("`node` was not found on PATH; `--engine node` needs Node.js 20 or newer")]
    NodeMissing,
    /// The packages are not in the cache and `--offline` forbids installing them.
    #[error(
        "the Node engine packages `@aigne/cli@{version}` are not installed in `{dir}` and `--offline` is set"
    )]
    NotInstalled {
        /// The pinned version.
        version: String,
        /// Where they were looked for.
        dir: PathBuf,
    },
    /// A pre-installed folder does not hold `@aigne/cli`.
    #[error(
        "`{dir}` does not contain `node_modules/@aigne/cli` (set by `AIGNE_CI_NODE_ENGINE_DIR`)"
    )]
    BadPreinstalled {
        /// The folder.
        dir: PathBuf,
    },
    /// Installing the packages (or the project's dependencies) failed.
    #[error(transparent)]
    Install(#[from] NpmError),
    /// Writing the host script failed.
    #[error("cannot write the Node engine host script to `{path}`")]
    WriteScript {
        /// Where.
        path: PathBuf,
        /// The io error.
        #[source]
        source: std::io::Error,
    },
    /// `node` could not be started.
    #[error("cannot start `{program}` for the Node engine")]
    Spawn {
        /// The node binary.
        program: PathBuf,
        /// The io error.
        #[source]
        source: std::io::Error,
    },
    /// The official runtime could not load the project.
    #[error("the official AIGNE runtime cannot load the project `{project}`: {message}")]
    Load {
        /// The project folder.
        project: PathBuf,
        /// AIGNE's message (or node's stderr when it crashed).
        message: String,
        /// Why the project's dependencies are not installed, when their install failed (the
        /// likely cause of an import that fails).
        install_failure: Option<std::sync::Arc<NpmError>>,
    },
}

impl NodeEngineError {
    /// How to fix it.
    pub fn hint(&self) -> Option<String> {
        match self {
            Self::NodeMissing => Some(
                "install Node.js 20 or newer (in GitHub Actions: `actions/setup-node`), or use \
                 `--engine native`"
                    .to_owned(),
            ),
            Self::NotInstalled { .. } => Some(
                "run once without `--offline` (or restore the cache folder that holds \
                 `node-engine-v1`)"
                    .to_owned(),
            ),
            Self::Denied => Some("remove `--deny-exec` or use `--engine native`".to_owned()),
            // The host refused a question the official CLI asks when no provider key is set.
            Self::Load { message, .. } if message.contains("aigne-ci never prompts") => Some(
                "set the provider's key in the environment (e.g. `OPENAI_API_KEY`; \
                 `AIGNE_HUB_API_KEY` for AIGNE Hub), or pick a provider with `--model \
                 provider:name`"
                    .to_owned(),
            ),
            Self::Load {
                install_failure: Some(failure),
                ..
            } => Some(crate::engine::js::install_failure_hint(failure)),
            Self::Install(error) => error.hint(),
            _ => None,
        }
    }
}

/// One case failed inside the Node engine.
#[derive(Debug, Clone, thiserror::Error)]
pub enum NodeInvokeError {
    /// The agent (or the model call under it) threw.
    #[error("agent `{agent}`: {message}")]
    Agent {
        /// The agent.
        agent: String,
        /// AIGNE's error message.
        message: String,
        /// The JavaScript stack.
        stack: Option<String>,
    },
    /// The case did not finish in time; the host was restarted.
    #[error("agent `{agent}` did not finish within {}", humantime::format_duration(*.timeout))]
    Timeout {
        /// The agent.
        agent: String,
        /// The limit.
        timeout: Duration,
    },
    /// An earlier turn of the case's session ran on a host that was killed since (another case
    /// timed out), so the conversation's history is gone.
    #[error(
        "agent `{agent}`: the Node engine was restarted after an earlier turn of session `{session}`, and the official runtime keeps a session's history only in the host it ran on"
    )]
    SessionLost {
        /// The agent.
        agent: String,
        /// The session id.
        session: String,
    },
    /// The case's reply is larger than `--max-tool-result`; it was never read whole.
    #[error("agent `{agent}`: the reply is larger than the {} cap (`--max-tool-result`)", crate::project::files::human_size(*.limit as u64))]
    TooLarge {
        /// The agent.
        agent: String,
        /// The cap in bytes.
        limit: usize,
    },
    /// The host died and could not be brought back.
    #[error("the Node engine stopped while running agent `{agent}`: {message}")]
    Host {
        /// The agent.
        agent: String,
        /// Why (exit status, stderr tail, or the restart's error).
        message: String,
    },
}

impl NodeInvokeError {
    /// The short class written to results (`agent`, `timeout`, `engine`).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Agent { .. } | Self::TooLarge { .. } => "agent",
            Self::Timeout { .. } => "timeout",
            Self::Host { .. } | Self::SessionLost { .. } => "engine",
        }
    }
}
