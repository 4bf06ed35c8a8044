//! `--engine node`: the project runs on the official AIGNE packages (`@aigne/cli` at a pinned
//! version, with its matching `@aigne/core`) in one long-lived Node host per run.
//!
//! The packages are installed with npm into `<cache>/node-engine-v1/<version>/` on first use and
//! reused after (no network once installed; `--offline` never installs). A folder that already
//! holds them (`AIGNE_CI_NODE_ENGINE_DIR`) is used as is. The host (`host.mjs`, shipped inside
//! the binary) loads the project once with the CLI's own `loadAIGNE` and invokes the agent per
//! case over JSON lines, answering output and token usage. It never prompts (stdin is the
//! protocol pipe, no TTY) and records no observability data. A case that times out on a host
//! that no longer answers (a synchronous endless loop) kills it; the next case starts a new one,
//! and cases that were stuck on the killed host run again on the new one, so no other case is
//! lost.

mod error;
mod transcript;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Map, Value, json};
use tokio::time::Instant;

pub use error::{NodeEngineError, NodeInvokeError};

use crate::engine::line_child::{LineChild, LineChildError, LineChildSpec};
use crate::engine::npm::{self, NpmError, NpmSettings};
use crate::engine::subprocess::{SubprocessLog, find_program};
use crate::model::types::Usage;
use crate::transcript::TranscriptRecorder;

/// The `@aigne/cli` version `--engine node` installs unless told otherwise.
pub const DEFAULT_AIGNE_CLI_VERSION: &str = "1.59.0";

/// The host script, shipped inside the binary.
const HOST_SCRIPT: &str = include_str!("host.mjs");

/// How long a host whose case timed out gets to prove it still answers.
const PING_TIMEOUT: Duration = Duration::from_secs(1);

/// How often a case runs again after the host under it was restarted by another case.
const HOST_RESTART_RETRIES: u32 = 2;

/// What the Node engine needs from the run's settings.
#[derive(Debug, Clone)]
pub struct NodeEngineSettings {
    /// The complete environment of node and npm (provider keys included; `PATH` finds them).
    pub env: BTreeMap<String, String>,
    /// The project folder (holding `aigne.yaml`).
    pub project_dir: PathBuf,
    /// The host's working folder: where aigne-ci was started, as under the official CLI (the
    /// project's JavaScript sees it as `process.cwd()`; stdio MCP servers start in it).
    pub working_dir: PathBuf,
    /// The aigne-ci cache root (packages go to `node-engine-v1/<version>/` in it).
    pub cache_dir: PathBuf,
    /// The `@aigne/cli` version (`--node-engine-version`).
    pub version: String,
    /// A folder that already holds `node_modules/@aigne/cli` (`AIGNE_CI_NODE_ENGINE_DIR`).
    pub preinstalled: Option<PathBuf>,
    /// `--offline`: never install.
    pub offline: bool,
    /// `--deny-exec`.
    pub deny_exec: bool,
    /// `--allow-install-scripts` (project dependencies).
    pub allow_install_scripts: bool,
    /// Whether the project has JavaScript agents: only then are its `package.json`
    /// dependencies installed before the host starts.
    pub project_has_js: bool,
    /// Longest one case may take.
    pub case_timeout: Duration,
    /// Largest reply of one case (`--max-tool-result`).
    pub max_reply_bytes: usize,
    /// `--max-reflection-rounds`, applied to the teams the runtime loads.
    pub max_reflection_rounds: u64,
    /// `--max-team-iterations`, applied to the teams the runtime loads.
    pub max_team_iterations: u64,
    /// `--model` (`provider:name`), when given.
    pub model: Option<String>,
    /// Model options as the CLI names them (`temperature`, `topP`, `presencePenalty`, …).
    pub model_options: Map<String, Value>,
}

/// An agent the official runtime loaded.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct NodeAgentInfo {
    /// Its name.
    pub name: String,
    /// Its description.
    #[serde(default)]
    pub description: Option<String>,
    /// Its input schema, when the runtime could express it as JSON Schema.
    #[serde(default)]
    pub input_schema: Option<Value>,
}

/// What the official runtime loaded.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct NodeProject {
    /// `agents`, `skills`, `cli.chat` and `mcp_server.agents`, in that order.
    pub agents: Vec<NodeAgentInfo>,
    /// The first entry of `agents:` (what the official CLI runs by default).
    #[serde(default)]
    pub default_agent: Option<String>,
}

