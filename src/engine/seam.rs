//! One seam for both engines: [`CaseEngine`], implemented by the native engine
//! ([`NativeCaseEngine`]) and the official runtime in Node ([`NodeCaseEngine`]). Each is started
//! from its own settings and the project and does its own pre-flight (native: the model keys, the
//! project's npm dependencies, the MCP connections; node: the cassette check, the packages, the
//! host loading the project). [`Engines`] holds the engines a run uses and routes each case by
//! its [`Routes`] entry; an engine no case is routed to is never started.
//!
//! Must not import `batch` or `report`: the commands layer adapts [`Engines`] to the batch's
//! `CaseRunner` and reports what it logs ([`StartedEngines::notes`]).

use std::path::PathBuf;
use std::sync::Arc;

use serde_json::Value;

use crate::model::{ModelRegistry, ModelSettings};
use crate::project::{AgentDef, Project};
use crate::transcript::TranscriptRecorder;

use super::choice::EngineKind;
use super::js::{JsBridge, JsSettings};
use super::mcp::{McpPool, McpSettings};
use super::node::{
    NodeEngine, NodeEngineError, NodeEngineSettings, NodeInvokeError, NodeInvokeRequest,
};
use super::npm::NpmError;
use super::route::{Routes, case_roots};
use super::{Engine, EngineSettings, InvokeError, InvokeOutcome, InvokeRequest, support};
use crate::process::SubprocessLog;

/// One case, as any engine takes it.
#[derive(Debug, Clone)]
pub struct CaseRequest {
    /// The agent (the run's default agent for a case naming none).
    pub agent: String,
    /// The input: an object, or text for the agent's `input_key` (or `message`).
    pub input: Value,
    /// `<id> (line N)`, for model requests and messages.
    pub case_label: String,
    /// The case's conversation.
    pub session: Option<String>,
    /// Where the case's transcript is recorded (from [`CaseEngine::transcript_recorder`]).
    pub transcript: Option<Arc<TranscriptRecorder>>,
}

/// Why a case failed, in whichever engine.
#[derive(Debug, thiserror::Error)]
pub enum CaseError {
    /// The native engine.
    #[error(transparent)]
    Native(#[from] InvokeError),
    /// The node engine.
    #[error(transparent)]
    Node(#[from] NodeInvokeError),
    /// No engine was started for this agent (a bug: every case agent is routed).
    #[error("no engine was started for agent `{0}`")]
    NotRouted(String),
}

impl CaseError {
    /// A stable word for results (`model`, `agent`, `timeout`, …).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Native(error) => error.kind(),
            Self::Node(error) => error.kind(),
            Self::NotRouted(_) => "engine",
        }
    }

    /// The text results record (`error.message`): where the official runtime words the error
    /// itself (an agent's or a JavaScript function's `Error`, a schema check, a tool's error
    /// that fails the agent), exactly its `error.message`, as `aigne run` reports it and in
    /// both engines alike, since users assert on it; otherwise our message with its causes.
    pub fn message(&self) -> String {
        match self {
            Self::Native(error) => error.runtime_message(),
            Self::Node(NodeInvokeError::Agent { message, .. }) => message.clone(),
            other => crate::text::error_chain(other),
        }
    }
}

/// An engine that runs cases of one project.
#[async_trait::async_trait]
pub trait CaseEngine: Send + Sync {
    /// Which engine this is.
    fn kind(&self) -> EngineKind;

    /// Runs one case (turns of one session in order).
    async fn invoke(&self, request: CaseRequest) -> Result<InvokeOutcome, CaseError>;

    /// A recorder for one case's transcript, labelled with this engine and what it captures.
    fn transcript_recorder(&self) -> TranscriptRecorder;

    /// Ends what the engine started (servers, hosts), gracefully.
    async fn shutdown(&self);
}