/// One case for the Node engine.
#[derive(Debug, Clone)]
pub struct NodeInvokeRequest {
    /// The agent's name.
    pub agent: String,
    /// Its input.
    pub input: Value,
    /// The case's `userContext` (e.g. `{userId}`); `sessionId` is set from [`Self::session`].
    pub user_context: Option<Value>,
    /// The case's `session`: turns with the same id are one conversation. The official runtime
    /// keeps it by `userContext.sessionId` (AFS `history` per session; legacy `memory` in the
    /// shared AIGNE instance), so every turn runs on the one host, in order.
    pub session: Option<String>,
    /// Where the case's transcript goes (`None`: not recorded).
    pub transcript: Option<Arc<TranscriptRecorder>>,
}

/// What the node engine's transcripts hold (written into each transcript).
pub const NODE_TRANSCRIPT_CAPTURES: &[&str] = &[
    "every agent invocation the official runtime announces on its context (agentStarted / agentSucceed / agentFailed): AI agents, team members, transforms, hooks, JavaScript function agents, MCP tools, with input and output or error; `kind` is the runtime's agent tag",
    "every model call as the runtime's chat-model agent sees it: provider (the model agent's name), model, the messages, tools and options in AIGNE's own form, the answer, usage and latency",
    "not captured: the provider wire bodies, HTTP attempts and retries inside a model call (the runtime does not announce them), and anything of a case that timed out (its host is restarted)",
];

#[derive(Debug, Clone, PartialEq)]
pub struct NodeInvokeOutput {
    /// The agent's output object.
    pub output: Value,
    /// Tokens of every model call the case made.
    pub usage: Usage,
}

/// The Node host of one run. Cheap to clone.
#[derive(Clone)]
pub struct NodeEngine {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for NodeEngine {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("NodeEngine")
            .field("project_dir", &self.inner.settings.project_dir)
            .field("cli_dir", &self.inner.cli_dir)
            .finish_non_exhaustive()
    }
}

struct Inner {
    settings: NodeEngineSettings,
    log: SubprocessLog,
    spec: LineChildSpec,
    cli_dir: PathBuf,
    project: NodeProject,
    slot: tokio::sync::Mutex<Slot>,
    /// For each session, the host generation its last completed turn ran on: a host killed
    /// since took the conversation's history with it.
    sessions: std::sync::Mutex<HashMap<String, u64>>,
    /// Why the project's dependencies are not installed, when their install failed.
    install_failure: Option<Arc<NpmError>>,
}

struct Slot {
    child: Option<LineChild>,
    generation: u64,
}

#[derive(Debug, Deserialize)]
struct Reply {
    ok: bool,
    #[serde(default)]
    value: Value,
    #[serde(default)]
    error: Option<ReplyError>,
}

#[derive(Debug, Deserialize)]
struct ReplyError {
    message: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    stack: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct InvokeValue {
    #[serde(default)]
    output: Value,
    #[serde(default)]
    usage: Option<Usage>,
}

impl NodeEngine {
    /// Installs what is missing, starts the host and loads the project.
    pub async fn start(
        settings: NodeEngineSettings,
        log: SubprocessLog,
    ) -> Result<Self, NodeEngineError> {
        if settings.deny_exec {
            return Err(NodeEngineError::Denied);
        }
        let node = find_program("node", &settings.env, &settings.project_dir)
            .ok_or(NodeEngineError::NodeMissing)?;
        let cli_dir = ensure_packages(&settings, &log).await?;
        let mut install_failure = None;
        if settings.project_has_js {
            // The project's JavaScript files import their packages from the project folder's
            // `node_modules` (node resolves from the importing file), so they go there. A
            // failure is the caller's to warn about: the official runtime installs nothing, so
            // the project runs without them as it would there.
            let npm_settings = NpmSettings {
                env: settings.env.clone(),
                deny_exec: settings.deny_exec,
                allow_install_scripts: settings.allow_install_scripts,
                offline: settings.offline,
                state_dir: settings.cache_dir.join(npm::PROJECT_STATE_FOLDER),
            };
            if let Err(error) =
                npm::install_project_dependencies(&settings.project_dir, &npm_settings, &log).await
            {
                install_failure = Some(Arc::new(error));
            }
        }
        let script = write_script(&settings.cache_dir.join("node-engine-v1"))?;
        let mut env = settings.env.clone();
        // No traces, spans or observability server: the run records only its own results.
        env.insert("AIGNE_OBSERVABILITY_DISABLED".to_owned(), "true".to_owned());
        env.insert("NO_COLOR".to_owned(), "1".to_owned());
        let spec = LineChildSpec {
            purpose: "node-engine".to_owned(),
            program: node,
            args: vec![
                script.display().to_string(),
                cli_dir.display().to_string(),
                settings.max_reply_bytes.to_string(),
            ],
            env,
            working_dir: settings.working_dir.clone(),
            max_line_bytes: settings.max_reply_bytes,
        };
        let (child, project) =
            spawn_host(&spec, &settings, &log)
                .await
                .map_err(|error| match error {
                    NodeEngineError::Load {
                        project, message, ..
                    } => NodeEngineError::Load {
                        project,
                        message,
                        install_failure: install_failure.clone(),
                    },
                    other => other,
                })?;
        Ok(Self {
            inner: Arc::new(Inner {
                settings,
                log,
                spec,
                cli_dir,
                project,
                slot: tokio::sync::Mutex::new(Slot {
                    child: Some(child),
                    generation: 0,
                }),
                sessions: std::sync::Mutex::new(HashMap::new()),
                install_failure,
            }),
        })
    }

    /// Why the project's `package.json` dependencies are not installed, when their install
    /// failed (the run goes on without them, as the official runtime would; the caller warns).
    pub fn install_failure(&self) -> Option<Arc<NpmError>> {
        self.inner.install_failure.clone()
    }

    /// What the official runtime loaded.
    pub fn project(&self) -> &NodeProject {
        &self.inner.project
    }

    /// The `@aigne/cli` package folder in use.
    pub fn cli_dir(&self) -> &Path {
        &self.inner.cli_dir
    }

    /// Runs one case. Times out after the configured case timeout (the host is then restarted).
    pub async fn invoke(
        &self,
        request: &NodeInvokeRequest,
    ) -> Result<NodeInvokeOutput, NodeInvokeError> {
        let timeout = self.inner.settings.case_timeout;
        let mut restarts = 0;
        loop {
            let (child, generation) = self.current(&request.agent).await?;
            self.check_session(request, generation)?;
            // The clock starts once a host is ready: starting one (and time lost to another
            // case that hung the host) is not this case's.
            let deadline = Instant::now() + timeout;
            let message = json!({
                "type": "invoke",
                "agent": request.agent,
                "input": request.input,
                "user_context": user_context(request),
                "transcript": request.transcript.is_some(),
            });
            let mut guard = RestartOnDrop {
                engine: Some(self.clone()),
                generation,
            };
            let outcome = tokio::time::timeout_at(deadline, child.request(message)).await;
            match outcome {
                Err(_) => {
                    guard.engine = None;
                    if self.after_timeout(&child, generation).await
                        && restarts < HOST_RESTART_RETRIES
                    {
                        // Another case hung the host and had it restarted: run again.
                        restarts += 1;
                        continue;
                    }
                    return Err(NodeInvokeError::Timeout {
                        agent: request.agent.clone(),
                        timeout,
                    });
                }
                Ok(Ok(mut reply)) => {
                    guard.engine = None;
                    if let (Some(recorder), Some(events)) = (
                        &request.transcript,
                        reply
                            .as_object_mut()
                            .and_then(|reply| reply.remove("transcript")),
                    ) {
                        transcript::record_events(recorder, events);
                    }
                    let outcome =
                        parse_reply(reply, &request.agent, self.inner.settings.max_reply_bytes);
                    if outcome.is_ok() {
                        self.session_turn_done(request, generation);
                    }
                    return outcome;
                }
                Ok(Err(LineChildError::TooLong { limit })) => {
                    guard.engine = None;
                    return Err(NodeInvokeError::TooLarge {
                        agent: request.agent.clone(),
                        limit,
                    });
                }
                Ok(Err(error)) => {
                    guard.engine = None;
                    restarts += 1;
                    if restarts > HOST_RESTART_RETRIES {
                        return Err(NodeInvokeError::Host {
                            agent: request.agent.clone(),
                            message: describe(&error),
                        });
                    }
                    self.restart(generation).await;
                }
            }
        }
    }