/// Why an engine could not start (the run stops before its first case, exit 2).
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The native engine's pre-flight: an unsupported feature, `--deny-exec`, a missing key,
    /// an MCP server that does not connect, an npm install that fails.
    #[error(transparent)]
    Native(#[from] InvokeError),
    /// The native engine's model settings.
    #[error(transparent)]
    Model(#[from] crate::model::ModelError),
    /// The node engine did not start.
    #[error("cannot start the node engine")]
    Node(#[source] NodeEngineError),
    /// A cassette was given but some case runs on the node engine, which calls its providers
    /// itself (a "replayed" run would reach the network with real keys).
    #[error(
        "`{flag} {}` works only with the native engine, and this run uses the node engine ({reason})",
        path.display()
    )]
    Cassette {
        flag: &'static str,
        path: PathBuf,
        reason: String,
    },
    /// An agent named on the command line or in the inputs that no engine knows.
    #[error(transparent)]
    Project(#[from] crate::project::ProjectError),
}

/// The native engine's settings.
#[derive(Debug, Clone)]
pub struct NativeStart {
    /// Models and keys.
    pub model: ModelSettings,
    /// The node bridge for JavaScript agents.
    pub js: JsSettings,
    /// MCP servers.
    pub mcp: McpSettings,
    /// `--max-tool-turns`.
    pub max_tool_turns: u32,
    /// `--max-reflection-rounds`.
    pub max_reflection_rounds: u64,
    /// `--max-team-iterations`.
    pub max_team_iterations: u64,
    /// `--deny-exec`.
    pub deny_exec: bool,
}

/// The native engine behind [`CaseEngine`].
pub struct NativeCaseEngine {
    engine: Engine,
    mcp: Arc<McpPool>,
    /// Its providers, shared with the run's judges (one transport, one cassette).
    registry: Arc<ModelRegistry>,
}

impl NativeCaseEngine {
    /// Starts the native engine for the cases whose root agents are `roots`, and runs its
    /// pre-flight: unsupported features (`--engine native`), `--deny-exec`, the project's npm
    /// dependencies, the model keys, the MCP connections. `notes` receives what is worth a log
    /// line (the MCP servers connected).
    pub async fn start(
        settings: NativeStart,
        project: Arc<Project>,
        roots: &[Arc<AgentDef>],
        log: SubprocessLog,
        notes: &mut Vec<String>,
        warnings: &mut Vec<InstallWarning>,
    ) -> Result<Self, StartError> {
        let reachable = support::reachable_agents(&project, roots);
        let exec_uses = support::exec_uses(&reachable);
        // One error naming the feature and its file (exit 2), not an errored case per input.
        if let Some(error) = support::unsupported_error(&project, &reachable) {
            return Err(error.into());
        }
        if settings.deny_exec
            && let Some(error) = support::deny_exec_error(&exec_uses)
        {
            return Err(error.into());
        }
        let registry = Arc::new(ModelRegistry::new(settings.model)?);
        // JavaScript agents run in one `node` child, started only if one is invoked.
        let js = JsBridge::start(settings.js.clone(), log.clone());
        // The project's npm dependencies go in before the first case when the run's agents
        // reach JavaScript: an install is no case's. Its failure is a warning, and the run goes
        // on as the official runtime (which installs nothing) would run the project.
        if exec_uses.iter().any(|used| used.node)
            && let Err(failure) = js.install_dependencies().await
        {
            warnings.push(InstallWarning {
                project_dir: settings.js.project_dir.clone(),
                failure,
            });
        }
        // MCP servers connect before the first case and are shared by every case.
        let mcp = Arc::new(McpPool::new(settings.mcp, log));
        let engine = Engine::new(
            project,
            registry.clone(),
            EngineSettings {
                max_tool_turns: settings.max_tool_turns,
                max_reflection_rounds: settings.max_reflection_rounds,
                max_team_iterations: settings.max_team_iterations,
                js: Some(js),
            },
        )
        .with_mcp(mcp.clone());
        // A missing key or an unknown provider fails every case the same way: say it once.
        engine.check_models(roots)?;
        // AIGNE connects to MCP servers when it loads the project: a server that cannot be
        // started or reached stops the run here.
        match engine.connect_mcp_agents(&reachable).await {
            Ok(connections) => notes.extend(connections.iter().map(|connection| {
                format!(
                    "mcp: connected to `{}` ({} tools)",
                    connection.label(),
                    connection.tools().len()
                )
            })),
            Err(error) => {
                mcp.shutdown().await;
                return Err(error.into());
            }
        }
        Ok(Self {
            engine,
            mcp,
            registry,
        })
    }

    /// The name of the agent `name` denotes (a JavaScript default export's name is known only
    /// once node loaded it).
    pub async fn agent_name(&self, name: &str) -> Result<String, InvokeError> {
        self.engine.agent_name(Some(name)).await
    }
}

#[async_trait::async_trait]
impl CaseEngine for NativeCaseEngine {
    fn kind(&self) -> EngineKind {
        EngineKind::Native
    }

    async fn invoke(&self, request: CaseRequest) -> Result<InvokeOutcome, CaseError> {
        Ok(self
            .engine
            .invoke_recorded(
                InvokeRequest {
                    agent: Some(request.agent),
                    input: request.input,
                    case_label: request.case_label,
                    session: request.session,
                },
                request.transcript,
            )
            .await?)
    }

    fn transcript_recorder(&self) -> TranscriptRecorder {
        TranscriptRecorder::new("native", super::NATIVE_TRANSCRIPT_CAPTURES)
    }

    /// Each MCP session is cancelled and each stdio server's stdin closed, then it gets a short
    /// grace to exit before its process group is killed.
    async fn shutdown(&self) {
        self.mcp.shutdown().await;
    }
}

/// The node engine's settings.
#[derive(Debug, Clone)]
pub struct NodeStart {
    /// The official runtime's host.
    pub node: NodeEngineSettings,
    /// `--replay`/`--record`, which it cannot honour.
    pub cassette: Option<(&'static str, PathBuf)>,
    /// Why cases run on it (for the cassette error).
    pub reason: String,
}

/// The official runtime in Node behind [`CaseEngine`].
pub struct NodeCaseEngine {
    node: NodeEngine,
    /// The project as the native loader reads it, for each agent's `input_key`.
    project: Arc<Project>,
}

impl NodeCaseEngine {
    /// Checks that no cassette was asked for, installs what is missing, starts the host and
    /// loads the project.
    pub async fn start(
        settings: NodeStart,
        project: Arc<Project>,
        log: SubprocessLog,
        warnings: &mut Vec<InstallWarning>,
    ) -> Result<Self, StartError> {
        if let Some((flag, path)) = settings.cassette {
            return Err(StartError::Cassette {
                flag,
                path,
                reason: settings.reason,
            });
        }
        let project_dir = settings.node.project_dir.clone();
        let node = NodeEngine::start(settings.node, log)
            .await
            .map_err(StartError::Node)?;
        if let Some(failure) = node.install_failure() {
            warnings.push(InstallWarning {
                project_dir,
                failure,
            });
        }
        Ok(Self { node, project })
    }

    /// Whether the official runtime loaded an agent of this name.
    pub fn knows(&self, name: &str) -> bool {
        self.node
            .project()
            .agents
            .iter()
            .any(|agent| agent.name == name)
    }
}

#[async_trait::async_trait]
impl CaseEngine for NodeCaseEngine {
    fn kind(&self) -> EngineKind {
        EngineKind::Node
    }

    async fn invoke(&self, request: CaseRequest) -> Result<InvokeOutcome, CaseError> {
        // A text case goes to the agent's `input_key` (or `message`), as the official CLI
        // assigns text input.
        let input = match request.input {
            Value::String(text) => {
                let key = self
                    .project
                    .agent(Some(&request.agent))
                    .map_or("message", |agent| agent.text_input_key());
                serde_json::json!({ key: text })
            }
            other => other,
        };
        let outcome = self
            .node
            .invoke(&NodeInvokeRequest {
                agent: request.agent,
                input,
                user_context: None,
                session: request.session,
                transcript: request.transcript,
            })
            .await?;
        Ok(InvokeOutcome {
            output: outcome.output,
            usage: outcome.usage,
            model: None,
            model_calls: 1,
        })
    }

    fn transcript_recorder(&self) -> TranscriptRecorder {
        TranscriptRecorder::new("node", super::node::NODE_TRANSCRIPT_CAPTURES)
    }

    async fn shutdown(&self) {
        self.node.shutdown().await;
    }
}

/// The engines of one run and the route of each case's agent.
pub struct Engines {
    routes: Routes,
    native: Option<Arc<dyn CaseEngine>>,
    node: Option<Arc<dyn CaseEngine>>,
    /// The native engine's providers, when it runs.
    registry: Option<Arc<ModelRegistry>>,
}

/// What [`Engines::start`] produced.
pub struct StartedEngines {
    /// The engines.
    pub engines: Engines,
    /// The default agent's name as the engines know it.
    pub default_agent: String,
    /// Log lines for people (MCP connections).
    pub notes: Vec<String>,
    /// Problems the run goes on after (a failed install of the project's dependencies).
    pub warnings: Vec<InstallWarning>,
}

/// The project's `package.json` dependencies could not be installed; the run goes on without
/// them, as the official runtime (which installs nothing) would run the project.
#[derive(Debug, Clone)]
pub struct InstallWarning {
    /// The project folder.
    pub project_dir: PathBuf,
    /// Why.
    pub failure: Arc<NpmError>,
}

impl InstallWarning {
    /// The one-line message (`warning: …`); the cause and hint come from [`Self::failure`].
    pub fn message(&self) -> String {
        format!(
            "the dependencies in `{}` were not installed; the project runs without them, as under the official runtime",
            self.project_dir.join("package.json").display()
        )
    }
}

/// Everything [`Engines::start`] needs.
pub struct EnginesStart {
    /// The project.
    pub project: Arc<Project>,
    /// Each case agent's route.
    pub routes: Routes,
    /// The default agent as given (`AGENT`), or the project's first agent.
    pub default_agent: String,
    /// Whether `default_agent` was given on the command line (and may name a JavaScript export).
    pub default_agent_given: bool,
    /// The native engine's settings.
    pub native: NativeStart,
    /// The node engine's settings.
    pub node: NodeStart,
}

impl Engines {
    /// Starts the engines some case is routed to, each with its own pre-flight.
    pub async fn start(
        start: EnginesStart,
        log: SubprocessLog,
    ) -> Result<StartedEngines, StartError> {
        let EnginesStart {
            project,
            mut routes,
            mut default_agent,
            default_agent_given,
            native,
            mut node,
        } = start;
        let mut notes = Vec::new();
        let mut warnings = Vec::new();
        let node_engine = if routes.uses(EngineKind::Node) {
            if let Some(first) = routes.agents_on(EngineKind::Node).first() {
                node.reason = routes
                    .of(first)
                    .map(|route| route.reason.clone())
                    .unwrap_or_default();
            }
            let engine =
                NodeCaseEngine::start(node, project.clone(), log.clone(), &mut warnings).await?;
            // A name the native loader does not know may be a JavaScript export only node knows.
            if default_agent_given
                && routes.of(&default_agent).map(|route| route.engine) == Some(EngineKind::Node)
                && !engine.knows(&default_agent)
                && let Err(error) = project.agent(Some(&default_agent))
            {
                engine.shutdown().await;
                return Err(error.into());
            }
            Some(Arc::new(engine))
        } else {
            None
        };
        let native_engine = if routes.uses(EngineKind::Native) {
            let roots: Vec<Arc<AgentDef>> = routes
                .agents_on(EngineKind::Native)
                .into_iter()
                .flat_map(|name| case_roots(&project, name))
                .collect();
            let started = NativeCaseEngine::start(
                native,
                project.clone(),
                &roots,
                log,
                &mut notes,
                &mut warnings,
            )
            .await;
            let engine = match started {
                Ok(engine) => engine,
                Err(error) => {
                    if let Some(node) = &node_engine {
                        node.shutdown().await;
                    }
                    return Err(error);
                }
            };
            if default_agent_given
                && project.agent(Some(&default_agent)).is_err()
                && routes.of(&default_agent).map(|route| route.engine) == Some(EngineKind::Native)
            {
                match engine.agent_name(&default_agent).await {
                    Ok(name) => {
                        // Cases naming none are routed under the name as given.
                        if let Some(route) = routes.of(&default_agent).cloned() {
                            routes.agents.entry(name.clone()).or_insert(route);
                        }
                        default_agent = name;
                    }
                    Err(error) => {
                        engine.shutdown().await;
                        if let Some(node) = &node_engine {
                            node.shutdown().await;
                        }
                        return Err(error.into());
                    }
                }
            }
            Some(Arc::new(engine))
        } else {
            None
        };
        let registry = native_engine
            .as_ref()
            .map(|engine: &Arc<NativeCaseEngine>| engine.registry.clone());
        Ok(StartedEngines {
            engines: Engines {
                routes,
                registry,
                native: native_engine.map(|engine| engine as Arc<dyn CaseEngine>),
                node: node_engine.map(|engine| engine as Arc<dyn CaseEngine>),
            },
            default_agent,
            notes,
            warnings,
        })
    }

    /// The engine of a case running `agent`, and why.
    pub fn route(&self, agent: &str) -> Option<(&Arc<dyn CaseEngine>, &str)> {
        let route = self.routes.of(agent)?;
        let engine = match route.engine {
            EngineKind::Native => self.native.as_ref(),
            EngineKind::Node => self.node.as_ref(),
        }?;
        Some((engine, route.reason.as_str()))
    }

    /// The native engine's model providers (`None` when no case runs natively), for judges.
    pub fn model_registry(&self) -> Option<Arc<ModelRegistry>> {
        self.registry.clone()
    }

    /// Each route.
    pub fn routes(&self) -> &Routes {
        &self.routes
    }

    /// Ends both engines.
    pub async fn shutdown(&self) {
        for engine in [&self.native, &self.node].into_iter().flatten() {
            engine.shutdown().await;
        }
    }
}