    /// A turn of a session whose earlier turn ran on a host that was killed since (a case
    /// timed out) cannot see that history: it errors rather than run as a different
    /// conversation.
    fn check_session(
        &self,
        request: &NodeInvokeRequest,
        generation: u64,
    ) -> Result<(), NodeInvokeError> {
        let Some(session) = &request.session else {
            return Ok(());
        };
        let earlier = self
            .inner
            .sessions
            .lock()
            .ok()
            .and_then(|sessions| sessions.get(session).copied());
        match earlier {
            Some(earlier) if earlier != generation => Err(NodeInvokeError::SessionLost {
                agent: request.agent.clone(),
                session: session.clone(),
            }),
            _ => Ok(()),
        }
    }

    fn session_turn_done(&self, request: &NodeInvokeRequest, generation: u64) {
        if let (Some(session), Ok(mut sessions)) = (&request.session, self.inner.sessions.lock()) {
            sessions.insert(session.clone(), generation);
        }
    }

    /// Stops the host (closing its stdin lets the runtime shut down MCP servers cleanly).
    pub async fn shutdown(&self) {
        let child = self.inner.slot.lock().await.child.take();
        if let Some(child) = child {
            child.shutdown().await;
        }
    }

    /// Every subprocess started so far.
    pub fn subprocesses(&self) -> &SubprocessLog {
        &self.inner.log
    }

    /// The live host, started again (project reloaded) when the last one was killed.
    async fn current(&self, agent: &str) -> Result<(LineChild, u64), NodeInvokeError> {
        let mut slot = self.inner.slot.lock().await;
        if let Some(child) = slot.child.as_ref().filter(|child| child.is_alive()) {
            return Ok((child.clone(), slot.generation));
        }
        let (child, _) = spawn_host(&self.inner.spec, &self.inner.settings, &self.inner.log)
            .await
            .map_err(|error| NodeInvokeError::Host {
                agent: agent.to_owned(),
                message: format!("restarting the host failed: {error}"),
            })?;
        slot.child = Some(child.clone());
        Ok((child, slot.generation))
    }

    /// A case on the host of `generation` timed out. Returns `true` when another case already
    /// had that host restarted (this case was only stuck behind it). Otherwise kills the host
    /// when it no longer answers (a synchronous endless loop) and returns `false`; a host that
    /// still answers is kept (the case's promise just never settled).
    async fn after_timeout(&self, child: &LineChild, generation: u64) -> bool {
        let mut slot = self.inner.slot.lock().await;
        if slot.generation != generation {
            return true;
        }
        let ping = tokio::time::timeout(PING_TIMEOUT, child.request(json!({"type": "ping"}))).await;
        if !matches!(ping, Ok(Ok(_))) {
            slot.generation += 1;
            if let Some(child) = slot.child.take() {
                child.kill().await;
            }
        }
        false
    }

    /// Kills the host of `generation` (unless another case already did).
    async fn restart(&self, generation: u64) {
        let mut slot = self.inner.slot.lock().await;
        if slot.generation != generation {
            return;
        }
        slot.generation += 1;
        if let Some(child) = slot.child.take() {
            child.kill().await;
        }
    }
}

/// When a case's future is dropped mid-call (the batch gave up on it), the host may be stuck in
/// that case's JavaScript: restart it.
struct RestartOnDrop {
    engine: Option<NodeEngine>,
    generation: u64,
}

impl Drop for RestartOnDrop {
    fn drop(&mut self) {
        if let Some(engine) = self.engine.take() {
            let generation = self.generation;
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn(async move { engine.restart(generation).await });
            }
        }
    }
}

/// The `userContext` of a case: its own, with `sessionId` set to its session (the official CLI's
/// chat loop passes `{sessionId, userId}`; without a `userId` no user memory is shared between
/// sessions of one run).
fn user_context(request: &NodeInvokeRequest) -> Value {
    let mut context = match &request.user_context {
        Some(Value::Object(map)) => map.clone(),
        _ => Map::new(),
    };
    if let Some(session) = &request.session {
        context.insert("sessionId".to_owned(), Value::String(session.clone()));
    }
    if context.is_empty() {
        Value::Null
    } else {
        Value::Object(context)
    }
}

fn parse_reply(
    reply: Value,
    agent: &str,
    max_reply_bytes: usize,
) -> Result<NodeInvokeOutput, NodeInvokeError> {
    let reply: Reply = serde_json::from_value(reply).map_err(|error| NodeInvokeError::Host {
        agent: agent.to_owned(),
        message: format!("unreadable reply: {error}"),
    })?;
    if !reply.ok {
        let error = reply.error.unwrap_or(ReplyError {
            message: "unknown error".to_owned(),
            name: None,
            stack: None,
        });
        if error.name.as_deref() == Some("AigneCiTooLarge") {
            return Err(NodeInvokeError::TooLarge {
                agent: agent.to_owned(),
                limit: max_reply_bytes,
            });
        }
        return Err(NodeInvokeError::Agent {
            agent: agent.to_owned(),
            message: error.message,
            stack: error.stack,
        });
    }
    let value: InvokeValue = serde_json::from_value(reply.value).unwrap_or_default();
    Ok(NodeInvokeOutput {
        output: value.output,
        usage: value.usage.unwrap_or_default(),
    })
}

fn describe(error: &LineChildError) -> String {
    match error {
        LineChildError::Exited { status, stderr } => {
            let tail: Vec<&str> = stderr.trim().lines().rev().take(8).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            if tail.is_empty() {
                format!("node exited{status}")
            } else {
                format!(
                    "node exited{status}; its stderr ends with:\n{}",
                    tail.join("\n")
                )
            }
        }
        LineChildError::Write { message } => message.clone(),
        LineChildError::TooLong { .. } => error.to_string(),
    }
}

/// Starts a host and loads the project in it.
async fn spawn_host(
    spec: &LineChildSpec,
    settings: &NodeEngineSettings,
    log: &SubprocessLog,
) -> Result<(LineChild, NodeProject), NodeEngineError> {
    let child = LineChild::spawn(spec, log, Arc::new(|_, _| {})).map_err(|source| {
        NodeEngineError::Spawn {
            program: spec.program.clone(),
            source,
        }
    })?;
    let mut message = json!({
        "type": "load",
        "path": settings.project_dir,
        "model_options": settings.model_options,
        "ceilings": {
            "reflection": settings.max_reflection_rounds,
            "iterations": settings.max_team_iterations,
        },
    });
    if let Some(model) = &settings.model {
        message["model"] = Value::String(model.clone());
    }
    let load_error = |message: String| NodeEngineError::Load {
        project: settings.project_dir.clone(),
        message,
        install_failure: None,
    };
    let reply = child
        .request(message)
        .await
        .map_err(|error| load_error(describe(&error)))?;
    let reply: Reply =
        serde_json::from_value(reply).map_err(|error| load_error(error.to_string()))?;
    if !reply.ok {
        child.kill().await;
        return Err(load_error(
            reply
                .error
                .map(|error| error.message)
                .unwrap_or_else(|| "unknown error".to_owned()),
        ));
    }
    let project: NodeProject =
        serde_json::from_value(reply.value).map_err(|error| load_error(error.to_string()))?;
    Ok((child, project))
}

/// The `@aigne/cli` package folder: pre-installed, cached, or installed now.
async fn ensure_packages(
    settings: &NodeEngineSettings,
    log: &SubprocessLog,
) -> Result<PathBuf, NodeEngineError> {
    if let Some(dir) = &settings.preinstalled {
        let cli = dir.join("node_modules/@aigne/cli");
        if !cli.join("package.json").is_file() {
            return Err(NodeEngineError::BadPreinstalled { dir: dir.clone() });
        }
        return Ok(cli);
    }
    let target = settings
        .cache_dir
        .join("node-engine-v1")
        .join(&settings.version);
    let cli = target.join("node_modules/@aigne/cli");
    if cli.join("package.json").is_file() {
        return Ok(cli);
    }
    if settings.offline {
        return Err(NodeEngineError::NotInstalled {
            version: settings.version.clone(),
            dir: target,
        });
    }
    let npm_settings = NpmSettings {
        env: settings.env.clone(),
        deny_exec: settings.deny_exec,
        allow_install_scripts: false,
        offline: false,
        state_dir: settings.cache_dir.join(npm::PROJECT_STATE_FOLDER),
    };
    npm::install_package("@aigne/cli", &settings.version, &target, &npm_settings, log).await?;
    Ok(cli)
}

/// Writes the host script under a name that changes with its content; reuses it when present.
fn write_script(dir: &Path) -> Result<PathBuf, NodeEngineError> {
    crate::engine::subprocess::write_script(dir, "host", HOST_SCRIPT)
        .map_err(|(path, source)| NodeEngineError::WriteScript { path, source })
}
